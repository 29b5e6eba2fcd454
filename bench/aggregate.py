"""Budget (issue 5): an audit of 15 labels x 126 images x 10 readers, full aggregation with
bootstrap intervals (2,000 resamples), under 5 s on this machine.

    python bench/aggregate.py            # SQLite (a throwaway test database)
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/la_reports python bench/aggregate.py

Builds the audit in a throwaway test database (marks written in bulk: ~85% green/orange/red
drawn per label accuracy, 5% left unmarked, tags on 10% of marks, grid times), then times
`reports.aggregation.aggregate` end to end (read marks, compute, draw figures, write the
snapshot), and separately the pure computation.
"""

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

LABELS, IMAGES, READERS, REPEATS = 15, 126, 10, 3


def setup_django():
    import django
    from django.test.utils import setup_databases, setup_test_environment

    django.setup()
    setup_test_environment()
    return setup_databases(verbosity=0, interactive=False)


def teardown(old_config):
    from django.test.utils import teardown_databases, teardown_test_environment

    teardown_databases(old_config, verbosity=0)
    teardown_test_environment()


def build_audit(labels=LABELS, images=IMAGES, readers=READERS, seed=1):
    """A ready audit with every reader's marks, written in bulk. Returns (audit, researcher)."""
    import numpy as np
    from django.contrib.auth import get_user_model

    from annotation.models import (
        Audit,
        GridVisit,
        Mark,
        MarkChange,
        Membership,
        Sample,
        Tag,
    )  # fmt: skip
    from annotation.services import DEFAULT_TAGS
    from datasets.models import Dataset, Image, Label

    rng = np.random.default_rng(seed)
    User = get_user_model()
    dataset = Dataset.objects.create(name="bench", slug="bench", format="generic")
    label_rows = Label.objects.bulk_create(
        Label(dataset=dataset, name=f"Finding {i:02d}", reference_accuracy=0.9)
        for i in range(labels)
    )
    image_rows = Image.objects.bulk_create(
        Image(dataset=dataset, key=f"img{i:06d}.png", path=f"img{i:06d}.png", patient_id=str(i))
        for i in range(labels * images)
    )
    audit = Audit.objects.create(dataset=dataset, name="bench audit", status=Audit.Status.READY,
                                 per_label=images)  # fmt: skip
    audit.labels.set(label_rows)
    tags = Tag.objects.bulk_create(
        Tag(audit=audit, name=name, shortcut=key, order=i)
        for i, (name, key) in enumerate(DEFAULT_TAGS)
    )
    samples = Sample.objects.bulk_create(
        Sample(audit=audit, label=label, image=image_rows[li * images + p], position=p)
        for li, label in enumerate(label_rows)
        for p in range(images)
    )
    users = User.objects.bulk_create(User(username=f"reader{i:02d}") for i in range(readers))
    researcher = User.objects.create(username="researcher")
    Membership.objects.bulk_create(
        [Membership(audit=audit, user=user, role="reader") for user in users]
        + [Membership(audit=audit, user=researcher, role="researcher")]
    )
    truth = rng.uniform(0.4, 0.95, size=labels)
    marks, changes = [], []
    for sample in samples:
        li = label_rows.index(sample.label)
        for user in users:
            if rng.random() < 0.05:
                continue
            p = truth[li]
            verdict = rng.choice(["green", "orange", "red"], p=[p * 0.85, p * 0.15, 1 - p])
            marks.append(Mark(sample=sample, reader=user, verdict=verdict))
            changes.append(MarkChange(sample=sample, reader=user, idempotency_key=f"b{sample.pk}",
                                      new_verdict=verdict))  # fmt: skip
    Mark.objects.bulk_create(marks, batch_size=2000)
    MarkChange.objects.bulk_create(changes, batch_size=2000)
    through = Mark.tags.through
    through.objects.bulk_create(
        (through(mark_id=mark.pk, tag_id=tags[int(rng.integers(len(tags)))].pk)
         for mark in marks if rng.random() < 0.1),
        batch_size=2000,
    )  # fmt: skip
    GridVisit.objects.bulk_create(
        GridVisit(
            audit=audit, label=label, grid=g, reader=user, seconds=float(rng.uniform(40, 200))
        )
        for label in label_rows
        for g in range(images // 18)
        for user in users
    )
    return audit, researcher


def main():
    old = setup_django()
    try:
        from django.db import connection

        from reports import aggregation, compute
        from reports.models import Snapshot

        audit, _ = build_audit()
        print(f"database: {connection.vendor}; audit: {LABELS} labels x {IMAGES} images x "
              f"{READERS} readers, {audit.samples.count()} samples")  # fmt: skip
        full, pure, load = [], [], []
        for _ in range(REPEATS):
            Snapshot.objects.filter(audit=audit).delete()  # else the run finds nothing new
            started = time.perf_counter()
            snapshot = aggregation.aggregate(audit)
            full.append(time.perf_counter() - started)
            started = time.perf_counter()
            data = aggregation.load(audit)
            load.append(time.perf_counter() - started)
            started = time.perf_counter()
            compute.compute(data, aggregation.parameters())
            pure.append(time.perf_counter() - started)
        print(f"bootstrap resamples: {snapshot.parameters['bootstrap_resamples']}")
        print(f"full aggregation (read, compute, figures, write): median {statistics.median(full):.2f} s, "
              f"max {max(full):.2f} s over {REPEATS} runs (budget 5 s)")  # fmt: skip
        print(f"  reading marks: median {statistics.median(load):.2f} s")
        print(f"  statistics only: median {statistics.median(pure):.2f} s")
        print(f"snapshot results: {len(str(snapshot.results)) / 1024:.0f} KiB")
    finally:
        teardown(old)


if __name__ == "__main__":
    main()

"""Model audits at full NIH ChestX-ray14 size: 112,120 images x 14 labels = 1,569,680 scores.

Measures, on a fresh database (a temporary SQLite file unless DATABASE_URL is set):
* uploading the predictions (parse + write) of a wide CSV, as the command and the web page do;
* the raw write path (executemany / COPY) against ORM bulk_create on the same rows, side by
  side in one run, each in a rolled-back transaction;
* the run summary page's computation (AUC + DeLong + Youden for 14 labels);
* building a model review (14 labels x 4 cells x 18 images);
* DeLong's AUC on 112,120 scores.

Run: python bench/model_audit.py [--rows-compared 300000]
"""

import argparse
import csv
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
NIH = Path(os.environ.get("LABEL_AUDIT_SHARED_DATA", ROOT.parent / "shared" / "data")) / (
    "Data_Entry_2017_v2020.csv.gz"
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows-compared", type=int, default=300_000)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-modelaudit-"))
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{workdir / 'bench.sqlite3'}")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    import numpy as np
    from django.core.management import call_command
    from django.db import connection, transaction

    from annotation.services import build_sample_set
    from datasets.models import ImageLabel, ModelRun, Prediction
    from datasets.predictions import parse_predictions, upload_predictions, write_predictions
    from datasets.services import import_dataset
    from reports import model_stats
    from reports.model_audit import cached_run_summary, create_model_review

    print(f"database: {connection.vendor} {connection.settings_dict['NAME']}")
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    dataset = import_dataset(name="NIH bench", fmt="chestxray14", labels=NIH).dataset
    print(f"import of the NIH label file (setup): {time.perf_counter() - started:.1f} s")

    labels = [lb for lb in dataset.labels.order_by("name") if lb.name != "No Finding"]
    images = list(dataset.images.order_by("key").values_list("pk", "key"))
    positive = set(
        ImageLabel.objects.filter(image__dataset=dataset, value=1).values_list(
            "image_id", "label_id"
        )
    )
    rng = np.random.default_rng(7)
    path = workdir / "predictions.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", *[lb.name for lb in labels]])
        noise = rng.random((len(images), len(labels)))
        for row, (pk, key) in enumerate(images):
            writer.writerow(
                [key, *(f"{0.35 * ((pk, lb.pk) in positive) + 0.65 * noise[row, j]:.5f}"
                        for j, lb in enumerate(labels))]
            )  # fmt: skip
    size = path.stat().st_size / 1e6
    print(f"predictions file: {len(images):,} images x {len(labels)} labels, {size:.1f} MB")

    started = time.perf_counter()
    summary = upload_predictions(dataset=dataset, name="bench model", path=path)
    upload = time.perf_counter() - started
    print(f"upload (parse + check + write {summary.predictions:,} scores): {upload:.1f} s")

    started = time.perf_counter()
    parsed = parse_predictions(dataset, path)
    print(f"  of which parsing and checking alone: {time.perf_counter() - started:.1f} s")

    rows = parsed.rows[: args.rows_compared]

    def raw(run_id):
        write_predictions(run_id, rows)

    def orm(run_id):
        Prediction.objects.bulk_create(
            (Prediction(run_id=run_id, image_id=i, label_id=lb, score=s) for i, lb, s in rows),
            batch_size=5000,
        )

    for name, write in (
        ("raw write (executemany / COPY)", raw),
        ("ORM bulk_create, batch 5000", orm),
    ):
        started = time.perf_counter()
        with transaction.atomic():  # committed: PostgreSQL checks deferred constraints then
            other = ModelRun.objects.create(dataset=dataset, name=f"compare {name}")
            write(other.pk)
        elapsed = time.perf_counter() - started
        Prediction.objects.filter(run=other).delete()
        other.delete()
        print(
            f"  {name}: {len(rows):,} rows in {elapsed:.2f} s ({len(rows) / elapsed:,.0f} rows/s)"
        )
    run = ModelRun.objects.get(name="bench model")

    started = time.perf_counter()
    summary_rows = cached_run_summary(run)
    print(
        f"run page summary, first view (AUC, DeLong, Youden; {len(summary_rows)} labels): "
        f"{time.perf_counter() - started:.1f} s"
    )
    started = time.perf_counter()
    cached_run_summary(ModelRun.objects.get(pk=run.pk))
    print(f"  later views (kept on the run): {1000 * (time.perf_counter() - started):.0f} ms")

    started = time.perf_counter()
    audit = create_model_review(run=run, name="bench review", per_cell=18, build=False)
    chosen = time.perf_counter() - started
    started = time.perf_counter()
    build_sample_set(audit=audit)
    print(
        f"model review: thresholds {chosen:.1f} s, sample set ({audit.samples.count():,} tiles) {time.perf_counter() - started:.1f} s"
    )

    truth = rng.random(len(images)) < 0.1
    scores = rng.random(len(images)) + truth
    started = time.perf_counter()
    estimate = model_stats.delong_auc(truth.astype(int), scores)
    print(
        f"DeLong AUC on {len(images):,} scores: {1000 * (time.perf_counter() - started):.0f} ms (AUC {estimate.value:.3f})"
    )
    print(f"load average at end: {os.getloadavg()[0]:.1f}")
    print(
        f"peak memory (max RSS): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
    )


if __name__ == "__main__":
    main()

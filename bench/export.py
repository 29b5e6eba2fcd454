"""Relabeled export of the full NIH ChestX-ray14 file (112,120 rows): time and peak memory.

Budget (issue 7): under 5 s, flat memory (peak under 200 MB). Runs on a throw-away SQLite
database (or DATABASE_URL if set): imports the full file, builds a 126-per-label audit of every
label, has three readers mark every tile at random and an adjudicator decide 50, then exports
with each rule. Side by side in the same run: a plain csv copy of the same file (the floor any
streaming rewrite pays), and the export of a 10% slice, to show memory does not grow with rows.

    python bench/export.py
"""

import os
import random
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
WORK = Path(tempfile.mkdtemp(prefix="bench-export-"))
os.environ.setdefault("DATABASE_URL", f"sqlite:///{WORK / 'bench.sqlite3'}")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
NIH = (
    Path(os.environ.get("LABEL_AUDIT_SHARED_DATA", ROOT.parent / "shared" / "data"))
    / "Data_Entry_2017_v2020.csv.gz"
)

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402

from annotation.models import Adjudication, Mark, Membership  # noqa: E402
from annotation.services import build_sample_set, create_audit  # noqa: E402
from datasets.relabeled import RULES, export_relabeled  # noqa: E402
from datasets.services import import_dataset  # noqa: E402


def rss_mb() -> float:
    """Peak resident memory of this process (VmHWM: unlike ru_maxrss, not inherited over exec)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def setup():
    call_command("migrate", verbosity=0)
    dataset = import_dataset(name="NIH bench", fmt="chestxray14", labels=NIH).dataset
    User = get_user_model()
    readers = [User.objects.create_user(f"bench-r{i}") for i in range(3)]
    judge = User.objects.create_user("bench-judge")
    audit = create_audit(dataset=dataset, name="bench", readers=readers, build=False)
    Membership.objects.create(audit=audit, user=judge, role=Membership.Role.ADJUDICATOR)
    build_sample_set(audit=audit)
    rng = random.Random(5)
    samples = list(audit.samples.values_list("pk", flat=True))
    Mark.objects.bulk_create(
        Mark(sample_id=s, reader=r, verdict=rng.choice(["green", "green", "orange", "red"]))
        for s in samples
        for r in readers
    )
    Adjudication.objects.bulk_create(
        Adjudication(sample_id=s, adjudicator=judge, verdict=rng.choice(["green", "red"]))
        for s in rng.sample(samples, 50)
    )
    return dataset, audit, len(samples)


def plain_copy(source: Path, out: Path) -> None:
    import csv
    import gzip

    with gzip.open(source, "rt", newline="") as src, open(out, "w", newline="") as dst:
        writer = csv.writer(dst, lineterminator="\n")
        for row in csv.reader(src):
            writer.writerow(row)


def timed(fn, repeat=3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def traced_peak_mb(fn) -> float:
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 1e6


def export_only(audit_id: int) -> None:
    """In a fresh process: one export, then this process's peak RSS (Django included)."""
    from annotation.models import Audit

    audit = Audit.objects.select_related("dataset").get(pk=audit_id)
    baseline = rss_mb()
    export_relabeled(dataset=audit.dataset, rule="consensus", out=WORK / "alone.csv", audit=audit)
    print(f"{baseline:.0f} {rss_mb():.0f}")


def main():
    start = time.perf_counter()
    dataset, audit, samples = setup()
    print(
        f"setup: import + audit of {samples:,} tiles x 3 readers in {time.perf_counter() - start:.1f} s"
    )
    out = WORK / "relabeled.csv"
    rss_before = rss_mb()
    for rule in RULES:
        seconds = timed(
            lambda r=rule: export_relabeled(dataset=dataset, rule=r, out=out, audit=audit)
        )
        summary = export_relabeled(dataset=dataset, rule=rule, out=out, audit=audit)
        print(
            f"export rule={rule:<11} {summary.rows:,} rows, {summary.changed:,} changed: "
            f"{seconds:.2f} s (best of 3), {out.stat().st_size / 1e6:.1f} MB written"
        )
    copy_seconds = timed(lambda: plain_copy(NIH, WORK / "copy.csv"))
    export_seconds = timed(
        lambda: export_relabeled(dataset=dataset, rule="consensus", out=out, audit=audit)
    )
    print(
        f"plain csv copy of the same file: {copy_seconds:.2f} s; export / copy = {export_seconds / copy_seconds:.2f}"
    )
    full_peak = traced_peak_mb(
        lambda: export_relabeled(dataset=dataset, rule="consensus", out=out, audit=audit)
    )
    import subprocess

    child = subprocess.run(
        [sys.executable, __file__, "--export-only", str(audit.pk)],
        env={**os.environ, "DATABASE_URL": os.environ["DATABASE_URL"]},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    before, after = child.stdout.split()[-2:]
    print(
        f"a fresh process exporting once: peak RSS {after} MB (Django loaded, before the export: {before} MB)"
    )
    print(
        f"this process (which imported the file): peak RSS {rss_before:.0f} MB before the exports, {rss_mb():.0f} MB after"
    )
    print(f"Python allocations during one full export (tracemalloc peak): {full_peak:.1f} MB")

    # The same export over a 10% slice of the file: memory must not follow the rows.
    import gzip

    slice_file = WORK / "slice.csv"
    with gzip.open(NIH, "rt", newline="") as src, open(slice_file, "w", newline="") as dst:
        for index, line in enumerate(src):
            if index > 11212:
                break
            dst.write(line)
    dataset.label_file = str(slice_file)
    slice_peak = traced_peak_mb(
        lambda: export_relabeled(dataset=dataset, rule="consensus", out=out, audit=audit)
    )
    print(
        f"tracemalloc peak for a 10% slice (11,212 rows): {slice_peak:.1f} MB; full / slice = {full_peak / slice_peak:.2f}"
    )


if __name__ == "__main__":
    try:
        if sys.argv[1:2] == ["--export-only"]:
            export_only(int(sys.argv[2]))
        else:
            main()
    finally:
        import shutil

        shutil.rmtree(
            WORK, ignore_errors=True
        )  # a child's own folder; the database is the parent's

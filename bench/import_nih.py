"""Import of the full NIH ChestX-ray14 label file, timed next to its floor, on both databases.

    python bench/import_nih.py                      # SQLite and PostgreSQL, 5 rounds each
    python bench/import_nih.py --databases sqlite --rounds 5

The floor (issue 2) is the least any importer must do: read the same gzipped file with the
csv module, normalise it into the same rows (112,120 images, 141,537 image-label pairs) and
load them into the same tables: with COPY on PostgreSQL, with one executemany transaction on
SQLite. The import is the real service (`datasets.services.import_dataset`), as the
`import_dataset` command calls it, summary included. Budget: import <= 3x the floor of its
database measured in the same run, peak memory < 400 MB.

Every measurement runs in a fresh Python process on empty tables (rounds alternate floor and
import, so machine load hits both alike); time is wall clock around the work only (the best of
the rounds is the least disturbed by other load on the machine), peak memory
is the process's peak resident set size (Django loaded included). The import's result is checked
(images, patients, pairs), so a broken import cannot look fast.

PostgreSQL: a scratch database `BENCH_POSTGRES_URL` (default
postgres://postgres@127.0.0.1:5432/bench_import_nih), created and dropped here.
"""

import argparse
import csv
import gzip
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NIH = (
    Path(os.environ.get("LABEL_AUDIT_SHARED_DATA", ROOT.parent / "shared" / "data"))
    / "Data_Entry_2017_v2020.csv.gz"
)
IMAGES, PATIENTS, PAIRS = 112_120, 30_805, 141_537
BUDGET_RATIO, BUDGET_MB = 3.0, 400
DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/bench_import_nih"


# -- one measurement, in a child process --------------------------------------------------------


def _django():
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def _empty_tables():
    from django.db import connection

    from datasets.models import Dataset

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "TRUNCATE datasets_imagelabel, datasets_image, datasets_label_members, "
                "datasets_label, datasets_dataset_maintainers, datasets_dataset CASCADE"
            )
    else:
        Dataset.objects.all().delete()


def floor() -> dict:
    """csv + the same normalised rows + COPY (PostgreSQL) / one executemany (SQLite)."""
    from django.db import connection, transaction

    from datasets.importers.chestxray14 import FINDINGS, NO_FINDING
    from datasets.models import Dataset, Label

    with transaction.atomic():
        dataset = Dataset.objects.create(name="floor", slug="floor", format="chestxray14")
        label_ids = {
            name: Label.objects.create(dataset=dataset, name=name).pk
            for name in (*FINDINGS, NO_FINDING)
        }
    start, cpu = time.perf_counter(), time.process_time()
    with transaction.atomic(), connection.cursor() as cursor:
        first_id = _next_ids(cursor, "datasets_image")
        images, pairs = [], []
        with gzip.open(NIH, "rt", newline="") as handle:
            reader = csv.reader(handle)
            next(reader)
            for image_id, row in enumerate(reader, start=first_id):
                key, found, follow_up, patient, age, sex, view, width, height, sx, sy = row
                images.append((image_id, dataset.pk, key, key, patient, follow_up, view, sex,
                               int(age), int(width), int(height), float(sx), float(sy), "{}",
                               False, ""))  # fmt: skip
                pairs.extend((image_id, label_ids[name], 1) for name in found.split("|"))
        columns = ("id, dataset_id, key, path, patient_id, study, view_position, sex, age, width, "
                   "height, pixel_spacing_x, pixel_spacing_y, metadata, file_found, "
                   "unreadable_reason")  # fmt: skip
        if connection.vendor == "postgresql":
            # Empty text cells are '' (NOT NULL columns), not NULL.
            text = "key, path, patient_id, study, view_position, sex, unreadable_reason"
            _copy(cursor, f"datasets_image ({columns})", images, f", FORCE_NOT_NULL ({text})")
            _copy(cursor, "datasets_imagelabel (image_id, label_id, value)", pairs)
        else:
            marks = ", ".join(["%s"] * len(images[0]))
            cursor.executemany(f"INSERT INTO datasets_image ({columns}) VALUES ({marks})", images)
            cursor.executemany(
                "INSERT INTO datasets_imagelabel (image_id, label_id, value) VALUES (%s, %s, %s)",
                pairs,
            )
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert (len(images), len(pairs)) == (IMAGES, PAIRS)
    return {"seconds": seconds, "cpu": cpu}


def _next_ids(cursor, table: str) -> int:
    cursor.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {table}")
    return cursor.fetchone()[0]


def _copy(cursor, target: str, rows: list[tuple], options: str = "") -> None:
    import io

    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    buffer.seek(0)
    cursor.cursor.copy_expert(f"COPY {target} FROM STDIN WITH (FORMAT csv{options})", buffer)


def import_() -> dict:
    from datasets.models import ImageLabel
    from datasets.services import import_dataset

    start, cpu = time.perf_counter(), time.process_time()
    summary = import_dataset(name="NIH ChestX-ray14", fmt="chestxray14", labels=NIH)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    pairs = ImageLabel.objects.filter(image__dataset=summary.dataset).count()
    assert (summary.images, summary.patients, pairs) == (IMAGES, PATIENTS, PAIRS), summary
    return {"seconds": seconds, "cpu": cpu}


def child(kind: str) -> None:
    _django()
    _empty_tables()
    result = {"floor": floor, "import": import_}[kind]()
    # ru_maxrss is in KiB on Linux.
    result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    _empty_tables()
    print(json.dumps(result))


# -- the run: a scratch database per backend, rounds of floor and import ------------------------


def measure(kind: str, env: dict) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--child", kind],
        env=env, cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode:
        sys.exit(f"{kind} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def scratch_database(backend: str, workdir: Path) -> tuple[dict, callable]:
    env = {**os.environ, "DEBUG": "1", "DATASET_ROOTS": str(workdir)}
    env.pop("CELERY_BROKER_URL", None)
    if backend == "sqlite":
        env["DATABASE_URL"] = f"sqlite:///{workdir / 'bench.sqlite3'}"
        cleanup = lambda: None  # noqa: E731 - the temporary folder goes with it
    else:
        url = os.environ.get("BENCH_POSTGRES_URL", DEFAULT_PG)
        server, name = url.rsplit("/", 1)
        admin = f"{server}/postgres"
        _psql(admin, f'DROP DATABASE IF EXISTS "{name}"')
        _psql(admin, f'CREATE DATABASE "{name}"')
        env["DATABASE_URL"] = url
        cleanup = lambda: _psql(admin, f'DROP DATABASE IF EXISTS "{name}"')  # noqa: E731
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], env=env, cwd=ROOT, check=True)
    return env, cleanup


def _psql(url: str, sql: str) -> None:
    import psycopg2

    connection = psycopg2.connect(url)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(sql)
    connection.close()


def run(backends: list[str], rounds: int) -> bool:
    print(f"NIH label file: {NIH} ({NIH.stat().st_size / 1e6:.2f} MB gzip)")
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
    ok = True
    for backend in backends:
        with tempfile.TemporaryDirectory(prefix="bench-import-") as workdir:
            try:
                env, cleanup = scratch_database(backend, Path(workdir))
            except Exception as error:  # noqa: BLE001 - reported, and the run fails
                print(f"\n{backend}: not measured, no scratch database ({error})".rstrip())
                ok = False
                continue
            try:
                floors, imports = [], []
                for _ in range(rounds):
                    floors.append(measure("floor", env))
                    imports.append(measure("import", env))
            finally:
                cleanup()
        floor_s = statistics.median(m["seconds"] for m in floors)
        import_s = statistics.median(m["seconds"] for m in imports)
        ratios = [i["seconds"] / f["seconds"] for f, i in zip(floors, imports, strict=True)]
        peak = max(m["peak_mb"] for m in imports)
        within = import_s <= BUDGET_RATIO * floor_s and peak < BUDGET_MB
        ok &= within
        print(f"\n{backend}: {rounds} rounds")
        print(f"  floor   median {floor_s:6.2f} s  (each: {_list(floors)})  "
              f"peak {max(m['peak_mb'] for m in floors):.0f} MB")  # fmt: skip
        print(f"  import  median {import_s:6.2f} s  (each: {_list(imports)})  peak {peak:.0f} MB")
        floor_cpu = statistics.median(m["cpu"] for m in floors)
        import_cpu = statistics.median(m["cpu"] for m in imports)
        print(f"  CPU of the Python process (median; the database server's work is "
              f"{'in it' if backend == 'sqlite' else 'not'}): floor {floor_cpu:.2f} s, "
              f"import {import_cpu:.2f} s, {import_cpu / floor_cpu:.2f}x")  # fmt: skip
        best = min(m["seconds"] for m in imports) / min(m["seconds"] for m in floors)
        print(f"  import / floor: median {import_s / floor_s:.2f}x, best of each {best:.2f}x  "
              f"(per round {min(ratios):.2f}-{max(ratios):.2f}x)  budget <= {BUDGET_RATIO:.0f}x, "
              f"< {BUDGET_MB} MB: {'within' if within else 'OVER'}")  # fmt: skip
    return ok


def _list(measurements: list[dict]) -> str:
    return ", ".join(f"{m['seconds']:.2f}" for m in measurements)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--child", choices=["floor", "import"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    backends = [name.strip() for name in args.databases.split(",") if name.strip()]
    sys.exit(0 if run(backends, args.rounds) else 1)


if __name__ == "__main__":
    main()

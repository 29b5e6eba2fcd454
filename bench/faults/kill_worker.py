"""Fault: a Celery worker killed with SIGKILL in the middle of a sample-set build, and in the
middle of an aggregation.

    python bench/faults/kill_worker.py [--trials 20] [--parts build,aggregate]

Each trial creates an audit of every label of the full NIH label file (15 labels, 1,890
tiles; imported into la_ops on the first run), queues its build, waits a random time after
the build started (up to 0.8 times the length of a build in this process: the worker's is
shorter), and SIGKILLs either the pool process running it (3 trials in 4: the out-of-memory
killer's way; the worker gives the task back at once) or the whole worker, main process
included (every 4th: a node lost; the message comes back after the broker's visibility
timeout, 20 s here, plus kombu's restore sweep, up to 100 s).
A fresh worker is started when needed. Meanwhile an observer reads status and tile count in
one statement every 20 ms: a reader must never see a partial set.

Checks per trial: the build completes (status ready), exactly once (the tiles are the same
1,890 as a reference build with the same seed, no row twice), nothing partial ever observed.

Aggregation trials: the reference audit marked by 10 readers (17,000 marks, what
bench/aggregate.py measures); each trial changes 20 marks, queues
reports.tasks.aggregate_audit, waits until the run has started, then kills as above at a random
point between its start and 1.1 times the length of a run. Checks: the run is redone and ends (AggregationState finished after the
kill), exactly one new snapshot, computed from the marks as they now are (its input digest is
the one the bench computes), and an observer reading the latest snapshot every 20 ms never saw
one but the previous and that one, nor a snapshot without its figures.

Runs on a private redis-server (port 8174) and the la_ops database.
"""

import argparse
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import load  # noqa: E402  (bench/load.py: processes, waiting)

REDIS_PORT = 8174
TIME_LIMIT = 10  # s; the broker's visibility timeout is twice this
NIH = Path(load.ROOT).parent / "shared" / "data" / "Data_Entry_2017_v2020.csv.gz"


def env() -> dict:
    values = load.server_env()
    values.update(
        CELERY_BROKER_URL=f"redis://127.0.0.1:{REDIS_PORT}/0",
        CELERY_TASK_TIME_LIMIT=str(TIME_LIMIT),
        LOG_LEVEL="WARNING",
    )
    return values


class Worker:
    def __init__(self, log: Path):
        self.log, self.process = log, None

    def start(self) -> "Worker":
        self.process = subprocess.Popen(
            [str(Path(load.PYTHON).parent / "celery"), "-A", "config", "worker",
             "-Q", "default,statistics", "-n", f"fault{random.randint(0, 10**6)}@%h",
             "--concurrency", "1", "-O", "fair", "--without-mingle", "--without-gossip"],
            cwd=load.ROOT, env=env(), stdout=self.log.open("a"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        return self

    def child(self) -> int | None:
        out = subprocess.run(
            ["ps", "-o", "pid=", "--ppid", str(self.process.pid)], capture_output=True, text=True
        ).stdout.split()
        return int(out[0]) if out else None

    def kill_all(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill_all()


def prepare():
    from django.conf import settings
    from django.core.management import call_command

    from datasets.models import Dataset

    call_command("migrate", verbosity=0)
    dataset = Dataset.objects.filter(name="NIH full").first()
    if dataset is None:  # the real labels; no pictures are needed to draw samples
        images = settings.DATASET_ROOTS[0] / "nih"
        images.mkdir(parents=True, exist_ok=True)
        with open(os.devnull, "w") as quiet:
            call_command(
                "import_dataset", "--name", "NIH full", "--format", "chestxray14",
                "--labels", str(NIH), "--images", str(images), stdout=quiet, stderr=quiet,
            )  # fmt: skip
        dataset = Dataset.objects.get(name="NIH full")
    return dataset


def reference(dataset) -> tuple[list[tuple[int, int, int]], float]:
    """The tiles of a build in this process with the same seed, and how long it took."""
    from annotation.services import build_sample_set, create_audit

    audit = create_audit(dataset=dataset, name="fault reference", build=False)
    started = time.perf_counter()
    build_sample_set(audit=audit)
    seconds = time.perf_counter() - started
    return sorted(audit.samples.values_list("label_id", "position", "image_id")), seconds


class Observer(threading.Thread):
    """Runs one read-only statement every 20 ms on its own connection, as a page would, and
    keeps what it saw (`look`) until stopped."""

    sql = ""

    def __init__(self, audit_id: int):
        super().__init__(daemon=True)
        self.audit_id = audit_id
        self.stop_event = threading.Event()

    def run(self):
        from django.db import connection

        with connection.cursor() as cursor:
            while not self.stop_event.is_set():
                cursor.execute(self.sql, {"audit": self.audit_id})
                self.look(cursor.fetchone())
                time.sleep(0.02)
        connection.close()

    def look(self, row) -> None:
        raise NotImplementedError


class BuildObserver(Observer):
    """Status and tile count in one statement: a reader must see no set or the whole set."""

    sql = (
        "SELECT status, (SELECT count(*) FROM annotation_sample WHERE audit_id = %(audit)s)"
        " FROM annotation_audit WHERE id = %(audit)s"
    )

    def __init__(self, audit_id: int, expected: int):
        super().__init__(audit_id)
        self.expected = expected
        self.partial: list[tuple[str, int]] = []

    def look(self, row) -> None:
        status, count = row
        whole = (count == 0 and status != "ready") or (count == self.expected and status == "ready")
        if not whole:
            self.partial.append((status, count))


class SnapshotObserver(Observer):
    """The latest snapshot: its id, digest, and whether its figures are there."""

    sql = (
        "SELECT id, input_digest, results::text <> '{}' AND dashboard::text <> '{}'"
        " FROM reports_snapshot WHERE audit_id = %(audit)s"
        " ORDER BY created_at DESC, id DESC LIMIT 1"
    )

    def __init__(self, audit_id: int):
        super().__init__(audit_id)
        self.seen: dict[int, tuple[str, bool]] = {}

    def look(self, row) -> None:
        if row:
            self.seen[row[0]] = (row[1], row[2])


def recover(done, what: str, observer: Observer) -> float:
    """Seconds from the kill until `done()`; then the observer stops. Bounded: the broker's
    visibility timeout plus kombu's restore sweep (100 s) plus a margin."""
    started = time.monotonic()
    load.wait_for(done, TIME_LIMIT * 2 + 120, what)
    recovery = time.monotonic() - started
    time.sleep(0.1)
    observer.stop_event.set()
    observer.join()
    return recovery


def build_trial(
    number: int, dataset, expected, build_seconds: float, worker: Worker, log: Path
) -> dict:
    from annotation.models import Audit
    from annotation.services import create_audit

    audit = create_audit(dataset=dataset, name=f"fault trial {number}", build=True)
    observer = BuildObserver(audit.pk, len(expected))
    observer.start()
    load.wait_for(  # polled every 5 ms: a build lasts a fraction of a second here
        lambda: Audit.objects.filter(pk=audit.pk, status__in=["building", "ready"]).exists(),
        60, "the build to start", every=0.005,
    )  # fmt: skip
    time.sleep(random.uniform(0, 0.8 * build_seconds))
    at = Audit.objects.filter(pk=audit.pk).values_list("status", "build_done").get()
    killed, worker = kill(number, worker, log)
    recovery = recover(
        lambda: Audit.objects.filter(pk=audit.pk, status="ready").exists(),
        f"audit {audit.pk} to be ready", observer,
    )  # fmt: skip
    tiles = sorted(
        Audit.objects.get(pk=audit.pk).samples.values_list("label_id", "position", "image_id")
    )
    return {
        "trial": number,
        "killed": killed,
        "at": f"{at[0]} {at[1]}/15",
        "mid-run": at[0] != "ready",
        "done in s": round(recovery, 1),
        "same tiles": [t[1:] for t in tiles] == [t[1:] for t in expected]
        and len(tiles) == len(expected),
        "partial seen": len(observer.partial),
        "worker": worker,
    }


def kill(number: int, worker: Worker, log: Path) -> tuple[str, Worker]:
    """Every 4th trial the whole worker (a fresh one is started), else its pool process."""
    if number % 4 == 3:
        worker.kill_all()
        return "whole worker", Worker(log).start()
    child = worker.child()
    if child:
        os.kill(child, signal.SIGKILL)
    return "pool process", worker


def marked_audit(dataset):
    """The reference audit (built), marked by 10 readers: 95% of tiles each, random verdicts."""
    from django.contrib.auth import get_user_model

    from annotation.models import Audit, Mark, Membership

    audit = Audit.objects.filter(name="fault reference", status="ready").order_by("-pk").first()
    if Mark.objects.filter(sample__audit=audit).exists():
        return audit
    rng = random.Random(7)
    samples = list(audit.samples.values_list("pk", flat=True))
    marks = []
    for n in range(10):
        user, _ = get_user_model().objects.get_or_create(username=f"fault-reader-{n}")
        Membership.objects.get_or_create(audit=audit, user=user, role="reader")
        marks += [
            Mark(sample_id=sample, reader=user, verdict=rng.choice(["green", "orange", "red"]))
            for sample in samples
            if rng.random() < 0.95
        ]
    Mark.objects.bulk_create(marks, batch_size=5000, ignore_conflicts=True)
    return audit


def aggregation_trial(number: int, audit, run_seconds: float, worker: Worker, log: Path) -> dict:
    from django.utils import timezone

    from annotation.models import Mark
    from reports import aggregation
    from reports.models import AggregationState, Snapshot
    from reports.tasks import aggregate_audit

    rng = random.Random(1000 + number)
    for mark_id in rng.sample(
        list(Mark.objects.filter(sample__audit=audit).values_list("pk", flat=True)), 20
    ):
        Mark.objects.filter(pk=mark_id).update(verdict=rng.choice(["green", "orange", "red"]))
    digest = aggregation.input_digest(aggregation.load(audit), aggregation.parameters())
    before = set(Snapshot.objects.filter(audit=audit).values_list("pk", flat=True))
    previous = Snapshot.objects.filter(audit=audit).values_list("pk", flat=True).first()
    observer = SnapshotObserver(audit.pk)
    observer.start()
    queued = timezone.now()
    aggregate_audit.delay(audit.pk)
    state = AggregationState.objects.filter(audit=audit)
    load.wait_for(  # polled every 5 ms: a run lasts a fraction of a second here
        lambda: state.filter(started_at__gte=queued).exists(), 60, "the run to start", every=0.005
    )
    time.sleep(rng.uniform(0, 1.1 * run_seconds))
    # Where the run was when killed: still computing, or its snapshot already written.
    written = Snapshot.objects.filter(audit=audit, input_digest=digest).exists()
    killed, worker = kill(number, worker, log)
    at_kill = timezone.now()
    recovery = recover(
        lambda: state.filter(finished_at__gte=at_kill, started_at__gte=at_kill).exists()
        or (written and state.filter(finished_at__gte=queued).exists()),
        f"the aggregation of audit {audit.pk} to end", observer,
    )  # fmt: skip
    new = [
        pk
        for pk in Snapshot.objects.filter(audit=audit).values_list("pk", flat=True)
        if pk not in before
    ]
    new_digests = list(Snapshot.objects.filter(pk__in=new).values_list("input_digest", flat=True))
    odd = [
        pk
        for pk, (_, complete) in observer.seen.items()
        if pk not in (previous, *new) or not complete
    ]
    return {
        "trial": number,
        "killed": killed,
        "at": "after the snapshot was written" if written else "while computing",
        "mid-run": not written,
        "done in s": round(recovery, 1),
        "new snapshots": len(new),
        "current digest": new_digests == [digest],
        "partial seen": len(odd),
        "worker": worker,
    }


def report(name: str, rows: list[dict], ok: list[dict]) -> None:
    times = [r["done in s"] for r in rows]
    mid = sum(1 for r in rows if r["mid-run"])
    print(f"{name}: {len(ok)}/{len(rows)} completed exactly once with nothing partial seen"
          f" ({mid} killed mid-run, the others just after it ended); "
          f"time from kill to done: median {sorted(times)[len(times) // 2]} s, max {max(times)} s")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=20, help="per part")
    parser.add_argument("--parts", default="build,aggregate")
    args = parser.parse_args()
    parts = args.parts.split(",")
    load.django_setup(env())
    log = Path(os.environ["LABEL_AUDIT_VAR"]) / "kill-worker.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    redis = load.Redis(REDIS_PORT).start()
    worker = Worker(log)
    builds, aggregations = [], []
    try:
        worker.start()
        dataset = prepare()
        expected, build_seconds = reference(dataset)
        for number in range(args.trials if "build" in parts else 0):
            row = build_trial(number, dataset, expected, build_seconds, worker, log)
            worker = row.pop("worker")
            builds.append(row)
            print(row, flush=True)
        if "aggregate" in parts:
            from reports import aggregation

            audit = marked_audit(dataset)
            # The snapshot the trials start from; its duration spreads the kill points.
            run_seconds = aggregation.run(audit.pk).duration_ms / 1000
        for number in range(args.trials if "aggregate" in parts else 0):
            row = aggregation_trial(number, audit, run_seconds, worker, log)
            worker = row.pop("worker")
            aggregations.append(row)
            print(row, flush=True)
    finally:
        worker.stop()
        redis.stop()
    failed = 0
    if builds:
        ok = [r for r in builds if r["same tiles"] and not r["partial seen"]]
        report("builds", builds, ok)
        failed += len(builds) - len(ok)
    if aggregations:
        ok = [
            r for r in aggregations
            if r["new snapshots"] == 1 and r["current digest"] and not r["partial seen"]
        ]  # fmt: skip
        report("aggregations", aggregations, ok)
        failed += len(aggregations) - len(ok)
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())

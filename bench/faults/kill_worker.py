"""Fault: a Celery worker killed with SIGKILL in the middle of a sample-set build.

    python bench/faults/kill_worker.py [--trials 20]

Each trial creates an audit of every label of the full NIH label file (15 labels, 1,890
tiles; imported into la_ops on the first run), queues its build, waits
a random 0-2.5 s after the build started, and SIGKILLs either the pool process running it
(3 trials in 4: the out-of-memory killer's way; the worker gives the task back at once) or the
whole worker, main process included (every 4th: a node lost; the message comes back after the
broker's visibility timeout, 20 s here, plus kombu's restore sweep, up to 100 s).
A fresh worker is started when needed. Meanwhile an observer reads status and tile count in
one statement every 20 ms: a reader must never see a partial set.

Checks per trial: the build completes (status ready), exactly once (the tiles are the same
1,890 as a reference build with the same seed, no row twice), nothing partial ever observed.
Aggregations (reports.tasks.aggregate_audit) get the same treatment once that task exists.
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


def reference(dataset) -> list[tuple[int, int, int]]:
    from annotation.services import build_sample_set, create_audit

    audit = create_audit(dataset=dataset, name="fault reference", build=False)
    build_sample_set(audit=audit)
    return sorted(audit.samples.values_list("label_id", "position", "image_id"))


class Observer(threading.Thread):
    """Reads (status, tile count) in one statement, as a reader's page would see them."""

    def __init__(self, audit_id: int, expected: int):
        super().__init__(daemon=True)
        self.audit_id, self.expected = audit_id, expected
        self.stop_event = threading.Event()
        self.seen: set[tuple[str, int]] = set()
        self.partial: list[tuple[str, int]] = []

    def run(self):
        from django.db import connection

        with connection.cursor() as cursor:
            while not self.stop_event.is_set():
                cursor.execute(
                    "SELECT status, (SELECT count(*) FROM annotation_sample WHERE audit_id = %s)"
                    " FROM annotation_audit WHERE id = %s",
                    [self.audit_id, self.audit_id],
                )
                status, count = cursor.fetchone()
                self.seen.add((status, count))
                whole = (count == 0 and status != "ready") or (
                    count == self.expected and status == "ready"
                )
                if not whole:
                    self.partial.append((status, count))
                time.sleep(0.02)
        connection.close()


def build_trial(number: int, dataset, expected, worker: Worker, log: Path) -> dict:
    from annotation.models import Audit
    from annotation.services import create_audit

    audit = create_audit(dataset=dataset, name=f"fault trial {number}", build=True)
    observer = Observer(audit.pk, len(expected))
    observer.start()
    load.wait_for(
        lambda: Audit.objects.filter(pk=audit.pk, status="building").exists()
        or Audit.objects.filter(pk=audit.pk, status="ready").exists(),
        60, "the build to start",
    )  # fmt: skip
    time.sleep(random.uniform(0, 2.5))
    at = Audit.objects.filter(pk=audit.pk).values_list("status", "build_done").get()
    whole_worker = number % 4 == 3
    if whole_worker:
        worker.kill_all()
        worker = Worker(log).start()
    else:
        child = worker.child()
        if child:
            os.kill(child, signal.SIGKILL)
    started = time.monotonic()
    load.wait_for(
        lambda: Audit.objects.filter(pk=audit.pk, status="ready").exists(),
        TIME_LIMIT * 2 + 90, f"audit {audit.pk} to be ready",
    )  # fmt: skip
    recovery = time.monotonic() - started
    time.sleep(0.1)
    observer.stop_event.set()
    observer.join()
    tiles = sorted(
        Audit.objects.get(pk=audit.pk).samples.values_list("label_id", "position", "image_id")
    )
    return {
        "trial": number,
        "killed": "whole worker" if whole_worker else "pool process",
        "at": f"{at[0]} {at[1]}/15",
        "done in s": round(recovery, 1),
        "same tiles": [t[1:] for t in tiles] == [t[1:] for t in expected]
        and len(tiles) == len(expected),
        "partial seen": len(observer.partial),
        "worker": worker,
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=20)
    args = parser.parse_args()
    load.django_setup(env())
    redis = load.Redis(REDIS_PORT).start()
    log = Path(os.environ["LABEL_AUDIT_VAR"]) / "kill-worker.log"
    worker = Worker(log).start()
    rows = []
    try:
        dataset = prepare()
        expected = reference(dataset)
        for number in range(args.trials):
            row = build_trial(number, dataset, expected, worker, log)
            worker = row.pop("worker")
            rows.append(row)
            print(row, flush=True)
    finally:
        worker.stop()
        redis.stop()
    ok = [r for r in rows if r["same tiles"] and not r["partial seen"]]
    times = [r["done in s"] for r in rows]
    print(f"builds: {len(ok)}/{len(rows)} completed exactly once with nothing partial seen; "
          f"time from kill to ready: median {sorted(times)[len(times) // 2]} s, max {max(times)} s")  # fmt: skip
    try:
        import reports.tasks  # noqa: F401
    except ImportError:
        print("aggregations: not run, reports.tasks is not in this checkout yet")
    return 0 if len(ok) == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())

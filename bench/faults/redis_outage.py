"""Fault: Redis stopped for 60 s while readers mark.

    python bench/faults/redis_outage.py [--readers 20] [--outage 60]

deploy/serve.sh (gunicorn, a worker per queue, beat) runs on a private, append-only
redis-server (port 8172, like production). Readers mark over HTTP for 30 s, Redis is stopped
for `--outage` seconds, then started again, and they go on for 45 s more. Alongside, the bench
writes marks the way the reading room's `marks_changed` hook does once it is wired to the
outbox: `mark_set` and `enqueue_after_commit` in one transaction (one outbox row per
transaction here, the worst case; the real hook dedupes per audit).

Reports: marks acknowledged during the outage, server errors, latency before / during / after,
outbox rows written during the outage and how long after Redis returned they were all sent,
and the database check of bench/load.py (zero lost, zero duplicated).
"""

import argparse
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import load  # noqa: E402

BEFORE, AFTER = 30, 45


def hook_writer(stop: threading.Event, audit, reader, counts: dict) -> None:
    """Marks + outbox rows in one transaction, every 0.2 s, as the wired hook would."""
    from django.db import connection, transaction

    from annotation.outbox import enqueue_after_commit
    from annotation.services import mark_set

    samples = list(audit.samples.all()[:200])
    index = 0
    while not stop.is_set():
        sample = samples[index % len(samples)]
        with transaction.atomic():
            mark_set(sample=sample, reader=reader, idempotency_key=uuid.uuid4().hex,
                     verdict=load.VERDICTS[index % 3])  # fmt: skip
            enqueue_after_commit(
                "config.health.heartbeat", {"queue": "default"}, key=f"outage-{uuid.uuid4().hex}"
            )
        counts["written"] += 1
        index += 1
        time.sleep(0.2)
    connection.close()


def phase_latencies(results, marks: dict) -> list[str]:
    lines = []
    for name, (start, end) in marks.items():
        times = [
            r.seconds * 1000 for r in results if r.kind == "mark (PUT)" and start <= r.at < end
        ]
        errors = sum(r.status >= 500 or r.status == 0 for r in results if start <= r.at < end)
        if times:
            lines.append(
                f"{name:<8} marks {len(times):>5}  p50 {load.percentile(times, 50):6.0f} ms  "
                f"p95 {load.percentile(times, 95):6.0f} ms  p99 {load.percentile(times, 99):6.0f} ms"
                f"  errors {errors}"
            )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--readers", type=int, default=20)
    parser.add_argument("--outage", type=float, default=60)
    args = parser.parse_args()
    load.django_setup()
    from django.contrib.auth import get_user_model

    from annotation.models import Membership
    from annotation.outbox import OutboxTask

    folder = load.ROOT / "var" / "bench" / "redis-outage"
    redis = load.Redis(folder=folder).start()
    server = load.Server(load.ROOT / "var" / "bench" / "redis-outage-server.log")
    stop = threading.Event()
    counts = {"written": 0}
    try:
        prepared = load.prepare(args.readers + 1)
        hook_reader = get_user_model().objects.get(username=f"bench-reader-{args.readers:02d}")
        assert Membership.objects.filter(audit=prepared["audit"], user=hook_reader).exists()
        prepared["users"] = prepared["users"][: args.readers]
        OutboxTask.objects.filter(key__startswith="outage-").delete()
        server.start()
        results: list = []
        total = BEFORE + args.outage + AFTER
        deadline = time.time() + total
        writer = threading.Thread(
            target=hook_writer, args=(stop, prepared["audit"], hook_reader, counts)
        )
        runner = threading.Thread(
            target=lambda: results_box.append(
                load.run_readers(prepared, args.readers, 10**6, deadline, results)
            )
        )
        results_box: list = []
        t0 = time.time()
        writer.start()
        runner.start()
        time.sleep(BEFORE)
        down_at = time.time()
        redis.stop()
        print(f"redis stopped at +{down_at - t0:.0f} s", flush=True)
        time.sleep(args.outage)
        redis.start()
        up_at = time.time()
        print(f"redis started at +{up_at - t0:.0f} s", flush=True)
        pending_at_return = (
            OutboxTask.objects.exclude(status="sent").filter(key__startswith="outage-").count()
        )
        drained = load.wait_for(
            lambda: (
                not OutboxTask.objects.exclude(status="sent")
                .filter(key__startswith="outage-")
                .exists()
            ),
            180,
            "the outbox backlog to drain",
        )
        healthy = load.wait_for(lambda: load.healthz().get("ok"), 180, "healthz ok again")
        runner.join()
        stop.set()
        writer.join()
        readers, seconds = results_box[0]
        verdict = load.check(prepared, readers)
        during = OutboxTask.objects.filter(
            key__startswith="outage-", created_at__gte=_aware(down_at), created_at__lt=_aware(up_at)
        ).count()
        print(f"redis outage: {args.readers} HTTP readers + the hook writer, {seconds:.0f} s "
              f"({BEFORE} s before, {args.outage:.0f} s down, {AFTER} s after)")  # fmt: skip
        print("\n".join(phase_latencies(results, {
            "before": (t0, down_at), "down": (down_at, up_at), "after": (up_at, t0 + total + 60),
        })))  # fmt: skip
        print(f"hook transactions (mark + outbox row): {counts['written']}, of which during the "
              f"outage: {during}; unsent when Redis returned: {pending_at_return}; "
              f"all sent {drained:.0f} s after Redis returned; healthz ok after {healthy:.0f} s")  # fmt: skip
        print("check:", verdict)
        server_errors = sum(r.status >= 500 or r.status == 0 for r in results)
        print("server errors (HTTP 5xx or no answer):", server_errors)
        failed = verdict["lost"] or verdict["wrong verdict"] or verdict["duplicated keys"]
        return 1 if failed or server_errors else 0
    finally:
        stop.set()
        server.stop()
        redis.stop()


def _aware(timestamp: float):
    from datetime import UTC, datetime

    return datetime.fromtimestamp(timestamp, tz=UTC)


if __name__ == "__main__":
    sys.exit(main())

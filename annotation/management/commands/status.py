"""`python manage.py status`: what an operator looks at first.

Queue depths, live workers and what they run, pending outbox work, sample-set builds in
progress, and the same checks as /healthz. `--json` for scripts. Exit code 1 when a check fails.
"""

import json
import time

from django.core.management.base import BaseCommand
from django.db.models import Count, Min
from django.utils import timezone

from annotation.models import Audit
from annotation.outbox import OutboxTask
from config import health


def queue_depths() -> dict[str, int]:
    """Messages waiting in each queue, and those delivered but not yet acknowledged."""
    client = health.redis_client()
    depths = {queue: client.llen(queue) for queue in health.queues()}
    depths["unacked (running or reserved)"] = client.hlen("unacked")
    return depths


def workers(timeout: float = 1.5) -> dict[str, dict]:
    from config.celery import app

    inspect = app.control.inspect(timeout=timeout)
    active = inspect.active() or {}
    queues = inspect.active_queues() or {}
    return {
        name: {
            "queues": sorted(queue["name"] for queue in queues.get(name, [])),
            "active": [f"{task['name']}{tuple(task.get('args') or ())}" for task in tasks],
        }
        for name, tasks in sorted(active.items())
    }


def outbox_summary() -> dict:
    rows = OutboxTask.objects.exclude(status=OutboxTask.Status.SENT)
    by_status = dict(rows.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    oldest = rows.aggregate(oldest=Min("created_at"))["oldest"]
    return {
        "pending": by_status.get(OutboxTask.Status.PENDING, 0),
        "sending": by_status.get(OutboxTask.Status.SENDING, 0),
        "oldest_seconds": round((timezone.now() - oldest).total_seconds()) if oldest else None,
    }


def builds() -> list[dict]:
    unfinished = [Audit.Status.DRAFT, Audit.Status.BUILDING, Audit.Status.FAILED]
    return [
        {
            "audit": audit.pk,
            "name": audit.name,
            "status": audit.status,
            "progress": f"{audit.build_done}/{audit.build_total}",
            "error": audit.build_error[:120],
        }
        for audit in Audit.objects.filter(status__in=unfinished).order_by("pk")
    ]


def collect() -> dict:
    report = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    report["checks"] = health.run_checks()
    broker_ok = report["checks"]["checks"]["broker"]["ok"]
    eager = health.settings.CELERY_TASK_ALWAYS_EAGER
    if eager:
        report["queues"] = report["workers"] = "none: tasks run in process (no broker)"
    elif broker_ok:
        report["queues"] = queue_depths()
        report["workers"] = workers()
        report["heartbeats"] = {
            queue: None if age is None else round(age, 1)
            for queue, age in health.heartbeat_ages().items()
        }
    else:
        report["queues"] = report["workers"] = "unknown: broker unreachable"
    report["outbox"] = outbox_summary()
    report["builds"] = builds()
    return report


class Command(BaseCommand):
    help = "Print queue depths, workers, pending outbox work, builds and health checks."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="one JSON document")

    def handle(self, *args, **options):
        report = collect()
        if options["json"]:
            self.stdout.write(json.dumps(report, indent=2, default=str))
        else:
            self._print(report)
        if not report["checks"]["ok"]:
            raise SystemExit(1)

    def _print(self, report: dict) -> None:
        out = self.stdout.write
        out(f"Label Audit status at {report['time']}")
        out("\nchecks")
        for name, check in report["checks"]["checks"].items():
            mark = "ok " if check["ok"] else "BAD"
            out(f"  {mark} {name:<10} {check['detail']}")
        out("\nqueues")
        if isinstance(report["queues"], dict):
            for name, depth in report["queues"].items():
                out(f"  {name:<30} {depth}")
        else:
            out(f"  {report['queues']}")
        out("\nworkers")
        if isinstance(report["workers"], dict):
            if not report["workers"]:
                out("  none answered")
            for name, worker in report["workers"].items():
                out(f"  {name}  queues: {', '.join(worker['queues'])}")
                for task in worker["active"]:
                    out(f"    running {task}")
            for queue, age in report.get("heartbeats", {}).items():
                out(f"  heartbeat {queue:<12} {'never' if age is None else f'{age} s ago'}")
        else:
            out(f"  {report['workers']}")
        box = report["outbox"]
        out("\noutbox")
        out(f"  pending {box['pending']}, being sent {box['sending']}")
        if box["oldest_seconds"] is not None:
            out(f"  oldest unsent: {box['oldest_seconds']} s")
        out("\nsample-set builds not ready")
        if not report["builds"]:
            out("  none")
        for build in report["builds"]:
            line = f"  #{build['audit']} {build['name']}: {build['status']} {build['progress']}"
            out(line + (f" ({build['error']})" if build["error"] else ""))

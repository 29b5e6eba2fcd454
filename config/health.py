"""Health of the running system: database, broker, workers (by queue), disk for thumbnails.

`/healthz` returns these checks as JSON for a load balancer or a container healthcheck; the
`status` management command prints them with queue depths. Nothing here says more than
"ok" or a short reason: no host names, passwords or versions reach an anonymous caller.
"""

import json
import logging
import shutil
import socket
import time
from functools import cache

from celery import shared_task
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

log = logging.getLogger(__name__)

HEARTBEAT_KEY = "label-audit:heartbeat:{queue}"
HEARTBEAT_MAX_AGE = 120.0  # beat sends one every 30 s to each queue
MIN_FREE_BYTES = 512 * 1024 * 1024  # thumbnails of one big audit


def queues() -> tuple[str, ...]:
    from config.celery import QUEUES

    return QUEUES


@cache
def redis_client():
    """A client of the broker's Redis, short timeouts: health checks never hang on it."""
    import redis

    return redis.Redis.from_url(
        settings.CELERY_BROKER_URL, socket_connect_timeout=2, socket_timeout=2
    )


@shared_task(name="config.health.heartbeat", ignore_result=True)
def heartbeat(queue: str) -> None:
    """Sent by beat to each queue: the worker that runs it proves that queue is served."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return
    value = json.dumps({"at": time.time(), "host": socket.gethostname()})
    redis_client().set(HEARTBEAT_KEY.format(queue=queue), value, ex=int(HEARTBEAT_MAX_AGE * 5))


def check_database() -> tuple[bool, str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as error:
        log.warning("health: database unreachable: %s", error)
        return False, "unreachable"
    return True, "ok"


def check_broker() -> tuple[bool, str]:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return True, "none: tasks run in process"
    try:
        redis_client().ping()
    except Exception as error:
        log.warning("health: broker unreachable: %s", error)
        return False, "unreachable"
    return True, "ok"


def heartbeat_ages() -> dict[str, float | None]:
    """Seconds since a worker last ran the heartbeat of each queue (None: never, or expired)."""
    keys = [HEARTBEAT_KEY.format(queue=queue) for queue in queues()]
    values = redis_client().mget(keys)
    now = time.time()
    return {
        queue: (now - json.loads(raw)["at"]) if raw else None
        for queue, raw in zip(queues(), values, strict=True)
    }


def check_workers() -> tuple[bool, str]:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return True, "none: tasks run in process"
    try:
        ages = heartbeat_ages()
    except Exception:
        return False, "unknown: broker unreachable"
    late = [queue for queue, age in ages.items() if age is None or age > HEARTBEAT_MAX_AGE]
    if late:
        return False, f"no recent heartbeat from queue(s) {', '.join(late)}"
    return True, "ok"


def check_disk() -> tuple[bool, str]:
    """Free space where thumbnails are written (MEDIA_ROOT)."""
    path = settings.MEDIA_ROOT
    path.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(path).free
    if free < MIN_FREE_BYTES:
        return False, f"low: {free // 2**20} MiB free for thumbnails"
    return True, f"ok: {free // 2**30} GiB free"


CHECKS = {
    "database": check_database,
    "broker": check_broker,
    "workers": check_workers,
    "disk": check_disk,
}


def run_checks(names: list[str] | None = None) -> dict:
    results = {}
    for name, check in CHECKS.items():
        if names and name not in names:
            continue
        started = time.perf_counter()
        ok, detail = check()
        results[name] = {
            "ok": ok,
            "detail": detail,
            "ms": round((time.perf_counter() - started) * 1000, 1),
        }
    return {"ok": all(item["ok"] for item in results.values()), "checks": results}


@never_cache
@require_GET
def healthz(request):
    """200 when everything is healthy, 503 otherwise; the body says which check failed.

    `?check=database&check=disk` runs only those (the web container's liveness check should
    not fail because a worker is down: restarting the web server would not help).
    """
    names = request.GET.getlist("check")
    unknown = [name for name in names if name not in CHECKS]
    if unknown:
        return JsonResponse(
            {"error": f"unknown check(s) {', '.join(unknown)}; known: {', '.join(CHECKS)}"},
            status=400,
        )
    report = run_checks(names)
    return JsonResponse(report, status=200 if report["ok"] else 503)


class DatabaseUnavailableMiddleware:
    """While PostgreSQL restarts, answer 503 with Retry-After instead of a 500 page: a client
    (the grid's script, the API) can tell "try again in a moment" from a bug. Nothing was
    written: the request's transaction failed as a whole."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        from django import db

        if not isinstance(exception, db.OperationalError | db.InterfaceError):
            return None
        log.warning(
            "database unavailable during %s %s: %s", request.method, request.path, exception
        )
        response = JsonResponse(
            {"detail": "The database is unavailable for a moment; nothing was saved. Retry."},
            status=503,
        )
        response["Retry-After"] = "5"
        return response

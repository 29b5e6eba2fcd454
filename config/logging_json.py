"""Structured logs: one JSON object per line, each carrying the id of the request or task.

A request gets an id (the front server's X-Request-ID when it sends a sane one, else a new
one), returned in the response's X-Request-ID header and stamped on every log line written
while it is handled, and on the Celery tasks it queues, so one user's click can be followed
from nginx through gunicorn to the worker.
"""

import contextvars
import json
import logging
import re
import time
import uuid

from django.core.signals import request_finished

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

_SANE_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id"}


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """time, level, logger, message, request_id, any `extra=` fields, and the traceback."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", request_id_var.get()),
        }
        for name, value in vars(record).items():
            if name not in _STANDARD and not name.startswith("_"):
                entry[name] = value if isinstance(value, int | float | bool | None) else str(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def logging_config(*, level: str = "INFO", fmt: str = "plain") -> dict:
    """Django's LOGGING: `fmt` is "json" (production) or "plain" (a terminal)."""
    if fmt not in ("json", "plain"):
        raise ValueError(f"LOG_FORMAT={fmt!r}: use json or plain")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "config.logging_json.RequestIdFilter"}},
        "formatters": {
            "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
            "json": {"()": "config.logging_json.JsonFormatter"},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": fmt,
                "filters": ["request_id"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        # gunicorn's and celery's own loggers go through the same handler
        "loggers": {"django.server": {"propagate": True}},
    }


class RequestIdMiddleware:
    """Sets the request id for the logs and answers it in X-Request-ID; logs one line per
    request (method, path, status, duration) the way an access log would, but with the id."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.log = logging.getLogger("label_audit.request")

    def __call__(self, request):
        given = request.headers.get("X-Request-ID", "")
        request_id = given if _SANE_ID.match(given) else uuid.uuid4().hex
        # Not reset on the way out: Django logs a failed request (django.request) after the
        # middleware returned; request_finished resets it (connected below).
        request_id_var.set(request_id)
        request.request_id = request_id
        started = time.perf_counter()
        response = self.get_response(request)
        response["X-Request-ID"] = request_id
        self.log.info(
            "%s %s %s",
            request.method,
            request.path,
            response.status_code,
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "ms": round((time.perf_counter() - started) * 1000, 1),
                # Only a user already known: reading request.user here would cost the tile
                # fast path two queries per request; it names its user in log_user_id.
                "user_id": getattr(request, "log_user_id", None)
                or getattr(getattr(request, "_cached_user", None), "pk", None),
            },
        )
        return response


def _request_finished(**kwargs):
    request_id_var.set("-")


request_finished.connect(_request_finished, dispatch_uid="label_audit.request_id")


def connect_celery_signals() -> None:
    """Queued tasks carry the request id; a task's log lines carry it (or the task id)."""
    from celery import signals

    @signals.before_task_publish.connect(weak=False)
    def _stamp(headers=None, **kwargs):
        if headers is not None and request_id_var.get() != "-":
            headers.setdefault("request_id", request_id_var.get())

    @signals.task_prerun.connect(weak=False)
    def _enter(task_id=None, task=None, **kwargs):
        given = getattr(task.request, "request_id", None) if task is not None else None
        request_id_var.set(given or task_id or "-")

    @signals.task_postrun.connect(weak=False)
    def _leave(**kwargs):
        request_id_var.set("-")

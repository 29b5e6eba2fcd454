"""A transactional outbox: follow-up work of a write never depends on Redis.

`enqueue_after_commit(task_name, kwargs, key)` writes a row in the caller's transaction, so the
work is recorded if and only if the write commits. After the commit the relay sends it to the
broker at once; if the broker is down the row stays pending and the sweeper (a beat task, every
30 s) sends it again once Redis is back. A mark therefore always succeeds with Redis down, and
its follow-up work (say, re-aggregating the audit) is neither lost nor queued twice:

- while a row with a key is pending, enqueuing the same key again adds nothing (many marks on
  one audit, one aggregation);
- a row is claimed (pending -> sending) with a conditional update before it is sent, so the
  relay and a sweeper never both send it; a row left "sending" by a process that died between
  claim and send is pending again after CLAIM_TIMEOUT (at-least-once: the tasks are idempotent).
"""

import logging
import time
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.db.models import F, Q
from django.utils import timezone

log = logging.getLogger(__name__)

CLAIM_TIMEOUT = timedelta(minutes=5)  # a sender died between claim and send
SWEEP_GRACE = timedelta(seconds=10)  # rows younger than this are the relay's to send
SWEEP_BATCH = 500
KEEP_SENT = timedelta(days=7)


class OutboxTask(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "pending"
        SENDING = "sending", "being sent"
        SENT = "sent", "sent"

    task_name = models.CharField(max_length=200)
    kwargs = models.JSONField(default=dict)
    key = models.CharField(max_length=200, help_text="Enqueuing a pending key again is a no-op.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "annotation"
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["status", "created_at"], name="outbox_status_created")]
        constraints = [
            models.UniqueConstraint(
                fields=["key"],
                condition=Q(status="pending"),
                name="outbox_one_pending_per_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.task_name} [{self.key}] {self.status}"


def enqueue_after_commit(task_name: str, kwargs: dict, key: str) -> OutboxTask | None:
    """Record `task_name(**kwargs)` to be sent once the current transaction commits.

    Returns the new row, or None when a row with this key is already pending (that one will do
    the work). Outside a transaction the row is committed and sent at once.
    """
    if not task_name or not key:
        raise ValueError("an outbox task needs a task name and a key")
    if OutboxTask.objects.filter(key=key, status=OutboxTask.Status.PENDING).exists():
        return None
    try:
        with transaction.atomic():  # a savepoint: a lost race must not break the caller's work
            row = OutboxTask.objects.create(task_name=task_name, kwargs=kwargs, key=key)
    except IntegrityError:  # another transaction enqueued the same key first
        return None
    transaction.on_commit(lambda: relay(row.pk))
    return row


def _send(row: OutboxTask) -> None:
    from config.celery import app

    task = app.tasks.get(row.task_name)
    if task is not None and settings.CELERY_TASK_ALWAYS_EAGER:  # the embedded mode
        try:
            task.apply_async(kwargs=row.kwargs)
        except Exception as error:
            raise TaskFailed(f"{type(error).__name__}: {error}") from error
    elif task is not None:  # to its routed queue; nobody waits on an outbox task's result
        task.apply_async(kwargs=row.kwargs, retry=False, ignore_result=True)
    elif settings.CELERY_TASK_ALWAYS_EAGER:
        raise LookupError(f"no task named {row.task_name!r} is registered")
    else:  # a task of another code base, or not imported in this process: routed by name
        app.send_task(row.task_name, kwargs=row.kwargs, retry=False, ignore_result=True)


def _claim(pk: int) -> OutboxTask | None:
    now = timezone.now()
    stale = Q(status=OutboxTask.Status.SENDING, claimed_at__lt=now - CLAIM_TIMEOUT)
    claimed = (
        OutboxTask.objects.filter(pk=pk)
        .filter(Q(status=OutboxTask.Status.PENDING) | stale)
        .update(status=OutboxTask.Status.SENDING, claimed_at=now, attempts=F("attempts") + 1)
    )
    return OutboxTask.objects.get(pk=pk) if claimed else None


class TaskFailed(Exception):
    """The task ran in process (embedded mode) and failed: delivered, not to be re-sent."""


# After a failed send, this process leaves new rows to the sweeper for a few seconds instead of
# making every mark wait on a dead broker's connect timeout (a small circuit breaker).
BREAKER_SECONDS = 10.0
_broker_down_until = 0.0


def relay(pk: int) -> bool:
    """Send one row if nobody else is sending it. True when it reached the broker."""
    global _broker_down_until
    if time.monotonic() < _broker_down_until:
        return False
    row = _claim(pk)
    if row is None:
        return False
    try:
        _send(row)
    except TaskFailed as error:
        log.error("outbox: %s [%s] ran in process and failed: %s", row.task_name, row.key, error)
        OutboxTask.objects.filter(pk=pk).update(
            status=OutboxTask.Status.SENT, sent_at=timezone.now(), last_error=str(error)[:2000]
        )
        return True
    except Exception as error:  # broker down, or the task failed eagerly: try again later
        log.warning(
            "outbox: %s [%s] not sent (attempt %d): %s",
            row.task_name,
            row.key,
            row.attempts,
            error,
        )
        back_to_pending(row, f"{type(error).__name__}: {error}")
        if not settings.CELERY_TASK_ALWAYS_EAGER:
            _broker_down_until = time.monotonic() + BREAKER_SECONDS
        return False
    OutboxTask.objects.filter(pk=pk).update(
        status=OutboxTask.Status.SENT, sent_at=timezone.now(), last_error=""
    )
    return True


def back_to_pending(row: OutboxTask, error: str) -> None:
    """Pending again; if meanwhile another row with this key became pending, that one will
    do the work and this one is closed (the unique constraint allows one pending per key)."""
    try:
        with transaction.atomic():
            OutboxTask.objects.filter(pk=row.pk).update(
                status=OutboxTask.Status.PENDING, last_error=error[:2000]
            )
    except IntegrityError:
        OutboxTask.objects.filter(pk=row.pk).update(
            status=OutboxTask.Status.SENT, sent_at=None, last_error="superseded: " + error[:1900]
        )


def sweep(*, limit: int = SWEEP_BATCH) -> dict[str, int]:
    """Send what the relay could not (broker down) or left half-done (process died)."""
    now = timezone.now()
    due = (
        OutboxTask.objects.filter(
            Q(status=OutboxTask.Status.PENDING, created_at__lt=now - SWEEP_GRACE)
            | Q(status=OutboxTask.Status.PENDING, attempts__gt=0)
            | Q(status=OutboxTask.Status.SENDING, claimed_at__lt=now - CLAIM_TIMEOUT)
        )
        .order_by("created_at", "id")
        .values_list("pk", flat=True)[:limit]
    )
    global _broker_down_until
    _broker_down_until = 0.0  # the sweeper always tries
    sent = failed = 0
    for pk in list(due):
        if relay(pk):
            sent += 1
        else:
            failed += 1
            # The broker is down for one, it is down for all: stop hammering it.
            if not broker_reachable():
                break
    pruned, _ = OutboxTask.objects.filter(
        status=OutboxTask.Status.SENT, created_at__lt=now - KEEP_SENT
    ).delete()
    return {"sent": sent, "failed": failed, "pruned": pruned}


def broker_reachable() -> bool:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return True
    from config.health import check_broker

    return check_broker()[0]


def pending_count() -> int:
    return OutboxTask.objects.exclude(status=OutboxTask.Status.SENT).count()


@shared_task(name="annotation.outbox.sweep_outbox", ignore_result=True)
def sweep_outbox() -> dict[str, int]:
    """Beat, every 30 s. Idempotent: rows are claimed one by one with a conditional update."""
    result = sweep()
    if result["sent"] or result["failed"]:
        log.info("outbox sweep: %s", result)
    return result

"""The build watchdog: sample-set builds left "building" by a dead worker are started again.

A build's task is acknowledged late, so a worker killed mid-build gives it back to the queue and
another worker redoes it. That fails when the message itself is lost: Redis restarted without
persistence, or the worker died while Redis was down. Then the audit says "building" for ever.

Every two minutes (beat) the watchdog compares the audits marked "building" with the builds
the workers report running or reserved. An audit that is building with no task behind it on
two checks in a row (so a worker slow to answer is not mistaken for a dead one), and whose
progress did not move between them, is reset to draft and its build queued again through the
outbox. A build is idempotent, so even a wrong call costs only a second run.
"""

import json
import logging
from collections.abc import Iterable

from celery import shared_task
from django.db import transaction

from .models import Audit
from .outbox import enqueue_after_commit

log = logging.getLogger(__name__)

BUILD_TASK = "annotation.tasks.build_sample_set"
SUSPECTS_KEY = "label-audit:watchdog:suspects"
INSPECT_TIMEOUT = 3.0


class WorkersUnknown(Exception):
    """The workers could not be asked (broker down): nothing is reset on a guess."""


def running_builds(timeout: float = INSPECT_TIMEOUT) -> set[int]:
    """Audit ids whose build task a live worker is running or holds reserved."""
    from config.celery import app

    inspect = app.control.inspect(timeout=timeout)
    try:
        active = inspect.active() or {}
        reserved = inspect.reserved() or {}
    except Exception as error:
        raise WorkersUnknown(str(error)) from error
    return set(_build_audit_ids([*active.values(), *reserved.values()]))


def _build_audit_ids(per_worker: Iterable[list[dict]]) -> Iterable[int]:
    for requests in per_worker:
        for request in requests:
            if request.get("name") != BUILD_TASK:
                continue
            args, kwargs = request.get("args") or [], request.get("kwargs") or {}
            audit_id = kwargs.get("audit_id", args[0] if args else None)
            if audit_id is not None:
                yield int(audit_id)


def reset_stuck_builds(*, running: set[int], suspects: dict[int, int]) -> tuple[list[int], dict]:
    """One check. `suspects` are the audits found orphaned by the previous check (id -> build
    progress then). Returns (audits reset and requeued, the suspects for the next check)."""
    building = dict(
        Audit.objects.filter(status=Audit.Status.BUILDING).values_list("pk", "build_done")
    )
    orphans = {pk: done for pk, done in building.items() if pk not in running}
    reset = []
    for pk, done in orphans.items():
        if suspects.get(pk) != done:
            continue  # first sighting, or it progressed: look again next time
        with transaction.atomic():
            # Conditional: a build that finished or moved since the read is left alone.
            changed = Audit.objects.filter(
                pk=pk, status=Audit.Status.BUILDING, build_done=done
            ).update(status=Audit.Status.DRAFT, build_done=0, build_error="")
            if changed:
                enqueue_after_commit(BUILD_TASK, {"audit_id": pk}, key=f"build:{pk}")
                reset.append(pk)
    if reset:
        log.warning("watchdog: builds of audit(s) %s were orphaned; queued again", reset)
    return reset, {pk: done for pk, done in orphans.items() if pk not in reset}


@shared_task(name="annotation.watchdog.reset_stuck_builds", ignore_result=True)
def reset_stuck_builds_task() -> list[int]:
    """Beat, every 2 minutes. The suspects are kept in Redis between runs."""
    from config.health import redis_client

    try:
        running = running_builds()
    except WorkersUnknown as error:
        log.warning("watchdog: workers could not be asked, nothing reset: %s", error)
        return []
    client = redis_client()
    raw = client.get(SUSPECTS_KEY)
    suspects = {int(pk): done for pk, done in json.loads(raw).items()} if raw else {}
    reset, suspects = reset_stuck_builds(running=running, suspects=suspects)
    client.set(SUSPECTS_KEY, json.dumps(suspects), ex=15 * 60)
    return reset

from celery import shared_task

from . import aggregation
from .models import Snapshot


@shared_task
def aggregate_audit(
    audit_id: int, trigger: str = Snapshot.Trigger.MARKS, requested_by_id: int | None = None
) -> int | None:
    """Aggregate an audit into a snapshot; safe to run twice (unchanged inputs write nothing).
    Returns the id of the current snapshot."""
    snapshot = aggregation.run(audit_id, trigger=trigger, requested_by_id=requested_by_id)
    return snapshot.pk if snapshot else None


@shared_task
def refresh_stale_snapshots() -> int:
    """Periodic (beat): re-queue aggregations requested while the broker was unreachable."""
    return aggregation.requeue_missed()

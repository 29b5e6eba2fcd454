import logging

from celery import shared_task

from . import services
from .models import Audit

logger = logging.getLogger(__name__)


@shared_task
def build_sample_set(audit_id: int) -> int:
    """Build an audit's sample set; a set already built is left as it is. Returns its size.
    Then queue the warming of its thumbnails, so the first grid opens without decoding."""
    audit = Audit.objects.filter(pk=audit_id).first()
    if audit is None:  # deleted before the worker got to it
        return 0
    image_ids = services.build_sample_set(audit=audit)
    try:
        from datasets.tasks import warm_in_chunks

        warm_in_chunks(image_ids, key=f"warm:{audit_id}")
    except Exception:  # tiles are also made on first request: warming never fails a build
        logger.exception("audit %s: thumbnail warming not queued", audit_id)
    return len(image_ids)


@shared_task
def purge_stale_invitations(older_than_days: int = 30) -> int:
    """Periodic (beat): forget invitations expired or revoked a month ago. Safe to run twice."""
    from . import invitations

    return invitations.purge_stale(older_than_days=older_than_days)

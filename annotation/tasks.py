from celery import shared_task

from . import services
from .models import Audit


@shared_task
def build_sample_set(audit_id: int) -> int:
    """Build an audit's sample set; a set already built is left as it is. Returns its size."""
    audit = Audit.objects.filter(pk=audit_id).first()
    if audit is None:  # deleted before the worker got to it
        return 0
    return len(services.build_sample_set(audit=audit))


@shared_task
def purge_stale_invitations(older_than_days: int = 30) -> int:
    """Periodic (beat): forget invitations expired or revoked a month ago. Safe to run twice."""
    from . import invitations

    return invitations.purge_stale(older_than_days=older_than_days)

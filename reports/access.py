"""Who may see an audit's reports, on top of annotation.access.

Researchers and managers (admins, the dataset's maintainers) always; readers only when the audit
is not blinded or once it is closed, so that in a blinded audit no reader learns another reader's
marks through a dashboard, a download or the API. Anyone else: 404, as everywhere.
"""

from django.http import Http404

from annotation.access import audit_for, audit_roles
from annotation.models import Audit


def can_see_reports(user, audit: Audit, roles: set[str] | None = None) -> bool:
    roles = audit_roles(user, audit) if roles is None else roles
    if roles & {"manager", "researcher"}:
        return True
    if "reader" in roles:
        return not audit.blinded or audit.status == Audit.Status.CLOSED
    return False


def report_audit_for(user, audit_id: int) -> Audit:
    """The audit if the user may see its reports, else 404."""
    audit = audit_for(user, audit_id)
    if not can_see_reports(user, audit):
        raise Http404("No such audit")
    return audit


def can_recompute(user, audit: Audit) -> bool:
    return bool(audit_roles(user, audit) & {"manager", "researcher"})

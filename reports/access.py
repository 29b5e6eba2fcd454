"""Who may see an audit's reports, on top of annotation.access.

Researchers and managers (admins, the dataset's maintainers) always; readers only when the audit
is not blinded or once it is closed, so that in a blinded audit no reader learns another reader's
marks through a dashboard, a download or the API. Anyone else: 404, as everywhere.
"""

from django.http import Http404

from annotation.access import audit_roles, is_admin, visible_audits
from annotation.models import Audit
from datasets.models import Dataset


def can_see_reports(user, audit: Audit, roles: set[str] | None = None) -> bool:
    roles = audit_roles(user, audit) if roles is None else roles
    if "manager" in roles:
        return True
    if "reader" in roles:
        # Also when the reader holds another role here: a blinded audit stays blind to its
        # readers until it is closed (annotation.access.sees_others_marks, same rule).
        return not audit.blinded or audit.status == Audit.Status.CLOSED
    return "researcher" in roles


def report_audit_for(user, audit_id: int) -> tuple[Audit, set[str]]:
    """The audit and the user's roles in it if the user may see its reports, else 404."""
    # audit_for's own lookup, without its role check: the roles are needed here anyway and
    # asking twice costs two queries on a page with a latency budget.
    audit = visible_audits(user).select_related("dataset").filter(pk=audit_id).first()
    if audit is None:
        raise Http404("No such audit")
    roles = audit_roles(user, audit)
    if not can_see_reports(user, audit, roles):
        raise Http404("No such audit")
    return audit, roles


def can_recompute(roles: set[str]) -> bool:
    return bool(roles & {"manager", "researcher"})


def dataset_for_maintainer(user, slug: str) -> Dataset:
    """The dataset if the user maintains it or is an admin, else 404 (claims are the
    maintainers' to enter)."""
    dataset = Dataset.objects.filter(slug=slug).first()
    if dataset is None or not user.is_authenticated:
        raise Http404("No such dataset")
    if not (is_admin(user) or dataset.maintainers.filter(pk=user.pk).exists()):
        raise Http404("No such dataset")
    return dataset

"""Who may see what. Every view and API endpoint asks here; an object outside a user's reach
is answered with 404, never 403, so its existence does not leak.

Roles: admin (staff or superuser: everything); maintainer of a dataset (its images and audits);
and per audit reader, adjudicator, researcher (Membership rows). One user may hold several.

| role | sees | may |
| --- | --- | --- |
| admin | everything | everything, incl. inviting maintainers and reading the audit log |
| maintainer (per dataset) | the dataset, its images, all its audits | create audits, invite to them, export |
| reader (per audit) | the audit, its tiles, only their own marks when blinded | mark tiles |
| adjudicator (per audit) | the audit, its tiles and every reader's marks | adjudicate |
| researcher (per audit) | the audit, its dashboards and reports | download reports |
"""

from django.db.models import Q, QuerySet
from django.http import Http404

from datasets.models import Dataset, Image

from .models import Audit, Membership, Sample


def is_admin(user) -> bool:
    return bool(user.is_authenticated and (user.is_superuser or user.is_staff))


def visible_datasets(user) -> QuerySet[Dataset]:
    if is_admin(user):
        return Dataset.objects.all()
    if not user.is_authenticated:
        return Dataset.objects.none()
    return Dataset.objects.filter(
        Q(maintainers=user) | Q(audits__memberships__user=user)
    ).distinct()


def visible_audits(user) -> QuerySet[Audit]:
    if is_admin(user):
        return Audit.objects.all()
    if not user.is_authenticated:
        return Audit.objects.none()
    return Audit.objects.filter(Q(dataset__maintainers=user) | Q(memberships__user=user)).distinct()


def audit_roles(user, audit: Audit) -> set[str]:
    """The user's roles in this audit; admins and the dataset's maintainers get "manager"."""
    if not user.is_authenticated:
        return set()
    roles = set(Membership.objects.filter(audit=audit, user=user).values_list("role", flat=True))
    if is_admin(user) or audit.dataset.maintainers.filter(pk=user.pk).exists():
        roles.add("manager")
    return roles


def audit_for(user, audit_id: int, *roles: str) -> Audit:
    """The audit if the user holds one of `roles` in it (any role when none given), else 404."""
    audit = visible_audits(user).select_related("dataset").filter(pk=audit_id).first()
    if audit is None:
        raise Http404("No such audit")
    held = audit_roles(user, audit)
    if roles and not (held & {*roles, "manager"}):
        raise Http404("No such audit")
    return audit


def image_for(user, image_id: int) -> Image:
    """The image if the user manages its dataset or it is a tile of one of the user's audits,
    else 404."""
    image = Image.objects.select_related("dataset").filter(pk=image_id).first()
    if image is None or not user.is_authenticated:
        raise Http404("No such image")
    if is_admin(user) or image.dataset.maintainers.filter(pk=user.pk).exists():
        return image
    if not Sample.objects.filter(image=image, audit__memberships__user=user).exists():
        raise Http404("No such image")
    return image


MANAGER = "manager"
AUDIT_ROLES = ("reader", "adjudicator", "researcher")


def managed_datasets(user) -> QuerySet[Dataset]:
    """Datasets the user administers: all for an admin, else those they maintain."""
    if is_admin(user):
        return Dataset.objects.all()
    if not user.is_authenticated:
        return Dataset.objects.none()
    return Dataset.objects.filter(maintainers=user)


def is_maintainer(user, dataset: Dataset) -> bool:
    return bool(
        user.is_authenticated
        and (is_admin(user) or dataset.maintainers.filter(pk=user.pk).exists())
    )


def dataset_for(user, slug: str, *, manage: bool = False) -> Dataset:
    """The dataset if the user can see it (or, with `manage`, maintains it), else 404."""
    datasets = managed_datasets(user) if manage else visible_datasets(user)
    dataset = datasets.filter(slug=slug).first()
    if dataset is None:
        raise Http404("No such dataset")
    return dataset


def managed_audit_for(user, audit_id: int) -> Audit:
    """The audit if the user is an admin or maintains its dataset, else 404."""
    return audit_for(user, audit_id, MANAGER)


def sees_others_marks(user, audit: Audit) -> bool:
    """May this user see other readers' marks of the audit (per-reader tables, agreement,
    counts)? Managers, adjudicators and researchers may; in a blinded audit a reader may not,
    even one who also holds another role, until the audit is closed."""
    roles = audit_roles(user, audit)
    if MANAGER in roles:
        return True
    if "reader" in roles and audit.blinded and audit.status != Audit.Status.CLOSED:
        return False
    return bool(roles & {"adjudicator", "researcher"}) or ("reader" in roles and not audit.blinded)


def sample_for(user, sample_id: int, *roles: str) -> Sample:
    """The sample if the user holds one of `roles` in its audit (any role when none), else
    404."""
    sample = Sample.objects.select_related("image", "label").filter(pk=sample_id).first()
    if sample is None:
        raise Http404("No such tile")
    sample.audit = audit_for(user, sample.audit_id, *roles)
    return sample

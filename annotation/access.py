"""Who may see what. Every view and API endpoint asks here; an object outside a user's reach
is answered with 404, never 403, so its existence does not leak.

Roles: admin (staff or superuser: everything); maintainer of a dataset (its images and audits);
and per audit reader, adjudicator, researcher (Membership rows).
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

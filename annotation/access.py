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
    return Dataset.objects.filter(Q(maintainers=user) | Q(audits__memberships__user=user)).distinct()


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


# image_for guards every tile of every grid, so it is one hand-written query: the ORM spends
# milliseconds building and compiling these two EXISTS on each call, fifty times what the query
# itself costs (bench/thumbnails.py). Same rule as the docstring; keep them in step.
_IMAGE_FOR_SQL = f"""
    SELECT i.* FROM {Image._meta.db_table} i
    WHERE i.id = %s AND (
        EXISTS (SELECT 1 FROM {Dataset.maintainers.through._meta.db_table} m
                WHERE m.dataset_id = i.dataset_id AND m.user_id = %s)
        OR EXISTS (SELECT 1 FROM {Sample._meta.db_table} s
                   JOIN {Membership._meta.db_table} ms ON ms.audit_id = s.audit_id
                   WHERE s.image_id = i.id AND ms.user_id = %s))
"""  # noqa: S608  (table names from the models, values as parameters)


def image_for(user, image_id: int) -> Image:
    """The image if the user manages its dataset or it is a tile of one of the user's audits,
    else 404. One query; image.dataset is loaded when first used."""
    if not user.is_authenticated:
        raise Http404("No such image")
    if is_admin(user):
        image = Image.objects.select_related("dataset").filter(pk=image_id).first()
    else:
        found = list(Image.objects.raw(_IMAGE_FOR_SQL, [int(image_id), user.pk, user.pk]))
        image = found[0] if found else None
    if image is None:
        raise Http404("No such image")
    return image

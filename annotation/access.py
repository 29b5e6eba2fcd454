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

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.crypto import constant_time_compare

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


# image_for guards every tile of every grid, so it is one hand-written query: the ORM spends
# milliseconds building and compiling these two EXISTS on each call, fifty times what the query
# itself costs (bench/thumbnails.py). Same rule as the docstring; keep them in step. Table names
# come from the models, values are always parameters.
_MAY_SEE_IMAGE = f"""(
        EXISTS (SELECT 1 FROM {Dataset.maintainers.through._meta.db_table} m
                WHERE m.dataset_id = i.dataset_id AND m.user_id = %s)
        OR EXISTS (SELECT 1 FROM {Sample._meta.db_table} s
                   JOIN {Membership._meta.db_table} ms ON ms.audit_id = s.audit_id
                   WHERE s.image_id = i.id AND ms.user_id = %s))"""
_IMAGE_FOR_SQL = f"SELECT i.* FROM {Image._meta.db_table} i WHERE i.id = %s AND {_MAY_SEE_IMAGE}"
_MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
_TILE_FIELDS = ("id", "dataset_id", "path", "unreadable_reason")


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


def image_for_request(request, image_id: int) -> Image | None:
    """image_for for the tile hot path, from the session cookie in two queries (the session, then
    the user with the image and the access rule) instead of three ORM queries.

    It only ever says yes: anything it does not handle itself (no session or an expired one,
    another session engine or auth backend, a password changed since login, an inactive user,
    no access) returns None, and the caller falls back to login_required + image_for, which
    decide as everywhere else (redirect, flush, 404).
    """
    if (
        settings.SESSION_ENGINE != "django.contrib.sessions.backends.db"
        or settings.SESSION_SAVE_EVERY_REQUEST
    ):
        return None
    session_key = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
    if not session_key:
        return None
    store = SessionStore(session_key)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT session_data FROM {Session._meta.db_table} "
            "WHERE session_key = %s AND expire_date > %s",
            [session_key, timezone.now()],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    data = store.decode(row[0])
    user_id, backend = data.get(SESSION_KEY), data.get(BACKEND_SESSION_KEY)
    if backend != _MODEL_BACKEND or backend not in settings.AUTHENTICATION_BACKENDS:
        return None
    try:
        user_pk = get_user_model()._meta.pk.to_python(user_id)
    except ValidationError:
        return None
    # The user's row comes along with the image: no query of its own for the user. Only the
    # columns a cached tile needs; Image.from_db defers the others (loaded if ever read, as on
    # a cache miss). A RawQuerySet here cost more than both queries together.
    sql = f"""
        SELECT i.id, i.dataset_id, i.path, i.unreadable_reason, u.password, u.is_active
        FROM {Image._meta.db_table} i JOIN {get_user_model()._meta.db_table} u ON u.id = %s
        WHERE i.id = %s AND (u.is_staff OR u.is_superuser OR {_MAY_SEE_IMAGE})"""
    with connection.cursor() as cursor:
        cursor.execute(sql, [user_pk, int(image_id), user_pk, user_pk])
        row = cursor.fetchone()
    if row is None or not row[5]:
        return None
    # The same check as django.contrib.auth.get_user: the session dies with a password change.
    expected = get_user_model()(pk=user_pk, password=row[4]).get_session_auth_hash()
    if not constant_time_compare(data.get(HASH_SESSION_KEY) or "", expected):
        return None
    request.log_user_id = user_pk  # the request log's user, without loading request.user
    return Image.from_db(connection.alias, _TILE_FIELDS, row[:4])


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

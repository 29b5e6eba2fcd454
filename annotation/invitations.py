"""E-mail invitations: the only way, besides `createsuperuser`, that an account comes to exist.

An admin (or a dataset's maintainer, for its audits) invites an address to a role. The invitee
gets a link with a random token; only its SHA-256 is stored, so a database leak opens nothing.
The link is valid `INVITATION_DAYS` (7 by default) and single use: `accept` claims the
invitation with a conditional update inside a transaction, so of two simultaneous accepts
exactly one wins and the other changes nothing.
"""

import hashlib
import secrets
import smtplib
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, models, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from datasets.models import Dataset

from . import audit_log
from .access import is_admin, is_maintainer
from .models import Audit, Invitation, Membership

Role = Invitation.Role


class InvitationError(Exception):
    """A refused invitation action, with a message a person can act on."""


class InvitationUnusable(InvitationError):
    """The token is unknown, used, revoked or expired. `reason` is one of those four words."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(
            {
                "unknown": "This invitation link is not valid.",
                "accepted": "This invitation has already been used.",
                "revoked": "This invitation was withdrawn.",
                "expired": "This invitation has expired.",
            }[reason]
        )


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token() -> tuple[str, str]:
    token = secrets.token_urlsafe(32)
    return token, hash_token(token)


def valid_days() -> int:
    return int(getattr(settings, "INVITATION_DAYS", 7))


def may_invite(user, *, role: str, audit: Audit | None = None, dataset=None) -> bool:
    """Admins invite anyone to anything; a maintainer invites to the audits of their datasets
    (not maintainers: only an admin widens who manages a dataset). `None` is the operator of
    `manage.py invite`, who already holds the database."""
    if user is None or is_admin(user):
        return True
    if role == Role.MAINTAINER or audit is None:
        return False
    return is_maintainer(user, audit.dataset)


@dataclass
class Sent:
    invitation: Invitation
    token: str
    url: str


def _send(invitation: Invitation, url: str) -> None:
    context = {"invitation": invitation, "url": url, "days": valid_days()}
    send_mail(
        subject=f"Label Audit: you are invited to {invitation.place}",
        message=render_to_string("access/invitation_email.txt", context),
        from_email=None,
        recipient_list=[invitation.email],
    )


def invite(
    *,
    by,
    email: str,
    role: str,
    audit: Audit | None = None,
    dataset: Dataset | None = None,
    accept_url,
    days: int | None = None,
) -> Sent:
    """Create an invitation and e-mail its link. `accept_url(token)` builds the absolute link.

    Re-inviting an address that has a pending invitation for the same place and role replaces
    it (the old link stops working), so there is one live link per person and role."""
    email = email.strip()
    if role not in Role.values:
        raise InvitationError(f"Unknown role {role!r}: use one of {', '.join(Role.values)}")
    if role == Role.MAINTAINER:
        if dataset is None and audit is not None:
            dataset = audit.dataset
        audit = None
        if dataset is None:
            raise InvitationError("A maintainer is invited to a dataset")
    else:
        dataset = None
        if audit is None:
            raise InvitationError(f"A {role} is invited to an audit")
    if not may_invite(by, role=role, audit=audit, dataset=dataset):
        raise InvitationError("You may not invite to this role here")
    if days is not None and not 1 <= days <= 90:
        raise InvitationError("An invitation is valid between 1 and 90 days")
    token, digest = _new_token()
    now = timezone.now()
    with transaction.atomic():
        _pending(email=email, role=role, audit=audit, dataset=dataset).update(revoked_at=now)
        invitation = Invitation.objects.create(
            email=email,
            role=role,
            audit=audit,
            dataset=dataset,
            token_hash=digest,
            invited_by=by,
            expires_at=now + timedelta(days=days or valid_days()),
            sent_at=now,
            send_count=1,
        )
        audit_log.record(
            "invitation.created",
            actor=by,
            actor_label="" if by else "manage.py",
            audit=audit,
            dataset=dataset,
            target=email,
            role=role,
            invitation=invitation.pk,
        )
    url = accept_url(token)
    _send_or_explain(invitation, url)
    return Sent(invitation, token, url)


def _send_or_explain(invitation: Invitation, url: str) -> None:
    # Sent once the invitation is committed (never while holding the database's write lock);
    # a mail server failure leaves a saved invitation that can be re-sent.
    try:
        _send(invitation, url)
    except (OSError, smtplib.SMTPException) as error:
        raise InvitationError(
            f"The invitation is saved but the e-mail to {invitation.email} failed ({error}): "
            "resend it once mail works."
        ) from error


def _pending(**place):
    return Invitation.objects.filter(
        accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now(), **place
    )


def resend(*, by, invitation: Invitation, accept_url) -> Sent:
    """A new link (the old one stops working) with a fresh validity, e-mailed again."""
    if not may_invite(by, role=invitation.role, audit=invitation.audit):
        raise InvitationError("You may not manage this invitation")
    token, digest = _new_token()
    now = timezone.now()
    with transaction.atomic():
        claimed = Invitation.objects.filter(
            pk=invitation.pk, accepted_at__isnull=True, revoked_at__isnull=True
        ).update(token_hash=digest, expires_at=now + timedelta(days=valid_days()), sent_at=now)
        if not claimed:
            raise InvitationError("Only a pending or expired invitation can be re-sent")
        Invitation.objects.filter(pk=invitation.pk).update(send_count=invitation.send_count + 1)
        invitation.refresh_from_db()
        audit_log.record(
            "invitation.resent",
            actor=by,
            audit=invitation.audit,
            dataset=invitation.dataset,
            target=invitation.email,
            role=invitation.role,
            invitation=invitation.pk,
        )
    url = accept_url(token)
    _send_or_explain(invitation, url)
    return Sent(invitation, token, url)


def revoke(*, by, invitation: Invitation) -> Invitation:
    if not may_invite(by, role=invitation.role, audit=invitation.audit):
        raise InvitationError("You may not manage this invitation")
    with transaction.atomic():
        claimed = Invitation.objects.filter(
            pk=invitation.pk, accepted_at__isnull=True, revoked_at__isnull=True
        ).update(revoked_at=timezone.now())
        if not claimed:
            raise InvitationError("This invitation is no longer pending")
        audit_log.record(
            "invitation.revoked",
            actor=by,
            audit=invitation.audit,
            dataset=invitation.dataset,
            target=invitation.email,
            role=invitation.role,
            invitation=invitation.pk,
        )
    invitation.refresh_from_db()
    return invitation


def lookup(token: str) -> Invitation:
    """The usable invitation of a token, else InvitationUnusable naming why."""
    invitation = (
        Invitation.objects.select_related("audit__dataset", "dataset")
        .filter(token_hash=hash_token(token or ""))
        .first()
    )
    if invitation is None:
        raise InvitationUnusable("unknown")
    state = invitation.status_at(timezone.now())
    if state != "pending":
        raise InvitationUnusable(state)
    return invitation


def existing_account(invitation: Invitation):
    """The active account already registered with the invited address, if any."""
    return (
        get_user_model()
        .objects.filter(email__iexact=invitation.email, is_active=True)
        .order_by("pk")
        .first()
    )


def is_invitee(invitation: Invitation, user) -> bool:
    return bool(user.email) and user.email.strip().lower() == invitation.email.strip().lower()


def check_new_account(*, username: str, password: str, email: str, name: str = "") -> None:
    """Raise ValidationError (by field) when an account cannot be created with these."""
    User = get_user_model()
    errors: dict[str, list[str]] = {}
    if not username or len(username) > 150:
        errors["username"] = ["Choose a user name of at most 150 characters."]
    elif User.objects.filter(username__iexact=username).exists():
        errors["username"] = ["This user name is taken."]
    candidate = User(username=username, email=email, first_name=name[:150])
    try:
        password_validation.validate_password(password, candidate)
    except ValidationError as error:
        errors["password"] = list(error.messages)
    if errors:
        raise ValidationError(errors)


def _claim(invitation_id: int, user) -> bool:
    """Stamp the invitation accepted unless something else did first (one winner)."""
    now = timezone.now()
    return bool(
        Invitation.objects.filter(
            pk=invitation_id, accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now
        ).update(accepted_at=now, accepted_by=user)
    )


def _grant(invitation: Invitation, user) -> None:
    if invitation.role == Role.MAINTAINER:
        invitation.dataset.maintainers.add(user)
    else:
        Membership.objects.get_or_create(audit=invitation.audit, user=user, role=invitation.role)
    audit_log.record(
        "invitation.accepted",
        actor=user,
        audit=invitation.audit,
        dataset=invitation.dataset,
        target=invitation.email,
        role=invitation.role,
        invitation=invitation.pk,
    )


def accept_with_account(*, token: str, user) -> Invitation:
    """An existing (logged-in) account joins with the invitation's role, if it is the invited
    address's account: a forwarded link does not hand a role to whoever holds it."""
    invitation = lookup(token)
    if not is_invitee(invitation, user):
        raise InvitationError(
            f"This invitation is for {invitation.email}; you are logged in as "
            f"{user.get_username()}. Log out and open the link again."
        )
    with transaction.atomic():
        # The row lock (PostgreSQL) serialises simultaneous accepts; the conditional update in
        # _claim decides the single winner on every database.
        Invitation.objects.select_for_update().filter(pk=invitation.pk).first()
        if not _claim(invitation.pk, user):
            raise InvitationUnusable(_state_now(invitation.pk))
        _grant(invitation, user)
    invitation.refresh_from_db()
    return invitation


def accept_new_account(
    *, token: str, username: str, password: str, name: str = ""
) -> tuple[Invitation, object]:
    """Create the invitee's account (the invited address, the chosen name and password) and
    grant the role. Exactly one account however many times this runs at once."""
    invitation = lookup(token)
    if existing_account(invitation) is not None:
        raise InvitationError(
            "An account with this e-mail address exists: log in and open the link again to join."
        )
    username = username.strip()
    check_new_account(username=username, password=password, email=invitation.email, name=name)
    User = get_user_model()
    try:
        with transaction.atomic():
            Invitation.objects.select_for_update().filter(pk=invitation.pk).first()
            if not _claim(invitation.pk, None):
                raise InvitationUnusable(_state_now(invitation.pk))
            user = User.objects.create_user(
                username=username,
                email=invitation.email,
                password=password,
                first_name=name.strip()[:150],
            )
            Invitation.objects.filter(pk=invitation.pk).update(accepted_by=user)
            audit_log.record(
                "account.created",
                actor=user,
                audit=invitation.audit,
                dataset=invitation.dataset,
                target=username,
                invitation=invitation.pk,
            )
            _grant(invitation, user)
    except IntegrityError:
        # The user name was taken between the check and the insert.
        raise ValidationError({"username": ["This user name is taken."]}) from None
    invitation.refresh_from_db()
    return invitation, user


def _state_now(invitation_id: int) -> str:
    invitation = Invitation.objects.get(pk=invitation_id)
    state = invitation.status_at(timezone.now())
    return "accepted" if state == "pending" else state


def remove_role(*, by, audit: Audit, user, role: str) -> None:
    """Take a role in an audit away from a user (managers only; never one's own)."""
    if not may_invite(by, role=role, audit=audit):
        raise InvitationError("You may not change roles here")
    if user.pk == by.pk:
        raise InvitationError("You cannot change your own roles")
    with transaction.atomic():
        deleted, _ = Membership.objects.filter(audit=audit, user=user, role=role).delete()
        if deleted:
            audit_log.record(
                "role.removed", actor=by, audit=audit, target=user.get_username(), role=role
            )


def remove_maintainer(*, by, dataset: Dataset, user) -> None:
    if not is_admin(by):
        raise InvitationError("Only an admin changes who maintains a dataset")
    with transaction.atomic():
        if dataset.maintainers.filter(pk=user.pk).exists():
            dataset.maintainers.remove(user)
            audit_log.record(
                "role.removed",
                actor=by,
                dataset=dataset,
                target=user.get_username(),
                role=Role.MAINTAINER,
            )


def purge_stale(*, older_than_days: int = 30) -> int:
    """Delete invitations that expired or were revoked more than `older_than_days` ago without
    being accepted (the audit log keeps their story). Returns how many went."""
    cutoff = timezone.now() - timedelta(days=older_than_days)
    stale = Invitation.objects.filter(accepted_at__isnull=True).filter(
        models.Q(expires_at__lt=cutoff) | models.Q(revoked_at__lt=cutoff)
    )
    deleted, _ = stale.delete()
    return deleted

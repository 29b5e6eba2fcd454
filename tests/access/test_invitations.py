"""Invitations: every path of the link (accept, reuse, expiry, revoke, resend, race) and who
may invite whom."""

import re
import threading
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from annotation import invitations
from annotation.models import AuditEvent, Invitation, Membership

User = get_user_model()
NEW_PASSWORD = "correct-horse-battery-9"
LINK = re.compile(r"https?://\S+/invite/(\S+)/")


def _token_from(mail) -> str:
    match = LINK.search(mail.body)
    assert match, mail.body
    return match.group(1)


def _invite(client, admin_user, audit, email="newreader@example.org", role="reader"):
    client.force_login(admin_user)
    response = client.post(
        reverse("access:audit_people", args=[audit.pk]), {"email": email, "role": role}
    )
    assert response.status_code == 302, response.content
    client.logout()
    return Invitation.objects.get(email=email, role=role, revoked_at__isnull=True)


def _accept(client, token, username="newreader", password=NEW_PASSWORD):
    return client.post(
        reverse("access:accept", args=[token]),
        {"username": username, "name": "New Reader", "password1": password, "password2": password},
    )


@pytest.mark.django_db
def test_an_invitation_mails_a_link_whose_token_is_stored_only_hashed(
    client, admin_user, audit, mailoutbox
):
    invitation = _invite(client, admin_user, audit)
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["newreader@example.org"]
    token = _token_from(mailoutbox[0])
    assert invitation.token_hash == invitations.hash_token(token)
    assert token not in invitation.token_hash
    assert not Invitation.objects.filter(token_hash=token).exists()
    assert invitation.expires_at - invitation.created_at == pytest.approx(
        timedelta(days=7), abs=timedelta(seconds=5)
    )
    assert AuditEvent.objects.filter(action="invitation.created", target=invitation.email).exists()


@pytest.mark.django_db
def test_accepting_creates_one_account_with_the_role_and_lands_on_the_audit(
    client, admin_user, audit, mailoutbox
):
    _invite(client, admin_user, audit)
    token = _token_from(mailoutbox[0])
    page = client.get(reverse("access:accept", args=[token]))
    assert page.status_code == 200
    assert b"reader" in page.content and audit.name.encode() in page.content
    users_before = User.objects.count()
    response = _accept(client, token)
    assert response.status_code == 302
    assert response["Location"] == reverse("annotation:audit", args=[audit.pk])
    assert User.objects.count() == users_before + 1
    user = User.objects.get(username="newreader")
    assert user.email == "newreader@example.org"
    assert user.check_password(NEW_PASSWORD)
    assert not user.is_staff
    assert set(Membership.objects.filter(user=user).values_list("audit_id", "role")) == {
        (audit.pk, "reader")
    }
    assert client.get(reverse("annotation:audit", args=[audit.pk])).status_code == 200
    invitation = Invitation.objects.get()
    assert invitation.accepted_by == user and invitation.accepted_at is not None
    assert {"account.created", "invitation.accepted"} <= set(
        AuditEvent.objects.values_list("action", flat=True)
    )


@pytest.mark.django_db
def test_an_accepted_link_is_refused_on_reuse_and_changes_nothing(
    client, admin_user, audit, mailoutbox
):
    _invite(client, admin_user, audit)
    token = _token_from(mailoutbox[0])
    _accept(client, token)
    client.logout()
    users, memberships = User.objects.count(), Membership.objects.count()
    assert client.get(reverse("access:accept", args=[token])).status_code == 410
    response = _accept(client, token, username="someoneelse")
    assert response.status_code == 410
    assert b"already been used" in response.content
    assert (User.objects.count(), Membership.objects.count()) == (users, memberships)


@pytest.mark.django_db
def test_an_expired_link_is_refused(client, admin_user, audit, mailoutbox):
    invitation = _invite(client, admin_user, audit)
    token = _token_from(mailoutbox[0])
    Invitation.objects.filter(pk=invitation.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    users = User.objects.count()
    response = _accept(client, token)
    assert response.status_code == 410
    assert b"expired" in response.content
    assert User.objects.count() == users
    assert Invitation.objects.get().accepted_at is None


@pytest.mark.django_db
def test_a_revoked_link_is_refused(client, admin_user, audit, mailoutbox):
    invitation = _invite(client, admin_user, audit)
    token = _token_from(mailoutbox[0])
    client.force_login(admin_user)
    client.post(reverse("access:invitation_revoke", args=[invitation.pk]))
    client.logout()
    response = _accept(client, token)
    assert response.status_code == 410
    assert b"withdrawn" in response.content
    assert not User.objects.filter(username="newreader").exists()
    assert AuditEvent.objects.filter(action="invitation.revoked").count() == 1


@pytest.mark.django_db
def test_an_unknown_token_is_a_clear_404(client):
    response = client.get(reverse("access:accept", args=["not-a-token"]))
    assert response.status_code == 404
    assert b"not valid" in response.content


@pytest.mark.django_db
def test_resending_replaces_the_link_and_renews_the_validity(client, admin_user, audit, mailoutbox):
    invitation = _invite(client, admin_user, audit)
    first = _token_from(mailoutbox[0])
    Invitation.objects.filter(pk=invitation.pk).update(
        expires_at=timezone.now() - timedelta(days=1)
    )
    client.force_login(admin_user)
    client.post(reverse("access:invitation_resend", args=[invitation.pk]))
    client.logout()
    assert len(mailoutbox) == 2
    second = _token_from(mailoutbox[1])
    assert second != first
    invitation.refresh_from_db()
    assert invitation.send_count == 2
    assert invitation.expires_at > timezone.now() + timedelta(days=6)
    assert client.get(reverse("access:accept", args=[first])).status_code == 404
    assert _accept(client, second).status_code == 302


@pytest.mark.django_db
def test_inviting_the_same_address_again_retires_the_earlier_link(
    client, admin_user, audit, mailoutbox
):
    _invite(client, admin_user, audit)
    _invite(client, admin_user, audit)
    first, second = (_token_from(mail) for mail in mailoutbox)
    assert client.get(reverse("access:accept", args=[first])).status_code == 410
    assert client.get(reverse("access:accept", args=[second])).status_code == 200


@pytest.mark.django_db
def test_an_existing_account_joins_without_a_second_account(
    client, admin_user, audit, outsider, mailoutbox
):
    _invite(client, admin_user, audit, email=outsider.email, role="researcher")
    token = _token_from(mailoutbox[0])
    page = client.get(reverse("access:accept", args=[token]))
    assert b"Log in" in page.content
    # Creating a second account for the address is refused even when posted directly.
    _accept(client, token, username="mallory2")
    assert not User.objects.filter(username="mallory2").exists()
    client.force_login(outsider)
    response = client.post(reverse("access:accept", args=[token]))
    assert response.status_code == 302
    assert Membership.objects.filter(audit=audit, user=outsider, role="researcher").exists()
    assert User.objects.filter(email=outsider.email).count() == 1


@pytest.mark.django_db
def test_a_weak_password_is_refused_and_nothing_is_created(client, admin_user, audit, mailoutbox):
    _invite(client, admin_user, audit)
    token = _token_from(mailoutbox[0])
    for weak in ("short1", "12345678901234", "password12345", "newreader-x"):
        response = _accept(client, token, password=weak)
        assert response.status_code == 200, weak
        assert b'class="error"' in response.content
    assert not User.objects.filter(username="newreader").exists()
    assert Invitation.objects.get().accepted_at is None


@pytest.mark.django_db
def test_a_taken_user_name_is_refused(client, admin_user, audit, reader, mailoutbox):
    _invite(client, admin_user, audit)
    response = _accept(client, _token_from(mailoutbox[0]), username=reader.username)
    assert b"taken" in response.content
    assert Invitation.objects.get().accepted_at is None


@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_accepts_make_exactly_one_account(admin_user, audit, mailoutbox):
    sent = invitations.invite(
        by=admin_user,
        email="racer@example.org",
        role="reader",
        audit=audit,
        accept_url=lambda token: f"http://testserver/invite/{token}/",
    )
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def accept(name):
        try:
            barrier.wait()
            invitations.accept_new_account(token=sent.token, username=name, password=NEW_PASSWORD)
            outcomes.append("ok")
        except invitations.InvitationError as error:
            outcomes.append(type(error).__name__)
        except Exception as error:  # a database lock error would count as a failure here
            outcomes.append(repr(error))
        finally:
            connection.close()

    threads = [threading.Thread(target=accept, args=(f"racer{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["InvitationUnusable"] * 3 + ["ok"], outcomes
    assert User.objects.filter(email="racer@example.org").count() == 1
    assert Membership.objects.filter(audit=audit, user__email="racer@example.org").count() == 1
    assert AuditEvent.objects.filter(action="account.created").count() == 1


@pytest.mark.django_db
def test_a_maintainer_invites_to_their_audits_but_not_maintainers(
    client, maintainer, audit, other_audit, small_dataset, mailoutbox
):
    client.force_login(maintainer)
    url = reverse("access:audit_people", args=[audit.pk])
    assert client.post(url, {"email": "x@example.org", "role": "reader"}).status_code == 302
    # The audit form offers no maintainer role, and the dataset page takes no invitation.
    response = client.post(url, {"email": "y@example.org", "role": "maintainer"})
    assert response.status_code == 200
    assert not Invitation.objects.filter(email="y@example.org").exists()
    people = reverse("access:dataset_people", args=[small_dataset.slug])
    assert client.get(people).status_code == 200
    assert client.post(people, {"email": "y@example.org", "role": "maintainer"}).status_code == 404
    with pytest.raises(invitations.InvitationError):
        invitations.invite(
            by=maintainer,
            email="y@example.org",
            role="maintainer",
            dataset=small_dataset,
            accept_url=str,
        )
    # Another dataset's audit is out of reach.
    other = reverse("access:audit_people", args=[other_audit.pk])
    assert client.post(other, {"email": "z@example.org", "role": "reader"}).status_code == 404
    assert Invitation.objects.filter(email__in=["y@example.org", "z@example.org"]).count() == 0


@pytest.mark.django_db
def test_an_admin_invites_a_maintainer_who_then_manages_the_dataset(
    client, admin_user, small_dataset, audit, mailoutbox
):
    client.force_login(admin_user)
    client.post(
        reverse("access:dataset_people", args=[small_dataset.slug]),
        {"email": "newmaint@example.org", "role": "maintainer"},
    )
    client.logout()
    response = _accept(client, _token_from(mailoutbox[0]), username="newmaint")
    assert response["Location"] == reverse("datasets:detail", args=[small_dataset.slug])
    user = User.objects.get(username="newmaint")
    assert small_dataset.maintainers.filter(pk=user.pk).exists()
    assert client.get(reverse("access:audit_people", args=[audit.pk])).status_code == 200


@pytest.mark.django_db
def test_a_reader_can_neither_see_people_nor_raise_their_own_role(
    client, reader, audit, small_dataset
):
    client.force_login(reader)
    assert client.get(reverse("access:audit_people", args=[audit.pk])).status_code == 404
    response = client.post(
        reverse("access:audit_people", args=[audit.pk]),
        {"email": reader.email, "role": "researcher"},
    )
    assert response.status_code == 404
    assert (
        client.get(reverse("access:dataset_people", args=[small_dataset.slug])).status_code == 404
    )
    assert not Invitation.objects.exists()
    assert set(Membership.objects.filter(user=reader).values_list("role", flat=True)) == {"reader"}


@pytest.mark.django_db
def test_a_manager_removes_a_role_and_it_is_logged(client, admin_user, audit, reader):
    client.force_login(admin_user)
    page = client.get(reverse("access:audit_people", args=[audit.pk]))
    assert reader.username.encode() in page.content
    client.post(
        reverse("access:audit_member_remove", args=[audit.pk, reader.pk]), {"role": "reader"}
    )
    assert not Membership.objects.filter(audit=audit, user=reader).exists()
    event = AuditEvent.objects.get(action="role.removed")
    assert (event.actor, event.target, event.details["role"]) == (admin_user, "alice", "reader")


@pytest.mark.django_db
def test_the_audit_log_page_is_for_admins(client, admin_user, maintainer, audit, mailoutbox):
    _invite(client, admin_user, audit, email="logged@example.org")
    client.force_login(maintainer)
    assert client.get(reverse("access:audit_log")).status_code == 404
    client.force_login(admin_user)
    page = client.get(reverse("access:audit_log"), {"action": "invitation.created"})
    assert page.status_code == 200
    assert b"logged@example.org" in page.content


@pytest.mark.django_db
def test_the_invite_command_mails_a_link_and_logs_it(audit, mailoutbox, settings):
    from io import StringIO

    from django.core.management import CommandError, call_command

    settings.SITE_URL = "https://audit.example.org"
    out = StringIO()
    call_command(
        "invite", "cli@example.org", "--audit", str(audit.pk), "--role", "adjudicator", stdout=out
    )
    assert "cli@example.org as adjudicator" in out.getvalue()
    assert "https://audit.example.org/invite/" in mailoutbox[0].body
    event = AuditEvent.objects.get(action="invitation.created")
    assert (event.actor, event.actor_name) == (None, "manage.py")
    with pytest.raises(CommandError, match="--audit 999999: no such audit"):
        call_command("invite", "x@example.org", "--audit", "999999")
    with pytest.raises(CommandError, match="invited to an audit"):
        call_command("invite", "x@example.org", "--role", "reader")


@pytest.mark.django_db(transaction=True)
def test_stale_invitations_are_purged_but_accepted_ones_stay(
    admin_user, audit, mailoutbox, task_runner
):
    from annotation.tasks import purge_stale_invitations

    def sent(email):
        return invitations.invite(
            by=admin_user, email=email, role="reader", audit=audit, accept_url=str
        ).invitation

    old = timezone.now() - timedelta(days=31)
    expired, revoked, accepted, fresh = (sent(f"{n}@example.org") for n in "erap")
    Invitation.objects.filter(pk=expired.pk).update(expires_at=old)
    Invitation.objects.filter(pk=revoked.pk).update(revoked_at=old)
    Invitation.objects.filter(pk=accepted.pk).update(accepted_at=old, expires_at=old)
    assert purge_stale_invitations.delay().get(timeout=60) == 2
    assert set(Invitation.objects.values_list("email", flat=True)) == {
        "a@example.org",
        "p@example.org",
    }
    assert purge_stale_invitations.delay().get(timeout=60) == 0


@pytest.mark.django_db
def test_a_forwarded_link_gives_nothing_to_another_logged_in_account(
    client, admin_user, audit, reader, outsider, mailoutbox
):
    """alice (a reader) holding a link meant for mallory cannot take its role."""
    _invite(client, admin_user, audit, email=outsider.email, role="researcher")
    token = _token_from(mailoutbox[0])
    client.force_login(reader)
    page = client.get(reverse("access:accept", args=[token]))
    assert b"not for your account" in page.content and b'id="join"' not in page.content
    response = client.post(reverse("access:accept", args=[token]))
    assert response.status_code == 403
    assert not Membership.objects.filter(user=reader, role="researcher").exists()
    assert Invitation.objects.get().accepted_at is None

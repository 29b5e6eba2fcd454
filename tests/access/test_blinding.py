"""Blinded audits: a reader never learns another reader's marks, by any route."""

import pytest
from django.urls import reverse

from annotation.access import sees_others_marks
from annotation.models import Audit, Membership
from annotation.services import mark_set
from tests.access.test_permission_matrix import ROUTES, SCOPES, _reverse
from tests.annotation.conftest import first_grid

SECRET = "bob-secret-note-7731"


def _bob_marks(audit, bob):
    label, samples = first_grid(audit)
    mark_set(sample=samples[0], reader=bob, idempotency_key="bob-1", verdict="red", note=SECRET)
    return label, samples


@pytest.mark.django_db
def test_no_route_shows_a_reader_another_readers_mark(client, world, audit, reader, other_reader):
    label, samples = _bob_marks(audit, other_reader)
    client.force_login(reader)
    seen = 0
    for name, rows in ROUTES.items():
        for spec in rows:
            if spec.method != "GET":
                continue
            scope = SCOPES[spec.kind][0]
            url = _reverse(name, world["args"][spec.kind][scope])
            response = client.get(url)
            if response.status_code != 200 or response.get("Content-Type", "").startswith("image/"):
                continue
            seen += 1
            body = response.content.decode()
            assert SECRET not in body, f"{name} shows bob's note"
            assert "tile-others" not in body, f"{name} shows the other readers' verdicts"
    assert seen >= 10
    # alice sees her own mark on the tile (the world's green), never bob's red or his note.
    tile = client.get(f"/api/samples/{samples[0].pk}/mark/").json()
    assert tile["verdict"] in ("", "green") and tile["note"] == ""
    mine = client.get(f"/api/audits/{audit.pk}/").json()
    assert mine["marked"] == reader.marks.exclude(verdict="").count()


@pytest.mark.django_db
def test_the_probe_sees_other_readers_in_an_audit_that_is_not_blinded(
    client, audit, reader, other_reader
):
    """The check above could fail: the same mark shows when the audit is not blinded."""
    Audit.objects.filter(pk=audit.pk).update(blinded=False)
    audit.refresh_from_db()
    label, _ = _bob_marks(audit, other_reader)
    client.force_login(reader)
    page = client.get(reverse("annotation:grid", args=[audit.pk, label.pk, 1]))
    assert "tile-others" in page.content.decode()


@pytest.mark.django_db
def test_who_sees_other_readers_marks(
    audit, reader, researcher, adjudicator, maintainer, admin_user, outsider
):
    assert not sees_others_marks(reader, audit)
    assert not sees_others_marks(outsider, audit)
    for user in (researcher, adjudicator, maintainer, admin_user):
        assert sees_others_marks(user, audit), user
    # A reader who is also a researcher stays blind while the audit is open...
    Membership.objects.create(audit=audit, user=reader, role="researcher")
    assert not sees_others_marks(reader, audit)
    # ...and sees once it is closed, or in an audit that is not blinded.
    audit.status = Audit.Status.CLOSED
    assert sees_others_marks(reader, audit)
    audit.status = Audit.Status.READY
    audit.blinded = False
    assert sees_others_marks(reader, audit)


@pytest.mark.django_db
def test_a_reader_who_is_also_researcher_sees_no_report_of_the_open_blinded_audit(
    client, audit, reader
):
    Membership.objects.create(audit=audit, user=reader, role="researcher")
    client.force_login(reader)
    assert client.get(reverse("reports:dashboard", args=[audit.pk])).status_code == 404
    assert client.get(f"/api/reports/audits/{audit.pk}/download.csv").status_code == 404
    Audit.objects.filter(pk=audit.pk).update(status=Audit.Status.CLOSED)
    assert client.get(reverse("reports:dashboard", args=[audit.pk])).status_code == 200

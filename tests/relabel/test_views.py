"""Adjudication and export pages: who may open and change what (404 outside a user's reach),
and what the adjudicator and the maintainer see."""

import csv
import io

import pytest
from django.urls import reverse

from annotation.models import Adjudication, Audit, Membership
from tests.relabel.conftest import mark

pytestmark = pytest.mark.django_db


@pytest.fixture
def disagreement(audit, reader, other_reader):
    sample = audit.samples.order_by("label__name", "position").first()
    mark(sample, reader, "green", note="looks fine")
    mark(sample, other_reader, "red")
    return sample


def _login(client, user, password):
    assert client.login(username=user.username, password=password)
    return client


def _grid(audit, sample):
    return reverse("annotation:adjudication_grid", args=[audit.pk, sample.label_id, 1])


def test_the_adjudicator_sees_every_readers_verdict_and_note_and_decides(
    client, password, audit, disagreement, adjudicator
):
    _login(client, adjudicator, password)
    page = client.get(_grid(audit, disagreement))
    text = page.content.decode()
    assert page.status_code == 200
    assert "alice" in text and "bob" in text and "looks fine" in text
    response = client.post(
        reverse("annotation:adjudicate", args=[disagreement.pk]),
        {"verdict": "red", "next": _grid(audit, disagreement)},
    )
    assert response.status_code == 302
    decision = Adjudication.objects.get(sample=disagreement)
    assert (decision.verdict, decision.adjudicator) == ("red", adjudicator)


def test_the_htmx_tile_comes_back_adjudicated(client, password, disagreement, adjudicator):
    _login(client, adjudicator, password)
    response = client.post(
        reverse("annotation:adjudicate", args=[disagreement.pk]),
        {"verdict": "green"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert b"verdict-green" in response.content and b"green by judith" in response.content


def test_a_reader_of_a_blinded_open_audit_never_sees_the_queue(
    client, password, audit, disagreement, reader
):
    Membership.objects.create(audit=audit, user=reader, role=Membership.Role.ADJUDICATOR)
    _login(client, reader, password)
    assert client.get(_grid(audit, disagreement)).status_code == 403
    assert client.get(reverse("annotation:adjudication", args=[audit.pk])).status_code == 403
    Audit.objects.filter(pk=audit.pk).update(status=Audit.Status.CLOSED)
    assert client.get(_grid(audit, disagreement)).status_code == 200


def test_a_plain_reader_and_an_outsider_cannot_adjudicate(
    client, password, audit, disagreement, other_reader, outsider
):
    url = reverse("annotation:adjudicate", args=[disagreement.pk])
    _login(client, outsider, password)
    assert client.post(url, {"verdict": "red"}).status_code == 404
    assert client.get(reverse("annotation:adjudication", args=[audit.pk])).status_code == 404
    _login(client, other_reader, password)
    assert client.get(reverse("annotation:adjudication", args=[audit.pk])).status_code == 404
    assert client.post(url, {"verdict": "red"}).status_code == 404
    assert not Adjudication.objects.exists()


def test_a_maintainer_sees_the_queue_read_only_and_chooses_the_rule(
    client, password, audit, disagreement, maintainer
):
    _login(client, maintainer, password)
    page = client.get(reverse("annotation:adjudication", args=[audit.pk]))
    assert page.status_code == 200 and b"1 tile in the queue" in page.content
    assert b'class="v v-red"' not in client.get(_grid(audit, disagreement)).content
    denied = client.post(
        reverse("annotation:adjudicate", args=[disagreement.pk]), {"verdict": "red"}
    )
    assert denied.status_code == 403
    client.post(reverse("annotation:adjudication_rule", args=[audit.pk]), {"rule": "red_green"})
    audit.refresh_from_db()
    assert audit.adjudication_rule == "red_green"
    assert (
        client.post(
            reverse("annotation:adjudication_rule", args=[audit.pk]), {"rule": "vote"}
        ).status_code
        == 400
    )


def test_the_audit_page_links_adjudication_and_export_for_whom_they_are(
    client, password, audit, adjudicator, reader, maintainer
):
    url = reverse("annotation:audit", args=[audit.pk])
    assert b"Relabeled export" in _login(client, maintainer, password).get(url).content
    page = _login(client, adjudicator, password).get(url).content
    assert b"Adjudication queue" in page and b"Relabeled export" not in page
    assert b"Adjudication queue" not in _login(client, reader, password).get(url).content


def test_a_maintainer_downloads_the_relabeled_csv(
    client, password, audit, disagreement, adjudicator, maintainer, small_dataset
):
    from annotation.adjudication import adjudicate

    adjudicate(sample=disagreement, adjudicator=adjudicator, verdict="red")
    _login(client, maintainer, password)
    assert client.get(reverse("datasets:export", args=[small_dataset.slug])).status_code == 200
    response = client.get(
        reverse("datasets:export_download", args=[small_dataset.slug]),
        {"rule": "adjudicated", "audit": audit.pk},
    )
    assert response.status_code == 200 and response.streaming
    assert "relabeled-adjudicated-audit" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 300
    changed = [row for row in rows if row["relabel_status"] == "changed"]
    assert [row["Image Index"] for row in changed] == [disagreement.image.key]
    assert changed[0]["relabel_removed"] == disagreement.label.name
    assert changed[0]["relabel_adjudicated"] == f"{disagreement.label.name}=yes"


def test_only_maintainers_and_admins_export(
    client, password, audit, reader, outsider, small_dataset
):
    for user in (reader, outsider):
        _login(client, user, password)
        url = reverse("datasets:export_download", args=[small_dataset.slug])
        assert client.get(url).status_code == 404
        assert client.get(reverse("datasets:export", args=[small_dataset.slug])).status_code == 404


def test_an_audit_of_another_dataset_or_an_unknown_rule_is_refused(
    client, password, admin_user, audit, small_dataset
):
    _login(client, admin_user, password)
    url = reverse("datasets:export_download", args=[small_dataset.slug])
    assert client.get(url, {"audit": audit.pk + 99}).status_code == 404
    assert client.get(url, {"rule": "loudest"}).status_code == 400


def test_the_dataset_page_links_the_export_for_its_maintainers_only(
    client, password, audit, reader, maintainer, small_dataset
):
    url = reverse("datasets:detail", args=[small_dataset.slug])
    assert b"Relabeled export" in _login(client, maintainer, password).get(url).content
    assert b"Relabeled export" not in _login(client, reader, password).get(url).content


def test_the_export_page_says_why_a_dataset_cannot_be_exported(
    client, password, admin_user, small_dataset, tmp_path
):
    small_dataset.label_file = str(tmp_path / "gone.csv")
    small_dataset.save()
    _login(client, admin_user, password)
    page = client.get(reverse("datasets:export", args=[small_dataset.slug]))
    assert b'id="export-problem"' in page.content and b"gone.csv" in page.content
    download = client.get(reverse("datasets:export_download", args=[small_dataset.slug]))
    assert download.status_code == 409 and b"import it again" in download.content


def test_the_home_page_lists_the_audits_one_adjudicates_with_what_is_pending(
    client, password, audit, disagreement, adjudicator, reader
):
    page = _login(client, adjudicator, password).get("/").content.decode()
    assert "Audits I adjudicate" in page and "1 tile pending" in page
    assert "Audits I adjudicate" not in _login(client, reader, password).get("/").content.decode()


def test_a_maintainer_uploads_reference_reads_and_sees_what_was_counted(
    client, password, audit, maintainer
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    sample = audit.samples.select_related("image", "label").first()
    body = f"Image Index,{sample.label.name},Fracture\n{sample.image.key},NO,YES\n"
    _login(client, maintainer, password)
    url = reverse("annotation:reads_import", args=[audit.pk])
    page = client.post(
        url,
        {
            "reader": "Panel",
            "format": "presence",
            "file": SimpleUploadedFile("panel.csv", body.encode()),
        },
    )
    text = page.content.decode()
    assert page.status_code == 200 and 'id="reads-summary"' in text
    assert "Fracture (1)" in text
    assert sample.marks.get(reader__username="Panel").verdict == "red"
    bad = client.post(
        url,
        {
            "reader": "Panel",
            "format": "presence",
            "file": SimpleUploadedFile(
                "bad.csv", f"Image Index,{sample.label.name}\nx.png,maybe\n".encode()
            ),
        },
    )
    assert "bad.csv, line 2" in bad.content.decode()


def test_readers_and_outsiders_cannot_import_reads(client, password, audit, reader, outsider):
    url = reverse("annotation:reads_import", args=[audit.pk])
    for user in (reader, outsider):
        assert _login(client, user, password).get(url).status_code == 404

"""The paper's claimed accuracy: entered by maintainers and admins only, by form or CSV, refused
whole with the line and reason when bad; the reports then compare with it."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from datasets.models import Label
from reports import references
from reports.models import Snapshot

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0.85", 0.85), ("85%", 0.85), (" 85.5 % ", 0.855), ("", None), ("1", 1.0)],
)
def test_accuracy_is_a_proportion_or_a_percentage(text, expected):
    parsed = references.parse_accuracy(text)
    if expected is None:
        assert parsed is None
    else:
        assert parsed == pytest.approx(expected)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("85", "with a % sign"),
        ("abc", "not a number"),
        ("120%", "outside 0 to 1"),
        ("-0.1", "outside"),
    ],
)
def test_a_bad_accuracy_says_what_is_wrong(text, message):
    with pytest.raises(references.ReferenceError, match=message):
        references.parse_accuracy(text, "x: ")


def test_a_csv_sets_claims_by_name_or_alias_case_insensitively(nih_dataset):
    Label.objects.filter(dataset=nih_dataset, name="Infiltration").update(aliases=["Infiltrate"])
    handle = io.StringIO(
        "label,accuracy,source\ninfiltrate,0.66,Wang 2017 table 2\nNo Finding,91%,\n"
    )
    assert references.import_reference_csv(dataset=nih_dataset, handle=handle) == 2
    infiltration = Label.objects.get(dataset=nih_dataset, name="Infiltration")
    assert (infiltration.reference_accuracy, infiltration.reference_source) == (
        0.66,
        "Wang 2017 table 2",
    )
    assert Label.objects.get(
        dataset=nih_dataset, name="No Finding"
    ).reference_accuracy == pytest.approx(0.91)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("name,value\nInfiltration,0.5\n", "line 1: the header"),
        ("label,accuracy\nInfiltration,0.5\nNo such,0.5\n", "line 3: no label 'No such'"),
        (
            "label,accuracy\nInfiltration,0.5\nInfiltration,0.6\n",
            "line 3: Infiltration already given on line 2",
        ),
        ("label,accuracy\nInfiltration,0.5\nNo Finding,91\n", "line 3: accuracy 91 is outside"),
    ],
)
def test_a_bad_csv_is_refused_whole_naming_the_line(nih_dataset, content, message):
    with pytest.raises(references.ReferenceError, match=message):
        references.import_reference_csv(
            dataset=nih_dataset, handle=io.StringIO(content), name="claims.csv"
        )
    assert not Label.objects.filter(dataset=nih_dataset, reference_accuracy__isnull=False).exists()


def test_only_maintainers_and_admins_reach_the_form(
    client, nih_dataset, maintainer, admin_user, researcher, outsider
):
    url = reverse("reports:reference_accuracy", args=[nih_dataset.slug])
    for user, code in ((maintainer, 200), (admin_user, 200), (researcher, 404), (outsider, 404)):
        client.force_login(user)
        assert client.get(url).status_code == code, user
    client.logout()
    assert client.get(url).status_code == 302


def test_the_form_saves_claims_and_shows_errors_in_place(client, nih_dataset, maintainer):
    client.force_login(maintainer)
    url = reverse("reports:reference_accuracy", args=[nih_dataset.slug])
    labels = list(nih_dataset.labels.order_by("name"))
    data = {"save": "1", "ref-TOTAL_FORMS": len(labels), "ref-INITIAL_FORMS": len(labels)}
    for i, label in enumerate(labels):
        data[f"ref-{i}-label_id"] = label.pk
        data[f"ref-{i}-accuracy"] = "0.5" if label.name == "Atelectasis" else ""
        data[f"ref-{i}-source"] = "paper" if label.name == "Atelectasis" else ""
    assert client.post(url, data).status_code == 302
    assert Label.objects.get(dataset=nih_dataset, name="Atelectasis").reference_accuracy == 0.5
    data["ref-0-accuracy"] = "85"
    page = client.post(url, data).content.decode()
    assert "with a % sign" in page


def test_the_upload_reports_a_bad_line(client, nih_dataset, maintainer):
    client.force_login(maintainer)
    url = reverse("reports:reference_accuracy", args=[nih_dataset.slug])
    upload = SimpleUploadedFile("claims.csv", b"label,accuracy\nNope,0.5\n")
    page = client.post(url, {"upload": "1", "file": upload}, follow=True).content.decode()
    assert "claims.csv, line 2: no label" in page


def test_a_changed_claim_makes_the_report_stale_and_it_shows_the_new_claim(
    client, audit, nih_dataset, researcher, django_capture_on_commit_callbacks
):
    client.force_login(researcher)
    url = reverse("reports:dashboard", args=[audit.pk])
    client.get(url)
    with django_capture_on_commit_callbacks(execute=True):
        references.import_reference_csv(
            dataset=nih_dataset, handle=io.StringIO("label,accuracy\nInfiltration,0.123\n")
        )
    page = client.get(url).content.decode()
    assert "12.3%" in page and Snapshot.objects.count() == 2


def test_the_report_command_writes_each_format(audit, tmp_path):
    for fmt in ("csv", "json", "html"):
        out = tmp_path / f"report.{fmt}"
        call_command("audit_report", audit=audit.pk, format=fmt, out=str(out))
        assert out.stat().st_size > 100
    assert Snapshot.objects.count() == 1
    assert out.read_text().startswith("<!doctype html>")
    with pytest.raises(CommandError, match="no audit with id 999"):
        call_command("audit_report", audit=999, format="csv", out=str(out))


def test_the_import_command_reads_a_file_and_refuses_a_bad_one(nih_dataset, tmp_path):
    good = tmp_path / "claims.csv"
    good.write_text("label,accuracy,source\nAtelectasis,0.8,Wang 2017\n")
    call_command("import_reference_accuracy", str(good), dataset=nih_dataset.slug)
    assert Label.objects.get(dataset=nih_dataset, name="Atelectasis").reference_accuracy == 0.8
    bad = tmp_path / "bad.csv"
    bad.write_text("label,accuracy\nAtelectasis,2\n")
    with pytest.raises(CommandError, match="bad.csv, line 2: accuracy 2 is outside"):
        call_command("import_reference_accuracy", str(bad), dataset=nih_dataset.slug)
    assert Label.objects.get(dataset=nih_dataset, name="Atelectasis").reference_accuracy == 0.8

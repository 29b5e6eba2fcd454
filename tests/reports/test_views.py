"""Report pages, downloads and API: who sees what, and that they show the snapshot's figures."""

import csv
import io
import json

import pytest
from django.urls import reverse

from annotation.models import Audit, Sample
from reports import aggregation
from reports.models import Snapshot
from tests.reports.conftest import bulk_marks

pytestmark = pytest.mark.django_db


@pytest.fixture
def marked(audit, reader, other_reader, third_reader):
    """Every tile marked by the three readers: alice all green, bob red on the first 9 of each
    label, carol orange on positions 0-3 (written in bulk: mark_set is tested elsewhere)."""
    verdicts = {}
    for sample in Sample.objects.filter(audit=audit):
        verdicts[(sample.pk, reader.pk)] = "green"
        verdicts[(sample.pk, other_reader.pk)] = "red" if sample.position < 9 else "green"
        verdicts[(sample.pk, third_reader.pk)] = "orange" if sample.position < 4 else "green"
    bulk_marks(verdicts)
    return audit


def login(client, user, password):
    client.force_login(user)  # the login page is another suite's; hashing costs seconds here
    return client


PAGES = ["reports:dashboard", "reports:readers", "reports:agreement"]


@pytest.mark.parametrize("page", PAGES)
def test_researchers_admins_and_maintainers_see_the_report(
    client, marked, researcher, admin_user, maintainer, password, page
):
    for user in (researcher, admin_user, maintainer):
        client.logout()
        login(client, user, password)
        assert client.get(reverse(page, args=[marked.pk])).status_code == 200


@pytest.mark.parametrize("page", [*PAGES, "reports:download"])
def test_a_reader_of_a_blinded_open_audit_and_an_outsider_get_404(
    client, marked, reader, outsider, password, page
):
    args = [marked.pk]
    for user in (reader, outsider):
        client.logout()
        login(client, user, password)
        assert client.get(reverse(page, args=args)).status_code == 404


def test_readers_see_the_report_once_the_blinded_audit_is_closed(client, marked, reader, password):
    Audit.objects.filter(pk=marked.pk).update(status=Audit.Status.CLOSED)
    login(client, reader, password)
    assert client.get(reverse("reports:dashboard", args=[marked.pk])).status_code == 200


def test_readers_of_an_unblinded_audit_see_the_report(client, marked, reader, password):
    Audit.objects.filter(pk=marked.pk).update(blinded=False)
    login(client, reader, password)
    assert client.get(reverse("reports:dashboard", args=[marked.pk])).status_code == 200


def test_anonymous_visitors_are_sent_to_log_in(client, marked):
    response = client.get(reverse("reports:dashboard", args=[marked.pk]))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_dashboard_shows_the_snapshot_figures_and_its_time(
    client, marked, researcher, password
):
    login(client, researcher, password)
    page = client.get(reverse("reports:dashboard", args=[marked.pk])).content.decode()
    snapshot = Snapshot.objects.get()
    # Consensus per tile: positions 0-3 green/red/orange tie -> orange; 4-8 green majority.
    # Every consensus verdict is green or orange: accuracy 100%, strict 32/36.
    assert "100.0%" in page and f"{32 / 36:.1%}" in page
    assert snapshot.created_at.strftime("%Y-%m-%d %H:%M:%S") in page
    assert "<svg" in page and "Consensus accuracy by label" in page


def test_the_table_sorts_by_a_column_heading(client, marked, researcher, password, nih_dataset):
    nih_dataset.labels.filter(name="Infiltration").update(reference_accuracy=0.2)
    nih_dataset.labels.filter(name="No Finding").update(reference_accuracy=0.9)
    login(client, researcher, password)
    url = reverse("reports:dashboard", args=[marked.pk])
    ascending = client.get(url + "?sort=claim").content.decode()
    descending = client.get(url + "?sort=-claim").content.decode()
    assert ascending.index('data-label="Infiltration"') < ascending.index('data-label="No Finding"')
    assert descending.index('data-label="No Finding"') < descending.index(
        'data-label="Infiltration"'
    )


def test_the_csv_is_tidy_and_its_cells_are_safe(client, marked, researcher, password, third_reader):
    third_reader.first_name = "=HYPERLINK"
    third_reader.save()
    login(client, researcher, password)
    response = client.get(reverse("reports:download", args=[marked.pk]) + "?format=csv")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    accuracy = [
        row for row in rows
        if row["label"] == "Infiltration" and row["reader"] == "bob"
        and row["statistic"] == "accuracy" and row["method"] == "wilson"
    ]  # fmt: skip
    assert len(accuracy) == 1 and float(accuracy[0]["value"]) == pytest.approx(27 / 36)
    assert all(not row["reader"].startswith("=") for row in rows)
    assert any(row["reader"] == "'=HYPERLINK" for row in rows)


def test_the_json_holds_the_snapshot_methods_versions_and_raw_matrices(
    client, marked, researcher, password
):
    login(client, researcher, password)
    body = json.loads(
        client.get(reverse("reports:download", args=[marked.pk]) + "?format=json").content
    )
    snapshot = Snapshot.objects.get()
    assert body["snapshot"]["input_digest"] == snapshot.input_digest
    assert body["results"]["versions"]["label_audit"] == aggregation.code_version()
    assert "wilson" in body["methods"]
    label = marked.labels.get(name="No Finding")
    ratings = body["matrices"]["labels"][str(label.pk)]["ratings"]
    assert [row[0] for row in ratings] == [2, 0, 1]  # alice green, bob red, carol orange
    assert "figures" not in body["results"]


def test_the_html_page_is_standalone(client, marked, researcher, password):
    login(client, researcher, password)
    page = client.get(
        reverse("reports:download", args=[marked.pk]) + "?format=html"
    ).content.decode()
    assert "<svg" in page and "<style>" in page and "Methods" in page
    assert f"<h1>Label audit report: {marked.name}</h1>" in page
    assert f"Dataset {marked.dataset.name}" in page
    assert "<script" not in page and 'rel="stylesheet"' not in page


def test_an_unknown_format_or_snapshot_is_404(client, marked, researcher, password):
    login(client, researcher, password)
    client.get(reverse("reports:dashboard", args=[marked.pk]))
    assert (
        client.get(reverse("reports:download", args=[marked.pk]) + "?format=xls").status_code == 404
    )
    url = reverse("reports:download", args=[marked.pk]) + "?format=csv"
    assert client.get(url + "&snapshot=999999").status_code == 404
    assert client.get(url + "&snapshot=abc").status_code == 404


def test_recompute_is_for_researchers_and_managers(client, marked, researcher, password, reader):
    Audit.objects.filter(pk=marked.pk).update(status=Audit.Status.CLOSED)
    url = reverse("reports:recompute", args=[marked.pk])
    login(client, reader, password)
    assert client.post(url).status_code == 404
    client.logout()
    login(client, researcher, password)
    assert client.post(url).status_code == 302
    assert Snapshot.objects.get().trigger == Snapshot.Trigger.MANUAL


def test_the_audit_page_links_to_the_report_for_those_who_may_see_it(
    client, marked, researcher, reader, password
):
    url = reverse("annotation:audit", args=[marked.pk])
    report = reverse("reports:dashboard", args=[marked.pk])
    login(client, researcher, password)
    assert report in client.get(url).content.decode()
    client.logout()
    login(client, reader, password)
    assert report not in client.get(url).content.decode()


# -- API ---------------------------------------------------------------------------------------


def test_the_api_gives_the_latest_figures_and_respects_blinding(
    client, marked, researcher, reader, password
):
    url = reverse("reports_api:latest", args=[marked.pk])
    login(client, reader, password)
    assert client.get(url).status_code == 404
    client.logout()
    login(client, researcher, password)
    body = client.get(url).json()
    assert body["stale"] is False
    label = next(x for x in body["results"]["labels"] if x["name"] == "Infiltration")
    assert label["consensus"]["strict_accuracy"] == pytest.approx(32 / 36)
    snapshots = client.get(reverse("reports_api:snapshots", args=[marked.pk])).json()
    assert [s["id"] for s in snapshots] == [body["snapshot"]["id"]]
    one = client.get(url + f"?snapshot={snapshots[0]['id']}&matrices=1").json()
    assert "matrices" in one and "matrices" not in body
    assert client.get(url + "?snapshot=999999").status_code == 404


def test_the_api_recompute_runs_in_embedded_mode(client, marked, researcher, password):
    login(client, researcher, password)
    response = client.post(reverse("reports_api:recompute", args=[marked.pk]))
    assert response.status_code == 200 and response.json()["queued"] is False
    assert Snapshot.objects.count() == 1


def test_earlier_snapshots_stay_listed_and_downloadable(
    client, marked, researcher, reader, password
):
    login(client, researcher, password)
    url = reverse("reports:dashboard", args=[marked.pk])
    client.get(url)
    first = Snapshot.objects.get()
    sample = Sample.objects.filter(audit=marked).first()
    from annotation.services import mark_set

    mark_set(sample=sample, reader=reader, idempotency_key="again", verdict="red")
    page = client.get(url).content.decode()
    assert Snapshot.objects.count() == 2 and "Earlier snapshots" in page
    old = client.get(
        reverse("reports:download", args=[marked.pk]) + f"?format=json&snapshot={first.pk}"
    )
    assert json.loads(old.content)["snapshot"]["id"] == first.pk


def test_with_a_broker_a_page_without_figures_says_so_and_asks_for_a_run(
    client, marked, researcher, password, settings, monkeypatch, django_capture_on_commit_callbacks
):
    from reports import tasks

    settings.CELERY_TASK_ALWAYS_EAGER = False
    sent = []
    monkeypatch.setattr(tasks.aggregate_audit, "apply_async", lambda *a, **k: sent.append(a))
    login(client, researcher, password)
    url = reverse("reports:dashboard", args=[marked.pk])
    with django_capture_on_commit_callbacks(execute=True):
        page = client.get(url).content.decode()
    assert "No figures yet" in page and 'hx-trigger="every 3s"' in page
    assert len(sent) == 1 and Snapshot.objects.count() == 0
    status = client.get(url + "?part=status", HTTP_HX_REQUEST="true").content.decode()
    assert status.strip().startswith('<section id="report-status"') and "<h1>" not in status
    # In reach but not computed yet: the download sends back to the page, the API says null.
    download = client.get(reverse("reports:download", args=[marked.pk]) + "?format=csv")
    assert download.status_code == 302 and download["Location"] == url
    api = client.get(reverse("reports_api:latest", args=[marked.pk]))
    assert api.status_code == 200 and api.json()["snapshot"] is None
    recompute = client.post(reverse("reports_api:recompute", args=[marked.pk]))
    assert recompute.status_code == 200 and recompute.json()["queued"] is True


def test_the_admin_lists_snapshots_read_only(client, marked, admin_user):
    aggregation.aggregate(marked)
    client.force_login(admin_user)
    snapshot = Snapshot.objects.get()
    assert client.get(reverse("admin:reports_snapshot_changelist")).status_code == 200
    page = client.get(reverse("admin:reports_snapshot_change", args=[snapshot.pk]))
    assert page.status_code == 200 and snapshot.input_digest in page.content.decode()
    assert client.get(reverse("admin:reports_snapshot_add")).status_code == 403

"""The model-audit pages: who may use them, the upload refusing a bad file, the reports."""

import time

import pytest
from django.urls import reverse

from annotation.models import Audit, Membership
from annotation.services import build_sample_set, create_audit, mark_set
from datasets.models import ModelRun, Prediction
from reports.model_audit import create_model_review

from .conftest import write_wide


@pytest.fixture
def maintainer(django_user_model, password, synthetic):
    user = django_user_model.objects.create_user("maria", password=password)
    synthetic.dataset.maintainers.add(user)
    return user


def _login(client, user, password):
    client.force_login(user)
    return client


def _upload(client, path, name, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    with open(path, "rb") as handle:
        response = client.post(
            reverse("model_audits:runs", args=["synthetic"]),
            {"name": name, "file": handle, "layout": "auto"},
        )
    run = ModelRun.objects.get(name=name)
    assert response.status_code == 302 and response.url == reverse(
        "model_audits:run", args=[run.pk]
    )
    deadline = time.monotonic() + 60  # eager: imported already; else by the real worker
    while run.status in (ModelRun.Status.QUEUED, ModelRun.Status.IMPORTING):
        assert time.monotonic() < deadline, "the upload was not imported in time"
        time.sleep(0.2)
        run.refresh_from_db()
    assert not list((tmp_path / "media" / "predictions").iterdir())  # the upload is removed
    return run, client.get(response.url)


@pytest.mark.django_db(transaction=True)
def test_a_maintainer_uploads_predictions_from_the_page(
    client, maintainer, password, synthetic, tmp_path, settings, task_runner
):
    _login(client, maintainer, password)
    path = write_wide(tmp_path / "wide.csv", synthetic)
    run, page = _upload(client, path, "web run", settings, tmp_path)
    assert run.status == ModelRun.Status.READY
    assert run.predictions_count == 600 and run.uploaded_by == maintainer
    assert Prediction.objects.filter(run=run).count() == 600
    assert b"Pneumothorax" in page.content and b"Youden" in page.content


@pytest.mark.django_db(transaction=True)
def test_a_bad_upload_shows_the_line_and_reason_and_stores_nothing(
    client, maintainer, password, tmp_path, settings, task_runner, synthetic
):
    _login(client, maintainer, password)
    bad = tmp_path / "bad.csv"
    bad.write_text("image,Pneumothorax\nimg_0000.png,0.2\nimg_0001.png,oops\n")
    run, page = _upload(client, bad, "bad", settings, tmp_path)
    assert run.status == ModelRun.Status.FAILED and run.error_line == 3
    assert (
        "Nothing imported.</strong> bad.csv, line 3: Pneumothorax: score &#x27;oops&#x27; is not a number"
        in page.content.decode()
    )
    assert not Prediction.objects.exists()
    # The name of a refused upload may be used again.
    good = write_wide(tmp_path / "good.csv", synthetic)
    again, _ = _upload(client, good, "bad", settings, tmp_path)
    assert again.status == ModelRun.Status.READY and ModelRun.objects.count() == 1


def test_the_run_page_follows_an_import_in_progress(client, maintainer, password, synthetic):
    run = ModelRun.objects.create(
        dataset=synthetic.dataset, name="big", status=ModelRun.Status.IMPORTING,
        bytes_done=250, bytes_total=1000, source_file="big.csv",
    )  # fmt: skip
    _login(client, maintainer, password)
    page = client.get(reverse("model_audits:run", args=[run.pk])).content.decode()
    assert 'hx-trigger="every 1s"' in page and "25% read" in page
    part = client.get(reverse("model_audits:run", args=[run.pk]), HTTP_HX_REQUEST="true")
    assert part.content.decode().lstrip().startswith('<section id="import"')


def test_readers_and_outsiders_get_404_on_model_pages(
    client, synthetic, drain_run, reader, outsider, password
):
    audit = create_model_review(run=drain_run, name="r", per_cell=5, readers=[reader], build=False)
    build_sample_set(audit=audit)
    for user in (reader, outsider):
        _login(client, user, password)
        for url in (
            reverse("model_audits:runs", args=["synthetic"]),
            reverse("model_audits:run", args=[drain_run.pk]),
            reverse("model_audits:report", args=[audit.pk]),
            reverse("model_audits:strata", args=[audit.pk]),
            reverse("model_audits:controls", args=[audit.pk]),
        ):
            assert client.get(url).status_code == 404, (user, url)
        assert (
            client.post(reverse("model_audits:run_delete", args=[drain_run.pk])).status_code == 404
        )
        client.logout()


def _built(audit, seconds=60):
    """The audit once its sample set is built: at once when eager, else by the real worker."""
    deadline = time.monotonic() + seconds
    while audit.status in (Audit.Status.DRAFT, Audit.Status.BUILDING):
        assert time.monotonic() < deadline, "the sample set was not built in time"
        time.sleep(0.2)
        audit.refresh_from_db()
    return audit


@pytest.mark.django_db(transaction=True)
def test_a_maintainer_creates_a_model_review_with_a_given_threshold(
    client, maintainer, password, synthetic, drain_run, reader, task_runner
):
    _login(client, maintainer, password)
    # The build is queued on commit: run eagerly, or by a real worker when a broker is set.
    response = client.post(
        reverse("model_audits:run", args=[drain_run.pk]),
        {
            "name": "Drain check", "labels": [synthetic.pneumothorax.pk], "per_cell": 6,
            "grid_size": 12, "seed": 3, "one_per_patient": "on", "blinded": "on",
            "readers": reader.username, f"threshold_{synthetic.pneumothorax.pk}": "0.5",
        },
    )  # fmt: skip
    audit = _built(Audit.objects.get(name="Drain check"))
    assert response.status_code == 302 and response.url == reverse(
        "annotation:audit", args=[audit.pk]
    )
    assert (
        audit.kind == Audit.Kind.MODEL_REVIEW and audit.status == Audit.Status.READY
    )  # eager build
    assert audit.thresholds[str(synthetic.pneumothorax.pk)]["value"] == 0.5
    assert audit.samples.count() == 24
    page = client.get(response.url).content.decode()
    assert "model review of drain model: 6 images per cell" in page and "Model report" in page


def test_the_report_pages_render_with_an_svg_roc_plot(
    client, password, synthetic, drain_run, reader, other_reader
):
    audit = create_model_review(
        run=drain_run,
        name="r",
        labels=[synthetic.pneumothorax],
        per_cell=8,
        readers=[reader],
        build=False,
    )
    build_sample_set(audit=audit)
    Membership.objects.create(audit=audit, user=other_reader, role=Membership.Role.RESEARCHER)
    truth = dict(zip([i.pk for i in synthetic.images], synthetic.truth, strict=True))
    for sample in audit.samples.all():
        mark_set(sample=sample, reader=reader, idempotency_key=str(sample.pk),
                 verdict="green" if truth[sample.image_id] else "red")  # fmt: skip
    _login(client, other_reader, password)
    page = client.get(reverse("model_audits:report", args=[audit.pk])).content.decode()
    assert "<svg" in page and page.count("<polyline") == 3
    assert "8 of 8" in page  # every TP confirmed: the readers follow the dataset's labels
    assert "http" not in page.split("<svg", 1)[1].split("</svg>")[0].replace(
        "http://www.w3.org/2000/svg", ""
    )
    strata = client.get(reverse("model_audits:strata", args=[audit.pk]))
    assert strata.status_code == 200 and b"chest drain" in strata.content
    controls = client.get(reverse("model_audits:controls", args=[audit.pk]))
    assert controls.status_code == 200 and b"no decoys" in controls.content


def test_the_controls_page_shows_vigilance_per_reader(
    client, password, synthetic, reader, admin_user
):
    audit = create_audit(dataset=synthetic.dataset, name="c", labels=[synthetic.pneumothorax], per_label=20,
                         readers=[reader], build=False, decoy_fraction=0.2)  # fmt: skip
    build_sample_set(audit=audit)
    for sample in audit.samples.filter(is_decoy=True):
        mark_set(sample=sample, reader=reader, idempotency_key=str(sample.pk), verdict="red")
    _login(client, admin_user, password)
    page = client.get(reverse("model_audits:controls", args=[audit.pk])).content.decode()
    assert "alice" in page and "100.0%" in page
    assert (
        client.get(reverse("model_audits:report", args=[audit.pk])).status_code == 404
    )  # not a model review


@pytest.mark.django_db(transaction=True)
def test_the_audit_form_creates_a_label_review_with_decoys_or_a_shuffled_control(
    client, synthetic, maintainer, password, reader, task_runner
):
    _login(client, maintainer, password)
    base = {"dataset": synthetic.dataset.pk, "labels": [synthetic.pneumothorax.pk], "per_label": 20,
            "grid_size": 18, "seed": 7, "blinded": "on", "readers": reader.username}  # fmt: skip
    url = reverse("annotation:audit_create")
    client.post(url, {**base, "name": "d", "decoy_percent": "20"})
    client.post(url, {**base, "name": "s", "kind": "shuffled_control"})
    decoyed, shuffled = _built(Audit.objects.get(name="d")), _built(Audit.objects.get(name="s"))
    assert decoyed.decoy_fraction == 0.2 and decoyed.samples.filter(is_decoy=True).count() == 5
    assert shuffled.kind == Audit.Kind.SHUFFLED and shuffled.samples.count() == 20
    page = client.get(reverse("annotation:audit_create")).content.decode()
    assert "Decoys (% of tiles)" in page and "shuffled-labels control" in page


def test_the_model_report_downloads_as_csv(
    client, admin_user, password, synthetic, drain_run, reader
):
    import csv as csv_module
    import io

    audit = create_model_review(
        run=drain_run, name="csv", labels=[synthetic.pneumothorax], per_cell=5, readers=[reader],
        build=False,
    )  # fmt: skip
    build_sample_set(audit=audit)
    for sample in audit.samples.filter(cell="tp"):
        mark_set(sample=sample, reader=reader, idempotency_key=str(sample.pk), verdict="green")
    _login(client, admin_user, password)
    response = client.get(reverse("model_audits:report", args=[audit.pk]), {"format": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv_module.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == 1 and rows[0]["label"] == "Pneumothorax"
    assert (rows[0]["tp_read"], rows[0]["tp_confirmed"], rows[0]["tp_confirmed_share"]) == (
        "5",
        "5",
        "1.0",
    )
    assert rows[0]["fp_read"] == "0" and rows[0]["fp_positive_share"] == ""
    assert float(rows[0]["auc_dataset_all"]) > 0.5

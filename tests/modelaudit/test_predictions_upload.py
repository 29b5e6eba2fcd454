"""Uploading predictions: both layouts, a bad file refused whole with its line and reason."""

import csv

import pytest
from django.core.management import CommandError, call_command

from datasets.models import ModelRun, Prediction
from datasets.predictions import PredictionFileError, scores_of, upload_predictions

from .conftest import write_wide


def _write(path, rows):
    with open(path, "w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


def test_wide_layout_stores_one_score_per_image_and_label(synthetic, tmp_path):
    path = write_wide(tmp_path / "wide.csv", synthetic)
    summary = upload_predictions(dataset=synthetic.dataset, name="m1", path=path)
    assert summary.layout == "wide"
    assert summary.predictions == 600 and summary.images == 300
    assert summary.labels == ["Effusion", "Pneumothorax"]
    stored = scores_of(summary.run, synthetic.pneumothorax)
    assert stored == {
        image.pk: float(score)
        for image, score in zip(synthetic.images, synthetic.scores, strict=True)
    }


def test_long_layout_with_aliases_and_case(synthetic, tmp_path):
    images = synthetic.images
    path = _write(
        tmp_path / "long.csv",
        [
            ["Image", "Label", "Score"],
            [images[0].key, "ptx", "0.25"],
            [images[1].key, "effusion", "-1.5e2"],
        ],
    )
    summary = upload_predictions(dataset=synthetic.dataset, name="m2", path=path)
    assert summary.layout == "long"
    assert scores_of(summary.run, synthetic.pneumothorax) == {images[0].pk: 0.25}
    assert scores_of(summary.run, synthetic.effusion) == {images[1].pk: -150.0}


@pytest.mark.parametrize(
    ("rows", "line", "reason"),
    [
        (
            [
                ["image", "label", "score"],
                ["img_0000.png", "Pneumothorax", "0.1"],
                ["nope.png", "Pneumothorax", "0.2"],
            ],
            3,
            "image 'nope.png' is not in Synthetic",
        ),
        (
            [["image", "label", "score"], ["img_0000.png", "Cardiomegaly", "0.1"]],
            2,
            "label 'Cardiomegaly' is not a label",
        ),
        (
            [["image", "label", "score"], ["img_0000.png", "Pneumothorax", "high"]],
            2,
            "score 'high' is not a number",
        ),
        (
            [["image", "label", "score"], ["img_0000.png", "Pneumothorax", "nan"]],
            2,
            "not a finite number",
        ),
        (
            [
                ["image", "label", "score"],
                ["img_0000.png", "Pneumothorax", "0.1"],
                ["img_0000.png", "PTX", "0.3"],
            ],
            3,
            "a second score",
        ),
        (
            [["image", "Pneumothorax"], ["img_0000.png", "0.1"], ["img_0001.png", "0.1", "0.4"]],
            3,
            "3 cells where the header has 2",
        ),
        (
            [["image", "Pneumothorax"], ["img_0000.png", "0.1"], ["img_0000.png", "0.1"]],
            3,
            "appears twice",
        ),
        (
            [["image", "Pneumothorax", "Hernia"], ["img_0000.png", "0.1", "0.2"]],
            1,
            "column 'Hernia' is not a label",
        ),
        ([["file_name", "Pneumothorax"], ["img_0000.png", "0.1"]], 1, "no image column"),
        (
            [["image", "Pneumothorax", "PTX"], ["img_0000.png", "0.1", "0.2"]],
            1,
            "two columns name the label",
        ),
    ],
)
def test_a_bad_file_is_refused_whole_with_line_and_reason(synthetic, tmp_path, rows, line, reason):
    path = _write(tmp_path / "bad.csv", rows)
    with pytest.raises(PredictionFileError) as caught:
        upload_predictions(dataset=synthetic.dataset, name="bad", path=path)
    assert caught.value.line == line
    assert reason in caught.value.reason
    assert not ModelRun.objects.exists() and not Prediction.objects.exists()


def test_an_empty_file_and_a_header_only_file_are_refused(synthetic, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(PredictionFileError, match="empty file"):
        upload_predictions(dataset=synthetic.dataset, name="e", path=empty)
    header = _write(tmp_path / "header.csv", [["image", "Pneumothorax"]])
    with pytest.raises(PredictionFileError, match="no prediction"):
        upload_predictions(dataset=synthetic.dataset, name="e", path=header)


def test_a_run_name_is_used_once_per_dataset(synthetic, tmp_path):
    path = write_wide(tmp_path / "wide.csv", synthetic)
    upload_predictions(dataset=synthetic.dataset, name="same", path=path)
    with pytest.raises(ValueError, match="already has a model run named"):
        upload_predictions(dataset=synthetic.dataset, name="same", path=path)
    assert Prediction.objects.count() == 600


def test_the_command_uploads_and_reports_a_bad_line(synthetic, tmp_path, capsys):
    path = write_wide(tmp_path / "wide.csv", synthetic)
    call_command(
        "import_predictions", dataset="synthetic", name="cmd", file=str(path), no_progress=True
    )
    assert "600 scores (wide layout) on 300 images" in capsys.readouterr().out
    bad = _write(tmp_path / "bad.csv", [["image", "Pneumothorax"], ["img_0000.png", "x"]])
    with pytest.raises(CommandError, match=r"bad.csv, line 2: Pneumothorax: score 'x'"):
        call_command(
            "import_predictions", dataset="synthetic", name="cmd2", file=str(bad), no_progress=True
        )
    assert ModelRun.objects.count() == 1


def test_a_queued_upload_is_imported_once(synthetic, tmp_path, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from datasets.predictions import import_queued, queue_upload

    settings.MEDIA_ROOT = tmp_path / "media"
    content = write_wide(tmp_path / "wide.csv", synthetic).read_bytes()
    run = queue_upload(
        dataset=synthetic.dataset, name="queued", upload=SimpleUploadedFile("w.csv", content)
    )
    assert run.status == ModelRun.Status.QUEUED and run.bytes_total == len(content)
    assert import_queued(run.pk).status == ModelRun.Status.READY
    assert import_queued(run.pk) is None  # a second delivery of the task changes nothing
    assert Prediction.objects.filter(run=run).count() == 600

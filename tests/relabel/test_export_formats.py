"""The relabeled export beyond the NIH round trip: CheXpert columns, formula injection, a whole
dataset's audits, a missing label file, and the comparison of two versions."""

import csv
import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from annotation.models import Adjudication
from datasets.relabeled import ExportError, RelabeledRows, csv_chunks, export_relabeled, preview
from datasets.services import import_dataset
from datasets.versions import compare
from tests.conftest import FIXTURES
from tests.relabel.conftest import make_audit, mark

pytestmark = pytest.mark.django_db


def _rows(dataset, rule="consensus", audit=None):
    text = "".join(csv_chunks(RelabeledRows(dataset, rule, audit)))
    return list(csv.DictReader(io.StringIO(text)))


def test_a_red_chexpert_finding_becomes_0_and_every_other_cell_stays(reader, other_reader):
    source = FIXTURES / "chexpert_train_format.csv"
    dataset = import_dataset(name="CheXpert", fmt="chexpert", labels=source).dataset
    audit = make_audit(dataset, [reader, other_reader], labels=("Lung Opacity",), per_label=10)
    samples = list(audit.samples.select_related("image").order_by("position"))
    assert len(samples) >= 2
    mark(samples[0], reader, "red")
    mark(samples[0], other_reader, "red")
    mark(samples[1], reader, "red")
    mark(samples[1], other_reader, "orange")  # a tie is orange: never a change
    with open(source, newline="") as handle:
        original = {row["Path"]: row for row in csv.DictReader(handle)}
    for row in _rows(dataset, audit=audit):
        before = original[row["Path"]]
        if row["Path"] == samples[0].image.key:
            assert row["Lung Opacity"] == "0.0" and before["Lung Opacity"] == "1.0"
            assert row["relabel_removed"] == "Lung Opacity" and row["relabel_status"] == "changed"
            assert row["relabel_red"] == "Lung Opacity=2"
            assert {k: v for k, v in row.items() if k in before and k != "Lung Opacity"} == {
                k: v for k, v in before.items() if k != "Lung Opacity"
            }
        else:
            assert {k: row[k] for k in before} == before  # -1.0 stays -1.0, blank stays blank
    tie = next(r for r in _rows(dataset, audit=audit) if r["Path"] == samples[1].image.key)
    assert (tie["relabel_status"], tie["relabel_consensus"]) == ("unchanged", "Lung Opacity=orange")


def test_cells_that_would_run_as_formulas_are_neutralised(tmp_path, reader):
    header = "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position\n"
    path = tmp_path / "nih.csv"
    path.write_text(
        header
        + '00000001_000.png,Mass,0,=HYPERLINK("http://x"),57,M,PA\n'
        + "00000002_000.png,Mass,0,@SUM(A1),58,F,AP\n"
        + "00000003_000.png,Mass,0,-2+3,58,F,AP\n"
        + "00000004_000.png,Mass,0,7,58,F,AP\n"
    )
    dataset = import_dataset(name="Tricky", fmt="chestxray14", labels=path).dataset
    rows = {row["Image Index"]: row for row in _rows(dataset)}
    assert rows["00000001_000.png"]["Patient ID"] == '\'=HYPERLINK("http://x")'
    assert rows["00000002_000.png"]["Patient ID"] == "'@SUM(A1)"
    assert rows["00000003_000.png"]["Patient ID"] == "'-2+3"
    assert rows["00000004_000.png"]["Patient ID"] == "7"
    assert {row["relabel_status"] for row in rows.values()} == {"unreviewed"}


def test_for_a_whole_dataset_the_latest_audit_with_a_verdict_decides(
    small_dataset, reader, other_reader
):
    first = make_audit(small_dataset, [reader], labels=("Infiltration",), name="first")
    second = make_audit(small_dataset, [other_reader], labels=("Infiltration",), name="second")
    one, two = (
        first.samples.select_related("image").order_by("position")[0],
        first.samples.select_related("image").order_by("position")[1],
    )
    mark(one, reader, "red")
    mark(two, reader, "red")
    again = second.samples.filter(image=one.image).first()
    assert again is not None  # the same seed draws the same images
    mark(again, other_reader, "green")
    rows = {row["Image Index"]: row for row in _rows(small_dataset)}
    assert rows[one.image.key]["relabel_status"] == "unchanged"
    assert rows[one.image.key]["relabel_audit"] == str(second.pk)
    assert rows[two.image.key]["relabel_status"] == "changed"
    assert rows[two.image.key]["relabel_audit"] == str(first.pk)


def test_an_unreadable_label_file_refuses_the_export_and_writes_nothing(small_dataset, tmp_path):
    small_dataset.label_file = str(tmp_path / "moved.csv")
    small_dataset.save()
    exports = tmp_path / "exports"
    exports.mkdir()
    with pytest.raises(ExportError, match="moved.csv"):
        export_relabeled(dataset=small_dataset, rule="consensus", out=exports / "out.csv")
    with pytest.raises(CommandError, match="nothing written"):
        call_command(
            "export_relabeled",
            dataset=small_dataset.slug,
            out=exports / "out.csv",
            no_progress=True,
        )
    assert list(exports.iterdir()) == []


def test_a_failed_export_leaves_the_previous_file_and_no_temporary(
    audit, small_dataset, tmp_path, monkeypatch
):
    out = tmp_path / "exports" / "out.csv"
    out.parent.mkdir()
    out.write_text("previous\n")

    def broken(rows):
        yield "half a row"
        raise OSError("disk full")

    monkeypatch.setattr("datasets.relabeled.csv_chunks", broken)
    with pytest.raises(OSError, match="disk full"):
        export_relabeled(dataset=small_dataset, rule="consensus", out=out, audit=audit)
    assert out.read_text() == "previous\n"
    assert [p.name for p in out.parent.iterdir()] == ["out.csv"]


def test_two_versions_compare_by_labels_removed_per_class(
    client, password, audit, reader, other_reader, adjudicator, maintainer, small_dataset, tmp_path
):
    samples = list(
        audit.samples.select_related("image", "label").order_by("label__name", "position")
    )
    infiltration = [s for s in samples if s.label.name == "Infiltration"][:3]
    for sample in infiltration:
        mark(sample, reader, "red")
        mark(sample, other_reader, "red")
    Adjudication.objects.create(sample=infiltration[2], verdict="green", adjudicator=adjudicator)
    out = tmp_path / "v2.csv"
    summary = export_relabeled(dataset=small_dataset, rule="consensus", out=out, audit=audit)
    assert summary.removed == {"Infiltration": 2}
    shown = {row.label: (row.reviewed, row.removed) for row in preview(small_dataset, audit)}
    assert shown == {
        "Infiltration": (3, {"consensus": 2, "unanimous": 2, "adjudicated": 0}),
    }
    version = import_dataset(name="NIH first 300 v2", fmt="chestxray14", labels=out).dataset
    result = compare(small_dataset, version)
    changes = {item.name: (item.removed, item.added) for item in result.labels}
    assert changes["Infiltration"] == (2, 0)
    assert sum(removed for removed, _ in changes.values()) == 2
    assert result.common == 300
    version.maintainers.add(maintainer)
    assert client.login(username=maintainer.username, password=password)
    page = client.get(
        reverse("datasets:compare", args=[small_dataset.slug]), {"with": version.slug}
    )
    assert page.status_code == 200 and b"<strong>2</strong> labels removed" in page.content
    export_page = client.get(reverse("datasets:export", args=[small_dataset.slug]))
    assert b'id="preview"' in export_page.content


def test_unreviewed_rows_keep_their_exact_bytes_quotes_and_crlf_included(tmp_path, reader):
    lines = [
        "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position",
        '00000001_000.png,Mass,0,"1",57,M,"PA"',
        '00000002_000.png,"Mass|Nodule",0,"2, second",58,F,AP',
        "00000003_000.png,Mass,0,3,59,F,AP",
    ]
    path = tmp_path / "nih.csv"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode())
    dataset = import_dataset(name="Quoted", fmt="chestxray14", labels=path).dataset
    audit = make_audit(dataset, [reader], labels=("Mass",), per_label=3)
    third = audit.samples.get(image__key="00000003_000.png")
    mark(third, reader, "red")
    out = tmp_path / "out.csv"
    export_relabeled(dataset=dataset, rule="consensus", out=out, audit=audit)
    written = out.read_bytes().decode().split("\r\n")
    assert written[1].startswith(lines[1] + ",")
    assert written[2].startswith(lines[2] + ",")
    assert written[3].startswith("00000003_000.png,No Finding,0,3,59,F,AP,")
    assert written[4] == ""

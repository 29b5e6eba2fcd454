"""Importing real slices of the NIH ChestX-ray14 label file (the full file: test_import_nih_full)."""

import gzip

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction

from datasets import bulk
from datasets.models import Dataset, Image, ImageLabel, Label
from datasets.services import import_dataset
from tests.conftest import FIXTURES

pytestmark = pytest.mark.django_db


def test_a_row_keeps_every_field_of_the_file():
    import_dataset(name="NIH", fmt="chestxray14", labels=FIXTURES / "nih_first300.csv")
    image = Image.objects.get(key="00000001_001.png")
    assert (image.patient_id, image.study, image.age, image.sex, image.view_position) == (
        "1",
        "1",
        58,
        "M",
        "PA",
    )
    assert (image.width, image.height) == (2894, 2729)
    assert image.pixel_spacing_x == pytest.approx(0.143)
    assert sorted(image.labels.values_list("label__name", flat=True)) == [
        "Cardiomegaly",
        "Emphysema",
    ]


def test_images_are_found_by_name_anywhere_under_the_image_folder(dataset_root):
    for folder, name in (
        ("images_001", "00000001_000.png"),
        ("images_002/deeper", "00000001_001.png"),
    ):
        (dataset_root / folder).mkdir(parents=True)
        (dataset_root / folder / name).write_bytes(b"png")
    summary = import_dataset(
        name="NIH", fmt="chestxray14", labels=FIXTURES / "nih_first300.csv", images=dataset_root
    )
    assert summary.images == 300
    assert summary.not_found == 298
    assert Image.objects.get(key="00000001_001.png").path == "images_002/deeper/00000001_001.png"
    assert Image.objects.get(key="00000001_000.png").file_found
    assert Dataset.objects.get().root == str(dataset_root)


def test_reimporting_the_same_file_changes_nothing(dataset_root):
    labels = FIXTURES / "nih_first300.csv"
    import_dataset(name="NIH", fmt="chestxray14", labels=labels)
    before = list(Image.objects.order_by("id").values())
    pairs = list(ImageLabel.objects.order_by("id").values())
    summary = import_dataset(name="NIH", fmt="chestxray14", labels=labels)
    assert summary.new_images == 0
    assert list(Image.objects.order_by("id").values()) == before
    assert list(ImageLabel.objects.order_by("id").values()) == pairs


def test_a_reimport_registers_files_that_have_appeared_since(dataset_root):
    labels = FIXTURES / "nih_first300.csv"
    import_dataset(name="NIH", fmt="chestxray14", labels=labels, images=dataset_root)
    (dataset_root / "images_001").mkdir()
    (dataset_root / "images_001" / "00000001_000.png").write_bytes(b"png")
    summary = import_dataset(name="NIH", fmt="chestxray14", labels=labels, images=dataset_root)
    assert summary.not_found == 299
    assert Image.objects.get(key="00000001_000.png").path == "images_001/00000001_000.png"
    assert Image.objects.count() == 300


def test_gzipped_bom_and_crlf_files_read_like_the_plain_one(tmp_path):
    text = (FIXTURES / "nih_first300.csv").read_text()
    variant = tmp_path / "variant.csv.gz"
    with gzip.open(variant, "wb") as handle:
        handle.write(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    import_dataset(name="plain", fmt="chestxray14", labels=FIXTURES / "nih_first300.csv")
    import_dataset(name="variant", fmt="chestxray14", labels=variant)
    fields = ("key", "patient_id", "study", "age", "sex", "view_position", "width", "height")
    plain = list(Image.objects.filter(dataset__name="plain").order_by("key").values_list(*fields))
    other = list(Image.objects.filter(dataset__name="variant").order_by("key").values_list(*fields))
    assert plain == other and len(plain) == 300


def test_the_original_2017_file_with_a_trailing_comma_and_aged_in_years(tmp_path):
    labels = tmp_path / "Data_Entry_2017.csv"
    labels.write_text(
        "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,"
        "OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y],\n"
        "00000001_000.png,Cardiomegaly,0,1,058Y,M,PA,2682,2749,0.143,0.143,\n"
    )
    import_dataset(name="2017", fmt="chestxray14", labels=labels)
    assert Image.objects.get().age == 58


def test_the_command_prints_the_summary(capsys, tmp_path):
    call_command("import_dataset", "--name", "NIH", "--format", "chestxray14",
                 "--labels", str(FIXTURES / "nih_first300.csv"), "--no-progress")  # fmt: skip
    out = capsys.readouterr().out
    assert "images:   300 (300 new)" in out
    assert f"patients: {Image.objects.values('patient_id').distinct().count()}\n" in out
    assert "images whose file was not found: 300" in out
    assert Label.objects.get(name="Infiltration").aliases == ["Infiltrate"]


def test_merged_labels_hold_the_images_of_any_member():
    import_dataset(name="NIH", fmt="chestxray14", labels=FIXTURES / "nih_first300.csv")
    call_command("merge_labels", "--dataset", "nih", "--name", "Opacity",
                 "--members", "Atelectasis,Consolidation,Infiltrate,Pneumonia")  # fmt: skip
    opacity = Label.objects.get(name="Opacity")
    assert opacity.kind == Label.Kind.MERGED
    expected = set(
        ImageLabel.objects.filter(
            label__name__in=["Atelectasis", "Consolidation", "Infiltration", "Pneumonia"]
        ).values_list("image__key", flat=True)
    )
    assert expected and set(opacity.images().values_list("key", flat=True)) == expected


def test_merging_an_unknown_label_names_it():
    import_dataset(name="NIH", fmt="chestxray14", labels=FIXTURES / "nih_first300.csv")
    with pytest.raises(Exception, match="Opacityy"):
        call_command(
            "merge_labels", "--dataset", "nih", "--name", "X", "--members", "Mass,Opacityy"
        )


def test_the_patient_count_of_the_slice_is_exact():
    summary = import_dataset(name="NIH", fmt="chestxray14", labels=FIXTURES / "nih_first300.csv")
    rows = (FIXTURES / "nih_first300.csv").read_text().splitlines()[1:]
    assert summary.patients == len({row.split(",")[3] for row in rows})


def test_only_a_large_first_load_on_postgresql_suspends_the_foreign_keys():
    def suspended(rows, fresh):
        with transaction.atomic(), bulk.foreign_keys_suspended(rows, fresh=fresh) as done:
            return done

    assert not suspended(bulk.SUSPEND_FOREIGN_KEYS_FROM - 1, fresh=True)
    assert not suspended(10**6, fresh=False)  # a re-import: the tables hold the rows already
    assert suspended(10**6, fresh=True) == (connection.vendor == "postgresql")
    # The keys are back (and checked) after the block.
    with pytest.raises(IntegrityError), transaction.atomic():
        Image.objects.create(dataset_id=10**9, key="x.png", path="x.png")
        connection.check_constraints()


def test_a_fresh_import_never_reuses_the_ids_of_deleted_images():
    labels = FIXTURES / "nih_first300.csv"
    first = import_dataset(name="NIH", fmt="chestxray14", labels=labels).dataset
    highest = Image.objects.order_by("-id").values_list("id", flat=True).first()
    first.delete()
    second = import_dataset(name="NIH again", fmt="chestxray14", labels=labels).dataset
    ids = list(Image.objects.filter(dataset=second).values_list("id", flat=True))
    assert len(ids) == 300 and min(ids) > highest
    # Every pair points at an image of the new dataset.
    assert ImageLabel.objects.filter(image__dataset=second).count() == ImageLabel.objects.count()


def test_the_steps_after_reading_are_reported(dataset_root):
    steps, read = [], []
    import_dataset(name="NIH", fmt="chestxray14", labels=FIXTURES / "nih_first300.csv",
                   images=dataset_root, progress=read.append, stage=steps.append)  # fmt: skip
    pairs = ImageLabel.objects.count()
    assert steps == [
        f"looking for the image files under {dataset_root}",
        f"writing 300 images and {pairs} image labels",
        "counting",
    ]
    assert read[-1] == (FIXTURES / "nih_first300.csv").stat().st_size

"""The full NIH ChestX-ray14 label file (112,120 rows), imported once for this module.

Expected figures are the published facts of the 2020 file (../shared/data/README.md) or are
recomputed here from the CSV with the csv module, independent of the importer.
"""

import csv
import gzip
from collections import Counter

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import Count

from datasets.models import Image, ImageLabel
from datasets.services import merge_labels, summarise
from tests.conftest import NIH_LABELS

pytestmark = pytest.mark.django_db

NIH_COUNTS = {
    "No Finding": 60361, "Infiltration": 19894, "Effusion": 13317, "Atelectasis": 11559,
    "Nodule": 6331, "Mass": 5782, "Pneumothorax": 5302, "Consolidation": 4667,
    "Pleural_Thickening": 3385, "Cardiomegaly": 2776, "Emphysema": 2516, "Edema": 2303,
    "Fibrosis": 1686, "Pneumonia": 1431, "Hernia": 227,
}  # fmt: skip
OPACITY = ["Atelectasis", "Consolidation", "Infiltration", "Pneumonia"]


def _rows():
    with gzip.open(NIH_LABELS, "rt", newline="") as handle:
        yield from csv.DictReader(handle)


def test_the_full_nih_file_gives_the_published_counts(nih_full):
    assert nih_full.images == 112_120
    assert nih_full.new_images == 112_120
    assert nih_full.patients == 30_805
    assert nih_full.label_counts == NIH_COUNTS
    assert nih_full.not_found == 112_120  # labels only: no image folder given
    images = Image.objects.filter(dataset=nih_full.dataset)
    assert dict(images.values_list("view_position").annotate(n=Count("id"))) == {
        "PA": 67_310,
        "AP": 44_810,
    }
    pairs = ImageLabel.objects.filter(image__dataset=nih_full.dataset)
    assert pairs.count() == sum(NIH_COUNTS.values())


def test_every_field_of_every_row_is_stored_as_in_the_file(nih_full):
    stored = {}
    fields = ("key", "patient_id", "study", "age", "sex", "view_position", "width", "height",
              "pixel_spacing_x", "pixel_spacing_y")  # fmt: skip
    for row in Image.objects.filter(dataset=nih_full.dataset).values_list(*fields):
        stored[row[0]] = row[1:]
    labels: dict[str, set[str]] = {}
    for key, name in ImageLabel.objects.filter(image__dataset=nih_full.dataset).values_list(
        "image__key", "label__name"
    ):
        labels.setdefault(key, set()).add(name)
    count = 0
    for row in _rows():
        key = row["Image Index"]
        expected = (
            row["Patient ID"], row["Follow-up #"], int(row["Patient Age"]),
            row["Patient Gender"], row["View Position"], int(row["OriginalImage[Width"]),
            int(row["Height]"]), float(row["OriginalImagePixelSpacing[x"]), float(row["y]"]),
        )  # fmt: skip
        assert stored[key] == expected, key
        assert labels[key] == set(row["Finding Labels"].split("|")), key
        count += 1
    assert count == len(stored) == 112_120


def test_opacity_holds_every_image_with_any_of_its_four_members(nih_full):
    merge_labels(dataset=nih_full.dataset, name="Opacity", members=OPACITY)
    expected = {
        row["Image Index"]
        for row in _rows()
        if set(row["Finding Labels"].split("|")) & set(OPACITY)
    }
    opacity = nih_full.dataset.labels.get(name="Opacity")
    assert set(opacity.images().values_list("key", flat=True)) == expected
    assert summarise(nih_full.dataset).label_counts["Opacity"] == len(expected)
    # Fewer than the members' sum: many images carry two of the four.
    assert len(expected) < sum(NIH_COUNTS[name] for name in OPACITY)
    assert Counter(len(set(r["Finding Labels"].split("|")) & set(OPACITY)) for r in _rows())[2] > 0


def test_the_foreign_keys_hold_after_the_large_first_import(nih_full):
    # On PostgreSQL the import loads with its foreign keys dropped and adds them back.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE contype = 'f' "
                "AND conrelid IN ('datasets_image'::regclass, 'datasets_imagelabel'::regclass)"
            )
            definitions = sorted(row[0] for row in cursor.fetchall())
        assert [d.split(" REFERENCES ")[0] for d in definitions] == [
            "FOREIGN KEY (dataset_id)",
            "FOREIGN KEY (image_id)",
            "FOREIGN KEY (label_id)",
        ]
        assert all(d.endswith("DEFERRABLE INITIALLY DEFERRED") for d in definitions)
    label = nih_full.dataset.labels.get(name="Mass")
    with pytest.raises(IntegrityError), transaction.atomic():
        ImageLabel.objects.create(image_id=10**9, label=label)
        connection.check_constraints()

"""The sampling rules on the real NIH ChestX-ray14 label file (112,120 rows).

The expected samples are computed here from the CSV with the csv module and a plain re-statement
of the documented rule, independent of the importer, the database and annotation.sampling's
code; the database tests run on SQLite and on PostgreSQL and must give the same lists.
"""

import csv
import gzip
import random
from collections import Counter
from functools import cache

import pytest

from annotation.models import Audit
from annotation.sampling import Candidate, Rules, draw, reading_order
from annotation.services import build_sample_set, create_audit
from datasets.models import Label
from datasets.services import merge_labels
from tests.conftest import NIH_LABELS

NIH_FINDINGS = [
    "Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Effusion", "Emphysema", "Fibrosis",
    "Hernia", "Infiltration", "Mass", "No Finding", "Nodule", "Pleural_Thickening", "Pneumonia",
    "Pneumothorax",
]  # fmt: skip
OPACITY = ["Atelectasis", "Consolidation", "Infiltration", "Pneumonia"]


@cache
def nih_rows() -> tuple[tuple[str, frozenset[str], str, str], ...]:
    """(key, labels, patient, view) of every row of the real file."""
    with gzip.open(NIH_LABELS, "rt", newline="") as handle:
        return tuple(
            (
                row["Image Index"],
                frozenset(row["Finding Labels"].split("|")),
                row["Patient ID"],
                row["View Position"],
            )
            for row in csv.DictReader(handle)
        )


def expected_keys(label, *, members=(), seed=7, n=126, per_patient=True, sole=False, view=""):
    """The documented rule, restated: sort by key, shuffle with Random(f"{seed}:{label}"),
    read from the end, take images in that order skipping a patient already taken, until n."""
    own = set(members) or {label}
    keys = sorted(
        key
        for key, labels, _, row_view in nih_rows()
        if labels & own and (not sole or labels <= own) and (not view or row_view == view)
    )
    patient_of = {key: patient for key, _, patient, _ in nih_rows()}
    random.Random(f"{seed}:{label}").shuffle(keys)
    keys.reverse()
    chosen, patients = [], set()
    for key in keys:
        if n is not None and len(chosen) == n:
            break
        if per_patient:
            if patient_of[key] in patients:
                continue
            patients.add(patient_of[key])
        chosen.append(key)
    return chosen


def candidates(label, members=()):
    own = set(members) or {label}
    return [
        Candidate(index, key, patient, view, labels)
        for index, (key, labels, patient, view) in enumerate(nih_rows())
        if labels & own
    ]


# -- the pure draw, on the real file ---------------------------------------------------------


@pytest.mark.parametrize("label", NIH_FINDINGS)
def test_a_label_gets_126_images_of_126_different_patients(label):
    patient_of = {key: patient for key, _, patient, _ in nih_rows()}
    sample = draw(candidates(label), label=label, rules=Rules())
    assert len(sample) == 126
    assert len({patient_of[c.key] for c in sample}) == 126
    assert all(label in c.labels for c in sample)


def test_every_image_of_every_patient_when_asked_for_all_without_patient_limit():
    sample = draw(
        candidates("Hernia"), label="Hernia", rules=Rules(per_label=None, one_per_patient=False)
    )
    assert len(sample) == 227  # the published count of Hernia images
    assert len({c.key for c in sample}) == 227


def test_all_with_the_patient_limit_gives_one_image_per_hernia_patient():
    hernia_patients = {patient for _, labels, patient, _ in nih_rows() if "Hernia" in labels}
    sample = draw(candidates("Hernia"), label="Hernia", rules=Rules(per_label=None))
    assert len(sample) == len(hernia_patients) < 227


def test_sole_label_only_draws_images_with_no_other_finding():
    sample = draw(candidates("Effusion"), label="Effusion", rules=Rules(sole_label_only=True))
    assert len(sample) == 126
    assert {c.labels for c in sample} == {frozenset({"Effusion"})}


def test_the_view_filter_keeps_only_that_view():
    sample = draw(candidates("Pneumothorax"), label="Pneumothorax", rules=Rules(view="AP"))
    assert len(sample) == 126 and {c.view for c in sample} == {"AP"}


def test_the_draw_does_not_depend_on_the_order_candidates_come_in():
    pool = candidates("Edema")
    shuffled = pool[:]
    random.Random(1).shuffle(shuffled)
    first = draw(pool, label="Edema", rules=Rules())
    assert [c.key for c in draw(shuffled, label="Edema", rules=Rules())] == [c.key for c in first]
    assert [c.key for c in first] == expected_keys("Edema")


def test_another_seed_draws_other_images():
    one = {c.key for c in draw(candidates("Mass"), label="Mass", rules=Rules(seed=7))}
    two = {c.key for c in draw(candidates("Mass"), label="Mass", rules=Rules(seed=8))}
    assert len(one & two) < 20  # 126 of 5,782 images: a few in common by chance at most


# -- the built sample set, in the database ---------------------------------------------------


@pytest.fixture
def nih(nih_full, db):
    """The full file, imported once for this module (tests/conftest.py); Opacity per test."""
    dataset = nih_full.dataset
    merge_labels(dataset=dataset, name="Opacity", members=OPACITY)
    return dataset


def _build(dataset, **options):
    audit = create_audit(dataset=dataset, name="NIH audit", build=False, **options)
    build_sample_set(audit=audit)
    audit.refresh_from_db()
    return audit


def _keys(audit, label_name):
    return list(
        audit.samples.filter(label__name=label_name)
        .order_by("position")
        .values_list("image__key", flat=True)
    )


def test_the_built_set_holds_the_documented_images_in_order_on_this_database(nih):
    audit = _build(nih)
    assert audit.status == Audit.Status.READY
    assert audit.build_done == audit.build_total == 16
    for label in NIH_FINDINGS:
        assert _keys(audit, label) == expected_keys(label), label
    assert _keys(audit, "Opacity") == expected_keys("Opacity", members=OPACITY)
    positions = audit.samples.values_list("label_id", "position")
    assert Counter(label for label, _ in positions) == Counter(
        {label.pk: 126 for label in audit.labels.all()}
    )


def test_two_builds_with_the_same_seed_and_rules_draw_the_same_images(nih):
    labels = list(Label.objects.filter(dataset=nih, name__in=["Hernia", "Opacity", "No Finding"]))
    one = _build(nih, labels=labels, sole_label_only=True, view_filter="PA")
    two = _build(nih, labels=labels, sole_label_only=True, view_filter="PA")
    for name in ("Hernia", "Opacity", "No Finding"):
        assert _keys(one, name) == _keys(two, name)
    assert _keys(one, "Hernia") == expected_keys("Hernia", sole=True, view="PA")
    assert _keys(one, "Opacity") == expected_keys("Opacity", members=OPACITY, sole=True, view="PA")


# -- the lazy walk ------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 2, 3, 17, 226, 5000])
@pytest.mark.parametrize("seed", [0, 7, -3])
def test_the_lazy_reading_order_is_pythons_shuffle_read_from_the_end(n, seed):
    items = list(range(n))
    random.Random(f"{seed}:Edema").shuffle(items)
    assert list(reading_order(n, seed=seed, label="Edema")) == items[::-1]


def test_a_larger_sample_extends_the_smaller_one():
    pool = candidates("Pneumothorax")
    small = draw(pool, label="Pneumothorax", rules=Rules(per_label=18))
    large = draw(pool, label="Pneumothorax", rules=Rules(per_label=126))
    assert [c.key for c in large[:18]] == [c.key for c in small]

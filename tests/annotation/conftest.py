"""Audits on the first 300 real NIH rows, with placeholder pictures so thumbnails render."""

import csv
import shutil
import time

import pytest

from annotation.models import Audit
from annotation.services import build_sample_set, create_audit
from datasets import demo
from datasets.models import Label
from datasets.services import import_dataset
from tests.conftest import FIXTURES

FIRST300 = FIXTURES / "nih_first300.csv"


@pytest.fixture(scope="session")
def placeholder_pictures(tmp_path_factory):
    """Drawn once per run (about 4 s), copied into each test's dataset root."""
    folder = tmp_path_factory.mktemp("pictures")
    with open(FIRST300, newline="") as handle:
        keys = [row["Image Index"] for row in csv.DictReader(handle)]
    demo.write_placeholders(folder, keys)
    return folder


@pytest.fixture
def small_dataset(dataset_root, placeholder_pictures):
    shutil.copytree(placeholder_pictures, dataset_root, dirs_exist_ok=True)
    return import_dataset(
        name="NIH first 300", fmt="chestxray14", labels=FIRST300, images=dataset_root
    ).dataset


def make_audit(dataset, readers, *, labels=("Infiltration", "No Finding"), **options):
    options.setdefault("per_label", 36)
    options.setdefault("one_per_patient", False)
    audit = create_audit(
        dataset=dataset,
        name=options.pop("name", "Audit"),
        labels=list(Label.objects.filter(dataset=dataset, name__in=labels)),
        readers=readers,
        build=False,
        **options,
    )
    build_sample_set(audit=audit)
    return audit


@pytest.fixture
def audit(small_dataset, reader, other_reader):
    """Blinded; alice and bob read it; Infiltration and No Finding, 36 tiles (2 grids) each."""
    return make_audit(small_dataset, [reader, other_reader])


@pytest.fixture
def open_audit(small_dataset, reader, other_reader):
    """Not blinded: readers see one another's verdicts counted on the tiles."""
    return make_audit(small_dataset, [reader, other_reader], blinded=False, name="Open audit")


def wait_until_built(audit, seconds=60):
    """The audit once its sample set is built or failed (a real worker may still be at it)."""
    deadline = time.monotonic() + seconds
    audit.refresh_from_db()
    while audit.status in (Audit.Status.DRAFT, Audit.Status.BUILDING):
        assert time.monotonic() < deadline, f"{audit} still {audit.status} after {seconds} s"
        time.sleep(0.1)
        audit.refresh_from_db()
    return audit


def first_grid(audit):
    """(label, samples of its first grid) of the audit's first label by name."""
    label = audit.labels.order_by("name").first()
    return label, list(audit.samples.filter(label=label, position__lt=audit.grid_size))


@pytest.fixture
def maintainer(django_user_model, password, small_dataset):
    user = django_user_model.objects.create_user("maria", password=password)
    small_dataset.maintainers.add(user)
    return user

"""The demo that `make run` seeds: real NIH rows, placeholder pictures, an admin and two readers."""

import csv
import gzip
import shutil
from collections import Counter

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from annotation.models import Audit
from datasets import demo
from datasets.management.commands.seed_demo import DEMO_NAME, PASSWORD
from datasets.models import Dataset, Image
from tests.annotation.conftest import FIRST300, placeholder_pictures  # noqa: F401
from tests.conftest import NIH_LABELS

pytestmark = pytest.mark.django_db


def test_the_shipped_slice_is_real_nih_rows_with_every_label_well_represented():
    with gzip.open(NIH_LABELS, "rt", newline="") as handle:
        real = {tuple(row) for row in csv.reader(handle)}
    with gzip.open(demo.SLICE, "rt", newline="") as handle:
        rows = list(csv.reader(handle))
    header, body = rows[0], rows[1:]
    assert tuple(header) in real  # the same odd header
    assert len(body) == 2_848 and all(tuple(row) in real for row in body)
    counts = Counter(name for row in body for name in row[1].split("|"))
    assert len(counts) == 15 and min(counts.values()) >= 227


@pytest.fixture
def small_slice(tmp_path, monkeypatch, settings, dataset_root, placeholder_pictures):  # noqa: F811
    """The demo seeded from the first 300 real rows (drawing 2,848 pictures takes a minute),
    with DEBUG on as under `make run` (the test runner turns it off)."""
    settings.DEBUG = True
    sliced = tmp_path / "slice.csv.gz"
    sliced.write_bytes(gzip.compress(FIRST300.read_bytes()))
    monkeypatch.setattr(demo, "SLICE", sliced)
    shutil.copytree(placeholder_pictures, dataset_root / "nih-demo")
    return dataset_root / "nih-demo"


def test_seeding_creates_the_demo_and_prints_the_logins(small_slice, capsys):
    call_command("seed_demo", "--url", "http://127.0.0.1:8130/")
    out = capsys.readouterr().out
    dataset = Dataset.objects.get(name=DEMO_NAME)
    assert dataset.images.count() == 300 and not dataset.images.filter(file_found=False).exists()
    assert dataset.labels.get(name="Opacity").kind == "merged"
    assert "Log in at http://127.0.0.1:8130/ as:" in out
    for username in ("admin", "reader1", "reader2"):
        assert f"{username:<8} password {PASSWORD}" in out
        assert get_user_model().objects.get(username=username).check_password(PASSWORD)
    assert get_user_model().objects.get(username="admin").is_superuser
    audit = Audit.objects.get(dataset=dataset)
    assert audit.status == Audit.Status.READY and audit.samples.exists()
    readers = audit.memberships.filter(role="reader").values_list("user__username", flat=True)
    assert set(readers) == {"reader1", "reader2"}


def test_seeding_twice_changes_nothing(small_slice):
    call_command("seed_demo")
    images = list(Image.objects.order_by("id").values_list("id", "key", "path"))
    samples = list(Audit.objects.get().samples.order_by("id").values_list("id", "image_id"))
    call_command("seed_demo")
    assert list(Image.objects.order_by("id").values_list("id", "key", "path")) == images
    assert list(Audit.objects.get().samples.order_by("id").values_list("id", "image_id")) == samples
    assert get_user_model().objects.count() == 3


def test_seeding_refuses_without_debug(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG"):
        call_command("seed_demo")

"""Two imports at once (real threads, each with its own connection) both land, whole."""

import threading

import pytest
from django.db import connection, connections

from datasets import bulk
from datasets.models import Image, ImageLabel
from datasets.services import import_dataset
from tests.conftest import FIXTURES


@pytest.mark.django_db(transaction=True)
def test_two_large_first_imports_at_once_take_turns_and_both_land(monkeypatch):
    # Make 300 rows "large", so both take the foreign-key suspension path on PostgreSQL.
    monkeypatch.setattr(bulk, "SUSPEND_FOREIGN_KEYS_FROM", 100)
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def run(name: str) -> None:
        try:
            start.wait()
            import_dataset(name=name, fmt="chestxray14", labels=FIXTURES / "nih_first300.csv")
        except BaseException as error:  # noqa: BLE001 - reported by the test's thread
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(name,)) for name in ("one", "two")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    for name in ("one", "two"):
        assert Image.objects.filter(dataset__name=name).count() == 300
    assert len(set(Image.objects.values_list("id", flat=True))) == 600
    pairs = ImageLabel.objects.values_list("image__dataset__name", "label__dataset__name")
    assert len(pairs) > 600 and all(image == label for image, label in pairs)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND conrelid IN "
                "('datasets_image'::regclass, 'datasets_imagelabel'::regclass)"
            )
            assert cursor.fetchone()[0] == 3

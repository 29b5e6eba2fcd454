"""The Django admin of the datasets: images found by path and by patient, filtered by label."""

import pytest
from django.urls import reverse

from datasets.models import Image
from datasets.services import import_dataset
from tests.conftest import FIXTURES

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, admin_user):
    client.force_login(admin_user)
    import_dataset(name="NIH", fmt="chestxray14", labels=FIXTURES / "nih_first300.csv")
    return client


def _keys(response) -> set[str]:
    return {image.key for image in response.context["cl"].result_list}


def test_images_are_found_by_path(staff_client):
    url = reverse("admin:datasets_image_changelist")
    response = staff_client.get(url, {"q": "00000001_00"})
    assert response.status_code == 200
    assert _keys(response) == {"00000001_000.png", "00000001_001.png", "00000001_002.png"}


def test_images_are_found_by_exact_patient(staff_client):
    # NIH keys contain the patient number; an id found nowhere else proves the patient search.
    Image.objects.filter(key__in=["00000013_000.png", "00000013_001.png"]).update(patient_id="PX77")
    response = staff_client.get(reverse("admin:datasets_image_changelist"), {"q": "PX77"})
    assert _keys(response) == {"00000013_000.png", "00000013_001.png"}
    # Exact: a part of the id finds nothing.
    response = staff_client.get(reverse("admin:datasets_image_changelist"), {"q": "PX7"})
    assert _keys(response) == set()


def test_images_are_filtered_by_label(staff_client):
    response = staff_client.get(
        reverse("admin:datasets_image_changelist"), {"labels__label__name": "Hernia"}
    )
    expected = set(Image.objects.filter(labels__label__name="Hernia").values_list("key", flat=True))
    assert expected and _keys(response) == expected


def test_an_image_page_shows_its_labels(staff_client):
    image = Image.objects.get(key="00000001_001.png")
    response = staff_client.get(reverse("admin:datasets_image_change", args=[image.pk]))
    assert response.status_code == 200
    assert b"Cardiomegaly" in response.content and b"Emphysema" in response.content

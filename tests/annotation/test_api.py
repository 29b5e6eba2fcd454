"""The REST API: the same selectors and mark service as the pages, by session or token."""

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotation.models import Mark, MarkChange
from annotation.services import mark_set
from tests.annotation.conftest import first_grid

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(reader):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=reader).key}")
    return client


def test_a_reader_lists_their_audits_with_their_own_progress(api, audit, reader, other_reader):
    _, samples = first_grid(audit)
    mark_set(sample=samples[0], reader=reader, idempotency_key="a", verdict="green")
    mark_set(sample=samples[1], reader=other_reader, idempotency_key="b", verdict="red")
    page = api.get("/api/audits/").json()
    assert page["count"] == 1
    body = page["results"]
    assert [item["id"] for item in body] == [audit.pk]
    assert (body[0]["marked"], body[0]["samples"], body[0]["is_reader"]) == (1, 72, True)
    assert {label["name"]: label["grids"] for label in body[0]["labels"]} == {
        "Infiltration": 2,
        "No Finding": 2,
    }


def test_a_grid_holds_the_readers_own_marks_only(api, audit, reader, other_reader):
    label, samples = first_grid(audit)
    mark_set(sample=samples[0], reader=other_reader, idempotency_key="b", verdict="red")
    mark_set(sample=samples[1], reader=reader, idempotency_key="a", verdict="orange", note="n")
    body = api.get(f"/api/audits/{audit.pk}/labels/{label.pk}/grids/1/").json()
    assert (body["grid"], body["grids"], body["can_mark"]) == (1, 2, True)
    assert [tile["sample"] for tile in body["tiles"]] == [s.pk for s in samples]
    assert [tile["verdict"] for tile in body["tiles"][:3]] == ["", "orange", ""]
    assert body["tiles"][1]["note"] == "n"
    assert len(body["tags"]) == 6 and body["tags"][0]["shortcut"] == "d"


def test_put_a_mark_is_idempotent_per_key(api, audit, reader):
    _, samples = first_grid(audit)
    drain = audit.tags.get(name="chest drain").pk
    url = f"/api/samples/{samples[0].pk}/mark/"
    change = {"idempotency_key": "k1", "verdict": "red", "tags": [drain]}
    first = api.put(url, change, format="json")
    again = api.put(url, change, format="json")
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert (first.json()["verdict"], first.json()["tags"]) == ("red", [drain])
    assert MarkChange.objects.count() == 1
    assert api.get(url).json()["verdict"] == "red"


def test_put_without_a_key_or_with_a_bad_verdict_is_400_and_writes_nothing(api, audit):
    _, samples = first_grid(audit)
    url = f"/api/samples/{samples[0].pk}/mark/"
    assert api.put(url, {"verdict": "red"}, format="json").status_code == 400
    response = api.put(url, {"idempotency_key": "k", "verdict": "blue"}, format="json")
    assert response.status_code == 400 and "verdict" in response.json()
    assert not Mark.objects.exists()


def test_session_auth_works_too_and_strangers_get_404(client, audit, reader, outsider):
    label, samples = first_grid(audit)
    client.force_login(reader)
    assert client.get(f"/api/audits/{audit.pk}/").json()["id"] == audit.pk
    stranger = APIClient()
    stranger.force_authenticate(outsider)
    assert stranger.get(f"/api/audits/{audit.pk}/").status_code == 404
    assert stranger.get(f"/api/samples/{samples[0].pk}/mark/").status_code == 404
    assert stranger.get(f"/api/audits/{audit.pk}/labels/{label.pk}/grids/1/").status_code == 404
    assert stranger.get("/api/audits/").json()["results"] == []
    assert APIClient().get("/api/audits/").status_code in (401, 403)

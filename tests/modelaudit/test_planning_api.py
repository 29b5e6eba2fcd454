"""Sample-size planning in the API, checked against statsmodels' Wilson interval."""

import pytest
from statsmodels.stats.proportion import proportion_confint


@pytest.fixture
def api(client, reader, password):
    client.force_login(reader)
    return client


def _half_width(k, n):
    low, high = proportion_confint(k, n, method="wilson")
    return (high - low) / 2


def test_images_needed_for_a_target_half_width(api):
    body = api.get("/api/sample-size/", {"accuracy": 0.8, "half_width": 0.05}).json()
    n = body["images_per_label"]
    # Wilson half-width at the expected accuracy p = k/n: met at n, missed at n - 1.
    assert _half_width(0.8 * n, n) <= 0.05 < _half_width(0.8 * (n - 1), n - 1)
    assert body["method"].startswith("Wilson")


def test_half_width_a_count_achieves(api):
    body = api.get("/api/sample-size/", {"accuracy": 0.5, "n": 126}).json()
    assert body["half_width"] == pytest.approx(_half_width(63, 126), abs=1e-12)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"accuracy": "high", "n": 10}, "accuracy must be a number"),
        ({"accuracy": 1.5, "n": 10}, "accuracy must be between 0 and 1"),
        ({"n": 0}, "n must be between 1"),
        ({"n": "1.5"}, "n must be a whole number"),
        ({"half_width": 0.7}, "half_width must be between"),
        ({}, "give half_width"),
    ],
)
def test_bad_queries_are_refused_naming_the_parameter(api, query, message):
    response = api.get("/api/sample-size/", query)
    assert response.status_code == 400 and message in response.json()["detail"]


def test_anonymous_users_are_refused(client):
    assert client.get("/api/sample-size/", {"n": 10}).status_code in (401, 403)

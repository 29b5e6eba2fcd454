"""/healthz, `manage.py status` and the request-id logs."""

import json
import logging

import pytest
from django.core.management import call_command

from annotation.outbox import OutboxTask
from config.logging_json import JsonFormatter, RequestIdFilter
from tests.ops.conftest import DEAD_BROKER

pytestmark = pytest.mark.django_db


def test_healthz_reports_each_check_as_json_without_secrets(client, settings):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    assert set(body["checks"]) == {"database", "broker", "workers", "disk"}
    assert response["Cache-Control"].startswith("max-age=0")
    text = response.content.decode()
    for secret in (str(settings.DATABASES["default"]["NAME"]), settings.SECRET_KEY):
        assert secret not in text


def test_healthz_is_503_naming_the_broker_when_redis_is_down(client, broker_at, settings):
    broker_at(DEAD_BROKER)
    response = client.get("/healthz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["broker"] == {"ok": False, "detail": "unreachable", "ms": checks["broker"]["ms"]}
    assert checks["database"]["ok"] is True
    assert "8179" not in response.content.decode()  # no address leaks to an anonymous caller
    # The web container's own liveness probe asks only what restarting it could fix.
    assert client.get("/healthz?check=database&check=disk").status_code == 200


def test_healthz_refuses_an_unknown_check_by_name(client):
    response = client.get("/healthz?check=databse")
    assert response.status_code == 400
    assert "databse" in response.json()["error"]


def test_workers_are_unhealthy_without_a_recent_heartbeat(client, broker_at, private_redis):
    private_redis.start()
    broker_at(private_redis.url)
    from config import health

    checks = client.get("/healthz").json()["checks"]
    assert checks["workers"]["ok"] is False
    assert "default, imaging, statistics" in checks["workers"]["detail"]
    for queue in ("default", "imaging", "statistics"):
        health.heartbeat(queue=queue)  # what a worker of each queue does when beat asks
    assert client.get("/healthz").json()["checks"]["workers"]["ok"] is True


def test_every_response_carries_a_request_id_that_is_in_its_log_line(client, caplog):
    with caplog.at_level(logging.INFO, logger="label_audit.request"):
        response = client.get("/healthz", HTTP_X_REQUEST_ID="edge-1234abcd")
        other = client.get("/healthz", HTTP_X_REQUEST_ID="bad id; drop table")
    assert response["X-Request-ID"] == "edge-1234abcd"
    assert len(other["X-Request-ID"]) == 32  # an unsafe id from outside is replaced
    record = next(r for r in caplog.records if getattr(r, "path", "") == "/healthz")
    RequestIdFilter().filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert line["status"] == 200 and line["method"] == "GET"
    assert line["message"] == "GET /healthz 200"


def test_status_prints_outbox_builds_and_checks(capsys, audit):
    OutboxTask.objects.create(task_name="reports.tasks.aggregate_audit", key="aggregate:1")
    call_command("status", "--json")
    report = json.loads(capsys.readouterr().out)
    assert report["outbox"]["pending"] == 1
    assert report["checks"]["ok"] is True
    assert report["builds"] == []  # the audit fixture's set is built
    call_command("status")
    text = capsys.readouterr().out
    assert "pending 1, being sent 0" in text
    assert "ok  database" in text


def test_status_exits_non_zero_when_the_broker_is_down(broker_at):
    broker_at(DEAD_BROKER)
    with pytest.raises(SystemExit) as stop:
        call_command("status")
    assert stop.value.code == 1


def test_a_database_outage_is_a_503_to_retry_not_a_server_error(
    client, monkeypatch, reader, password
):
    from django import db

    from annotation import api

    client.force_login(reader)

    def down(*args, **kwargs):
        raise db.OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(api, "visible_audits", down)
    response = client.get("/api/audits/")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert "nothing was saved" in response.json()["detail"]

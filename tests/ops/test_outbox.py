"""The transactional outbox: follow-up work is recorded with the write, sent after the commit,
deduplicated while pending, and re-sent by the sweeper once the broker is back."""

import json
from contextlib import contextmanager

import pytest
from celery import shared_task
from django.db import transaction

from annotation import outbox
from annotation.outbox import OutboxTask, enqueue_after_commit
from annotation.services import mark_set
from tests.annotation.conftest import first_grid
from tests.ops.conftest import DEAD_BROKER

RAN: list[dict] = []


@shared_task(name="tests.ops.record")
def record(**kwargs):
    RAN.append(kwargs)


@pytest.fixture(autouse=True)
def _clear():
    RAN.clear()


pytestmark = pytest.mark.django_db


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    """`with commit():` is a transaction whose on-commit callbacks run at its end, as they
    would outside the test's own wrapping transaction."""

    @contextmanager
    def block():
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            yield

    return block


def test_work_enqueued_in_a_transaction_runs_once_after_the_commit(commit):
    with commit():
        enqueue_after_commit("tests.ops.record", {"audit_id": 1}, key="k1")
        assert RAN == []  # not before the commit
    assert RAN == [{"audit_id": 1}]
    row = OutboxTask.objects.get()
    assert (row.status, row.attempts) == ("sent", 1)
    assert row.sent_at is not None


def test_a_rolled_back_write_leaves_no_work_behind(commit):
    with pytest.raises(RuntimeError), transaction.atomic():
        enqueue_after_commit("tests.ops.record", {"audit_id": 1}, key="k1")
        raise RuntimeError("the mark failed")
    assert RAN == []
    assert not OutboxTask.objects.exists()


def test_a_key_pending_twice_is_one_piece_of_work(commit):
    with commit():
        first = enqueue_after_commit("tests.ops.record", {"audit_id": 1}, key="audit:1")
        second = enqueue_after_commit("tests.ops.record", {"audit_id": 1}, key="audit:1")
        other = enqueue_after_commit("tests.ops.record", {"audit_id": 2}, key="audit:2")
    assert first is not None and second is None and other is not None
    assert sorted(item["audit_id"] for item in RAN) == [1, 2]
    # Once sent, the key may be queued again: later marks need a later run.
    with commit():
        enqueue_after_commit("tests.ops.record", {"audit_id": 1}, key="audit:1")
    assert [item["audit_id"] for item in RAN] == [1, 2, 1]


def test_a_row_claimed_by_one_sender_is_not_sent_by_another(commit):
    with commit():
        row = enqueue_after_commit("tests.ops.record", {"n": 1}, key="once")
        OutboxTask.objects.filter(pk=row.pk).update(status="sending")  # a sender is on it
    assert RAN == []
    assert outbox.relay(row.pk) is False
    assert outbox.sweep()["sent"] == 0


def test_an_unknown_task_in_the_embedded_mode_is_kept_with_its_error(commit):
    with commit():
        enqueue_after_commit("nobody.knows.this", {}, key="x")
    row = OutboxTask.objects.get()
    assert row.status == "pending"
    assert "no task named 'nobody.knows.this'" in row.last_error


def test_marking_works_with_the_broker_down_and_the_work_is_sent_once_it_is_back(
    audit, reader, broker_at, private_redis, commit
):
    """The hook of the reading room: every mark commit queues the audit's aggregation."""
    broker_at(DEAD_BROKER)
    _, samples = first_grid(audit)
    for index, sample in enumerate(samples[:5]):
        with commit():
            mark_set(sample=sample, reader=reader, idempotency_key=f"m{index}", verdict="red")
            enqueue_after_commit(
                "reports.tasks.aggregate_audit", {"audit_id": audit.pk}, key=f"aggregate:{audit.pk}"
            )
    # Every mark is in the database; one aggregation is owed, not five.
    assert audit.samples.filter(marks__reader=reader, marks__verdict="red").count() == 5
    row = OutboxTask.objects.get()
    assert row.status == "pending" and row.attempts >= 1
    assert "Error" in row.last_error

    assert outbox.sweep(limit=10) == {"sent": 0, "failed": 1, "pruned": 0}  # still down

    private_redis.start()
    broker_at(private_redis.url)
    assert outbox.sweep(limit=10)["sent"] == 1
    assert outbox.sweep(limit=10)["sent"] == 0  # nothing sent twice
    client = private_redis.client()
    messages = client.lrange("statistics", 0, -1)  # routed: reports.tasks.* -> statistics
    assert len(messages) == 1
    message = json.loads(messages[0])
    assert message["headers"]["task"] == "reports.tasks.aggregate_audit"
    assert f"'audit_id': {audit.pk}" in message["headers"]["kwargsrepr"]
    assert OutboxTask.objects.get().status == "sent"

"""request_aggregation: many marks, one queued run; the broker being down never fails a mark;
the embedded mode only flags the audit and recomputes when a report is viewed."""

import pytest
from django.utils import timezone

from reports import aggregation, selectors, tasks
from reports.models import AggregationState, Snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture
def broker_mode(settings, monkeypatch):
    """As with a broker, the queued calls recorded instead of sent."""
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.REPORTS_DEBOUNCE_SECONDS = 15
    sent = []
    monkeypatch.setattr(
        tasks.aggregate_audit, "apply_async", lambda *args, **kwargs: sent.append((args, kwargs))
    )
    return sent


def test_many_requests_within_the_window_queue_one_delayed_run(
    audit, broker_mode, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(50):
            aggregation.request_aggregation(audit.pk)
    assert len(broker_mode) == 1
    args, kwargs = broker_mode[0]
    assert args == ((audit.pk,),) and kwargs["countdown"] == 15


def test_a_request_after_the_run_started_queues_the_next_run(
    audit, broker_mode, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        aggregation.request_aggregation(audit.pk)
    aggregation.run(audit.pk)  # what the worker does: releases the claim first
    with django_capture_on_commit_callbacks(execute=True):
        aggregation.request_aggregation(audit.pk)
        aggregation.request_aggregation(audit.pk)
    assert len(broker_mode) == 2


def test_nothing_is_queued_before_the_marking_transaction_commits(audit, broker_mode):
    aggregation.request_aggregation(audit.pk)  # inside the test's transaction, never committed
    assert broker_mode == []


def test_a_broker_that_is_down_fails_nothing_and_the_next_request_retries(
    audit, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.CELERY_TASK_ALWAYS_EAGER = False

    def down(*args, **kwargs):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(tasks.aggregate_audit, "apply_async", down)
    with django_capture_on_commit_callbacks(execute=True):
        aggregation.request_aggregation(audit.pk)
    state = AggregationState.objects.get(audit=audit)
    assert state.scheduled_for is None and state.requested_at is not None


def test_a_claim_left_by_a_lost_run_expires(audit, broker_mode, django_capture_on_commit_callbacks):
    AggregationState.objects.create(
        audit=audit, scheduled_for=timezone.now() - timezone.timedelta(hours=1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        aggregation.request_aggregation(audit.pk)
    assert len(broker_mode) == 1


def test_embedded_mode_flags_the_audit_and_the_next_view_recomputes(
    audit, reader, django_capture_on_commit_callbacks
):
    from annotation.models import Sample
    from annotation.services import mark_set

    first = aggregation.run(audit.pk)
    sample = Sample.objects.filter(audit=audit).first()
    with django_capture_on_commit_callbacks(execute=True):
        mark_set(sample=sample, reader=reader, idempotency_key="a", verdict="red")
        aggregation.request_aggregation(audit.pk)
    assert Snapshot.objects.count() == 1  # the mark itself computed nothing
    state = selectors.report_state(audit)
    assert state.snapshot.pk != first.pk and not state.stale
    assert state.snapshot.trigger == Snapshot.Trigger.VIEW
    assert state.snapshot.mark_count == 1


def test_the_task_is_idempotent(audit):
    # apply(): the task body in process, whatever the broker (test_worker.py covers the worker).
    first = tasks.aggregate_audit.apply((audit.pk,)).get()
    again = tasks.aggregate_audit.apply((audit.pk,)).get()
    assert first == again and Snapshot.objects.count() == 1


def test_the_task_of_a_deleted_audit_does_nothing(audit):
    audit_id = audit.pk
    audit.delete()
    assert tasks.aggregate_audit.apply((audit_id,)).get() is None


def test_a_committed_mark_requests_the_aggregation_of_its_audit(
    audit, reader, broker_mode, django_capture_on_commit_callbacks
):
    from annotation.services import mark_set

    sample = audit.samples.first()
    with django_capture_on_commit_callbacks(execute=True):
        mark_set(sample=sample, reader=reader, idempotency_key="wired", verdict="red")
    assert AggregationState.objects.get(audit=audit).requested_at is not None
    assert [args for args, _ in broker_mode] == [((audit.pk,),)]


def test_requests_made_while_the_broker_was_down_are_queued_by_the_sweep_once_it_is_back(
    audit, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    sent = []
    broker = {"up": False}

    def apply_async(*args, **kwargs):
        if not broker["up"]:
            raise ConnectionError("redis is down")
        sent.append(args)

    monkeypatch.setattr(tasks.aggregate_audit, "apply_async", apply_async)
    with django_capture_on_commit_callbacks(execute=True):
        aggregation.request_aggregation(audit.pk)
    assert tasks.refresh_stale_snapshots() == 0 and sent == []  # still down: nothing, no error

    broker["up"] = True
    assert tasks.refresh_stale_snapshots() == 1
    assert sent == [((audit.pk,),)]
    assert tasks.refresh_stale_snapshots() == 0  # queued once, not again while it waits

    aggregation.run(audit.pk)  # the worker ran it: nothing is left to re-queue
    AggregationState.objects.filter(audit=audit).update(scheduled_for=None)
    assert tasks.refresh_stale_snapshots() == 0

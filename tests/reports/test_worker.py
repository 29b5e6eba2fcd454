"""Aggregation through the task runner: eager by default, a real Celery worker on Redis when
CELERY_BROKER_URL is set (then the debounce and the delayed run are real)."""

import time

import pytest

from annotation.models import Sample
from annotation.services import mark_set
from reports import aggregation, selectors
from reports.models import Snapshot


def wait_for_snapshot(audit, marks: int, timeout: float = 60.0) -> Snapshot:
    """The snapshot computed from `marks` marks: in the embedded mode the report view computes
    it; with a broker the worker does, after the debounce window."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = selectors.report_state(audit)
        if state.snapshot is not None and state.snapshot.mark_count == marks:
            return state.snapshot
        time.sleep(0.3)
    raise AssertionError(f"no snapshot of {marks} marks within {timeout} s")


@pytest.mark.django_db(transaction=True)
def test_many_mark_requests_give_one_snapshot(task_runner, audit, reader, settings):
    settings.REPORTS_DEBOUNCE_SECONDS = 1
    samples = list(Sample.objects.filter(audit=audit)[:12])
    for sample in samples:
        mark_set(sample=sample, reader=reader, idempotency_key=f"w{sample.pk}", verdict="green")
    for _ in range(20):
        aggregation.request_aggregation(audit.pk)  # outside a transaction: at once
    snapshot = wait_for_snapshot(audit, marks=12)
    time.sleep(1.5)  # a second, unwanted run would have landed by now
    assert Snapshot.objects.filter(audit=audit).count() == 1
    assert snapshot.results["progress"]["marks"] == 12


@pytest.mark.django_db(transaction=True)
def test_the_recompute_button_path_reaches_a_snapshot(task_runner, audit, reader):
    sample = Sample.objects.filter(audit=audit).first()
    mark_set(sample=sample, reader=reader, idempotency_key="r1", verdict="red")
    aggregation.recompute_now(audit, user=reader)
    snapshot = wait_for_snapshot(audit, marks=1)
    assert snapshot.trigger == Snapshot.Trigger.MANUAL
    assert snapshot.requested_by == reader

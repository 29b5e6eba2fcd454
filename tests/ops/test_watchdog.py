"""The build watchdog: builds left "building" with no task behind them are queued again."""

import pytest

from annotation.models import Audit
from annotation.watchdog import _build_audit_ids, reset_stuck_builds
from tests.annotation.conftest import make_audit

pytestmark = pytest.mark.django_db


def _stuck(audit: Audit, done: int = 1) -> None:
    """What a worker killed mid-build (with its message lost) leaves behind."""
    audit.samples.all().delete()
    Audit.objects.filter(pk=audit.pk).update(status=Audit.Status.BUILDING, build_done=done)


@pytest.fixture
def two_stuck_and_one_running(small_dataset, reader, django_capture_on_commit_callbacks):
    stuck = [make_audit(small_dataset, [reader], name=f"stuck {n}") for n in (1, 2)]
    running = make_audit(small_dataset, [reader], name="running")
    for audit in [*stuck, running]:
        _stuck(audit)
    return stuck, running


def test_orphaned_builds_are_reset_and_rebuilt_on_the_second_sighting(
    two_stuck_and_one_running, django_capture_on_commit_callbacks
):
    stuck, running = two_stuck_and_one_running
    alive = {running.pk}

    reset, suspects = reset_stuck_builds(running=alive, suspects={})
    assert reset == []  # one sighting is not enough: a worker may have been slow to answer
    assert suspects == {stuck[0].pk: 1, stuck[1].pk: 1}

    with django_capture_on_commit_callbacks(execute=True):
        reset, suspects = reset_stuck_builds(running=alive, suspects=suspects)
    assert sorted(reset) == sorted(audit.pk for audit in stuck)
    assert suspects == {}
    for audit in stuck:  # queued again through the outbox, rebuilt (eagerly here), whole
        audit.refresh_from_db()
        assert audit.status == Audit.Status.READY
        assert audit.samples.count() == 72
    running.refresh_from_db()
    assert running.status == Audit.Status.BUILDING  # a live build is never touched


def test_a_build_that_progressed_between_checks_is_left_alone(two_stuck_and_one_running):
    stuck, _ = two_stuck_and_one_running
    _, suspects = reset_stuck_builds(running=set(), suspects={})
    Audit.objects.filter(pk=stuck[0].pk).update(build_done=2)  # it moved: someone is on it
    reset, suspects = reset_stuck_builds(running=set(), suspects=suspects)
    assert stuck[0].pk not in reset
    assert suspects[stuck[0].pk] == 2


def test_build_ids_are_read_from_the_workers_reports():
    reports = [
        [{"name": "annotation.tasks.build_sample_set", "args": [4], "kwargs": {}}],
        [
            {"name": "annotation.tasks.build_sample_set", "args": [], "kwargs": {"audit_id": 9}},
            {"name": "reports.tasks.aggregate_audit", "args": [5], "kwargs": {}},
        ],
    ]
    assert sorted(_build_audit_ids(reports)) == [4, 9]

"""Celery's fault settings: late acknowledgement, redelivery after a lost worker, prefetch 1,
a visibility timeout longer than any task, and retries on transient errors only."""

import pytest
from celery import shared_task
from django import db
from django.conf import settings

from config.celery import app
from config.tasks import BaseTask

CALLS: dict[str, int] = {}


@shared_task(name="tests.ops.flaky_database")
def flaky_database(fail_times: int) -> str:
    CALLS["db"] = CALLS.get("db", 0) + 1
    if CALLS["db"] <= fail_times:
        raise db.OperationalError("the database system is starting up")
    return "done"


@shared_task(name="tests.ops.bug")
def bug() -> None:
    CALLS["bug"] = CALLS.get("bug", 0) + 1
    raise ValueError("a bug is not retried")


@pytest.fixture(autouse=True)
def _calls():
    CALLS.clear()


@pytest.fixture
def like_a_worker():
    """Eager runs that retry as a worker would, instead of raising the first error."""
    saved = app.conf.task_eager_propagates
    app.conf.task_eager_propagates = False
    yield
    app.conf.task_eager_propagates = saved


def test_every_task_acks_late_and_is_given_back_when_its_worker_dies():
    app.loader.import_default_modules()
    ours = [
        task
        for name, task in app.tasks.items()
        if name.split(".")[0] in ("annotation", "datasets", "reports", "config")
    ]
    assert {task.name for task in ours} >= {
        "annotation.tasks.build_sample_set",
        "annotation.outbox.sweep_outbox",
        "annotation.watchdog.reset_stuck_builds",
        "config.health.heartbeat",
    }
    for task in ours:
        assert isinstance(task, BaseTask), task.name
        assert task.acks_late and task.reject_on_worker_lost, task.name


def test_one_message_at_a_time_and_a_visibility_timeout_longer_than_any_task():
    assert app.conf.worker_prefetch_multiplier == 1
    assert app.conf.task_acks_late and app.conf.task_reject_on_worker_lost
    assert 0 < app.conf.task_soft_time_limit < app.conf.task_time_limit
    visibility = app.conf.broker_transport_options["visibility_timeout"]
    assert visibility > app.conf.task_time_limit
    assert settings.DATABASES["default"]["CONN_HEALTH_CHECKS"] is True


def test_a_transient_database_error_is_retried_with_backoff(like_a_worker):
    assert flaky_database.apply(args=(2,)).get() == "done"
    assert CALLS["db"] == 3
    assert flaky_database.retry_backoff and flaky_database.retry_jitter


def test_a_transient_error_that_persists_gives_up_after_max_retries(like_a_worker):
    with pytest.raises(db.OperationalError):
        flaky_database.apply(args=(100,)).get()
    assert CALLS["db"] == BaseTask.max_retries + 1


def test_a_bug_fails_at_once_without_retries(like_a_worker):
    with pytest.raises(ValueError):
        bug.apply(throw=False).get()
    assert CALLS["bug"] == 1


def test_every_periodic_task_in_the_beat_schedule_is_registered():
    from config.celery import scheduled_but_missing

    assert scheduled_but_missing() == []

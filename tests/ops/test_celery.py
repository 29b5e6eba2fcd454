"""Celery's fault settings: late acknowledgement, redelivery after a lost worker, prefetch 1,
a visibility timeout longer than any task, and retries on transient errors only."""

import pytest
from celery import shared_task
from celery.exceptions import Retry
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


def run_like_a_worker(task, *args):
    """Run a task as a worker would, retries included: an eager apply() raises Retry instead of
    scheduling the next attempt, so run it again with the retry count, as the redelivered
    message would. Returns the result and the countdown of each retry."""
    retries, countdowns = 0, []
    while True:
        try:
            return task.apply(args=args, retries=retries, throw=True).get(), countdowns
        except Retry as retry:
            countdowns.append(retry.when)
            retries += 1


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


def test_a_transient_database_error_is_retried_with_backoff():
    result, countdowns = run_like_a_worker(flaky_database, 2)
    assert result == "done" and CALLS["db"] == 3
    # Exponential backoff with full jitter: attempt n waits between 0 and 2 * 2**n seconds.
    assert len(countdowns) == 2
    assert all(0 <= wait <= 2 * 2**n for n, wait in enumerate(countdowns)), countdowns


def test_a_transient_error_that_persists_gives_up_after_max_retries():
    with pytest.raises(db.OperationalError):
        run_like_a_worker(flaky_database, 100)
    assert CALLS["db"] == BaseTask.max_retries + 1


def test_a_bug_fails_at_once_without_retries():
    with pytest.raises(ValueError):
        run_like_a_worker(bug)
    assert CALLS["bug"] == 1


def test_every_periodic_task_in_the_beat_schedule_is_registered():
    from config.celery import scheduled_but_missing

    assert scheduled_but_missing() == []

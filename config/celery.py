"""The Celery app: queues, routes, the periodic schedule and the fault settings.

Settings from Django's CELERY_* (config/settings.py) come first; what is here is structure that
does not change between deployments.
"""

import logging
import os

from celery import Celery
from celery.beat import PersistentScheduler
from celery.schedules import crontab
from kombu import Queue

from config.logging_json import connect_celery_signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("label_audit", task_cls="config.tasks:BaseTask")
app.config_from_object("django.conf:settings", namespace="CELERY")

# Three queues, one worker pool each in production, so a 10,000-thumbnail warm-up never delays
# a report and neither delays the small housekeeping tasks.
QUEUES = ("default", "imaging", "statistics")
TASK_ROUTES = {
    "datasets.tasks.*": {"queue": "imaging"},
    "reports.tasks.*": {"queue": "statistics"},
}

# Periodic work (beat). A name whose task is not registered is skipped with a warning at start
# (see `scheduled_but_missing`), so a deployment never schedules a task no worker knows.
BEAT_SCHEDULE = {
    "outbox-sweep": {"task": "annotation.outbox.sweep_outbox", "schedule": 30.0},
    "stuck-builds-watchdog": {"task": "annotation.watchdog.reset_stuck_builds", "schedule": 120.0},
    "stale-snapshots": {"task": "reports.tasks.refresh_stale_snapshots", "schedule": 60.0},
    "expired-invitations": {
        "task": "annotation.tasks.purge_stale_invitations",
        "schedule": crontab(hour=3, minute=7),
    },
    **{
        f"heartbeat-{queue}": {
            "task": "config.health.heartbeat",
            "schedule": 30.0,
            "kwargs": {"queue": queue},
            "options": {"queue": queue, "expires": 25},
        }
        for queue in QUEUES
    },
}

app.conf.update(
    task_default_queue="default",
    task_queues=[Queue(name) for name in QUEUES],
    task_routes=TASK_ROUTES,
    beat_schedule=BEAT_SCHEDULE,
    # A lost connection to the broker cancels the running tasks: acks_late gives them back
    # to the queue, where they are redone (they are idempotent) instead of finishing unacked.
    worker_cancel_long_running_tasks_on_connection_loss=True,
    # Publishing from a web request must not hang when Redis is down: the outbox keeps the
    # work and its sweeper sends it later.
    task_publish_retry_policy={
        "max_retries": 2,
        "interval_start": 0,
        "interval_step": 0.2,
        "interval_max": 0.5,
    },
    broker_transport_options={
        # visibility_timeout (settings): longer than the longest task, so a message in
        # flight is not handed to a second worker while the first still runs it.
        **app.conf.broker_transport_options,
        # A publish gives up after about 2 s instead of kombu's default 4 s + retries: the
        # outbox re-sends, and a web request must not hang on a dead broker.
        "connect_retries_timeout": 2,
        "socket_connect_timeout": 2,
        # A broker that vanished without closing the connection (failover, NAT): a blocking
        # call gives up instead of waiting for ever, and the health checks get to run.
        "socket_timeout": 30,
        "socket_keepalive": True,
        "health_check_interval": 25,
    },
    broker_connection_max_retries=None,  # a worker waits for Redis to come back, for ever
    result_expires=24 * 3600,
    worker_send_task_events=False,
    beat_scheduler="config.celery:Scheduler",
)
app.conf.worker_hijack_root_logger = False  # the worker logs through Django's LOGGING (JSON)
connect_celery_signals()
app.autodiscover_tasks()
# Tasks that live outside an app's tasks.py.
app.autodiscover_tasks(["annotation"], related_name="outbox")
app.autodiscover_tasks(["annotation"], related_name="watchdog")
app.autodiscover_tasks(["config"], related_name="health")
app.autodiscover_tasks(related_name="prediction_tasks")  # modelaudit: datasets/prediction_tasks.py


def scheduled_but_missing() -> list[str]:
    """Names in the beat schedule that no module registered (yet)."""
    app.loader.import_default_modules()
    return sorted(
        entry["task"] for entry in BEAT_SCHEDULE.values() if entry["task"] not in app.tasks
    )


class Scheduler(PersistentScheduler):
    """Beat's scheduler, minus the entries whose task no module registered."""

    def setup_schedule(self):
        missing = set(scheduled_but_missing())
        if missing:
            logging.getLogger("config.celery").warning(
                "periodic tasks not registered, not scheduled: %s", ", ".join(sorted(missing))
            )
        self.app.conf.beat_schedule = {
            name: entry for name, entry in BEAT_SCHEDULE.items() if entry["task"] not in missing
        }
        super().setup_schedule()

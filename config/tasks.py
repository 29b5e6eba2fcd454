"""The base class of every Celery task: fault settings in one place.

A task is acknowledged only after it ran (acks_late), and given back to the queue when the
process running it dies (reject_on_worker_lost), so a killed worker's task is redone by another.
That means a task may run twice: every task here must be idempotent (claim work with a
conditional update, or write by deterministic keys).

Retries with exponential backoff and jitter cover *transient* errors only: a database or broker
that is restarting, a timeout. A bug or bad input fails at once, so the error is seen instead of
being retried for an hour.
"""

import socket

from celery import Task
from django import db
from kombu.exceptions import OperationalError as BrokerError

try:  # redis-py is there whenever the broker is Redis; keep the module importable without it
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError
except ImportError:  # pragma: no cover
    RedisConnectionError = RedisTimeoutError = ConnectionError

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    db.OperationalError,  # PostgreSQL restarting, connection dropped, SQLite "database is locked"
    db.InterfaceError,  # a connection closed under us
    BrokerError,
    RedisConnectionError,
    RedisTimeoutError,
    ConnectionError,
    TimeoutError,
    socket.timeout,
)


class BaseTask(Task):
    acks_late = True
    reject_on_worker_lost = True
    autoretry_for = TRANSIENT_ERRORS
    max_retries = 6
    retry_backoff = 2  # seconds: 2, 4, 8, 16, 32, 64 (then give up, about two minutes)
    retry_backoff_max = 120
    retry_jitter = True

    # Connections broken by a database restart: Celery's Django fixup closes unusable or
    # obsolete connections before and after every task run by a worker (not eager ones, which
    # share the caller's transaction), and CONN_HEALTH_CHECKS checks a reused one first.

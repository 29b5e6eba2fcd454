"""Fixtures of the ops tests: a private Redis on a port of our own, and the Celery app pointed
at a broker for the length of one test (never the shared Redis on 6379)."""

import shutil
import socket
import subprocess
import time

import pytest

from config import health
from config.celery import app

# The audits of the reading tests (real NIH rows, placeholder pictures).
from tests.annotation.conftest import audit, placeholder_pictures, small_dataset  # noqa: F401

# Ports 8170-8179 are ours (see the team brief): 8171 a Redis the tests start and stop,
# 8179 a port where nothing listens (the broker "down").
REDIS_PORT = 8171
DEAD_PORT = 8179


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class PrivateRedis:
    def __init__(self, port: int):
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            [shutil.which("redis-server"), "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        for _ in range(100):
            if _listening(self.port):
                return self
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self):
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def client(self):
        import redis

        return redis.Redis.from_url(self.url)


@pytest.fixture
def private_redis():
    if _listening(REDIS_PORT):
        pytest.fail(f"port {REDIS_PORT} is taken: another test run is using it")
    server = PrivateRedis(REDIS_PORT)
    yield server
    server.stop()


def _reset_connections():
    # Dropped, not closed: a closed pool would still be reachable from Celery's caches.
    app._pool = None
    app.amqp._producer_pool = None
    health.redis_client.cache_clear()


@pytest.fixture
def broker_at(settings):
    """Point Celery (publishing only, no worker) and the health checks at a broker URL."""
    names = ("broker_url", "broker_write_url", "broker_read_url", "task_always_eager")
    saved = {name: app.conf[name] for name in names}

    def point(url: str):
        _reset_connections()
        settings.CELERY_BROKER_URL = url
        settings.CELERY_TASK_ALWAYS_EAGER = False
        # The read and write URLs were copied from CELERY_BROKER_URL when the suite runs
        # against a broker; they, not broker_url, decide where a task is published.
        app.conf.update(broker_url=url, broker_write_url=url, broker_read_url=url)
        app.conf.task_always_eager = False

    yield point
    app.conf.update(saved)
    _reset_connections()


DEAD_BROKER = f"redis://127.0.0.1:{DEAD_PORT}/0"


@pytest.fixture(autouse=True)
def _closed_breaker():
    from annotation import outbox

    outbox._broker_down_until = 0.0
    yield
    outbox._broker_down_until = 0.0


@pytest.fixture(autouse=True)
def embedded_unless_pointed(request, settings):
    """Every ops test starts in the embedded mode (tasks in process), whatever broker the suite
    runs against: a test about a broker points Celery at one itself (`broker_at`), so the
    shared Redis of a PostgreSQL run never decides a health check here."""
    if "task_runner" in request.fixturenames:
        yield
        return
    saved = (app.conf.broker_url, app.conf.task_always_eager)
    settings.CELERY_TASK_ALWAYS_EAGER = True
    app.conf.task_always_eager = True
    yield
    app.conf.broker_url, app.conf.task_always_eager = saved

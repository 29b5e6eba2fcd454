"""Shared fixtures: the people of an audit, dataset roots in a temporary folder, and a Celery
runner that is eager by default and a real worker against the broker when one is configured."""

import contextlib
import os
import threading
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connections, transaction

# The real public data lives beside the repository (../shared/data); override with an env var.
SHARED_DATA = Path(
    os.environ.get(
        "LABEL_AUDIT_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"
    )
)
FIXTURES = Path(__file__).resolve().parent / "fixtures"
NIH_LABELS = SHARED_DATA / "Data_Entry_2017_v2020.csv.gz"


@pytest.fixture
def dataset_root(tmp_path, settings):
    """A folder registered in DATASET_ROOTS, where tests put images."""
    root = (tmp_path / "datasets").resolve()
    root.mkdir()
    settings.DATASET_ROOTS = [root]
    return root


@pytest.fixture(scope="module")
def nih_full(django_db_setup, django_db_blocker):
    """The full NIH label file (112,120 images) imported once per test module that asks for it.

    The import runs in a transaction opened here and rolled back after the module's last test,
    so no other module ever sees it; but once set up, every later test of the module sees it, so
    use it in a module whose tests all expect it. The module's tests use plain `db` (never
    transaction=True): each runs in a savepoint inside that transaction, and its own writes roll
    back after it.
    Returns the ImportSummary of the import.
    """
    from datasets.services import import_dataset

    atomic = transaction.atomic()
    with django_db_blocker.unblock():
        atomic.__enter__()
        try:
            summary = import_dataset(
                name="NIH ChestX-ray14 (full)", fmt="chestxray14", labels=NIH_LABELS
            )
        except BaseException:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)
            raise
    try:
        yield summary
    finally:
        with django_db_blocker.unblock():
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


@pytest.fixture
def password():
    return "a-long-test-password-42"


def _user(django_user_model, username, password, **extra):
    return django_user_model.objects.create_user(
        username=username, email=f"{username}@example.org", password=password, **extra
    )


@pytest.fixture
def admin_user(django_user_model, password):
    return _user(django_user_model, "admin", password, is_staff=True, is_superuser=True)


@pytest.fixture
def reader(django_user_model, password):
    return _user(django_user_model, "alice", password)


@pytest.fixture
def other_reader(django_user_model, password):
    return _user(django_user_model, "bob", password)


@pytest.fixture
def outsider(django_user_model, password):
    return _user(django_user_model, "mallory", password)


def _is_transactional(request) -> bool:
    marker = request.node.get_closest_marker("django_db")
    if marker is not None and marker.kwargs.get("transaction"):
        return True
    return bool({"transactional_db", "live_server"} & set(request.fixturenames))


@pytest.fixture
def task_runner(request):
    """Run Celery tasks for a test: eagerly without a broker; with CELERY_BROKER_URL set, in a
    real worker (solo pool, in a thread of this process) consuming from the broker.

    Tests that use it must be transactional, `@pytest.mark.django_db(transaction=True)`, on
    both backends (checked here, so a mistake shows on SQLite too): the worker has its own
    database connection and only sees committed rows, not a test's rolled-back transaction.

    The worker never touches the test's connection. Celery's Django fixup closes "the"
    database connections when a worker starts and around every task; Django's connections are
    per thread, so the worker is built and started in a thread of its own, where those closes
    only reach the worker's connections (closing the test's connection mid-test made later
    queries fail with "connection already closed"). Messages left in the queue by earlier
    tests that sent tasks without a worker are purged first, so they cannot run against this
    test's rows. The worker thread closes its connections when it stops, so the test database
    can be flushed and dropped.
    """
    if not _is_transactional(request):
        raise pytest.UsageError(
            f"{request.node.nodeid} uses task_runner: mark it "
            "@pytest.mark.django_db(transaction=True) (a real worker sees only committed rows)"
        )
    if settings.CELERY_TASK_ALWAYS_EAGER:
        yield None
        return
    from config.celery import app

    app.control.purge()
    with _worker_in_own_thread(app) as worker:
        yield worker


@contextlib.contextmanager
def _worker_in_own_thread(app):
    from celery.contrib.testing.worker import start_worker

    started, stop = threading.Event(), threading.Event()
    box: dict = {}

    def run():
        try:
            with start_worker(
                app, pool="solo", perform_ping_check=False, shutdown_timeout=30
            ) as worker:
                box["worker"] = worker
                started.set()
                stop.wait()
        except BaseException as error:  # noqa: BLE001 - re-raised in the test's thread
            box["error"] = error
        finally:
            connections.close_all()
            started.set()

    thread = threading.Thread(target=run, name="celery-test-worker", daemon=True)
    thread.start()
    started.wait(60)
    if "worker" not in box:
        stop.set()
        raise RuntimeError("the Celery test worker did not start") from box.get("error")
    try:
        yield box["worker"]
    finally:
        stop.set()
        thread.join(60)
    if "error" in box:
        raise RuntimeError("the Celery test worker failed") from box["error"]


def pytest_report_header(config):
    database = settings.DATABASES["default"]
    broker = settings.CELERY_BROKER_URL or "none (tasks run eagerly)"
    return [
        f"label-audit: database {database['ENGINE'].rsplit('.', 1)[-1]} {database['NAME']}, broker {broker}"
    ]

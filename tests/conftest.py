"""Shared fixtures: the people of an audit, dataset roots in a temporary folder, and a Celery
runner that is eager by default and a real worker against the broker when one is configured."""

import os
from pathlib import Path

import pytest
from django.conf import settings

# The real public data lives beside the repository (../shared/data); override with an env var.
SHARED_DATA = Path(
    os.environ.get("LABEL_AUDIT_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
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


@pytest.fixture
def task_runner(request):
    """Run Celery tasks for a test: eagerly without a broker; with CELERY_BROKER_URL set, in a
    real worker thread consuming from the broker (so the test needs committed data)."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        yield None
        return
    request.getfixturevalue("transactional_db")
    from celery.contrib.testing.worker import start_worker

    from config.celery import app

    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30) as worker:
        yield worker


def pytest_report_header(config):
    database = settings.DATABASES["default"]
    broker = settings.CELERY_BROKER_URL or "none (tasks run eagerly)"
    return [f"label-audit: database {database['ENGINE'].rsplit('.', 1)[-1]} {database['NAME']}, broker {broker}"]

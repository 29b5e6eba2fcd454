"""The shared task_runner fixture: a real worker (with a broker) that leaves the test's own
database connection alone, and a clear refusal for tests that are not transactional."""

import pytest
from celery import shared_task
from django.conf import settings
from django.db import connection

from datasets.models import Dataset


@shared_task(name="tests.dataset_name")
def dataset_name(dataset_id: int) -> str:
    return Dataset.objects.get(pk=dataset_id).name


@pytest.fixture
def open_connection(transactional_db):
    """The test thread's DB-API connection, opened before the worker starts."""
    Dataset.objects.exists()
    return connection.connection


@pytest.mark.django_db(transaction=True)
def test_a_task_reads_committed_rows_and_the_test_keeps_its_connection(
    open_connection, task_runner
):
    dataset = Dataset.objects.create(name="Worker sees me", slug="worker-sees-me")
    own = connection.connection
    assert own is not None and own is open_connection
    for _ in range(3):  # the fixup closes connections around every task
        assert dataset_name.delay(dataset.pk).get(timeout=60) == "Worker sees me"
    assert connection.connection is own and connection.is_usable()
    assert Dataset.objects.get(pk=dataset.pk).name == "Worker sees me"
    if settings.CELERY_TASK_ALWAYS_EAGER:
        assert task_runner is None
    else:
        assert task_runner is not None and task_runner.hostname


@pytest.mark.django_db
def test_a_test_in_a_rolled_back_transaction_is_told_to_be_transactional(request):
    with pytest.raises(pytest.UsageError, match=r"django_db\(transaction=True\)"):
        request.getfixturevalue("task_runner")

"""Audits for the reports tests: the first 300 real NIH rows (labels only; reports never need the
pictures), three readers, a researcher, a maintainer."""

import pytest

from annotation.models import Mark, MarkChange, Membership
from datasets.services import import_dataset
from tests.annotation.conftest import FIRST300, make_audit


@pytest.fixture(autouse=True)
def embedded_mode(request, settings):
    """Report pages compute a missing snapshot in process only in the embedded mode; the tests
    of pages and figures run in it whatever the environment. Tests using `task_runner` (a real
    worker when a broker is configured) keep the environment's mode."""
    if "task_runner" not in request.fixturenames:
        settings.CELERY_TASK_ALWAYS_EAGER = True


@pytest.fixture
def nih_dataset():
    return import_dataset(name="NIH first 300", fmt="chestxray14", labels=FIRST300).dataset


@pytest.fixture
def third_reader(django_user_model, password):
    return django_user_model.objects.create_user("carol", password=password)


@pytest.fixture
def researcher(django_user_model, password):
    return django_user_model.objects.create_user("rita", password=password)


@pytest.fixture
def maintainer(django_user_model, password, nih_dataset):
    user = django_user_model.objects.create_user("maria", password=password)
    nih_dataset.maintainers.add(user)
    return user


@pytest.fixture
def audit(nih_dataset, reader, other_reader, third_reader, researcher):
    """Blinded; alice, bob and carol read it; Infiltration and No Finding, 36 tiles each."""
    audit = make_audit(nih_dataset, [reader, other_reader, third_reader])
    Membership.objects.create(audit=audit, user=researcher, role=Membership.Role.RESEARCHER)
    return audit


def bulk_marks(verdicts):
    """{(sample id, reader id): verdict} as current marks with their history rows, in bulk."""
    Mark.objects.bulk_create(
        Mark(sample_id=sample, reader_id=reader, verdict=verdict)
        for (sample, reader), verdict in verdicts.items()
    )
    MarkChange.objects.bulk_create(
        MarkChange(sample_id=sample, reader_id=reader, idempotency_key=f"bulk-{sample}",
                   new_verdict=verdict)
        for (sample, reader), verdict in verdicts.items()
    )  # fmt: skip

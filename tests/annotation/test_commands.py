"""python manage.py create_audit: the options of the issue, the id printed, clear refusals."""

import io

import pytest
from django.core.management import CommandError, call_command

from annotation.models import Audit
from tests.annotation.conftest import wait_until_built

pytestmark = pytest.mark.django_db


def create(*arguments):
    out, err = io.StringIO(), io.StringIO()
    call_command("create_audit", *arguments, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.django_db(transaction=True)
def test_create_audit_builds_the_set_and_prints_the_new_id(
    small_dataset, reader, other_reader, task_runner
):
    # The build runs after the command's commit: eagerly, or in the worker.
    out, err = create(
        "--dataset", small_dataset.slug, "--name", "CLI audit",
        "--labels", "Infiltration,no finding", "--per-label", "18", "--seed", "3",
        "--no-patient-limit", "--readers", "alice,bob",
    )  # fmt: skip
    audit = Audit.objects.get(pk=int(out.strip()))
    assert (audit.name, audit.per_label, audit.seed, audit.one_per_patient) == (
        "CLI audit",
        18,
        3,
        False,
    )
    assert sorted(audit.labels.values_list("name", flat=True)) == ["Infiltration", "No Finding"]
    assert sorted(audit.memberships.values_list("user__username", flat=True)) == ["alice", "bob"]
    wait_until_built(audit)
    assert audit.status == Audit.Status.READY and audit.samples.count() == 36
    assert "2 labels" in err


def test_all_labels_and_all_images(small_dataset):
    out, _ = create("--dataset", small_dataset.slug, "--name", "All", "--per-label", "all")
    audit = Audit.objects.get(pk=int(out.strip()))
    assert audit.per_label is None
    assert audit.labels.count() == small_dataset.labels.count()
    assert audit.one_per_patient is True  # on by default


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--dataset", "nope"], "no dataset with slug 'nope'"),
        (["--labels", "Infiltration,Cancer"], "unknown label(s) Cancer"),
        (["--per-label", "0"], "--per-label must be at least 1"),
        (["--per-label", "many"], '--per-label must be a number or "all"'),
        (["--readers", "alice,zed"], "unknown user(s) zed"),
    ],
)
def test_bad_options_are_refused_by_name_and_nothing_is_created(
    small_dataset, reader, arguments, message
):
    defaults = {"--dataset": small_dataset.slug, "--name": "Bad"}
    for flag, value in zip(arguments[::2], arguments[1::2], strict=True):
        defaults[flag] = value
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        create(*[part for pair in defaults.items() for part in pair])
    assert not Audit.objects.exists()

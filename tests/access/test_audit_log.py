"""The audit log records imports, audit creation, invitations and role changes, with who and
when; an action that fails records nothing."""

import pytest

from annotation import audit_log
from annotation.models import AuditEvent
from annotation.services import AuditError, create_audit
from datasets.importers import LabelFileError
from datasets.services import import_dataset
from tests.annotation.conftest import FIRST300


@pytest.mark.django_db
def test_an_import_and_an_audit_are_logged_with_their_actor(dataset_root, admin_user, reader):
    dataset = import_dataset(
        name="Logged", fmt="chestxray14", labels=FIRST300, images=dataset_root, user=admin_user
    ).dataset
    imported = AuditEvent.objects.get(action="dataset.imported")
    assert (imported.actor, imported.dataset, imported.details["rows"]) == (
        admin_user,
        dataset,
        300,
    )
    audit = create_audit(
        dataset=dataset, name="Logged audit", readers=[reader], created_by=admin_user, build=False
    )
    created = AuditEvent.objects.get(action="audit.created")
    assert (created.actor_name, created.audit, created.details["readers"]) == (
        "admin",
        audit,
        ["alice"],
    )


@pytest.mark.django_db
def test_a_command_line_import_is_logged_as_manage_py(dataset_root):
    import_dataset(name="CLI", fmt="chestxray14", labels=FIRST300, images=dataset_root)
    event = AuditEvent.objects.get(action="dataset.imported")
    assert (event.actor, event.actor_name) == (None, "manage.py")


@pytest.mark.django_db
def test_failed_actions_leave_no_event(dataset_root, tmp_path, small_dataset):
    AuditEvent.objects.all().delete()
    bad = tmp_path / "bad.csv"
    bad.write_text("not,a,label,file\n1,2,3,4\n")
    with pytest.raises(LabelFileError):
        import_dataset(name="Bad", fmt="chestxray14", labels=bad, images=dataset_root)
    with pytest.raises(AuditError):
        create_audit(dataset=small_dataset, name="  ", build=False)
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_events_are_listed_newest_first_and_filtered(admin_user):
    audit_log.record("role.granted", actor=admin_user, target="a")
    audit_log.record("role.removed", actor=admin_user, target="b")
    assert [event.target for event in audit_log.events()] == ["b", "a"]
    assert [event.target for event in audit_log.events(action="role.granted")] == ["a"]

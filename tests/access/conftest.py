"""The people of the access tests: the shared users (tests/conftest.py) and the audits on the
first 300 NIH rows (tests/annotation/conftest.py), plus a researcher, an adjudicator and a
second dataset with its own audit and maintainer."""

import pytest

from annotation import invitations
from annotation.models import Invitation, Membership
from annotation.services import mark_set
from datasets.services import import_dataset
from reports import aggregation
from tests.annotation.conftest import (  # noqa: F401  (fixtures)
    FIRST300,
    audit,
    maintainer,
    make_audit,
    placeholder_pictures,
    small_dataset,
)


def make_user(django_user_model, username, password, **extra):
    return django_user_model.objects.create_user(
        username=username, email=f"{username}@example.org", password=password, **extra
    )


@pytest.fixture
def researcher(django_user_model, password, audit):
    user = make_user(django_user_model, "rhea", password)
    Membership.objects.create(audit=audit, user=user, role=Membership.Role.RESEARCHER)
    return user


@pytest.fixture
def adjudicator(django_user_model, password, audit):
    user = make_user(django_user_model, "judy", password)
    Membership.objects.create(audit=audit, user=user, role=Membership.Role.ADJUDICATOR)
    return user


@pytest.fixture
def other_dataset(dataset_root, small_dataset):
    """A second dataset on the same pictures (the first 300 rows, another name)."""
    return import_dataset(
        name="NIH copy", fmt="chestxray14", labels=FIRST300, images=dataset_root
    ).dataset


@pytest.fixture
def other_maintainer(django_user_model, password, other_dataset):
    user = make_user(django_user_model, "otto", password)
    other_dataset.maintainers.add(user)
    return user


@pytest.fixture
def other_audit(other_dataset, django_user_model, password):
    """An audit of the other dataset, read by carol (not alice nor bob)."""
    carol = make_user(django_user_model, "carol", password)
    return make_audit(other_dataset, [carol], name="Other audit")


@pytest.fixture
def world(
    django_user_model,
    password,
    admin_user,
    reader,
    other_reader,
    outsider,
    researcher,
    adjudicator,
    maintainer,
    other_maintainer,
    audit,
    other_audit,
    small_dataset,
    other_dataset,
):
    sample_a = audit.samples.order_by("pk").first()
    sample_b = other_audit.samples.order_by("pk").first()
    unsampled = small_dataset.images.exclude(samples__audit=audit).order_by("pk").first()

    sent_a = invitations.invite(
        by=admin_user,
        email="pending-a@example.org",
        role="reader",
        audit=audit,
        accept_url=str,
    )
    sent_da = invitations.invite(
        by=admin_user,
        email="pending-da@example.org",
        role="maintainer",
        dataset=small_dataset,
        accept_url=str,
    )
    sent_b = invitations.invite(
        by=admin_user,
        email="pending-b@example.org",
        role="reader",
        audit=other_audit,
        accept_url=str,
    )
    carol = other_audit.memberships.get().user
    # Figures to read: each audit marked a little and aggregated once.
    # Two readers disagree on one tile of each audit, so each has an adjudication queue.
    dave = make_user(django_user_model, "dave", password)
    Membership.objects.create(audit=other_audit, user=dave, role=Membership.Role.READER)
    mark_set(sample=sample_a, reader=reader, idempotency_key="world-a", verdict="green")
    mark_set(sample=sample_a, reader=other_reader, idempotency_key="world-a2", verdict="red")
    mark_set(sample=sample_b, reader=carol, idempotency_key="world-b", verdict="red")
    mark_set(sample=sample_b, reader=dave, idempotency_key="world-b2", verdict="green")
    snapshot_a = aggregation.run(audit.pk)
    snapshot_b = aggregation.run(other_audit.pk)
    label_a = sample_a.label_id
    label_b = sample_b.label_id
    args = {
        "none": {"any": {}},
        "audit": {"A": {"audit_id": audit.pk}, "B": {"audit_id": other_audit.pk}},
        "grid": {
            "A": {"audit_id": audit.pk, "label_id": label_a, "grid": 1},
            "B": {"audit_id": other_audit.pk, "label_id": label_b, "grid": 1},
        },
        "sample": {"A": {"sample_id": sample_a.pk}, "B": {"sample_id": sample_b.pk}},
        "image": {
            "A": {"image_id": sample_a.image_id, "size": "viewer"},
            "DA-unsampled": {"image_id": unsampled.pk, "size": "viewer"},
            "B": {"image_id": sample_b.image_id, "size": "viewer"},
        },
        "dataset": {"DA": {"slug": small_dataset.slug}, "DB": {"slug": other_dataset.slug}},
        "audit_member": {
            "A": {"audit_id": audit.pk, "user_id": reader.pk},
            "B": {"audit_id": other_audit.pk, "user_id": carol.pk},
        },
        "dataset_member": {
            "DA": {"slug": small_dataset.slug, "user_id": maintainer.pk},
            "DB": {"slug": other_dataset.slug, "user_id": other_maintainer.pk},
        },
        "invitation": {
            "A": {"pk": sent_a.invitation.pk},
            "DA-maintainer": {"pk": sent_da.invitation.pk},
            "B": {"pk": sent_b.invitation.pk},
        },
        "token": {"valid": {"token": sent_a.token}, "unknown": {"token": "no-such-token"}},
        "reset_link": {"invalid": {"uidb64": "MQ", "token": "bad-token"}},
        "snapshot": {
            "A": {"audit_id": audit.pk, "snapshot_id": snapshot_a.pk},
            "B": {"audit_id": other_audit.pk, "snapshot_id": snapshot_b.pk},
        },
        "report_download": {
            "A": {"audit_id": audit.pk, "fmt": "csv"},
            "B": {"audit_id": other_audit.pk, "fmt": "csv"},
        },
    }
    users = {
        "anon": None,
        "outsider": outsider,
        "reader": reader,
        "researcher": researcher,
        "adjudicator": adjudicator,
        "maintainer": maintainer,
        "other_maintainer": other_maintainer,
        "admin": admin_user,
    }
    # modelaudit: a model run per dataset, and a model review of each with audit A's (B's) people.
    from annotation.models import Audit
    from datasets.models import ModelRun

    runs, reviews = {}, {}
    for scope, dataset, source in (("DA", small_dataset, audit), ("B", other_dataset, other_audit)):
        runs[scope] = ModelRun.objects.create(dataset=dataset, name=f"model {scope}")
        review = Audit.objects.create(
            dataset=dataset, name=f"model review {scope}", kind=Audit.Kind.MODEL_REVIEW,
            model_run=runs[scope], status=Audit.Status.READY,
        )  # fmt: skip
        for membership in source.memberships.all():
            review.memberships.create(user=membership.user, role=membership.role)
        reviews[scope] = review
    args["model_run"] = {"DA": {"run_id": runs["DA"].pk}, "DB": {"run_id": runs["B"].pk}}
    args["model_audit"] = {"A": {"audit_id": reviews["DA"].pk}, "B": {"audit_id": reviews["B"].pk}}
    assert Invitation.objects.count() == 3 and unsampled is not None
    return {"args": args, "users": users}

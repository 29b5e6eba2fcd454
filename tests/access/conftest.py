"""The people of the access tests: the shared users (tests/conftest.py) and the audits on the
first 300 NIH rows (tests/annotation/conftest.py), plus a researcher, an adjudicator and a
second dataset with its own audit and maintainer."""

import pytest

from annotation.models import Membership
from datasets.services import import_dataset
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
def researcher(django_user_model, password, audit):  # noqa: F811
    user = make_user(django_user_model, "rhea", password)
    Membership.objects.create(audit=audit, user=user, role=Membership.Role.RESEARCHER)
    return user


@pytest.fixture
def adjudicator(django_user_model, password, audit):  # noqa: F811
    user = make_user(django_user_model, "judy", password)
    Membership.objects.create(audit=audit, user=user, role=Membership.Role.ADJUDICATOR)
    return user


@pytest.fixture
def other_dataset(dataset_root, small_dataset):  # noqa: F811
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

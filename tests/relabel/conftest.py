"""Relabeling fixtures: the reading fixtures (NIH first 300 rows with placeholder pictures), an
adjudicator, and marks written through the one mark service."""

import itertools

import pytest

from annotation.models import Membership
from annotation.services import mark_set
from tests.annotation.conftest import (  # noqa: F401 - fixtures used by the tests here
    audit,
    maintainer,
    make_audit,
    open_audit,
    placeholder_pictures,
    small_dataset,
)

_keys = itertools.count()


def mark(sample, reader, verdict, **extra):
    return mark_set(
        sample=sample, reader=reader, idempotency_key=f"t{next(_keys)}", verdict=verdict, **extra
    )


@pytest.fixture
def adjudicator(django_user_model, password, audit):  # noqa: F811
    user = django_user_model.objects.create_user("judith", password=password)
    Membership.objects.create(audit=audit, user=user, role=Membership.Role.ADJUDICATOR)
    return user


@pytest.fixture
def third_reader(django_user_model, password, audit):  # noqa: F811
    user = django_user_model.objects.create_user("carol", password=password)
    Membership.objects.create(audit=audit, user=user, role=Membership.Role.READER)
    return user

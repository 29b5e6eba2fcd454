"""Consensus: adjudicated verdict first, else the readers' majority; a tie is orange."""

import pytest
from django.contrib.auth import get_user_model

from annotation.consensus import consensus_of, consensus_verdicts
from annotation.models import Adjudication
from annotation.services import mark_set
from tests.annotation.conftest import first_grid


@pytest.mark.parametrize(
    ("verdicts", "adjudicated", "expected"),
    [
        ([], None, ("", "unmarked")),
        (["", ""], None, ("", "unmarked")),
        (["red"], None, ("red", "majority")),
        (["green", "green", "red"], None, ("green", "majority")),
        (["green", "red"], None, ("orange", "tie")),
        (["green", "green", "red", "red", "orange"], None, ("orange", "tie")),
        (["orange", "orange", "green"], None, ("orange", "majority")),
        (["green", "green", "green"], "red", ("red", "adjudicated")),
        ([], "green", ("green", "adjudicated")),
    ],
)
def test_consensus_of(verdicts, adjudicated, expected):
    result = consensus_of(verdicts, adjudicated)
    assert (result.verdict, result.source) == expected


def test_votes_count_only_given_verdicts():
    assert consensus_of(["green", "", "red", "green"]).votes == {"green": 2, "red": 1}


@pytest.mark.django_db
def test_consensus_verdicts_of_an_audit(
    audit, reader, other_reader, password, django_assert_max_num_queries
):
    carol = get_user_model().objects.create_user("carol", password=password)
    _, samples = first_grid(audit)
    a, b, c = samples[:3]
    for sample, verdicts in (
        (a, ("green", "green", "red")),
        (b, ("green", "red", "")),
        (c, ("red", "red", "red")),
    ):
        for who, verdict in zip((reader, other_reader, carol), verdicts, strict=True):
            if verdict:
                mark_set(
                    sample=sample,
                    reader=who,
                    idempotency_key=f"{sample.pk}-{who.pk}",
                    verdict=verdict,
                )
    mark_set(sample=samples[3], reader=reader, idempotency_key="cleared-1", verdict="green")
    mark_set(sample=samples[3], reader=reader, idempotency_key="cleared-2", verdict="")
    Adjudication.objects.create(sample=c, verdict="orange", adjudicator=carol)

    with django_assert_max_num_queries(3):
        result = consensus_verdicts(audit)

    assert len(result) == audit.samples.count()
    assert (result[a.pk].verdict, result[a.pk].source) == ("green", "majority")
    assert (result[b.pk].verdict, result[b.pk].source) == ("orange", "tie")
    assert (result[c.pk].verdict, result[c.pk].source, result[c.pk].votes) == (
        "orange",
        "adjudicated",
        {"red": 3},
    )
    assert (result[samples[3].pk].verdict, result[samples[3].pk].source) == ("", "unmarked")
    only = consensus_verdicts(audit, samples=[a.pk])
    assert list(only) == [a.pk]

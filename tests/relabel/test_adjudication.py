"""The adjudication queue (by rule), recording adjudications, and the consensus they override."""

import pytest

from annotation.adjudication import (
    AdjudicationError,
    adjudicate,
    disagrees,
    queue_page,
    queue_sample_ids,
    queue_summary,
    set_rule,
)
from annotation.consensus import consensus_verdicts
from annotation.models import Adjudication, AdjudicationChange, Audit, Tag
from tests.relabel.conftest import mark

pytestmark = pytest.mark.django_db

ANY, RED_GREEN = Audit.AdjudicationRule.ANY, Audit.AdjudicationRule.RED_GREEN


@pytest.mark.parametrize(
    ("verdicts", "any_rule", "red_green_rule"),
    [
        (["green", "green"], False, False),
        (["green", "orange"], True, False),
        (["orange", "red"], True, False),
        (["green", "red"], True, True),
        (["green", "orange", "red"], True, True),
        (["red", ""], False, False),  # an unmarked reader does not disagree
        (["red"], False, False),
        ([], False, False),
    ],
)
def test_the_rule_decides_which_verdicts_disagree(verdicts, any_rule, red_green_rule):
    assert disagrees(verdicts, ANY) is any_rule
    assert disagrees(verdicts, RED_GREEN) is red_green_rule


def test_an_unknown_rule_is_refused_by_name(audit):
    with pytest.raises(AdjudicationError, match="'majority'"):
        set_rule(audit=audit, rule="majority")


@pytest.fixture
def split(audit, reader, other_reader):
    """Four tiles of the first label: agreeing, green/orange, green/red, marked by one reader."""
    samples = list(audit.samples.order_by("label__name", "position")[:4])
    for sample, (a, b) in zip(
        samples,
        [("green", "green"), ("green", "orange"), ("green", "red"), ("red", "")],
        strict=True,
    ):
        mark(sample, reader, a)
        if b:
            mark(sample, other_reader, b)
    return samples


def test_the_queue_holds_the_disagreements_of_the_audits_rule(audit, split):
    assert queue_sample_ids(audit) == [split[1].pk, split[2].pk]
    set_rule(audit=audit, rule=RED_GREEN)
    assert queue_sample_ids(audit) == [split[2].pk]


def test_an_adjudicated_tile_stays_in_the_queue_after_the_readers_agree(
    audit, split, reader, adjudicator
):
    adjudicate(sample=split[1], adjudicator=adjudicator, verdict="green")
    mark(split[1], reader, "orange")  # now both orange: no disagreement any more
    assert split[1].pk in queue_sample_ids(audit)
    summary = queue_summary(audit)
    assert (summary.total, summary.done, summary.pending) == (2, 1, 1)


def test_an_adjudication_records_who_and_when_and_overrides_the_majority(
    audit, split, adjudicator, third_reader
):
    mark(split[2], third_reader, "red")  # green, red, red: majority red
    assert consensus_verdicts(audit, [split[2].pk])[split[2].pk].verdict == "red"
    decision = adjudicate(sample=split[2], adjudicator=adjudicator, verdict="green", note="fine")
    assert (decision.adjudicator, decision.verdict, decision.note) == (adjudicator, "green", "fine")
    assert decision.decided_at is not None
    consensus = consensus_verdicts(audit, [split[2].pk])[split[2].pk]
    assert (consensus.verdict, consensus.source) == ("green", "adjudicated")
    assert consensus.votes == {"green": 1, "red": 2}


def test_every_change_of_an_adjudication_is_kept_and_a_repeat_writes_nothing(split, adjudicator):
    adjudicate(sample=split[1], adjudicator=adjudicator, verdict="red")
    adjudicate(sample=split[1], adjudicator=adjudicator, verdict="red")
    adjudicate(sample=split[1], adjudicator=adjudicator, verdict=None, note="drain, no PTX")
    adjudicate(sample=split[1], adjudicator=adjudicator, verdict="")
    assert not Adjudication.objects.exists()
    history = list(AdjudicationChange.objects.values_list("old_verdict", "new_verdict", "note"))
    assert history == [("", "red", ""), ("red", "red", "drain, no PTX"), ("red", "", "")]


def test_a_note_without_a_verdict_and_an_unknown_verdict_are_refused(split, adjudicator):
    with pytest.raises(AdjudicationError, match="verdict before"):
        adjudicate(sample=split[1], adjudicator=adjudicator, verdict=None, note="x")
    with pytest.raises(AdjudicationError, match="'purple'"):
        adjudicate(sample=split[1], adjudicator=adjudicator, verdict="purple")
    assert not AdjudicationChange.objects.exists()


def test_the_queue_page_shows_every_readers_verdict_tags_and_note(
    audit, split, reader, other_reader
):
    drain = Tag.objects.get(audit=audit, name="chest drain")
    mark(split[2], other_reader, "red", tags=[drain.pk], note="drain only")
    page = queue_page(audit=audit, label_id=split[2].label_id, grid=0)
    tile = next(tile for tile in page.tiles if tile.sample.pk == split[2].pk)
    reads = [(read.reader, read.verdict, read.tags, read.note) for read in tile.reads]
    assert reads == [("alice", "green", [], ""), ("bob", "red", ["chest drain"], "drain only")]
    assert tile.consensus.source == "tie" and tile.votes == [("green", 1), ("red", 1)]


def test_a_queue_page_costs_the_same_queries_for_one_tile_or_eighteen(
    audit, reader, other_reader, django_assert_max_num_queries
):
    samples = list(audit.samples.order_by("label__name", "position")[:18])
    for sample in samples:
        mark(sample, reader, "green", note="n")
        mark(sample, other_reader, "red")
    with django_assert_max_num_queries(12):
        page = queue_page(audit=audit, label_id=samples[0].label_id, grid=0)
        assert [len(tile.reads) for tile in page.tiles] == [2] * 18


def test_the_next_pending_grid_is_the_first_with_an_undecided_tile(
    audit, reader, other_reader, adjudicator
):
    samples = list(audit.samples.order_by("label__name", "position")[:20])
    assert len({sample.label_id for sample in samples}) == 1
    for sample in samples:
        mark(sample, reader, "green")
        mark(sample, other_reader, "red")
    assert queue_summary(audit).first_pending == (samples[0].label_id, 1)
    for sample in samples[:18]:
        adjudicate(sample=sample, adjudicator=adjudicator, verdict="green")
    summary = queue_summary(audit)
    assert summary.first_pending == (samples[0].label_id, 2)
    assert (summary.labels[0].grids, summary.pending) == (2, 2)
    second = queue_page(audit=audit, label_id=samples[0].label_id, grid=1)
    assert [tile.sample.pk for tile in second.tiles] == [s.pk for s in samples[18:]]

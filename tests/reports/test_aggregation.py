"""Aggregation end to end: marks entered through the service give, in the snapshot, the figures
the pure functions give on the same matrices; snapshots are immutable and runs idempotent."""

import numpy as np
import pytest
from statsmodels.stats.proportion import proportion_confint

from annotation.models import Adjudication, Sample
from annotation.services import mark_set
from reports import aggregation, selectors, stats
from reports.models import Snapshot, SnapshotImmutable

pytestmark = pytest.mark.django_db

CODE = {"red": 0, "orange": 1, "green": 2}


def enter_marks(audit, readers, seed=3, skip=0.1):
    """Random verdicts through mark_set; each reader leaves ~10% unmarked. Returns the truth:
    {(sample id, reader id): verdict}."""
    rng = np.random.default_rng(seed)
    given = {}
    for sample in Sample.objects.filter(audit=audit).order_by("label__name", "position"):
        for reader in readers:
            if rng.random() < skip:
                continue
            verdict = rng.choice(["green", "green", "green", "orange", "red"])
            mark_set(sample=sample, reader=reader, idempotency_key=f"{sample.pk}-{reader.pk}",
                     verdict=verdict)  # fmt: skip
            given[(sample.pk, reader.pk)] = verdict
    return given


def label_matrix(audit, label, readers, given):
    samples = Sample.objects.filter(audit=audit, label=label).order_by("position")
    return np.array(
        [[CODE[given[(s.pk, r.pk)]] if (s.pk, r.pk) in given else np.nan for s in samples]
         for r in readers]
    )  # fmt: skip


@pytest.fixture
def marked(audit, reader, other_reader, third_reader):
    readers = sorted([reader, other_reader, third_reader], key=lambda u: u.username)
    return readers, enter_marks(audit, readers)


def test_snapshot_figures_equal_the_pure_functions_on_the_same_matrix(audit, marked):
    readers, given = marked
    snapshot = aggregation.aggregate(audit)
    for label in audit.labels.all():
        row = next(item for item in snapshot.results["labels"] if item["id"] == label.pk)
        matrix = label_matrix(audit, label, readers, given)
        # per reader: counts and both intervals, against statsmodels
        for i, user in enumerate(readers):
            block = row["readers"][str(user.pk)]
            counts = stats.accuracy_counts(matrix[i])
            assert (block["green"], block["orange"], block["red"]) == counts[1:]
            assert block["unmarked"] == 36 - counts.n
            correct = counts.green + counts.orange
            assert block["accuracy"] == pytest.approx(correct / counts.n)
            expected = proportion_confint(correct, counts.n, method="wilson")
            assert block["accuracy_wilson"] == pytest.approx(list(expected), abs=1e-12)
            expected = proportion_confint(counts.green, counts.n, method="beta")
            assert block["strict_cp"] == pytest.approx(list(expected), abs=1e-12)
        # consensus: majority, a tie orange (stats.consensus implements the same rule)
        consensus = stats.accuracy_counts(stats.consensus(matrix))
        assert row["consensus"]["n"] == consensus.n
        assert row["consensus"]["green"] == consensus.green
        assert row["consensus"]["red"] == consensus.red
        # agreement, three levels and binary
        agreement = row["agreement"]["three_level"]
        alpha = stats.krippendorff_alpha(matrix, "ordinal", categories=stats.VERDICTS)
        assert agreement["krippendorff_ordinal"]["value"] == pytest.approx(alpha.value)
        assert agreement["krippendorff_ordinal"]["ci_low"] == pytest.approx(alpha.ci_low)
        ac1 = stats.gwet_ac1(stats.binary_collapse(matrix), categories=(0, 1))
        assert row["agreement"]["binary"]["gwet_ac1"]["value"] == pytest.approx(ac1.value)
        complete = matrix[:, ~np.isnan(matrix).any(axis=0)]
        fleiss = stats.fleiss_kappa(stats.category_counts(complete, stats.VERDICTS))
        assert agreement["fleiss"]["value"] == pytest.approx(fleiss.value)
        assert agreement["fleiss"]["n_items"] == complete.shape[1]
        assert agreement["percent_agreement"]["value"] == pytest.approx(
            stats.percent_agreement(matrix)
        )
        # every pair of readers, unweighted and linear
        assert len(row["pairs"]) == 3
        for pair in row["pairs"]:
            i = [u.pk for u in readers].index(pair["a"])
            j = [u.pk for u in readers].index(pair["b"])
            kappa = stats.cohen_kappa(
                matrix[i], matrix[j], weights="linear", categories=stats.VERDICTS
            )
            assert pair["kappa_linear"]["value"] == pytest.approx(kappa.value)
            assert pair["kappa_linear"]["se"] == pytest.approx(kappa.se)


def test_an_adjudication_overrides_the_majority_in_the_consensus(audit, reader, other_reader):
    label = audit.labels.order_by("name").first()
    sample = Sample.objects.filter(audit=audit, label=label).order_by("position").first()
    for user in (reader, other_reader):
        mark_set(sample=sample, reader=user, idempotency_key=f"k{user.pk}", verdict="green")
    Adjudication.objects.create(sample=sample, verdict="red", adjudicator=reader)
    row = next(x for x in aggregation.aggregate(audit).results["labels"] if x["id"] == label.pk)
    assert (row["consensus"]["red"], row["consensus"]["green"]) == (1, 0)
    assert row["consensus"]["sources"]["adjudicated"] == 1


def test_the_claim_is_compared_and_flagged_outside_the_interval(audit, marked):
    label = audit.labels.get(name="Infiltration")
    label.reference_accuracy = 0.99
    label.save()
    row = next(x for x in aggregation.aggregate(audit).results["labels"] if x["id"] == label.pk)
    block = row["consensus"]
    assert block["reference"] == 0.99
    assert block["difference"] == pytest.approx(block["accuracy"] - 0.99)
    assert block["claim_outside_wilson"] is (
        not block["accuracy_wilson"][0] <= 0.99 <= block["accuracy_wilson"][1]
    )
    assert block["claim_outside_wilson"] is True


def test_running_twice_on_unchanged_marks_writes_one_snapshot(audit, marked, reader):
    first = aggregation.run(audit.pk)
    again = aggregation.run(audit.pk)
    assert first.pk == again.pk and Snapshot.objects.count() == 1


def test_a_mark_changed_and_changed_back_is_stale_until_a_run_finds_nothing_new(
    audit, marked, reader
):
    readers, given = marked
    first = aggregation.run(audit.pk)
    assert not selectors.is_stale(audit, first)
    sample_id, verdict = next((s, v) for (s, r), v in given.items() if r == reader.pk)
    sample = Sample.objects.get(pk=sample_id)
    mark_set(
        sample=sample,
        reader=reader,
        idempotency_key="changed",
        verdict="red" if verdict != "red" else "green",
    )
    assert selectors.is_stale(audit, first)
    mark_set(sample=sample, reader=reader, idempotency_key="back", verdict=verdict)
    again = aggregation.run(audit.pk)
    assert again.pk == first.pk and Snapshot.objects.count() == 1
    assert not selectors.is_stale(audit, first)


def test_a_changed_mark_gives_a_new_snapshot_and_keeps_the_old_one(audit, marked, reader):
    readers, given = marked
    first = aggregation.run(audit.pk)
    sample_id = next(s for (s, r) in given if r == reader.pk)
    mark_set(
        sample=Sample.objects.get(pk=sample_id), reader=reader, idempotency_key="new", verdict=""
    )
    second = aggregation.run(audit.pk)
    assert second.pk != first.pk and second.mark_count == first.mark_count - 1
    assert Snapshot.objects.count() == 2


def test_a_snapshot_cannot_be_changed_once_written(audit, marked):
    snapshot = aggregation.aggregate(audit)
    snapshot.results = {}
    with pytest.raises(SnapshotImmutable):
        snapshot.save()
    assert Snapshot.objects.get().results["labels"]


def test_the_snapshot_records_what_it_was_computed_from(audit, marked):
    readers, given = marked
    snapshot = aggregation.aggregate(audit)
    assert snapshot.mark_count == len(given)
    assert snapshot.last_change_id is not None and snapshot.change_count == len(given)
    assert snapshot.code_version == aggregation.code_version()
    assert snapshot.results["versions"]["numpy"] == np.__version__
    assert snapshot.parameters["bootstrap_resamples"] == 2000
    ratings = snapshot.matrices[str(audit.labels.get(name="No Finding").pk)]["ratings"]
    assert len(ratings) == 3 and len(ratings[0]) == 36


def test_undefined_coefficients_say_why_and_are_null_not_nan(audit, reader, other_reader):
    label = audit.labels.get(name="Infiltration")
    for sample in Sample.objects.filter(audit=audit, label=label):
        for user in (reader, other_reader):
            mark_set(
                sample=sample, reader=user, idempotency_key=f"{sample.pk}{user.pk}", verdict="green"
            )
    snapshot = aggregation.aggregate(audit)
    row = next(x for x in snapshot.results["labels"] if x["id"] == label.pk)
    fleiss = row["agreement"]["three_level"]["fleiss"]
    assert fleiss["value"] is None and "chance agreement is 1" in fleiss["reason"]
    assert row["pair_summary"]["undefined"] == 1  # alice-bob; carol marked nothing
    assert row["pair_summary"]["too_few_shared"] == 2

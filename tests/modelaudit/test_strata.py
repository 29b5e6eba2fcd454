"""Hidden strata: a model that scores the drain, not the finding, is caught."""

import numpy as np
import pytest

from annotation.services import build_sample_set, mark_set
from datasets.predictions import upload_predictions
from reports.model_audit import create_model_review
from reports.stats import proportion_ci
from reports.strata import strata_report

from .conftest import write_wide


def _read_truthfully(audit, synthetic, readers):
    """Readers see the truth and tag every drain they see."""
    truth = dict(zip([i.pk for i in synthetic.images], synthetic.truth, strict=True))
    drain = dict(zip([i.pk for i in synthetic.images], synthetic.drain, strict=True))
    tag = audit.tags.get(name="chest drain")
    for sample in audit.samples.all():
        for who in readers:
            mark_set(
                sample=sample, reader=who, idempotency_key=f"{who.pk}-{sample.pk}",
                verdict="green" if truth[sample.image_id] else "red",
                tags=[tag.pk] if drain[sample.image_id] else [],
            )  # fmt: skip


def _review(run, synthetic, readers):
    audit = create_model_review(
        run=run, name=run.name, labels=[synthetic.pneumothorax], per_cell=25,
        readers=readers, build=False,
    )  # fmt: skip
    build_sample_set(audit=audit)
    _read_truthfully(audit, synthetic, readers)
    [strata] = strata_report(audit)
    return audit, {row.tag: row for row in strata.tags}


def test_a_model_scoring_the_drain_is_flagged_and_loses_sensitivity_without_it(
    drain_run, synthetic, reader
):
    audit, rows = _review(drain_run, synthetic, [reader])
    drain = rows["chest drain"]
    assert drain.flagged
    assert dict(drain.tests)["TP vs FN"].p_value < 0.001
    assert drain.sensitivity_with > 0.9 and drain.sensitivity_without < 0.2
    assert not rows["pacemaker or ICD"].flagged
    # Readers are right on every tile: accuracy is 1 with and without the tag.
    assert drain.accuracy_with.value == 1 and drain.accuracy_without.value == 1
    # The share of Pneumothorax images with a drain: TP and FN tiles, Wilson interval.
    tiles = audit.samples.filter(cell__in=["tp", "fn"])
    drained = dict(zip([i.pk for i in synthetic.images], synthetic.drain, strict=True))
    k = sum(drained[s.image_id] for s in tiles)
    assert (drain.share.k, drain.share.n) == (k, tiles.count())
    assert drain.share.interval == pytest.approx(proportion_ci(k, tiles.count()))


def test_a_model_scoring_the_finding_is_not_flagged(synthetic, tmp_path, reader):
    rng = np.random.default_rng(4)
    synthetic.scores = np.round(0.6 * synthetic.truth + 0.5 * rng.random(len(synthetic.truth)), 4)
    path = write_wide(tmp_path / "finding.csv", synthetic)
    run = upload_predictions(dataset=synthetic.dataset, name="finding model", path=path).run
    _, rows = _review(run, synthetic, [reader])
    drain = rows["chest drain"]
    assert not drain.flagged
    assert abs(drain.sensitivity_with - drain.sensitivity_without) < 0.3


def test_label_review_strata_compare_accepted_and_rejected_tiles(synthetic, reader):
    from annotation.services import create_audit

    audit = create_audit(
        dataset=synthetic.dataset, name="labels", labels=[synthetic.pneumothorax],
        per_label=None, readers=[reader], build=False, one_per_patient=False,
    )  # fmt: skip
    build_sample_set(audit=audit)
    tag = audit.tags.get(name="chest drain")
    drain = dict(zip([i.pk for i in synthetic.images], synthetic.drain, strict=True))
    # The readers reject exactly the images without a drain: the tag separates the verdicts.
    for sample in audit.samples.all():
        has = bool(drain[sample.image_id])
        mark_set(sample=sample, reader=reader, idempotency_key=str(sample.pk),
                 verdict="green" if has else "red", tags=[tag.pk] if has else [])  # fmt: skip
    [strata] = strata_report(audit)
    row = next(r for r in strata.tags if r.tag == "chest drain")
    assert row.flagged and row.accuracy_with.value == 1 and row.accuracy_without.value == 0

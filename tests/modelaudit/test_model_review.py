"""Model-review audits: thresholds, cells, the reproducible draw, and the report against
scikit-learn on the same vectors."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from annotation.consensus import consensus_verdicts
from annotation.models import Audit
from annotation.services import AuditError, build_sample_set, mark_set
from datasets.models import ModelRun
from reports import model_stats as ms
from reports.model_audit import create_model_review, label_vectors, model_report, run_summary


def _review(run, synthetic, readers=(), **options):
    options.setdefault("per_cell", 10)
    audit = create_model_review(
        run=run, name=options.pop("name", "Review"), labels=[synthetic.pneumothorax],
        readers=readers, build=False, **options,
    )  # fmt: skip
    build_sample_set(audit=audit)
    audit.refresh_from_db()
    return audit


def test_run_summary_gives_auc_and_youden_threshold_per_label(drain_run, synthetic):
    rows = {row.label.name: row for row in run_summary(drain_run)}
    ptx = rows["Pneumothorax"]
    assert ptx.auc.value == pytest.approx(roc_auc_score(synthetic.truth, synthetic.scores))
    expected = ms.youden_threshold(synthetic.truth, synthetic.scores)
    assert ptx.youden.value == expected.value
    assert sum(ptx.cells.values()) == 300 and ptx.positives == 100


def test_a_model_review_draws_n_per_cell_reproducibly(drain_run, synthetic, reader):
    first = _review(drain_run, synthetic, [reader], name="one")
    second = _review(drain_run, synthetic, [reader], name="two")
    assert first.kind == Audit.Kind.MODEL_REVIEW and first.status == Audit.Status.READY
    threshold = first.thresholds[str(synthetic.pneumothorax.pk)]
    assert threshold["chosen_by"] == "Youden's J"
    cells = ms.confusion_cells(synthetic.truth, synthetic.scores, threshold["value"])
    cell_of = {image.pk: cell for image, cell in zip(synthetic.images, cells, strict=True)}
    drawn = list(first.samples.order_by("position").values_list("image_id", "cell"))
    for cell in ms.CELLS:
        assert sum(1 for _, c in drawn if c == cell) == min(10, int((cells == cell).sum()))
    assert all(cell_of[image_id] == cell for image_id, cell in drawn)
    assert drawn == list(second.samples.order_by("position").values_list("image_id", "cell"))


def test_a_given_threshold_is_used(drain_run, synthetic):
    audit = _review(drain_run, synthetic, thresholds={synthetic.pneumothorax.pk: 0.5})
    recorded = audit.thresholds[str(synthetic.pneumothorax.pk)]
    assert recorded["value"] == 0.5 and recorded["chosen_by"] == "given"
    tp = audit.samples.filter(cell="tp").values_list("image_id", flat=True)
    score = {image.pk: s for image, s in zip(synthetic.images, synthetic.scores, strict=True)}
    assert all(score[pk] >= 0.5 for pk in tp)


def test_a_label_without_scores_is_refused(synthetic, drain_run):
    from datasets.models import Label

    other = Label.objects.create(dataset=synthetic.dataset, name="Hernia")
    with pytest.raises(AuditError, match="has no scores for Hernia"):
        create_model_review(run=drain_run, name="x", labels=[other], build=False)


def test_report_aucs_match_scikit_learn_on_the_same_vectors(
    drain_run, synthetic, reader, other_reader
):
    audit = _review(drain_run, synthetic, [reader, other_reader])
    samples = list(audit.samples.select_related("image"))
    truth = dict(zip([i.pk for i in synthetic.images], synthetic.truth, strict=True))
    rng = np.random.default_rng(1)
    for sample in samples:
        # Readers agree with the dataset on 80% of images; the rest they call the other way.
        present = truth[sample.image_id] if rng.random() < 0.8 else 1 - truth[sample.image_id]
        verdict = "green" if present else "red"
        for who in (reader, other_reader):
            mark_set(
                sample=sample, reader=who, idempotency_key=f"{who.pk}-{sample.pk}", verdict=verdict
            )
    sample = samples[0]  # one doubtful tile: the two readers split, a tie is orange
    mark_set(sample=sample, reader=other_reader, idempotency_key="split", verdict="orange")
    [report] = model_report(audit)
    consensus = consensus_verdicts(audit)
    score = {image.pk: s for image, s in zip(synthetic.images, synthetic.scores, strict=True)}
    kept = [s for s in samples if consensus[s.pk].verdict in ("green", "red")]
    scores = [score[s.image_id] for s in kept]
    readers_truth = [1 if consensus[s.pk].verdict == "green" else 0 for s in kept]
    dataset_truth = [1 if s.cell in ("tp", "fn") else 0 for s in kept]
    assert report.left_out == 1
    assert report.auc_reviewed_readers.estimate.value == pytest.approx(
        roc_auc_score(readers_truth, scores)
    )
    assert report.auc_reviewed_dataset.estimate.value == pytest.approx(
        roc_auc_score(dataset_truth, scores)
    )
    assert report.auc_all.estimate.value == pytest.approx(
        roc_auc_score(synthetic.truth, synthetic.scores)
    )
    tp = [s for s in kept if s.cell == "tp"]
    tp_read = [s for s in samples if s.cell == "tp" and consensus[s.pk].verdict]
    assert report.confirmed_tp.k == sum(consensus[s.pk].verdict == "green" for s in tp)
    assert report.confirmed_tp.n == len(tp_read)
    fp = [s for s in samples if s.cell == "fp" and consensus[s.pk].verdict]
    assert report.fp_positive.n == len(fp)
    assert report.fp_positive.k == sum(consensus[s.pk].verdict == "green" for s in fp)


def test_label_vectors_leave_out_uncertain_images(drain_run, synthetic):
    from datasets.models import ImageLabel

    ImageLabel.objects.create(image=synthetic.images[1], label=synthetic.pneumothorax, value=-1)
    vectors = label_vectors(drain_run, synthetic.pneumothorax)
    assert vectors.uncertain == 1 and len(vectors.truth) == 299
    assert synthetic.images[1].pk not in vectors.image_ids


def test_the_run_summary_is_kept_after_the_first_computation(
    drain_run, django_assert_max_num_queries
):
    from reports.model_audit import cached_run_summary

    first = cached_run_summary(drain_run)
    drain_run.refresh_from_db()
    assert len(drain_run.summary) == 2
    with django_assert_max_num_queries(1):  # the labels only: no score is read again
        again = cached_run_summary(drain_run)
    assert [(r.label.name, r.auc, r.youden, r.cells) for r in again] == [
        (r.label.name, r.auc, r.youden, r.cells) for r in first
    ]


def test_a_label_without_positives_keeps_an_undefined_auc_in_the_summary(synthetic, tmp_path):
    import math

    from datasets.predictions import upload_predictions
    from reports.model_audit import cached_run_summary

    path = tmp_path / "hernia.csv"
    path.write_text("image,label,score\nimg_0001.png,Effusion,0.3\nimg_0005.png,Effusion,0.6\n")
    run = upload_predictions(dataset=synthetic.dataset, name="two", path=path).run
    [row] = cached_run_summary(run)  # img_0001 and img_0005 both carry Effusion: no negative
    assert not row.auc.defined and row.youden is None
    [again] = cached_run_summary(ModelRun.objects.get(pk=run.pk))
    assert math.isnan(again.auc.value) and again.auc.reason == row.auc.reason

"""Decoys never count toward accuracy in the reports (reports.aggregation)."""

from annotation.services import build_sample_set, create_audit, mark_set
from reports import aggregation
from reports.model_audit import create_model_review


def _audit(synthetic, readers, fraction, name):
    audit = create_audit(
        dataset=synthetic.dataset, name=name, labels=[synthetic.pneumothorax], per_label=30,
        readers=readers, build=False, decoy_fraction=fraction,
    )  # fmt: skip
    build_sample_set(audit=audit)
    return audit


def _consensus(audit):
    [row] = aggregation.aggregate(audit).results["labels"]
    return row["consensus"]


def test_accuracy_is_unchanged_by_decoys_marked_red(synthetic, reader):
    plain = _audit(synthetic, [reader], 0.0, "plain")
    mixed = _audit(synthetic, [reader], 0.2, "with controls")
    real = list(plain.samples.order_by("position").values_list("image_id", flat=True))
    assert real == list(
        mixed.samples.filter(is_decoy=False).order_by("position").values_list("image_id", flat=True)
    )  # the same real tiles in the same order
    for audit in (plain, mixed):
        for i, sample in enumerate(audit.samples.order_by("position")):
            if sample.is_decoy:
                verdict = "red"
            else:
                verdict = "green" if real.index(sample.image_id) % 3 else "red"
            mark_set(
                sample=sample, reader=reader, idempotency_key=f"{audit.pk}-{i}", verdict=verdict
            )
    assert mixed.samples.filter(is_decoy=True).count() == 8
    without, with_decoys = _consensus(plain), _consensus(mixed)
    assert with_decoys["accuracy"] == without["accuracy"] == 20 / 30
    assert with_decoys["accuracy_wilson"] == without["accuracy_wilson"]
    assert (
        (with_decoys["red"], with_decoys["green"]) == (without["red"], without["green"]) == (10, 20)
    )


def test_a_model_review_counts_only_its_dataset_positive_cells_as_label_accuracy(
    drain_run, synthetic, reader
):
    audit = create_model_review(
        run=drain_run, name="m", labels=[synthetic.pneumothorax], per_cell=5, readers=[reader],
        build=False,
    )  # fmt: skip
    build_sample_set(audit=audit)
    for sample in audit.samples.all():  # TP, FN: the label is right; FP, TN: absent, as labelled
        verdict = "green" if sample.cell in ("tp", "fn") else "red"
        mark_set(sample=sample, reader=reader, idempotency_key=str(sample.pk), verdict=verdict)
    consensus = _consensus(audit)
    assert consensus["accuracy"] == 1.0
    assert consensus["green"] == audit.samples.filter(cell__in=["tp", "fn"]).count()


def test_the_relabeled_export_ignores_decoys_and_controls(synthetic, reader):
    from datasets.relabeled import reviews

    mixed = _audit(synthetic, [reader], 0.2, "with controls")
    for i, sample in enumerate(mixed.samples.all()):
        mark_set(sample=sample, reader=reader, idempotency_key=f"m{i}", verdict="red")
    shuffled = create_audit(
        dataset=synthetic.dataset, name="shuffled", labels=[synthetic.pneumothorax],
        per_label=30, readers=[reader], build=False, kind="shuffled_control",
    )  # fmt: skip
    build_sample_set(audit=shuffled)
    for i, sample in enumerate(shuffled.samples.all()):
        mark_set(sample=sample, reader=reader, idempotency_key=f"s{i}", verdict="red")
    found = reviews(synthetic.dataset, "consensus")
    real = set(mixed.samples.filter(is_decoy=False).values_list("image__key", flat=True))
    assert set(found) == real and all(r.audit_id == mixed.pk for rs in found.values() for r in rs)

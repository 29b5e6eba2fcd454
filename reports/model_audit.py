"""Model audits: a model's predictions against the dataset's labels and against the readers.

For each label a threshold (given, or the one maximising Youden's J on the dataset's labels)
puts every predicted image in a confusion cell (TP, FP, FN, TN against the dataset's labels).
A "model review" audit draws N images per cell per label (the seeded `sampling.draw`, one draw
per cell under the name "<label>:<cell>"), and readers answer "is <label> present?" with the
usual three marks: green present, orange doubtful, red absent.

The report puts side by side, per label:
* how many of the model's true positives readers confirm, and how many of its false positives
  are in fact positive (consensus green; Wilson 95% intervals);
* the model's AUC against the dataset's labels on every predicted image, and on the reviewed
  images against the dataset's labels and against the readers' consensus (DeLong 1988 95%
  intervals). Reviewed = a non-decoy sample whose consensus is green (present) or red (absent);
  orange (doubtful) and unread tiles are left out and counted. The reviewed images are a
  sample stratified by cell (N per cell, whatever the cell's size), so their AUCs are those of
  the enriched sample: compare the two reviewed AUCs with each other, not with the first one.
"""

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
from django.db import transaction

from annotation import sampling
from annotation.consensus import consensus_verdicts
from annotation.decoys import Planned
from annotation.models import Audit, Sample, Verdict
from annotation.services import DEFAULT_TAGS, AuditError, create_audit
from datasets.models import Image, ImageLabel, Label, ModelRun
from datasets.predictions import scores_of

from . import model_stats as ms
from .stats import proportion_ci

CELL_NAMES = dict(Sample.Cell.choices)


@dataclass
class LabelVectors:
    """One label's predicted images: ids, dataset truth (1/0) and scores, aligned."""

    image_ids: np.ndarray
    truth: np.ndarray
    scores: np.ndarray
    uncertain: int  # predicted images whose dataset label is uncertain: left out


def _member_ids(label: Label) -> list[int]:
    if label.kind == Label.Kind.MERGED:
        return [member.pk for member in label.members.all()]
    return [label.pk]


def label_vectors(run: ModelRun, label: Label) -> LabelVectors:
    scores = scores_of(run, label)
    positive: set[int] = set()
    uncertain: set[int] = set()
    values = ImageLabel.objects.filter(
        label_id__in=_member_ids(label), image__dataset_id=run.dataset_id
    ).values_list("image_id", "value")
    for image_id, value in values.iterator(chunk_size=20000):
        if value == ImageLabel.Value.POSITIVE:
            positive.add(image_id)
        elif value == ImageLabel.Value.UNCERTAIN:
            uncertain.add(image_id)
    uncertain -= positive  # a merged label is positive when any member is
    ids = np.array(sorted(pk for pk in scores if pk not in uncertain), dtype=np.int64)
    return LabelVectors(
        image_ids=ids,
        truth=np.array([1 if pk in positive else 0 for pk in ids], dtype=np.int8),
        scores=np.array([scores[pk] for pk in ids], dtype=float),
        uncertain=sum(1 for pk in scores if pk in uncertain),
    )


@dataclass
class RunLabel:
    label: Label
    images: int
    positives: int
    uncertain: int
    auc: ms.AucEstimate
    youden: ms.Threshold | None
    cells: dict[str, int] = field(default_factory=dict)


def run_summary(run: ModelRun) -> list[RunLabel]:
    """Per label of the run: AUC against the dataset's labels and the Youden threshold."""
    rows = []
    for label in run.labels.prefetch_related("members").order_by("name"):
        vectors = label_vectors(run, label)
        estimate = ms.delong_auc(vectors.truth, vectors.scores)
        youden = ms.youden_threshold(vectors.truth, vectors.scores) if estimate.defined else None
        cells = (
            ms.cell_counts(ms.confusion_cells(vectors.truth, vectors.scores, youden.value))
            if youden
            else {}
        )
        rows.append(
            RunLabel(label, len(vectors.truth), int(vectors.truth.sum()), vectors.uncertain,
                     estimate, youden, cells)
        )  # fmt: skip
    return rows


_AUC_FLOATS = ("value", "se", "ci_low", "ci_high")


def _json(values: dict) -> dict:
    """NaN as null: PostgreSQL's jsonb has no NaN."""
    return {k: None if isinstance(v, float) and v != v else v for k, v in values.items()}


def _unjson(values: dict, floats: tuple[str, ...]) -> dict:
    return {k: float("nan") if k in floats and v is None else v for k, v in values.items()}


def cached_run_summary(run: ModelRun) -> list[RunLabel]:
    """run_summary, computed once per run and kept in run.summary (the scores never change)."""
    if not run.summary:
        rows = run_summary(run)
        run.summary = [
            {
                "label": row.label.pk, "images": row.images, "positives": row.positives,
                "uncertain": row.uncertain, "auc": _json(asdict(row.auc)),
                "youden": _json(asdict(row.youden)) if row.youden else None, "cells": row.cells,
            }
            for row in rows
        ]  # fmt: skip
        ModelRun.objects.filter(pk=run.pk).update(summary=run.summary)
    labels = Label.objects.in_bulk([item["label"] for item in run.summary])
    return [
        RunLabel(
            labels[item["label"]],
            item["images"],
            item["positives"],
            item["uncertain"],
            ms.AucEstimate(**_unjson(item["auc"], _AUC_FLOATS)),
            ms.Threshold(**item["youden"]) if item["youden"] else None,
            item["cells"],
        )  # fmt: skip
        for item in run.summary
        if item["label"] in labels
    ]


def choose_threshold(run: ModelRun, label: Label, given: float | None) -> dict:
    """{"value", "chosen_by", "sensitivity", "specificity"} for the label; None: Youden's J."""
    vectors = label_vectors(run, label)
    if vectors.truth.sum() == 0 or vectors.truth.sum() == len(vectors.truth):
        raise AuditError(
            f"{label.name}: the predicted images need positives and negatives in the dataset"
        )
    point = (
        ms.youden_threshold(vectors.truth, vectors.scores)
        if given is None
        else ms.operating_point(vectors.truth, vectors.scores, given)
    )
    return {
        "value": point.value,
        "chosen_by": point.chosen_by,
        "sensitivity": point.sensitivity,
        "specificity": point.specificity,
    }


def create_model_review(
    *,
    run: ModelRun,
    name: str,
    labels: Sequence[Label] | None = None,
    thresholds: dict[int, float | None] | None = None,
    per_cell: int = 18,
    grid_size: int = 18,
    seed: int = 7,
    one_per_patient: bool = True,
    view_filter: str = "",
    blinded: bool = True,
    tags: Sequence[tuple[str, str]] = DEFAULT_TAGS,
    readers: Sequence = (),
    created_by=None,
    build: bool = True,
) -> Audit:
    """A model-review audit of `run` (labels None: every label of the run); a threshold None
    or missing is the label's Youden-J maximiser. Queues the sample set like any audit."""
    available = {label.pk: label for label in run.labels.prefetch_related("members")}
    chosen = list(available.values()) if labels is None else list(labels)
    strangers = [label.name for label in chosen if label.pk not in available]
    if strangers:
        raise AuditError(f"the model run {run.name} has no scores for {', '.join(strangers)}")
    if per_cell < 1:
        raise AuditError(f"images per cell must be at least 1, not {per_cell}")
    thresholds = thresholds or {}
    # Youden thresholds come from the run's kept summary (no score read again); a given one
    # needs the label's scores for its sensitivity and specificity.
    youden = {row.label.pk: row.youden for row in cached_run_summary(run)}
    decided = {}
    for label in chosen:
        given, known = thresholds.get(label.pk), youden.get(label.pk)
        if given is None and known is not None:
            decided[str(label.pk)] = {
                "value": known.value, "chosen_by": known.chosen_by,
                "sensitivity": known.sensitivity, "specificity": known.specificity,
            }  # fmt: skip
        else:
            decided[str(label.pk)] = choose_threshold(run, available[label.pk], given)
    with transaction.atomic():
        audit = create_audit(
            dataset=run.dataset, name=name, labels=chosen, per_label=per_cell,
            grid_size=grid_size, seed=seed, one_per_patient=one_per_patient,
            sole_label_only=False, view_filter=view_filter, blinded=blinded,
            kind=Audit.Kind.MODEL_REVIEW, tags=tags, readers=readers, created_by=created_by,
            build=False,
        )  # fmt: skip
        audit.model_run = run
        audit.thresholds = decided
        audit.save(update_fields=["model_run", "thresholds"])
        if build:
            from annotation.tasks import build_sample_set

            transaction.on_commit(lambda: build_sample_set.delay(audit.pk))
    return audit


def draw_model_review(
    audit: Audit, labels: list[Label], progress: Callable[[int], None] | None = None
) -> dict[int, list[Planned]]:
    """Per label: N images per cell (TP, FP, FN, TN in this order), each cell drawn with the
    seeded sampling.draw under the name "<label>:<cell>". Called by build_sample_set."""
    if audit.model_run_id is None:
        raise AuditError("a model review needs a model run")
    run = audit.model_run
    # Built once for every label: 112,120 candidates per label otherwise.
    everyone = {
        pk: sampling.Candidate(pk, key, patient, view, frozenset())
        for pk, key, patient, view in Image.objects.filter(dataset_id=audit.dataset_id)
        .values_list("pk", "key", "patient_id", "view_position")
        .iterator(chunk_size=20000)
    }
    rules = sampling.Rules(
        per_label=audit.per_label, seed=audit.seed, one_per_patient=audit.one_per_patient,
        view=audit.view_filter,
    )  # fmt: skip
    drawn: dict[int, list[Planned]] = {}
    for done, label in enumerate(labels, start=1):
        threshold = audit.thresholds.get(str(label.pk))
        if threshold is None:
            raise AuditError(f"no threshold recorded for {label.name}")
        vectors = label_vectors(run, label)
        cells = ms.confusion_cells(vectors.truth, vectors.scores, threshold["value"])
        planned: list[Planned] = []
        for cell in ms.CELLS:
            candidates = [everyone[pk] for pk in vectors.image_ids[cells == cell].tolist()]
            chosen = sampling.draw(candidates, label=f"{label.name}:{cell}", rules=rules)
            planned.extend(Planned(candidate.image_id, cell=cell) for candidate in chosen)
        drawn[label.pk] = planned
        Audit.objects.filter(pk=audit.pk).update(build_done=done)
        if progress:
            progress(1)
    return drawn


# -- the report ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Share:
    """k of n with a Wilson 95% interval."""

    k: int
    n: int

    @property
    def value(self) -> float:
        return self.k / self.n if self.n else float("nan")

    @property
    def interval(self) -> tuple[float, float]:
        return proportion_ci(self.k, self.n) if self.n else (float("nan"), float("nan"))


@dataclass
class CellReport:
    cell: str
    name: str
    population: int
    sampled: int
    green: int = 0
    orange: int = 0
    red: int = 0

    @property
    def unread(self) -> int:
        return self.sampled - self.green - self.orange - self.red


@dataclass
class Curve:
    name: str
    css: str
    estimate: ms.AucEstimate
    fpr: np.ndarray | None = None
    tpr: np.ndarray | None = None


@dataclass
class ModelLabelReport:
    label: Label
    threshold: dict
    cells: list[CellReport]
    confirmed_tp: Share  # TP tiles whose consensus is green
    confirmed_tp_lenient: Share  # ... green or orange
    fp_positive: Share  # FP tiles whose consensus is green: the label was missing
    auc_all: Curve
    auc_reviewed_dataset: Curve
    auc_reviewed_readers: Curve
    left_out: int  # reviewed tiles with an orange consensus (doubtful), not in the AUCs


def _curve(name: str, css: str, truth, scores) -> Curve:
    estimate = ms.delong_auc(truth, scores)
    if not estimate.defined:
        return Curve(name, css, estimate)
    fpr, tpr = ms.downsample_curve(ms.roc_curve(truth, scores))
    return Curve(name, css, estimate, fpr, tpr)


def model_report(audit: Audit) -> list[ModelLabelReport]:
    """The per-label report of a model-review audit (see the module doc)."""
    if audit.kind != Audit.Kind.MODEL_REVIEW or audit.model_run_id is None:
        raise AuditError("not a model-review audit")
    run = audit.model_run
    consensus = consensus_verdicts(audit)
    samples = list(
        Sample.objects.filter(audit=audit, is_decoy=False).values_list(
            "pk", "label_id", "image_id", "cell"
        )
    )
    reports = []
    for label in audit.labels.prefetch_related("members").order_by("name"):
        threshold = audit.thresholds.get(str(label.pk), {})
        vectors = label_vectors(run, label)
        population = ms.cell_counts(
            ms.confusion_cells(vectors.truth, vectors.scores, threshold.get("value", np.inf))
        )
        score_of = dict(zip(vectors.image_ids.tolist(), vectors.scores.tolist(), strict=True))
        cells = {cell: CellReport(cell, CELL_NAMES[cell], population[cell], 0) for cell in ms.CELLS}
        reviewed: list[tuple[int, int, float]] = []  # (dataset truth, readers' truth, score)
        left_out = 0
        for pk, label_id, image_id, cell in samples:
            if label_id != label.pk or cell not in cells:
                continue
            report = cells[cell]
            report.sampled += 1
            verdict = consensus[pk].verdict if pk in consensus else ""
            if verdict == Verdict.GREEN:
                report.green += 1
            elif verdict == Verdict.ORANGE:
                report.orange += 1
                left_out += 1
            elif verdict == Verdict.RED:
                report.red += 1
            if verdict in (Verdict.GREEN, Verdict.RED) and image_id in score_of:
                dataset_truth = 1 if cell in (ms.TP, ms.FN) else 0
                reviewed.append(
                    (dataset_truth, 1 if verdict == Verdict.GREEN else 0, score_of[image_id])
                )
        tp, fp = cells[ms.TP], cells[ms.FP]
        data = np.array(reviewed, dtype=float).reshape(-1, 3)
        reports.append(
            ModelLabelReport(
                label=label,
                threshold=threshold,
                cells=list(cells.values()),
                confirmed_tp=Share(tp.green, tp.green + tp.orange + tp.red),
                confirmed_tp_lenient=Share(tp.green + tp.orange, tp.green + tp.orange + tp.red),
                fp_positive=Share(fp.green, fp.green + fp.orange + fp.red),
                auc_all=_curve("dataset labels, every image", "all", vectors.truth, vectors.scores),
                auc_reviewed_dataset=_curve(
                    "dataset labels, reviewed images", "dataset", data[:, 0], data[:, 2]
                ),
                auc_reviewed_readers=_curve(
                    "readers' verdicts, reviewed images", "readers", data[:, 1], data[:, 2]
                ),
                left_out=left_out,
            )
        )
    return reports


CSV_HEADER = (
    "label", "threshold", "threshold_chosen_by",
    "tp_images", "fp_images", "fn_images", "tn_images",
    "tp_read", "tp_confirmed", "tp_confirmed_share", "tp_confirmed_low", "tp_confirmed_high",
    "fp_read", "fp_positive", "fp_positive_share", "fp_positive_low", "fp_positive_high",
    "auc_dataset_all", "auc_dataset_all_low", "auc_dataset_all_high",
    "auc_dataset_reviewed", "auc_dataset_reviewed_low", "auc_dataset_reviewed_high",
    "auc_readers_reviewed", "auc_readers_reviewed_low", "auc_readers_reviewed_high",
    "reviewed_positive_by_readers", "reviewed_negative_by_readers", "doubtful_left_out",
)  # fmt: skip


def report_rows(reports: list[ModelLabelReport]) -> list[list]:
    """The model report as CSV rows (shares 0-1, 95% limits; AUC intervals DeLong)."""
    rows = []
    for report in reports:
        cells = {cell.cell: cell for cell in report.cells}
        row = [report.label.name, report.threshold.get("value"), report.threshold.get("chosen_by")]
        row += [cells[cell].population for cell in ms.CELLS]
        for share in (report.confirmed_tp, report.fp_positive):
            row += [share.n, share.k, share.value, *share.interval]
        for curve in (report.auc_all, report.auc_reviewed_dataset, report.auc_reviewed_readers):
            row += [curve.estimate.value, curve.estimate.ci_low, curve.estimate.ci_high]
        readers = report.auc_reviewed_readers.estimate
        row += [readers.positives, readers.negatives, report.left_out]
        rows.append(["" if isinstance(v, float) and v != v else v for v in row])
    return rows

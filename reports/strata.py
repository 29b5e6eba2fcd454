"""Hidden strata: what the tags readers put on tiles say about a label (and a model).

A tile "shows" a tag when any of its readers ticked it (one reader seeing a chest drain is
enough: tags record what is visible, not a judgement). Decoys are left out everywhere.
A tile is "read" when its consensus verdict is not empty (annotation.consensus).

Per label and tag:
* share of the label's read images showing the tag, Wilson 95% interval. The label's images
  are the tiles whose dataset label is positive: every tile of a label review, the TP and FN
  cells of a model review.
* the label's accuracy with and without the tag: consensus green or orange over read tiles,
  among the label's images, Wilson 95% intervals.
* model reviews: the model's sensitivity with and without the tag, against the dataset's
  labels (TP over TP + FN), each tile weighted by its cell's size over the tiles read in that
  cell (the sample is stratified by cell, N per cell whatever the cell's size); and the AUC
  with and without the tag on the read tiles against the dataset's labels (DeLong 1988).
* the flag: Fisher's exact test (two-sided) of the tag's prevalence between positive and
  negative cells. Model review: two tests within the dataset's classes, so that a tag merely
  common with the finding (drains come with pneumothorax) is not flagged: TP against FN (does
  the tag decide which positives the model finds?) and FP against TN (does it decide its false
  alarms?). Label review: tiles readers accept (green or orange) against tiles they reject
  (red). Flagged when p < 0.05 / (number of tests over the label's tags), Bonferroni.
"""

from dataclasses import dataclass, field

import numpy as np

from annotation.consensus import consensus_verdicts
from annotation.models import Audit, Mark, Sample, Verdict

from . import model_stats as ms
from .model_audit import Share, label_vectors


@dataclass
class TagStratum:
    tag: str
    share: Share  # of the label's read images showing the tag
    accuracy_with: Share
    accuracy_without: Share
    tests: list[tuple[str, ms.FisherTest]]
    sensitivity_with: float = float("nan")
    sensitivity_without: float = float("nan")
    sensitivity_counts: tuple[int, int, int, int] = (0, 0, 0, 0)  # TP/FN with, TP/FN without
    auc_with: ms.AucEstimate | None = None
    auc_without: ms.AucEstimate | None = None

    @property
    def flagged(self) -> bool:
        return any(test.flagged for _, test in self.tests)


@dataclass
class LabelStrata:
    label_name: str
    read: int
    tags: list[TagStratum] = field(default_factory=list)


def _tags_by_sample(audit: Audit) -> dict[int, set[int]]:
    through = Mark.tags.through
    shown: dict[int, set[int]] = {}
    for sample_id, tag_id in through.objects.filter(
        mark__sample__audit=audit, mark__sample__is_decoy=False
    ).values_list("mark__sample_id", "tag_id"):
        shown.setdefault(sample_id, set()).add(tag_id)
    return shown


def _accepted(verdict: str) -> bool:
    return verdict in (Verdict.GREEN, Verdict.ORANGE)


def strata_report(audit: Audit) -> list[LabelStrata]:
    consensus = consensus_verdicts(audit)
    shown = _tags_by_sample(audit)
    tags = list(audit.tags.all())
    model = audit.kind == Audit.Kind.MODEL_REVIEW and audit.model_run_id is not None
    rows = list(
        Sample.objects.filter(audit=audit, is_decoy=False).values_list(
            "pk", "label_id", "image_id", "cell"
        )
    )
    result = []
    for label in audit.labels.prefetch_related("members").order_by("name"):
        tiles = [
            (pk, image_id, cell, consensus[pk].verdict)
            for pk, label_id, image_id, cell in rows
            if label_id == label.pk and pk in consensus and consensus[pk].verdict
        ]
        strata = LabelStrata(label.name, len(tiles))
        scores: dict[int, float] = {}
        weights: dict[str, float] = {}
        if model:
            vectors = label_vectors(audit.model_run, label)
            scores = dict(zip(vectors.image_ids.tolist(), vectors.scores.tolist(), strict=True))
            threshold = audit.thresholds.get(str(label.pk), {}).get("value", np.inf)
            population = ms.cell_counts(
                ms.confusion_cells(vectors.truth, vectors.scores, threshold)
            )
            read_in = {cell: sum(1 for t in tiles if t[2] == cell) for cell in ms.CELLS}
            weights = {
                cell: population[cell] / read_in[cell] if read_in[cell] else 0.0
                for cell in ms.CELLS
            }
        own = [t for t in tiles if not model or t[2] in (ms.TP, ms.FN)]
        for tag in tags:
            with_tag = [t for t in own if tag.pk in shown.get(t[0], ())]
            without = [t for t in own if tag.pk not in shown.get(t[0], ())]
            if model:
                pairs = [
                    ("TP vs FN", [ms.TP], [ms.FN]),
                    ("FP vs TN", [ms.FP], [ms.TN]),
                ]
                groups = [
                    (name, [t for t in tiles if t[2] in a], [t for t in tiles if t[2] in b])
                    for name, a, b in pairs
                ]
            else:
                groups = [
                    (
                        "accepted vs rejected",
                        [t for t in tiles if _accepted(t[3])],
                        [t for t in tiles if t[3] == Verdict.RED],
                    )
                ]
            tests = [
                (
                    name,
                    ms.tag_cells_test(
                        sum(1 for t in positive if tag.pk in shown.get(t[0], ())),
                        len(positive),
                        sum(1 for t in negative if tag.pk in shown.get(t[0], ())),
                        len(negative),
                        tests=len(tags) * len(groups),
                    ),
                )
                for name, positive, negative in groups
            ]
            stratum = TagStratum(
                tag=tag.name,
                share=Share(len(with_tag), len(own)),
                accuracy_with=Share(sum(_accepted(t[3]) for t in with_tag), len(with_tag)),
                accuracy_without=Share(sum(_accepted(t[3]) for t in without), len(without)),
                tests=tests,
            )
            if model:
                _add_model_strata(stratum, tiles, shown, tag.pk, scores, weights)
            strata.tags.append(stratum)
        result.append(strata)
    return result


def _add_model_strata(stratum, tiles, shown, tag_id, scores, weights) -> None:
    has = [tag_id in shown.get(t[0], ()) for t in tiles]
    counts = []
    for flag in (True, False):
        group = [t for t, h in zip(tiles, has, strict=True) if h == flag]
        positives = [t for t in group if t[2] in (ms.TP, ms.FN)]
        hits = [1 if t[2] == ms.TP else 0 for t in positives]
        sensitivity = ms.weighted_proportion(hits, [weights[t[2]] for t in positives])
        counts += [sum(hits), len(hits) - sum(hits)]
        scored = [t for t in group if t[1] in scores]
        truth = [1 if t[2] in (ms.TP, ms.FN) else 0 for t in scored]
        estimate = ms.delong_auc(truth, [scores[t[1]] for t in scored])
        if flag:
            stratum.sensitivity_with, stratum.auc_with = sensitivity, estimate
        else:
            stratum.sensitivity_without, stratum.auc_without = sensitivity, estimate
    stratum.sensitivity_counts = tuple(counts)

"""The figures of an audit report, from plain data to a JSON-ready dict. No ORM here.

`compute(data)` takes an `AuditData` (labels, readers, samples, verdicts, tags, consensus,
reading time: plain Python values that `reports.aggregation` reads from the database) and
returns `(results, matrices)`: every statistic the dashboards and downloads show, and the raw
readers x items rating matrices. All statistics come from `reports.stats`.

Units and conventions (see DESIGN.md, "Statistics, defined"):
* accuracy = (green + orange) / n, strict accuracy = green / n, n = verdicts given (unmarked
  tiles are counted apart, never as wrong);
* agreement on the three-level scale red < orange < green and on the binary collapse
  red vs not red; Fleiss' kappa only over the images every reader of the label marked (it needs
  the same number of ratings per image), Krippendorff and Gwet over all images with 2+ ratings;
* per tag: the unit is a reader's mark (one image marked by three readers counts three times).

NaN never reaches the JSON: an undefined value is None with its reason beside it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np

from . import stats

CODES = {"red": stats.RED, "orange": stats.ORANGE, "green": stats.GREEN}
MIN_SHARED_FOR_PAIR = 10  # a reader pair needs this many jointly marked images for Cohen's kappa


@dataclass(frozen=True)
class LabelInfo:
    id: int
    name: str
    reference: float | None = None
    reference_source: str = ""


@dataclass(frozen=True)
class ReaderInfo:
    id: int
    name: str


@dataclass
class AuditData:
    labels: list[LabelInfo]
    readers: list[ReaderInfo]
    samples: dict[int, list[int]]  # label id -> sample ids, in position order
    verdicts: dict[tuple[int, int], str]  # (sample id, reader id) -> green/orange/red
    consensus: dict[int, tuple[str, str]]  # sample id -> (verdict or "", source)
    tags: list[tuple[int, str]] = field(default_factory=list)
    mark_tags: dict[tuple[int, int], frozenset[int]] = field(default_factory=dict)
    # (reader id, label id, grid, seconds) from the reading room's timer
    grid_seconds: list[tuple[int, int, int, float]] = field(default_factory=list)
    grid_size: int = 18


@dataclass(frozen=True)
class Parameters:
    n_boot: int = stats.DEFAULT_N_BOOT
    seed: int = 0
    level: float = 0.95
    min_shared: int = MIN_SHARED_FOR_PAIR

    def as_dict(self) -> dict[str, Any]:
        return {
            "bootstrap_resamples": self.n_boot,
            "bootstrap_seed": self.seed,
            "confidence_level": self.level,
            "min_shared_images_for_a_pair": self.min_shared,
        }


def clean(value: Any) -> Any:
    """NaN and infinities to None, numpy scalars to Python, recursively (JSON-safe)."""
    if isinstance(value, dict):
        return {key: clean(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [clean(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def estimate_dict(estimate: stats.Estimate, n_items: int | None = None) -> dict[str, Any]:
    out = {
        "value": estimate.value,
        "se": estimate.se,
        "ci_low": estimate.ci_low,
        "ci_high": estimate.ci_high,
        "method": estimate.method,
        "reason": estimate.reason,
    }
    if n_items is not None:
        out["n_items"] = n_items
    return out


def proportion_block(
    codes: np.ndarray,
    n_samples: int,
    reference: float | None,
    level: float,
    methods: tuple[str, ...] = ("wilson", "clopper-pearson"),
) -> dict[str, Any]:
    """Counts, accuracy and strict accuracy with Wilson and Clopper-Pearson intervals, and the
    comparison with the paper's claim (flagged when the claim lies outside the Wilson interval
    of accuracy)."""
    counts = stats.accuracy_counts(codes)
    block: dict[str, Any] = {
        "n": counts.n,
        "green": counts.green,
        "orange": counts.orange,
        "red": counts.red,
        "unmarked": n_samples - counts.n,
        "accuracy": counts.accuracy,
        "strict_accuracy": counts.strict_accuracy,
    }
    correct = counts.green + counts.orange
    for name, successes in (("accuracy", correct), ("strict", counts.green)):
        for method, key in (("wilson", "wilson"), ("clopper-pearson", "cp")):
            if method in methods:
                block[f"{name}_{key}"] = list(
                    stats.proportion_ci(successes, counts.n, method, level)
                )
    block["reference"] = reference
    if reference is None or counts.n == 0:
        block["difference"] = None
        block["claim_outside_wilson"] = None
        block["claim_outside_cp"] = None
    else:
        block["difference"] = counts.accuracy - reference
        for key in ("wilson", "cp"):
            if f"accuracy_{key}" not in block:
                continue
            low, high = block[f"accuracy_{key}"]
            block[f"claim_outside_{key}"] = not low <= reference <= high
    return block


def agreement_block(matrix: np.ndarray, categories: tuple[int, ...], p: Parameters) -> dict:
    """Fleiss, Krippendorff nominal and ordinal, Gwet's AC1 and percent agreement of one
    ``readers x items`` matrix (NaN = not marked)."""
    rated_by = (~np.isnan(matrix)).sum(axis=0)
    readers_used = int(((~np.isnan(matrix)).sum(axis=1) > 0).sum())
    pairable = int((rated_by >= 2).sum())
    # Fleiss needs the same m for every item: the items every active reader marked.
    active = matrix[(~np.isnan(matrix)).any(axis=1)]
    complete = active[:, ~np.isnan(active).any(axis=0)] if active.size else active
    if active.shape[0] >= 2 and complete.shape[1] >= 1:
        fleiss = stats.fleiss_kappa(
            stats.category_counts(complete, categories), n_boot=p.n_boot, seed=p.seed, level=p.level
        )
        fleiss_block = estimate_dict(fleiss, complete.shape[1])
        if fleiss.defined:
            fleiss_block["per_category"] = list(fleiss.per_category)
    else:
        reason = f"{active.shape[0]} reader(s) marked this label; need 2 who marked the same images"
        fleiss_block = {"value": None, "reason": reason, "n_items": 0}
    alpha_kwargs = {
        "categories": categories,
        "n_boot": p.n_boot,
        "seed": p.seed,
        "confidence": p.level,
    }
    return {
        "readers": readers_used,
        "pairable_items": pairable,
        "fleiss": fleiss_block,
        "krippendorff_nominal": estimate_dict(
            stats.krippendorff_alpha(matrix, "nominal", **alpha_kwargs), pairable
        ),
        "krippendorff_ordinal": estimate_dict(
            stats.krippendorff_alpha(matrix, "ordinal", **alpha_kwargs), pairable
        ),
        "gwet_ac1": estimate_dict(
            stats.gwet_ac1(matrix, categories=categories, level=p.level), pairable
        ),
        "percent_agreement": {"value": stats.percent_agreement(matrix), "n_items": pairable},
    }


def pair_blocks(
    matrix: np.ndarray, readers: list[ReaderInfo], p: Parameters
) -> tuple[list[dict], dict[str, int]]:
    """Cohen's kappa (unweighted, linear; and unweighted on the binary collapse) of every reader
    pair with at least `min_shared` images both marked; counts of pairs left out and undefined."""
    binary = stats.binary_collapse(matrix)
    pairs: list[dict] = []
    summary = {"pairs": 0, "too_few_shared": 0, "undefined": 0}
    for i, j in combinations(range(len(readers)), 2):
        summary["pairs"] += 1
        shared = int((~np.isnan(matrix[i]) & ~np.isnan(matrix[j])).sum())
        row: dict[str, Any] = {"a": readers[i].id, "b": readers[j].id, "n_shared": shared}
        if shared < p.min_shared:
            summary["too_few_shared"] += 1
            row["reason"] = f"{shared} images marked by both; need {p.min_shared}"
            pairs.append(row)
            continue
        kappa = stats.cohen_kappa(matrix[i], matrix[j], categories=stats.VERDICTS, level=p.level)
        linear = stats.cohen_kappa(
            matrix[i], matrix[j], weights="linear", categories=stats.VERDICTS, level=p.level
        )
        collapsed = stats.cohen_kappa(binary[i], binary[j], categories=(0, 1), level=p.level)
        if not kappa.defined:
            summary["undefined"] += 1
        row.update(
            kappa=estimate_dict(kappa), kappa_linear=estimate_dict(linear),
            kappa_binary=estimate_dict(collapsed),
        )  # fmt: skip
        pairs.append(row)
    return pairs, summary


def tag_blocks(data: AuditData, sample_ids: list[int], p: Parameters) -> list[dict]:
    """Per tag: the share of marks carrying it (Wilson interval) and accuracy with and without."""
    marks = [
        (CODES[data.verdicts[(sample, reader.id)]], data.mark_tags.get((sample, reader.id), ()))
        for sample in sample_ids
        for reader in data.readers
        if (sample, reader.id) in data.verdicts
    ]
    out = []
    for tag_id, tag_name in data.tags:
        with_tag = np.array([code for code, tags in marks if tag_id in tags], dtype=float)
        without = np.array([code for code, tags in marks if tag_id not in tags], dtype=float)
        marked, total = with_tag.size, len(marks)
        out.append(
            {
                "tag": tag_id,
                "name": tag_name,
                "marked": marked,
                "of": total,
                "share": marked / total if total else None,
                "share_wilson": list(stats.proportion_ci(marked, total, "wilson", p.level)),
                # Wilson only: strata are descriptive, and the exact interval costs 10x more.
                "with": proportion_block(with_tag, with_tag.size, None, p.level, ("wilson",)),
                "without": proportion_block(without, without.size, None, p.level, ("wilson",)),
            }
        )
    return out


def rating_matrix(data: AuditData, sample_ids: list[int]) -> np.ndarray:
    matrix = np.full((len(data.readers), len(sample_ids)), np.nan)
    for i, reader in enumerate(data.readers):
        for k, sample in enumerate(sample_ids):
            verdict = data.verdicts.get((sample, reader.id))
            if verdict:
                matrix[i, k] = CODES[verdict]
    return matrix


def compute(data: AuditData, p: Parameters | None = None) -> tuple[dict, dict]:
    p = p or Parameters()
    labels_out, matrices = [], {}
    all_ids: list[int] = []
    for label in data.labels:
        ids = data.samples.get(label.id, [])
        all_ids.extend(ids)
        matrix = rating_matrix(data, ids)
        matrices[str(label.id)] = {
            "label": label.name,
            "samples": ids,
            "readers": [reader.id for reader in data.readers],
            "ratings": [[None if np.isnan(v) else int(v) for v in row] for row in matrix],
            "consensus": [data.consensus.get(sample, ("", "unmarked"))[0] for sample in ids],
        }
        consensus_codes = np.array(
            [CODES.get(data.consensus.get(s, ("", ""))[0], np.nan) for s in ids], dtype=float
        )
        sources: dict[str, int] = {}
        for sample in ids:
            source = data.consensus.get(sample, ("", "unmarked"))[1]
            sources[source] = sources.get(source, 0) + 1
        pairs, pair_summary = pair_blocks(matrix, data.readers, p)
        labels_out.append(
            {
                "id": label.id,
                "name": label.name,
                "n_samples": len(ids),
                "reference": label.reference,
                "reference_source": label.reference_source,
                "consensus": {
                    **proportion_block(consensus_codes, len(ids), label.reference, p.level),
                    "sources": sources,
                },
                "readers": {
                    str(reader.id): proportion_block(matrix[i], len(ids), label.reference, p.level)
                    for i, reader in enumerate(data.readers)
                },
                "agreement": {
                    "three_level": agreement_block(matrix, stats.VERDICTS, p),
                    "binary": agreement_block(stats.binary_collapse(matrix), (0, 1), p),
                },
                "pairs": pairs,
                "pair_summary": pair_summary,
                "tags": tag_blocks(data, ids, p),
            }
        )
    pooled = rating_matrix(data, all_ids)
    pooled_pairs, pooled_summary = pair_blocks(pooled, data.readers, p)
    results = {
        "parameters": p.as_dict(),
        "readers": [{"id": r.id, "name": r.name} for r in data.readers],
        "tags": [{"id": tag_id, "name": name} for tag_id, name in data.tags],
        "labels": labels_out,
        "pooled": {
            "pairs": pooled_pairs,
            "pair_summary": pooled_summary,
            "tags": tag_blocks(data, all_ids, p),
        },
        "reader_summary": reader_summary(data, pooled, all_ids, p),
        "progress": progress(data, pooled, all_ids),
    }
    return clean(results), matrices


def reader_summary(data: AuditData, pooled: np.ndarray, all_ids: list[int], p: Parameters):
    seconds: dict[int, list[float]] = {}
    for reader_id, _label, _grid, secs in data.grid_seconds:
        seconds.setdefault(reader_id, []).append(secs)
    out = []
    for i, reader in enumerate(data.readers):
        block = proportion_block(pooled[i], len(all_ids), None, p.level)
        times = seconds.get(reader.id, [])
        out.append(
            {
                "id": reader.id,
                "name": reader.name,
                **block,
                "grids_timed": len(times),
                "seconds": float(sum(times)),
                "seconds_per_grid": float(np.median(times)) if times else None,
            }
        )
    return out


def progress(data: AuditData, pooled: np.ndarray, all_ids: list[int]) -> dict[str, Any]:
    marked = ~np.isnan(pooled)
    expected = len(all_ids) * len(data.readers)
    return {
        "samples": len(all_ids),
        "readers": len(data.readers),
        "marks": int(marked.sum()),
        "expected_marks": expected,
        "share": float(marked.sum() / expected) if expected else None,
        "samples_marked_by_all": int(marked.all(axis=0).sum()) if data.readers else 0,
        "samples_unmarked": int((~marked.any(axis=0)).sum()) if data.readers else len(all_ids),
    }

"""Statistics of model audits: ROC curves, AUC with DeLong intervals, thresholds, confusion
cells, and the tests behind the hidden-strata report.

Pure functions over numpy arrays (no Django import), usable from a notebook.

Conventions
-----------
* ``truth`` is 1 for a positive image and 0 for a negative one; ``scores`` are any real
  numbers, higher meaning "more likely positive" (probabilities or logits alike: AUC is a
  rank statistic).
* A score at or above the threshold is a positive call (``score >= threshold``).
* An undefined quantity (no positive or no negative image) is ``NaN`` with a ``reason``,
  never a silent 0.5.

References
----------
* DeLong E.R., DeLong D.M., Clarke-Pearson D.L. (1988). Comparing the areas under two or more
  correlated receiver operating characteristic curves: a nonparametric approach. Biometrics
  44(3):837-845. (The variance of the AUC from its structural components.)
* Sun X., Xu W. (2014). Fast implementation of DeLong's algorithm for comparing the areas
  under correlated receiver operating characteristic curves. IEEE Signal Processing Letters
  21(11):1389-1393. (The midrank computation used here: O(n log n) instead of O(mn).)
* Youden W.J. (1950). Index for rating diagnostic tests. Cancer 3(1):32-35.
* Fisher R.A. (1922); scipy.stats.fisher_exact for the 2x2 exact test.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats  # type: ignore[import-untyped]

FloatArray = NDArray[np.float64]

TP, FP, FN, TN = "tp", "fp", "fn", "tn"
CELLS: tuple[str, str, str, str] = (TP, FP, FN, TN)

# Strata flag: two-sided Fisher exact p below this, after Bonferroni over the tags of a label.
FLAG_ALPHA = 0.05


def _arrays(truth: ArrayLike, scores: ArrayLike) -> tuple[NDArray[np.int8], FloatArray]:
    y = np.asarray(truth, dtype=float)
    s = np.asarray(scores, dtype=float)
    if y.shape != s.shape or y.ndim != 1:
        raise ValueError(f"truth and scores must be 1-d of one length, got {y.shape} and {s.shape}")
    if not np.all((y == 0) | (y == 1)):
        raise ValueError("truth must hold only 0 and 1")
    if not np.all(np.isfinite(s)):
        raise ValueError("scores must be finite numbers")
    return y.astype(np.int8), s


@dataclass(frozen=True)
class AucEstimate:
    """An AUC with its DeLong standard error and a Wald interval clipped to [0, 1]."""

    value: float
    se: float
    ci_low: float
    ci_high: float
    positives: int
    negatives: int
    method: str = "DeLong (1988)"
    reason: str | None = None

    @property
    def defined(self) -> bool:
        return self.reason is None


def _undefined_auc(reason: str, positives: int, negatives: int) -> AucEstimate:
    nan = float("nan")
    return AucEstimate(nan, nan, nan, nan, positives, negatives, reason=reason)


def auc(truth: ArrayLike, scores: ArrayLike) -> float:
    """Area under the ROC curve: P(score of a positive > score of a negative), ties count 1/2
    (the Mann-Whitney U statistic over m·n). NaN without both classes."""
    return delong_auc(truth, scores).value


def delong_auc(truth: ArrayLike, scores: ArrayLike, level: float = 0.95) -> AucEstimate:
    """AUC with DeLong's (1988) variance, from midranks (Sun & Xu 2014).

    For m positives X and n negatives Y, the structural components are
    V10(X_i) = mean_j psi(X_i, Y_j) and V01(Y_j) = mean_i psi(X_i, Y_j), with psi = 1 when the
    positive scores higher, 1/2 on a tie; Var(AUC) = S10/m + S01/n with S the sample variances
    (ddof 1). The interval is AUC ± z·SE, clipped to [0, 1]. Needs at least two images of
    each class for a standard error (one of a class gives the AUC without an interval).
    """
    y, s = _arrays(truth, scores)
    positive, negative = s[y == 1], s[y == 0]
    m, n = len(positive), len(negative)
    if m == 0 or n == 0:
        return _undefined_auc(f"needs positive and negative images ({m} and {n})", m, n)
    rank_x = stats.rankdata(positive)
    rank_y = stats.rankdata(negative)
    rank_z = stats.rankdata(np.concatenate([positive, negative]))
    value = float((rank_z[:m].sum() - m * (m + 1) / 2) / (m * n))
    if m < 2 or n < 2:
        nan = float("nan")
        return AucEstimate(value, nan, nan, nan, m, n)
    v10 = (rank_z[:m] - rank_x) / n
    v01 = 1.0 - (rank_z[m:] - rank_y) / m
    se = float(np.sqrt(np.var(v10, ddof=1) / m + np.var(v01, ddof=1) / n))
    z = float(stats.norm.isf((1 - level) / 2))
    return AucEstimate(value, se, max(0.0, value - z * se), min(1.0, value + z * se), m, n)


def bootstrap_auc_ci(
    truth: ArrayLike, scores: ArrayLike, *, n_boot: int = 2000, seed: int = 7, level: float = 0.95
) -> tuple[float, float]:
    """Percentile interval of the AUC from a seeded bootstrap stratified by class (positives
    and negatives resampled separately, so each resample keeps m and n)."""
    y, s = _arrays(truth, scores)
    positive, negative = s[y == 1], s[y == 0]
    if len(positive) == 0 or len(negative) == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    values = np.empty(n_boot)
    for b in range(n_boot):
        xs = rng.choice(positive, len(positive))
        ys = rng.choice(negative, len(negative))
        values[b] = auc(np.r_[np.ones(len(xs)), np.zeros(len(ys))], np.r_[xs, ys])
    alpha = (1 - level) / 2
    return (float(np.quantile(values, alpha)), float(np.quantile(values, 1 - alpha)))


@dataclass(frozen=True)
class RocCurve:
    """Points of the empirical ROC curve from (0, 0) to (1, 1); ``thresholds[k]`` is the
    threshold giving point k + 1 (point 0 is "call nothing positive")."""

    fpr: FloatArray
    tpr: FloatArray
    thresholds: FloatArray


def roc_curve(truth: ArrayLike, scores: ArrayLike) -> RocCurve:
    """The empirical ROC curve, one point per distinct score (descending)."""
    y, s = _arrays(truth, scores)
    m, n = int(y.sum()), int(len(y) - y.sum())
    if m == 0 or n == 0:
        raise ValueError(f"a ROC curve needs positive and negative images ({m} and {n})")
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    # The last index of each run of equal scores: the curve moves only between distinct scores.
    last = np.r_[np.nonzero(np.diff(s_sorted))[0], len(s_sorted) - 1]
    tp = np.cumsum(y_sorted)[last]
    fp = (last + 1) - tp
    return RocCurve(
        fpr=np.r_[0.0, fp / n],
        tpr=np.r_[0.0, tp / m],
        thresholds=s_sorted[last],
    )


@dataclass(frozen=True)
class Threshold:
    value: float
    sensitivity: float
    specificity: float
    youden_j: float
    chosen_by: str  # "given" or "Youden's J"


def operating_point(truth: ArrayLike, scores: ArrayLike, threshold: float) -> Threshold:
    """Sensitivity and specificity when ``score >= threshold`` is a positive call."""
    y, s = _arrays(truth, scores)
    called = s >= threshold
    m, n = int(y.sum()), int(len(y) - y.sum())
    sensitivity = float(called[y == 1].sum() / m) if m else float("nan")
    specificity = float((~called[y == 0]).sum() / n) if n else float("nan")
    return Threshold(
        float(threshold), sensitivity, specificity, sensitivity + specificity - 1, "given"
    )


def youden_threshold(truth: ArrayLike, scores: ArrayLike) -> Threshold:
    """The threshold maximising Youden's J = sensitivity + specificity - 1 over the distinct
    scores; on a tie, the highest such threshold (fewest positive calls)."""
    curve = roc_curve(truth, scores)
    j = curve.tpr[1:] - curve.fpr[1:]
    best = int(np.argmax(j))  # first maximum = highest threshold, scores being descending
    return Threshold(
        value=float(curve.thresholds[best]),
        sensitivity=float(curve.tpr[best + 1]),
        specificity=float(1 - curve.fpr[best + 1]),
        youden_j=float(j[best]),
        chosen_by="Youden's J",
    )


def confusion_cells(truth: ArrayLike, scores: ArrayLike, threshold: float) -> NDArray[np.str_]:
    """Each image's cell: "tp", "fp", "fn" or "tn" against the dataset's labels."""
    y, s = _arrays(truth, scores)
    called = s >= threshold
    return np.where(called, np.where(y == 1, TP, FP), np.where(y == 1, FN, TN)).astype("<U2")


def cell_counts(cells: ArrayLike) -> dict[str, int]:
    values = np.asarray(cells)
    return {cell: int((values == cell).sum()) for cell in CELLS}


@dataclass(frozen=True)
class FisherTest:
    """2x2 exact test of a tag's presence in positive against negative cells."""

    with_tag_positive: int
    positive: int
    with_tag_negative: int
    negative: int
    odds_ratio: float
    p_value: float
    flagged: bool


def tag_cells_test(
    with_tag_positive: int,
    positive: int,
    with_tag_negative: int,
    negative: int,
    *,
    tests: int = 1,
    alpha: float = FLAG_ALPHA,
) -> FisherTest:
    """Fisher's exact test (two-sided) of a tag's prevalence in the model's positive cells
    against its negative cells; flagged when p < alpha / tests (Bonferroni over ``tests``)."""
    if not (0 <= with_tag_positive <= positive and 0 <= with_tag_negative <= negative):
        raise ValueError("tagged counts must lie between 0 and their cell totals")
    table = [
        [with_tag_positive, positive - with_tag_positive],
        [with_tag_negative, negative - with_tag_negative],
    ]
    if positive == 0 or negative == 0:
        return FisherTest(
            with_tag_positive, positive, with_tag_negative, negative, float("nan"), 1.0, False
        )
    odds, p = stats.fisher_exact(table, alternative="two-sided")
    return FisherTest(
        with_tag_positive,
        positive,
        with_tag_negative,
        negative,
        float(odds),
        float(p),
        bool(p < alpha / max(tests, 1)),
    )


def weighted_proportion(hits: ArrayLike, weights: ArrayLike) -> float:
    """Σ w·hit / Σ w: a proportion over a stratified sample, each image weighted by the number
    of images of its cell it stands for (cell size / images read in that cell)."""
    h = np.asarray(hits, dtype=float)
    w = np.asarray(weights, dtype=float)
    total = w.sum()
    return float((w * h).sum() / total) if total > 0 else float("nan")


def downsample_curve(curve: RocCurve, points: int = 400) -> tuple[FloatArray, FloatArray]:
    """At most ``points`` (fpr, tpr) pairs of a curve for drawing, keeping both ends."""
    if len(curve.fpr) <= points:
        return curve.fpr, curve.tpr
    index = np.unique(np.linspace(0, len(curve.fpr) - 1, points).round().astype(int))
    return curve.fpr[index], curve.tpr[index]

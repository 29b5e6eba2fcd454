"""Statistics for label audits: accuracy intervals and inter-reader agreement.

Pure functions over numpy arrays; nothing here imports Django, so the module
works the same from a Celery task, a management command or a notebook.

Conventions
-----------
* Verdicts are coded on the ordered scale ``RED (0) < ORANGE (1) < GREEN (2)``;
  a missing read is ``NaN`` (``None`` is accepted wherever a list is).
* Multi-reader data is a ``readers x items`` array (one row per reader, one
  column per image), the layout Krippendorff uses for "reliability data".
* Agreement coefficients return an :class:`Estimate`. When a coefficient is
  undefined (every rating in one category so chance agreement is total, fewer
  than two items with two ratings, ...) its ``value`` is ``NaN`` and ``reason``
  says why: never a silent 0 or 1.
* Bootstrap intervals resample items (columns) with replacement, seeded, and
  take percentile limits. All coefficients here are sums over items of
  per-item quantities, so each resample is a weighted sum: the hot path is one
  matrix product, not thousands of calls.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats  # type: ignore[import-untyped]

RED, ORANGE, GREEN = 0, 1, 2
VERDICTS: tuple[int, int, int] = (RED, ORANGE, GREEN)
MISSING = float("nan")

FloatArray = NDArray[np.float64]

DEFAULT_N_BOOT = 2000

# Chance agreement this close to 1 is 1 up to rounding: kappa would be 0/0.
_CHANCE_TOLERANCE = 1e-12


@dataclass(frozen=True)
class Estimate:
    """A coefficient with its standard error and interval.

    ``method`` names how ``se`` and the interval were obtained ("analytic ...",
    "bootstrap ..."). ``reason`` is ``None`` for a defined value, else the text
    explaining why ``value`` is ``NaN``.
    """

    value: float
    se: float
    ci_low: float
    ci_high: float
    method: str
    reason: str | None = None

    @property
    def defined(self) -> bool:
        return self.reason is None


@dataclass(frozen=True)
class FleissKappa(Estimate):
    """Fleiss' kappa plus what only it carries.

    ``per_category``: Fleiss (1971) kappa of each category against the rest, in
    category order. ``se_null``: the Fleiss, Nee & Landis (1979) standard error
    under the hypothesis kappa = 0, for the z test; it is not the standard error
    of the estimate (``se``, from the bootstrap).
    """

    per_category: tuple[float, ...] = ()
    se_null: float = float("nan")


def _undefined(reason: str, method: str) -> Estimate:
    nan = float("nan")
    return Estimate(nan, nan, nan, nan, method, reason)


@lru_cache(maxsize=32)
def _z(level: float) -> float:
    # Cached: an audit report asks for the same quantile thousands of times, and scipy's
    # norm.isf costs ~0.4 ms a call.
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    return float(stats.norm.isf((1 - level) / 2))


# --------------------------------------------------------------------------
# Proportions: accuracy and its interval, sample-size planning
# --------------------------------------------------------------------------


def proportion_ci(
    successes: int,
    n: int,
    method: Literal["wilson", "clopper-pearson"] = "wilson",
    level: float = 0.95,
) -> tuple[float, float]:
    """Two-sided confidence interval for a binomial proportion.

    * ``"wilson"``: Wilson (1927) score interval,
      ``(p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)``.
    * ``"clopper-pearson"``: the exact central interval (Clopper & Pearson
      1934) from Beta quantiles, ``B(α/2; x, n-x+1)`` and ``B(1-α/2; x+1, n-x)``,
      with the bound set to 0 at x = 0 and 1 at x = n.

    Both agree with statsmodels' ``proportion_confint`` (methods "wilson" and
    "beta"). ``n == 0`` (nothing read) gives ``(nan, nan)``.
    """
    if n < 0 or not 0 <= successes <= max(n, 0):
        raise ValueError(f"need 0 <= successes <= n, got {successes} of {n}")
    z = _z(level)
    if n == 0:
        return (float("nan"), float("nan"))
    alpha = 1 - level
    if method == "wilson":
        p = successes / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = wilson_half_width(n, p, level)
        # The interval lies in [0, 1] mathematically; clip rounding error only.
        return (max(0.0, centre - half), min(1.0, centre + half))
    if method == "clopper-pearson":
        low = 0.0 if successes == 0 else stats.beta.ppf(alpha / 2, successes, n - successes + 1)
        high = 1.0 if successes == n else stats.beta.isf(alpha / 2, successes + 1, n - successes)
        return (float(low), float(high))
    raise ValueError(f"unknown method {method!r}")


def wilson_half_width(n: int, p: float, level: float = 0.95) -> float:
    """Half-width of the Wilson score interval for observed proportion ``p`` out of ``n``.

    ``z / (1 + z²/n) · sqrt(p(1-p)/n + z²/4n²)``; the Wilson interval is symmetric
    about its centre, so this is (high - low) / 2.
    """
    if n <= 0:
        return float("nan")
    z = _z(level)
    return float(z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)))


def sample_size_for_half_width(half_width: float, p: float, level: float = 0.95) -> int:
    """Smallest n whose Wilson interval at accuracy ``p`` has half-width <= ``half_width``.

    For planning how many images to sample per label. The half-width shrinks
    as n grows, so a doubling search brackets the answer and bisection finds it.
    """
    if not 0 < half_width < 0.5:
        raise ValueError(f"half_width must be in (0, 0.5), got {half_width}")
    if not 0 <= p <= 1:
        raise ValueError(f"p must be in [0, 1], got {p}")
    if wilson_half_width(1, p, level) <= half_width:
        return 1
    low, high = 1, 2  # invariant: low misses the target, high meets it
    while wilson_half_width(high, p, level) > half_width:
        low, high = high, high * 2
    while high - low > 1:
        mid = (low + high) // 2
        if wilson_half_width(mid, p, level) <= half_width:
            high = mid
        else:
            low = mid
    return high


class AccuracyCounts(NamedTuple):
    """One reader's (or the consensus') verdicts on one label.

    ``accuracy`` counts orange as correct (benefit of the doubt, as in the
    original audit); ``strict_accuracy`` counts green only. Missing reads are
    not counted in ``n``.
    """

    n: int
    green: int
    orange: int
    red: int

    @property
    def accuracy(self) -> float:
        return (self.green + self.orange) / self.n if self.n else float("nan")

    @property
    def strict_accuracy(self) -> float:
        return self.green / self.n if self.n else float("nan")


def accuracy_counts(verdicts: ArrayLike) -> AccuracyCounts:
    """Count green / orange / red verdicts, ignoring missing reads."""
    v = _as_float(verdicts).ravel()
    v = v[~np.isnan(v)]
    _check_verdicts(v)
    green, orange, red = (int(np.sum(v == code)) for code in (GREEN, ORANGE, RED))
    return AccuracyCounts(n=green + orange + red, green=green, orange=orange, red=red)


# --------------------------------------------------------------------------
# Verdict helpers
# --------------------------------------------------------------------------


def _as_float(data: ArrayLike) -> FloatArray:
    # dtype=float turns None into NaN, so lists straight from the database work.
    return np.array(data, dtype=float)


def _check_verdicts(v: FloatArray) -> None:
    known = np.isnan(v) | np.isin(v, VERDICTS)
    if not known.all():
        raise ValueError(f"verdicts must be {VERDICTS} or NaN, got {np.unique(v[~known])}")


def binary_collapse(data: ArrayLike) -> FloatArray:
    """Red vs not red: 0 where the verdict is red, 1 where orange or green, NaN kept.

    This is the collapse behind "accuracy" (orange gets the benefit of the doubt).
    """
    v = _as_float(data)
    _check_verdicts(v)
    return np.where(np.isnan(v), np.nan, (v != RED).astype(float))


def consensus(data: ArrayLike) -> FloatArray:
    """Per-item consensus verdict of a ``readers x items`` array.

    The verdict given by the most readers; when two or more verdicts tie for
    most, the image is doubtful and the consensus is ORANGE. Items nobody read
    are NaN; missing reads are ignored.
    """
    v = np.atleast_2d(_as_float(data))
    _check_verdicts(v)
    counts = category_counts(v, VERDICTS)
    top = counts.max(axis=1)
    n_top = (counts == top[:, None]).sum(axis=1)
    majority = np.asarray(VERDICTS, dtype=float)[counts.argmax(axis=1)]
    verdict = np.where(n_top > 1, float(ORANGE), majority)
    verdict[top == 0] = np.nan
    return verdict


# --------------------------------------------------------------------------
# Shared machinery: category counts and the item bootstrap
# --------------------------------------------------------------------------


def _categories(data: FloatArray, categories: ArrayLike | None) -> FloatArray:
    if categories is not None:
        cats = np.asarray(categories, dtype=float)
        unknown = ~np.isnan(data) & ~np.isin(data, cats)
        if unknown.any():
            raise ValueError(f"values {np.unique(data[unknown])} are not in categories {cats}")
        return cats
    observed: FloatArray = np.unique(data[~np.isnan(data)])
    return observed


def category_counts(data: ArrayLike, categories: ArrayLike | None = None) -> FloatArray:
    """``items x categories`` matrix: how many readers gave each category to each item.

    ``data`` is ``readers x items`` with NaN for missing reads (missing reads
    are simply not counted). Categories default to the sorted observed values;
    given ones are kept in the order given, which is the scale order for
    weighted kappa and ordinal alpha.
    """
    v = np.atleast_2d(_as_float(data))
    cats = _categories(v, categories)
    counts: FloatArray = (v[:, :, None] == cats).sum(axis=0).astype(float)
    return counts


def _resample_indices(n_items: int, n_boot: int, seed: int) -> NDArray[np.intp]:
    """``n_boot x n_items`` item indices drawn with replacement (one row per resample)."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, n_items, size=(n_boot, n_items))


@lru_cache(maxsize=16)
def _resample_weights(n_items: int, n_boot: int, seed: int) -> FloatArray:
    """How many times each item appears in each resample (``n_boot x n_items``).

    Same draws as :func:`_resample_indices`, so the vectorised intervals equal
    what :func:`bootstrap_ci` gives by recomputing the coefficient per resample.
    Cached (and read-only): an audit report bootstraps many coefficients over
    the same number of items with the same seed.
    """
    idx = _resample_indices(n_items, n_boot, seed)
    offsets = (np.arange(n_boot) * n_items)[:, None]
    flat = np.bincount((idx + offsets).ravel(), minlength=n_boot * n_items)
    weights = flat.reshape(n_boot, n_items).astype(float)
    weights.flags.writeable = False
    return weights


def _percentile_estimate(
    value: float, replicates: FloatArray, level: float, n_boot: int, seed: int
) -> Estimate:
    # A resample can be degenerate (e.g. every drawn item rated one category);
    # its coefficient is undefined and it is left out of the interval.
    finite = replicates[np.isfinite(replicates)]
    method = f"bootstrap percentile over items ({n_boot} resamples, seed {seed})"
    if finite.size < 2:
        nan = float("nan")
        return Estimate(value, nan, nan, nan, method)
    low, high = np.quantile(finite, [(1 - level) / 2, (1 + level) / 2])
    return Estimate(value, float(finite.std(ddof=1)), float(low), float(high), method)


def bootstrap_ci(
    stat_fn: Callable[[FloatArray], float],
    data: ArrayLike,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = 0,
    level: float = 0.95,
) -> Estimate:
    """Percentile bootstrap of ``stat_fn`` over items (the columns of ``data``).

    Generic and slow (one call per resample), for statistics without a
    vectorised path here; the coefficients in this module draw the same
    resamples for the same ``seed`` but compute them all at once. ``se`` is
    the standard deviation of the replicates; replicates that are NaN are
    dropped.
    """
    v = np.atleast_2d(_as_float(data))
    idx = _resample_indices(v.shape[1], n_boot, seed)
    replicates = np.array([stat_fn(v[:, row]) for row in idx], dtype=float)
    return _percentile_estimate(float(stat_fn(v)), replicates, level, n_boot, seed)


# --------------------------------------------------------------------------
# Two readers: Cohen's kappa
# --------------------------------------------------------------------------


def _agreement_weights(q: int, weights: str | None) -> FloatArray:
    # Agreement weights on category positions; a one-category scale has no spacing.
    distance = np.abs(np.subtract.outer(np.arange(q), np.arange(q))) / max(q - 1, 1)
    if weights is None:
        return np.eye(q)
    if weights == "linear":
        return np.asarray(1 - distance, dtype=float)
    if weights == "quadratic":
        return np.asarray(1 - distance**2, dtype=float)
    raise ValueError(f"unknown weights {weights!r}")


def cohen_kappa(
    a: ArrayLike,
    b: ArrayLike,
    weights: Literal["linear", "quadratic"] | None = None,
    categories: ArrayLike | None = None,
    level: float = 0.95,
) -> Estimate:
    """Cohen's kappa (1960) between two readers, optionally weighted (Cohen 1968).

    ``a`` and ``b`` are the two readers' verdicts on the same items; an item
    where either verdict is missing (None/NaN) is dropped. With agreement
    weights ``w`` (identity, or ``1 - |i-j|/(q-1)`` linear, ``1 - (i-j)²/(q-1)²``
    quadratic, on category positions) and the cell proportions ``p``:
    ``po = Σ w p``, ``pe = Σ w p_i. p_.j``, ``kappa = (po - pe) / (1 - pe)``.

    Standard error: the large-sample (non-null) variance of Fleiss, Cohen &
    Everitt (1969), the "ASE" SAS PROC FREQ prints:
    ``var = [Σ p_ij (w_ij - (w̄_i. + w̄_.j)(1 - κ))² - (κ - pe(1 - κ))²] / (n (1 - pe)²)``
    with ``w̄_i. = Σ_j p_.j w_ij`` and ``w̄_.j = Σ_i p_i. w_ij``. Interval:
    ``kappa ± z·se``. Undefined when chance agreement is 1 (both readers used
    one and the same category) or fewer than 2 items remain.
    """
    x, y = _as_float(a).ravel(), _as_float(b).ravel()
    if x.shape != y.shape:
        raise ValueError(f"a and b differ in length: {x.size} vs {y.size}")
    both = ~np.isnan(x) & ~np.isnan(y)
    x, y = x[both], y[both]
    method = "analytic (Fleiss, Cohen & Everitt 1969 asymptotic SE)"
    n = x.size
    if n < 2:
        return _undefined(f"only {n} item(s) read by both readers; need at least 2", method)
    cats = _categories(np.concatenate([x, y]), categories)
    q = cats.size
    table = np.zeros((q, q))
    np.add.at(table, ((x[:, None] == cats).argmax(axis=1), (y[:, None] == cats).argmax(axis=1)), 1)
    p = table / n
    w = _agreement_weights(q, weights)
    rows, cols = p.sum(axis=1), p.sum(axis=0)
    po = float((w * p).sum())
    pe = float(rows @ w @ cols)
    if 1 - pe < _CHANCE_TOLERANCE:
        return _undefined(
            "chance agreement is 1: both readers gave a single, identical category", method
        )
    kappa = (po - pe) / (1 - pe)
    w_row = w @ cols  # w̄_i.
    w_col = rows @ w  # w̄_.j
    spread = (w - (w_row[:, None] + w_col[None, :]) * (1 - kappa)) ** 2
    var = ((p * spread).sum() - (kappa - pe * (1 - kappa)) ** 2) / (n * (1 - pe) ** 2)
    se = float(np.sqrt(max(var, 0.0)))
    z = _z(level)
    return Estimate(kappa, se, kappa - z * se, kappa + z * se, method)


# --------------------------------------------------------------------------
# Many readers
# --------------------------------------------------------------------------


def fleiss_kappa(
    counts: ArrayLike,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = 0,
    level: float = 0.95,
) -> FleissKappa:
    """Fleiss' kappa (1971) for m readers per item, with per-category kappas.

    ``counts`` is ``items x categories``: how many readers put each item in
    each category (see :func:`category_counts`). Every item must have the same
    number m >= 2 of ratings: Fleiss' formula assumes it. For data with missing
    reads use :func:`krippendorff_alpha` or :func:`gwet_ac1`, or keep only the
    items every reader marked.

    ``p_j = Σ_i n_ij / (N m)``, ``P_i = (Σ_j n_ij² - m) / (m (m-1))``,
    ``kappa = (mean P_i - Σ p_j²) / (1 - Σ p_j²)``.
    Per category j: ``kappa_j = 1 - Σ_i n_ij (m - n_ij) / (N m (m-1) p_j q_j)``
    (NaN when nobody or everybody used j).

    ``se_null`` is the Fleiss, Nee & Landis (1979) standard error under
    kappa = 0, ``sqrt(2 / (N m (m-1))) · sqrt((Σ p_j q_j)² - Σ p_j q_j (q_j - p_j)) / Σ p_j q_j``,
    which is what R's ``irr::kappam.fleiss`` uses for its z. As it holds only
    at kappa = 0, the interval and ``se`` come from the item bootstrap.
    """
    n = np.atleast_2d(np.asarray(counts, dtype=float))
    method = f"bootstrap percentile over items ({n_boot} resamples, seed {seed})"
    raters = n.sum(axis=1)
    if n.shape[0] < 2:
        return _undefined_fleiss(f"{n.shape[0]} item(s); need at least 2", method)
    if not np.all(raters == raters[0]):
        return _undefined_fleiss(
            "items have different numbers of ratings; Fleiss' kappa needs the same m for every item",
            method,
        )
    m = raters[0]
    if m < 2:
        return _undefined_fleiss(f"{m:g} rating(s) per item; need at least 2", method)
    value = float(_fleiss_from_sums(n.sum(axis=0), (n * n).sum(), n.shape[0], m))
    if np.isnan(value):
        return _undefined_fleiss("chance agreement is 1: every rating is in one category", method)

    weights = _resample_weights(n.shape[0], n_boot, seed)
    replicates = _fleiss_from_sums(weights @ n, weights @ (n * n).sum(axis=1), n.shape[0], m)
    boot = _percentile_estimate(value, replicates, level, n_boot, seed)

    total = n.shape[0] * m
    p = n.sum(axis=0) / total
    pq = p * (1 - p)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_category = 1 - (n * (m - n)).sum(axis=0) / (total * (m - 1) * pq)
    per_category[pq == 0] = np.nan
    se_null = (
        np.sqrt(2 / (total * (m - 1)))
        * np.sqrt(pq.sum() ** 2 - (pq * (1 - 2 * p)).sum())
        / pq.sum()
    )
    return FleissKappa(
        value,
        boot.se,
        boot.ci_low,
        boot.ci_high,
        boot.method,
        per_category=tuple(float(k) for k in per_category),
        se_null=float(se_null),
    )


def _undefined_fleiss(reason: str, method: str) -> FleissKappa:
    nan = float("nan")
    return FleissKappa(nan, nan, nan, nan, method, reason)


def _fleiss_from_sums(
    category_totals: FloatArray, sum_squares: FloatArray | float, n_items: int, m: float
) -> FloatArray:
    """Fleiss' kappa from column totals and Σ n_ij², vectorised over leading axes.

    Both are sums over items, so a bootstrap resample is just a weighted sum.
    """
    total = n_items * m
    p_obs = (sum_squares - total) / (total * (m - 1))
    p_chance = ((np.asarray(category_totals) / total) ** 2).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = (p_obs - p_chance) / (1 - p_chance)
    return np.where(1 - p_chance < _CHANCE_TOLERANCE, np.nan, kappa)


def _coincidences(counts: FloatArray) -> FloatArray:
    """Per-item coincidence matrices (Krippendorff): ``items x q x q``.

    An item with m_u >= 2 values contributes each ordered pair of values from
    different readers with weight 1 / (m_u - 1); items with fewer values are
    not pairable and contribute zeros.
    """
    m = counts.sum(axis=1)
    pairs = counts[:, :, None] * counts[:, None, :]
    diag = np.arange(counts.shape[1])
    pairs[:, diag, diag] -= counts
    with np.errstate(divide="ignore", invalid="ignore"):
        coincidences = pairs / (m - 1)[:, None, None]
    coincidences[m < 2] = 0
    return np.asarray(coincidences, dtype=float)


def _squared_difference(values: FloatArray, totals: FloatArray, level: str) -> FloatArray:
    """Krippendorff's δ² between categories, broadcast over leading axes of ``totals``."""
    q = values.size
    if level == "nominal":
        return np.broadcast_to(1 - np.eye(q), totals.shape[:-1] + (q, q))
    if level == "interval":
        d = (values[:, None] - values[None, :]) ** 2
        return np.broadcast_to(d, totals.shape[:-1] + (q, q))
    if level == "ordinal":
        # δ²_ck = (Σ_{g=c..k} n_g - (n_c + n_k)/2)²: depends on the marginal
        # totals, so each bootstrap resample gets its own.
        cum = np.cumsum(totals, axis=-1)
        between = cum[..., None, :] - cum[..., :, None]
        half = (totals[..., :, None] - totals[..., None, :]) / 2
        return np.asarray((between + half) ** 2)
    raise ValueError(f"unknown level {level!r}")


def _alpha_from_coincidences(
    coincidences: FloatArray, values: FloatArray, level: str
) -> FloatArray:
    """α = 1 - (n - 1) Σ o_ck δ²_ck / Σ n_c n_k δ²_ck, over leading axes."""
    totals = coincidences.sum(axis=-1)
    n = totals.sum(axis=-1)
    delta = _squared_difference(values, totals, level)
    observed = (coincidences * delta).sum(axis=(-2, -1))
    expected = (totals[..., :, None] * totals[..., None, :] * delta).sum(axis=(-2, -1))
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = 1 - (n - 1) * observed / expected
    return np.where(expected > 0, alpha, np.nan)


def krippendorff_alpha(
    data: ArrayLike,
    level: Literal["nominal", "ordinal", "interval"] = "nominal",
    categories: ArrayLike | None = None,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = 0,
    confidence: float = 0.95,
) -> Estimate:
    """Krippendorff's alpha reliability, ``1 - D_o / D_e``.

    ``data`` is ``readers x items``, NaN where a reader did not rate an item:
    alpha uses every item with at least two ratings and ignores the others
    (Krippendorff 2011, "Computing Krippendorff's Alpha-Reliability"). Values
    are paired within items into the coincidence matrix o_ck; with n_c its
    marginals and n the number of pairable values,
    ``alpha = 1 - (n - 1) Σ o_ck δ²_ck / Σ_c Σ_k n_c n_k δ²_ck``. ``level``
    picks δ²: nominal (0 if equal else 1), ordinal (rank distance through the
    marginal frequencies), interval (squared difference of the values).
    ``categories`` lists the possible values (default: those observed).

    Interval: percentile bootstrap over items (``n_boot`` resamples, ``seed``),
    computed from the per-item coincidence matrices. Undefined when fewer than
    two items are pairable or every pairable value is the same (D_e = 0).
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if level not in ("nominal", "ordinal", "interval"):
        raise ValueError(f"unknown level {level!r}")
    v = np.atleast_2d(_as_float(data))
    cats = _categories(v, categories)
    method = f"bootstrap percentile over items ({n_boot} resamples, seed {seed})"
    counts = category_counts(v, cats)
    pairable = counts.sum(axis=1) >= 2
    if pairable.sum() < 2:
        return _undefined(f"{pairable.sum()} item(s) with 2+ ratings; need at least 2", method)
    per_item = _coincidences(counts)
    value = float(_alpha_from_coincidences(per_item.sum(axis=0), cats, level))
    if np.isnan(value):
        return _undefined("expected disagreement is 0: every pairable rating is the same", method)
    q = cats.size
    weights = _resample_weights(v.shape[1], n_boot, seed)
    resampled = (weights @ per_item.reshape(v.shape[1], q * q)).reshape(n_boot, q, q)
    replicates = _alpha_from_coincidences(resampled, cats, level)
    return _percentile_estimate(value, replicates, confidence, n_boot, seed)


def gwet_ac1(
    data: ArrayLike,
    categories: ArrayLike | None = None,
    level: float = 0.95,
) -> Estimate:
    """Gwet's AC1 (Gwet 2008; Handbook of Inter-Rater Reliability, 2014).

    ``data`` is ``readers x items`` with NaN for missing reads. With r_ik the
    readers putting item i in category k, r_i its ratings, q categories:
    ``pa`` = mean over items with r_i >= 2 of ``Σ_k r_ik (r_ik - 1) / (r_i (r_i - 1))``;
    ``π_k`` = mean over rated items of ``r_ik / r_i``;
    ``pe = Σ_k π_k (1 - π_k) / (q - 1)``; ``AC1 = (pa - pe) / (1 - pe)``.
    Unlike kappa, chance agreement is small when one verdict dominates, so AC1
    stays high in the prevalence paradox.

    Standard error: Gwet's analytic variance from per-item linearised terms
    (infinite population, as irrCAC's ``gwet()``); interval ``AC1 ± t·se``
    with n - 1 degrees of freedom as Gwet does, clipped to [-1, 1]. Declare
    ``categories`` (e.g. :data:`VERDICTS`) so that unused verdicts still count
    in q. Undefined with fewer than 2 categories or fewer than 2 items with
    two ratings.
    """
    v = np.atleast_2d(_as_float(data))
    cats = _categories(v, categories)
    method = "analytic (Gwet 2008 variance, t interval)"
    counts = category_counts(v, cats)
    counts = counts[counts.sum(axis=1) > 0]
    r = counts.sum(axis=1)
    pairable = r >= 2
    q = cats.size
    if q < 2:
        return _undefined(
            f"{q} category; AC1 needs at least 2 (declare them with `categories`)", method
        )
    if pairable.sum() < 2:
        return _undefined(f"{pairable.sum()} item(s) with 2+ ratings; need at least 2", method)
    n_items, n_pairable = r.size, int(pairable.sum())

    with np.errstate(divide="ignore", invalid="ignore"):
        pa_item = np.where(pairable, (counts * (counts - 1)).sum(axis=1) / (r * (r - 1)), 0.0)
    pa = pa_item[pairable].mean()
    pi = (counts / r[:, None]).mean(axis=0)
    pe = float((pi * (1 - pi)).sum() / (q - 1))
    ac1 = (pa - pe) / (1 - pe)

    # Gwet's linearisation: each item's contribution to AC1, corrected for its
    # share in the chance-agreement estimate.
    ac1_item = (n_items / n_pairable) * (pa_item - pe * pairable) / (1 - pe)
    pe_item = (counts @ (1 - pi)) / (r * (q - 1))
    ac1_item = ac1_item - 2 * (1 - ac1) * (pe_item - pe) / (1 - pe)
    se = float(np.sqrt(((ac1_item - ac1) ** 2).sum() / (n_items * (n_items - 1))))
    t = float(stats.t.isf((1 - level) / 2, n_items - 1))
    return Estimate(float(ac1), se, max(-1.0, ac1 - t * se), min(1.0, ac1 + t * se), method)


def percent_agreement(data: ArrayLike) -> float:
    """Share of agreeing reader pairs, averaged over items.

    For each item with at least 2 ratings (``readers x items``, NaN = missing):
    the fraction of the pairs of its readers that gave the same verdict,
    ``Σ_k r_ik (r_ik - 1) / (r_i (r_i - 1))``; then the plain mean over those
    items. Items with fewer than 2 ratings are ignored; NaN if none is left.
    This is the observed agreement ``pa`` of Fleiss' kappa and Gwet's AC1.
    """
    counts = category_counts(data)
    r = counts.sum(axis=1)
    pairable = r >= 2
    if not pairable.any():
        return float("nan")
    c, r = counts[pairable], r[pairable]
    return float(((c * (c - 1)).sum(axis=1) / (r * (r - 1))).mean())

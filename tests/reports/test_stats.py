"""Tests for reports.stats.

Every coefficient is checked two ways: against an independent implementation
(statsmodels, scikit-learn, krippendorff, irrCAC) on seeded random data, and
against published worked examples with the digits as printed there. No expected
value in this file was produced by reports.stats itself.
"""

import math

import krippendorff
import numpy as np
import pandas as pd
import pytest
from irrCAC.raw import CAC
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats import inter_rater
from statsmodels.stats.proportion import proportion_confint

from reports import stats
from reports.stats import GREEN, ORANGE, RED, VERDICTS

NAN = np.nan

# irrCAC writes to a pandas slice internally; its warning is not ours.
pytestmark = pytest.mark.filterwarnings("ignore::pandas.errors.SettingWithCopyWarning")


def random_ratings(rng, readers, items, q, missing=0.0, p=None):
    """``readers x items`` integer codes 0..q-1 with a share of NaN (missing reads)."""
    data = rng.choice(q, size=(readers, items), p=p).astype(float)
    data[rng.random(data.shape) < missing] = NAN
    return data


def noisy_agreement(rng, readers, items, q, agree=0.7, missing=0.0):
    """Readers who copy a hidden truth with probability ``agree``, else guess.

    Realistic agreement (alpha well above 0) so that bootstrap resamples are
    never degenerate.
    """
    truth = rng.choice(q, size=items)
    guess = rng.choice(q, size=(readers, items))
    data = np.where(rng.random((readers, items)) < agree, truth, guess).astype(float)
    data[rng.random(data.shape) < missing] = NAN
    return data


def expand_table(table):
    """Two readers' verdict lists from a square contingency table (rows: reader a)."""
    table = np.asarray(table)
    a, b = [], []
    for i, j in np.ndindex(table.shape):
        a += [i] * int(table[i, j])
        b += [j] * int(table[i, j])
    return np.array(a, float), np.array(b, float)


def to_cac(data, categories):
    """irrCAC wants subjects as rows and raters as columns."""
    return CAC(pd.DataFrame(data.T), categories=list(categories), digits=15)


# Fleiss (1971), Table 1: psychiatric diagnoses of 30 patients by 6 raters
# (1 depression, 2 personality disorder, 3 schizophrenia, 4 neurosis, 5 other),
# in the subjects x raters layout of R's irr::diagnoses.
FLEISS_1971_DIAGNOSES = np.array(
    [
        [4, 4, 4, 4, 4, 4],
        [2, 2, 2, 5, 5, 5],
        [2, 3, 3, 3, 3, 5],
        [5, 5, 5, 5, 5, 5],
        [2, 2, 2, 4, 4, 4],
        [1, 1, 3, 3, 3, 3],
        [3, 3, 3, 3, 5, 5],
        [1, 1, 3, 3, 3, 4],
        [1, 1, 4, 4, 4, 4],
        [5, 5, 5, 5, 5, 5],
        [1, 4, 4, 4, 4, 4],
        [1, 2, 4, 4, 4, 4],
        [2, 2, 2, 3, 3, 3],
        [1, 4, 4, 4, 4, 4],
        [2, 2, 4, 4, 4, 5],
        [3, 3, 3, 3, 3, 5],
        [1, 1, 1, 4, 5, 5],
        [1, 1, 1, 1, 1, 2],
        [2, 2, 4, 4, 4, 4],
        [1, 3, 3, 5, 5, 5],
        [5, 5, 5, 5, 5, 5],
        [2, 4, 4, 4, 4, 4],
        [2, 2, 4, 5, 5, 5],
        [1, 1, 4, 4, 4, 4],
        [1, 4, 4, 4, 4, 5],
        [2, 2, 2, 2, 2, 4],
        [1, 1, 1, 1, 5, 5],
        [2, 2, 4, 4, 4, 4],
        [1, 3, 3, 3, 3, 3],
        [5, 5, 5, 5, 5, 5],
    ]
)

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", example C:
# 4 observers (rows) x 12 units, values 1..5, missing data.
KRIPPENDORFF_2011_C = np.array(
    [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
        [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
    ]
)

# A label where nearly every image is green and the two readers almost always
# agree: 118 both green, 5 green/red, 2 red/green, 0 both red.
DOMINANT_GREEN_TABLE = [[0, 2], [5, 118]]  # rows/cols: red, green


# --------------------------------------------------------------------------
# Proportions
# --------------------------------------------------------------------------

PROPORTION_CASES = [
    (x, n) for n in (1, 2, 3, 7, 18, 50, 126, 1000) for x in range(0, n + 1, max(1, n // 9))
]


@pytest.mark.parametrize("level", [0.9, 0.95, 0.99])
def test_wilson_interval_matches_statsmodels_to_1e9(level):
    for x, n in PROPORTION_CASES:
        expected = proportion_confint(x, n, alpha=1 - level, method="wilson")
        assert stats.proportion_ci(x, n, "wilson", level) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("level", [0.9, 0.95, 0.99])
def test_clopper_pearson_interval_matches_statsmodels_beta_to_1e9(level):
    for x, n in PROPORTION_CASES:
        expected = proportion_confint(x, n, alpha=1 - level, method="beta")
        assert stats.proportion_ci(x, n, "clopper-pearson", level) == pytest.approx(
            expected, abs=1e-9
        )


@pytest.mark.parametrize(
    ("x", "n", "low", "high"),
    [
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0000, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_interval_reproduces_newcombe_1998_table(x, n, low, high):
    """Newcombe (1998), Statistics in Medicine 17:857-872, Table II, method 3 (score, no
    continuity correction), printed to 4 decimals."""
    got = stats.proportion_ci(x, n, "wilson")
    assert got == pytest.approx((low, high), abs=5e-5)


def test_clopper_pearson_interval_reproduces_r_binom_test_mendel_example():
    """R's ?binom.test example, binom.test(682, 925, p = 0.75) (Mendel's peas):
    "95 percent confidence interval: 0.7076683 0.7654066"."""
    assert stats.proportion_ci(682, 925, "clopper-pearson") == pytest.approx(
        (0.7076683, 0.7654066), abs=5e-8
    )


def test_interval_of_zero_reads_is_nan():
    for method in ("wilson", "clopper-pearson"):
        low, high = stats.proportion_ci(0, 0, method)
        assert math.isnan(low) and math.isnan(high)


@pytest.mark.parametrize(("x", "n"), [(-1, 5), (6, 5), (1, -1)])
def test_impossible_counts_are_refused(x, n):
    with pytest.raises(ValueError):
        stats.proportion_ci(x, n)


def test_wilson_half_width_is_half_the_statsmodels_interval():
    for n in (5, 18, 126, 400):
        for p in (0.0, 0.1, 0.5, 0.83, 1.0):
            low, high = proportion_confint(p * n, n, method="wilson")
            assert stats.wilson_half_width(n, p) == pytest.approx((high - low) / 2, abs=1e-12)


@pytest.mark.parametrize(
    ("half_width", "p"), [(0.05, 0.8), (0.1, 0.5), (0.03, 0.95), (0.07, 0.2), (0.2, 0.99)]
)
def test_sample_size_is_the_smallest_n_reaching_the_half_width(half_width, p):
    def statsmodels_half_width(n):
        low, high = proportion_confint(p * n, n, method="wilson")
        return (high - low) / 2

    n = stats.sample_size_for_half_width(half_width, p)
    assert statsmodels_half_width(n) <= half_width
    assert n == 1 or statsmodels_half_width(n - 1) > half_width


# --------------------------------------------------------------------------
# Verdict helpers
# --------------------------------------------------------------------------


def test_verdicts_are_ordered_red_orange_green():
    assert RED < ORANGE < GREEN
    assert VERDICTS == (RED, ORANGE, GREEN)


def test_binary_collapse_separates_red_from_the_rest_and_keeps_missing():
    got = stats.binary_collapse([[RED, ORANGE, GREEN, None]])
    np.testing.assert_array_equal(got, [[0.0, 1.0, 1.0, NAN]])


def test_consensus_is_the_majority_verdict():
    data = [[GREEN, RED, RED], [GREEN, RED, ORANGE], [RED, GREEN, RED]]
    np.testing.assert_array_equal(stats.consensus(data), [GREEN, RED, RED])


def test_consensus_tie_is_orange():
    data = [
        [GREEN, GREEN, RED, GREEN],
        [RED, ORANGE, GREEN, GREEN],
        [NAN, NAN, ORANGE, RED],
        [NAN, NAN, NAN, RED],
    ]
    # green/red, green/orange, red/green/orange, two green vs two red: all ties
    np.testing.assert_array_equal(stats.consensus(data), [ORANGE, ORANGE, ORANGE, ORANGE])


def test_consensus_ignores_missing_reads_and_is_nan_when_nobody_read():
    data = [[GREEN, NAN], [NAN, NAN], [NAN, NAN]]
    np.testing.assert_array_equal(stats.consensus(data), [GREEN, NAN])


def test_accuracy_counts_give_orange_the_benefit_of_the_doubt():
    counts = stats.accuracy_counts([GREEN, GREEN, ORANGE, RED, None, NAN])
    assert counts == (4, 2, 1, 1)
    assert counts.accuracy == 3 / 4
    assert counts.strict_accuracy == 2 / 4


def test_unknown_verdict_codes_are_refused():
    with pytest.raises(ValueError):
        stats.consensus([[GREEN, 3]])


# --------------------------------------------------------------------------
# Cohen's kappa
# --------------------------------------------------------------------------


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_cohen_kappa_matches_scikit_learn_on_random_pairs_with_missing_reads(weights):
    rng = np.random.default_rng(11)
    for trial in range(60):
        q = int(rng.integers(2, 6))
        n = int(rng.integers(5, 200))
        a = noisy_agreement(rng, 1, n, q, agree=rng.uniform(0, 0.9), missing=0.1)[0]
        b = np.where(rng.random(n) < 0.6, a, rng.choice(q, size=n))
        b[rng.random(n) < 0.1] = NAN
        keep = ~np.isnan(a) & ~np.isnan(b)
        cats = list(range(q))
        expected = cohen_kappa_score(a[keep], b[keep], labels=cats, weights=weights)
        got = stats.cohen_kappa(a, b, weights=weights, categories=cats)
        assert got.value == pytest.approx(expected, abs=1e-12), trial


@pytest.mark.parametrize(
    ("weights", "wt"), [(None, None), ("linear", "linear"), ("quadratic", "quadratic")]
)
def test_cohen_kappa_standard_error_matches_statsmodels_asymptotic_se(weights, wt):
    rng = np.random.default_rng(12)
    for _ in range(40):
        q = int(rng.integers(2, 6))
        table = rng.integers(0, 15, size=(q, q)) + np.diag(rng.integers(5, 30, size=q))
        a, b = expand_table(table)
        expected = inter_rater.cohens_kappa(table, wt=wt) if wt else inter_rater.cohens_kappa(table)
        got = stats.cohen_kappa(a, b, weights=weights, categories=range(q))
        assert got.value == pytest.approx(expected.kappa, abs=1e-12)
        assert got.se == pytest.approx(expected.std_kappa, abs=1e-12)
        assert (got.ci_low, got.ci_high) == pytest.approx(
            (expected.kappa_low, expected.kappa_upp), abs=1e-12
        )


def test_cohen_kappa_reproduces_sas_proc_freq_simple_kappa_printout():
    """SAS PROC FREQ AGREE printout for the 3x3 table [[0,4,1],[0,8,0],[0,1,5]]:
    Kappa 0.4842, ASE 0.1380, 95% limits 0.2137 and 0.7547. (Table and printout as
    reproduced in statsmodels' test suite, stats/tests/test_inter_rater.py,
    "comparison to printout of a SAS example".)"""
    a, b = expand_table([[0, 4, 1], [0, 8, 0], [0, 1, 5]])
    got = stats.cohen_kappa(a, b)
    assert (got.value, got.se, got.ci_low, got.ci_high) == pytest.approx(
        (0.4842, 0.1380, 0.2137, 0.7547), abs=5e-5
    )


def test_linearly_weighted_kappa_reproduces_sas_proc_freq_weighted_kappa_printout():
    """Same SAS printout, Weighted Kappa Coefficient (Cicchetti-Allison = linear weights):
    Kappa 0.4701, ASE 0.1457, 95% limits 0.1845 and 0.7558."""
    a, b = expand_table([[0, 4, 1], [0, 8, 0], [0, 1, 5]])
    got = stats.cohen_kappa(a, b, weights="linear")
    assert (got.value, got.se, got.ci_low, got.ci_high) == pytest.approx(
        (0.4701, 0.1457, 0.1845, 0.7558), abs=5e-5
    )


def test_cohen_kappa_reproduces_statpsych_ci_kappa_example():
    """R package statpsych (Bonett), ?ci.kappa: ci.kappa(.05, 31, 12, 4, 58) prints for
    Cohen kappa: Estimate 0.6756757, SE 0.07344761, LL 0.5317210, UL 0.8196303
    (f00 = 31, f01 = 12, f10 = 4, f11 = 58)."""
    a, b = expand_table([[31, 12], [4, 58]])
    got = stats.cohen_kappa(a, b)
    expected = (0.6756757, 0.07344761, 0.5317210, 0.8196303)
    assert (got.value, got.se, got.ci_low, got.ci_high) == pytest.approx(expected, abs=5e-8)


def test_weighted_kappa_follows_the_category_order_given_like_scikit_learn():
    rng = np.random.default_rng(13)
    a, b = rng.choice(3, size=(2, 80)).astype(float)
    for order in ([2, 0, 1], [1, 2, 0]):
        expected = cohen_kappa_score(a, b, labels=order, weights="linear")
        got = stats.cohen_kappa(a, b, weights="linear", categories=order)
        assert got.value == pytest.approx(expected, abs=1e-12)


def test_cohen_kappa_stays_defined_when_one_verdict_nearly_always_wins():
    a = np.full(1_000_000, GREEN)
    b = a.copy()
    a[0], b[1] = RED, RED
    expected = cohen_kappa_score(a, b)
    assert stats.cohen_kappa(a, b).value == pytest.approx(expected, abs=1e-9)


def test_cohen_kappa_drops_items_either_reader_missed():
    a = [GREEN, RED, None, GREEN, ORANGE, RED, GREEN]
    b = [GREEN, RED, GREEN, NAN, ORANGE, GREEN, GREEN]
    expected = cohen_kappa_score([2, 0, 1, 0, 2], [2, 0, 1, 2, 2])
    assert stats.cohen_kappa(a, b).value == pytest.approx(expected, abs=1e-12)


def test_cohen_kappa_is_undefined_when_both_readers_gave_one_verdict():
    got = stats.cohen_kappa([GREEN] * 10, [GREEN] * 10, categories=VERDICTS)
    assert math.isnan(got.value) and math.isnan(got.se)
    assert "chance agreement is 1" in got.reason


def test_cohen_kappa_is_undefined_with_fewer_than_two_shared_items():
    got = stats.cohen_kappa([GREEN, None], [RED, GREEN])
    assert math.isnan(got.value)
    assert "need at least 2" in got.reason


# --------------------------------------------------------------------------
# Fleiss' kappa
# --------------------------------------------------------------------------


def test_fleiss_kappa_matches_statsmodels_on_random_count_tables():
    rng = np.random.default_rng(21)
    for _ in range(60):
        m, q, n = int(rng.integers(2, 11)), int(rng.integers(2, 6)), int(rng.integers(2, 130))
        data = noisy_agreement(rng, m, n, q, agree=rng.uniform(0, 0.9))
        counts = stats.category_counts(data, range(q))
        got = stats.fleiss_kappa(counts, n_boot=50)
        assert got.value == pytest.approx(inter_rater.fleiss_kappa(counts), abs=1e-12)


def test_fleiss_kappa_reproduces_fleiss_1971_diagnoses():
    """Fleiss (1971), Psychological Bulletin 76:378-382: kappa = .430 for 30 patients,
    6 raters, 5 diagnoses. R's irr::kappam.fleiss(diagnoses) prints Kappa = 0.43 with
    z = 17.65183 (to 7 digits, kappa 0.4302445, as quoted in statsmodels' tests); z uses
    the Fleiss-Nee-Landis SE under kappa = 0."""
    counts, _ = inter_rater.aggregate_raters(FLEISS_1971_DIAGNOSES)
    got = stats.fleiss_kappa(counts)
    assert round(got.value, 3) == 0.430
    assert got.value == pytest.approx(0.4302445, abs=5e-8)
    assert got.value / got.se_null == pytest.approx(17.65183, abs=5e-5)


def test_per_category_kappa_is_the_kappa_of_that_category_against_the_rest():
    """Fleiss (1971) defines kappa_j as agreement on "category j vs any other", i.e.
    Fleiss' kappa on the table collapsed to (j, not j): checked with statsmodels."""
    rng = np.random.default_rng(22)
    tables = [inter_rater.aggregate_raters(FLEISS_1971_DIAGNOSES)[0]]
    tables += [stats.category_counts(noisy_agreement(rng, 7, 90, 4), range(4)) for _ in range(10)]
    for counts in tables:
        got = stats.fleiss_kappa(counts, n_boot=10).per_category
        m = counts.sum(axis=1)[:, None]
        expected = [
            inter_rater.fleiss_kappa(np.hstack([counts[:, [j]], m - counts[:, [j]]]))
            for j in range(counts.shape[1])
        ]
        assert got == pytest.approx(expected, abs=1e-12)


def test_fleiss_kappa_bootstrap_equals_resampling_statsmodels_with_the_same_seed():
    rng = np.random.default_rng(23)
    counts = stats.category_counts(noisy_agreement(rng, 6, 80, 3), range(3))
    got = stats.fleiss_kappa(counts, n_boot=300, seed=5)
    # bootstrap_ci resamples columns, so hand it categories x items.
    expected = stats.bootstrap_ci(
        lambda c: inter_rater.fleiss_kappa(c.T), counts.T, n_boot=300, seed=5
    )
    assert (got.se, got.ci_low, got.ci_high) == pytest.approx(
        (expected.se, expected.ci_low, expected.ci_high), abs=1e-12
    )
    assert got.method.startswith("bootstrap")


def test_fleiss_kappa_is_undefined_when_every_rating_is_the_same():
    got = stats.fleiss_kappa([[5, 0, 0]] * 10)
    assert math.isnan(got.value)
    assert "chance agreement is 1" in got.reason


def test_fleiss_kappa_is_undefined_when_items_have_different_numbers_of_ratings():
    got = stats.fleiss_kappa([[3, 1], [2, 1], [0, 4]])
    assert math.isnan(got.value)
    assert "different numbers of ratings" in got.reason


def test_fleiss_kappa_is_undefined_for_a_single_item():
    assert "need at least 2" in stats.fleiss_kappa([[3, 1]]).reason


# --------------------------------------------------------------------------
# Krippendorff's alpha
# --------------------------------------------------------------------------


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval"])
def test_krippendorff_alpha_matches_the_krippendorff_package_with_missing_reads(level):
    rng = np.random.default_rng(31)
    checked = 0
    for trial in range(60):
        readers, items, q = (
            int(rng.integers(2, 11)),
            int(rng.integers(3, 130)),
            int(rng.integers(2, 6)),
        )
        data = noisy_agreement(
            rng, readers, items, q, agree=rng.uniform(0, 0.9), missing=rng.uniform(0, 0.4)
        )
        if (
            len(np.unique(data[~np.isnan(data)])) < 2
            or (np.sum(~np.isnan(data), axis=0) >= 2).sum() < 2
        ):
            continue
        expected = krippendorff.alpha(data, level_of_measurement=level, value_domain=list(range(q)))
        got = stats.krippendorff_alpha(data, level, categories=range(q), n_boot=20)
        assert got.value == pytest.approx(expected, abs=1e-10), trial
        checked += 1
    assert checked >= 50


@pytest.mark.parametrize(
    ("level", "published"), [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849)]
)
def test_krippendorff_alpha_reproduces_krippendorff_2011_example_c(level, published):
    """Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", C: nominal data,
    any number of observers, missing data: alpha = 0.743; the same data as ordinal 0.815
    and interval 0.849."""
    assert round(stats.krippendorff_alpha(KRIPPENDORFF_2011_C, level).value, 3) == published


def test_krippendorff_alpha_reproduces_krippendorff_2011_binary_example():
    """Krippendorff (2011), A: binary data, two observers, 10 units, no missing data:
    alpha = 0.095."""
    observer_a = [0, 1, 0, 0, 0, 0, 0, 0, 1, 0]
    observer_b = [1, 1, 1, 0, 0, 1, 0, 0, 0, 0]
    assert round(stats.krippendorff_alpha([observer_a, observer_b]).value, 3) == 0.095


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval"])
def test_krippendorff_bootstrap_equals_resampling_the_krippendorff_package_with_the_same_seed(
    level,
):
    rng = np.random.default_rng(32)
    data = noisy_agreement(rng, 5, 60, 3, agree=0.7, missing=0.15)

    def package_alpha(d):
        return krippendorff.alpha(d, level_of_measurement=level, value_domain=[0, 1, 2])

    got = stats.krippendorff_alpha(data, level, categories=VERDICTS, n_boot=300, seed=9)
    expected = stats.bootstrap_ci(package_alpha, data, n_boot=300, seed=9)
    assert (got.se, got.ci_low, got.ci_high) == pytest.approx(
        (expected.se, expected.ci_low, expected.ci_high), abs=1e-10
    )


def test_bootstrap_interval_is_reproducible_with_a_seed_and_changes_with_it():
    rng = np.random.default_rng(33)
    data = noisy_agreement(rng, 4, 50, 3, missing=0.1)
    first = stats.krippendorff_alpha(data, seed=1)
    assert stats.krippendorff_alpha(data, seed=1) == first
    assert stats.krippendorff_alpha(data, seed=2).ci_low != first.ci_low
    assert first.ci_low <= first.value <= first.ci_high
    assert "2000 resamples" in first.method


def test_generic_bootstrap_is_reproducible_with_a_seed():
    rng = np.random.default_rng(34)
    data = rng.normal(size=(1, 40))
    first = stats.bootstrap_ci(np.mean, data, n_boot=500, seed=3)
    assert stats.bootstrap_ci(np.mean, data, n_boot=500, seed=3) == first
    assert stats.bootstrap_ci(np.mean, data, n_boot=500, seed=4) != first
    # The bootstrap SE of a mean is close to the textbook s / sqrt(n).
    assert first.se == pytest.approx(data.std(ddof=1) / np.sqrt(40), rel=0.15)


def test_krippendorff_alpha_is_undefined_when_every_reader_gave_one_verdict():
    got = stats.krippendorff_alpha([[GREEN] * 8, [GREEN] * 8], categories=VERDICTS)
    assert math.isnan(got.value)
    assert "expected disagreement is 0" in got.reason


def test_krippendorff_alpha_is_undefined_with_fewer_than_two_pairable_items():
    got = stats.krippendorff_alpha([[GREEN, RED, NAN], [GREEN, NAN, ORANGE]])
    assert math.isnan(got.value)
    assert "need at least 2" in got.reason


# --------------------------------------------------------------------------
# Gwet's AC1 and percent agreement
# --------------------------------------------------------------------------


def test_gwet_ac1_matches_irrcac_on_random_ratings_with_missing_reads():
    rng = np.random.default_rng(41)
    checked = 0
    for trial in range(60):
        readers, items, q = (
            int(rng.integers(2, 11)),
            int(rng.integers(4, 130)),
            int(rng.integers(2, 5)),
        )
        data = noisy_agreement(
            rng, readers, items, q, agree=rng.uniform(0, 0.95), missing=rng.uniform(0, 0.4)
        )
        if (np.sum(~np.isnan(data), axis=0) >= 2).sum() < 2:
            continue
        expected = to_cac(data, range(q)).gwet()["est"]
        got = stats.gwet_ac1(data, categories=range(q))
        assert got.value == pytest.approx(expected["coefficient_value"], abs=1e-12), trial
        assert got.se == pytest.approx(expected["se"], abs=1e-12), trial
        assert (got.ci_low, got.ci_high) == pytest.approx(
            expected["confidence_interval"], abs=1e-12
        ), trial
        checked += 1
    assert checked >= 50


def test_gwet_ac1_reproduces_gwets_four_raters_example():
    """irrCAC documentation (Gwet's package; data raw_4raters from Gwet's Handbook of
    Inter-Rater Reliability: 4 raters, 12 units, missing ratings): AC1 = 0.77544,
    se 0.14295, 95% interval (0.46081, 1)."""
    from irrCAC.datasets import raw_4raters

    data = raw_4raters().to_numpy(dtype=float).T
    got = stats.gwet_ac1(data)
    assert (got.value, got.se, got.ci_low, got.ci_high) == pytest.approx(
        (0.77544, 0.14295, 0.46081, 1.0), abs=5e-6
    )


def test_gwet_ac1_uses_declared_categories_like_irrcac_when_one_verdict_is_unused():
    data = np.array(
        [[GREEN, GREEN, RED, GREEN, GREEN], [GREEN, GREEN, RED, RED, GREEN]], dtype=float
    )
    expected = to_cac(data, VERDICTS).gwet()["est"]["coefficient_value"]
    assert stats.gwet_ac1(data, categories=VERDICTS).value == pytest.approx(expected, abs=1e-12)


def test_gwet_ac1_is_undefined_with_a_single_category():
    got = stats.gwet_ac1([[GREEN] * 5, [GREEN] * 5])
    assert math.isnan(got.value)
    assert "at least 2" in got.reason


def test_prevalence_paradox_kappa_collapses_while_ac1_stays_high():
    """Feinstein & Cicchetti (1990): with one dominant verdict, kappa is near zero (even
    negative) despite 94% raw agreement; Gwet's AC1 is built to stay high."""
    a, b = (2 * reader for reader in expand_table(DOMINANT_GREEN_TABLE))  # 0 -> RED, 1 -> GREEN
    data = np.vstack([a, b])
    assert stats.percent_agreement(data) == pytest.approx(118 / 125)
    assert stats.cohen_kappa(a, b).value < 0.05
    assert stats.fleiss_kappa(stats.category_counts(data)).value < 0.05
    assert stats.krippendorff_alpha(data).value < 0.05
    assert stats.gwet_ac1(data).value > 0.9


def test_percent_agreement_matches_irrcac_observed_agreement_with_missing_reads():
    rng = np.random.default_rng(42)
    checked = 0
    for _ in range(40):
        q = int(rng.integers(2, 5))
        data = noisy_agreement(
            rng, int(rng.integers(2, 11)), int(rng.integers(3, 130)), q, missing=0.3
        )
        if not (np.sum(~np.isnan(data), axis=0) >= 2).any():
            continue
        expected = to_cac(data, range(q)).gwet()["est"]["pa"]
        assert stats.percent_agreement(data) == pytest.approx(expected, abs=1e-12)
        checked += 1
    assert checked >= 35


def test_percent_agreement_averages_agreeing_pairs_over_items_read_twice_or_more():
    data = [[GREEN, GREEN, RED], [GREEN, GREEN, NAN], [RED, NAN, NAN]]
    # item 1: 1 of 3 pairs agree; item 2: its single pair agrees; item 3: one read, ignored
    assert stats.percent_agreement(data) == pytest.approx((1 / 3 + 1) / 2)


def test_percent_agreement_is_nan_when_no_item_was_read_twice():
    assert math.isnan(stats.percent_agreement([[GREEN, NAN], [NAN, RED]]))


def test_module_does_not_import_django():
    import subprocess
    import sys

    code = "import sys, reports.stats; assert not any(m.split('.')[0] == 'django' for m in sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True)

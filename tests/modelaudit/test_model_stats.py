"""reports.model_stats against scikit-learn, a direct O(mn) DeLong, a bootstrap and the
Hanley & McNeil (1982) worked example."""

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score
from sklearn.metrics import roc_curve as sk_roc_curve

from reports import model_stats as ms


def _synthetic(seed, m=60, n=90, shift=0.8, rounding=1):
    rng = np.random.default_rng(seed)
    scores = np.r_[rng.normal(shift, 1, m), rng.normal(0, 1, n)].round(rounding)  # ties
    truth = np.r_[np.ones(m), np.zeros(n)]
    return truth, scores


def _delong_direct(truth, scores):
    """DeLong et al. (1988), eq. for the structural components, by the pairwise kernel."""
    x, y = scores[truth == 1], scores[truth == 0]
    psi = (x[:, None] > y[None, :]) + 0.5 * (x[:, None] == y[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    return psi.mean(), np.sqrt(v10.var(ddof=1) / len(x) + v01.var(ddof=1) / len(y))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_auc_matches_scikit_learn_and_the_direct_delong_variance(seed):
    truth, scores = _synthetic(seed)
    estimate = ms.delong_auc(truth, scores)
    value, se = _delong_direct(truth, scores)
    assert estimate.value == pytest.approx(roc_auc_score(truth, scores), abs=1e-12)
    assert estimate.value == pytest.approx(value, abs=1e-12)
    assert estimate.se == pytest.approx(se, rel=1e-10)
    z = stats.norm.isf(0.025)
    assert estimate.ci_low == pytest.approx(value - z * se, abs=1e-12)
    assert estimate.ci_high == pytest.approx(value + z * se, abs=1e-12)


def test_delong_interval_agrees_with_a_seeded_bootstrap():
    truth, scores = _synthetic(11, m=150, n=200, shift=1.0, rounding=3)
    estimate = ms.delong_auc(truth, scores)
    low, high = ms.bootstrap_auc_ci(truth, scores, n_boot=1500, seed=5)
    assert estimate.ci_low == pytest.approx(low, abs=0.015)
    assert estimate.ci_high == pytest.approx(high, abs=0.015)
    assert estimate.ci_low < estimate.value < estimate.ci_high


def test_hanley_mcneil_1982_rating_example_gives_the_published_area():
    """Hanley & McNeil (1982), Radiology 143:29-36, table 1: 109 CT images rated 1-5;
    the published area is 0.893."""
    normal = [33, 6, 6, 11, 2]
    abnormal = [3, 2, 2, 11, 33]
    scores = np.r_[np.repeat(np.arange(1, 6), normal), np.repeat(np.arange(1, 6), abnormal)]
    truth = np.r_[np.zeros(sum(normal)), np.ones(sum(abnormal))]
    estimate = ms.delong_auc(truth, scores)
    assert estimate.value == pytest.approx(0.893, abs=5e-4)
    # Hanley & McNeil's own SE (exponential approximation) is 0.032; DeLong's is close to it.
    assert estimate.se == pytest.approx(0.032, abs=0.004)


def test_auc_is_undefined_without_both_classes_and_has_no_interval_with_one_of_a_class():
    assert not ms.delong_auc([1, 1, 1], [0.1, 0.2, 0.3]).defined
    one = ms.delong_auc([1, 0, 0], [0.9, 0.2, 0.3])
    assert one.value == 1.0 and np.isnan(one.se)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="0 and 1"):
        ms.delong_auc([2, 0], [0.1, 0.2])
    with pytest.raises(ValueError, match="finite"):
        ms.delong_auc([1, 0], [float("nan"), 0.2])
    with pytest.raises(ValueError, match="one length"):
        ms.delong_auc([1, 0, 1], [0.1, 0.2])


def test_roc_curve_matches_scikit_learn():
    truth, scores = _synthetic(4)
    curve = ms.roc_curve(truth, scores)
    fpr, tpr, thresholds = sk_roc_curve(truth, scores, drop_intermediate=False)
    np.testing.assert_allclose(curve.fpr, fpr)
    np.testing.assert_allclose(curve.tpr, tpr)
    np.testing.assert_allclose(curve.thresholds, thresholds[1:])
    assert float(
        np.sum(np.diff(curve.fpr) * (curve.tpr[1:] + curve.tpr[:-1]) / 2)
    ) == pytest.approx(roc_auc_score(truth, scores))


def test_youden_threshold_is_the_best_cut_found_by_brute_force():
    truth, scores = _synthetic(5)
    best = ms.youden_threshold(truth, scores)
    candidates = np.unique(scores)
    js = [ms.operating_point(truth, scores, t).youden_j for t in candidates]
    assert best.youden_j == pytest.approx(max(js))
    assert best.value == max(t for t, j in zip(candidates, js, strict=True) if j == max(js))
    again = ms.operating_point(truth, scores, best.value)
    assert (again.sensitivity, again.specificity) == pytest.approx(
        (best.sensitivity, best.specificity)
    )
    assert best.chosen_by == "Youden's J"


def test_confusion_cells_put_each_image_in_its_cell():
    cells = ms.confusion_cells([1, 1, 0, 0, 1], [0.9, 0.1, 0.7, 0.2, 0.5], 0.5)
    assert list(cells) == ["tp", "fn", "fp", "tn", "tp"]
    assert ms.cell_counts(cells) == {"tp": 2, "fp": 1, "fn": 1, "tn": 1}


def test_tag_test_is_fisher_exact_with_a_bonferroni_flag():
    result = ms.tag_cells_test(15, 18, 2, 18, tests=6)
    odds, p = stats.fisher_exact([[15, 3], [2, 16]])
    assert result.p_value == pytest.approx(p) and result.odds_ratio == pytest.approx(odds)
    assert result.flagged
    weak = ms.tag_cells_test(5, 18, 3, 18, tests=6)
    assert not weak.flagged
    # p just under 0.05 but not under 0.05/6: not flagged.
    borderline = ms.tag_cells_test(9, 18, 2, 18, tests=6)
    assert 0.05 / 6 < borderline.p_value < 0.05 and not borderline.flagged

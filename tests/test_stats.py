"""crossling.stats: every generic test against a textbook example and an independent computation."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pymannkendall
import pytest
from scipy import stats as sps

from crossling.exceptions import DegenerateInputWarning
from crossling.stats import benjamini_hochberg, f_test, mann_kendall, pearson, variance_test, wilcoxon_signed_rank

# Mann-Kendall "by hand" example (D. Little, College of the Holy Cross, after Gilbert 1987): 14 values,
# one tied pair; published S = 54, V = 14*13*33/18 - 2*1*9/18, Z = (S - 1)/sqrt(V) = 2.9058, one-sided
# p = 0.0018.
MK_SERIES = [12.9, 14.8, 13.2, 15.7, 13.8, 15.6, 12.9, 11.0, 17.3, 15.9, 19.0, 18.3, 20.1, 21.7]

# Benjamini and Hochberg (1995), section 4.1: 15 p-values of a clinical trial; at q = 0.05 the
# procedure rejects the 4 smallest.
BH_PVALUES = [0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459, 0.3240, 0.4262,
              0.5719, 0.6528, 0.7590, 1.0000]


def _mk_by_hand(x: list[float]) -> tuple[float, float]:
    """S and its tie-corrected variance from the textbook formulas."""
    n = len(x)
    s = sum(np.sign(x[j] - x[i]) for i, j in itertools.combinations(range(n), 2))
    _, ties = np.unique(x, return_counts=True)
    var = (n * (n - 1) * (2 * n + 5) - sum(t * (t - 1) * (2 * t + 5) for t in ties)) / 18
    return float(s), float(var)


# --- Mann-Kendall ----------------------------------------------------------------------------------


def test_mann_kendall_textbook_example():
    result = mann_kendall(MK_SERIES)
    assert result.statistic == 54
    assert result.var_s == pytest.approx(14 * 13 * 33 / 18 - 2 * 1 * 9 / 18)
    assert result.z == pytest.approx(2.9058, abs=5e-5)
    assert result.pvalue / 2 == pytest.approx(0.0018, abs=5e-5)  # published one-sided value
    assert result.tau == pytest.approx(54 / 91)
    assert result.trend == "increasing"
    assert result.n == 14


def test_mann_kendall_matches_hand_formulas_and_sen_slope():
    rng = np.random.default_rng(3)
    x = np.round(rng.normal(size=17) + 0.1 * np.arange(17), 1)  # rounding creates ties
    s, var = _mk_by_hand(list(x))
    result = mann_kendall(x)
    assert result.statistic == s
    assert result.var_s == pytest.approx(var)
    z = (s - np.sign(s)) / math.sqrt(var)
    assert result.z == pytest.approx(z)
    assert result.pvalue == pytest.approx(2 * sps.norm.sf(abs(z)))
    slopes = [(x[j] - x[i]) / (j - i) for i, j in itertools.combinations(range(17), 2)]
    assert result.slope == pytest.approx(np.median(slopes))
    reference = pymannkendall.original_test(x)
    assert result.slope == pytest.approx(reference.slope)
    assert result.intercept == pytest.approx(reference.intercept)


def test_mann_kendall_missing_value_keeps_positions():
    layers = np.arange(13)
    values = 2.0 * layers + 1.0
    values[5] = np.nan
    result = mann_kendall(values, positions=layers)
    assert result.n == 12
    assert result.statistic == 12 * 11 / 2
    assert result.slope == pytest.approx(2.0)  # per layer, although one layer is missing
    assert result.intercept == pytest.approx(1.0)
    down = mann_kendall(-values, positions=layers)
    assert down.trend == "decreasing" and down.statistic == -66


def test_mann_kendall_degenerate_and_bad_input():
    with pytest.warns(DegenerateInputWarning, match="constant"):
        result = mann_kendall([0.3] * 6)
    assert math.isnan(result.pvalue) and math.isnan(result.z)
    with pytest.warns(DegenerateInputWarning, match="at least 3"):
        assert math.isnan(mann_kendall([1.0, np.nan, 2.0]).pvalue)
    with pytest.raises(ValueError, match="infinite"):
        mann_kendall([1.0, np.inf, 2.0, 3.0])
    with pytest.raises(ValueError, match="strictly increasing"):
        mann_kendall([1.0, 2.0, 3.0], positions=[0, 2, 1])


# --- Benjamini-Hochberg ----------------------------------------------------------------------------


def test_benjamini_hochberg_published_example():
    result = benjamini_hochberg(BH_PVALUES, q=0.05)
    assert result.rejected.sum() == 4 and result.rejected[:4].all()
    # q_(i) = min_{j >= i} m p_(j) / j, worked by hand for m = 15.
    expected = [0.0015, 0.003, 0.0095, 0.035625, 0.0603, 15 * 0.0298 / 7, 15 * 0.0298 / 7, 0.0645, 0.0765,
                0.486, 15 * 0.4262 / 11, 0.714875, 15 * 0.6528 / 13, 15 * 0.7590 / 14, 1.0]
    np.testing.assert_allclose(result.qvalues, expected, rtol=1e-12)
    assert result.m == 15


def test_benjamini_hochberg_missing_and_order():
    shuffled = np.array(BH_PVALUES)[::-1]
    with_nan = np.concatenate([[np.nan], shuffled])
    result = benjamini_hochberg(with_nan)
    assert math.isnan(result.qvalues[0]) and not result.rejected[0] and result.m == 15
    np.testing.assert_allclose(result.qvalues[1:], benjamini_hochberg(BH_PVALUES).qvalues[::-1])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        benjamini_hochberg([0.2, 1.5])


# --- Pearson ---------------------------------------------------------------------------------------


def test_pearson_hand_computation():
    x, y = [1, 2, 3, 4, 5], [2, 4, 5, 4, 5]
    # Sxy = 6, Sxx = 10, Syy = 6 by hand, so r = 6 / sqrt(60) = sqrt(0.6).
    result = pearson(x, y)
    assert result.statistic == pytest.approx(math.sqrt(0.6))
    t = math.sqrt(0.6) * math.sqrt(3 / 0.4)
    assert result.pvalue == pytest.approx(2 * sps.t.sf(t, 3))
    assert result.n == 5


def test_pearson_drops_incomplete_pairs_and_flags_degenerate():
    result = pearson([1, 2, np.nan, 3, 4, 5], [2, 4, 7, 5, np.nan, 4])
    assert result.n == 4
    assert result.statistic == pytest.approx(np.corrcoef([1, 2, 3, 5], [2, 4, 5, 4])[0, 1])
    with pytest.warns(DegenerateInputWarning, match="constant"):
        assert math.isnan(pearson([1, 2, 3], [4, 4, 4]).statistic)
    with pytest.warns(DegenerateInputWarning, match="at least 3"):
        assert pearson([1, 2], [3, 4]).n == 2
    with pytest.raises(ValueError, match="equal length"):
        pearson([1, 2, 3], [1, 2])


# --- chi-square variance test ------------------------------------------------------------------------


def test_variance_test_textbook_example():
    # Montgomery and Runger, bottle fill volume: n = 20, s^2 = 0.0153 (fl oz)^2, H0 sigma^2 = 0.01:
    # chi2_0 = 19 * 0.0153 / 0.01 = 29.07 < chi2_{0.05,19} = 30.14, so H0 is not rejected (0.05 < P < 0.10).
    z = np.random.default_rng(0).normal(size=20)
    sample = 12 + (z - z.mean()) / z.std(ddof=1) * math.sqrt(0.0153)
    result = variance_test(sample, 0.01)
    assert result.statistic == pytest.approx(29.07)
    assert result.df == 19 and result.n == 20
    assert result.variance == pytest.approx(0.0153)
    assert 0.05 < result.pvalue < 0.10
    assert result.statistic < sps.chi2.ppf(0.95, 19) == pytest.approx(30.14, abs=5e-3)


def test_variance_test_hand_computation_and_tails():
    sample = np.array([0.21, 0.35, 0.12, 0.48, 0.30, 0.27, 0.55, 0.09])
    sigma0 = 0.01
    s2 = np.sum((sample - sample.mean()) ** 2) / 7
    statistic = 7 * s2 / sigma0
    greater = variance_test(sample, sigma0)
    less = variance_test(sample, sigma0, alternative="less")
    both = variance_test(sample, sigma0, alternative="two-sided")
    assert greater.statistic == pytest.approx(statistic)
    assert greater.pvalue == pytest.approx(sps.chi2.sf(statistic, 7))
    assert less.pvalue == pytest.approx(sps.chi2.cdf(statistic, 7))
    assert both.pvalue == pytest.approx(2 * min(greater.pvalue, less.pvalue))
    assert greater.pvalue + less.pvalue == pytest.approx(1.0)
    with pytest.raises(ValueError, match="alternative"):
        variance_test(sample, sigma0, alternative="upper")
    with pytest.raises(ValueError, match="non-negative"):
        variance_test(sample, -1.0)
    with pytest.warns(DegenerateInputWarning, match="reference variance"):
        assert math.isnan(variance_test(sample, 0.0).pvalue)
    with pytest.warns(DegenerateInputWarning, match="at least 2"):
        assert math.isnan(variance_test([0.3, np.nan], 0.1).statistic)


# --- F-test of two variances --------------------------------------------------------------------------


def test_f_test_closed_form_known_answer():
    # x has variance 2.5, y = 2x has 10: F = 0.25 on (4, 4) degrees of freedom. For d1 = d2 = 4 the F
    # distribution function is I_t(2, 2) = 3t^2 - 2t^3 with t = f / (1 + f) = 0.2: P(F <= 0.25) = 0.104,
    # so the two-sided p-value is 0.208 (R: var.test(x, y) gives F = 0.25, p-value = 0.208).
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    result = f_test(x, 2 * x)
    assert result.statistic == pytest.approx(0.25)
    assert (result.df_a, result.df_b, result.n_a, result.n_b) == (4, 4, 5, 5)
    assert (result.variance_a, result.variance_b) == (pytest.approx(2.5), pytest.approx(10.0))
    assert result.pvalue == pytest.approx(0.208) and result.alternative == "two-sided"
    assert f_test(x, 2 * x, alternative="less").pvalue == pytest.approx(0.104)
    assert f_test(x, 2 * x, alternative="greater").pvalue == pytest.approx(0.896)
    # symmetric: swapping the samples inverts F and keeps the two-sided p-value
    swapped = f_test(2 * x, x)
    assert swapped.statistic == pytest.approx(4.0) and swapped.pvalue == pytest.approx(0.208)


def test_f_test_against_scipy_missing_values_and_degenerate_input():
    rng = np.random.default_rng(3)
    a, b = rng.normal(scale=2.0, size=12), rng.normal(size=7)
    result = f_test(np.append(a, np.nan), b)  # a NaN is missing, not a value
    statistic = np.var(a, ddof=1) / np.var(b, ddof=1)
    assert result.statistic == pytest.approx(statistic) and result.n_a == 12
    upper = sps.f.sf(statistic, 11, 6)
    assert result.pvalue == pytest.approx(min(1.0, 2 * min(upper, 1 - upper)))
    with pytest.raises(ValueError, match="alternative"):
        f_test(a, b, alternative="upper")
    with pytest.raises(ValueError, match="infinite"):
        f_test([1.0, np.inf], b)
    with pytest.warns(DegenerateInputWarning, match="at least 2 values"):
        assert math.isnan(f_test([1.0], b).pvalue)
    with pytest.warns(DegenerateInputWarning, match="constant"):
        assert math.isnan(f_test(a, [3.0, 3.0, 3.0]).statistic)


# --- Wilcoxon signed-rank test -----------------------------------------------------------------------------


def test_wilcoxon_signed_rank_known_answers():
    # Six differences, all positive: W = 0 and the exact two-sided p-value is 2 / 2^6 = 0.03125.
    x = np.array([1.1, 2.3, 3.0, 4.6, 5.2, 6.9])
    result = wilcoxon_signed_rank(x, x - np.array([0.5, 0.1, 0.3, 0.2, 0.6, 0.4]))
    assert result.statistic == 0 and result.pvalue == pytest.approx(0.03125) and result.n == 6
    assert result.mean_difference == pytest.approx(0.35) and result.median_difference == pytest.approx(0.35)
    # Differences -1, 2, 3 (ranks 1, 2, 3): W = min(5, 1) = 1; of the 2^3 sign patterns, those with a rank sum
    # of the negatives <= 1 or >= 5 are 4, so p = 4 / 8 = 0.5.
    mixed = wilcoxon_signed_rank([0.0, 2.0, 3.0, np.nan], [1.0, 0.0, 0.0, 4.0])
    assert mixed.statistic == 1 and mixed.pvalue == pytest.approx(0.5) and mixed.n == 3
    with pytest.warns(DegenerateInputWarning, match="non-zero differences"):
        assert math.isnan(wilcoxon_signed_rank([1.0, 2.0], [1.0, 2.0]).pvalue)
    with pytest.raises(ValueError, match="equal length"):
        wilcoxon_signed_rank([1.0], [1.0, 2.0])

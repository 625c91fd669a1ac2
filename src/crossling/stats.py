"""Generic statistical tests with named results: trends, false discovery rate, correlation, variances.

Small pure functions with keyword-only options, each returning a named tuple:

- :func:`mann_kendall`: is a series monotone? (Mann-Kendall test with Sen's slope);
- :func:`benjamini_hochberg`: q-values of a family of tests (false discovery rate);
- :func:`pearson`: Pearson correlation of paired samples;
- :func:`variance_test`: chi-square test of a normal sample's variance against a reference variance;
- :func:`f_test`: F-test of the ratio of two normal samples' variances (both estimated);
- :func:`wilcoxon_signed_rank`: is the median of paired differences zero? (Wilcoxon signed-rank test).

They know nothing of languages or studies: the joint-factorization study applies them to its tables in
:mod:`crossling.factorization.statistics`, passing in its language groups.

Missing values (one policy for the whole module)
------------------------------------------------
NaN means "missing". Every function drops missing values (pairwise for paired statistics) and reports
``n``, the number of values actually used. When too few values remain, or the data are degenerate (a
constant series), the result's numbers are NaN and a :class:`~crossling.exceptions.DegenerateInputWarning`
names the cause. Infinite values are an error (:class:`ValueError`).
"""

from __future__ import annotations

import warnings
from typing import Literal, NamedTuple, Sequence

import numpy as np
import pymannkendall
from scipy import stats as _sps

from crossling.exceptions import DegenerateInputWarning

__all__ = [
    "Alternative",
    "FDRResult",
    "FTestResult",
    "MannKendallResult",
    "PearsonResult",
    "VarianceTestResult",
    "WilcoxonResult",
    "benjamini_hochberg",
    "f_test",
    "mann_kendall",
    "pearson",
    "variance_test",
    "wilcoxon_signed_rank",
]

Alternative = Literal["greater", "less", "two-sided"]
"""The alternative hypothesis of a variance test (see :func:`variance_test` and :func:`f_test`)."""


def _finite_or_nan(values: np.ndarray, name: str) -> np.ndarray:
    """Return ``values`` as float64, raising on infinities (NaN is allowed: it means missing)."""
    values = np.asarray(values, dtype=np.float64)
    if np.isinf(values).any():
        raise ValueError(f"{name} contains infinite values; use NaN to mark a missing value")
    return values


def _degenerate(message: str) -> None:
    warnings.warn(message, DegenerateInputWarning, stacklevel=3)


# --------------------------------------------------------------------------------------------------
# Mann-Kendall trend test and false discovery rate


class MannKendallResult(NamedTuple):
    """Result of :func:`mann_kendall`.

    Attributes
    ----------
    trend : str
        ``"increasing"``, ``"decreasing"`` or ``"no trend"`` at level ``alpha`` (two-sided).
    statistic : float
        The Mann-Kendall statistic S = sum_{i<j} sign(x_j - x_i).
    z : float
        The standardised statistic, (S - sign(S)) / sqrt(var S) (continuity-corrected).
    var_s : float
        var S under no trend, corrected for ties.
    pvalue : float
        Two-sided p-value of z under the standard normal.
    tau : float
        Kendall's tau, S / (n (n - 1) / 2).
    slope, intercept : float
        Sen's slope (median of pairwise slopes, per unit of ``positions``) and the intercept
        median(x) - slope * median(positions).
    n : int
        Number of non-missing values used.
    """

    trend: str
    statistic: float
    z: float
    var_s: float
    pvalue: float
    tau: float
    slope: float
    intercept: float
    n: int


def mann_kendall(
    values: Sequence[float] | np.ndarray,
    *,
    positions: Sequence[float] | np.ndarray | None = None,
    alpha: float = 0.05,
) -> MannKendallResult:
    """Mann-Kendall test for a monotone trend in a series, with Sen's slope.

    Parameters
    ----------
    values : array_like, shape (n,)
        The series in order (here: one language's average signature at each layer). NaN = missing.
    positions : array_like, shape (n,), optional
        Strictly increasing positions of the values (here: layer numbers). The test only uses their
        order; Sen's slope is per unit of position. Default ``0, 1, ..., n - 1``.
    alpha : float, default 0.05
        Level for the ``trend`` label (the p-value does not depend on it).

    Returns
    -------
    MannKendallResult

    Raises
    ------
    ValueError
        For infinite values, values that are not one-dimensional, or positions of another shape, missing or
        not strictly increasing.

    Notes
    -----
    S = sum_{i<j} sign(x_j - x_i); under no trend, with g groups of tied values of sizes t_p,
    var S = [n(n-1)(2n+5) - sum_p t_p(t_p-1)(2t_p+5)] / 18 and z = (S - sign S) / sqrt(var S) is
    approximately standard normal (Mann 1945; Kendall 1975; Gilbert 1987, "Statistical Methods for
    Environmental Pollution Monitoring", section 16.4). The normal approximation is good from about
    n = 10. The test is computed by ``pymannkendall.original_test`` (Hussain and Mahmud, 2019); Sen's
    slope by :func:`scipy.stats.theilslopes` so that it is per unit of ``positions`` even when values
    are missing. Fewer than 3 values, or a constant series (var S = 0), give NaN with a
    :class:`DegenerateInputWarning`.
    """
    x = _finite_or_nan(values, "values")
    if x.ndim != 1:
        raise ValueError(f"values must be one-dimensional, got shape {x.shape}")
    t = np.arange(x.size, dtype=np.float64) if positions is None else _finite_or_nan(positions, "positions")
    if t.shape != x.shape:
        raise ValueError(f"positions has shape {t.shape} but values has shape {x.shape}")
    if np.isnan(t).any() or (np.diff(t) <= 0).any():
        raise ValueError("positions must be strictly increasing and not missing")
    keep = ~np.isnan(x)
    x, t = x[keep], t[keep]
    n = int(x.size)
    nan = float("nan")
    if n < 3:
        _degenerate(f"Mann-Kendall test needs at least 3 non-missing values, got {n}; result is NaN")
        return MannKendallResult("no trend", nan, nan, nan, nan, nan, nan, nan, n)
    if np.all(x == x[0]):
        _degenerate("Mann-Kendall test of a constant series is undefined (var S = 0); result is NaN")
        return MannKendallResult("no trend", 0.0, nan, 0.0, nan, nan, 0.0, float(x[0]), n)
    mk = pymannkendall.original_test(x, alpha=alpha)
    sen = _sps.theilslopes(x, t)
    return MannKendallResult(
        trend=str(mk.trend),
        statistic=float(mk.s),
        z=float(mk.z),
        var_s=float(mk.var_s),
        pvalue=float(mk.p),
        tau=float(mk.Tau),
        slope=float(sen.slope),
        intercept=float(sen.intercept),
        n=n,
    )


class FDRResult(NamedTuple):
    """Result of :func:`benjamini_hochberg`.

    Attributes
    ----------
    qvalues : ndarray, shape (m,)
        Benjamini-Hochberg adjusted p-values (NaN where the p-value was missing).
    rejected : ndarray of bool, shape (m,)
        ``qvalues <= q`` (False where missing).
    q : float
        The false discovery rate controlled.
    m : int
        Number of non-missing p-values (the size of the family).
    """

    qvalues: np.ndarray
    rejected: np.ndarray
    q: float
    m: int


def benjamini_hochberg(pvalues: Sequence[float] | np.ndarray, *, q: float = 0.05) -> FDRResult:
    """Benjamini-Hochberg step-up procedure controlling the false discovery rate at ``q``.

    Parameters
    ----------
    pvalues : array_like, shape (m,)
        p-values of one family of tests. NaN = missing: left out of the family and given a NaN q-value.
    q : float, default 0.05
        False discovery rate.

    Returns
    -------
    FDRResult

    Raises
    ------
    ValueError
        For infinite or out-of-range p-values, p-values that are not one-dimensional, or q outside (0, 1).

    Notes
    -----
    With sorted p-values p_(1) <= ... <= p_(m), the adjusted value is
    q_(i) = min_{j >= i} min(1, m p_(j) / j); rejecting every hypothesis with q_(i) <= q is the
    procedure of Benjamini and Hochberg (1995, JRSS B 57:289-300). Computed by
    :func:`scipy.stats.false_discovery_control` (``method="bh"``).
    """
    p = _finite_or_nan(pvalues, "pvalues")
    if p.ndim != 1:
        raise ValueError(f"pvalues must be one-dimensional, got shape {p.shape}")
    if not 0 < q < 1:
        raise ValueError(f"q must be in (0, 1), got {q}")
    keep = ~np.isnan(p)
    if ((p[keep] < 0) | (p[keep] > 1)).any():
        raise ValueError("p-values must lie in [0, 1]")
    qvalues = np.full(p.shape, np.nan)
    if keep.any():
        qvalues[keep] = _sps.false_discovery_control(p[keep], method="bh")
    rejected = np.zeros(p.shape, dtype=bool)
    rejected[keep] = qvalues[keep] <= q
    return FDRResult(qvalues=qvalues, rejected=rejected, q=float(q), m=int(keep.sum()))


# --------------------------------------------------------------------------------------------------
# Correlations


class PearsonResult(NamedTuple):
    """Result of :func:`pearson`.

    Attributes
    ----------
    statistic : float
        Pearson's r.
    pvalue : float
        Its two-sided p-value.
    n : int
        Number of complete pairs used.
    """

    statistic: float
    pvalue: float
    n: int


def pearson(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> PearsonResult:
    """Pearson correlation of two paired samples, dropping incomplete pairs.

    Parameters
    ----------
    x, y : array_like, shape (n,)
        Paired values; a pair with a NaN on either side is left out.

    Returns
    -------
    PearsonResult

    Raises
    ------
    ValueError
        For infinite values, or samples that are not one-dimensional of equal length.

    Notes
    -----
    r = sum (x_i - mx)(y_i - my) / sqrt(sum (x_i - mx)^2 sum (y_i - my)^2); the two-sided p-value is
    that of t = r sqrt((n - 2) / (1 - r^2)) with n - 2 degrees of freedom (exact under bivariate
    normality), computed by :func:`scipy.stats.pearsonr`. Fewer than 3 complete pairs or a constant
    sample give NaN with a :class:`DegenerateInputWarning`.
    """
    x = _finite_or_nan(x, "x")
    y = _finite_or_nan(y, "y")
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"x and y must be one-dimensional of equal length, got {x.shape} and {y.shape}")
    keep = ~(np.isnan(x) | np.isnan(y))
    x, y = x[keep], y[keep]
    n = int(x.size)
    if n < 3:
        _degenerate(f"Pearson correlation needs at least 3 complete pairs, got {n}; result is NaN")
        return PearsonResult(float("nan"), float("nan"), n)
    if np.all(x == x[0]) or np.all(y == y[0]):
        _degenerate("Pearson correlation of a constant sample is undefined; result is NaN")
        return PearsonResult(float("nan"), float("nan"), n)
    r = _sps.pearsonr(x, y)
    return PearsonResult(float(r.statistic), float(r.pvalue), n)


# --------------------------------------------------------------------------------------------------
# Chi-square test of one variance


class VarianceTestResult(NamedTuple):
    """Result of :func:`variance_test`.

    Attributes
    ----------
    statistic : float
        (n - 1) s^2 / sigma0^2.
    pvalue : float
        Under chi2(n - 1), in the tail(s) named by ``alternative``.
    df : int
        n - 1.
    variance : float
        s^2, the sample variance (ddof = 1) of the tested sample.
    reference_variance : float
        sigma0^2, the variance it is tested against.
    n : int
        Size of the tested sample (non-missing values).
    alternative : str
    """

    statistic: float
    pvalue: float
    df: int
    variance: float
    reference_variance: float
    n: int
    alternative: str


def variance_test(
    sample: Sequence[float] | np.ndarray,
    reference_variance: float,
    *,
    alternative: Alternative = "greater",
) -> VarianceTestResult:
    """Chi-square test that a normal sample's variance equals ``reference_variance``.

    Parameters
    ----------
    sample : array_like, shape (n,)
        The tested sample (here: the average signatures of the diverse languages). NaN = missing.
    reference_variance : float
        sigma0^2 under the null hypothesis (here: the variance of a related set's signatures).
    alternative : {"greater", "less", "two-sided"}, default "greater"
        "greater": H1 sigma^2 > sigma0^2, p = P(chi2_{n-1} >= T) (upper tail; the study's question:
        do diverse languages spread more than related ones?). "less": p = P(chi2_{n-1} <= T).
        "two-sided": p = 2 min(upper, lower), capped at 1 (equal-tailed).

    Returns
    -------
    VarianceTestResult

    Raises
    ------
    ValueError
        For an unknown ``alternative``, infinite values, a sample that is not one-dimensional or a negative
        reference variance.

    Notes
    -----
    T = (n - 1) s^2 / sigma0^2 with s^2 = sum (x_i - mean)^2 / (n - 1) follows chi2(n - 1) under H0 for
    a normal sample (e.g. Montgomery and Runger, "Applied Statistics and Probability for Engineers",
    section 9-4). Fewer than 2 values, a zero or missing reference variance give NaN with a
    :class:`DegenerateInputWarning`; a negative reference variance is an error.
    """
    if alternative not in ("greater", "less", "two-sided"):
        raise ValueError(f"alternative must be 'greater', 'less' or 'two-sided', got {alternative!r}")
    x = _finite_or_nan(sample, "sample")
    if x.ndim != 1:
        raise ValueError(f"sample must be one-dimensional, got shape {x.shape}")
    sigma0 = float(_finite_or_nan(reference_variance, "reference_variance"))
    if sigma0 < 0:
        raise ValueError(f"reference_variance must be non-negative, got {sigma0}")
    x = x[~np.isnan(x)]
    n = int(x.size)
    variance = float(np.var(x, ddof=1)) if n >= 2 else float("nan")
    nan = float("nan")
    if n < 2:
        _degenerate(f"chi-square variance test needs at least 2 values, got {n}; result is NaN")
        return VarianceTestResult(nan, nan, max(n - 1, 0), variance, sigma0, n, alternative)
    if not sigma0 > 0:
        _degenerate(f"reference variance is {sigma0}: the chi-square variance test is undefined; result is NaN")
        return VarianceTestResult(nan, nan, n - 1, variance, sigma0, n, alternative)
    statistic = (n - 1) * variance / sigma0
    pvalue = _tails(_sps.chi2.cdf(statistic, n - 1), _sps.chi2.sf(statistic, n - 1), alternative)
    return VarianceTestResult(float(statistic), pvalue, n - 1, variance, sigma0, n, alternative)


def _tails(cdf: float, sf: float, alternative: Alternative) -> float:
    """The p-value of a statistic with lower tail ``cdf`` and upper tail ``sf`` (two-sided: equal-tailed)."""
    return float({"greater": sf, "less": cdf, "two-sided": min(1.0, 2 * min(sf, cdf))}[alternative])


# --------------------------------------------------------------------------------------------------
# F-test of two variances


class FTestResult(NamedTuple):
    """Result of :func:`f_test`.

    Attributes
    ----------
    statistic : float
        F = s_a^2 / s_b^2.
    pvalue : float
        Under F(n_a - 1, n_b - 1), in the tail(s) named by ``alternative``.
    df_a, df_b : int
        n_a - 1 and n_b - 1 (numerator and denominator degrees of freedom).
    variance_a, variance_b : float
        The sample variances (ddof = 1).
    n_a, n_b : int
        Sizes of the samples (non-missing values).
    alternative : str
    """

    statistic: float
    pvalue: float
    df_a: int
    df_b: int
    variance_a: float
    variance_b: float
    n_a: int
    n_b: int
    alternative: str


def f_test(
    sample_a: Sequence[float] | np.ndarray,
    sample_b: Sequence[float] | np.ndarray,
    *,
    alternative: Alternative = "two-sided",
) -> FTestResult:
    """F-test that two independent normal samples have the same variance.

    Parameters
    ----------
    sample_a, sample_b : array_like, shape (n_a,) and (n_b,)
        The two samples (here: average signatures of a diverse and of a related set of languages). NaN =
        missing.
    alternative : {"two-sided", "greater", "less"}, default "two-sided"
        "two-sided": H1 sigma_a^2 != sigma_b^2, p = 2 min(P(F <= f), P(F >= f)) capped at 1 (equal-tailed).
        "greater": H1 sigma_a^2 > sigma_b^2, p = P(F >= f). "less": p = P(F <= f).

    Returns
    -------
    FTestResult

    Raises
    ------
    ValueError
        For an unknown ``alternative``, infinite values or samples that are not one-dimensional.

    Notes
    -----
    F = s_a^2 / s_b^2 with s^2 = sum (x_i - mean)^2 / (n - 1) follows F(n_a - 1, n_b - 1) under H0 for
    independent normal samples (e.g. Montgomery and Runger, "Applied Statistics and Probability for
    Engineers", section 10-5; R's ``var.test``). Unlike :func:`variance_test`, both variances are estimated,
    so the second sample's sampling error is accounted for. Fewer than 2 values in a sample, or a zero
    variance in ``sample_b``, give NaN with a :class:`DegenerateInputWarning`.
    """
    if alternative not in ("greater", "less", "two-sided"):
        raise ValueError(f"alternative must be 'greater', 'less' or 'two-sided', got {alternative!r}")
    samples = []
    for name, values in (("sample_a", sample_a), ("sample_b", sample_b)):
        x = _finite_or_nan(values, name)
        if x.ndim != 1:
            raise ValueError(f"{name} must be one-dimensional, got shape {x.shape}")
        samples.append(x[~np.isnan(x)])
    a, b = samples
    n_a, n_b = int(a.size), int(b.size)
    var_a = float(np.var(a, ddof=1)) if n_a >= 2 else float("nan")
    var_b = float(np.var(b, ddof=1)) if n_b >= 2 else float("nan")
    nan = float("nan")
    df_a, df_b = max(n_a - 1, 0), max(n_b - 1, 0)
    if min(n_a, n_b) < 2:
        _degenerate(f"F-test needs at least 2 values in each sample, got {n_a} and {n_b}; result is NaN")
        return FTestResult(nan, nan, df_a, df_b, var_a, var_b, n_a, n_b, alternative)
    if not var_b > 0:
        _degenerate("the second sample is constant: the F-test of variances is undefined; result is NaN")
        return FTestResult(nan, nan, df_a, df_b, var_a, var_b, n_a, n_b, alternative)
    statistic = var_a / var_b
    pvalue = _tails(_sps.f.cdf(statistic, df_a, df_b), _sps.f.sf(statistic, df_a, df_b), alternative)
    return FTestResult(float(statistic), pvalue, df_a, df_b, var_a, var_b, n_a, n_b, alternative)


# --------------------------------------------------------------------------------------------------
# Wilcoxon signed-rank test of paired differences


class WilcoxonResult(NamedTuple):
    """Result of :func:`wilcoxon_signed_rank`.

    Attributes
    ----------
    statistic : float
        W = the smaller of the sums of the ranks of the positive and of the negative differences.
    pvalue : float
        Two-sided p-value (exact for fewer than 51 differences without ties or zeros, else the normal
        approximation), as :func:`scipy.stats.wilcoxon` computes it.
    n : int
        Number of complete pairs used (zero differences included; see Notes).
    mean_difference, median_difference : float
        Of ``x - y``.
    """

    statistic: float
    pvalue: float
    n: int
    mean_difference: float
    median_difference: float


def wilcoxon_signed_rank(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> WilcoxonResult:
    """Wilcoxon signed-rank test that paired differences ``x - y`` are symmetric about zero (two-sided).

    Parameters
    ----------
    x, y : array_like, shape (n,)
        Paired values (here: a language's average signatures in two runs, over categories and layers); a
        pair with a NaN on either side is left out.

    Returns
    -------
    WilcoxonResult

    Raises
    ------
    ValueError
        For infinite values, or samples that are not one-dimensional of equal length.

    Notes
    -----
    The differences are ranked by absolute value; W is the smaller of the positive and negative rank sums
    (Wilcoxon 1945). Zero differences are dropped before ranking (Wilcoxon's convention, ``zero_method="wilcox"``
    of :func:`scipy.stats.wilcoxon`, which computes the test). The pairs are treated as independent: a language's
    values at neighbouring layers are not, so the p-value is a guide, not an exact error rate. Fewer than 2
    non-zero differences give NaN with a :class:`DegenerateInputWarning`.
    """
    x = _finite_or_nan(x, "x")
    y = _finite_or_nan(y, "y")
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"x and y must be one-dimensional of equal length, got {x.shape} and {y.shape}")
    keep = ~(np.isnan(x) | np.isnan(y))
    d = x[keep] - y[keep]
    n = int(d.size)
    mean = float(d.mean()) if n else float("nan")
    median = float(np.median(d)) if n else float("nan")
    if np.count_nonzero(d) < 2:
        _degenerate(f"Wilcoxon signed-rank test needs at least 2 non-zero differences, got {np.count_nonzero(d)}; "
                    "result is NaN")
        return WilcoxonResult(float("nan"), float("nan"), n, mean, median)
    result = _sps.wilcoxon(d, zero_method="wilcox", alternative="two-sided")
    return WilcoxonResult(float(result.statistic), float(result.pvalue), n, mean, median)

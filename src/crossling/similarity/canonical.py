"""Canonical correlation analysis and its variants SVCCA and PWCCA, all from second moments."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

from crossling.moments import Moments
from crossling.similarity._common import ScalarResult, as_pair, degenerate, moments_of, resolve, single_layer

__all__ = ["DEFAULT_RIDGE", "CCAResult", "cca", "pwcca", "svcca"]

#: Relative ridge applied (with a warning) when ``ridge=None`` and there are too few items for plain CCA.
DEFAULT_RIDGE = 0.1

# Eigen-directions of a covariance below this fraction of its largest eigenvalue carry no data (constant or
# collinear neurons, fewer items than neurons) and are dropped: CCA is computed on the data's span.
_RANK_RTOL = 1e-10


@dataclass(frozen=True, eq=False)
class CCAResult(ScalarResult):
    """Result of :func:`cca`, :func:`svcca` or :func:`pwcca` (similarities in [0, 1]).

    Attributes
    ----------
    value : float
        The index: mean canonical correlation (CCA, SVCCA) or the projection-weighted mean (PWCCA);
        NaN (with a warning) when undefined.
    correlations : ndarray of float64, shape (k,)
        Canonical correlations in [0, 1], decreasing; ``k = min(dims_x, dims_y)``; empty when the index is
        undefined.
    method : {"cca", "svcca", "pwcca"}
        The function that computed the result.
    n : int
        Paired rows.
    dims_x, dims_y : int
        Dimensions of each side entering the CCA: the numerical rank of the covariance (CCA, PWCCA; all of
        p, or of q, when a ridge is used) or the principal directions kept (SVCCA; of those, only the ones
        with variance unless a ridge is used); 0 when undefined.
    ridge : float
        Relative ridge used (0 for exact CCA): ``C + ridge * (tr C / d) I`` replaced each covariance; NaN
        when the index is undefined.
    explained_x, explained_y : float, default 1.0
        Fraction in [0, 1] of each side's variance in the directions used (1 unless SVCCA cut directions).
    weights : ndarray of float64, shape (k,), or None
        PWCCA: the normalised projection weights of the correlations (non-negative, summing to 1); else None.
    side : {"x", "y"} or None
        PWCCA: the representation whose neurons the weights were computed on; else None.
    """

    correlations: np.ndarray
    method: str
    n: int
    dims_x: int
    dims_y: int
    ridge: float
    explained_x: float = 1.0
    explained_y: float = 1.0
    weights: np.ndarray | None = None
    side: str | None = None


# Recent eigendecompositions by content: cca, svcca and pwcca of one pair share them, and so do all pairs
# with a common language (its covariance is identical). Bounded: 8 entries, about 38 MB at d = 768.
_EIGH_CACHE: OrderedDict[tuple, tuple[np.ndarray, np.ndarray]] = OrderedDict()
_EIGH_CACHE_SIZE = 8


def _eigh_desc(C: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (descending) and eigenvectors of a symmetric matrix, memoised by content (read-only)."""
    C = np.ascontiguousarray(C, dtype=np.float64)
    key = (C.shape, hashlib.blake2b(C.tobytes(), digest_size=16).digest())
    if key in _EIGH_CACHE:
        _EIGH_CACHE.move_to_end(key)
        return _EIGH_CACHE[key]
    w, V = np.linalg.eigh(C)
    w, V = w[::-1].copy(), V[:, ::-1].copy()
    w.flags.writeable = V.flags.writeable = False
    _EIGH_CACHE[key] = (w, V)
    if len(_EIGH_CACHE) > _EIGH_CACHE_SIZE:
        _EIGH_CACHE.popitem(last=False)
    return w, V


def _whitener(w: np.ndarray, V: np.ndarray, ridge: float) -> np.ndarray:
    """W (d x r) with W^T (C + ridge tr(C)/d I) W = I, from C's eigenpairs (w descending)."""
    if ridge > 0:
        shifted = w + ridge * w.sum() / len(w)
        return V / np.sqrt(shifted)
    keep = w > _RANK_RTOL * w[0] if w[0] > 0 else np.zeros(len(w), bool)
    return V[:, keep] / np.sqrt(w[keep])


@dataclass(frozen=True, eq=False)
class _Canonical:
    rho: np.ndarray  # (k,) canonical correlations, decreasing
    A: np.ndarray | None  # (p, k) directions on X (canonical variates X_c A), when asked for
    B: np.ndarray | None  # (q, k) directions on Y
    ridge: float
    dims_x: int
    dims_y: int


def _canonical(
    ex, ey, cxy: np.ndarray, n: int, ridge: float | None, method: str, *, directions: bool = False
) -> _Canonical | None:
    """CCA of two sides given by their covariance eigenpairs ``ex = (w, V)``, ``ey`` and cross-covariance.

    Canonical correlations are the singular values of ``Wx^T Cxy Wy`` for whiteners W; ``None`` (after a
    warning) when CCA is undefined.
    """
    if ridge is not None and ridge < 0:
        raise ValueError(f"ridge must be >= 0, got {ridge}")
    Wx, Wy = _whitener(*ex, 0.0), _whitener(*ey, 0.0)
    rx, ry = Wx.shape[1], Wy.shape[1]
    if rx == 0 or ry == 0:
        degenerate(f"{method}: a representation is constant (rank 0); the index is NaN")
        return None
    # centred data live in n - 1 dimensions, so spans of ranks rx and ry must share rx + ry - (n - 1)
    # directions: that many canonical correlations would be exactly 1 whatever the data
    if ridge is None:
        ridge = 0.0
        if rx + ry > n - 1:
            degenerate(
                f"{method}: n={n} items cannot support CCA of {rx} + {ry} dimensions (canonical correlations "
                f"would be trivially 1); using ridge={DEFAULT_RIDGE} (relative to the mean variance). Pass "
                "ridge=... or cut dimensions (svcca(dims=...)) to choose"
            )
            ridge = DEFAULT_RIDGE
    elif ridge == 0 and rx + ry > n - 1:
        degenerate(f"{method}: n={n} items cannot support unregularised CCA of {rx} + {ry} dimensions "
                   "(trivial correlations of 1); the index is NaN. Use ridge > 0 or fewer dimensions")
        return None
    if ridge > 0:
        Wx, Wy = _whitener(*ex, ridge), _whitener(*ey, ridge)
    T = Wx.T @ cxy @ Wy
    if directions:
        U, rho, Vt = np.linalg.svd(T, full_matrices=False)
        A, B = Wx @ U, Wy @ Vt.T
    else:
        rho, A, B = np.linalg.svd(T, compute_uv=False), None, None
    return _Canonical(np.clip(rho, 0.0, 1.0), A, B, ridge, Wx.shape[1], Wy.shape[1])


def _result(can: _Canonical | None, method: str, n: int, value: float | None = None, **extra) -> CCAResult:
    if can is None:
        return CCAResult(value=np.nan, correlations=np.empty(0), method=method, n=n, dims_x=0, dims_y=0,
                         ridge=np.nan, **extra)
    value = float(np.mean(can.rho)) if value is None else value
    return CCAResult(value=value, correlations=can.rho, method=method, n=n, dims_x=can.dims_x,
                     dims_y=can.dims_y, ridge=can.ridge, **extra)


def _stats(X_or_moments: Any, Y: Any):
    stats = resolve(X_or_moments, Y)
    if stats is None:
        stats = Moments.from_arrays(*as_pair(X_or_moments, Y))
    return stats


def cca(X_or_moments: Any, Y: Any = None, *, ridge: float | None = None) -> CCAResult:
    r"""Canonical correlations of paired representations and their mean.

    .. math::

        \rho_1 \ge \dots \ge \rho_k = \text{singular values of } C_{xx}^{-1/2} C_{xy} C_{yy}^{-1/2},
        \qquad \mathrm{CCA}(X, Y) = \frac{1}{k} \sum_i \rho_i,

    (Hotelling, 1936; used as a representation similarity by Raghu et al., 2017, and Del and Fishel, 2022).
    A similarity in [0, 1], invariant to invertible linear maps of either side (with ``ridge=0``).
    Directions without variance (constant or collinear neurons) are dropped first, so ``k`` is the smaller
    of the two ranks.

    Parameters
    ----------
    X_or_moments : array_like (n, p), or Moments / RowNormMoments
        The first representation, or the moments of one layer of the pair (omit ``Y``); for a multi-layer
        Moments use :func:`~crossling.similarity.per_layer`.
    Y : array_like (n, q), optional
        The second representation, row i paired with row i of X (translations); omit it with statistics.
    ridge : float or None, default None
        Relative ridge: each covariance ``C`` (d x d) becomes ``C + ridge * (tr C / d) I``. ``None`` means
        none when the problem is well posed, and :data:`DEFAULT_RIDGE` (0.1) with a
        :class:`~crossling.exceptions.DegenerateInputWarning` when ``rank_x + rank_y > n - 1``: then the spans of
        the centred data must intersect and that many correlations are 1 whatever the data. ``0`` forces
        plain CCA (NaN with a warning in that case).

    Returns
    -------
    CCAResult
        ``value`` the mean canonical correlation, in [0, 1]; the correlations, dimensions and ridge used.

    Raises
    ------
    TypeError
        If ``X_or_moments`` is statistics with a layer axis (use :func:`~crossling.similarity.per_layer`),
        statistics and ``Y`` are both given, or an array is given without ``Y``.
    ValueError
        If the arrays are not 2-D, their row counts differ, there are fewer than 2 paired rows (arrays or
        statistics), or a value is NaN or Inf; or if ``ridge`` < 0.

    Warns
    -----
    DegenerateInputWarning
        When a representation is constant (the index is NaN), or when the rows are too few for the
        dimensions (``ridge=None``: the default ridge is used; ``ridge=0``: the index is NaN).
    """
    def one(s) -> CCAResult:
        m = moments_of(s)
        can = _canonical(_eigh_desc(m.cov_xx()), _eigh_desc(m.cov_yy()), m.cov_xy(), m.n, ridge, "CCA")
        return _result(can, "cca", m.n)

    return single_layer(_stats(X_or_moments, Y), one)


def _top_directions(C: np.ndarray, variance: float | None, dims: int | None) -> tuple[np.ndarray, np.ndarray, float]:
    """Eigenpairs of the principal directions kept by SVCCA's first step, and the variance they explain."""
    w, V = _eigh_desc(C)
    w = np.clip(w, 0.0, None)
    total = w.sum()
    if dims is not None:
        k = dims
    else:
        # smallest k whose cumulative share reaches the threshold (a hair of slack for rounding)
        k = int(np.searchsorted(np.cumsum(w) / total, variance - 1e-12)) + 1 if total > 0 else 1
    k = min(k, len(w))
    return w[:k], V[:, :k], float(w[:k].sum() / total) if total > 0 else np.nan


def svcca(
    X_or_moments: Any,
    Y: Any = None,
    *,
    variance: float | None = 0.99,
    dims: int | None = None,
    ridge: float | None = None,
) -> CCAResult:
    r"""Singular vector CCA (Raghu, Gilmer, Yosinski and Sohl-Dickstein, 2017, NeurIPS).

    Step 1 keeps the top principal directions of each side (eigenvectors of ``C_xx`` and ``C_yy``, by
    decreasing variance); step 2 is :func:`cca` between the projections ``X_c U_x`` and ``Y_c U_y``, whose
    covariances are ``diag(lambda)`` and ``U_x^T C_xy U_y``, so everything comes from the moments:

    .. math::

        \mathrm{SVCCA}(X, Y) = \frac{1}{k}\sum_i \rho_i\big(U_x^\top C_{xx} U_x,\;
        U_x^\top C_{xy} U_y,\; U_y^\top C_{yy} U_y\big).

    Parameters
    ----------
    X_or_moments, Y : array_like or Moments or RowNormMoments
        As for :func:`cca`.
    variance : float, default 0.99
        Fraction in (0, 1]: keep the fewest directions whose eigenvalues sum to at least this fraction of the
        total variance (the eigenvalues of the covariance, i.e. squared singular values of the centred data).
    dims : int, optional
        Keep exactly this many directions per side instead (Del and Fishel's code used 20); overrides
        ``variance``.
    ridge : float or None, default None
        As for :func:`cca`, applied in the reduced space.

    Returns
    -------
    CCAResult
        ``value`` the mean canonical correlation in the reduced spaces, in [0, 1]; ``dims_x``, ``dims_y`` the
        directions kept and ``explained_x``, ``explained_y`` their share of the variance.

    Raises
    ------
    TypeError
        If ``X_or_moments`` is statistics with a layer axis (use :func:`~crossling.similarity.per_layer`),
        statistics and ``Y`` are both given, or an array is given without ``Y``.
    ValueError
        If the arrays are not 2-D, their row counts differ, there are fewer than 2 paired rows (arrays or
        statistics), or a value is NaN or Inf; or if ``dims`` < 1 or above ``min(p, q)``, or ``dims`` is None
        and ``variance`` is not in (0, 1], or ``ridge`` < 0.

    Warns
    -----
    DegenerateInputWarning
        When a representation is constant (the index is NaN), or when the rows are too few for the
        dimensions, as for :func:`cca`.
    """
    if dims is not None and dims < 1:
        raise ValueError(f"dims must be a positive integer, got {dims}")
    if dims is None and (variance is None or not 0 < variance <= 1):
        raise ValueError(f"variance must be in (0, 1] (or give dims), got {variance}")

    def one(s) -> CCAResult:
        m = moments_of(s)
        if dims is not None and dims > min(m.p, m.q):
            raise ValueError(f"dims={dims} exceeds the width of a representation (p={m.p}, q={m.q})")
        wx, Ux, ex = _top_directions(m.cov_xx(), variance, dims)
        wy, Uy, ey = _top_directions(m.cov_yy(), variance, dims)
        # in the principal bases the covariances are diagonal: their eigenvectors are the identity
        can = _canonical((wx, np.eye(len(wx))), (wy, np.eye(len(wy))), Ux.T @ m.cov_xy() @ Uy, m.n, ridge, "SVCCA")
        return _result(can, "svcca", m.n, explained_x=ex, explained_y=ey)

    return single_layer(_stats(X_or_moments, Y), one)


def pwcca(X_or_moments: Any, Y: Any = None, *, ridge: float | None = None) -> CCAResult:
    r"""Projection-weighted CCA (Morcos, Raghu and Bengio, 2018, NeurIPS).

    Canonical correlations weighted by how much of the original neurons each canonical variate accounts
    for. With canonical directions ``a_i`` on the side with fewer dimensions (X on ties), variates
    ``h_i = X_c a_i`` normalised to unit length and ``x_j`` the neurons,

    .. math::

        \alpha_i = \sum_j |\langle h_i, x_j \rangle| \propto \frac{\sum_j |(C_{xx} a_i)_j|}
        {\sqrt{a_i^\top C_{xx} a_i}}, \qquad
        \mathrm{PWCCA}(X, Y) = \sum_i \frac{\alpha_i}{\sum_k \alpha_k} \rho_i,

    all from the moments. Not symmetric in X and Y.

    Parameters
    ----------
    X_or_moments, Y : array_like or Moments or RowNormMoments
        As for :func:`cca`.
    ridge : float or None, default None
        As for :func:`cca`.

    Returns
    -------
    CCAResult
        ``value`` the projection-weighted mean correlation, in [0, 1]; with ``weights`` (summing to 1) and
        ``side``.

    Raises
    ------
    TypeError
        If ``X_or_moments`` is statistics with a layer axis (use :func:`~crossling.similarity.per_layer`),
        statistics and ``Y`` are both given, or an array is given without ``Y``.
    ValueError
        If the arrays are not 2-D, their row counts differ, there are fewer than 2 paired rows (arrays or
        statistics), or a value is NaN or Inf; or if ``ridge`` < 0.

    Warns
    -----
    DegenerateInputWarning
        When a representation is constant (the index is NaN), or when the rows are too few for the
        dimensions, as for :func:`cca`, or when no canonical variate has variance (NaN).

    Notes
    -----
    Morcos et al. orthonormalise the variates with a QR decomposition; with ``ridge=0`` they are already
    uncorrelated, so normalising each one is the same. With a ridge they are not exactly uncorrelated and
    each is normalised on its own (Gram-Schmidt would be undefined once there are more variates than
    n - 1). The reference code (google/svcca ``pwcca.py``) differs from the paper: it builds the variates
    from the whitened-space singular vectors without ``C_xx^{-1/2}`` and, on the Y branch, uses X's
    activations; we follow the paper.
    """
    def one(s) -> CCAResult:
        m = moments_of(s)
        cxx, cyy = m.cov_xx(), m.cov_yy()
        can = _canonical(_eigh_desc(cxx), _eigh_desc(cyy), m.cov_xy(), m.n, ridge, "PWCCA", directions=True)
        if can is None:
            return _result(None, "pwcca", m.n)
        side, C, D = ("x", cxx, can.A) if can.dims_x <= can.dims_y else ("y", cyy, can.B)
        covs = C @ D  # column i: covariance of variate i with every neuron
        sd = np.sqrt(np.clip(np.einsum("ij,ij->j", D, covs), 0.0, None))
        alpha = np.divide(np.abs(covs).sum(0), sd, out=np.zeros(len(sd)), where=sd > 0)
        if not alpha.sum() > 0:
            degenerate("PWCCA: no canonical variate has variance, so the projection weights are 0/0; NaN")
            return _result(None, "pwcca", m.n)
        weights = alpha / alpha.sum()
        return _result(can, "pwcca", m.n, value=float(weights @ can.rho), weights=weights, side=side)

    return single_layer(_stats(X_or_moments, Y), one)

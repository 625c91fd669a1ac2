r"""Canonical correlation analysis and its variants SVCCA and PWCCA, all from second moments.

Where the textbook, Del and Fishel's paper (2022) and the code they ran (google/svcca) disagree, each
convention is a named option; the defaults are the textbook ones:

- ``summary`` of :func:`cca` and :func:`svcca`: ``"mean"`` (default), :math:`\frac1k\sum_i\rho_i`, the
  "mean CCA similarity" of Raghu et al. (2017); ``"mean_squared"``, :math:`\frac1k\sum_i\rho_i^2`, Eq. 1
  of Del and Fishel (2022) (Yanai's :math:`R^2_{CCA}` in Kornblith et al., 2019); ``"leading"``, the mean
  of the leading :math:`\rho_i` whose sum first reaches 98% of :math:`\sum_i\rho_i`, what google/svcca's
  ``cca_core.get_cca_similarity`` reports as "mean" (``threshold=0.98``) in the code Del and Fishel ran.
- ``weights`` of :func:`pwcca`: ``"morcos"`` (default), variates of the centred neurons (Morcos, Raghu and
  Bengio, 2018); ``"uncentred"``, the variates and uncentred activations of google/svcca's
  ``pwcca.compute_pwcca``.
- ``dims`` of :func:`svcca`: None (default), the directions with 99% of the variance (Raghu et al., 2017);
  Del and Fishel's code keeps 20.

On real representations the conventions differ by more than the differences they are used to show (the mean
is 0.11 to 0.21 above Eq. 1, and the uncentred PWCCA weighting up to 0.125 above Morcos's), so a table must
say which one it holds.

Directions without information are left out before CCA, scale-free: a neuron that is constant, or whose
variance not explained by the other kept neurons is below :data:`COLLINEAR_RTOL` of its own variance
(a pivoted Cholesky factorisation of the correlation matrix), is dropped with a
:class:`~crossling.exceptions.DataLossWarning`, and CCA is computed on the span of the others. CCA is
invariant to rescaling a neuron, and so is this rule (a covariance-eigenvalue cut is not: it drops a
neuron scaled by 1e-5). A LayerNorm output always has one such neuron (its centred values sum to zero
after dividing by the gain), so dropping one neuron per side is normal for transformer hidden states.
"""

from __future__ import annotations

import hashlib
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Literal

import numpy as np
import scipy.linalg

from crossling.exceptions import DataLossWarning
from crossling.moments import Moments
from crossling.similarity._common import (
    ScalarResult,
    as_pair,
    constant_neurons,
    degenerate,
    moments_of,
    resolve,
    single_layer,
)

__all__ = [
    "CCA_SUMMARIES",
    "COLLINEAR_RTOL",
    "DEFAULT_RIDGE",
    "LEADING_SHARE",
    "PWCCA_WEIGHTS",
    "CCAResult",
    "cca",
    "pwcca",
    "summarise",
    "svcca",
]

#: Relative ridge applied (with a warning) when ``ridge=None`` and there are too few items for plain CCA.
DEFAULT_RIDGE = 0.1
#: A neuron whose variance not explained by the kept neurons is at most this fraction of its own is dropped.
COLLINEAR_RTOL = 1e-10
#: ``summary="leading"`` averages the leading correlations whose sum first reaches this share of the total.
LEADING_SHARE = 0.98
#: The names of the CCA summaries (see the module docstring).
CCA_SUMMARIES = ("mean", "mean_squared", "leading")
#: The names of the PWCCA weightings (see the module docstring).
PWCCA_WEIGHTS = ("morcos", "uncentred")

Summary = Literal["mean", "mean_squared", "leading"]


@dataclass(frozen=True, eq=False)
class CCAResult(ScalarResult):
    """Result of :func:`cca`, :func:`svcca` or :func:`pwcca` (similarities in [0, 1]).

    Attributes
    ----------
    value : float
        The index: the ``summary`` of the canonical correlations (CCA, SVCCA) or their projection-weighted
        mean (PWCCA); NaN (with a warning) when undefined.
    correlations : ndarray of float64, shape (k,)
        Canonical correlations in [0, 1], decreasing; ``k = min(dims_x, dims_y)``; empty when the index is
        undefined.
    method : {"cca", "svcca", "pwcca"}
        The function that computed the result.
    n : int
        Paired rows.
    dims_x, dims_y : int
        Dimensions of each side entering the CCA: the kept neurons (CCA, PWCCA; all of p, or of q, when a
        ridge is used) or the principal directions kept (SVCCA; of those, only the ones with variance unless
        a ridge is used); 0 when undefined.
    ridge : float
        Relative ridge used (0 for exact CCA): ``C + ridge * (tr C / d) I`` replaced each covariance; NaN
        when the index is undefined.
    explained_x, explained_y : float, default 1.0
        Fraction in [0, 1] of each side's variance in the directions used (1 unless SVCCA cut directions).
    weights : ndarray of float64, shape (k,), or None
        PWCCA: the normalised projection weights of the correlations (non-negative, summing to 1); else None.
    side : {"x", "y"} or None
        PWCCA: the representation whose neurons the weights were computed on; else None.
    summary : str, default "mean"
        CCA and SVCCA: the summary of the correlations in ``value`` (:data:`CCA_SUMMARIES`); PWCCA:
        ``"weighted"``.
    weighting : {"morcos", "uncentred"} or None
        PWCCA: the projection weighting; else None.
    dropped_x, dropped_y : int, default 0
        Neurons of each side left out before CCA as constant or collinear with the kept ones (0 with a
        ridge, and for SVCCA, whose principal directions already discard them).
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
    summary: str = "mean"
    weighting: str | None = None
    dropped_x: int = 0
    dropped_y: int = 0


class _Cache:
    """Recent factorisations by content (read-only arrays), bounded by count and bytes, safe across threads.

    cca, svcca and pwcca of one pair share them, and so do all pairs with a common language (its
    covariance is identical), and a jackknife's replicates of one language across its pairs.
    """

    def __init__(self, entries: int, max_bytes: int):
        self.entries, self.max_bytes = entries, max_bytes
        self._items: OrderedDict[tuple, tuple] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple, make):
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = make()
        for part in value:
            if isinstance(part, np.ndarray):
                part.flags.writeable = False
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.entries or (len(self._items) > 1 and self.nbytes() > self.max_bytes):
                self._items.popitem(last=False)
        return value

    def peek(self, key: tuple):
        """The value memoised under ``key``, or None (without computing anything)."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        return None

    def nbytes(self) -> int:
        return sum(part.nbytes for value in self._items.values() for part in value if isinstance(part, np.ndarray))

    def __len__(self) -> int:
        return len(self._items)

    def values(self):
        return list(self._items.values())


# At most 64 entries and 256 MB: at d = 768 one entry is 4.7 MB, and a 10-shard jackknife of an en-* study
# needs about 4 x 11 of them per layer to reuse a language's factorisations across its pairs.
_EIGH_CACHE_SIZE = 64
_EIGH_CACHE = _Cache(_EIGH_CACHE_SIZE, 256 * 2**20)
# Decompositions are reused only right away (PWCCA's, then CCA's of the same moments), by up to a few threads.
_SVD_CACHE = _Cache(4, 64 * 2**20)


def _key(kind: str, *arrays: np.ndarray) -> tuple:
    digest = hashlib.blake2b(digest_size=16)
    for array in arrays:
        digest.update(np.ascontiguousarray(array, dtype=np.float64).tobytes())
    return (kind, arrays[0].shape, digest.digest())


def _eigh_desc(C: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (descending) and eigenvectors of a symmetric matrix, memoised by content (read-only)."""

    def make():
        w, V = np.linalg.eigh(C)
        return w[::-1].copy(), V[:, ::-1].copy()

    return _EIGH_CACHE.get(_key("eigh", C), make)


@dataclass(frozen=True)
class _Side:
    """How one side enters CCA: a whitener ``W`` (d x r) with ``W^T C W = I_r`` on the kept neurons.

    ``key`` names the whitener by content when it is memoised (None otherwise).
    """

    W: np.ndarray
    n_constant: int
    n_collinear: int
    key: tuple | None = None

    @property
    def rank(self) -> int:
        return self.W.shape[1]


def _data_side(C: np.ndarray, mean: np.ndarray) -> _Side:
    """Whitener on the neurons that carry information, from a pivoted Cholesky of the correlation matrix.

    Constant neurons are dropped first; then neurons are taken greedily by largest residual variance (the
    variance not explained by the neurons already taken, relative to their own) until every remaining one
    has at most ``COLLINEAR_RTOL`` of it (LAPACK ``dpstrf``). With ``P^T R P = L L^T`` on the kept
    neurons, ``W = diag(1/sd) L^{-T}`` whitens them. Memoised by content.
    """

    def make():
        variance = np.diagonal(C).copy()
        live = np.flatnonzero(~constant_neurons(variance, mean))
        W = np.zeros((len(variance), 0))
        n_collinear = 0
        if len(live):
            sd = np.sqrt(variance[live])
            R = C[np.ix_(live, live)] / np.outer(sd, sd)
            # exactly 1, so that rounding in the diagonal cannot reorder the pivots (the first is the first neuron)
            np.fill_diagonal(R, 1.0)
            factor, piv, rank, _ = scipy.linalg.lapack.dpstrf(R, tol=COLLINEAR_RTOL, lower=1)
            kept = piv[:rank] - 1
            L = np.tril(factor[:rank, :rank])
            W = np.zeros((len(variance), rank))
            W[live[kept]] = scipy.linalg.solve_triangular(L, np.eye(rank), lower=True).T / sd[kept, None]
            n_collinear = len(live) - rank
        return W, np.array([len(variance) - len(live), n_collinear])

    key = _key("side", C, mean)
    W, counts = _EIGH_CACHE.get(key, make)
    return _Side(W, int(counts[0]), int(counts[1]), key)


def _ridge_side(C: np.ndarray, ridge: float) -> _Side:
    """Whitener of ``C + ridge * (tr C / d) I`` on all d neurons (its Cholesky factor: the matrix is definite).

    Memoised by content and ridge.
    """

    def make():
        d = C.shape[0]
        L = np.linalg.cholesky(C + ridge * np.trace(C) / d * np.eye(d))
        return (scipy.linalg.solve_triangular(L, np.eye(d), lower=True).T,)

    key = _key("ridge", C) + (ridge,)
    (W,) = _EIGH_CACHE.get(key, make)
    return _Side(W, 0, 0, key)


@dataclass(frozen=True, eq=False)
class _Canonical:
    rho: np.ndarray  # (k,) canonical correlations, decreasing
    A: np.ndarray | None  # (p, k) directions on X (canonical variates X_c A), when asked for
    B: np.ndarray | None  # (q, k) directions on Y
    x: _Side
    y: _Side
    ridge: float


def _canonical(x: _Side, y: _Side, ridged: Callable[[float], tuple[_Side, _Side]], cxy: np.ndarray, n: int,
               ridge: float | None, method: str, *, directions: bool = False) -> _Canonical | None:
    """CCA of two sides given by their whiteners and cross-covariance; ``None`` (after a warning) when undefined.

    Canonical correlations are the singular values of ``Wx^T Cxy Wy``. ``x`` and ``y`` are the exact
    (ridge-free) sides; ``ridged(r)`` gives the sides with relative ridge ``r`` when one is used.
    """
    if ridge is not None and ridge < 0:
        raise ValueError(f"ridge must be >= 0, got {ridge}")
    rx, ry = x.rank, y.rank
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
        x, y = ridged(ridge)
    else:
        for name, side in (("X", x), ("Y", y)):
            left = side.n_constant + side.n_collinear
            if left:
                warnings.warn(
                    f"{method}: {left} of {side.W.shape[0]} neurons of {name} left out ({side.n_constant} constant, "
                    f"{side.n_collinear} collinear with the others: less than {COLLINEAR_RTOL:g} of their variance "
                    "is their own); CCA is computed on the span of the rest, which it is invariant to",
                    DataLossWarning, stacklevel=6)
    rho, U, Vt = _decompose(x, y, cxy, directions)
    A, B = (x.W @ U, y.W @ Vt.T) if directions else (None, None)
    return _Canonical(np.clip(rho, 0.0, 1.0), A, B, x, y, ridge)


def _decompose(x: _Side, y: _Side, cxy: np.ndarray, directions: bool):
    """Singular values (and vectors, when asked) of the whitened cross-covariance ``Wx^T Cxy Wy``.

    Memoised when both whiteners are: PWCCA's decomposition, with vectors, then serves CCA of the same
    moments, whose value needs only the singular values.
    """

    def make():
        T = x.W.T @ cxy @ y.W
        if directions:
            U, rho, Vt = np.linalg.svd(T, full_matrices=False)
            return rho, U, Vt
        return np.linalg.svd(T, compute_uv=False), None, None

    if x.key is None or y.key is None:
        return make()
    base = ("svd", x.key, y.key, _key("cxy", cxy))
    if not directions:
        hit = _SVD_CACHE.peek(base + (True,))
        if hit is not None:
            return hit
    return _SVD_CACHE.get(base + (directions,), make)


def summarise(rho: np.ndarray, summary: str) -> float:
    r"""One number from canonical correlations, by the named convention (see the module docstring).

    Parameters
    ----------
    rho : ndarray, shape (k,)
        Canonical correlations in [0, 1], decreasing, k >= 1.
    summary : {"mean", "mean_squared", "leading"}
        ``"mean"``: :math:`\frac1k\sum_i\rho_i` (Raghu et al., 2017). ``"mean_squared"``:
        :math:`\frac1k\sum_i\rho_i^2` (Del and Fishel, 2022, Eq. 1). ``"leading"``: the mean of
        :math:`\rho_1..\rho_m` with m the smallest count whose sum reaches :data:`LEADING_SHARE` (0.98) of
        :math:`\sum_i\rho_i` (google/svcca ``cca_core.get_cca_similarity``, whose ``"mean"`` it is).

    Returns
    -------
    float

    Raises
    ------
    ValueError
        For an unknown ``summary``.
    """
    if summary == "mean":
        return float(np.mean(rho))
    if summary == "mean_squared":
        return float(np.mean(rho**2))
    if summary == "leading":
        total = rho.sum()
        if not total > 0:
            return 0.0
        m = int(np.searchsorted(np.cumsum(rho) / total, LEADING_SHARE)) + 1
        return float(np.mean(rho[: min(m, len(rho))]))
    raise ValueError(f"summary must be one of {', '.join(CCA_SUMMARIES)}; got {summary!r}")


def _counts(can: _Canonical) -> dict[str, int]:
    exact = can.ridge == 0
    return dict(dims_x=can.x.rank, dims_y=can.y.rank,
                dropped_x=can.x.n_constant + can.x.n_collinear if exact else 0,
                dropped_y=can.y.n_constant + can.y.n_collinear if exact else 0)


def _result(can: _Canonical | None, method: str, n: int, value: float, **extra) -> CCAResult:
    if can is None:
        return CCAResult(value=np.nan, correlations=np.empty(0), method=method, n=n, dims_x=0, dims_y=0,
                         ridge=np.nan, **extra)
    return CCAResult(value=value, correlations=can.rho, method=method, n=n, ridge=can.ridge, **_counts(can), **extra)


def _stats(X_or_moments: Any, Y: Any):
    stats = resolve(X_or_moments, Y)
    if stats is None:
        stats = Moments.from_arrays(*as_pair(X_or_moments, Y))
    return stats


def _check_summary(summary: str) -> None:
    if summary not in CCA_SUMMARIES:
        raise ValueError(f"summary must be one of {', '.join(CCA_SUMMARIES)}; got {summary!r}")


def cca(X_or_moments: Any, Y: Any = None, *, summary: Summary = "mean", ridge: float | None = None) -> CCAResult:
    r"""Canonical correlations of paired representations, summarised by a named convention.

    .. math::

        \rho_1 \ge \dots \ge \rho_k = \text{singular values of } C_{xx}^{-1/2} C_{xy} C_{yy}^{-1/2},

    (Hotelling, 1936). ``summary="mean"`` gives :math:`\frac1k\sum_i\rho_i`, the "mean CCA similarity" of
    Raghu, Gilmer, Yosinski and Sohl-Dickstein (2017); Del and Fishel (2022) define CCA in their Eq. 1 as
    the mean squared correlation :math:`\frac1k\sum_i\rho_i^2` (``"mean_squared"``), and the code they ran
    (google/svcca) reports the mean of the leading correlations reaching 98% of their sum
    (``"leading"``); see :func:`summarise`. A similarity in [0, 1], invariant to invertible linear maps of
    either side (with ``ridge=0``). Constant and collinear neurons are left out first (scale-free; see
    the module docstring), so ``k`` is the smaller of the two numbers of kept neurons.

    Parameters
    ----------
    X_or_moments : array_like (n, p), or Moments / RowNormMoments
        The first representation, or the moments of one layer of the pair (omit ``Y``); for a multi-layer
        Moments use :func:`~crossling.similarity.per_layer`.
    Y : array_like (n, q), optional
        The second representation, row i paired with row i of X (translations); omit it with statistics.
    summary : {"mean", "mean_squared", "leading"}, default "mean"
        How the correlations become one number (see above).
    ridge : float or None, default None
        Relative ridge: each covariance ``C`` (d x d) becomes ``C + ridge * (tr C / d) I``. ``None`` means
        none when the problem is well posed, and :data:`DEFAULT_RIDGE` (0.1) with a
        :class:`~crossling.exceptions.DegenerateInputWarning` when ``rank_x + rank_y > n - 1``: then the spans of
        the centred data must intersect and that many correlations are 1 whatever the data. ``0`` forces
        plain CCA (NaN with a warning in that case).

    Returns
    -------
    CCAResult
        ``value`` the summary, in [0, 1]; the correlations, dimensions, dropped neurons and ridge used.

    Raises
    ------
    TypeError
        If ``X_or_moments`` is statistics with a layer axis (use :func:`~crossling.similarity.per_layer`),
        statistics and ``Y`` are both given, or an array is given without ``Y``.
    ValueError
        If the arrays are not 2-D, their row counts differ, there are fewer than 2 paired rows (arrays or
        statistics), or a value is NaN or Inf; or if ``ridge`` < 0 or ``summary`` is unknown.

    Warns
    -----
    DegenerateInputWarning
        When a representation is constant (the index is NaN), or when the rows are too few for the
        dimensions (``ridge=None``: the default ridge is used; ``ridge=0``: the index is NaN).
    DataLossWarning
        When constant or collinear neurons are left out (without a ridge).
    """
    _check_summary(summary)

    def one(s) -> CCAResult:
        m = moments_of(s)
        can = _exact_canonical(m, ridge, "CCA")
        return _result(can, "cca", m.n, summarise(can.rho, summary) if can else np.nan, summary=summary)

    return single_layer(_stats(X_or_moments, Y), one)


def _exact_canonical(m: Moments, ridge: float | None, method: str, *, directions: bool = False):
    """:func:`_canonical` on the kept neurons of both sides (CCA and PWCCA)."""
    cxx, cyy = m.cov_xx(), m.cov_yy()
    return _canonical(_data_side(cxx, m.mean_x), _data_side(cyy, m.mean_y),
                      lambda r: (_ridge_side(cxx, r), _ridge_side(cyy, r)), m.cov_xy(), m.n, ridge, method,
                      directions=directions)


def _principal_side(C: np.ndarray, variance: float | None, dims: int | None, ridge: float) -> tuple[_Side, float]:
    """SVCCA's first step: a whitener of the top principal directions of C, and the variance they explain.

    Principal directions without variance (more asked for than the rank) are left out unless a ridge
    makes them usable; with ``ridge`` the kept eigenvalues ``w`` become ``w + ridge * mean(w)``.
    """
    w, V = _eigh_desc(C)
    w = np.clip(w, 0.0, None)
    total = w.sum()
    if dims is not None:
        k = dims
    else:
        # smallest k whose cumulative share reaches the threshold (a hair of slack for rounding)
        k = int(np.searchsorted(np.cumsum(w) / total, variance - 1e-12)) + 1 if total > 0 else 1
    k = min(k, len(w))
    w, V = w[:k], V[:, :k]
    explained = float(w.sum() / total) if total > 0 else np.nan
    if ridge > 0:
        return _Side(V / np.sqrt(w + ridge * w.sum() / k), 0, 0), explained
    keep = w > COLLINEAR_RTOL * w[0] if w[0] > 0 else np.zeros(k, bool)
    return _Side(V[:, keep] / np.sqrt(w[keep]), 0, 0), explained


def svcca(
    X_or_moments: Any,
    Y: Any = None,
    *,
    variance: float | None = 0.99,
    dims: int | None = None,
    summary: Summary = "mean",
    ridge: float | None = None,
) -> CCAResult:
    r"""Singular vector CCA (Raghu, Gilmer, Yosinski and Sohl-Dickstein, 2017, NeurIPS).

    Step 1 keeps the top principal directions of each side (eigenvectors of ``C_xx`` and ``C_yy``, by
    decreasing variance); step 2 is :func:`cca` between the projections ``X_c U_x`` and ``Y_c U_y``, whose
    covariances are ``diag(lambda)`` and ``U_x^T C_xy U_y``, so everything comes from the moments:

    .. math::

        \mathrm{SVCCA}(X, Y) = \mathrm{summary}\big(\rho(U_x^\top C_{xx} U_x,\;
        U_x^\top C_{xy} U_y,\; U_y^\top C_{yy} U_y)\big).

    Raghu et al. keep the directions explaining 99% of the variance (the default); Del and Fishel's code
    keeps 20 (``dims=20``).

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
    summary : {"mean", "mean_squared", "leading"}, default "mean"
        How the correlations become one number, as for :func:`cca` (google/svcca reports ``"leading"``).
    ridge : float or None, default None
        As for :func:`cca`, applied in the reduced space.

    Returns
    -------
    CCAResult
        ``value`` the summary of the canonical correlations in the reduced spaces, in [0, 1]; ``dims_x``,
        ``dims_y`` the directions kept and ``explained_x``, ``explained_y`` their share of the variance.

    Raises
    ------
    TypeError
        If ``X_or_moments`` is statistics with a layer axis (use :func:`~crossling.similarity.per_layer`),
        statistics and ``Y`` are both given, or an array is given without ``Y``.
    ValueError
        If the arrays are not 2-D, their row counts differ, there are fewer than 2 paired rows (arrays or
        statistics), or a value is NaN or Inf; or if ``dims`` < 1 or above ``min(p, q)``, or ``dims`` is None
        and ``variance`` is not in (0, 1], or ``ridge`` < 0, or ``summary`` is unknown.

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
    _check_summary(summary)

    def one(s) -> CCAResult:
        m = moments_of(s)
        if dims is not None and dims > min(m.p, m.q):
            raise ValueError(f"dims={dims} exceeds the width of a representation (p={m.p}, q={m.q})")
        cxx, cyy = m.cov_xx(), m.cov_yy()
        (x, ex), (y, ey) = _principal_side(cxx, variance, dims, 0.0), _principal_side(cyy, variance, dims, 0.0)
        can = _canonical(x, y, lambda r: (_principal_side(cxx, variance, dims, r)[0],
                                          _principal_side(cyy, variance, dims, r)[0]),
                         m.cov_xy(), m.n, ridge, "SVCCA")
        return _result(can, "svcca", m.n, summarise(can.rho, summary) if can else np.nan, explained_x=ex,
                       explained_y=ey, summary=summary)

    return single_layer(_stats(X_or_moments, Y), one)


def _svd_flip(U: np.ndarray) -> np.ndarray:
    """Columns of U with the sign that makes each one's largest-magnitude entry positive (scikit-learn's rule)."""
    signs = np.sign(U[np.argmax(np.abs(U), axis=0), np.arange(U.shape[1])])
    return U * np.where(signs == 0, 1.0, signs)


def _uncentred_weights(m: Moments, can: _Canonical, side: str) -> np.ndarray:
    """The projection weights of google/svcca's ``compute_pwcca``, from the moments (see :func:`pwcca`).

    The reference code takes ``u``, the left singular vectors of ``C^{-1/2} C_xy C_yy^{-1/2}`` (symmetric
    inverse roots), builds ``D = u^T (A - m) + m`` from the activations ``A`` (d x n) and their means ``m``,
    orthonormalises its rows by QR (``D^T = P R``) and weights ``rho_i`` by ``sum_j |(P^T A^T)_ij|``. With
    ``S`` the centred sum of products, ``D D^T = u^T S u + n m m^T`` and ``D A^T = u^T S + n m m^T``, so
    ``R`` is the Cholesky factor of the first and ``P^T A^T = R^{-T} (u^T S + n m m^T)``: no data needed.
    """
    if side == "x":
        S, mean, W, other = m.sxx, m.mean_x, can.x.W, can.y.W
        cross = m.cov_xy()
    else:
        S, mean, W, other = m.syy, m.mean_y, can.y.W, can.x.W
        cross = m.cov_xy().T
    kept = np.flatnonzero(np.any(W != 0, axis=1))
    C = S[np.ix_(kept, kept)] / m.n
    w, V = _eigh_desc(C)
    inv_root = (V / np.sqrt(np.clip(w, np.finfo(float).tiny, None))) @ V.T
    u = _svd_flip(np.linalg.svd(inv_root @ cross[kept] @ other, full_matrices=False)[0])
    mk = mean[kept]
    L = np.linalg.cholesky(u.T @ S[np.ix_(kept, kept)] @ u + m.n * np.outer(mk, mk))  # R = L^T
    projections = scipy.linalg.solve_triangular(L, u.T @ S[kept] + m.n * np.outer(mk, mean), lower=True)
    alpha = np.abs(projections).sum(1)
    return alpha[: len(can.rho)]


def pwcca(X_or_moments: Any, Y: Any = None, *, weights: Literal["morcos", "uncentred"] = "morcos",
          ridge: float | None = None) -> CCAResult:
    r"""Projection-weighted CCA (Morcos, Raghu and Bengio, 2018, NeurIPS).

    Canonical correlations weighted by how much of the original neurons each canonical variate accounts
    for. With canonical directions ``a_i`` on the side with fewer dimensions (X on ties), variates
    ``h_i = X_c a_i`` normalised to unit length and ``x_j`` the centred neurons (``weights="morcos"``),

    .. math::

        \alpha_i = \sum_j |\langle h_i, x_j \rangle| \propto \frac{\sum_j |(C_{xx} a_i)_j|}
        {\sqrt{a_i^\top C_{xx} a_i}}, \qquad
        \mathrm{PWCCA}(X, Y) = \sum_i \frac{\alpha_i}{\sum_k \alpha_k} \rho_i,

    all from the moments. Not symmetric in X and Y.

    ``weights="uncentred"`` reproduces google/svcca's ``pwcca.compute_pwcca``, the code Del and Fishel
    (2022) ran: it takes ``u``, the left singular vectors of :math:`C_{xx}^{-1/2} C_{xy} C_{yy}^{-1/2}`,
    as if they were directions in neuron space, builds the rows ``d_i = u_i^T (x - m) + m_i`` (the neuron
    means added back), orthonormalises them by QR and projects the *uncentred* activations on them. The
    result is not invariant to translating the neurons (multiplying the neuron means by 10 moved it from
    0.668 to 0.763 on real data) and is up to 0.125 above Morcos's weighting on real representations. It
    also depends on the signs of ``u``, which the reference code leaves to LAPACK (about 0.01 either way);
    here each ``u_i`` is signed so that its largest-magnitude entry is positive (scikit-learn's
    ``svd_flip``). On its Y branch the reference code uses X's activations, a slip not reproduced: the
    smaller side's own activations are used.

    Parameters
    ----------
    X_or_moments, Y : array_like or Moments or RowNormMoments
        As for :func:`cca`.
    weights : {"morcos", "uncentred"}, default "morcos"
        The projection weighting (see above).
    ridge : float or None, default None
        As for :func:`cca`. The uncentred weighting needs exact CCA: with a ridge it uses Morcos's.

    Returns
    -------
    CCAResult
        ``value`` the projection-weighted mean correlation, in [0, 1]; with ``weights`` (summing to 1),
        ``side`` and ``weighting``.

    Raises
    ------
    TypeError
        If ``X_or_moments`` is statistics with a layer axis (use :func:`~crossling.similarity.per_layer`),
        statistics and ``Y`` are both given, or an array is given without ``Y``.
    ValueError
        If the arrays are not 2-D, their row counts differ, there are fewer than 2 paired rows (arrays or
        statistics), or a value is NaN or Inf; or if ``ridge`` < 0 or ``weights`` is unknown.

    Warns
    -----
    DegenerateInputWarning
        When a representation is constant (the index is NaN), or when the rows are too few for the
        dimensions, as for :func:`cca`, or when no canonical variate has variance (NaN); when the uncentred
        weighting falls back to Morcos's because a ridge is used.
    DataLossWarning
        When constant or collinear neurons are left out (without a ridge).

    Notes
    -----
    Morcos et al. orthonormalise the variates with a QR decomposition; with ``ridge=0`` they are already
    uncorrelated, so normalising each one is the same. With a ridge they are not exactly uncorrelated and
    each is normalised on its own (Gram-Schmidt would be undefined once there are more variates than
    n - 1).
    """
    if weights not in PWCCA_WEIGHTS:
        raise ValueError(f"weights must be one of {', '.join(PWCCA_WEIGHTS)}; got {weights!r}")

    def one(s) -> CCAResult:
        m = moments_of(s)
        can = _exact_canonical(m, ridge, "PWCCA", directions=True)
        if can is None:
            return _result(None, "pwcca", m.n, np.nan, summary="weighted", weighting=weights)
        side, C, D = ("x", m.cov_xx(), can.A) if can.x.rank <= can.y.rank else ("y", m.cov_yy(), can.B)
        used = weights
        if weights == "uncentred" and can.ridge > 0:
            degenerate("PWCCA: the uncentred weighting of google/svcca needs exact CCA; with the ridge it uses "
                       "Morcos's weighting")
            used = "morcos"
        if used == "uncentred":
            alpha = _uncentred_weights(m, can, side)
        else:
            covs = C @ D  # column i: covariance of variate i with every neuron
            sd = np.sqrt(np.clip(np.einsum("ij,ij->j", D, covs), 0.0, None))
            alpha = np.divide(np.abs(covs).sum(0), sd, out=np.zeros(len(sd)), where=sd > 0)
        if not alpha.sum() > 0:
            degenerate("PWCCA: no canonical variate has variance, so the projection weights are 0/0; NaN")
            return _result(None, "pwcca", m.n, np.nan, summary="weighted", weighting=used)
        w = alpha / alpha.sum()
        return _result(can, "pwcca", m.n, float(w @ can.rho), weights=w, side=side, summary="weighted",
                       weighting=used)

    return single_layer(_stats(X_or_moments, Y), one)

"""Centered kernel alignment (Kornblith et al. 2019): linear from moments, RBF from vectors in chunks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from crossling.moments import Moments
from crossling.similarity._common import ScalarResult, as_pair, degenerate, moments_of, resolve, single_layer
from crossling.similarity.rownorm import RowNormMoments

__all__ = ["CKAResult", "linear_cka", "rbf_cka"]


@dataclass(frozen=True, eq=False)
class CKAResult(ScalarResult):
    """Centered kernel alignment (a similarity; 1 for representations equal up to the kernel's invariances).

    Attributes
    ----------
    value : float
        CKA; NaN (with a warning) when a representation is constant. The debiased estimate can be
        slightly negative.
    kernel : {"linear", "rbf"}
        The kernel: :func:`linear_cka` or :func:`rbf_cka`.
    debiased : bool
        Whether HSIC was estimated with the unbiased estimator of Song et al. (2012).
    n : int
        Paired rows.
    sigma : float or None
        RBF only: the bandwidth as a multiple of the median pairwise distance.
    bandwidth_x, bandwidth_y : float or None
        RBF only: the bandwidths used, ``sigma * median distance`` of each side.
    median_rows : int or None
        RBF only: rows the median distance was computed on (``n`` when exact).
    seed : int or None
        RBF only: seed of the row subsample for the median (used only when ``median_rows < n``).
    """

    kernel: str
    debiased: bool
    n: int
    sigma: float | None = None
    bandwidth_x: float | None = None
    bandwidth_y: float | None = None
    median_rows: int | None = None
    seed: int | None = None


def _alignment(hxy: float, hxx: float, hyy: float, what: str) -> float:
    if not (hxx > 0 and hyy > 0):
        degenerate(f"{what}: a representation has zero (or, debiased, non-positive) self-HSIC "
                   f"(HSIC(X,X)={hxx:.3g}, HSIC(Y,Y)={hyy:.3g}); CKA is NaN")
        return np.nan
    return float(hxy / np.sqrt(hxx * hyy))


def _debiased_hsic(cross: float, s_fg: float, tr_f: float, tr_g: float, n: int) -> float:
    """n (n - 3) times the unbiased HSIC of Song et al. (2012) for centred linear kernels.

    With K = Xc Xc^T, K~ = K - diag(a) (a_i = ||xc_i||^2), and K~ 1 = -a, 1^T K~ 1 = -tr Sxx because the
    rows are centred, the estimator

        [tr(K~ L~) + (1^T K~ 1)(1^T L~ 1) / ((n-1)(n-2)) - 2/(n-2) 1^T K~ L~ 1] / (n (n-3))

    reduces to ``||Sxy||_F^2 - n/(n-2) sum a_i b_i + tr Sxx tr Syy / ((n-1)(n-2))`` (times 1/(n(n-3))).
    The estimator is translation invariant, so centring first changes nothing.
    """
    return cross - n / (n - 2) * s_fg + tr_f * tr_g / ((n - 1) * (n - 2))


def _linear_cka(stats, debiased: bool) -> CKAResult:
    m = moments_of(stats, min_rows=4 if debiased else 2)
    if not debiased:
        value = _alignment(float(np.sum(m.sxy**2)), float(np.sum(m.sxx**2)), float(np.sum(m.syy**2)), "linear CKA")
        return CKAResult(value=value, kernel="linear", debiased=False, n=m.n)
    if not isinstance(stats, RowNormMoments):
        raise TypeError(
            "debiased linear CKA needs the row-norm statistics of RowNormMoments (sum_i |x_i|^2 |y_i|^2 is not a "
            "function of second moments); accumulate RowNormMoments instead of Moments, or pass the arrays"
        )
    tx, ty, n = float(np.trace(m.sxx)), float(np.trace(m.syy)), m.n
    hxy = _debiased_hsic(float(np.sum(m.sxy**2)), float(stats.sab), tx, ty, n)
    hxx = _debiased_hsic(float(np.sum(m.sxx**2)), float(stats.saa), tx, tx, n)
    hyy = _debiased_hsic(float(np.sum(m.syy**2)), float(stats.sbb), ty, ty, n)
    return CKAResult(value=_alignment(hxy, hxx, hyy, "debiased linear CKA"), kernel="linear", debiased=True, n=n)


def linear_cka(X_or_moments: Any, Y: Any = None, *, debiased: bool = False) -> CKAResult:
    r"""Linear centered kernel alignment, computed in feature space from second moments.

    .. math::

        \mathrm{CKA}(X, Y) = \frac{\|S_{xy}\|_F^2}{\|S_{xx}\|_F \, \|S_{yy}\|_F}
        = \frac{\mathrm{HSIC}(K, L)}{\sqrt{\mathrm{HSIC}(K, K)\,\mathrm{HSIC}(L, L)}},
        \quad K = X X^\top,\ L = Y Y^\top,

    with ``S`` the centred sums of products (Kornblith, Norouzi, Lee and Hinton, 2019, "Similarity of
    Neural Network Representations Revisited", ICML). A similarity in [0, 1], invariant to orthogonal
    transforms and isotropic scaling of either side, not to arbitrary invertible linear maps. No n x n
    Gram matrix is formed: the cost is that of the moments, O(n (p^2 + q^2 + pq)) time, O(p^2 + q^2 + pq)
    memory.

    Parameters
    ----------
    X_or_moments : array_like (n, p), or Moments / RowNormMoments
        The first representation, or statistics of one layer of the pair (then omit ``Y``); for
        multi-layer statistics use :func:`~crossling.similarity.per_layer`.
    Y : array_like (n, q), optional
        The second representation, row i paired with row i of X (translations); omit it with statistics.
    debiased : bool, default False
        Use the unbiased HSIC estimator of Song, Smola, Gretton, Bedo and Borgwardt (2012, JMLR) in all
        three HSIC terms, as in Kornblith et al. (2019). Needs n >= 4 and, from statistics, a
        :class:`~crossling.similarity.RowNormMoments` (it depends on ``sum_i ||x_i||^2 ||y_i||^2``, which
        plain Moments do not keep); a plain :class:`~crossling.Moments` raises ``TypeError``.

    Returns
    -------
    CKAResult
        ``value`` the linear CKA, in [0, 1] (debiased: may be slightly negative).

    Raises
    ------
    TypeError
        If ``debiased`` and the statistics are a plain :class:`~crossling.Moments`; if ``X_or_moments`` is
        statistics with a layer axis (use :func:`~crossling.similarity.per_layer`), statistics and ``Y`` are
        both given, or an array is given without ``Y``.
    ValueError
        If the arrays are not 2-D, their row counts differ, there are fewer than 2 paired rows (4 when
        ``debiased``; arrays or statistics), or a value is NaN or Inf.

    Warns
    -----
    DegenerateInputWarning
        When a representation has zero (debiased: non-positive) self-HSIC, e.g. is constant; the value is
        NaN.
    """
    stats = resolve(X_or_moments, Y)
    if stats is None:
        X, Y = as_pair(X_or_moments, Y, min_rows=4 if debiased else 2)
        stats = RowNormMoments.from_arrays(X, Y) if debiased else Moments.from_arrays(X, Y)
    return single_layer(stats, lambda s: _linear_cka(s, debiased))


def _median_distance(Xc: np.ndarray, rows: np.ndarray) -> float:
    Z = Xc[rows]
    sq = np.einsum("ij,ij->i", Z, Z)
    d2 = sq[:, None] + sq[None, :] - 2 * (Z @ Z.T)
    iu = np.triu_indices(len(rows), k=1)
    return float(np.median(np.sqrt(np.clip(d2[iu], 0, None))))


def _rbf_block(Zc: np.ndarray, sq: np.ndarray, start: int, stop: int, bandwidth: float, diagonal: float) -> np.ndarray:
    """Rows ``start:stop`` of the RBF Gram matrix, built in place in one (stop - start) x n array."""
    K = Zc[start:stop] @ Zc.T
    K *= -2.0
    K += sq[start:stop, None]
    K += sq[None, :]
    np.clip(K, 0.0, None, out=K)
    K *= -1.0 / (2.0 * bandwidth**2)
    np.exp(K, out=K)
    # the distance of a row to itself is exactly 0; rounding must not perturb it
    K[np.arange(stop - start), np.arange(start, stop)] = diagonal
    return K


def rbf_cka(
    X: Any,
    Y: Any,
    *,
    sigma: float = 0.8,
    debiased: bool = False,
    chunk_size: int = 512,
    median_rows: int = 2000,
    seed: int = 0,
) -> CKAResult:
    r"""Kernel CKA with Gaussian (RBF) kernels, computed from the vectors in row chunks.

    .. math::

        K_{ij} = \exp\!\Big(-\frac{\|x_i - x_j\|^2}{2 h_x^2}\Big),\quad h_x = \sigma \cdot
        \mathrm{median}_{i<j} \|x_i - x_j\|, \qquad
        \mathrm{CKA} = \frac{\mathrm{HSIC}(K, L)}{\sqrt{\mathrm{HSIC}(K, K)\,\mathrm{HSIC}(L, L)}},

    and likewise ``L`` and ``h_y`` for Y, with the biased HSIC ``tr(K H L H)`` (H the centring matrix) or,
    when ``debiased``, the unbiased estimator of Song et al. (2012). The bandwidth rule is Kornblith et
    al.'s (2019), who report sigma = 0.2, 0.4 and 0.8 times the median distance; 0.8 is the largest of
    them (Del and Fishel, 2022, use linear CKA only). A similarity in [0, 1] (debiased: can dip below 0);
    invariant to orthogonal transforms, translation and isotropic scaling (the bandwidth scales with the
    data).

    Parameters
    ----------
    X : array_like, shape (n, p)
        The first representation.
    Y : array_like, shape (n, q)
        The second representation, row i paired with row i of X.
    sigma : float, default 0.8
        Bandwidth as a multiple of the median pairwise Euclidean distance (over pairs i < j, the zero
        self-distances excluded; Kornblith et al.'s code takes the median of all n^2 squared distances,
        diagonal included, which gives a slightly smaller bandwidth).
    debiased : bool, default False
        Unbiased HSIC (needs n >= 4).
    chunk_size : int, default 512
        Rows of the Gram matrices computed at a time. Peak memory beyond the centred float64 copies of X
        and Y is about ``16 * chunk_size * n`` bytes (two chunk x n float64 blocks; 164 MB for n = 20,000),
        plus ``24 * median_rows^2`` bytes for the median; time is O(n^2 (p + q)).
    median_rows : int, default 2000
        The median distance is exact when n <= median_rows; otherwise it is computed on a random subset of
        that many rows (drawn with ``seed``), recorded in the result.
    seed : int, default 0
        Seed of the row subsample for the median distance (used only when n > ``median_rows``).

    Returns
    -------
    CKAResult
        ``value`` the RBF CKA, in [0, 1] (debiased: may dip below 0), with the bandwidths and the median's
        rows and seed.

    Raises
    ------
    TypeError
        If ``Y`` is None.
    ValueError
        If ``sigma`` <= 0, ``chunk_size`` < 1 or ``median_rows`` < 2; if X or Y is not 2-D, their row counts
        differ, there are fewer than 2 paired rows (4 when ``debiased``), or a value is NaN or Inf.

    Warns
    -----
    DegenerateInputWarning
        When a median pairwise distance is 0 (most rows identical) or a self-HSIC is not positive; the value
        is NaN.
    """
    X, Y = as_pair(X, Y, min_rows=4 if debiased else 2)
    if sigma <= 0 or chunk_size < 1 or median_rows < 2:
        raise ValueError(f"need sigma > 0, chunk_size >= 1, median_rows >= 2; got {sigma}, {chunk_size}, {median_rows}")
    n = X.shape[0]
    if n <= median_rows:
        rows = np.arange(n)
    else:
        rows = np.sort(np.random.default_rng(seed).choice(n, median_rows, replace=False))
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    hx, hy = sigma * _median_distance(Xc, rows), sigma * _median_distance(Yc, rows)
    result = dict(kernel="rbf", debiased=debiased, n=n, sigma=sigma, bandwidth_x=hx, bandwidth_y=hy,
                  median_rows=len(rows), seed=seed)
    if not (hx > 0 and hy > 0):
        degenerate(f"RBF CKA: the median pairwise distance is 0 (bandwidths {hx:.3g}, {hy:.3g}): most rows "
                   "are identical; CKA is NaN")
        return CKAResult(value=np.nan, **result)
    sqx, sqy = np.einsum("ij,ij->i", Xc, Xc), np.einsum("ij,ij->i", Yc, Yc)
    # the debiased estimator works on the Gram matrices with their diagonals set to zero
    diagonal = 0.0 if debiased else 1.0
    kl = kk = ll = 0.0
    rk, rl = np.empty(n), np.empty(n)
    for start in range(0, n, chunk_size):
        stop = min(start + chunk_size, n)
        K = _rbf_block(Xc, sqx, start, stop, hx, diagonal)
        L = _rbf_block(Yc, sqy, start, stop, hy, diagonal)
        kl += np.einsum("ij,ij->", K, L)
        kk += np.einsum("ij,ij->", K, K)
        ll += np.einsum("ij,ij->", L, L)
        rk[start:stop], rl[start:stop] = K.sum(1), L.sum(1)
    # tr(K H L H) = tr(KL) - 2/n (K1).(L1) + (1'K1)(1'L1)/n^2; the unbiased form has other weights
    c_sum, c_row = (1 / ((n - 1) * (n - 2)), 2 / (n - 2)) if debiased else (1 / n**2, 2 / n)
    sk, sl = rk.sum(), rl.sum()
    hxy = kl + c_sum * sk * sl - c_row * rk @ rl
    hxx = kk + c_sum * sk * sk - c_row * rk @ rk
    hyy = ll + c_sum * sl * sl - c_row * rl @ rl
    return CKAResult(value=_alignment(hxy, hxx, hyy, "RBF CKA"), **result)

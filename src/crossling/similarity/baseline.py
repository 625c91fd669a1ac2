"""Null baselines: what an index gives when the sentences are not translations of each other (shuffled pairing).

Shuffled pairing keeps both languages' sentences and representations and breaks only the translation
relation: row i of X is paired with row ``pi(i)`` of Y for a random derangement ``pi`` (no sentence keeps its
translation). An index's value under that pairing is what unrelated sentences with these very
representations score, which is far from 0 for some indices at realistic sizes: at n = 1000 sentences of
d = 384 dimensions, independent representations give CCA 0.55, SVCCA 0.53 and PWCCA 0.55; linear CKA of
independent data at n = 50, d = 200 is 0.82; ANC's floor is about :math:`\\sqrt{2/(\\pi n)}`. A value means
something only as far as it rises above its null.

Cost, from moments: a shuffled pairing changes only the cross terms (``Sxy``, and for debiased CKA the
row-norm sums that mix the two sides), so each permutation is one pass over the vectors computing a p x q
cross product in chunks: O(n p q) time (O(n (p + q)) more for the row norms), O(p q) memory, no n x n
matrix. ``Sxx`` and ``Syy``, and so CCA's whitening and SVCCA's principal directions, are those of the real
pairing and are reused (memoised by content), so a null value of the CCA family costs one SVD more.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from crossling.exceptions import NullReachWarning
from crossling.moments import Moments
from crossling.similarity._common import Stats, as_pair
from crossling.similarity.rownorm import RowNormMoments

__all__ = [
    "NULL_REACH",
    "NullBaseline",
    "derangements",
    "null_summary",
    "shuffled_null",
    "shuffled_stats",
    "warn_null_reach",
]

#: An index whose shuffled-pairing null reaches this level (half-way to identical, for indices in [0, 1])
#: cannot separate related from unrelated data well at this sample size: :func:`warn_null_reach` warns.
NULL_REACH = 0.5


@dataclass(frozen=True, eq=False)
class NullBaseline:
    """An index's values under shuffled pairing.

    Attributes
    ----------
    mean : float
        Mean of ``values``: the null line a value is read against.
    sd : float
        Standard deviation of ``values`` (ddof 1; NaN for one permutation): how far the null itself moves.
    values : ndarray of float64, shape (permutations,)
        The index under each derangement.
    permutations : int
        Derangements used.
    seed : int
        Seed of the derangements.
    """

    mean: float
    sd: float
    values: np.ndarray
    permutations: int
    seed: int


def derangements(n: int, count: int, seed: int) -> list[np.ndarray]:
    """``count`` random derangements of ``range(n)``: permutations in which no item stays in place.

    Each is drawn uniformly among derangements (a uniform permutation, redrawn while it has a fixed
    point; about e = 2.7 draws on average).

    Parameters
    ----------
    n : int
        Items, at least 2.
    count : int
        Derangements, at least 0.
    seed : int
        Seed of :func:`numpy.random.default_rng`; the same seed gives the same derangements.

    Returns
    -------
    list of ndarray of int64, shape (n,)
        ``pi`` with ``pi[i] != i`` for every i.

    Raises
    ------
    ValueError
        If ``n`` < 2 or ``count`` < 0.
    """
    if n < 2 or count < 0:
        raise ValueError(f"need n >= 2 items and count >= 0, got n={n}, count={count}")
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < count:
        pi = rng.permutation(n)
        if not np.any(pi == np.arange(n)):
            out.append(pi)
    return out


def shuffled_stats(stats: Stats, X: Any, Y: Any, permutation: np.ndarray, *, chunk_size: int = 4096) -> Stats:
    """The statistics of the pairs ``(x_i, y_pi(i))`` from those of ``(x_i, y_i)`` and the vectors.

    Counts, means and the within-side sums are the same for any pairing and are copied; the cross terms are
    recomputed at the same centres: ``Sxy = sum_i (x_i - mx)(y_pi(i) - my)^T``, and for
    :class:`RowNormMoments` ``sab``, ``bu`` and ``av`` (``a_i = ||x_i - mx||^2``, ``b_i = ||y_i - my||^2``).
    Costs O(n p q) time in chunks of ``chunk_size`` rows and O(p q) memory.

    Parameters
    ----------
    stats : Moments or RowNormMoments
        One layer's statistics of the real pairing (no layer axis).
    X : array_like, shape (n, p)
        The vectors the statistics were computed from (a memory map works; read ``chunk_size`` rows at a time).
    Y : array_like, shape (n, q)
        The paired vectors.
    permutation : ndarray of int, shape (n,)
        Row ``i`` of X is paired with row ``permutation[i]`` of Y.
    chunk_size : int, default 4096
        Rows read at a time.

    Returns
    -------
    Moments or RowNormMoments
        New statistics, of the same type as ``stats``.

    Raises
    ------
    ValueError
        If the shapes of X, Y and ``permutation`` do not match the statistics, or ``chunk_size`` < 1.
    """
    moments = stats.moments if isinstance(stats, RowNormMoments) else stats
    n = moments.n
    if moments.n_layers is not None:
        raise ValueError("shuffled_stats takes one layer's statistics (no layer axis)")
    if len(X) != n or len(Y) != n or len(permutation) != n or X.shape[1] != moments.p or Y.shape[1] != moments.q:
        raise ValueError(f"X {np.shape(X)}, Y {np.shape(Y)} and a permutation of {len(permutation)} do not fit "
                         f"{stats!r}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")
    rownorm = isinstance(stats, RowNormMoments)
    out = (RowNormMoments if rownorm else Moments)(moments.p, moments.q)
    target = out.moments if rownorm else out
    target.n = n
    for name in ("mean_x", "mean_y", "sxx", "syy"):
        setattr(target, name, np.array(getattr(moments, name), copy=True))
    target.sxy = np.zeros((moments.p, moments.q))
    if rownorm:
        out.saa, out.sbb = np.array(stats.saa, copy=True), np.array(stats.sbb, copy=True)
        out.au, out.bv = np.array(stats.au, copy=True), np.array(stats.bv, copy=True)
        out.sab, out.bu, out.av = np.zeros(()), np.zeros(moments.p), np.zeros(moments.q)
    for start in range(0, n, chunk_size):
        rows = permutation[start:start + chunk_size]
        Xc = np.asarray(X[start:start + chunk_size], dtype=np.float64) - moments.mean_x
        # fancy indexing of a memory map reads the rows in sorted order, then they are put back in pi's
        order = np.argsort(rows)
        Yc = np.empty((len(rows), moments.q))
        Yc[order] = np.asarray(Y[rows[order]], dtype=np.float64)
        Yc -= moments.mean_y
        target.sxy += Xc.T @ Yc
        if rownorm:
            a, b = np.einsum("ij,ij->i", Xc, Xc), np.einsum("ij,ij->i", Yc, Yc)
            out.sab = out.sab + a @ b
            out.bu += b @ Xc
            out.av += a @ Yc
    return out


def warn_null_reach(label: str, null: float, n: int, dims: int, *, highest: float | None = None,
                    stacklevel: int = 2) -> bool:
    """Warn when an index's null baseline is at or above :data:`NULL_REACH`, naming the sizes; return whether.

    Parameters
    ----------
    label : str
        The index's name, for the message.
    null : float
        Its null baseline (mean under shuffled pairing).
    n : int
        Paired sentences.
    dims : int
        Dimensions of the representations (the wider side).
    highest : float, optional
        The largest null value seen (over layers and pairs), for the message.
    stacklevel : int, default 2
        Passed to :func:`warnings.warn`.

    Returns
    -------
    bool
        Whether it warned.

    Warns
    -----
    NullReachWarning
        When ``null >= NULL_REACH``.
    """
    if not null >= NULL_REACH:
        return False
    top = f" (up to {highest:.2f})" if highest is not None else ""
    warnings.warn(
        f"{label}: with n = {n} sentences of {dims} dimensions, unrelated sentences (shuffled pairing) already "
        f"score {null:.2f}{top}, so the index cannot separate related from unrelated data well at this size: "
        "read only the height above the null line; use more sentences or fewer dimensions "
        "(e.g. SVCCA with --svcca-dims 20)", NullReachWarning, stacklevel=stacklevel + 1)
    return True


def shuffled_null(index: Callable[..., Any], X: Any, Y: Any, *, permutations: int = 3, seed: int = 0,
                  rownorm: bool = False, chunk_size: int = 4096, **options: Any) -> NullBaseline:
    """A moment index under shuffled pairing: its value for the same sentences with translations deranged.

    Parameters
    ----------
    index : callable
        A moment-based index (:func:`~crossling.similarity.anc`, :func:`~crossling.similarity.linear_cka`,
        :func:`~crossling.similarity.cca`, :func:`~crossling.similarity.svcca`,
        :func:`~crossling.similarity.pwcca`) taking statistics first.
    X : array_like, shape (n, p)
        The first representation.
    Y : array_like, shape (n, q)
        The second, row i the translation of row i of X.
    permutations : int, default 3
        Derangements (at least 1).
    seed : int, default 0
        Seed of the derangements (:func:`derangements`).
    rownorm : bool, default False
        Accumulate :class:`~crossling.similarity.RowNormMoments` (debiased linear CKA needs them).
    chunk_size : int, default 4096
        Rows per pass of :func:`shuffled_stats`.
    **options
        Passed to ``index``.

    Returns
    -------
    NullBaseline
        The index under each derangement, their mean and standard deviation.

    Raises
    ------
    ValueError
        If ``permutations`` < 1, or X and Y are not paired 2-D arrays of finite values with at least 2 rows.

    Warns
    -----
    NullReachWarning
        When the mean null is at least :data:`NULL_REACH`.

    Notes
    -----
    Costs ``permutations`` passes of O(n p q) over the vectors plus as many evaluations of the index on
    statistics whose within-side parts are unchanged (see the module docstring).
    """
    if permutations < 1:
        raise ValueError(f"permutations must be at least 1, got {permutations}")
    X, Y = as_pair(X, Y)
    stats = (RowNormMoments if rownorm else Moments).from_arrays(X, Y)
    values = np.array([float(index(shuffled_stats(stats, X, Y, pi, chunk_size=chunk_size), **options))
                       for pi in derangements(len(X), permutations, seed)])
    mean, sd = null_summary(values)
    null = NullBaseline(mean=mean, sd=sd, values=values, permutations=permutations, seed=seed)
    warn_null_reach(getattr(index, "__name__", "index"), null.mean, len(X), max(X.shape[1], Y.shape[1]),
                    highest=float(values.max()))
    return null


def null_summary(values: Sequence[float]) -> tuple[float, float]:
    """Mean and standard deviation (ddof 1; NaN below two values) of an index's null values.

    Parameters
    ----------
    values : sequence of float

    Returns
    -------
    tuple of float
        (mean, sd); (NaN, NaN) for no values.
    """
    values = np.asarray(values, dtype=np.float64)
    if not len(values):
        return np.nan, np.nan
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else np.nan

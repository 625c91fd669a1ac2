"""Confidence intervals by the delete-a-group jackknife over mergeable shards of moments.

The n paired rows are cut into G contiguous shards; the statistics of each shard are accumulated once, and
the replicate without shard g is the exact merge of the other G - 1 (:meth:`crossling.Moments.merge`). With
the index on all rows :math:`\\hat\\theta` and on the replicates :math:`\\hat\\theta_{(g)}`,

.. math::

    \\mathrm{se} = \\sqrt{\\frac{G - 1}{G} \\sum_g \\big(\\hat\\theta_{(g)} - \\bar\\theta\\big)^2}, \\qquad
    \\hat\\theta \\pm t_{G-1,\\,(1+c)/2}\\,\\mathrm{se},

the delete-a-group jackknife (Quenouille 1949, Tukey 1958; for groups, Shao and Tu 1995, ch. 5), with a
Student quantile for its G - 1 degrees of freedom.

Why the jackknife over shards, not the bootstrap over sentences: every moment index is a smooth function of
the second moments, and a shard replicate is a merge of stored moments, so it costs G - 1 merges of
O(p^2 + q^2 + pq) and one evaluation of the index, never a pass over the vectors; a bootstrap replicate
needs new moments of n resampled rows (O(n (p^2 + q^2 + pq))) and usually hundreds of replicates.
Contiguous shards in corpus order make it a block jackknife, which also absorbs dependence between
neighbouring sentences (paragraphs of one document) that resampling single sentences would ignore.
The jackknife variance is conservative (Efron and Stein, 1981): its bands err on the wide side.

Cost: the shards' statistics take the same flops as one pass (O(n (p^2 + q^2 + pq))) and G times the
memory of one set of moments; the replicates take G (G - 1) merges and G evaluations of each index. No
n x n matrix is formed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats as scipy_stats

from crossling.moments import Moments
from crossling.similarity._common import Stats
from crossling.similarity.rownorm import RowNormMoments

__all__ = ["Interval", "jackknife", "jackknife_interval", "leave_one_out", "merge_all", "shard_bounds", "shard_stats"]


@dataclass(frozen=True, eq=False)
class Interval:
    """A value with its jackknife standard error and confidence interval.

    Attributes
    ----------
    value : float
        The index on all rows.
    se : float
        Jackknife standard error; NaN when a replicate is NaN.
    low, high : float
        ``value -+ t * se``, t the Student quantile of ``confidence`` with ``shards - 1`` degrees of freedom.
    replicates : ndarray of float64, shape (shards,)
        The index without each shard.
    shards : int
        Number of shards G.
    confidence : float
        Coverage of the interval, in (0, 1).
    """

    value: float
    se: float
    low: float
    high: float
    replicates: np.ndarray
    shards: int
    confidence: float


def shard_bounds(n: int, shards: int) -> list[tuple[int, int]]:
    """Contiguous ``(start, stop)`` row ranges cutting n rows into ``shards`` parts of sizes differing by at most 1.

    Parameters
    ----------
    n : int
        Rows.
    shards : int
        Parts, 1 <= shards <= n.

    Returns
    -------
    list of (int, int)

    Raises
    ------
    ValueError
        If ``shards`` is not in [1, n].
    """
    if not 1 <= shards <= n:
        raise ValueError(f"cannot cut {n} rows into {shards} shards (need 1 <= shards <= n)")
    edges = np.linspace(0, n, shards + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


def shard_stats(X: Any, Y: Any, shards: int, *, rownorm: bool = False, chunk_size: int = 4096) -> list[Stats]:
    """Statistics of each contiguous shard of paired rows, read ``chunk_size`` rows at a time.

    Parameters
    ----------
    X : array_like, shape (n, p)
        The first representation (a memory map works).
    Y : array_like, shape (n, q)
        The paired rows of the second.
    shards : int
        Number of shards, 1 <= shards <= n.
    rownorm : bool, default False
        Accumulate :class:`~crossling.similarity.RowNormMoments` instead of :class:`~crossling.Moments`.
    chunk_size : int, default 4096
        Rows read at a time.

    Returns
    -------
    list of Moments or RowNormMoments
        One per shard, in row order; :func:`merge_all` of them is the statistics of all rows.

    Raises
    ------
    ValueError
        If X and Y have different row counts, ``shards`` is not in [1, n], ``chunk_size`` < 1, or a value is
        NaN or Inf.
    """
    if len(X) != len(Y):
        raise ValueError(f"X has {len(X)} rows but Y has {len(Y)}: rows must be paired")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")
    kind = RowNormMoments if rownorm else Moments
    parts = []
    for start, stop in shard_bounds(len(X), shards):
        part = kind(X.shape[1], Y.shape[1])
        for a in range(start, stop, chunk_size):
            b = min(a + chunk_size, stop)
            part.update(X[a:b], Y[a:b])
        parts.append(part)
    return parts


def merge_all(parts: Sequence[Stats]) -> Stats:
    """A new statistics object holding every part merged, in order (the parts are not modified).

    Parameters
    ----------
    parts : sequence of Moments or RowNormMoments
        Statistics of disjoint rows, all of one type, widths and layer axis; at least one.

    Returns
    -------
    Moments or RowNormMoments

    Raises
    ------
    ValueError
        If ``parts`` is empty or the parts do not fit together.
    """
    if not parts:
        raise ValueError("nothing to merge")
    first = parts[0]
    if isinstance(first, RowNormMoments):
        out: Stats = RowNormMoments(first.moments.p, first.moments.q, n_layers=first.moments.n_layers)
    else:
        out = Moments(first.p, first.q, n_layers=first.n_layers)
    for part in parts:
        out.merge(part)
    return out


def leave_one_out(parts: Sequence[Stats]) -> Iterator[Stats]:
    """The statistics without each part in turn: ``merge_all(parts[:g] + parts[g + 1:])`` for g = 0, 1, ...

    The replicates of one side are identical, bit for bit, whatever the other side is (the merge of a side
    reads only that side), so factorisations memoised by content are shared across pairs.

    Parameters
    ----------
    parts : sequence of Moments or RowNormMoments
        At least two.

    Yields
    ------
    Moments or RowNormMoments
        Each replicate, built when asked for (one in memory at a time).

    Raises
    ------
    ValueError
        If there are fewer than two parts.
    """
    if len(parts) < 2:
        raise ValueError(f"a jackknife needs at least two shards, got {len(parts)}")
    for g in range(len(parts)):
        yield merge_all([part for k, part in enumerate(parts) if k != g])


def jackknife_interval(value: float, replicates: Sequence[float], *, confidence: float = 0.95) -> Interval:
    """The jackknife standard error and interval of ``value`` from its delete-a-group replicates.

    Parameters
    ----------
    value : float
        The statistic on all rows.
    replicates : sequence of float
        The statistic without each of G >= 2 groups.
    confidence : float, default 0.95
        Coverage, in (0, 1).

    Returns
    -------
    Interval
        ``se = sqrt((G - 1)/G * sum (r_g - mean r)^2)`` and ``value -+ t_{G-1} se`` (NaN when a replicate or
        ``value`` is NaN).

    Raises
    ------
    ValueError
        If there are fewer than two replicates or ``confidence`` is not in (0, 1).
    """
    reps = np.asarray(replicates, dtype=np.float64)
    G = len(reps)
    if G < 2:
        raise ValueError(f"a jackknife needs at least two replicates, got {G}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    se = float(np.sqrt((G - 1) / G * np.sum((reps - reps.mean()) ** 2)))
    half = float(scipy_stats.t.ppf((1 + confidence) / 2, G - 1)) * se
    return Interval(value=float(value), se=se, low=value - half, high=value + half, replicates=reps, shards=G,
                    confidence=confidence)


def jackknife(index: Callable[..., Any], parts: Sequence[Stats], *, confidence: float = 0.95,
              **options: Any) -> Interval:
    """A moment index with its delete-a-group jackknife interval over mergeable shards.

    Parameters
    ----------
    index : callable
        A moment-based index (:func:`~crossling.similarity.anc`, :func:`~crossling.similarity.linear_cka`,
        :func:`~crossling.similarity.cca`, :func:`~crossling.similarity.svcca`,
        :func:`~crossling.similarity.pwcca`) taking statistics first.
    parts : sequence of Moments or RowNormMoments
        Statistics of G >= 2 disjoint shards of the rows (:func:`shard_stats`).
    confidence : float, default 0.95
        Coverage of the interval, in (0, 1).
    **options
        Passed to ``index``.

    Returns
    -------
    Interval
        The index on all rows with its standard error, interval and replicates.

    Raises
    ------
    ValueError
        If there are fewer than two parts, they do not fit together, or ``confidence`` is not in (0, 1).

    Notes
    -----
    Costs G (G - 1) merges and G + 1 evaluations of ``index`` (see the module docstring); warnings of the
    replicates are those of the index and are not silenced.
    """
    value = float(index(merge_all(parts), **options))
    replicates = [float(index(loo, **options)) for loo in leave_one_out(parts)]
    return jackknife_interval(value, replicates, confidence=confidence)

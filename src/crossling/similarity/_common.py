"""Input handling shared by the similarity indices: paired arrays or moments, one layer or many."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

import numpy as np

from crossling.exceptions import DegenerateInputWarning
from crossling.moments import Moments
from crossling.similarity.rownorm import RowNormMoments

R = TypeVar("R")
Stats = Moments | RowNormMoments

# A neuron counts as constant when its standard deviation is at most this fraction of its mean's magnitude:
# float64 sums of identical values leave rounding residue of ~1e-16 relative, far below this.
CONSTANT_RTOL = 1e-12


def constant_neurons(variance: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Which neurons are constant: standard deviation at most ``CONSTANT_RTOL`` times the mean's magnitude.

    Parameters
    ----------
    variance : ndarray, shape (p,)
        Each neuron's variance (any normalisation; only its square root is compared).
    mean : ndarray, shape (p,)
        Each neuron's mean.

    Returns
    -------
    ndarray of bool, shape (p,)
        True for a constant neuron (exactly 0 variance counts as constant whatever the mean).
    """
    return np.sqrt(np.clip(variance, 0.0, None)) <= CONSTANT_RTOL * np.abs(mean)


@dataclass(frozen=True, eq=False)
class ScalarResult:
    """Base of every named result: ``value`` is the index itself, so ``float(result)`` works.

    Attributes
    ----------
    value : float
        The index; NaN (after a :class:`~crossling.exceptions.DegenerateInputWarning`) when undefined.
    """

    value: float

    def __float__(self) -> float:
        return float(self.value)


def degenerate(message: str) -> None:
    """Warn that an index is undefined or untrustworthy for these data (the caller returns NaN or records it).

    Parameters
    ----------
    message : str
        What is degenerate and what the index does about it.

    Warns
    -----
    DegenerateInputWarning
        Always, attributed to the caller of the index (``stacklevel=3``).
    """
    warnings.warn(message, DegenerateInputWarning, stacklevel=3)


def as_pair(X: Any, Y: Any, *, same_width: bool = False, min_rows: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Validate paired arrays X (n x p) and Y (n x q) and return them as float64.

    Parameters
    ----------
    X : array_like, shape (n, p)
        The first representation.
    Y : array_like, shape (n, q)
        The second representation, row i paired with row i of X.
    same_width : bool, default False
        Require p == q (indices on aligned neurons or a shared space).
    min_rows : int, default 2
        The fewest paired rows the index needs.

    Returns
    -------
    tuple of ndarray
        X and Y as float64 arrays (copies only where the conversion needs one).

    Raises
    ------
    TypeError
        If ``Y`` is None.
    ValueError
        If X or Y is not 2-D, their row counts differ, ``same_width`` and p != q, there are fewer than
        ``min_rows`` rows, or a value is NaN or Inf.
    """
    if Y is None:
        raise TypeError("Y is required when X is an array (pass Moments alone, or both X and Y)")
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    if X.ndim != 2 or Y.ndim != 2:
        raise ValueError(
            f"expected X (n, p) and Y (n, q), got shapes {X.shape} and {Y.shape}; "
            "for several layers build Moments(p, q, n_layers=L)"
        )
    if X.shape[0] != Y.shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows but Y has {Y.shape[0]}: rows must be paired (translations)")
    if same_width and X.shape[1] != Y.shape[1]:
        raise ValueError(f"this index needs p == q (aligned neurons), got p={X.shape[1]}, q={Y.shape[1]}")
    if X.shape[0] < min_rows:
        raise ValueError(f"need at least {min_rows} paired rows, got {X.shape[0]}")
    if not (np.isfinite(X).all() and np.isfinite(Y).all()):
        raise ValueError("X or Y contains NaN or Inf")
    return X, Y


def is_stats(obj: Any) -> bool:
    """Whether ``obj`` is streamed statistics (:class:`Moments` or :class:`RowNormMoments`) rather than an array."""
    return isinstance(obj, (Moments, RowNormMoments))


def n_layers_of(stats: Stats) -> int | None:
    """The length of the layer axis of ``stats``, or None when it has none."""
    return stats.moments.n_layers if isinstance(stats, RowNormMoments) else stats.n_layers


def single_layer(stats: Stats, fn: Callable[[Stats], R]) -> R:
    """Apply a single-layer index to ``stats``, refusing multi-layer statistics (see :func:`per_layer`).

    Parameters
    ----------
    stats : Moments or RowNormMoments
        Statistics without a layer axis.
    fn : callable
        The index on one layer's statistics.

    Returns
    -------
    object
        ``fn(stats)``.

    Raises
    ------
    TypeError
        If ``stats`` has a layer axis.
    """
    if n_layers_of(stats) is not None:
        raise TypeError(f"these statistics hold {n_layers_of(stats)} layers and an index gives one value: call "
                        "crossling.similarity.per_layer(index, stats, **options) for one result per layer")
    return fn(stats)


def per_layer(index: Callable[..., R], stats: Stats, **options: Any) -> list[R]:
    """One result per layer of multi-layer statistics: ``[index(stats.layer(i), **options) for each layer]``.

    Parameters
    ----------
    index : callable
        A moment-based index (:func:`~crossling.similarity.anc`, :func:`~crossling.similarity.linear_cka`,
        :func:`~crossling.similarity.cca`, :func:`~crossling.similarity.svcca`, :func:`~crossling.similarity.pwcca`).
    stats : Moments or RowNormMoments
        With a layer axis (``n_layers`` set).
    **options
        Passed to ``index``.

    Returns
    -------
    list
        The index's result for each layer, in layer order.

    Raises
    ------
    TypeError
        When ``stats`` has no layer axis.
    """
    n_layers = n_layers_of(stats)
    if n_layers is None:
        raise TypeError("these statistics have no layer axis: call the index on them directly")
    return [index(stats.layer(i), **options) for i in range(n_layers)]


def moments_of(stats: Stats, *, min_rows: int = 2) -> Moments:
    """The second moments inside ``stats``, checked to hold enough rows.

    Parameters
    ----------
    stats : Moments or RowNormMoments
        Statistics of one layer.
    min_rows : int, default 2
        The fewest rows the index needs.

    Returns
    -------
    Moments
        ``stats`` itself, or the :class:`Moments` inside a :class:`RowNormMoments`.

    Raises
    ------
    ValueError
        If the statistics hold fewer than ``min_rows`` rows.
    """
    m = stats.moments if isinstance(stats, RowNormMoments) else stats
    if m.n < min_rows:
        raise ValueError(f"need at least {min_rows} paired rows, these moments hold {m.n}")
    return m


def resolve(X_or_stats: Any, Y: Any) -> Stats | None:
    """Return the statistics object when one was given (then Y must be None), else None.

    Parameters
    ----------
    X_or_stats : array_like or Moments or RowNormMoments
        An index's first argument.
    Y : array_like or None
        Its second argument.

    Returns
    -------
    Moments or RowNormMoments or None
        ``X_or_stats`` when it is statistics; None when it is an array (validated later by :func:`as_pair`).

    Raises
    ------
    TypeError
        If statistics and ``Y`` are both given.
    """
    if is_stats(X_or_stats):
        if Y is not None:
            raise TypeError("pass either a Moments object alone or the arrays X and Y, not both")
        return X_or_stats
    return None

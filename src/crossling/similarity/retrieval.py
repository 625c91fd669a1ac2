"""Top-1 matching (retrieval) accuracy of paired representations, chunked, with optional Procrustes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from crossling.similarity._common import ScalarResult, as_pair

__all__ = ["RetrievalResult", "retrieval_accuracy"]


@dataclass(frozen=True, eq=False)
class RetrievalResult(ScalarResult):
    """Top-1 matching accuracy in both directions (a similarity in [0, 1]; chance is 1/n_scored).

    Attributes
    ----------
    value : float
        Mean of ``x_to_y`` and ``y_to_x``.
    x_to_y, y_to_x : float
        Fraction in [0, 1] of scored rows i for which row i of the other side is the strict nearest
        neighbour among the scored rows.
    correct_x_to_y, correct_y_to_x : ndarray of bool, shape (n_scored,)
        Per scored row, whether its partner was found (X -> Y, Y -> X).
    scored_rows : ndarray of int, shape (n_scored,)
        Indices (into the input rows) of the rows scored, in the order of the ``correct_*`` arrays.
    n_scored, n_fit : int
        Rows scored, and rows used to fit the Procrustes map (0 without it; never among the scored).
    metric : {"cosine", "euclidean"}
        The similarity the neighbours were ranked by.
    procrustes : bool
        Whether X was first mapped onto Y by an orthogonal Procrustes fit.
    seed : int or None
        Seed of the fit/score split (None without Procrustes).
    """

    x_to_y: float
    y_to_x: float
    correct_x_to_y: np.ndarray
    correct_y_to_x: np.ndarray
    scored_rows: np.ndarray
    n_scored: int
    n_fit: int
    metric: str
    procrustes: bool
    seed: int | None


def _orthogonal_procrustes(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """The orthogonal W minimising ||A W - B||_F: U V^T from the SVD of A^T B (Schoenemann, 1966)."""
    U, _, Vt = np.linalg.svd(A.T @ B)
    return U @ Vt


def _top1(X: np.ndarray, Y: np.ndarray, metric: str, chunk_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Whether each row's partner is its strict nearest neighbour, X -> Y and Y -> X, in one pass.

    The score matrix is built ``chunk_size`` rows at a time; each block serves both directions (its
    row-wise maxima for X -> Y, running column-wise maxima for Y -> X).
    """
    n = X.shape[0]
    if metric == "euclidean":  # score = -||x - y||^2 = 2 x.y - ||x||^2 - ||y||^2
        sqx, sqy = np.einsum("ij,ij->i", X, X), np.einsum("ij,ij->i", Y, Y)
    true = np.empty(n)
    best_other_col = np.full(n, -np.inf)
    x_to_y = np.empty(n, bool)
    for start in range(0, n, chunk_size):
        stop = min(start + chunk_size, n)
        S = X[start:stop] @ Y.T
        if metric == "euclidean":
            S *= 2.0
            S -= sqx[start:stop, None]
            S -= sqy[None, :]
        rows = np.arange(stop - start)
        # the partner's score comes from the same product as its rivals', so exact ties stay ties
        true[start:stop] = S[rows, rows + start]
        S[rows, rows + start] = -np.inf
        x_to_y[start:stop] = true[start:stop] > S.max(1)
        np.maximum(best_other_col, S.max(0), out=best_other_col)
    return x_to_y, true > best_other_col


def retrieval_accuracy(
    X: Any,
    Y: Any,
    *,
    metric: Literal["cosine", "euclidean"] = "cosine",
    procrustes: bool = False,
    train_fraction: float = 0.5,
    seed: int = 0,
    chunk_size: int = 1024,
) -> RetrievalResult:
    r"""Top-1 matching accuracy: how often row i of X finds row i of Y among all rows of Y, and vice versa.

    .. math::

        \mathrm{acc}_{X \to Y} = \frac{1}{n} \sum_i \mathbb{1}\big[s(x_i, y_i) > \max_{j \ne i} s(x_i, y_j)\big],

    and likewise Y -> X, with ``s`` the cosine similarity or minus the squared Euclidean distance (the
    sentence-retrieval evaluation of Del and Fishel, 2022, after Artetxe and Schwenk, 2019). Ties count as
    misses. The value reported is the mean of the two directions.

    Parameters
    ----------
    X : array_like, shape (n, d)
        The first representation (e.g. sentence vectors of one language).
    Y : array_like, shape (n, d)
        The second, row i the partner (translation) of row i of X, in the same space (same width d).
    metric : {"cosine", "euclidean"}, default "cosine"
        Similarity ``s``: cosine, or minus the squared Euclidean distance.
    procrustes : bool, default False
        First map X onto Y with the orthogonal Procrustes solution ``W = argmin ||X_fit W - Y_fit||_F``
        fitted on a random ``train_fraction`` of the pairs, and score only the other pairs (a fitted map is
        never scored on its own training pairs). With the cosine metric rows are normalised before fitting.
    train_fraction : float, default 0.5
        Fraction in (0, 1) of the pairs used to fit the map, ``round(train_fraction * n)`` of them
        (Procrustes only).
    seed : int, default 0
        Seed of the fit/score split (Procrustes only).
    chunk_size : int, default 1024
        Rows of the score matrix computed at a time: memory is about ``8 * chunk_size * n`` bytes beyond the
        float64 copies of X and Y (164 MB for n = 20,000); time O(n^2 d).

    Returns
    -------
    RetrievalResult
        ``value`` the mean of the two directions' accuracies, in [0, 1] (chance 1/n_scored), with the
        per-row outcomes and the split.

    Raises
    ------
    TypeError
        If ``Y`` is None.
    ValueError
        If X or Y is not 2-D, their shapes differ, there are fewer than 2 rows or a value is NaN or Inf;
        if ``metric`` is unknown or ``chunk_size`` < 1; with the cosine metric, if a row is all zeros; with
        Procrustes, if ``train_fraction`` is not in (0, 1) or the split leaves no fit row or fewer than 2
        scored rows.
    """
    X, Y = as_pair(X, Y, same_width=True)
    if metric not in ("cosine", "euclidean"):
        raise ValueError(f"metric must be 'cosine' or 'euclidean', got {metric!r}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")
    if metric == "cosine":
        nx, ny = np.linalg.norm(X, axis=1), np.linalg.norm(Y, axis=1)
        if (nx == 0).any() or (ny == 0).any():
            raise ValueError("cosine similarity is undefined for an all-zero row")
        X, Y = X / nx[:, None], Y / ny[:, None]
    n = X.shape[0]
    scored, n_fit = np.arange(n), 0
    if procrustes:
        if not 0 < train_fraction < 1:
            raise ValueError(f"train_fraction must be in (0, 1), got {train_fraction}")
        order = np.random.default_rng(seed).permutation(n)
        n_fit = int(round(train_fraction * n))
        if n_fit < 1 or n - n_fit < 2:
            raise ValueError(f"n={n} rows are too few to split into fit ({n_fit}) and scored pairs")
        fit, scored = order[:n_fit], np.sort(order[n_fit:])
        X = X[scored] @ _orthogonal_procrustes(X[fit], Y[fit])
        Y = Y[scored]
    x_to_y, y_to_x = _top1(X, Y, metric, chunk_size)
    a, b = float(x_to_y.mean()), float(y_to_x.mean())
    return RetrievalResult(
        value=(a + b) / 2, x_to_y=a, y_to_x=b, correct_x_to_y=x_to_y, correct_y_to_x=y_to_x,
        scored_rows=scored, n_scored=len(scored), n_fit=n_fit, metric=metric, procrustes=procrustes,
        seed=seed if procrustes else None,
    )

"""Top-1 matching (retrieval) accuracy of paired representations, chunked, with optional Procrustes.

Two conventions are named options. ``direction``: Del and Fishel (2022) score English -> X only
(``"x_to_y"``, the default, with the pair's first language as X); ``"both"`` averages the two directions.
``ties``: a row whose partner ties with t - 1 other candidates for the best score gets 1/t (``"share"``,
the default: the expected accuracy when ties are broken at random), or nothing (``"miss"``, the strict
rule). Under the strict rule a corpus with duplicated sentences scores their rows 0 whatever the model
does, so duplicated rows are counted and warned about either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from crossling.similarity._common import ScalarResult, as_pair, degenerate

__all__ = ["RetrievalResult", "retrieval_accuracy"]


@dataclass(frozen=True, eq=False)
class RetrievalResult(ScalarResult):
    """Top-1 matching accuracy (a similarity in [0, 1]; chance is 1/n_scored).

    Attributes
    ----------
    value : float
        ``x_to_y`` (``direction="x_to_y"``) or the mean of ``x_to_y`` and ``y_to_x`` (``"both"``).
    x_to_y, y_to_x : float
        Mean credit in [0, 1] of the scored rows: 1 for a row whose partner (row i of the other side) is its
        strict nearest neighbour among the scored rows, 1/t (``ties="share"``) or 0 (``"miss"``) when the
        partner ties with t - 1 others, 0 otherwise.
    correct_x_to_y, correct_y_to_x : ndarray of float, shape (n_scored,)
        Per scored row, its credit (X -> Y, Y -> X).
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
    direction : {"x_to_y", "both"}, default "x_to_y"
        Which directions ``value`` reports.
    ties : {"share", "miss"}, default "share"
        How a tie for the nearest neighbour is credited.
    duplicate_rows : int, default 0
        Rows of X or of Y (counted on the side with more) identical to an earlier row of the same side.
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
    direction: str = "x_to_y"
    ties: str = "share"
    duplicate_rows: int = 0


def _orthogonal_procrustes(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """The orthogonal W minimising ||A W - B||_F: U V^T from the SVD of A^T B (Schoenemann, 1966)."""
    U, _, Vt = np.linalg.svd(A.T @ B)
    return U @ Vt


def _credit(true: np.ndarray, best: np.ndarray, count: np.ndarray, ties: str) -> np.ndarray:
    """Credit of each row from its partner's score, the best rival score and how many rivals reach it."""
    tied = best == true
    share = 1.0 / (1.0 + count) if ties == "share" else 0.0
    return np.where(true > best, 1.0, np.where(tied, share, 0.0))


def _top1(X: np.ndarray, Y: np.ndarray, metric: str, chunk_size: int, ties: str) -> tuple[np.ndarray, np.ndarray]:
    """Each row's credit for finding its partner, X -> Y and Y -> X, in one pass.

    The score matrix is built ``chunk_size`` rows at a time; each block serves both directions (its
    row-wise best rival and its count, and running column-wise ones for Y -> X).
    """
    n = X.shape[0]
    if metric == "euclidean":  # score = -||x - y||^2 = 2 x.y - ||x||^2 - ||y||^2
        sqx, sqy = np.einsum("ij,ij->i", X, X), np.einsum("ij,ij->i", Y, Y)
    true = np.empty(n)
    row_best, row_count = np.empty(n), np.empty(n)
    col_best, col_count = np.full(n, -np.inf), np.zeros(n)
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
        row_best[start:stop] = S.max(1)
        row_count[start:stop] = (S == row_best[start:stop, None]).sum(1)
        block_best = S.max(0)
        block_count = (S == block_best[None, :]).sum(0)
        higher = block_best > col_best
        col_count = np.where(higher, block_count, col_count + np.where(block_best == col_best, block_count, 0))
        col_best = np.maximum(col_best, block_best)
    return _credit(true, row_best, row_count, ties), _credit(true, col_best, col_count, ties)


def _duplicates(A: np.ndarray) -> int:
    """Rows of A identical to an earlier row."""
    return len(A) - len(np.unique(A, axis=0))


def retrieval_accuracy(
    X: Any,
    Y: Any,
    *,
    metric: Literal["cosine", "euclidean"] = "cosine",
    direction: Literal["x_to_y", "both"] = "x_to_y",
    ties: Literal["share", "miss"] = "share",
    procrustes: bool = False,
    train_fraction: float = 0.5,
    seed: int = 0,
    chunk_size: int = 1024,
) -> RetrievalResult:
    r"""Top-1 matching accuracy: how often row i of X finds row i of Y among all rows of Y (and vice versa).

    .. math::

        \mathrm{acc}_{X \to Y} = \frac{1}{n} \sum_i c_i, \qquad c_i = \begin{cases}
        1 & s(x_i, y_i) > \max_{j \ne i} s(x_i, y_j) \\
        1/t_i & s(x_i, y_i) = \max_{j \ne i} s(x_i, y_j),\ t_i - 1 \text{ rivals at the maximum} \\
        0 & \text{otherwise,} \end{cases}

    and likewise Y -> X, with ``s`` the cosine similarity or minus the squared Euclidean distance (the
    sentence-retrieval evaluation of Del and Fishel, 2022, after Artetxe and Schwenk, 2019). The paper
    scores English -> X, so ``value`` is X -> Y by default (put English first); the other direction is
    always computed too.

    Parameters
    ----------
    X : array_like, shape (n, d)
        The first representation (e.g. sentence vectors of one language).
    Y : array_like, shape (n, d)
        The second, row i the partner (translation) of row i of X, in the same space (same width d).
    metric : {"cosine", "euclidean"}, default "cosine"
        Similarity ``s``: cosine, or minus the squared Euclidean distance.
    direction : {"x_to_y", "both"}, default "x_to_y"
        ``value`` is X -> Y (Del and Fishel's English -> X), or the mean of both directions.
    ties : {"share", "miss"}, default "share"
        A partner tied with t - 1 rivals earns 1/t (the expectation under random tie-breaking), or 0.
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
        ``value`` the accuracy in the direction(s) asked for, in [0, 1] (chance 1/n_scored), with both
        directions, the per-row credits, the split and the number of duplicated rows.

    Raises
    ------
    TypeError
        If ``Y`` is None.
    ValueError
        If X or Y is not 2-D, their shapes differ, there are fewer than 2 rows or a value is NaN or Inf;
        if ``metric``, ``direction`` or ``ties`` is unknown or ``chunk_size`` < 1; with the cosine metric, if
        a row is all zeros; with Procrustes, if ``train_fraction`` is not in (0, 1) or the split leaves no fit
        row or fewer than 2 scored rows.

    Warns
    -----
    DegenerateInputWarning
        When rows of X or Y are duplicated (their partners tie; with ``ties="miss"`` they score 0).
    """
    X, Y = as_pair(X, Y, same_width=True)
    if metric not in ("cosine", "euclidean"):
        raise ValueError(f"metric must be 'cosine' or 'euclidean', got {metric!r}")
    if direction not in ("x_to_y", "both"):
        raise ValueError(f"direction must be 'x_to_y' or 'both', got {direction!r}")
    if ties not in ("share", "miss"):
        raise ValueError(f"ties must be 'share' or 'miss', got {ties!r}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")
    duplicates = max(_duplicates(X), _duplicates(Y))
    if duplicates:
        rule = "share their credit" if ties == "share" else "count as misses"
        degenerate(f"matching: {duplicates} of {len(X)} rows are duplicates of another row, so their partners tie "
                   f"and {rule}; deduplicate the corpus (identical sentences) for an accuracy of distinct ones")
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
    x_to_y, y_to_x = _top1(X, Y, metric, chunk_size, ties)
    a, b = float(x_to_y.mean()), float(y_to_x.mean())
    return RetrievalResult(
        value=a if direction == "x_to_y" else (a + b) / 2, x_to_y=a, y_to_x=b, correct_x_to_y=x_to_y,
        correct_y_to_x=y_to_x, scored_rows=scored, n_scored=len(scored), n_fit=n_fit, metric=metric,
        procrustes=procrustes, seed=seed if procrustes else None, direction=direction, ties=ties,
        duplicate_rows=duplicates,
    )

"""Matching accuracy: equal to a brute-force argmax; the paper's direction and honest ties; Procrustes held out."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

from crossling.exceptions import DegenerateInputWarning
from crossling.similarity import retrieval_accuracy

from .similarity_data import orthogonal


def _brute_force(X, Y, metric):
    if metric == "cosine":
        X = X / np.linalg.norm(X, axis=1, keepdims=True)
        Y = Y / np.linalg.norm(Y, axis=1, keepdims=True)
        S = X @ Y.T
    else:
        S = -((X[:, None, :] - Y[None, :, :]) ** 2).sum(-1)
    n = len(S)
    hit_xy = [S[i, i] > max(S[i, j] for j in range(n) if j != i) for i in range(n)]
    hit_yx = [S[j, j] > max(S[i, j] for i in range(n) if i != j) for j in range(n)]
    return np.array(hit_xy), np.array(hit_yx)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_matches_brute_force(metric):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(150, 6))
    Y = X + 0.9 * rng.normal(size=(150, 6)) + 0.3  # noisy enough that both directions make mistakes
    want_xy, want_yx = _brute_force(X, Y, metric)
    assert 0.1 < want_xy.mean() < 0.9 and (want_xy != want_yx).any()
    for chunk in (1, 16, 1024):
        res = retrieval_accuracy(X, Y, metric=metric, chunk_size=chunk, direction="both")
        np.testing.assert_array_equal(res.correct_x_to_y, want_xy)
        np.testing.assert_array_equal(res.correct_y_to_x, want_yx)
    assert res.x_to_y == want_xy.mean() and res.y_to_x == want_yx.mean()
    assert res.value == (want_xy.mean() + want_yx.mean()) / 2
    assert (res.n_scored, res.n_fit, res.procrustes, res.seed) == (150, 0, False, None)


def test_identical_rows_match_perfectly_and_ties_count_as_misses():
    X = np.random.default_rng(1).normal(size=(50, 4))
    assert retrieval_accuracy(X, X).value == 1.0
    Xd = X.copy()
    Xd[1] = Xd[0]  # rows 0 and 1 are now indistinguishable
    with pytest.warns(DegenerateInputWarning, match="1 of 50 rows are duplicates"):
        res = retrieval_accuracy(Xd, Xd, ties="miss")
    assert not res.correct_x_to_y[:2].any() and res.correct_x_to_y[2:].all()


def test_the_paper_scores_x_to_y_and_both_directions_are_kept():
    """Del and Fishel (2022) score English -> X: value = acc(X -> Y); direction="both" is the mean of the two."""
    rng = np.random.default_rng(7)
    X = rng.normal(size=(120, 5))
    Y = X + 1.2 * rng.normal(size=(120, 5))
    xy, yx = (h.mean() for h in _brute_force(X, Y, "cosine"))
    assert xy != yx
    res = retrieval_accuracy(X, Y)
    assert (res.value, res.x_to_y, res.y_to_x, res.direction) == (xy, xy, yx, "x_to_y")
    assert retrieval_accuracy(X, Y, direction="both").value == (xy + yx) / 2


def test_tied_partners_share_their_credit():
    """A partner tied with t - 1 rivals earns 1/t: a corpus of every sentence twice scores 1/2, not 0."""
    X = np.random.default_rng(8).normal(size=(40, 6))
    doubled = np.concatenate([X, X])
    Y = doubled + 1e-3 * np.random.default_rng(9).normal(size=doubled.shape)
    Y[40:] = Y[:40]  # both copies of a sentence have the same translation too
    with pytest.warns(DegenerateInputWarning, match="40 of 80 rows are duplicates"):
        shared = retrieval_accuracy(doubled, Y)
        strict = retrieval_accuracy(doubled, Y, ties="miss")
    assert shared.duplicate_rows == 40
    # each row's partner ties with its duplicate's partner: credit 1/2 in both directions
    np.testing.assert_array_equal(shared.correct_x_to_y, np.full(80, 0.5))
    np.testing.assert_array_equal(shared.correct_y_to_x, np.full(80, 0.5))
    assert (shared.value, strict.value) == (0.5, 0.0)
    # three-way tie, counted across chunks: credit 1/3 whatever the chunking
    T = np.repeat(np.eye(4), [3, 1, 1, 1], axis=0)
    with pytest.warns(DegenerateInputWarning):
        for chunk in (1, 2, 7):
            res = retrieval_accuracy(T, T, chunk_size=chunk, direction="both")
            np.testing.assert_allclose(res.correct_x_to_y, [1 / 3] * 3 + [1] * 3)
            np.testing.assert_allclose(res.correct_y_to_x, [1 / 3] * 3 + [1] * 3)


def test_procrustes_recovers_a_rotation_from_held_out_pairs():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(400, 10))
    Q = orthogonal(10, 5)
    Y = X @ Q + 0.05 * rng.normal(size=(400, 10))
    assert retrieval_accuracy(X, Y).value < 0.2
    res = retrieval_accuracy(X, Y, procrustes=True, train_fraction=0.25, seed=3)
    assert res.value == 1.0
    assert (res.n_fit, res.n_scored, res.seed) == (100, 300, 3)
    # the fitted map is the textbook orthogonal Procrustes solution on the held-out (fit) rows
    fit = np.setdiff1d(np.arange(400), res.scored_rows)
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    Yn = Y / np.linalg.norm(Y, axis=1, keepdims=True)
    W, _ = scipy.linalg.orthogonal_procrustes(Xn[fit], Yn[fit])
    hit_xy, hit_yx = _brute_force(Xn[res.scored_rows] @ W, Yn[res.scored_rows], "cosine")
    np.testing.assert_array_equal(res.correct_x_to_y, hit_xy)
    np.testing.assert_array_equal(res.correct_y_to_x, hit_yx)


def test_procrustes_is_never_scored_on_its_own_training_pairs():
    # independent X and Y with d >= fitted pairs: a map fitted on the scored pairs would match them
    # almost perfectly; held out, accuracy stays at chance
    rng = np.random.default_rng(4)
    X, Y = rng.normal(size=(60, 64)), rng.normal(size=(60, 64))
    res = retrieval_accuracy(X, Y, procrustes=True, seed=0)
    assert len(np.intersect1d(res.scored_rows, np.setdiff1d(np.arange(60), res.scored_rows))) == 0
    assert res.value < 0.2
    W, _ = scipy.linalg.orthogonal_procrustes(X[res.scored_rows], Y[res.scored_rows])
    leaked = retrieval_accuracy(X[res.scored_rows] @ W, Y[res.scored_rows])
    assert leaked.value > 0.9, "the leak this guards against would really inflate the score"


def test_bad_input():
    X = np.ones((5, 3))
    with pytest.raises(ValueError, match="p == q"):
        retrieval_accuracy(X, np.ones((5, 4)))
    with pytest.raises(ValueError, match="metric"):
        retrieval_accuracy(X, X, metric="manhattan")
    with pytest.raises(ValueError, match="all-zero row"):
        retrieval_accuracy(np.zeros((5, 3)), X)
    with pytest.raises(ValueError, match="too few"):
        retrieval_accuracy(X, X, procrustes=True, train_fraction=0.9)

"""CKA: equal to the Gram-matrix formulas (biased and Song et al.'s unbiased HSIC); known invariances."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import pdist

from crossling import Moments
from crossling.exceptions import DegenerateInputWarning
from crossling.similarity import RowNormMoments, linear_cka, per_layer, rbf_cka

from .similarity_data import make_pair, orthogonal


def _hsic_biased(K, L):
    n = len(K)
    H = np.eye(n) - np.ones((n, n)) / n
    return np.trace(K @ H @ L @ H)


def _hsic_unbiased(K, L):
    """Song, Smola, Gretton, Bedo and Borgwardt (2012), JMLR 13, eq. (5), with zeroed diagonals."""
    n = len(K)
    Kt, Lt = K - np.diag(np.diag(K)), L - np.diag(np.diag(L))
    one = np.ones(n)
    return (np.trace(Kt @ Lt) + (one @ Kt @ one) * (one @ Lt @ one) / ((n - 1) * (n - 2))
            - 2 / (n - 2) * one @ Kt @ Lt @ one) / (n * (n - 3))


def _gram_cka(K, L, debiased):
    h = _hsic_unbiased if debiased else _hsic_biased
    return h(K, L) / np.sqrt(h(K, K) * h(L, L))


def _rbf_gram(X, sigma):
    D2 = ((X[:, None, :] - X[None, :, :]) ** 2).sum(-1)
    return np.exp(-D2 / (2 * (sigma * np.median(pdist(X))) ** 2))


@pytest.mark.parametrize("debiased", [False, True])
def test_linear_matches_gram_formula(pair, debiased):
    X, Y = pair  # not centred: the Gram formula centres through H (or, debiased, is translation invariant)
    want = _gram_cka(X @ X.T, Y @ Y.T, debiased)
    res = linear_cka(X, Y, debiased=debiased)
    assert abs(res.value - want) <= 1e-8
    assert (res.kernel, res.debiased, res.n) == ("linear", debiased, 300)


@pytest.mark.parametrize("debiased", [False, True])
def test_rbf_matches_gram_formula(debiased):
    X, Y = make_pair(120, 5, 9, seed=3)
    want = _gram_cka(_rbf_gram(X, 0.8), _rbf_gram(Y, 0.8), debiased)
    for chunk in (7, 512):  # chunking must not change the number
        res = rbf_cka(X, Y, debiased=debiased, chunk_size=chunk)
        assert abs(res.value - want) <= 1e-8
    assert res.median_rows == 120 and abs(res.bandwidth_x - 0.8 * np.median(pdist(X))) <= 1e-10
    sigma2 = _gram_cka(_rbf_gram(X, 2.0), _rbf_gram(Y, 2.0), debiased)
    assert abs(rbf_cka(X, Y, sigma=2.0, debiased=debiased).value - sigma2) <= 1e-8


def test_rbf_median_on_a_row_sample_is_recorded():
    X, Y = make_pair(300, 4, 4, seed=4)
    res = rbf_cka(X, Y, median_rows=100, seed=7)
    assert res.median_rows == 100 and res.seed == 7
    rows = np.sort(np.random.default_rng(7).choice(300, 100, replace=False))
    assert abs(res.bandwidth_x - 0.8 * np.median(pdist(X[rows]))) <= 1e-10
    assert abs(res.value - rbf_cka(X, Y).value) < 0.05  # a sampled median moves the value only a little


@pytest.mark.parametrize("debiased", [False, True])
def test_invariant_to_orthogonal_maps_and_isotropic_scaling(pair, debiased):
    X, Y = pair
    base = linear_cka(X, Y, debiased=debiased).value
    Xt = 3.7 * X @ orthogonal(8, 1) + 11.0
    Yt = 0.2 * Y @ orthogonal(6, 2)
    assert abs(linear_cka(Xt, Yt, debiased=debiased).value - base) <= 1e-10
    assert abs(linear_cka(X, Xt, debiased=debiased).value - 1) <= 1e-10
    rbase = rbf_cka(X, Y, debiased=debiased).value
    assert abs(rbf_cka(Xt, Yt, debiased=debiased).value - rbase) <= 1e-10
    assert abs(rbf_cka(X, Xt, debiased=debiased).value - 1) <= 1e-10


def test_not_invariant_to_general_linear_maps(pair):
    X, Y = pair
    A = np.diag(np.linspace(0.1, 10, 8))
    assert abs(linear_cka(X @ A, Y).value - linear_cka(X, Y).value) > 1e-3


def test_debiased_removes_the_small_sample_bias_of_independent_data():
    # n < p: the biased estimate of independent representations is far from 0, the unbiased one is not
    rng = np.random.default_rng(8)
    X, Y = rng.normal(size=(40, 200)), rng.normal(size=(40, 200))
    assert linear_cka(X, Y).value > 0.5
    assert abs(linear_cka(X, Y, debiased=True).value) < 0.05


def test_moments_and_sharded_streams_equal_the_array_path(pair):
    X, Y = pair
    for debiased in (False, True):
        want = linear_cka(X, Y, debiased=debiased).value
        stats = RowNormMoments(8, 6) if debiased else Moments(8, 6)
        for a in range(0, 300, 23):
            stats.update(X[a:a + 23], Y[a:a + 23])
        assert abs(linear_cka(stats, debiased=debiased).value - want) <= 1e-10


def test_rownorm_moments_merge_exactly_in_any_order(pair):
    X, Y = pair
    whole = RowNormMoments.from_arrays(X, Y)
    cuts = [0, 1, 60, 61, 200, 300]
    shards = [RowNormMoments.from_arrays(X[a:b], Y[a:b]) for a, b in zip(cuts, cuts[1:])]
    merged = RowNormMoments(8, 6)
    for s in (shards[3], shards[0], shards[4], shards[2], shards[1]):
        merged.merge(s)
    assert merged.n == 300
    for name in ("saa", "sab", "sbb", "au", "av", "bu", "bv"):
        got, want = getattr(merged, name), getattr(whole, name)
        assert np.max(np.abs(got - want)) <= 1e-9 * max(1.0, np.max(np.abs(want))), name
    # against the definition
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    a, b = (Xc**2).sum(1), (Yc**2).sum(1)
    np.testing.assert_allclose([whole.saa, whole.sab, whole.sbb], [a @ a, a @ b, b @ b], rtol=1e-12)
    np.testing.assert_allclose(whole.av, a @ Yc, rtol=1e-9, atol=1e-9 * np.abs(a @ Yc).max())
    np.testing.assert_allclose(whole.bu, b @ Xc, rtol=1e-9, atol=1e-9 * np.abs(b @ Xc).max())


def test_multi_layer_statistics_give_one_result_per_layer():
    rng = np.random.default_rng(9)
    X, Y = rng.normal(size=(3, 50, 4)), rng.normal(size=(3, 50, 5))
    Y[1] = X[1] @ rng.normal(size=(4, 5))
    for stats, debiased in ((Moments.from_arrays(X, Y), False), (RowNormMoments.from_arrays(X, Y), True)):
        got = per_layer(linear_cka, stats, debiased=debiased)
        assert len(got) == 3
        for layer in range(3):
            assert abs(got[layer].value - linear_cka(X[layer], Y[layer], debiased=debiased).value) <= 1e-12


def test_degenerate_and_bad_input():
    X, Y = make_pair(30, 3, 3)
    with pytest.raises(TypeError, match="RowNormMoments"):
        linear_cka(Moments.from_arrays(X, Y), debiased=True)
    with pytest.raises(ValueError, match="at least 4"):
        linear_cka(X[:3], Y[:3], debiased=True)
    with pytest.warns(DegenerateInputWarning, match="CKA is NaN"):
        assert np.isnan(linear_cka(np.ones((30, 3)), Y).value)
    with pytest.warns(DegenerateInputWarning, match="median pairwise distance is 0"):
        assert np.isnan(rbf_cka(np.ones((30, 3)), Y).value)
    with pytest.raises(ValueError, match="sigma > 0"):
        rbf_cka(X, Y, sigma=0)
    with pytest.raises(ValueError, match="widths or layers differ"):
        RowNormMoments(3, 3).merge(RowNormMoments(3, 4))

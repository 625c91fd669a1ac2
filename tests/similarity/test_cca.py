"""CCA, SVCCA, PWCCA: equal to explicit whitening / the published step-by-step algorithms; invariances."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

from crossling import Moments
from crossling.exceptions import DegenerateInputWarning
from crossling.similarity import DEFAULT_RIDGE, cca, per_layer, pwcca, svcca

from .similarity_data import canonical_correlations_qr, centred, make_pair, orthogonal


def _inv_sqrt(C):
    return np.linalg.inv(np.real(scipy.linalg.sqrtm(C)))


def _cca_whitened(X, Y, ridge=0.0):
    """Canonical correlations from explicitly whitened data matrices (numpy/scipy linear algebra)."""
    n, p, q = X.shape[0], X.shape[1], Y.shape[1]
    Xc, Yc = centred(X), centred(Y)
    Cxx, Cyy = Xc.T @ Xc / n, Yc.T @ Yc / n
    Cxx = Cxx + ridge * np.trace(Cxx) / p * np.eye(p)
    Cyy = Cyy + ridge * np.trace(Cyy) / q * np.eye(q)
    Xw, Yw = Xc @ _inv_sqrt(Cxx), Yc @ _inv_sqrt(Cyy)
    return np.linalg.svd(Xw.T @ Yw / n, compute_uv=False)


def _svcca_reference(X, Y, variance=None, dims=None):
    """Raghu et al. (2017): SVD of each centred activation matrix, keep the top directions, then CCA."""
    reduced = []
    for A in (X, Y):
        _, s, Vt = np.linalg.svd(centred(A), full_matrices=False)
        share = np.cumsum(s**2) / np.sum(s**2)
        k = dims if dims is not None else int(np.argmax(share >= variance)) + 1
        reduced.append(centred(A) @ Vt[:k].T)
    return canonical_correlations_qr(*reduced)[0], reduced[0].shape[1], reduced[1].shape[1]


def _pwcca_reference(X, Y):
    """Morcos et al. (2018): canonical variates of the smaller side, QR-orthonormalised, weighted by
    sum_j |<h_i, x_j>| over that side's neurons; the weighted mean of the canonical correlations."""
    rho, U, V, Qx, Qy = canonical_correlations_qr(X, Y)
    if X.shape[1] <= Y.shape[1]:
        H, acts = Qx @ U, centred(X)
    else:
        H, acts = Qy @ V, centred(Y)
    P, _ = np.linalg.qr(H)
    alpha = np.abs(P.T @ acts).sum(1)
    weights = alpha / alpha.sum()
    return weights @ rho, weights


def test_cca_matches_explicit_whitening_and_qr(pair):
    X, Y = pair
    res = cca(X, Y)
    want = _cca_whitened(X, Y)
    np.testing.assert_allclose(res.correlations, want, rtol=0, atol=1e-8)
    np.testing.assert_allclose(res.correlations, canonical_correlations_qr(X, Y)[0], rtol=0, atol=1e-8)
    assert abs(res.value - want.mean()) <= 1e-8
    assert (res.method, res.n, res.dims_x, res.dims_y, res.ridge) == ("cca", 300, 8, 6, 0.0)
    assert res.weights is None and res.side is None


@pytest.mark.parametrize("variance, dims", [(0.99, None), (0.8, None), (None, 3)])
def test_svcca_matches_the_published_procedure(pair, variance, dims):
    X, Y = pair
    kwargs = {"dims": dims} if dims is not None else {"variance": variance}
    res = svcca(X, Y, **kwargs)
    rho, kx, ky = _svcca_reference(X, Y, variance=variance, dims=dims)
    assert (res.dims_x, res.dims_y) == (kx, ky)
    np.testing.assert_allclose(res.correlations, rho, rtol=0, atol=1e-8)
    assert abs(res.value - rho.mean()) <= 1e-8
    for A, k, share in ((X, kx, res.explained_x), (Y, ky, res.explained_y)):
        s = np.linalg.svd(centred(A), compute_uv=False)
        assert abs(share - np.sum(s[:k] ** 2) / np.sum(s**2)) <= 1e-10
    if variance == 0.8:
        assert kx < 8 and ky < 6, "the threshold should cut directions in this test"


@pytest.mark.parametrize("p, q", [(5, 8), (8, 5), (6, 6)])
def test_pwcca_matches_the_published_procedure(p, q):
    X, Y = make_pair(250, p, q, seed=p + 10 * q)
    res = pwcca(X, Y)
    want, weights = _pwcca_reference(X, Y)
    assert abs(res.value - want) <= 1e-8
    np.testing.assert_allclose(res.weights, weights, rtol=0, atol=1e-8)
    assert res.side == ("x" if p <= q else "y")
    assert abs(res.weights.sum() - 1) <= 1e-12
    # weighting the planted shared directions up: PWCCA exceeds the plain mean here
    assert res.value > cca(X, Y).value


def test_cca_and_pwcca_invariant_to_invertible_linear_maps(pair):
    X, Y = pair
    rng = np.random.default_rng(4)
    A = rng.normal(size=(8, 8)) + 3 * np.eye(8)
    B = rng.normal(size=(6, 6)) + 3 * np.eye(6)
    Xt, Yt = X @ A + 2.0, Y @ B - 7.0
    np.testing.assert_allclose(cca(Xt, Yt).correlations, cca(X, Y).correlations, rtol=0, atol=1e-9)
    # Y an invertible map of X: every canonical correlation is 1
    np.testing.assert_allclose(cca(X, X @ A).correlations, np.ones(8), atol=1e-9)
    assert abs(pwcca(X, X @ A).value - 1) <= 1e-9


def test_svcca_invariant_to_orthogonal_maps_and_scaling(pair):
    X, Y = pair
    Xt, Yt = 5 * X @ orthogonal(8, 3), 0.3 * Y @ orthogonal(6, 4)
    for kw in ({"variance": 0.9}, {"dims": 4}):
        assert abs(svcca(Xt, Yt, **kw).value - svcca(X, Y, **kw).value) <= 1e-9


def test_rank_deficient_side_is_reduced_to_its_span(pair):
    X, Y = pair
    Xd = np.column_stack([X, X[:, 0] - 2 * X[:, 3], np.full(300, 4.2)])  # a collinear and a constant neuron
    res = cca(Xd, Y)
    assert res.dims_x == 8
    np.testing.assert_allclose(res.correlations, cca(X, Y).correlations, atol=1e-8)


def test_too_few_items_use_a_documented_ridge_with_a_warning():
    rng = np.random.default_rng(6)
    X, Y = rng.normal(size=(30, 20)), rng.normal(size=(30, 25))
    with pytest.warns(DegenerateInputWarning, match="cannot support CCA"):
        res = cca(X, Y)
    assert res.ridge == DEFAULT_RIDGE
    np.testing.assert_allclose(res.correlations, _cca_whitened(X, Y, ridge=DEFAULT_RIDGE)[:20], atol=1e-8)
    assert res.correlations.max() < 0.999, "the ridge must prevent trivial correlations of 1"
    with pytest.warns(DegenerateInputWarning, match="the index is NaN"):
        assert np.isnan(cca(X, Y, ridge=0).value)
    # an explicit ridge is used silently and equals the textbook regularised CCA
    got = cca(X, Y, ridge=0.5)
    np.testing.assert_allclose(got.correlations, _cca_whitened(X, Y, ridge=0.5)[:20], atol=1e-8)
    with pytest.warns(DegenerateInputWarning):
        assert pwcca(X, Y).ridge == DEFAULT_RIDGE
    with pytest.warns(DegenerateInputWarning):
        assert svcca(X, Y, variance=0.99).ridge == DEFAULT_RIDGE
    assert svcca(X, Y, dims=10).ridge == 0.0  # 10 + 10 <= n - 1: no ridge, no warning


def test_moments_path_and_shards_equal_the_array_path(pair):
    X, Y = pair
    m = Moments(8, 6)
    for a in range(0, 300, 31):
        m.merge(Moments.from_arrays(X[a:a + 31], Y[a:a + 31]))
    for index, kw in ((cca, {}), (svcca, {"variance": 0.9}), (svcca, {"dims": 3}), (pwcca, {})):
        assert abs(index(m, **kw).value - index(X, Y, **kw).value) <= 1e-10


def test_multi_layer_moments_give_one_result_per_layer():
    rng = np.random.default_rng(7)
    X, Y = rng.normal(size=(2, 60, 4)), rng.normal(size=(2, 60, 3))
    m = Moments.from_arrays(X, Y)
    for index in (cca, svcca, pwcca):
        got = per_layer(index, m)
        assert [r.value for r in got] == pytest.approx([index(X[i], Y[i]).value for i in range(2)], abs=1e-12)


def test_constant_side_and_bad_options():
    X, Y = make_pair(40, 3, 3)
    with pytest.warns(DegenerateInputWarning, match="constant"):
        assert np.isnan(cca(np.ones((40, 3)), Y).value)
    with pytest.raises(ValueError, match="dims"):
        svcca(X, Y, dims=4)
    with pytest.raises(ValueError, match="variance"):
        svcca(X, Y, variance=1.5)
    with pytest.raises(ValueError, match="ridge"):
        cca(X, Y, ridge=-1)


def test_eigendecomposition_cache_is_exact_and_bounded(pair):
    import crossling.similarity.canonical as cca_module

    X, Y = pair
    first = cca(X, Y).correlations
    assert np.array_equal(cca(X, Y).correlations, first)  # served from the cache: identical
    for seed in range(20):
        cca(*make_pair(50, 3, 3, seed=seed))
    assert len(cca_module._EIGH_CACHE) <= cca_module._EIGH_CACHE_SIZE
    w, V = next(iter(cca_module._EIGH_CACHE.values()))
    with pytest.raises(ValueError):
        w[0] = 1.0  # cached arrays are read-only, so no caller can corrupt them

"""Each convention on which Del and Fishel's paper, the code they ran and the textbook differ, against its formula.

The references are written out here from their sources: Eq. 1 of Del and Fishel (2022); google/svcca's
``cca_core.get_cca_similarity`` ("mean" over the leading correlations up to 98% of their sum) and
``pwcca.compute_pwcca`` (uncentred weights); Morcos et al. (2018); Raghu et al. (2017) with 20 directions.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from crossling import Moments
from crossling.exceptions import DataLossWarning
from crossling.similarity import cca, pwcca, svcca
from crossling.similarity.canonical import CCA_SUMMARIES, summarise

from .similarity_data import canonical_correlations_qr, centred, make_pair


def _inv_sqrt(C):
    w, V = np.linalg.eigh(C)
    return (V / np.sqrt(w)) @ V.T


def _sum_threshold(rho, threshold):
    """google/svcca cca_core.sum_threshold: the first i with sum(rho[:i]) / sum(rho) >= threshold (None: all)."""
    for i in range(len(rho)):
        if np.sum(rho[:i]) / np.sum(rho) >= threshold:
            return i
    return None


@pytest.fixture
def wide_pair():
    return make_pair(400, 12, 9, shared=4, noise=1.0, seed=3)


def test_eq1_of_the_paper_is_the_mean_squared_correlation(wide_pair):
    """Del and Fishel (2022), Eq. 1: CCA(X, Y) = sum_i rho_i^2 / k."""
    X, Y = wide_pair
    rho = canonical_correlations_qr(X, Y)[0]
    res = cca(X, Y, summary="mean_squared")
    assert abs(res.value - np.sum(rho**2) / len(rho)) <= 1e-10
    assert res.summary == "mean_squared"
    # the textbook mean (Raghu et al. 2017) is clearly above it on the same correlations
    assert cca(X, Y).value - res.value > 0.05


def test_the_authors_code_averages_the_leading_correlations_to_98_percent(wide_pair):
    """google/svcca get_cca_similarity: mean(rho[:sum_threshold(rho, 0.98)])."""
    X, Y = wide_pair
    rho = canonical_correlations_qr(X, Y)[0]
    m = _sum_threshold(rho, 0.98)
    assert m is not None and m < len(rho), "the test data should have trailing correlations to cut"
    want = np.mean(rho[:m])
    assert abs(cca(X, Y, summary="leading").value - want) <= 1e-10
    # and the same summary of the numbers alone, including the edge where all of them are needed
    assert summarise(rho, "leading") == pytest.approx(want, abs=1e-12)
    equal = np.full(5, 0.4)
    assert summarise(equal, "leading") == pytest.approx(np.mean(equal[:_sum_threshold(equal, 0.98) or 5]))
    with pytest.raises(ValueError, match="summary"):
        cca(X, Y, summary="median")
    assert CCA_SUMMARIES == ("mean", "mean_squared", "leading")


def test_svcca_with_20_directions_as_the_authors_ran_it():
    """Raghu et al. (2017) on 20 fixed directions per side, summarised as google/svcca does."""
    X, Y = make_pair(600, 40, 40, shared=6, noise=1.0, seed=5)
    reduced = []
    for A in (X, Y):
        _, _, Vt = np.linalg.svd(centred(A), full_matrices=False)
        reduced.append(centred(A) @ Vt[:20].T)
    rho = canonical_correlations_qr(*reduced)[0]
    got = svcca(X, Y, dims=20, summary="leading")
    assert (got.dims_x, got.dims_y) == (20, 20)
    assert abs(got.value - np.mean(rho[:_sum_threshold(rho, 0.98)])) <= 1e-10
    assert abs(svcca(X, Y, dims=20).value - rho.mean()) <= 1e-10


def _google_pwcca(X, Y):
    """google/svcca pwcca.compute_pwcca (X branch: X has no more neurons than Y), written out.

    acts are neurons x items; u the left singular vectors of Cxx^{-1/2} Cxy Cyy^{-1/2}, each signed so that its
    largest-magnitude entry is positive (the code leaves the sign to LAPACK); dirns = u^T (acts - m) + m;
    P from the QR of dirns^T; weights_i = sum_j |<P_i, acts_j>| on the uncentred activations.
    """
    A1, A2 = X.T, Y.T
    cov = np.cov(A1, A2)
    p = A1.shape[0]
    u, s, _ = np.linalg.svd(_inv_sqrt(cov[:p, :p]) @ cov[:p, p:] @ _inv_sqrt(cov[p:, p:]))
    u = u * np.sign(u[np.argmax(np.abs(u), axis=0), np.arange(u.shape[1])])
    means = A1.mean(1, keepdims=True)
    dirns = u.T @ (A1 - means) + means
    P, _ = np.linalg.qr(dirns.T)
    weights = np.abs(P.T @ A1.T).sum(1)
    weights = weights / weights.sum()
    return np.sum(weights * s), weights


@pytest.mark.parametrize("p, q", [(6, 6), (5, 8)])
def test_uncentred_pwcca_is_the_reference_code(p, q):
    X, Y = make_pair(500, p, q, seed=p + q, offset=3.0)
    want, weights = _google_pwcca(X, Y)
    got = pwcca(X, Y, weights="uncentred")
    assert abs(got.value - want) <= 1e-10
    np.testing.assert_allclose(got.weights, weights, atol=1e-10)
    assert (got.weighting, got.side) == ("uncentred", "x")


def test_uncentred_pwcca_moves_with_the_neuron_means_and_morcos_does_not():
    X, Y = make_pair(500, 6, 6, seed=11, offset=2.0)
    shifted = X + 9 * X.mean(0)  # every neuron's mean x10
    morcos = pwcca(X, Y).value
    assert abs(pwcca(shifted, Y).value - morcos) <= 1e-10  # Morcos et al.: translation invariant
    assert abs(pwcca(shifted, Y, weights="uncentred").value - _google_pwcca(shifted, Y)[0]) <= 1e-10
    assert abs(pwcca(shifted, Y, weights="uncentred").value - pwcca(X, Y, weights="uncentred").value) > 0.01


def test_rank_cut_is_scale_free_and_says_what_it_drops(pair):
    """CCA is invariant to rescaling a neuron, so a neuron scaled by 1e-5 must stay (a covariance-eigenvalue
    cut at 1e-10 dropped it); a collinear neuron is dropped with a warning that counts it."""
    X, Y = pair
    tiny = X.copy()
    tiny[:, 2] *= 1e-5
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataLossWarning)
        res = cca(tiny, Y)
    assert res.dims_x == 8 and res.dropped_x == 0
    np.testing.assert_allclose(res.correlations, cca(X, Y).correlations, atol=1e-10)
    collinear = np.column_stack([X, 2 * X[:, 1] - X[:, 5]])
    with pytest.warns(DataLossWarning, match="1 of 9 neurons of X left out .0 constant, 1 collinear"):
        res = cca(collinear, Y)
    assert (res.dims_x, res.dropped_x) == (8, 1)
    np.testing.assert_allclose(res.correlations, cca(X, Y).correlations, atol=1e-8)
    # the same from moments streamed in pieces: the pivoting does not depend on rounding
    m = Moments(9, 6)
    for a in range(0, 300, 37):
        m.merge(Moments.from_arrays(collinear[a:a + 37], Y[a:a + 37]))
    with pytest.warns(DataLossWarning):
        assert abs(cca(m).value - res.value) <= 1e-12

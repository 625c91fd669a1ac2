"""ANC: equal to numpy.corrcoef per neuron; 1 for identical inputs, ~0 for permuted neurons."""

from __future__ import annotations

import numpy as np
import pytest

from crossling import Moments
from crossling.exceptions import DegenerateInputWarning
from crossling.similarity import anc, linear_cka

from .similarity_data import make_pair


def _corrcoef_per_neuron(X, Y):
    return np.array([np.corrcoef(X[:, i], Y[:, i])[0, 1] for i in range(X.shape[1])])


@pytest.mark.parametrize("absolute", [True, False])
def test_matches_corrcoef(square_pair, absolute):
    X, Y = square_pair
    r = _corrcoef_per_neuron(X, Y)
    assert np.ptp(np.sign(r)) > 0, "the data should have neurons of both signs for the signed mean to matter"
    want = np.mean(np.abs(r)) if absolute else np.mean(r)
    res = anc(X, Y, absolute=absolute)
    assert abs(res.value - want) <= 1e-8
    np.testing.assert_allclose(res.per_neuron, r, rtol=0, atol=1e-10)
    assert res.n_excluded == 0 and res.n == 300 and res.absolute is absolute
    assert float(res) == res.value


def test_moments_path_equals_array_path(square_pair):
    X, Y = square_pair
    m = Moments(7)
    for a in range(0, 300, 41):
        m.update(X[a:a + 41], Y[a:a + 41])
    for absolute in (True, False):
        assert abs(anc(m, absolute=absolute).value - anc(X, Y, absolute=absolute).value) <= 1e-12
    np.testing.assert_allclose(anc(m).per_neuron, anc(X, Y).per_neuron, atol=1e-12)


def test_identity_is_one_and_permuted_neurons_drop_to_zero_while_cka_stays_one():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(20000, 16))
    assert abs(anc(X, X).value - 1) <= 1e-12
    perm = np.roll(np.arange(16), 1)  # a derangement: no neuron keeps its partner
    Y = X[:, perm]
    value = anc(Y, X).value
    # |r| of independent neurons averages sqrt(2 / (pi n)) = 0.0056 for n = 20,000
    assert value < 0.02
    assert abs(linear_cka(X, Y).value - 1) <= 1e-12


def test_invariant_to_positive_affine_maps_per_neuron(square_pair):
    X, Y = square_pair
    scale = np.linspace(0.5, 3, 7)
    assert abs(anc(X * scale + 4, Y).value - anc(X, Y).value) <= 1e-12
    # flipping a neuron's sign flips its signed correlation but not |r|
    flip = np.where(np.arange(7) % 2, -1.0, 1.0)
    assert abs(anc(X * flip, Y).value - anc(X, Y).value) <= 1e-12
    np.testing.assert_allclose(anc(X * flip, Y).per_neuron, anc(X, Y).per_neuron * flip, atol=1e-12)


def test_constant_neuron_is_excluded_with_a_warning_and_counted(square_pair):
    X, Y = square_pair
    X = X.copy()
    X[:, 2] = 0.1  # not exactly representable: rounding in the mean must not make it look variable
    Y = Y.copy()
    Y[:, 5] = -3.0
    with pytest.warns(DegenerateInputWarning, match="2 of 7 neurons are constant"):
        res = anc(X, Y)
    assert res.n_excluded == 2
    assert np.isnan(res.per_neuron[[2, 5]]).all()
    keep = [0, 1, 3, 4, 6]
    assert abs(res.value - np.mean(np.abs(_corrcoef_per_neuron(X[:, keep], Y[:, keep])))) <= 1e-8
    # the same from streamed moments, where the constant neuron's sums are built from many batches
    m = Moments(7)
    for a in range(0, 300, 17):
        m.update(X[a:a + 17], Y[a:a + 17])
    with pytest.warns(DegenerateInputWarning):
        assert anc(m).n_excluded == 2


def test_all_constant_gives_nan():
    X = np.ones((10, 3))
    Y = np.random.default_rng(0).normal(size=(10, 3))
    with pytest.warns(DegenerateInputWarning, match="all 3 neurons"):
        assert np.isnan(anc(X, Y).value)


def test_bad_input_is_a_clear_error():
    X, Y = make_pair(20, 4, 5)
    with pytest.raises(ValueError, match="p == q"):
        anc(X, Y)
    with pytest.raises(ValueError, match="p == q"):
        anc(Moments.from_arrays(X, Y))
    with pytest.raises(ValueError, match="rows must be paired"):
        anc(X, X[:10])
    with pytest.raises(TypeError, match="not both"):
        anc(Moments.from_arrays(X, X), X)
    with pytest.raises(TypeError, match="Y is required"):
        anc(X)
    with pytest.raises(ValueError, match="NaN or Inf"):
        anc(np.full((5, 2), np.nan), np.ones((5, 2)))

"""Null baselines: shuffled pairing equals the moments of the deranged arrays; what unrelated data score."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from crossling import Moments
from crossling.exceptions import NullReachWarning
from crossling.similarity import RowNormMoments, anc, cca, linear_cka
from crossling.similarity.baseline import NULL_REACH, derangements, shuffled_null, shuffled_stats

from .similarity_data import make_pair


def test_derangements_move_every_item_and_are_seeded():
    drawn = derangements(50, 4, seed=3)
    assert len(drawn) == 4
    for pi in drawn:
        assert sorted(pi) == list(range(50)) and not np.any(pi == np.arange(50))
    assert all(np.array_equal(a, b) for a, b in zip(drawn, derangements(50, 4, seed=3)))
    assert not np.array_equal(drawn[0], derangements(50, 1, seed=4)[0])
    assert derangements(2, 2, seed=0)[1].tolist() == [1, 0]
    with pytest.raises(ValueError):
        derangements(1, 1, seed=0)


@pytest.mark.parametrize("kind", [Moments, RowNormMoments])
def test_shuffled_stats_equal_the_statistics_of_the_deranged_pairs(kind):
    X, Y = make_pair(203, 5, 4, seed=1)
    pi = derangements(203, 1, seed=2)[0]
    stats = kind.from_arrays(X, Y)
    got = shuffled_stats(stats, X, Y, pi, chunk_size=17)
    want = kind.from_arrays(X, Y[pi])
    gm, wm = (got.moments, want.moments) if kind is RowNormMoments else (got, want)
    assert gm.n == wm.n
    for name in ("mean_x", "mean_y", "sxx", "syy", "sxy"):
        np.testing.assert_allclose(getattr(gm, name), getattr(wm, name), rtol=1e-12, atol=1e-9)
    if kind is RowNormMoments:
        for name in ("saa", "sab", "sbb", "au", "av", "bu", "bv"):
            np.testing.assert_allclose(getattr(got, name), getattr(want, name), rtol=1e-11, atol=1e-7)
        assert linear_cka(got, debiased=True).value == pytest.approx(
            linear_cka(X, Y[pi], debiased=True).value, abs=1e-12)


def test_null_of_related_and_unrelated_data():
    """The null is the index of the same data with the pairs broken: near the index for unrelated data."""
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(500, 6)), rng.normal(size=(500, 6))
    for index in (anc, linear_cka, cca):
        null = shuffled_null(index, X, Y, permutations=4, seed=1)
        assert null.permutations == 4 and len(null.values) == 4
        assert null.mean == pytest.approx(np.mean(null.values))
        assert null.sd == pytest.approx(np.std(null.values, ddof=1))
        assert abs(index(X, Y).value - null.mean) < 4 * null.sd + 0.01
    Xr, Yr = make_pair(500, 6, 6, noise=0.3, seed=4)
    assert cca(Xr, Yr).value - shuffled_null(cca, Xr, Yr).mean > 0.4  # 3 of 6 directions shared
    # ANC of unrelated neurons: E|r| = sqrt(2 / (pi n)) for n items
    assert shuffled_null(anc, X, Y, permutations=8).mean == pytest.approx(np.sqrt(2 / (np.pi * 500)), rel=0.3)


def test_too_few_sentences_for_the_dimensions_warn():
    """Linear CKA of unrelated data at n = 50, d = 200 is about 0.82: the null says so, and warns."""
    rng = np.random.default_rng(5)
    X, Y = rng.normal(size=(50, 200)), rng.normal(size=(50, 200))
    with pytest.warns(NullReachWarning, match="n = 50 sentences of 200 dimensions"):
        null = shuffled_null(linear_cka, X, Y, permutations=3)
    assert null.mean > NULL_REACH and abs(null.mean - 0.82) < 0.03
    assert abs(linear_cka(X, Y).value - null.mean) < 0.02  # unrelated data score what the null says


def _independent_and_related(n: int, d: int, shared: int):
    """Independent X, Y (n x d), and X, Y sharing a ``shared``-dimensional latent (planted relation)."""
    rng = np.random.default_rng(0)
    independent = rng.normal(size=(n, d)), rng.normal(size=(n, d))
    Z = rng.normal(size=(n, shared))
    related = tuple(Z @ rng.normal(size=(shared, d)) + rng.normal(size=(n, d)) for _ in range(2))
    return independent, related


INDICES = [("anc", {}), ("linear_cka", {}), ("linear_cka", {"debiased": True}), ("cca", {}), ("svcca", {}),
           ("pwcca", {})]


def _check_null_and_band(data, name, kw):
    """Independent data: |value - null| within the jackknife band; related: value - null above 5 half-widths."""
    import crossling.similarity as similarity
    from crossling.similarity.jackknife import jackknife, shard_stats

    index = getattr(similarity, name)
    rownorm = kw.get("debiased", False)
    (X, Y), (Xr, Yr) = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NullReachWarning)
        for (A, B), related in (((X, Y), False), ((Xr, Yr), True)):
            band = jackknife(index, shard_stats(A, B, 10, rownorm=rownorm), **kw)
            null = shuffled_null(index, A, B, permutations=3, rownorm=rownorm, **kw)
            half = band.high - band.value
            excess = band.value - null.mean
            if related:
                assert excess > 5 * half, (excess, half)
            else:
                assert abs(excess) <= half, (excess, half)


@pytest.mark.parametrize("name, kw", INDICES)
def test_index_minus_null_is_within_its_band_for_independent_data_and_above_it_for_related(name, kw):
    _check_null_and_band(_independent_and_related(400, 48, 8), name, kw)


@pytest.mark.slow
@pytest.mark.parametrize("name, kw", INDICES)
def test_the_same_at_me5_small_size(name, kw):
    """At n = 1000, d = 384 unrelated data score CCA 0.55, SVCCA 0.53, PWCCA 0.55: the null sits there too, so
    value - null lies within the jackknife band; for planted related data it is far above it."""
    _check_null_and_band(_independent_and_related(1000, 384, 64), name, kw)

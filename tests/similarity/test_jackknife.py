"""Jackknife over mergeable shards: replicates equal the moments without a shard; the textbook formula."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from crossling import Moments
from crossling.similarity import RowNormMoments, cca, linear_cka
from crossling.similarity.jackknife import (
    jackknife,
    jackknife_interval,
    leave_one_out,
    merge_all,
    shard_bounds,
    shard_stats,
)

from .similarity_data import make_pair


def test_shards_are_contiguous_and_even():
    assert shard_bounds(10, 3) == [(0, 3), (3, 7), (7, 10)]
    assert shard_bounds(5, 5) == [(i, i + 1) for i in range(5)]
    with pytest.raises(ValueError):
        shard_bounds(3, 4)


@pytest.mark.parametrize("kind", [Moments, RowNormMoments])
def test_replicates_are_the_statistics_without_a_shard(kind):
    X, Y = make_pair(101, 4, 3, seed=2)
    parts = shard_stats(X, Y, 4, rownorm=kind is RowNormMoments, chunk_size=9)
    whole = merge_all(parts)
    assert linear_cka(whole).value == pytest.approx(linear_cka(X, Y).value, abs=1e-13)
    for (a, b), loo in zip(shard_bounds(101, 4), leave_one_out(parts)):
        keep = np.r_[0:a, b:101]
        want = kind.from_arrays(X[keep], Y[keep])
        assert loo.n == len(keep)
        assert cca(loo).value == pytest.approx(cca(want).value, abs=1e-12)
        if kind is RowNormMoments:
            assert linear_cka(loo, debiased=True).value == pytest.approx(
                linear_cka(want, debiased=True).value, abs=1e-12)


def test_interval_is_the_delete_a_group_formula():
    """se^2 = (G - 1)/G sum_g (theta_g - mean theta)^2; interval theta -+ t_{G-1, 0.975} se."""
    X, Y = make_pair(240, 5, 5, seed=6)
    got = jackknife(cca, shard_stats(X, Y, 6), confidence=0.95)
    reps = np.array([cca(np.delete(X, np.s_[a:b], 0), np.delete(Y, np.s_[a:b], 0)).value
                     for a, b in shard_bounds(240, 6)])
    se = np.sqrt(5 / 6 * np.sum((reps - reps.mean()) ** 2))
    np.testing.assert_allclose(got.replicates, reps, atol=1e-12)
    assert got.value == pytest.approx(cca(X, Y).value, abs=1e-12)
    assert got.se == pytest.approx(se, rel=1e-10)
    assert got.high - got.value == pytest.approx(stats.t.ppf(0.975, 5) * se, rel=1e-10)
    assert got.value - got.low == pytest.approx(got.high - got.value)


def test_the_jackknife_of_a_mean_is_its_standard_error():
    """For a mean of G equal groups the jackknife se is the sd of the group means over sqrt(G)."""
    values = np.random.default_rng(1).normal(size=(8, 25))
    group_means = values.mean(1)
    reps = [np.delete(group_means, g).mean() for g in range(8)]
    got = jackknife_interval(values.mean(), reps)
    assert got.se == pytest.approx(group_means.std(ddof=1) / np.sqrt(8), rel=1e-12)
    with pytest.raises(ValueError, match="two"):
        jackknife_interval(1.0, [1.0])

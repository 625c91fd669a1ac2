"""Moments: equal to numpy on full matrices, mergeable, streaming in bounded memory."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crossling import Moments


def _reference(X, Y):
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    n = len(X)
    return Xc.T @ Xc / n, Yc.T @ Yc / n, Xc.T @ Yc / n


def _assert_rel(a, b, tol=1e-10):
    assert np.linalg.norm(a - b) <= tol * np.linalg.norm(b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_equals_numpy_on_full_matrices(dtype):
    rng = np.random.default_rng(1)
    # a large common offset is what breaks naive sum-of-squares formulas; the pairwise update is exact
    X = (rng.normal(size=(500, 7)) + 1e4).astype(dtype)
    Y = (rng.normal(size=(500, 5)) @ rng.normal(size=(5, 5)) - 3e3).astype(dtype)
    m = Moments(7, 5)
    for start in range(0, 500, 37):
        m.update(X[start:start + 37], Y[start:start + 37])
    Xd, Yd = X.astype(np.float64), Y.astype(np.float64)
    cxx, cyy, cxy = _reference(Xd, Yd)
    assert m.n == 500
    _assert_rel(m.mean_x, Xd.mean(0))
    _assert_rel(m.mean_y, Yd.mean(0))
    _assert_rel(m.cov_xx(), cxx)
    _assert_rel(m.cov_yy(), cyy)
    _assert_rel(m.cov_xy(), cxy)
    np.testing.assert_allclose(m.cov_xx(), np.cov(Xd.T, bias=True), rtol=1e-9)


def test_merged_shards_equal_one_pass():
    rng = np.random.default_rng(2)
    X, Y = rng.normal(size=(301, 4)), rng.normal(size=(301, 6))
    whole = Moments.from_arrays(X, Y)
    shards = [Moments.from_arrays(X[a:b], Y[a:b]) for a, b in [(0, 1), (1, 100), (100, 250), (250, 301)]]
    merged = Moments(4, 6)
    for shard in reversed(shards):  # order does not matter
        merged.merge(shard)
    for name in ("mean_x", "mean_y", "sxx", "syy", "sxy"):
        _assert_rel(getattr(merged, name), getattr(whole, name))
    assert merged.n == whole.n == 301


def test_multi_layer_equals_per_layer():
    rng = np.random.default_rng(3)
    X, Y = rng.normal(size=(3, 80, 5)), rng.normal(size=(3, 80, 4))
    m = Moments(5, 4, n_layers=3).update(X[:, :30], Y[:, :30]).update(X[:, 30:], Y[:, 30:])
    for layer in range(3):
        single = Moments.from_arrays(X[layer], Y[layer])
        _assert_rel(m.layer(layer).cov_xy(), single.cov_xy())
        _assert_rel(m.cov_xx()[layer], single.cov_xx())


def test_auto_moments_and_save_load(tmp_path):
    rng = np.random.default_rng(4)
    X = rng.normal(size=(50, 3))
    m = Moments.from_arrays(X)
    np.testing.assert_array_equal(m.cov_xy(), m.cov_xx())
    _assert_rel(m.cov_xx(), np.cov(X.T, bias=True))
    loaded = Moments.load(m.save(tmp_path / "m.npz"))
    assert loaded.n == 50 and not list(tmp_path.glob("*.tmp"))
    np.testing.assert_array_equal(loaded.sxy, m.sxy)


def test_bad_input_is_a_clear_error():
    m = Moments(3, 2)
    with pytest.raises(ValueError, match="rows must be paired"):
        m.update(np.zeros((4, 3)), np.zeros((5, 2)))
    with pytest.raises(ValueError, match="widths"):
        m.update(np.zeros((4, 2)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="NaN"):
        m.update(np.full((2, 3), np.nan), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="no rows"):
        m.cov_xy()
    with pytest.raises(ValueError, match="cannot merge"):
        m.merge(Moments(3, 3))


@pytest.mark.slow
def test_streaming_a_million_rows_keeps_memory_bounded():
    # Measured in a fresh process so that nothing else the test session allocated counts.
    script = textwrap.dedent(
        """
        import resource, numpy as np
        from crossling import Moments
        rng = np.random.default_rng(0)
        m = Moments(384)
        m.update(rng.standard_normal((10, 384)))
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        block = rng.standard_normal((4000, 384))
        for i in range(250):
            m.update(block + i)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(m.n, (peak - base) / 1024)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    n, extra_mb = out.stdout.split()
    assert int(n) == 1_000_010
    assert float(extra_mb) < 200, f"streaming used {extra_mb} MB more than the start"


# ---------------------------------------------------------------- properties (hypothesis)
# Any way of cutting the rows into parts (empty parts included) and any order of merging the parts gives the
# statistics of one pass over all rows: what lets shards computed anywhere, in any order, be combined.

_STATS = ("mean_x", "mean_y", "sxx", "syy", "sxy")


@st.composite
def _split_data(draw):
    n = draw(st.integers(1, 40))
    p, q = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    layers = draw(st.sampled_from([None, 2]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    offset = draw(st.sampled_from([0.0, 1e3, -1e5]))  # a common offset is what breaks naive formulas
    lead = () if layers is None else (layers,)
    X = rng.normal(size=lead + (n, p)) * draw(st.sampled_from([1e-3, 1.0, 1e3])) + offset
    Y = rng.normal(size=lead + (n, q)) + offset
    cuts = sorted(draw(st.lists(st.integers(0, n), max_size=8)))
    bounds = [0, *cuts, n]
    return X, Y, list(zip(bounds[:-1], bounds[1:]))


def _close(a, b):
    scale = max(np.abs(b).max(), 1.0)
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9 * scale)


def _assert_same(m, whole):
    assert m.n == whole.n
    for name in _STATS:
        _close(getattr(m, name), getattr(whole, name))


@settings(max_examples=150, deadline=None)
@given(_split_data(), st.data())
def test_any_split_and_merge_order_gives_one_pass(split, data):
    X, Y, parts = split
    whole = Moments.from_arrays(X, Y)
    pool = [Moments.from_arrays(X[..., a:b, :], Y[..., a:b, :]) for a, b in parts]
    while len(pool) > 1:  # merge two parts drawn at random, in a random order, until one is left
        i = data.draw(st.integers(0, len(pool) - 1))
        left = pool.pop(i)
        j = data.draw(st.integers(0, len(pool) - 1))
        pool[j] = left.merge(pool[j]) if data.draw(st.booleans()) else pool[j].merge(left)
    _assert_same(pool[0], whole)


@settings(max_examples=80, deadline=None)
@given(_split_data(), st.permutations(range(9)))
def test_batches_in_any_order_give_one_pass(split, order):
    X, Y, parts = split
    m = Moments.from_arrays(X[..., :0, :], Y[..., :0, :])
    for k in (k for k in order if k < len(parts)):
        a, b = parts[k]
        m.update(X[..., a:b, :], Y[..., a:b, :])
    _assert_same(m, Moments.from_arrays(X, Y))


@settings(max_examples=30, deadline=None)
@given(_split_data())
def test_save_and_load_round_trip(tmp_path_factory, split):
    X, Y, _ = split
    m = Moments.from_arrays(X, Y)
    loaded = Moments.load(m.save(tmp_path_factory.mktemp("m") / "m.npz"))
    assert (loaded.n, loaded.p, loaded.q, loaded.n_layers) == (m.n, m.p, m.q, m.n_layers)
    for name in _STATS:
        np.testing.assert_array_equal(getattr(loaded, name), getattr(m, name))


def test_a_pickled_file_is_not_loaded(tmp_path):
    path = tmp_path / "m.npz"
    np.savez(path, n_layers=np.array([object()], dtype=object))  # an object array is stored as a pickle
    with pytest.raises(ValueError, match="allow_pickle"):
        Moments.load(path)

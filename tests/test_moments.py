"""Moments: equal to numpy on full matrices, mergeable, streaming in bounded memory."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

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

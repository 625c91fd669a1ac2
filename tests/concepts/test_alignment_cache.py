"""Word alignments cached by key: a second run with the same replicate reuses the links exactly."""

from __future__ import annotations

import json

import numpy as np
import pytest

from crossling.concepts import WordAlignment, cached_alignment
from crossling.concepts import alignment_cache as cache_module
from crossling.concepts.alignment_cache import alignment_key

SOURCE = [["a", "b", "c"], ["d"], []]
TARGET = [["x", "y"], ["z", "w"], ["v"]]


@pytest.fixture
def random_aligner(monkeypatch):
    """An aligner as unseeded as eflomal: random links on every call (and a count of the calls)."""
    calls = []

    def align(source, target, *, symmetrisation):
        calls.append(1)
        rng = np.random.default_rng()  # fresh entropy, like eflomal's /dev/urandom
        links = tuple(np.array([[i, int(rng.integers(len(t)))] for i in range(len(s))] if s and t else [],
                               dtype=np.int64).reshape(-1, 2) for s, t in zip(source, target))
        return WordAlignment(tuple(source), tuple(target), links, symmetrisation, "fake 1", {"n_pairs": len(source)})

    monkeypatch.setattr(cache_module, "align_words", align)
    return calls


def test_a_replicate_is_aligned_once_and_then_reused(tmp_path, random_aligner):
    first, reused = cached_alignment(SOURCE, TARGET, cache_dir=tmp_path, replicate=0, name="en-de")
    assert reused is False and len(random_aligner) == 1
    again, reused = cached_alignment(SOURCE, TARGET, cache_dir=tmp_path, replicate=0, name="en-de")
    assert reused is True and len(random_aligner) == 1
    assert all(np.array_equal(a, b) for a, b in zip(first.links, again.links))
    assert again.params["replicate"] == 0 and again.params["cache_key"] == first.params["cache_key"]
    # Another replicate is another draw, under another key.
    other, reused = cached_alignment(SOURCE, TARGET, cache_dir=tmp_path, replicate=1, name="en-de")
    assert reused is False and other.params["cache_key"] != first.params["cache_key"]
    assert sorted(p.name[:6] for p in tmp_path.iterdir()) == ["en-de-", "en-de-"]  # no temporary folder left


def test_the_key_covers_the_corpus_and_the_settings():
    key = alignment_key(SOURCE, TARGET, symmetrisation="grow-diag-final", replicate=0)
    assert len(key) == 64
    assert key != alignment_key(SOURCE, [["x", "y"], ["z"], ["v"]], symmetrisation="grow-diag-final", replicate=0)
    assert key != alignment_key(SOURCE, TARGET, symmetrisation="intersection", replicate=0)
    assert key != alignment_key(SOURCE, TARGET, symmetrisation="grow-diag-final", replicate=3)
    # Token boundaries count: ["ab"] is not ["a", "b"].
    assert alignment_key([["ab"]], [["x"]], symmetrisation="i", replicate=0) != alignment_key(
        [["a", "b"]], [["x"]], symmetrisation="i", replicate=0)


def test_an_unreadable_cache_entry_is_aligned_again(tmp_path, random_aligner):
    first, _ = cached_alignment(SOURCE, TARGET, cache_dir=tmp_path, replicate=0)
    folder = next(tmp_path.iterdir())
    (folder / "links.npz").write_bytes(b"truncated")
    again, reused = cached_alignment(SOURCE, TARGET, cache_dir=tmp_path, replicate=0)
    assert reused is False and len(random_aligner) == 2
    record = json.loads((folder / "alignment.json").read_text())
    assert record["key"] == first.params["cache_key"] and (folder / "links.npz").stat().st_size > 100
    # The rewritten entry is read back.
    assert cached_alignment(SOURCE, TARGET, cache_dir=tmp_path, replicate=0)[1] is True


def test_eflomal_replicates_are_reproducible_through_the_cache(tmp_path):
    pytest.importorskip("eflomal")
    from .test_dictionary import synthetic_parallel

    source, target = synthetic_parallel(n_sentences=60, seed=4)
    a, _ = cached_alignment(source, target, cache_dir=tmp_path, replicate=5)
    b, reused = cached_alignment(source, target, cache_dir=tmp_path, replicate=5)
    assert reused and all(np.array_equal(x, y) for x, y in zip(a.links, b.links))
    assert a.aligner.startswith("eflomal") and b.params["deterministic"] is False


def test_a_truncated_archive_is_aligned_again(tmp_path, random_aligner):
    cached_alignment(SOURCE, TARGET, cache_dir=tmp_path, replicate=0)
    links = next(tmp_path.iterdir()) / "links.npz"
    links.write_bytes(links.read_bytes()[:40])  # a zip cut short
    assert cached_alignment(SOURCE, TARGET, cache_dir=tmp_path, replicate=0)[1] is False
    assert cached_alignment(SOURCE, TARGET, cache_dir=tmp_path, replicate=0)[1] is True

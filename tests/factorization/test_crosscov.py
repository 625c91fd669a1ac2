"""The study's input matrices: words per category, word alignment and the streaming cross-covariance.

Model-free: a hand-written pair of stores with words missing from either side, and real UD sentences for the
words of each category.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from crossling.data.corpus import load_corpus
from crossling.data.unimorph import CategoryIndex, unimorph_features
from crossling.extraction.store import VectorStore
from crossling.factorization.crosscov import ALL_WORDS, align_words, category_words, cross_covariances


@pytest.fixture(scope="module")
def sentences(data_dir):
    return {"en": load_corpus(f"ud:{data_dir / 'ud' / 'treebanks'}", ["en"], split="test")["en"][:50]}


def _write_store(path, meta: pd.DataFrame, layers: dict[int, np.ndarray]) -> VectorStore:
    path.mkdir(parents=True)
    meta.to_parquet(path / "meta.parquet", index=False)
    for layer, array in layers.items():
        np.save(path / f"layer_{layer:02d}.npy", array.astype(np.float32))
    dim = next(iter(layers.values())).shape[1]
    manifest = {"layers": sorted(layers), "n_rows": len(meta), "dim": dim, "key": path.name}
    (path / "manifest.json").write_text(json.dumps(manifest))
    return VectorStore(path)


def test_alignment_drops_words_missing_from_either_store(tmp_path):
    rng = np.random.default_rng(0)
    pairs = [(s, w) for s, n in enumerate([5, 3, 7, 4]) for w in range(n)]  # 19 words in 4 sentences
    e_pairs = [p for p in pairs if p != (2, 6)]  # E lost the last word of sentence 2 (truncation)
    c_pairs = [p for p in pairs if p not in {(0, 1), (3, 3)}]
    e = _write_store(tmp_path / "e", pd.DataFrame(e_pairs, columns=["sentence_index", "word_index"]),
                     {0: rng.normal(size=(len(e_pairs), 6))})
    c = _write_store(tmp_path / "c", pd.DataFrame(c_pairs, columns=["sentence_index", "word_index"]),
                     {0: rng.normal(size=(len(c_pairs), 4)) + 3.0})
    chosen = [(0, 0), (0, 1), (1, 2), (2, 0), (2, 6), (2, 3), (3, 0), (3, 3), (3, 1)]
    words = {"X": CategoryIndex("X", np.array([p[0] for p in chosen]), np.array([p[1] for p in chosen]),
                                np.array(["v"] * len(chosen))),
             "Y": CategoryIndex("Y", np.array([9]), np.array([0]), np.array(["v"]))}  # no such word
    aligned = align_words(words, e.meta, c.meta)
    kept = [p for p in sorted(chosen) if p in e_pairs and p in c_pairs]
    assert aligned.n_words("X") == len(kept) == 6 and aligned.n_labelled["X"] == 9 and aligned.n_words("Y") == 0
    Z = np.load(c.path / "layer_00.npy")[[c_pairs.index(p) for p in kept]].astype(np.float64)
    Y = np.load(e.path / "layer_00.npy")[[e_pairs.index(p) for p in kept]].astype(np.float64)
    expected = (Z - Z.mean(0)).T @ (Y - Y.mean(0)) / len(kept)
    for chunk_size in (1, 2, 5, 1000):
        omega = cross_covariances(c.vectors(0), e.vectors(0), aligned, categories=["X"], chunk_size=chunk_size)["X"]
        assert omega.shape == (4, 6)
        np.testing.assert_allclose(omega, expected, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="no aligned words"):
        cross_covariances(c.vectors(0), e.vectors(0), aligned)
    with pytest.raises(ValueError, match="chunk_size"):
        cross_covariances(c.vectors(0), e.vectors(0), aligned, categories=["X"], chunk_size=0)
    sentence_meta = pd.DataFrame({"sentence_index": [0, 1], "word_index": [-1, -1]})
    with pytest.raises(ValueError, match="word-level"):
        align_words(words, sentence_meta, c.meta)


def test_category_words_all_words_lists_every_word(sentences):
    found = category_words(sentences["en"], ["Tense", ALL_WORDS, "Politeness"])
    assert list(found) == ["Tense", ALL_WORDS]  # nobody carries Politeness in these sentences
    every = found[ALL_WORDS]
    assert len(every) == sum(len(s.words) for s in sentences["en"])
    assert (every.sentence_index[5], every.word_index[5]) == (0, 5)
    tense = {(i, j) for i, s in enumerate(sentences["en"]) for j, w in enumerate(s.words)
             if "Tense" in unimorph_features(w.upos, w.feats)}
    assert set(zip(found["Tense"].sentence_index, found["Tense"].word_index)) == tense

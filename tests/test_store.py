"""The vector store: equal to in-memory extraction, cached by key, resumable after a kill."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tiny_models import build_tiny

import crossling.extraction.store as store_module
from crossling.data.records import Sentence, Word
from crossling.extraction.extract import ExtractionOptions, sentence_vectors, word_vectors
from crossling.extraction.store import VectorStore, extract_to_store
from crossling.models import load_model

TEXTS = [
    "The quick brown fox jumps over the lazy dog .",
    "Representations of parallel sentences are compared .",
    "Multilingual models represent languages layer by layer .",
    "Le renard brun rapide saute .",
    "Der schnelle braune Fuchs springt über den faulen Hund .",
] * 3


def _sentences():
    out = []
    for i, text in enumerate(TEXTS):
        words = [Word(j + 1, f, f.lower(), "X", "_", {"Number": "Sing"} if j % 2 else {}, 0, "dep", "_", "_")
                 for j, f in enumerate(text.split())]
        out.append(Sentence("en", f"s{i}", words, text=text))
    return out


@pytest.fixture(scope="module")
def lm(tmp_path_factory):
    return load_model(build_tiny("xlmr", tmp_path_factory.mktemp("xlmr")))


def test_word_store_equals_in_memory_extraction(lm, tmp_path):
    sentences = _sentences()
    opts = ExtractionOptions(level="word", batch_size=4)
    store = extract_to_store(lm, sentences, tmp_path, opts, shard_size=4, progress=False)
    expected = word_vectors(lm, [s.forms for s in sentences], batch_size=4, progress=False)
    assert store.n_rows == sum(len(s) for s in sentences) == expected.vectors.shape[1]
    for j, layer in enumerate(store.layers):
        np.testing.assert_allclose(store.vectors(layer), expected.vectors[j], atol=1e-6)
    meta = store.meta
    assert list(meta["form"]) == [w.form for s in sentences for w in s.words]
    assert meta.loc[1, "feats"] == "Number=Sing" and meta.loc[0, "feats"] == ""
    assert store.manifest["corpus_checksum"] and store.manifest["model"]["fingerprint"] == lm.fingerprint
    assert not list(tmp_path.glob("*.partial"))


def test_sentence_store_and_cache_reuse(lm, tmp_path, monkeypatch):
    sentences = _sentences()
    opts = ExtractionOptions(level="sentence", layers=(0, 2))
    first = extract_to_store(lm, sentences, tmp_path, opts, progress=False)
    np.testing.assert_allclose(first.vectors(2), sentence_vectors(lm, TEXTS, layers=(2,), progress=False)[0], atol=1e-6)
    def forbidden(*args, **kwargs):
        raise RuntimeError("the model ran again")

    monkeypatch.setattr(store_module, "iter_batches", forbidden)
    again = extract_to_store(lm, sentences, tmp_path, opts, progress=False)
    assert again.path == first.path
    other = ExtractionOptions(level="sentence", layers=(0, 2), pooling="first")
    with pytest.raises(RuntimeError, match="ran again"):
        extract_to_store(lm, sentences, tmp_path, other, progress=False)  # different options, different key


def test_killed_extraction_resumes_from_completed_shards(lm, tmp_path, monkeypatch):
    sentences = _sentences()  # 15 sentences, shards of 4 -> 4 shards
    opts = ExtractionOptions(level="word", batch_size=2)
    real = store_module.iter_batches
    calls = []

    def dying(*args, **kwargs):
        calls.append(list(kwargs["indices"]))
        if len(calls) == 3:
            raise KeyboardInterrupt("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(store_module, "iter_batches", dying)
    with pytest.raises(KeyboardInterrupt):
        extract_to_store(lm, sentences, tmp_path, opts, shard_size=4, progress=False)
    partial = next(tmp_path.glob("*.partial"))
    assert json.loads((partial / "progress.json").read_text())["done"] == [0, 1]

    calls.clear()
    def counting(*a, **k):
        calls.append(list(k["indices"]))
        return real(*a, **k)

    monkeypatch.setattr(store_module, "iter_batches", counting)
    store = extract_to_store(lm, sentences, tmp_path, opts, shard_size=4, progress=False)
    assert calls == [[8, 9, 10, 11], [12, 13, 14]]  # only the unfinished shards ran
    clean = extract_to_store(lm, sentences, tmp_path / "clean", opts, shard_size=4, progress=False)
    for layer in store.layers:
        np.testing.assert_array_equal(store.vectors(layer), clean.vectors(layer))


def test_incomplete_store_is_not_opened(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a complete vector store"):
        VectorStore(tmp_path)

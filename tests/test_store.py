"""The vector store: equal to in-memory extraction, cached by key, resumable after a kill."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from tiny_models import build_tiny

import crossling.extraction.store as store_module
from crossling.data.corpus import corpus_checksum
from crossling.data.records import Sentence, Word
from crossling.exceptions import CrosslingWarning, DataLossWarning, StoreCorruptError
from crossling.extraction.extract import ExtractionOptions, sentence_vectors, word_vectors
from crossling.extraction.run import stores_record, stores_skipped
from crossling.extraction.store import VectorStore, cache_key, cache_key_parts, extract_to_store
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


def _truncate(path):
    with open(path, "r+b") as fh:
        fh.truncate(path.stat().st_size // 2)


def _flip_byte(path):
    with open(path, "r+b") as fh:
        fh.seek(path.stat().st_size - 3)
        byte = fh.read(1)
        fh.seek(-1, 1)
        fh.write(bytes([byte[0] ^ 0xFF]))


CORRUPTIONS = {
    "layer file cut short": lambda store: _truncate(store / "layer_01.npy"),
    "layer byte changed": lambda store: _flip_byte(store / "layer_02.npy"),
    "layer file missing": lambda store: (store / "layer_00.npy").unlink(),
    "metadata cut short": lambda store: _truncate(store / "meta.parquet"),
    "manifest cut short": lambda store: _truncate(store / "manifest.json"),
    "manifest missing": lambda store: (store / "manifest.json").unlink(),
}


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_a_corrupt_store_is_never_read_but_extracted_again(lm, tmp_path, corruption):
    sentences = _sentences()
    opts = ExtractionOptions(level="word", batch_size=4)
    first = extract_to_store(lm, sentences, tmp_path, opts, shard_size=4, progress=False)
    expected = {layer: np.array(first.vectors(layer)) for layer in first.layers}
    first.verify()
    CORRUPTIONS[corruption](first.path)
    with pytest.warns(CrosslingWarning, match="extracting it again"):
        again = extract_to_store(lm, sentences, tmp_path, opts, shard_size=4, progress=False)
    assert again.path == first.path
    again.verify()
    for layer in again.layers:
        np.testing.assert_array_equal(again.vectors(layer), expected[layer])
    assert sorted(p.name for p in tmp_path.iterdir()) == [f".{first.path.name}.lock", first.path.name]


def test_opening_a_cut_store_directly_is_a_clear_error(lm, tmp_path):
    store = extract_to_store(lm, _sentences(), tmp_path, ExtractionOptions(level="sentence"), progress=False)
    _truncate(store.path / "layer_01.npy")
    with pytest.raises(StoreCorruptError, match="layer_01.npy has .* bytes, the manifest says"):
        VectorStore(store.path).verify(checksums=False)
    with pytest.raises(StoreCorruptError, match="layer_01.npy cannot be read"):
        VectorStore(store.path).vectors(1)
    (store.path / "manifest.json").write_text('{"format": 1, "layers": [0, 1, 2]}')  # a store of format 1
    with pytest.raises(StoreCorruptError, match="lists no files with their checksums"):
        VectorStore(store.path).verify()
    (store.path / "manifest.json").write_text('{"format": 2, "la')
    with pytest.raises(StoreCorruptError, match="not a readable store manifest"):
        VectorStore(store.path)


def test_a_damaged_partial_store_is_started_again(lm, tmp_path, monkeypatch):
    sentences = _sentences()
    opts = ExtractionOptions(level="word", batch_size=2)
    real = store_module.iter_batches
    calls = []

    def dying(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(store_module, "iter_batches", dying)
    with pytest.raises(KeyboardInterrupt):
        extract_to_store(lm, sentences, tmp_path, opts, shard_size=4, progress=False)
    partial = next(tmp_path.glob("*.partial"))
    _truncate(partial / "layer_02.npy")  # the disk lost the end of a file the first run had written
    monkeypatch.setattr(store_module, "iter_batches", real)
    store = extract_to_store(lm, sentences, tmp_path, opts, shard_size=4, progress=False)
    clean = extract_to_store(lm, sentences, tmp_path / "clean", opts, shard_size=4, progress=False)
    for layer in store.layers:
        np.testing.assert_array_equal(store.vectors(layer), clean.vectors(layer))


def test_what_changes_a_vector_changes_the_key(lm):
    checksum = corpus_checksum(_sentences())
    base = ExtractionOptions(level="word")
    key = cache_key(lm, checksum, base)
    # The same vectors, asked for in other words: one key.
    assert cache_key(lm, checksum, ExtractionOptions(level="word", layers=(0, 1, 2))) == key
    assert cache_key(lm, checksum, ExtractionOptions(level="word", max_length=lm.max_length)) == key
    assert cache_key(lm, checksum, ExtractionOptions(level="word", max_length=10_000)) == key
    changed = [ExtractionOptions(level="sentence"), ExtractionOptions(level="word", pooling="last"),
               ExtractionOptions(level="word", layers=(2,)), ExtractionOptions(level="word", max_length=8),
               ExtractionOptions(level="word", prefix="passage: "), ExtractionOptions(level="word", stack="decoder"),
               ExtractionOptions(level="word", decoder_shift=True),
               ExtractionOptions(level="word", include_special=True), ExtractionOptions(level="word", batch_size=4)]
    keys = {cache_key(lm, checksum, options) for options in changed}
    assert len(keys) == len(changed) and key not in keys
    assert cache_key(lm, corpus_checksum(_sentences()[1:]), base) != key
    parts = cache_key_parts(lm, checksum, base)
    assert parts["dtype"] == "float32" and parts["device"] is None and parts["model"] == lm.fingerprint


def test_a_bfloat16_store_is_not_reused_by_a_float32_run(tmp_path):
    folder = build_tiny("xlmr", tmp_path / "xlmr")
    sentences = _sentences()
    opts = ExtractionOptions(level="sentence")
    half = extract_to_store(load_model(folder, dtype="bfloat16"), sentences, tmp_path / "s", opts, progress=False)
    full_lm = load_model(folder, dtype="float32")
    full = extract_to_store(full_lm, sentences, tmp_path / "s", opts, progress=False)
    assert full.path != half.path
    assert half.manifest["model"]["dtype"] == "bfloat16" and full.manifest["model"]["dtype"] == "float32"
    assert half.manifest["key_parts"]["dtype"] == "bfloat16" and half.manifest["key_parts"]["device"] == "cpu"
    np.testing.assert_allclose(full.vectors(2), sentence_vectors(full_lm, TEXTS, layers=(2,), progress=False)[0],
                               atol=1e-6)
    assert not np.array_equal(full.vectors(2), half.vectors(2))  # bfloat16 vectors differ: reusing them was wrong
    again = extract_to_store(load_model(folder, dtype="bfloat16"), sentences, tmp_path / "s", opts, progress=False)
    assert again.path == half.path


def test_what_extraction_lost_is_in_the_manifest(lm, tmp_path):
    sentences = _sentences()
    with pytest.warns(DataLossWarning):
        words = extract_to_store(lm, sentences, tmp_path, ExtractionOptions(level="word", max_length=8),
                                 progress=False)
    with pytest.warns(DataLossWarning):
        whole = extract_to_store(lm, sentences, tmp_path, ExtractionOptions(level="sentence", max_length=8),
                                 progress=False)
    m = words.manifest
    n_words = sum(len(s) for s in sentences)
    assert m["words_truncated"] > 0 and m["words_empty"] == 0
    assert words.n_rows + m["words_without_vector"] == n_words  # every word has a vector or is counted
    skipped = stores_skipped({"en": words, "en/sentences": whole})
    assert skipped == [
        {"what": "word", "reason": "cut by truncation at 8 tokens, wholly or in part: no vector",
         "count": m["words_truncated"], "store": "en"},
        {"what": "sentence tail", "reason": "sentence longer than 8 tokens: its vector reads only the first 8",
         "count": whole.manifest["truncated_inputs"], "store": "en/sentences"}]
    assert stores_record({"en": words})["en"]["words_truncated"] == m["words_truncated"]


_WRITER = """
import json, sys, time
from pathlib import Path
import crossling.extraction.store as store_module
from crossling.extraction.extract import ExtractionOptions
from crossling.models import load_model
from test_store import _sentences

model, root, go = sys.argv[1:4]
real, batches = store_module.iter_batches, []

def held_back(*args, **kwargs):
    for batch in real(*args, **kwargs):
        while not Path(go).exists():  # the test says when this writer may go on
            time.sleep(0.05)
        batches.append(1)
        yield batch

store_module.iter_batches = held_back
store = store_module.extract_to_store(load_model(model), _sentences(), root, ExtractionOptions(level="word"),
                                      shard_size=2)
print(json.dumps({"path": str(store.path), "batches": len(batches)}))
"""


@pytest.mark.slow
def test_two_processes_extracting_one_store_take_turns(lm, tmp_path):
    """The second writer waits for the first's lock, then reuses its store: one extraction, nothing mixed."""
    folder = Path(lm.name)
    root, go = tmp_path / "stores", tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}

    def writer(name):
        err = open(tmp_path / f"{name}.err", "w")
        return subprocess.Popen([sys.executable, "-c", _WRITER, str(folder), str(root), str(go)], env=env,
                                stdout=subprocess.PIPE, stderr=err, text=True)

    first = writer("first")
    deadline = time.monotonic() + 300
    while not list(root.glob("*.partial/plan.json")):  # the first is inside its extraction, holding the lock
        assert first.poll() is None and time.monotonic() < deadline
        time.sleep(0.1)
    second = writer("second")
    while "waiting for another process" not in (tmp_path / "second.err").read_text():
        assert second.poll() is None and time.monotonic() < deadline, (tmp_path / "second.err").read_text()
        time.sleep(0.1)
    go.touch()
    results = [json.loads(p.communicate(timeout=300)[0]) for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0]
    assert results[0]["path"] == results[1]["path"] and results[0]["batches"] > 0 and results[1]["batches"] == 0
    store = VectorStore(results[0]["path"])
    store.verify()
    expected = word_vectors(lm, [s.forms for s in _sentences()], batch_size=32, progress=False)
    for j, layer in enumerate(store.layers):
        np.testing.assert_allclose(store.vectors(layer), expected.vectors[j], atol=1e-6)

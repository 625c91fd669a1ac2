"""The on-disk vector store: per layer a memory-mapped float32 ``.npy``, plus a metadata table.

The analyses that truly need vectors (RBF CKA, nearest-neighbour matching, K-means concepts) read them from
here; everything else streams moments. One store holds one extraction of one corpus (normally one
language) by one model with one set of options, in a folder named by a cache key over all of them, so
running the same extraction again reuses it::

    ROOT/<name>-<key16>/
        manifest.json      provenance: model identity, corpus checksum, options, layers, n, versions, stats
        meta.parquet       one row per vector: language, sentence_id, sentence_index, word_index, form,
                           lemma, upos, feats
        layer_00.npy ...   (n_rows, d) float32, one file per hidden state

Writes are atomic: the extraction fills ``<name>-<key16>.partial/`` shard by shard (each shard's rows are
flushed before the shard is recorded as done in ``progress.json``, itself written atomically), and the
folder is renamed to its final name only when complete. An interrupted extraction resumes from its
completed shards.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import time
from functools import cached_property
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from crossling._utils.io import atomic_write_text
from crossling._utils.progress import progress_bar
from crossling.data.corpus import corpus_checksum
from crossling.data.records import Sentence
from crossling.extraction.extract import EncodedCorpus, ExtractionOptions, encode, iter_batches
from crossling.models.loading import LoadedModel

__all__ = ["VectorStore", "cache_key", "extract_to_store", "STORE_FORMAT"]

STORE_FORMAT = 1
"""Version of the store layout; part of every cache key, so stores of another layout are never reused."""


def cache_key(lm: LoadedModel, checksum: str, options: ExtractionOptions, *,
              sources_checksum: str | None = None) -> str:
    """The key of an extraction: model and tokenizer identity, corpus checksum, options, store format.

    Two extractions with the same key would write the same vectors, so a store is reused by key.

    Parameters
    ----------
    lm : LoadedModel
        The model; its ``identity()`` gives the weights' fingerprint, the tokenizer and its vocabulary size.
    checksum : str
        The corpus checksum (:func:`~crossling.data.corpus.corpus_checksum`).
    options : ExtractionOptions
        The extraction options (all fields enter the key).
    sources_checksum : str, optional
        Checksum of the texts a source-conditioned decoder's encoder read (enters the key when given).

    Returns
    -------
    str
        SHA-256 (64 hexadecimal characters) of the sorted JSON of these parts and :data:`STORE_FORMAT`.
    """
    identity = lm.identity()
    payload = {
        "format": STORE_FORMAT,
        "model": identity["fingerprint"],
        "tokenizer": [identity["tokenizer"], identity["vocab_size"]],
        "corpus": checksum,
        "options": options.as_dict(),
    }
    if sources_checksum is not None:
        payload["sources"] = sources_checksum
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


class VectorStore:
    """A completed extraction on disk.

    Parameters
    ----------
    path : path-like
        The store folder (one with a ``manifest.json``).

    Attributes
    ----------
    path : Path
        The store folder.
    manifest : dict
        The parsed ``manifest.json``: provenance (model identity, options, corpus checksum, languages,
        ``n_sentences``, ``n_rows``, ``dim``, ``layers``, truncation counts, seconds, versions).

    Raises
    ------
    FileNotFoundError
        If ``path`` has no ``manifest.json`` (not a store, or an extraction that did not finish).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        manifest = self.path / "manifest.json"
        if not manifest.is_file():
            raise FileNotFoundError(f"{self.path} is not a complete vector store (no manifest.json)")
        self.manifest: dict = json.loads(manifest.read_text(encoding="utf-8"))

    @property
    def layers(self) -> list[int]:
        """Hidden-state indices stored (0 = embedding output)."""
        return list(self.manifest["layers"])

    @property
    def n_rows(self) -> int:
        """Number of vectors per layer: words that kept a token (word level) or sentences."""
        return int(self.manifest["n_rows"])

    @property
    def dim(self) -> int:
        """Width d of every vector (the model's hidden size)."""
        return int(self.manifest["dim"])

    @cached_property
    def meta(self) -> pd.DataFrame:
        """One row per vector, in the order of the vector files.

        Columns ``language``, ``sentence_id``, ``sentence_index`` (position in the extracted sentences),
        ``word_index`` (0-based position in the sentence; -1 at sentence level), ``form`` (the word, or the
        sentence text), ``lemma``, ``upos``, ``feats`` (``Name=Value|...``; these three empty at sentence level).
        Read once, then cached.
        """
        return pd.read_parquet(self.path / "meta.parquet")

    def vectors(self, layer: int) -> np.ndarray:
        """The (n_rows, d) float32 vectors of hidden state ``layer``, memory-mapped read-only.

        Parameters
        ----------
        layer : int
            A hidden-state index in :attr:`layers` (0 = embedding output; no negative indices).

        Returns
        -------
        ndarray of float32, shape (n_rows, d)
            Row i is the vector of row i of :attr:`meta`; a read-only memory map (nothing is read until used).

        Raises
        ------
        KeyError
            If ``layer`` is not stored.
        """
        if layer not in self.layers:
            raise KeyError(f"layer {layer} is not in this store (layers {self.layers})")
        return np.load(self.path / _layer_file(layer), mmap_mode="r")

    def __repr__(self) -> str:
        return f"VectorStore({self.path.name}: {self.n_rows} x {self.dim}, layers {self.layers[0]}..{self.layers[-1]})"


def _layer_file(layer: int) -> str:
    return f"layer_{layer:02d}.npy"


def _meta_table(sentences: Sequence[Sentence], encoded: EncodedCorpus, level: str) -> pd.DataFrame:
    rows = []
    for i, (s, item) in enumerate(zip(sentences, encoded.items)):
        if level == "sentence":
            rows.append((s.lang, s.sent_id, i, -1, s.text if s.text is not None else " ".join(s.forms), "", "", ""))
            continue
        for w in sorted({w for w in item.word_ids if w is not None}):
            word = s.words[w]
            feats = "|".join(f"{k}={v}" for k, v in word.feats.items())
            rows.append((s.lang, s.sent_id, i, w, word.form, word.lemma, word.upos, feats))
    columns = ["language", "sentence_id", "sentence_index", "word_index", "form", "lemma", "upos", "feats"]
    return pd.DataFrame(rows, columns=columns)


def extract_to_store(
    lm: LoadedModel,
    sentences: Sequence[Sentence],
    root: str | os.PathLike,
    options: ExtractionOptions,
    *,
    name: str | None = None,
    shard_size: int = 256,
    progress: bool = True,
    sources: Sequence[Sentence] | None = None,
) -> VectorStore:
    """Extract representations of ``sentences`` into a store under ``root``, or reuse the cached one.

    Parameters
    ----------
    lm : LoadedModel
        The model.
    sentences : sequence of Sentence
        Word level uses ``Sentence.forms``; sentence level uses ``Sentence.text`` (or the joined forms).
    root : path-like
        Folder holding stores; the store goes to ``root/<name>-<key16>``, with ``key16`` the first 16
        characters of :func:`cache_key`.
    options : ExtractionOptions
        What to extract (level, pooling, layers, ...).
    name : str, optional
        Readable part of the folder name; default: the sentences' language codes, sorted and joined by ``-``.
    shard_size : int, default 256
        Sentences per shard, the unit of resumption (each finished shard is flushed and recorded).
    progress : bool, default True
        Show a progress bar of the sentences.
    sources : sequence of Sentence, optional
        Decoder stack of an encoder-decoder model: the sentence the encoder reads for each of
        ``sentences`` (e.g. its translation in the source language), so the decoder states are
        source-conditioned; their checksum enters the cache key.

    Returns
    -------
    VectorStore
        The completed store: the cached one when a store with the same key exists, else a new one
        (resuming the finished shards of an interrupted extraction with the same plan).

    Raises
    ------
    ValueError
        If ``sentences`` is empty, or (sentence level) a sentence has no tokens besides the special ones.
    ConfigError
        If a layer of ``options.layers`` is not a hidden state of the model.
    """
    if not sentences:
        raise ValueError("no sentences to extract")
    root = Path(root)
    checksum = corpus_checksum(sentences)
    sources_checksum = None if sources is None else corpus_checksum(sources)
    key = cache_key(lm, checksum, options, sources_checksum=sources_checksum)
    name = name or "-".join(sorted({s.lang for s in sentences}))
    final = root / f"{name}-{key[:16]}"
    if (final / "manifest.json").is_file():
        return VectorStore(final)
    started = time.time()
    inputs = [s.forms for s in sentences] if options.level == "word" else [
        s.text if s.text is not None else " ".join(s.forms) for s in sentences]
    encoded = encode(lm, inputs, options,
                     sources=None if sources is None else [s.text if s.text is not None else s.forms for s in sources])
    rows = encoded.rows_per_item(options.level)
    offsets = np.concatenate([[0], np.cumsum(rows)])
    n_rows, dim = int(offsets[-1]), lm.hidden_size
    partial = root / f"{name}-{key[:16]}.partial"
    plan = {"key": key, "n_rows": n_rows, "dim": dim, "layers": list(encoded.layers), "shard_size": shard_size}
    if not (partial / "plan.json").is_file() or json.loads((partial / "plan.json").read_text()) != plan:
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        _meta_table(sentences, encoded, options.level).to_parquet(partial / "meta.parquet", index=False)
        for layer in encoded.layers:
            np.lib.format.open_memmap(
                partial / _layer_file(layer), mode="w+", dtype=np.float32, shape=(n_rows, dim)
            ).flush()
        atomic_write_text(partial / "progress.json", json.dumps({"done": []}))
        atomic_write_text(partial / "plan.json", json.dumps(plan))
    done = set(json.loads((partial / "progress.json").read_text())["done"])
    files = {layer: np.load(partial / _layer_file(layer), mmap_mode="r+") for layer in encoded.layers}
    n_shards = (len(sentences) + shard_size - 1) // shard_size
    todo = [k for k in range(n_shards) if k not in done]
    bar = progress_bar(len(sentences), f"extracting {name}", "sentence", enabled=progress, initial=len(sentences) - sum(
        min(shard_size, len(sentences) - k * shard_size) for k in todo))
    for shard in todo:
        indices = range(shard * shard_size, min((shard + 1) * shard_size, len(sentences)))
        for batch in iter_batches(lm, encoded, options, indices=indices, progress=False):
            target = _target_rows(batch.sentence_index, offsets)
            for j, layer in enumerate(encoded.layers):
                files[layer][target] = batch.vectors[j]
        for mm in files.values():
            mm.flush()
        done.add(shard)
        atomic_write_text(partial / "progress.json", json.dumps({"done": sorted(done)}))
        bar.update(len(indices))
    bar.close()
    del files
    manifest = {
        "format": STORE_FORMAT,
        "key": key,
        "name": name,
        "model": lm.identity(),
        "options": options.as_dict(),
        "corpus_checksum": checksum,
        "sources_checksum": sources_checksum,
        "languages": sorted({s.lang for s in sentences}),
        "n_sentences": len(sentences),
        "n_rows": n_rows,
        "dim": dim,
        "layers": list(encoded.layers),
        "truncated_inputs": encoded.stats.n_truncated,
        "words_without_vector": encoded.stats.n_words_dropped,
        "seconds": round(time.time() - started, 3),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "python": platform.python_version(),
        "numpy": np.__version__,
    }
    atomic_write_text(partial / "manifest.json", json.dumps(manifest, indent=1, ensure_ascii=False))
    os.replace(partial, final)
    return VectorStore(final)


def _target_rows(sentence_index: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Row of each batch row in the store: its sentence's offset plus its rank within the sentence.

    A batch lists each sentence's rows together and in word order (word ids grow along the tokens).
    """
    starts = np.flatnonzero(np.r_[True, sentence_index[1:] != sentence_index[:-1]])
    run_start = np.repeat(starts, np.diff(np.r_[starts, len(sentence_index)]))
    return offsets[sentence_index] + (np.arange(len(sentence_index)) - run_start)

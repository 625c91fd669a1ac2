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

The forward passes run on an engine (:mod:`crossling.engine`): here, or on a pool of model actors of a Ray
cluster (:func:`extract_to_stores`). Either way the driver alone writes the folder, shard by shard, in the
layout above, so the stores are the same and a run resumes whichever engine wrote the shards before.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from crossling._utils.io import atomic_write_text
from crossling.data.corpus import corpus_checksum
from crossling.data.records import Sentence
from crossling.engine import Engine, LocalEngine, Shared
from crossling.extraction.extract import EncodedCorpus, ExtractionOptions, encode, iter_batches
from crossling.models.loading import LoadedModel

__all__ = ["VectorStore", "cache_key", "extract_to_store", "extract_to_stores", "STORE_FORMAT"]

STORE_FORMAT = 1
"""Version of the store layout; part of every cache key, so stores of another layout are never reused."""


def cache_key(lm: LoadedModel, checksum: str, options: ExtractionOptions) -> str:
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
    engine: Engine | None = None,
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
    engine : Engine, optional
        Where the shards run (:func:`extract_to_stores`); default this process.

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
    stores = extract_to_stores(lm, {"store": sentences}, root, options, names={"store": name} if name else None,
                               shard_size=shard_size, progress=progress, engine=engine)
    return stores["store"]


def extract_to_stores(
    lm: LoadedModel,
    corpora: Mapping[str, Sequence[Sentence]],
    root: str | os.PathLike,
    options: ExtractionOptions,
    *,
    names: Mapping[str, str] | None = None,
    shard_size: int = 256,
    progress: bool = True,
    engine: Engine | None = None,
) -> dict[str, VectorStore]:
    """Extract several corpora (one store each) in one stage: every unfinished shard of all of them is a task.

    The driver tokenises each corpus, plans its store (cache key, partial folder, shards still to do) and writes
    every shard's vectors into the store as the shard comes back, recording it as done; the engine runs the
    forward passes. The local engine runs them here with ``lm``; a Ray engine hands them to a pool of model
    actors, each loading the model once (:meth:`~crossling.models.loading.LoadedModel.reloader`: the same
    settings, and no other weights than ``lm``'s). A shard's batches are the same whoever runs it, so the store
    is the same bit for bit (with as many torch threads), and the partial folder's layout is the same, so a run
    resumes whichever engine wrote the shards before.

    Parameters
    ----------
    lm : LoadedModel
        The model, loaded by the driver: it tokenises, names the cache key and (local engine) runs the shards.
    corpora : mapping of str to sequence of Sentence
        Key (normally a language code) -> sentences.
    root : path-like
        Folder holding the stores (with a Ray engine, one the driver writes and the nodes read).
    options : ExtractionOptions
    names : mapping of str to str, optional
        Readable part of each store's folder name, by key; default the sentences' language codes, sorted and
        joined by ``-`` (see :func:`extract_to_store`).
    shard_size : int, default 256
        Sentences per shard: the unit of work of a task and of resumption. A shard's vectors are held in
        memory once (layers x rows x hidden size, float32).
    progress : bool, default True
        One progress display of the sentences extracted by this call.
    engine : Engine, optional
        Default: the local engine.

    Returns
    -------
    dict of str to VectorStore
        By the keys of ``corpora``, in their order.

    Raises
    ------
    ValueError
        If a corpus is empty, or (sentence level) a sentence has no tokens besides the special ones.
    ConfigError
        If a layer of ``options.layers`` is not a hidden state of the model.
    """
    engine = engine if engine is not None else LocalEngine()
    root = Path(root)
    names = names or {}
    plans: dict[str, VectorStore | _Plan] = {}
    by_folder: dict[Path, VectorStore | _Plan] = {}  # two keys with the same sentences share one store
    for key, sentences in corpora.items():
        plan = _plan(lm, sentences, root, options, names.get(key) or _default_name(sentences), shard_size)
        plans[key] = by_folder.setdefault(plan.path, plan)
    pending = [plan for plan in by_folder.values() if isinstance(plan, _Plan)]
    tasks, owners = [], []
    for plan in pending:
        shared = engine.share(plan.encoded)
        for shard in plan.todo:
            start, stop = plan.bounds(shard)
            tasks.append(_ShardTask(shared, options, start, stop, plan.offsets[start:stop + 1]))
            owners.append((plan, shard))
    if tasks:
        setup = lm.reloader()  # how a worker loads the model; the local engine uses lm itself
        shown = [plan.name for plan in pending if plan.todo]
        desc = "extracting " + (", ".join(shown) if len(shown) <= 3 else f"{len(shown)} stores")
        for index, vectors in engine.imap_with(
                setup, _extract_shard, tasks, state=lm, gpu=lm.device.type == "cuda", desc=desc, unit="sentence",
                progress=progress, weights=[task.stop - task.start for task in tasks]):
            plan, shard = owners[index]
            plan.write(shard, vectors)
            if not plan.todo:
                by_folder[plan.path] = plan.finish()
    for folder, plan in by_folder.items():  # every shard was done before this call, the folder not yet renamed
        if isinstance(plan, _Plan):
            by_folder[folder] = plan.finish()
    return {key: by_folder[plan.path] for key, plan in plans.items()}


def _default_name(sentences: Sequence[Sentence]) -> str:
    return "-".join(sorted({s.lang for s in sentences}))


@dataclass(frozen=True)
class _ShardTask:
    """A shard to extract: the corpus's tokenised inputs (shared), inputs ``start..stop-1`` and their rows."""

    encoded: Shared
    options: ExtractionOptions
    start: int
    stop: int
    offsets: np.ndarray  # the store rows of inputs start..stop: offsets[i - start] is input i's first row


def _extract_shard(lm: LoadedModel, task: _ShardTask) -> np.ndarray:
    """The (n_layers, rows, d) float32 vectors of one shard, in store row order."""
    encoded = task.encoded.get()
    base = task.offsets[0]
    vectors = np.zeros((len(encoded.layers), int(task.offsets[-1] - base), lm.hidden_size), dtype=np.float32)
    for batch in iter_batches(lm, encoded, task.options, indices=range(task.start, task.stop), progress=False):
        vectors[:, _target_rows(batch.sentence_index - task.start, task.offsets) - base] = batch.vectors
    return vectors


class _Plan:
    """A store being extracted: its key, its partial folder, its shards still to do; the driver writes it.

    ``path`` is where the store will be (as :attr:`VectorStore.path` is where one is).
    """

    def __init__(self, lm: LoadedModel, sentences: Sequence[Sentence], name: str, key: str, checksum: str,
                 encoded: EncodedCorpus, offsets: np.ndarray, partial: Path, final: Path, shard_size: int,
                 options: ExtractionOptions, started: float):
        self.identity, self.sentences, self.name = lm.identity(), sentences, name
        self.key, self.checksum = key, checksum
        self.encoded, self.offsets, self.partial, self.path = encoded, offsets, partial, final
        self.shard_size, self.options, self.started, self.dim = shard_size, options, started, lm.hidden_size
        self.done = set(json.loads((partial / "progress.json").read_text())["done"])
        n_shards = (len(sentences) + shard_size - 1) // shard_size
        self.todo = [k for k in range(n_shards) if k not in self.done]
        self._files: dict[int, np.memmap] | None = None

    def bounds(self, shard: int) -> tuple[int, int]:
        return shard * self.shard_size, min((shard + 1) * self.shard_size, len(self.sentences))

    def write(self, shard: int, vectors: np.ndarray) -> None:
        """Put a shard's rows into the layer files, flush them, then record the shard as done."""
        if self._files is None:
            self._files = {layer: np.load(self.partial / _layer_file(layer), mmap_mode="r+")
                           for layer in self.encoded.layers}
        start, stop = self.bounds(shard)
        rows = slice(int(self.offsets[start]), int(self.offsets[stop]))
        for j, layer in enumerate(self.encoded.layers):
            self._files[layer][rows] = vectors[j]
            self._files[layer].flush()
        self.done.add(shard)
        self.todo.remove(shard)
        atomic_write_text(self.partial / "progress.json", json.dumps({"done": sorted(self.done)}))

    def finish(self) -> VectorStore:
        """Write the manifest and give the folder its final name."""
        self._files = None
        sentences, encoded = self.sentences, self.encoded
        manifest = {
            "format": STORE_FORMAT,
            "key": self.key,
            "name": self.name,
            "model": self.identity,
            "options": self.options.as_dict(),
            "corpus_checksum": self.checksum,
            "languages": sorted({s.lang for s in sentences}),
            "n_sentences": len(sentences),
            "n_rows": int(self.offsets[-1]),
            "dim": self.dim,
            "layers": list(encoded.layers),
            "truncated_inputs": encoded.stats.n_truncated,
            "words_without_vector": encoded.stats.n_words_dropped,
            "seconds": round(time.time() - self.started, 3),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "python": platform.python_version(),
            "numpy": np.__version__,
        }
        atomic_write_text(self.partial / "manifest.json", json.dumps(manifest, indent=1, ensure_ascii=False))
        os.replace(self.partial, self.path)
        return VectorStore(self.path)


def _plan(lm: LoadedModel, sentences: Sequence[Sentence], root: Path, options: ExtractionOptions, name: str,
          shard_size: int) -> VectorStore | _Plan:
    """The cached store, or the plan of its extraction (a new partial folder, or the one with the same plan)."""
    if not sentences:
        raise ValueError("no sentences to extract")
    checksum = corpus_checksum(sentences)
    key = cache_key(lm, checksum, options)
    final = root / f"{name}-{key[:16]}"
    if (final / "manifest.json").is_file():
        return VectorStore(final)
    started = time.time()
    inputs = [s.forms for s in sentences] if options.level == "word" else [
        s.text if s.text is not None else " ".join(s.forms) for s in sentences]
    encoded = encode(lm, inputs, options)
    offsets = np.concatenate([[0], np.cumsum(encoded.rows_per_item(options.level))])
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
    return _Plan(lm, sentences, name, key, checksum, encoded, offsets, partial, final, shard_size, options, started)


def _target_rows(sentence_index: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Row of each batch row in the store: its sentence's offset plus its rank within the sentence.

    A batch lists each sentence's rows together and in word order (word ids grow along the tokens).
    """
    starts = np.flatnonzero(np.r_[True, sentence_index[1:] != sentence_index[:-1]])
    run_start = np.repeat(starts, np.diff(np.r_[starts, len(sentence_index)]))
    return offsets[sentence_index] + (np.arange(len(sentence_index)) - run_start)

"""The on-disk vector store: per layer a memory-mapped float32 ``.npy``, plus a metadata table.

The analyses that truly need vectors (RBF CKA, nearest-neighbour matching, K-means concepts) read them from
here; everything else streams moments. One store holds one extraction of one corpus (normally one
language) by one model with one set of options, in a folder named by a cache key over all of them, so
running the same extraction again reuses it::

    ROOT/<name>-<key16>/
        manifest.json      provenance: model identity, corpus checksum, options, the parts of the cache key,
                           layers, n, what extraction lost and why, versions, each file's size and sha256
        meta.parquet       one row per vector: language, sentence_id, sentence_index, word_index, form,
                           lemma, upos, feats
        layer_00.npy ...   (n_rows, d) float32, one file per hidden state
    ROOT/.<name>-<key16>.lock   the lock of that entry (see below)

The cache key (:func:`cache_key`) covers everything that changes a vector: the model's weights, tokenizer
and config (:attr:`~crossling.models.loading.LoadedModel.fingerprint`), the dtype it ran in, the device
type when the dtype is a 16-bit one (CPU and GPU kernels round differently there; in float32 they agree to
float rounding), every extraction option (level, pooling, layers, max_length as applied, prefix, stack,
decoder_shift, include_special, batch_size), the corpus checksum and :data:`STORE_FORMAT`.

Faults:

- Writes are atomic: the extraction fills ``<name>-<key16>.partial/`` shard by shard (each shard's rows are
  flushed before the shard is recorded as done in ``progress.json``, itself written atomically; the plan is
  written last when the folder is set up), and the folder is renamed to its final name only when complete.
  A killed extraction (SIGKILL, Ctrl-C) resumes from its completed shards.
- The layer files are allocated on disk in full before any row is written, so a disk too small fails at
  once with ``OSError(ENOSPC)`` (and the half-made folder is removed) instead of a crash in the middle.
- A store is checked before it is reused: every file's size and sha256 against the manifest
  (:meth:`VectorStore.verify`); a store that fails (a truncated or altered file, an unreadable manifest) is
  re-extracted with a warning, never read.
- Two processes extracting the same entry take turns on a lock file (:func:`crossling._utils.io.file_lock`):
  the second waits, then reuses what the first wrote. The kernel frees the lock of a killed process.

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
import sys
import time
import warnings
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from crossling._utils.io import apply_umask, atomic_path, atomic_write_text, file_lock
from crossling._utils.provenance import sha256_file
from crossling.data.corpus import corpus_checksum
from crossling.data.records import Sentence
from crossling.engine import Engine, LocalEngine, Shared
from crossling.exceptions import CrosslingWarning, StoreCorruptError
from crossling.extraction.extract import EncodedCorpus, ExtractionOptions, encode, iter_batches
from crossling.models.loading import LoadedModel

__all__ = ["VectorStore", "cache_key", "cache_key_parts", "extract_to_store", "extract_to_stores", "STORE_FORMAT"]

STORE_FORMAT = 2
"""Version of the store layout and of what a row means; part of every cache key, so stores of another
layout are never reused (2: a word cut by truncation is dropped, files carry checksums)."""

_HALF_DTYPES = ("float16", "bfloat16")


def cache_key_parts(lm: LoadedModel, checksum: str, options: ExtractionOptions, *,
                    sources_checksum: str | None = None) -> dict[str, Any]:
    """Everything an extraction's vectors depend on, as recorded in a store's manifest and hashed into its key.

    Parameters
    ----------
    lm : LoadedModel
        The model: its fingerprint (weights, tokenizer files, config content), tokenizer class and
        vocabulary size, the dtype it runs in, and its device type when that dtype is float16 or bfloat16.
    checksum : str
        The corpus checksum (:func:`~crossling.data.corpus.corpus_checksum`).
    options : ExtractionOptions
        The extraction options; ``layers`` and ``max_length`` enter as applied to this model (so the
        default and the explicit full list of layers, or no limit and the model's own, give one key).
    sources_checksum : str, optional
        Checksum of the texts a source-conditioned decoder's encoder read; a ``sources`` part when given.

    Returns
    -------
    dict
        ``format, model, tokenizer, dtype, device, corpus, options`` (and ``sources``); ``device`` is None in
        float32 (CPU and GPU agree there to float rounding).
    """
    identity = lm.identity()
    dtype = identity["dtype"]
    parts = {
        "format": STORE_FORMAT,
        "model": identity["fingerprint"],
        "tokenizer": [identity["tokenizer"], identity["vocab_size"]],
        "dtype": dtype,
        "device": lm.device.type if dtype in _HALF_DTYPES else None,
        "corpus": checksum,
        "options": options.applied(lm).as_dict(),
    }
    if sources_checksum is not None:
        parts["sources"] = sources_checksum
    return parts


def cache_key(lm: LoadedModel, checksum: str, options: ExtractionOptions, *,
              sources_checksum: str | None = None) -> str:
    """The key of an extraction: SHA-256 of :func:`cache_key_parts`.

    Two extractions with the same key would write the same vectors, so a store is reused by key.

    Parameters
    ----------
    lm : LoadedModel
        The model (see :func:`cache_key_parts`).
    checksum : str
        The corpus checksum (:func:`~crossling.data.corpus.corpus_checksum`).
    options : ExtractionOptions
        The extraction options.
    sources_checksum : str, optional
        Checksum of the texts a source-conditioned decoder's encoder read (enters the key when given).

    Returns
    -------
    str
        SHA-256 (64 hexadecimal characters) of the sorted JSON of :func:`cache_key_parts`.
    """
    return _hash(cache_key_parts(lm, checksum, options, sources_checksum=sources_checksum))


def _hash(parts: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


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
    StoreCorruptError
        If ``manifest.json`` cannot be read (cut short, not JSON).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        manifest = self.path / "manifest.json"
        if not manifest.is_file():
            raise FileNotFoundError(f"{self.path} is not a complete vector store (no manifest.json)")
        try:
            self.manifest: dict = json.loads(manifest.read_text(encoding="utf-8"))
            if not isinstance(self.manifest, dict):
                raise ValueError("not a JSON object")
        except ValueError as error:
            raise StoreCorruptError(f"{manifest} is not a readable store manifest ({error}); remove {self.path} "
                                    "and extract again") from None

    def verify(self, *, checksums: bool = True) -> None:
        """Check every file of the store against its manifest: present, of the recorded size and sha256.

        Parameters
        ----------
        checksums : bool, default True
            Also hash every file (reads the whole store; about 0.7 GB/s); False checks sizes only, which
            catches a truncated or extended file but not bytes changed in place.

        Raises
        ------
        StoreCorruptError
            Naming the first file that is missing, of another size, or whose sha256 differs; or when the
            manifest lists no files (a store of format 1, written before files had checksums).
        """
        files = self.manifest.get("files")
        if not isinstance(files, dict) or not files:
            raise StoreCorruptError(f"vector store {self.path} lists no files with their checksums (format "
                                    f"{self.manifest.get('format')}, this version writes {STORE_FORMAT})")
        for name, expected in files.items():
            path = self.path / name
            if not path.is_file():
                raise StoreCorruptError(f"vector store {self.path}: {name} is missing")
            size = path.stat().st_size
            if size != expected["bytes"]:
                raise StoreCorruptError(f"vector store {self.path}: {name} has {size} bytes, the manifest says "
                                        f"{expected['bytes']}")
            if checksums and sha256_file(path) != expected["sha256"]:
                raise StoreCorruptError(f"vector store {self.path}: {name} does not match its sha256 in the manifest")

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
        StoreCorruptError
            If the file is not the (n_rows, d) float32 array the manifest describes (cut short, replaced).
        """
        if layer not in self.layers:
            raise KeyError(f"layer {layer} is not in this store (layers {self.layers})")
        path = self.path / _layer_file(layer)
        try:
            vectors = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as error:
            raise StoreCorruptError(f"vector store {self.path}: {path.name} cannot be read ({error}); remove the "
                                    "store and extract again") from None
        if vectors.shape != (self.n_rows, self.dim) or vectors.dtype != np.float32:
            raise StoreCorruptError(f"vector store {self.path}: {path.name} holds {vectors.dtype} {vectors.shape}, "
                                    f"the manifest says float32 ({self.n_rows}, {self.dim})")
        return vectors

    def __repr__(self) -> str:
        return f"VectorStore({self.path.name}: {self.n_rows} x {self.dim}, layers {self.layers[0]}..{self.layers[-1]})"


def _layer_file(layer: int) -> str:
    return f"layer_{layer:02d}.npy"


def _text(sentence: Sentence) -> str:
    return sentence.text if sentence.text is not None else " ".join(sentence.forms)


def _meta_table(sentences: Sequence[Sentence], encoded: EncodedCorpus, level: str) -> pd.DataFrame:
    rows = []
    for i, (s, item) in enumerate(zip(sentences, encoded.items)):
        if level == "sentence":
            rows.append((s.lang, s.sent_id, i, -1, _text(s), "", "", ""))
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
        Show a progress bar of the sentences (and a line when waiting for another process's extraction).
    sources : sequence of Sentence, optional
        Decoder stack of an encoder-decoder model: the sentence the encoder reads for each of
        ``sentences`` (e.g. its translation in the source language), so the decoder states are
        source-conditioned; their checksum enters the cache key.
    engine : Engine, optional
        Where the forward passes run (:func:`extract_to_stores`); default this process.

    Returns
    -------
    VectorStore
        The completed store: the cached one when a store with the same key exists and passes
        :meth:`VectorStore.verify`, else a new one (resuming the finished shards of an interrupted extraction
        with the same plan).

    Raises
    ------
    ValueError
        If ``sentences`` is empty, or (sentence level) a sentence has no tokens besides the special ones.
    ConfigError
        If a layer of ``options.layers`` is not a hidden state of the model.
    OSError
        If the disk cannot hold the store (``ENOSPC``, raised before any vector is computed, with nothing
        left behind) or another write fails.

    Warns
    -----
    CrosslingWarning
        When a cached store with the same key fails its check and is extracted again.
    DataLossWarning
        When inputs are truncated or words get no vector (see :func:`~crossling.extraction.extract.encode`).
    """
    stores = extract_to_stores(lm, {"store": sentences}, root, options, names={"store": name} if name else None,
                               sources=None if sources is None else {"store": sources}, shard_size=shard_size,
                               progress=progress, engine=engine)
    return stores["store"]


def extract_to_stores(
    lm: LoadedModel,
    corpora: Mapping[str, Sequence[Sentence]],
    root: str | os.PathLike,
    options: ExtractionOptions,
    *,
    names: Mapping[str, str] | None = None,
    sources: Mapping[str, Sequence[Sentence]] | None = None,
    shard_size: int = 256,
    progress: bool = True,
    engine: Engine | None = None,
) -> dict[str, VectorStore]:
    """Extract several corpora (one store each) in one stage: every unfinished shard of all of them is a task.

    Each store is reused, extracted or resumed as :func:`extract_to_store` says (same cache key, lock, check
    before reuse, partial folder, manifest). The driver takes the lock of every store entry it extracts (in
    the order of their folder names, so two runs never wait for each other in a cycle), tokenises each corpus,
    sets up (or resumes) its partial folder and writes every shard's vectors into it as the shard comes back,
    recording it as done; it releases an entry's lock once its store is complete. The engine runs the forward
    passes: the local engine here with ``lm``; a Ray engine on a pool of model actors, each loading the model
    once (:meth:`~crossling.models.loading.LoadedModel.reloader`: the same settings, and no other weights than
    ``lm``'s). A shard's batches are the same whoever runs it, so the store is the same bit for bit (with as
    many torch threads), and the partial folder's layout is the same, so a run resumes whichever engine wrote
    the shards before.

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
    sources : mapping of str to sequence of Sentence, optional
        By key: what a source-conditioned decoder's encoder reads for each sentence (see
        :func:`extract_to_store`); keys without an entry extract without sources.
    shard_size : int, default 256
        Sentences per shard: the unit of work of a task and of resumption. A shard's vectors are held in
        memory once (layers x rows x hidden size, float32).
    progress : bool, default True
        One progress display of the sentences extracted by this call (and a line per entry when waiting for
        another process's extraction of it).
    engine : Engine, optional
        Default: the local engine.

    Returns
    -------
    dict of str to VectorStore
        By the keys of ``corpora``, in their order (two keys with the same sentences and sources share a store).

    Raises
    ------
    ValueError
        If a corpus is empty, or (sentence level) a sentence has no tokens besides the special ones.
    ConfigError
        If a layer of ``options.layers`` is not a hidden state of the model.
    OSError
        If the disk cannot hold a store (``ENOSPC``, raised before any vector is computed) or another write
        fails.

    Warns
    -----
    CrosslingWarning
        When a cached store fails its check and is extracted again.
    DataLossWarning
        When inputs are truncated or words get no vector (see :func:`~crossling.extraction.extract.encode`).
    """
    engine = engine if engine is not None else LocalEngine()
    root = Path(root)
    names, sources = names or {}, sources or {}
    folders: dict[str, Path] = {}
    entries: dict[Path, _Entry] = {}
    for name, sentences in corpora.items():
        if not sentences:
            raise ValueError(f"no sentences to extract ({name})")
        entry = _Entry.of(lm, sentences, sources.get(name), options)
        folders[name] = root / f"{names.get(name) or _default_name(sentences)}-{entry.key[:16]}"
        entries.setdefault(folders[name], entry)
    stores: dict[Path, VectorStore] = {}
    with ExitStack() as held:
        plans: dict[Path, _Plan] = {}
        for final in sorted(entries):
            lock = held.enter_context(ExitStack())  # closed as soon as the entry's store is complete
            lock.enter_context(file_lock(root / f".{final.name}.lock", waiting=_waiting_line(final, progress)))
            store = _reusable(final, entries[final].key)
            if store is not None:
                stores[final] = store
                lock.close()
            else:
                plans[final] = _Plan(lm, entries[final], final, options, shard_size, lock)
        _run_shards(lm, [plans[final] for final in entries if final in plans], options, engine, progress, stores)
    return {name: stores[folder] for name, folder in folders.items()}


def _default_name(sentences: Sequence[Sentence]) -> str:
    return "-".join(sorted({s.lang for s in sentences}))


def _waiting_line(final: Path, progress: bool) -> Callable[[], None]:
    def waiting() -> None:
        if progress:
            print(f"waiting for another process extracting {final} ...", file=sys.stderr, flush=True)

    return waiting


def _reusable(final: Path, key: str) -> VectorStore | None:
    """The store at ``final`` if it is complete, has ``key`` and passes its check; a failing one is removed."""
    if not final.exists():
        return None
    try:
        store = VectorStore(final)
        if store.manifest["key"] != key:
            raise StoreCorruptError(f"vector store {final} has key {store.manifest['key']}, not {key}")
        store.verify()
        return store
    except (FileNotFoundError, StoreCorruptError) as error:
        warnings.warn(f"{error}; extracting it again", CrosslingWarning, stacklevel=3)
    aside = final.with_name(f".{final.name}.corrupt-{os.getpid()}")
    os.replace(final, aside)
    shutil.rmtree(aside, ignore_errors=True)
    return None


@dataclass(frozen=True)
class _Entry:
    """One store entry: its sentences (and decoder sources), the parts of its cache key and the key."""

    sentences: Sequence[Sentence]
    sources: Sequence[Sentence] | None
    parts: dict[str, Any]
    key: str

    @classmethod
    def of(cls, lm: LoadedModel, sentences: Sequence[Sentence], sources: Sequence[Sentence] | None,
           options: ExtractionOptions) -> _Entry:
        parts = cache_key_parts(lm, corpus_checksum(sentences), options,
                                sources_checksum=None if sources is None else corpus_checksum(sources))
        return cls(sentences, sources, parts, _hash(parts))


def _run_shards(lm: LoadedModel, plans: list[_Plan], options: ExtractionOptions, engine: Engine, progress: bool,
                stores: dict[Path, VectorStore]) -> None:
    """Every unfinished shard of ``plans`` as one engine stage; each store finished (into ``stores``) when complete."""
    tasks, owners = [], []
    for plan in plans:
        shared = engine.share(plan.encoded) if plan.todo else None
        for shard in plan.todo:
            start, stop = plan.bounds(shard)
            tasks.append(_ShardTask(shared, options, start, stop, plan.offsets[start:stop + 1]))
            owners.append((plan, shard))
    if tasks:
        shown = [plan.name for plan in plans if plan.todo]
        desc = "extracting " + (", ".join(shown) if len(shown) <= 3 else f"{len(shown)} stores")
        for index, vectors in engine.imap_with(
                lm.reloader(), _extract_shard, tasks, state=lm, gpu=lm.device.type == "cuda", desc=desc,
                unit="sentence", progress=progress, weights=[task.stop - task.start for task in tasks]):
            plan, shard = owners[index]
            plan.write(shard, vectors)
            if not plan.todo:
                stores[plan.final] = plan.finish()
    for plan in plans:  # every shard was done before this call, the folder not yet renamed
        if plan.final not in stores:
            stores[plan.final] = plan.finish()


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
    """A store being extracted under its entry's lock: the partial folder, its open layer files, shards to do.

    Set up (or resumed) on creation: the corpus is tokenised, and the partial folder of the same plan is
    reopened, or a new one is set up (a damaged one is replaced). Only the driver writes it.
    """

    def __init__(self, lm: LoadedModel, entry: _Entry, final: Path, options: ExtractionOptions, shard_size: int,
                 lock: ExitStack):
        self.started = time.time()
        self.entry, self.final, self.options, self.shard_size, self.lock = entry, final, options, shard_size, lock
        self.name, self.identity, self.dim = final.name.rsplit("-", 1)[0], lm.identity(), lm.hidden_size
        sentences, sources = entry.sentences, entry.sources
        inputs = [s.forms for s in sentences] if options.level == "word" else [_text(s) for s in sentences]
        self.encoded = encode(lm, inputs, options,
                              sources=None if sources is None else [s.text if s.text is not None else s.forms
                                                                    for s in sources])
        self.offsets = np.concatenate([[0], np.cumsum(self.encoded.rows_per_item(options.level))])
        self.partial = final.with_name(final.name + ".partial")
        plan = {"key": entry.key, "n_rows": int(self.offsets[-1]), "dim": self.dim,
                "layers": list(self.encoded.layers), "shard_size": shard_size}
        files = _open_partial(self.partial, plan)
        if files is None:
            _new_partial(self.partial, plan, _meta_table(sentences, self.encoded, options.level))
            files = _open_partial(self.partial, plan)
            assert files is not None
        self.files: dict[int, np.memmap] | None = files
        self.done = set(json.loads((self.partial / "progress.json").read_text())["done"])
        n_shards = (len(sentences) + shard_size - 1) // shard_size
        self.todo = [k for k in range(n_shards) if k not in self.done]

    def bounds(self, shard: int) -> tuple[int, int]:
        """Inputs ``start..stop-1`` of ``shard``."""
        return shard * self.shard_size, min((shard + 1) * self.shard_size, len(self.entry.sentences))

    def write(self, shard: int, vectors: np.ndarray) -> None:
        """Put a shard's rows into the layer files, flush them, then record the shard as done."""
        assert self.files is not None
        start, stop = self.bounds(shard)
        rows = slice(int(self.offsets[start]), int(self.offsets[stop]))
        for j, layer in enumerate(self.encoded.layers):
            self.files[layer][rows] = vectors[j]
            self.files[layer].flush()
        self.done.add(shard)
        self.todo.remove(shard)
        atomic_write_text(self.partial / "progress.json", json.dumps({"done": sorted(self.done)}))

    def finish(self) -> VectorStore:
        """Write the manifest (with every file's sha256), give the folder its final name, release the lock."""
        self.files = None
        sentences, parts, stats, partial = self.entry.sentences, self.entry.parts, self.encoded.stats, self.partial
        manifest = {
            "format": STORE_FORMAT,
            "key": self.entry.key,
            "key_parts": parts,
            "name": self.name,
            "model": self.identity,
            "options": self.options.as_dict(),
            "corpus_checksum": parts["corpus"],
            "sources_checksum": parts.get("sources"),
            "languages": sorted({s.lang for s in sentences}),
            "n_sentences": len(sentences),
            "n_rows": int(self.offsets[-1]),
            "dim": self.dim,
            "layers": list(self.encoded.layers),
            "truncated_inputs": stats.n_truncated,
            "words_truncated": stats.n_words_truncated,
            "words_empty": stats.n_words_empty,
            "words_without_vector": stats.n_words_dropped,
            "max_length": parts["options"]["max_length"],
            "seconds": round(time.time() - self.started, 3),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "python": platform.python_version(),
            "numpy": np.__version__,
        }
        for stale in partial.glob(".*.tmp"):  # temporary files of a killed write: never part of a store
            stale.unlink(missing_ok=True)
        names = ["meta.parquet", *(_layer_file(layer) for layer in self.encoded.layers)]
        manifest["files"] = {name: {"bytes": (partial / name).stat().st_size, "sha256": sha256_file(partial / name)}
                             for name in names}
        atomic_write_text(partial / "manifest.json", json.dumps(manifest, indent=1, ensure_ascii=False))
        apply_umask(partial)
        os.replace(partial, self.final)
        for done_with in ("plan.json", "progress.json"):  # resumption records; a store is its manifest's files
            (self.final / done_with).unlink(missing_ok=True)
        self.lock.close()
        return VectorStore(self.final)


def _open_partial(partial: Path, plan: dict[str, Any]) -> dict[int, np.memmap] | None:
    """The writable layer files of an interrupted extraction with this plan, or None (none, another, damaged)."""
    try:
        if json.loads((partial / "plan.json").read_text()) != plan:
            return None
        json.loads((partial / "progress.json").read_text())["done"]
        files = {layer: np.load(partial / _layer_file(layer), mmap_mode="r+", allow_pickle=False)
                 for layer in plan["layers"]}
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if any(mm.shape != (plan["n_rows"], plan["dim"]) or mm.dtype != np.float32 for mm in files.values()):
        return None
    return files


def _new_partial(partial: Path, plan: dict[str, Any], meta: pd.DataFrame) -> None:
    """Set up an empty partial store; ``plan.json``, written last, marks it as set up.

    The layer files are allocated in full (``posix_fallocate``), so a disk that cannot hold the store fails
    here, with the folder removed, rather than with a bus error when a memory-mapped row finds no block.
    """
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        with atomic_path(partial / "meta.parquet") as tmp:
            meta.to_parquet(tmp, index=False)
        for layer in plan["layers"]:
            path = partial / _layer_file(layer)
            np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(plan["n_rows"], plan["dim"])).flush()
            _allocate(path)
        atomic_write_text(partial / "progress.json", json.dumps({"done": []}))
        atomic_write_text(partial / "plan.json", json.dumps(plan))
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


def _allocate(path: Path) -> None:
    """Reserve the disk blocks of a (sparse) file's whole length."""
    if not hasattr(os, "posix_fallocate"):  # macOS, Windows: the file stays sparse
        return
    fd = os.open(path, os.O_RDWR)
    try:
        os.posix_fallocate(fd, 0, os.fstat(fd).st_size)
    finally:
        os.close(fd)


def _target_rows(sentence_index: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Row of each batch row in the store: its sentence's offset plus its rank within the sentence.

    A batch lists each sentence's rows together and in word order (word ids grow along the tokens).
    """
    starts = np.flatnonzero(np.r_[True, sentence_index[1:] != sentence_index[:-1]])
    run_start = np.repeat(starts, np.diff(np.r_[starts, len(sentence_index)]))
    return offsets[sentence_index] + (np.arange(len(sentence_index)) - run_start)

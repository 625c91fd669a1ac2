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
from functools import cached_property
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from crossling._utils.io import apply_umask, atomic_path, atomic_write_text, file_lock
from crossling._utils.progress import progress_bar
from crossling._utils.provenance import sha256_file
from crossling.data.corpus import corpus_checksum
from crossling.data.records import Sentence
from crossling.exceptions import CrosslingWarning, StoreCorruptError
from crossling.extraction.extract import EncodedCorpus, ExtractionOptions, encode, iter_batches
from crossling.models.loading import LoadedModel

__all__ = ["VectorStore", "cache_key", "cache_key_parts", "extract_to_store", "STORE_FORMAT"]

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
        Show a progress bar of the sentences (and a line when waiting for another process's extraction).
    sources : sequence of Sentence, optional
        Decoder stack of an encoder-decoder model: the sentence the encoder reads for each of
        ``sentences`` (e.g. its translation in the source language), so the decoder states are
        source-conditioned; their checksum enters the cache key.

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
    if not sentences:
        raise ValueError("no sentences to extract")
    root = Path(root)
    checksum = corpus_checksum(sentences)
    sources_checksum = None if sources is None else corpus_checksum(sources)
    parts = cache_key_parts(lm, checksum, options, sources_checksum=sources_checksum)
    key = _hash(parts)
    name = name or "-".join(sorted({s.lang for s in sentences}))
    final = root / f"{name}-{key[:16]}"

    def waiting() -> None:
        if progress:
            print(f"waiting for another process extracting {final} ...", file=sys.stderr, flush=True)

    with file_lock(root / f".{final.name}.lock", waiting=waiting):
        store = _reusable(final, key)
        if store is not None:
            return store
        return _extract(lm, sentences, final, options, parts, key, shard_size=shard_size, progress=progress,
                        sources=sources)


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


def _extract(lm: LoadedModel, sentences: Sequence[Sentence], final: Path, options: ExtractionOptions,
             parts: dict[str, Any], key: str, *, shard_size: int, progress: bool,
             sources: Sequence[Sentence] | None) -> VectorStore:
    """Fill (or resume) ``<final>.partial`` shard by shard and rename it to ``final`` when complete."""
    started = time.time()
    inputs = [s.forms for s in sentences] if options.level == "word" else [
        s.text if s.text is not None else " ".join(s.forms) for s in sentences]
    encoded = encode(lm, inputs, options,
                     sources=None if sources is None else [s.text if s.text is not None else s.forms for s in sources])
    rows = encoded.rows_per_item(options.level)
    offsets = np.concatenate([[0], np.cumsum(rows)])
    n_rows, dim = int(offsets[-1]), lm.hidden_size
    partial = final.with_name(final.name + ".partial")
    plan = {"key": key, "n_rows": n_rows, "dim": dim, "layers": list(encoded.layers), "shard_size": shard_size}
    files = _open_partial(partial, plan)
    if files is None:
        _new_partial(partial, plan, _meta_table(sentences, encoded, options.level))
        files = _open_partial(partial, plan)
        assert files is not None
    done = set(json.loads((partial / "progress.json").read_text())["done"])
    n_shards = (len(sentences) + shard_size - 1) // shard_size
    todo = [k for k in range(n_shards) if k not in done]
    bar = progress_bar(len(sentences), f"extracting {final.name.rsplit('-', 1)[0]}", "sentence", enabled=progress,
                       initial=len(sentences) - sum(min(shard_size, len(sentences) - k * shard_size) for k in todo))
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
    stats = encoded.stats
    manifest = {
        "format": STORE_FORMAT,
        "key": key,
        "key_parts": parts,
        "name": final.name.rsplit("-", 1)[0],
        "model": lm.identity(),
        "options": options.as_dict(),
        "corpus_checksum": parts["corpus"],
        "sources_checksum": parts.get("sources"),
        "languages": sorted({s.lang for s in sentences}),
        "n_sentences": len(sentences),
        "n_rows": n_rows,
        "dim": dim,
        "layers": list(encoded.layers),
        "truncated_inputs": stats.n_truncated,
        "words_truncated": stats.n_words_truncated,
        "words_empty": stats.n_words_empty,
        "words_without_vector": stats.n_words_dropped,
        "max_length": parts["options"]["max_length"],
        "seconds": round(time.time() - started, 3),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "python": platform.python_version(),
        "numpy": np.__version__,
    }
    for stale in partial.glob(".*.tmp"):  # temporary files of a killed write: never part of a store
        stale.unlink(missing_ok=True)
    names = ["meta.parquet", *(_layer_file(layer) for layer in encoded.layers)]
    manifest["files"] = {name: {"bytes": (partial / name).stat().st_size, "sha256": sha256_file(partial / name)}
                         for name in names}
    atomic_write_text(partial / "manifest.json", json.dumps(manifest, indent=1, ensure_ascii=False))
    apply_umask(partial)
    os.replace(partial, final)
    for done_with in ("plan.json", "progress.json"):  # resumption records; a store is its manifest's files
        (final / done_with).unlink(missing_ok=True)
    return VectorStore(final)


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

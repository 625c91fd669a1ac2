"""Word alignments cached by key, so a run is reproducible given its seed although eflomal takes no seed.

eflomal seeds its Gibbs samplers from ``/dev/urandom`` and has no option to do otherwise: two alignments of
the same corpus differ slightly, and so do the dictionaries and CALIGN. The concept study therefore treats
an alignment as a *replicate* named by a number (the seed of the run that uses it) and keeps it on disk
under a key over everything that determines it but the sampler's randomness:

    key = SHA-256 of {format, aligner and version, its settings, symmetrisation, replicate,
                      checksums of the source and of the target sentences}

The first run with a key aligns and stores the links; every later run with the same key reads them, so the
same command with the same ``--seed`` gives the same dictionaries, hence the same CALIGN. Deleting the cache
(or a new eflomal version) draws new replicates. The folder of a key appears whole or not at all (written
under a temporary name and renamed); a folder that cannot be read is aligned again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

import numpy as np

from crossling._utils.io import atomic_write_text
from crossling._utils.paths import crossling_home
from crossling.concepts.dictionary import WordAlignment, align_words

__all__ = ["CACHE_FORMAT", "alignment_key", "cached_alignment", "default_alignment_dir"]

CACHE_FORMAT = 1
"""Version of the cached layout; part of every key."""

_UNREADABLE = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile)  # what a damaged entry raises
_SETTINGS = {"model": 3, "n_samplers": 3, "rel_iterations": 1.0}  # align_words' defaults, which the study uses


def default_alignment_dir() -> Path:
    """Where alignments are cached unless told otherwise: ``crossling_home() / "alignments"``.

    Returns
    -------
    Path
        The folder (not created here).
    """
    return crossling_home() / "alignments"


def _sentences_checksum(sentences: Sequence[Sequence[str]]) -> str:
    digest = hashlib.sha256()
    for sentence in sentences:
        digest.update(json.dumps(list(map(str, sentence)), ensure_ascii=False).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def alignment_key(source: Sequence[Sequence[str]], target: Sequence[Sequence[str]], *, symmetrisation: str,
                  replicate: int) -> str:
    """The cache key of one alignment replicate of a tokenised parallel corpus.

    Parameters
    ----------
    source, target : sequence of sequence of str
        The sentences as token lists.
    symmetrisation : str
        How the two directions are merged.
    replicate : int
        Which draw of the aligner (the seed of the run that uses it).

    Returns
    -------
    str
        SHA-256 (64 hexadecimal characters) of the sorted JSON of the parts listed in the module docstring.
    """
    payload = {"format": CACHE_FORMAT, "aligner": f"eflomal {_eflomal_version()}", "settings": _SETTINGS,
               "symmetrisation": symmetrisation, "replicate": int(replicate),
               "source": _sentences_checksum(source), "target": _sentences_checksum(target)}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def cached_alignment(
    source: Sequence[Sequence[str]],
    target: Sequence[Sequence[str]],
    *,
    cache_dir: str | os.PathLike,
    replicate: int,
    symmetrisation: str = "grow-diag-final",
    name: str = "alignment",
) -> tuple[WordAlignment, bool]:
    """The alignment replicate ``replicate`` of a parallel corpus: read from the cache, or aligned and stored.

    Parameters
    ----------
    source, target : sequence of sequence of str
        Parallel sentences as token lists (see :func:`~crossling.concepts.dictionary.align_words`).
    cache_dir : path-like
        Folder of the cache; the replicate goes to ``cache_dir/<name>-<key16>/``.
    replicate : int
        Which draw (see the module docstring).
    symmetrisation : {"grow-diag-final", "intersection"}, default "grow-diag-final"
    name : str, default "alignment"
        Readable part of the folder name (e.g. ``en-de``).

    Returns
    -------
    alignment : WordAlignment
        Its ``params`` also hold ``replicate`` and ``cache_key``.
    reused : bool
        Whether it was read from the cache.

    Raises
    ------
    ValueError, ImportError, RuntimeError
        As :func:`~crossling.concepts.dictionary.align_words`, when the replicate is not cached yet.
    """
    key = alignment_key(source, target, symmetrisation=symmetrisation, replicate=replicate)
    folder = Path(cache_dir) / f"{name}-{key[:16]}"
    src = tuple(tuple(map(str, s)) for s in source)
    tgt = tuple(tuple(map(str, t)) for t in target)
    cached = _read(folder, key, src, tgt)
    if cached is not None:
        return cached, True
    alignment = align_words(src, tgt, symmetrisation=symmetrisation)
    alignment = WordAlignment(alignment.source, alignment.target, alignment.links, alignment.symmetrisation,
                              alignment.aligner, {**alignment.params, "replicate": int(replicate), "cache_key": key})
    _write(folder, key, alignment)
    return alignment, False


def _write(folder: Path, key: str, alignment: WordAlignment) -> None:
    """Store the links under a temporary name, then rename: the folder appears whole or not at all."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        offsets = np.cumsum([0, *(len(links) for links in alignment.links)]).astype(np.int64)
        links = np.concatenate([*alignment.links, np.zeros((0, 2), dtype=np.int64)]).astype(np.int64)
        with open(tmp / "links.npz", "wb") as handle:
            np.savez(handle, links=links, offsets=offsets)
        record = {"key": key, "format": CACHE_FORMAT, "symmetrisation": alignment.symmetrisation,
                  "aligner": alignment.aligner, "params": alignment.params, "n_pairs": len(alignment.links)}
        atomic_write_text(tmp / "alignment.json", json.dumps(record, indent=1, sort_keys=True))
        try:
            os.replace(tmp, folder)
        except OSError:
            if _complete(folder, key):  # another process stored the same replicate first
                return
            shutil.rmtree(folder)  # an unreadable folder under this name: replace it
            os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _complete(folder: Path, key: str) -> bool:
    """Whether ``folder`` holds this key's record and links that load."""
    try:
        record = json.loads((folder / "alignment.json").read_text(encoding="utf-8"))
        with np.load(folder / "links.npz", allow_pickle=False) as data:
            _ = (data["links"], data["offsets"])
    except _UNREADABLE:
        return False
    return record.get("key") == key


def _read(folder: Path, key: str, source: tuple, target: tuple) -> WordAlignment | None:
    """The cached alignment, or None when the folder is absent or does not hold this key's alignment."""
    try:
        record = json.loads((folder / "alignment.json").read_text(encoding="utf-8"))
        with np.load(folder / "links.npz", allow_pickle=False) as data:
            links, offsets = data["links"], data["offsets"]
    except _UNREADABLE:
        return None
    if record.get("key") != key or record.get("n_pairs") != len(source) or offsets.shape != (len(source) + 1,):
        return None
    per_pair = tuple(links[offsets[i]:offsets[i + 1]] for i in range(len(source)))
    for (s, t, pair) in zip(source, target, per_pair):
        if pair.size and (pair[:, 0].max() >= len(s) or pair[:, 1].max() >= len(t)):
            return None
    return WordAlignment(source, target, per_pair, record["symmetrisation"], record["aligner"], record["params"])


def _eflomal_version() -> str:
    try:
        return metadata.version("eflomal")
    except metadata.PackageNotFoundError:
        return "not installed"

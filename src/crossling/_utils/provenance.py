"""One provenance record for every command: what made the numbers, in ``manifest.json``.

Every command writes a manifest with the same top-level keys (:data:`MANIFEST_KEYS`), so a reader (or the
report) finds the same thing in the same place whichever study wrote it:

==============  ==========================================================================================
``schema``      version of this layout (:data:`SCHEMA`)
``study``       the analysis and its source (e.g. "cross-lingual similarity (Del and Fishel 2022)")
``command``     the command that wrote it (``crossling similarity``)
``created``     local time, ISO 8601
``config``      the resolved configuration (every option, defaults included)
``models``      role -> model identity (name, origin, revision or weight fingerprint, sizes, dtype)
``corpus``      spec, readable name, split, limit, languages, sentences and checksum per language
``extraction``  the extraction options (level, pooling, layers, prefix, max_length, ...)
``stores``      the vector stores read, with their cache keys and what extraction lost (truncation)
``seeds``       every seed used, by what it seeded
``skipped``     every item left out, with its reason and count
``diagnostics`` convergence and degeneracy records of the fits and indices
``engine``      where it ran (local, threads)
``seconds``     wall time per stage and in total
``versions``    Python and the libraries that computed
==============  ==========================================================================================

A key a command has nothing for holds an empty mapping or list, never a missing key. Beside these, a study
adds its own top-level keys (what it computed: ``pairs``, ``layers``, ``indices``, ``parafac2`` ...), named
in its ``run.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from crossling._utils.io import atomic_write_text

__all__ = ["MANIFEST_KEYS", "PACKAGES", "SCHEMA", "Provenance", "json_default", "sha256_file", "versions",
           "write_json"]

SCHEMA = 1
MANIFEST_KEYS = ("schema", "study", "command", "created", "config", "models", "corpus", "extraction", "stores",
                 "seeds", "skipped", "diagnostics", "engine", "seconds", "versions")

#: The distributions whose versions every manifest records (those a number of crossling can depend on).
PACKAGES = ("crossling", "numpy", "scipy", "pandas", "pyarrow", "torch", "transformers", "tokenizers",
            "safetensors", "scikit-learn", "faiss-cpu", "eflomal", "pymannkendall", "matplotlib", "threadpoolctl")


def versions() -> dict[str, str]:
    """Python's version and every package of :data:`PACKAGES` ("not installed" when absent).

    Returns
    -------
    dict of str to str
    """
    found = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    if found["crossling"] == "not installed":  # running from a source tree
        import crossling

        found["crossling"] = crossling.__version__
    return found


def sha256_file(path: str | os.PathLike, *, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes, read in chunks.

    Parameters
    ----------
    path : path-like
    chunk_size : int, default 1 MiB

    Returns
    -------
    str
        64 hex digits.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk_size), b""):
            digest.update(block)
    return digest.hexdigest()


def json_default(value: Any) -> Any:
    """Turn what ``json.dumps`` cannot write into what it can: numpy scalars and arrays, paths, sets.

    Parameters
    ----------
    value : object

    Returns
    -------
    object
        A JSON-serialisable equivalent (``str(value)`` for anything else).
    """
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    return str(value)


def write_json(path: str | os.PathLike, data: Any) -> Path:
    """Write ``data`` as indented UTF-8 JSON, atomically.

    Parameters
    ----------
    path : path-like
    data : object
        Anything :func:`json_default` can serialise.

    Returns
    -------
    Path
    """
    return atomic_write_text(path, json.dumps(data, indent=1, ensure_ascii=False, default=json_default))


class Provenance:
    """The manifest of one command, filled as the run goes and written at its end.

    Parameters
    ----------
    study : str
        The analysis and its source, e.g. ``"cross-lingual similarity (Del and Fishel 2022)"``.
    command : str
        The command, e.g. ``"crossling similarity"``.
    config : mapping
        The resolved configuration (``RunConfig.model_dump(mode="json")``).

    Attributes
    ----------
    record : dict
        The manifest so far, with every key of :data:`MANIFEST_KEYS`.

    Examples
    --------
    >>> p = Provenance("a study", "crossling x", {"k": 3})
    >>> with p.stage("work"):
    ...     pass
    >>> sorted(p.record["seconds"])
    ['work']
    """

    def __init__(self, study: str, command: str, config: Mapping[str, Any]):
        self._started = time.perf_counter()
        self.record: dict[str, Any] = {
            "schema": SCHEMA, "study": study, "command": command, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "config": dict(config), "models": {}, "corpus": {}, "extraction": {}, "stores": {}, "seeds": {},
            "skipped": [], "diagnostics": {}, "engine": {"name": "local", "cpus": os.cpu_count()}, "seconds": {},
            "versions": versions(),
        }

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time a stage of the run into ``record["seconds"][name]`` (added up when a stage repeats).

        Parameters
        ----------
        name : str

        Yields
        ------
        None
        """
        tic = time.perf_counter()
        try:
            yield
        finally:
            seconds = self.record["seconds"]
            seconds[name] = round(seconds.get(name, 0.0) + time.perf_counter() - tic, 3)

    def skip(self, what: str, reason: str, count: int = 1, **keys: Any) -> None:
        """Count items left out: ``what`` (e.g. "language"), why, how many, and what identifies them.

        Parameters
        ----------
        what : str
        reason : str
        count : int, default 1
        **keys
            Identifying fields (``language="ja"``, ``category="Case"``).
        """
        self.record["skipped"].append({"what": what, **keys, "count": int(count), "reason": reason})

    def write(self, out_dir: str | os.PathLike) -> Path:
        """Close the record (total seconds) and write ``out_dir/manifest.json`` atomically.

        Parameters
        ----------
        out_dir : path-like

        Returns
        -------
        Path
            The manifest's path.
        """
        self.record["seconds"]["total"] = round(time.perf_counter() - self._started, 3)
        return write_json(Path(out_dir) / "manifest.json", self.record)

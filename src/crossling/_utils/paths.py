"""Where crossling keeps what outlives a run: imported models, fetched corpora, vector stores."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["crossling_home", "default_store_dir"]


def crossling_home() -> Path:
    """The cache root: ``$CROSSLING_HOME`` when set, else ``~/.cache/crossling``.

    Returns
    -------
    Path
        The folder (not created here).
    """
    root = os.environ.get("CROSSLING_HOME")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "crossling"


def default_store_dir() -> Path:
    """The vector stores every run shares unless told otherwise: ``crossling_home() / "stores"``.

    A store's folder name is a cache key over the model, the corpus and the extraction options, so runs
    with different ``--out`` folders reuse each other's extractions.

    Returns
    -------
    Path
        The folder (not created here).
    """
    return crossling_home() / "stores"

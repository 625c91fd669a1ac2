"""Labels every study writes the same way: language pairs and sets, and model names."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["model_label", "pair_label"]


def pair_label(*languages: str) -> str:
    """The one label of a language pair, a direction or a set: the codes joined by ``-`` (``en-de``).

    For a direction the source comes first; for a set the languages come in the order given.

    Parameters
    ----------
    *languages : str

    Returns
    -------
    str
    """
    return "-".join(languages)


def model_label(identity: Mapping[str, Any]) -> str:
    """A readable model name for titles and tables: a local model's folder name, else the hub id.

    Parameters
    ----------
    identity : mapping
        A model identity (:meth:`crossling.models.loading.LoadedModel.identity`).

    Returns
    -------
    str
    """
    name = str(identity.get("model", "the model"))
    return Path(name).name if Path(name).exists() else name

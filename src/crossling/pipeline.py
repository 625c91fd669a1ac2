"""What every study's run shares: its result type and how its output folder is written.

A study's ``run_<study>(config)`` reads corpora and models, calls its ``compute_<study>`` and hands the
result to :func:`write_run`, which writes everything into a staging folder that replaces ``config.out``
whole at the end (:func:`crossling._utils.io.staged_folder`): a failed run leaves nothing behind, and a
re-run leaves no stale file of the previous one. The run returns a :class:`RunResult`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

from crossling._utils.io import staged_folder
from crossling._utils.provenance import Provenance
from crossling.config import RunConfig

__all__ = ["RunResult", "write_run"]

R = TypeVar("R")


@dataclass(frozen=True)
class RunResult(Generic[R]):
    """What ``run_<study>`` computed and wrote.

    Attributes
    ----------
    result : object
        The study's result (``SimilarityResult``, ``ConceptsResult``, ``FactorizationResult``).
    manifest : dict
        The provenance written to ``manifest.json``.
    out : Path
        The result folder.
    files : list of Path
        Every file written (configuration, tables, figures, manifest, report section).
    """

    result: R
    manifest: dict
    out: Path
    files: list[Path] = field(default_factory=list)


def write_run(out: str | Path, config: RunConfig, provenance: Provenance,
              write: Callable[[Path], list[Path]]) -> list[Path]:
    """Write a run's folder: ``config.yaml``, what ``write`` writes, then ``manifest.json``, all or nothing.

    Parameters
    ----------
    out : path
        The result folder (replaced whole when everything was written).
    config : RunConfig
        Written as ``config.yaml``.
    provenance : Provenance
        Written as ``manifest.json``, last.
    write : callable
        ``write(folder) -> files``: writes the study's tables, figures and report section into ``folder``.

    Returns
    -------
    list of Path
        Every file written, under ``out``.

    Raises
    ------
    ConfigError
        When ``out`` holds other files than a previous result (see :func:`~crossling._utils.io.staged_folder`).
    """
    out = Path(out)
    with staged_folder(out) as staging:
        files = [config.write(staging), *write(staging), provenance.write(staging)]
        relative = [path.relative_to(staging) for path in files]
    return [out / path for path in relative]


"""Atomic writes: results appear whole or not at all, so an interrupted run never leaves half a file."""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["atomic_path", "atomic_write_text", "staged_folder", "write_table"]


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``, on error removed.

    Parameters
    ----------
    path : path-like
        The final file; its folder is created.

    Yields
    ------
    Path
        The temporary file to write.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically.

    Parameters
    ----------
    path : path-like
    text : str

    Returns
    -------
    Path
    """
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_table(df: "pd.DataFrame", out_dir: str | os.PathLike, name: str) -> tuple[Path, Path]:
    """Write a tidy table as ``name.parquet`` and ``name.csv`` in ``out_dir``, atomically.

    Parameters
    ----------
    df : pandas.DataFrame
    out_dir : path-like
    name : str
        File name without suffix.

    Returns
    -------
    tuple of Path
        The parquet and the CSV file.
    """
    out_dir = Path(out_dir)
    parquet, csv = out_dir / f"{name}.parquet", out_dir / f"{name}.csv"
    with atomic_path(parquet) as tmp:
        df.to_parquet(tmp, index=False)
    with atomic_path(csv) as tmp:
        df.to_csv(tmp, index=False)
    return parquet, csv


def _is_result_folder(path: Path) -> bool:
    return (path / "manifest.json").is_file() or (path / "config.yaml").is_file()


@contextmanager
def staged_folder(out: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty staging folder that replaces ``out`` whole when the block succeeds.

    A command writes every result into the staging folder (``.<name>.partial-<pid>`` beside ``out``); on
    success ``out`` is swapped for it in two renames, so a re-run into the same folder leaves no stale file
    of the previous run, and on any error (or Ctrl-C) the staging folder is removed and ``out`` is left as
    it was, so a failed run leaves no half folder.

    Parameters
    ----------
    out : path-like
        The result folder. It may exist only as a previous result folder (one with a ``manifest.json`` or
        ``config.yaml``) or empty, so that a mistyped ``--out`` never replaces a folder of other files.

    Yields
    ------
    Path
        The staging folder.

    Raises
    ------
    ConfigError
        When ``out`` is a file, or a non-empty folder that is not a crossling result folder.
    """
    from crossling.exceptions import ConfigError

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file: give a folder for the results")
    if out.is_dir() and any(out.iterdir()) and not _is_result_folder(out):
        raise ConfigError(f"--out {out} holds other files and no crossling results: give a new or empty folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    if out.exists():
        os.replace(out, old)
    os.replace(staging, out)
    shutil.rmtree(old, ignore_errors=True)

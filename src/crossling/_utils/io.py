"""Atomic writes: results appear whole or not at all, so an interrupted run never leaves half a file."""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["atomic_path", "atomic_write_text", "write_table"]


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``, on error removed."""
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
    """Write ``text`` (UTF-8) to ``path`` atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_table(df: "pd.DataFrame", out_dir: str | os.PathLike, name: str) -> tuple[Path, Path]:
    """Write a tidy table as ``name.parquet`` and ``name.csv`` in ``out_dir``, atomically."""
    out_dir = Path(out_dir)
    parquet, csv = out_dir / f"{name}.parquet", out_dir / f"{name}.csv"
    with atomic_path(parquet) as tmp:
        df.to_parquet(tmp, index=False)
    with atomic_path(csv) as tmp:
        df.to_csv(tmp, index=False)
    return parquet, csv

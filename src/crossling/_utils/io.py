"""Atomic writes, locks and file modes: results appear whole or not at all, readable as the user's umask says.

- :func:`atomic_path`, :func:`atomic_write_text`, :func:`write_table`: a file is written under a temporary
  name beside its target, flushed to disk and renamed onto it, so an interrupted run (an error, Ctrl-C,
  SIGKILL, a full disk) never leaves half a file under the real name;
- :func:`staged_folder`: the same for a whole result folder;
- :func:`file_lock`: an exclusive lock on a lock file (``fcntl.flock``), so two processes filling the same
  cache entry take turns; the kernel releases it when its process dies, so a killed run leaves no stale lock;
- :func:`apply_umask`: the mode a file or folder would have had if created plainly (``0o666 & ~umask``,
  ``0o777 & ~umask`` for folders). Temporary files are made private (``tempfile.mkstemp``: 0600) and some
  writers (safetensors) create files 0600 too; every file crossling leaves is given the plain mode, so a
  result folder is readable by the user's group when their umask says so, like any other file they write.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["apply_umask", "atomic_path", "atomic_write_text", "file_lock", "staged_folder", "umask",
           "write_table"]


def umask() -> int:
    """The process's file-mode creation mask, read without changing it where the system allows.

    Linux reports it in ``/proc/self/status``; elsewhere it is read by setting it and setting it back (which
    another thread creating a file at that instant could notice).

    Returns
    -------
    int
        The mask, e.g. ``0o022``.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def apply_umask(path: str | os.PathLike) -> Path:
    """Give ``path`` (a file, or a folder and everything in it) the mode a plain creation would give.

    Files get ``0o666 & ~umask`` and folders ``0o777 & ~umask``; links are left alone.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    mask = umask()
    file_mode, dir_mode = 0o666 & ~mask, 0o777 & ~mask
    if path.is_symlink() or not path.is_dir():
        os.chmod(path, file_mode)
        return path
    os.chmod(path, dir_mode)
    for root, dirs, files in os.walk(path):
        for name in dirs:
            if not os.path.islink(os.path.join(root, name)):
                os.chmod(os.path.join(root, name), dir_mode)
        for name in files:
            if not os.path.islink(os.path.join(root, name)):
                os.chmod(os.path.join(root, name), file_mode)
    return path


def _fsync(path: Path) -> None:
    """Flush a file's bytes to the disk, so the rename that follows never exposes an empty file after a crash."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is flushed and renamed onto ``path``, on error removed.

    The final file has the plain mode of the user's umask (:func:`apply_umask`), whatever mode the writer
    created it with.

    Parameters
    ----------
    path : path-like
        The final file; its folder is created.

    Yields
    ------
    Path
        The temporary file to write (named ``.<name>.<random>.tmp``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        apply_umask(tmp_path)
        _fsync(tmp_path)
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


@contextmanager
def file_lock(path: str | os.PathLike, *, waiting: Callable[[], None] | None = None) -> Iterator[Path]:
    """Hold an exclusive lock on the file ``path`` (created if needed) for the block.

    The lock is ``fcntl.flock`` on an open descriptor: another process asking for it waits until the block
    ends, and the kernel releases it when the holder exits or is killed, so no stale lock survives a crash.
    The lock file itself is left in place (removing it would let a third process lock a new file while the
    second holds the old one).

    Parameters
    ----------
    path : path-like
        The lock file; its folder is created.
    waiting : callable, optional
        Called once when the lock is held by another process, before waiting for it (to say so).

    Yields
    ------
    Path
        ``path``.

    Notes
    -----
    On a system without ``fcntl`` (Windows) the block runs without a lock. Network file systems may not
    honour ``flock`` across machines.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield path
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if waiting is not None:
                waiting()
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield path
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _is_result_folder(path: Path) -> bool:
    return (path / "manifest.json").is_file() or (path / "config.yaml").is_file()


_STAGING = re.compile(r"\.(?:partial|old)-(\d+)$")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _remove_dead_staging(out: Path) -> None:
    """Remove the staging and old folders of ``out`` left by processes that died before cleaning up (SIGKILL)."""
    for path in out.parent.glob(f".{glob.escape(out.name)}.*-*"):
        match = _STAGING.search(path.name)
        if match and path.name[: match.start()] == f".{out.name}" and not _pid_alive(int(match.group(1))):
            shutil.rmtree(path, ignore_errors=True)


@contextmanager
def staged_folder(out: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty staging folder that replaces ``out`` whole when the block succeeds.

    A command writes every result into the staging folder (``.<name>.partial-<pid>`` beside ``out``); on
    success its files get the plain modes of the user's umask (:func:`apply_umask`) and ``out`` is swapped
    for it in two renames, so a re-run into the same folder leaves no stale file of the previous run, and on
    any error (or Ctrl-C) the staging folder is removed and ``out`` is left as it was, so a failed run leaves
    no half folder. Staging folders of ``out`` left by a process that no longer exists (killed with SIGKILL)
    are removed first.

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
    _remove_dead_staging(out)
    staging = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        yield staging
        apply_umask(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    if out.exists():
        os.replace(out, old)
    os.replace(staging, out)
    shutil.rmtree(old, ignore_errors=True)

"""Staged result folders (all or nothing, no stale files, never over a folder of other files), locks, modes."""

from __future__ import annotations

import fcntl
import os
import signal
import stat
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from safetensors.numpy import save_file

from crossling._utils.io import apply_umask, atomic_write_text, file_lock, staged_folder, umask, write_table
from crossling.exceptions import ConfigError


def test_a_rerun_replaces_the_folder_whole(tmp_path):
    out = tmp_path / "run"
    with staged_folder(out) as folder:
        (folder / "manifest.json").write_text("{}")
        (folder / "figures").mkdir()
        (folder / "figures" / "old.png").write_text("x")
    assert (out / "figures" / "old.png").is_file()
    with staged_folder(out) as folder:
        (folder / "manifest.json").write_text("{}")
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json"]  # no stale figure
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no staging or old folder left


def test_a_failed_run_leaves_the_previous_result_and_no_staging(tmp_path):
    out = tmp_path / "run"
    with staged_folder(out) as folder:
        (folder / "manifest.json").write_text("first")
    with pytest.raises(RuntimeError):
        with staged_folder(out) as folder:
            (folder / "manifest.json").write_text("second")
            raise RuntimeError("boom")
    assert (out / "manifest.json").read_text() == "first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    with pytest.raises(KeyboardInterrupt):
        with staged_folder(tmp_path / "new"):
            raise KeyboardInterrupt
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_a_folder_of_other_files_is_never_replaced(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="holds other files"):
        with staged_folder(tmp_path):
            pass
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="is a file"):
        with staged_folder(tmp_path / "file"):
            pass
    assert (tmp_path / "notes.txt").read_text() == "mine"


@pytest.fixture(params=[0o022, 0o002, 0o077])
def mask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def _modes(folder):
    return {str(p.relative_to(folder)): stat.S_IMODE(p.stat().st_mode) for p in [folder, *folder.rglob("*")]}


def test_files_get_the_modes_of_the_users_umask(tmp_path, mask):
    assert umask() == mask
    out = tmp_path / "run"
    with staged_folder(out) as folder:
        atomic_write_text(folder / "report.html", "<html></html>")
        write_table(pd.DataFrame({"a": [1]}), folder / "tables", "t")
        save_file({"w": np.zeros(2, dtype=np.float32)}, str(folder / "w.safetensors"))  # written 0600 by safetensors
    modes = _modes(out)
    assert modes.pop(".") == 0o777 & ~mask and modes.pop("tables") == 0o777 & ~mask
    assert modes == dict.fromkeys(["report.html", "tables/t.parquet", "tables/t.csv", "w.safetensors"], 0o666 & ~mask)
    private = tmp_path / "private"
    private.write_text("x")
    os.chmod(private, 0o600)
    assert stat.S_IMODE(apply_umask(private).stat().st_mode) == 0o666 & ~mask


def test_staging_left_by_a_killed_process_is_removed(tmp_path):
    out = tmp_path / "run"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)  # a process that has exited
    for name in (f".run.partial-{pid}", f".run.old-{pid}", f".run.partial-{os.getpid() + 10**7}x"):
        (tmp_path / name).mkdir()
    alive = tmp_path / f".run.partial-{os.getppid()}"  # a live process's staging is not touched
    alive.mkdir()
    with staged_folder(out) as folder:
        (folder / "manifest.json").write_text("{}")
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(["run", alive.name, f".run.partial-{os.getpid() + 10**7}x"])


_COUNTER = """
import sys
from pathlib import Path
from crossling._utils.io import file_lock
path = Path(sys.argv[1])
for _ in range(200):
    with file_lock(path.with_suffix(".lock")):
        value = int(path.read_text())
        path.write_text(str(value + 1))  # not atomic: only the lock keeps the two writers apart
"""


def test_a_file_lock_keeps_two_processes_apart(tmp_path):
    counter = tmp_path / "counter"
    counter.write_text("0")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    procs = [subprocess.Popen([sys.executable, "-c", _COUNTER, str(counter)], env=env) for _ in range(2)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    assert counter.read_text() == "400"


def test_a_lock_held_by_a_killed_process_is_free(tmp_path):
    lock = tmp_path / "x.lock"
    script = (f"import time\nfrom crossling._utils.io import file_lock\nwith file_lock({str(lock)!r}):\n"
              "    print('held', flush=True)\n    time.sleep(600)")
    holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert holder.stdout.readline().strip() == "held"
    fd = os.open(lock, os.O_RDWR)
    with pytest.raises(BlockingIOError):
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held by the other process
    os.close(fd)
    waited = []
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    with file_lock(lock, waiting=lambda: waited.append(1)):
        pass
    assert waited == []  # the kernel released it with the process

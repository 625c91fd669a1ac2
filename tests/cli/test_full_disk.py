"""A full disk during a run: one clear line, exit status 2, nothing half-written left, and the same command
run again after space is freed finishes.

The disk is a small tmpfs mounted for the test (it needs root and ``mount``; elsewhere the tests skip, saying
so). A vector store is allocated in full before any vector is computed, so a disk too small for it fails at
once (before the fix, the sparse layer files were created fine and the process died of SIGBUS when a
memory-mapped row found no free block).
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess

import pytest
from tiny_models import build_tiny
from typer.testing import CliRunner

from crossling.cli import app
from crossling.data.records import Sentence, Word
from crossling.extraction.extract import ExtractionOptions
from crossling.extraction.store import VectorStore, extract_to_store
from crossling.models import load_model

runner = CliRunner()

WORDS = "the cat dog sees a big small house tree runs".split()


@pytest.fixture
def small_disk(tmp_path):
    """A 64 KiB tmpfs, unmounted after the test; ``remount(size)`` gives it more room."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a small tmpfs needs root and mount(8)")
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")

    def remount(size):
        subprocess.run(["mount", "-o", f"remount,size={size}", str(mount)], check=True)

    yield mount, remount
    subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_tiny("xlmr", tmp_path_factory.mktemp("xlmr") / "m")


def _sentences(n=60):
    out = []
    for i in range(n):
        forms = [WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(3 + i % 6)]
        words = [Word(j + 1, f, f, "X", "_", {}, 0, "dep", "_", "_") for j, f in enumerate(forms)]
        out.append(Sentence("en", f"s{i}", words, text=" ".join(forms)))
    return out


def _corpus(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir(exist_ok=True)
    for lang in ("en", "de"):
        (folder / f"{lang}.txt").write_text("\n".join(s.text for s in _sentences()) + "\n", encoding="utf-8")
    return folder


def test_a_store_too_big_for_the_disk_fails_at_once_and_leaves_nothing(tiny, small_disk):
    disk, remount = small_disk
    sentences, opts = _sentences(), ExtractionOptions(level="word")
    lm = load_model(tiny)
    with pytest.raises(OSError) as caught:
        extract_to_store(lm, sentences, disk, opts, progress=False)
    assert caught.value.errno == errno.ENOSPC
    assert [p.name for p in disk.iterdir() if not p.name.endswith(".lock")] == []  # no half store, no temp file
    remount("4m")  # space freed: the same call finishes
    store = extract_to_store(lm, sentences, disk, opts, progress=False)
    store.verify()
    assert store.n_rows == sum(len(s) for s in sentences)


def test_the_command_line_says_the_disk_is_full_in_one_line(tiny, small_disk, tmp_path):
    disk, remount = small_disk
    corpus = _corpus(tmp_path)
    args = ["extract", "--model", str(tiny), "--corpus", f"text:{corpus}", "--out", str(disk / "out")]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip() and "DataLoss" not in line]
    assert len(lines) == 1 and "No space left on device: the disk is full; free space and run the same command " \
        "again" in lines[0], result.output
    assert not list((disk / "out").glob("*-*/"))  # no store folder, whole or partial
    remount("4m")
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    for store in (disk / "out").glob("*-*"):
        if store.is_dir():
            VectorStore(store).verify()


def test_results_that_do_not_fit_leave_no_folder_behind(tiny, small_disk, tmp_path):
    disk, _ = small_disk
    corpus = _corpus(tmp_path)
    out = disk / "out"
    result = runner.invoke(app, ["similarity", "--model", str(tiny), "--corpus", f"text:{corpus}", "--store-dir",
                                 str(tmp_path / "stores"), "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert "the disk is full" in result.output
    assert list(disk.iterdir()) == []  # neither the result folder nor its staging folder

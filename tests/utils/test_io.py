"""Staged result folders: all or nothing, no stale files, never over a folder of other files."""

from __future__ import annotations

import pytest

from crossling._utils.io import staged_folder
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

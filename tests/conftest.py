"""Shared fixtures: the real-data folder and small generated models."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # the shared test helpers (tiny_models, tooling)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The shared data folder named by CROSSLING_DATA.

    Skips when the variable is unset (a developer without the data); fails when it is set but the data
    is missing, so CI can never pass by skipping the real-data tests.
    """
    value = os.environ.get("CROSSLING_DATA")
    if not value:
        pytest.skip("CROSSLING_DATA is not set: real-data tests need ../shared/data")
    path = Path(value).resolve()  # absolute: YAML files written by tests read relative paths against their folder
    if not (path / "ud" / "MANIFEST.json").is_file():
        pytest.fail(f"CROSSLING_DATA={value} is set but {path / 'ud' / 'MANIFEST.json'} does not exist")
    return path


@pytest.fixture(scope="session", autouse=True)
def crossling_home(tmp_path_factory) -> Path:
    """A fresh CROSSLING_HOME for the session, so tests never share vector stores with a user's runs.

    The imported model and the LibreOffice Help packages of the user's cache are linked in when present
    (they are keyed by their source, and fetching them again only costs time).
    """
    home = tmp_path_factory.mktemp("crossling-home")
    real = Path(os.environ.get("CROSSLING_HOME") or Path.home() / ".cache" / "crossling")
    for name in ("models", "lohelp"):
        if (real / name).is_dir():
            (home / name).symlink_to(real / name, target_is_directory=True)
    old = os.environ.get("CROSSLING_HOME")
    os.environ["CROSSLING_HOME"] = str(home)
    yield home
    if old is None:
        os.environ.pop("CROSSLING_HOME", None)
    else:
        os.environ["CROSSLING_HOME"] = old


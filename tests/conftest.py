"""Shared fixtures: the real-data folder and small generated models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


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


import sys

sys.path.insert(0, str(Path(__file__).parent))  # the shared test helpers (tiny_models)

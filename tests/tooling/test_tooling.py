"""The contributor's checks, run with the tests (so `.ci/run` runs them): ruff, and numpydoc on the public API."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tooling.docstrings import problems

ROOT = Path(__file__).resolve().parents[2]


def test_ruff_finds_nothing():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "src", "tests", "benchmarks"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_public_api_docstrings_are_complete():
    checked, found = problems()
    assert checked > 250  # every public function, class and method of every module
    assert found == [], "\n".join(found)

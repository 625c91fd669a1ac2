"""Fixtures of the similarity tests (helpers live in similarity_data.py)."""

from __future__ import annotations

import pytest

from .similarity_data import make_pair


@pytest.fixture
def pair():
    return make_pair(300, 8, 6)


@pytest.fixture
def square_pair():
    return make_pair(300, 7, 7, seed=1)

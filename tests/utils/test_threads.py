"""Thread limits scoped to a block: faiss' OpenMP threads are set inside and restored after."""

from __future__ import annotations

import pytest

from crossling._utils.threads import faiss_limit


def test_faiss_threads_are_limited_and_restored():
    faiss = pytest.importorskip("faiss")
    before = faiss.omp_get_max_threads()
    with faiss_limit(1):
        assert faiss.omp_get_max_threads() == 1
    assert faiss.omp_get_max_threads() == before
    with faiss_limit(None):
        assert faiss.omp_get_max_threads() == before

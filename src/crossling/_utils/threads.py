"""Thread limits for the BLAS libraries behind numpy and for faiss' OpenMP, scoped to a block."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

__all__ = ["blas_limit", "faiss_limit"]


def blas_limit(threads: int | None) -> AbstractContextManager:
    """A context in which numpy's BLAS uses at most ``threads`` threads (None: the library's default).

    Parameters
    ----------
    threads : int or None

    Returns
    -------
    context manager
    """
    if threads is None:
        return nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=threads, user_api="blas")


def faiss_limit(threads: int | None) -> AbstractContextManager:
    """A context in which faiss uses at most ``threads`` OpenMP threads (None, or faiss absent: unchanged).

    Parameters
    ----------
    threads : int or None

    Returns
    -------
    context manager
        Restores faiss' previous thread count on exit.
    """
    if threads is None or importlib.util.find_spec("faiss") is None:
        return nullcontext()
    return _faiss_threads(threads)


@contextmanager
def _faiss_threads(threads: int) -> Iterator[None]:
    import faiss

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(threads)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)

"""Thread limits for the BLAS libraries behind numpy, scoped to a block."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

__all__ = ["blas_limit"]


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

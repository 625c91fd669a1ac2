"""Array backends of the PARAFAC2 solver: numpy on the host's cores, or torch on its CPU or a GPU.

:mod:`crossling.factorization._parafac2_als` is written once, in the arithmetic that numpy arrays and torch tensors
share (``@``, ``*``, ``.T``, slicing, ``swapaxes``); what differs is here: making arrays in the fit's dtype and on its
device, the LAPACK calls (thin SVD, the solve of a Gram system), the two large products of a CP sweep, and how the
slices are split into groups. numpy holds one group per slice and runs the groups on a thread pool (see
:class:`_SlicePool`); torch stacks the slices of one shape into a single group, so a GPU computes their SVDs and
products as batched calls. Both keep the fit's bookkeeping (sums of singular values, inner products) in float64
whatever the dtype of the arrays.

numpy's own ``linalg`` computes a float32 SVD as slowly as a float64 one (0.24 s against 0.25 s for 768 x 768 on one
thread here), so in float32 the numpy backend calls SciPy's, which stays in single precision (0.11 s). In float64 it
calls numpy's, as the solver always did: the default fit is the same, bit for bit, as before the backends.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

import numpy as np
import scipy.linalg

# Slices are processed in parallel when d_l * d * k (the multiply-adds of Omega_l Q_l) is at least this
# on average: 64^3, where one slice's SVD takes about a millisecond.
_PARALLEL_MIN_WORK = 64**3
_BLOCKS_PER_THREAD = 4


class SliceGroup(NamedTuple):
    """Slices of the same shape, stacked: ``data[j]`` is slice ``rows[j]`` of the fit (numpy: one slice)."""

    rows: Any  # a slice of 0..L-1 (or, torch, an index tensor), selecting the group's rows of S and of T
    data: Any  # (g, d_l, d) in the fit's dtype, on its device


class NumpyBackend:
    """numpy and SciPy on the host: one group per slice, groups and blocks of products on a :class:`_SlicePool`."""

    def __init__(self, slices: Sequence[np.ndarray], rank: int, dtype: np.dtype, pool: _SlicePool | None = None
                 ) -> None:
        self.dtype = np.dtype(dtype)
        self._slices, self._rank = slices, rank
        self.groups = [SliceGroup(slice(i, i + 1), m.astype(self.dtype, copy=False)[None])
                       for i, m in enumerate(slices)]
        self.pool = pool or _SlicePool(work_per_slice=_work_per_slice(slices, rank))
        self._scratch: dict[str, np.ndarray] = {}

    def __enter__(self) -> NumpyBackend:
        self.pool.__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.pool.__exit__(*exc_info)

    def float64(self) -> NumpyBackend:
        """This backend in float64 (itself when it is), sharing its thread pool: for the final projection."""
        return self if self.dtype == np.float64 else NumpyBackend(self._slices, self._rank, np.float64, self.pool)

    # --- arrays -------------------------------------------------------------------------------------------
    def asarray(self, x: np.ndarray) -> np.ndarray:
        """A copy of host array ``x`` in the fit's dtype."""
        return np.array(x, dtype=self.dtype)

    @staticmethod
    def to_host(x: np.ndarray) -> np.ndarray:
        """``x`` as a float64 numpy array."""
        return np.array(x, dtype=np.float64)

    def empty(self, shape: tuple[int, ...]) -> np.ndarray:
        """An uninitialised array in the fit's dtype."""
        return np.empty(shape, self.dtype)

    def eye(self, n: int) -> np.ndarray:
        """The n x n identity in the fit's dtype."""
        return np.eye(n, dtype=self.dtype)

    @staticmethod
    def contiguous(x: np.ndarray) -> np.ndarray:
        """``x`` in row-major order (a copy when it is not)."""
        return np.ascontiguousarray(x)

    @staticmethod
    def copy(x: np.ndarray) -> np.ndarray:
        """A row-major copy of ``x``."""
        return np.array(x, order="C")

    @staticmethod
    def clamp0(x: np.ndarray) -> np.ndarray:
        """max(x, 0) elementwise, in x's dtype."""
        return np.maximum(x, 0)

    @staticmethod
    def finite(x: np.ndarray) -> bool:
        """Whether every entry is finite."""
        return bool(np.isfinite(x).all())

    @staticmethod
    def total(x: np.ndarray) -> float:
        """The sum of every entry, accumulated in float64."""
        return float(np.sum(x, dtype=np.float64))

    @staticmethod
    def dot(x: np.ndarray, y: np.ndarray) -> float:
        """sum(x * y) over every entry, in float64."""
        return float(np.vdot(x.astype(np.float64, copy=False), y.astype(np.float64, copy=False)))

    @staticmethod
    def gram64(x: np.ndarray) -> np.ndarray:
        """x^T x in float64."""
        x = x.astype(np.float64, copy=False)
        return x.T @ x

    einsum = staticmethod(np.einsum)

    # --- LAPACK -------------------------------------------------------------------------------------------
    def svd(self, M: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Thin SVD ``M = U diag(s) Wt`` of a matrix or of a stack of one (numpy's in float64, SciPy's in float32)."""
        if M.ndim == 3:
            return tuple(f[None] for f in self.svd(M[0]))
        if self.dtype == np.float64:
            return np.linalg.svd(M, full_matrices=False)
        return scipy.linalg.svd(M, full_matrices=False, check_finite=False)

    def svdvals(self, M: np.ndarray) -> np.ndarray:
        """Singular values of a matrix or of a stack of one."""
        M = M.reshape(M.shape[-2:])
        if self.dtype == np.float64:
            return np.linalg.svd(M, compute_uv=False)
        return scipy.linalg.svd(M, compute_uv=False, check_finite=False)

    @staticmethod
    def solve_gram(gram: np.ndarray, rhs: np.ndarray) -> np.ndarray | None:
        """X = rhs @ gram^-1 for a symmetric gram (n x k rhs, k x k gram), or None when gram is singular.

        ``np.linalg.solve`` in the calling thread, in both dtypes. (Not SciPy's getrf and getrs by blocks of rows
        on the pool: on a nearly singular Gram matrix of a non-negative fit their rounding, another OpenBLAS
        build's, sent the fit elsewhere; and outside the pool, with two BLAS threads on a busy machine, getrs took
        11 ms for a 3 x 3 system.)
        """
        try:
            return np.linalg.solve(gram, rhs.T).T
        except np.linalg.LinAlgError:
            return None

    @staticmethod
    def lstsq_gram(gram: np.ndarray, rhs: np.ndarray) -> np.ndarray:
        """The minimum-norm X minimising ||X gram - rhs|| (gram symmetric and singular); singular values below
        eps * k times the largest count as zero (``np.linalg.lstsq``'s and ``torch.linalg.pinv``'s default)."""
        return np.linalg.lstsq(gram, rhs.T, rcond=None)[0].T

    # --- the slices and the two large products of a CP sweep -------------------------------------------------
    def map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        """``[fn(item) for item in items]`` on the pool, in order."""
        return self.pool.map(fn, items)

    @staticmethod
    def put(T: np.ndarray, rows: slice, a: np.ndarray, b: np.ndarray) -> None:
        """T[rows] = a @ b, written in place."""
        np.matmul(a, b, out=T[rows])

    def _buffer(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        buffer = self._scratch.get(name)
        if buffer is None or buffer.shape != shape:
            buffer = self._scratch[name] = np.empty(shape, self.dtype)
        return buffer

    def times_c(self, flat: np.ndarray, C: np.ndarray) -> np.ndarray:
        """flat @ C ((L k) x k), by blocks of rows on the pool, into a buffer reused by :meth:`c_mttkrp`."""
        work = self._buffer("work", (flat.shape[0], C.shape[1]))
        self.pool.map(lambda rows: np.matmul(flat[rows], C, out=work[rows]), self.pool.blocks(flat.shape[0]))
        return work

    def c_mttkrp(self, flat: np.ndarray, A: np.ndarray, B: np.ndarray) -> np.ndarray:
        """The C MTTKRP transposed, sum_l diag(a_l) B^T T_l (k x d), by blocks of components on the pool."""
        n_rows, rank = A.shape
        work = self._buffer("work", (n_rows * rank, rank))
        work3 = work.reshape(n_rows, rank, rank)
        out = self._buffer("mttkrp", (rank, flat.shape[1]))

        def block(comps: slice) -> None:
            # Rows of the result are components, so a block of them is a block of output.
            np.multiply(B[None, :, comps], A[:, None, comps], out=work3[:, :, comps])
            np.matmul(work[:, comps].T, flat, out=out[comps])

        self.pool.map(block, self.pool.blocks(rank))
        return out


class TorchBackend:
    """torch on its CPU or a GPU: the slices of one shape in one batched group.

    float32 matrix products run at full float32 precision during the fit (``torch.set_float32_matmul_precision
    ("highest")``, restored after), so that a GPU does not silently compute them in TF32. On the CPU the fit runs on one
    torch thread (restored after): with two, on a busy 2-core machine, a 24 x 13 by 13 x 4 product took 7 ms (the
    threads' wait), a small fit took 13x longer, and an iteration on 33 slices of 256 x 256 at rank 50 took 0.98 s
    in float64 and 2.7 s in float32 against 0.14 s and 0.08 s on one thread (numpy's backend, which splits the
    slices over threads instead: 0.07 s). The numpy backend is the one for the CPU; torch's CPU path is its
    check.
    """


    def __init__(self, slices: Sequence[np.ndarray], dtype: np.dtype, device: str) -> None:
        import torch

        self.torch = torch
        self._slices = slices
        self.device = str(torch.device(device))
        self.dtype = np.dtype(dtype)
        self.tdtype = {np.dtype(np.float64): torch.float64, np.dtype(np.float32): torch.float32}[self.dtype]
        by_shape: dict[tuple[int, int], list[int]] = {}
        for i, m in enumerate(slices):
            by_shape.setdefault(m.shape, []).append(i)
        self.groups = []
        for members in by_shape.values():
            contiguous = members == list(range(members[0], members[-1] + 1))
            rows = slice(members[0], members[-1] + 1) if contiguous else torch.tensor(members, device=self.device)
            self.groups.append(SliceGroup(rows, self.asarray(np.stack([slices[i] for i in members]))))
        self._precision: str | None = None
        self._threads: int | None = None
        self._one_thread = self.device == "cpu"

    def __enter__(self) -> TorchBackend:
        self._precision = self.torch.get_float32_matmul_precision()
        self.torch.set_float32_matmul_precision("highest")
        if self._one_thread:
            self._threads = self.torch.get_num_threads()
            self.torch.set_num_threads(1)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.torch.set_float32_matmul_precision(self._precision)
        if self._threads is not None:
            self.torch.set_num_threads(self._threads)
            self._threads = None

    def float64(self) -> TorchBackend:
        """This backend in float64 (itself when it is), on the same device: for the final projection."""
        return self if self.dtype == np.float64 else TorchBackend(self._slices, np.float64, self.device)

    # --- arrays -------------------------------------------------------------------------------------------
    def asarray(self, x: np.ndarray) -> Any:
        """A copy of host array ``x`` in the fit's dtype, on its device."""
        return self.torch.tensor(np.asarray(x), dtype=self.tdtype, device=self.device)

    @staticmethod
    def to_host(x: Any) -> np.ndarray:
        """``x`` as a float64 numpy array."""
        return x.detach().to("cpu").double().numpy()

    def empty(self, shape: tuple[int, ...]) -> Any:
        """An uninitialised tensor in the fit's dtype, on its device."""
        return self.torch.empty(shape, dtype=self.tdtype, device=self.device)

    def eye(self, n: int) -> Any:
        """The n x n identity in the fit's dtype, on its device."""
        return self.torch.eye(n, dtype=self.tdtype, device=self.device)

    @staticmethod
    def contiguous(x: Any) -> Any:
        """``x`` in row-major order (a copy when it is not)."""
        return x.contiguous()

    def copy(self, x: Any) -> Any:
        """A row-major copy of ``x``."""
        return x.clone(memory_format=self.torch.contiguous_format)

    def clamp0(self, x: Any) -> Any:
        """max(x, 0) elementwise."""
        return self.torch.clamp(x, min=0)

    def finite(self, x: Any) -> bool:
        """Whether every entry is finite."""
        return bool(self.torch.isfinite(x).all())

    @staticmethod
    def total(x: Any) -> float:
        """The sum of every entry, accumulated in float64."""
        return float(x.double().sum())

    @staticmethod
    def dot(x: Any, y: Any) -> float:
        """sum(x * y) over every entry, in float64."""
        return float((x.double() * y.double()).sum())

    @staticmethod
    def gram64(x: Any) -> Any:
        """x^T x in float64."""
        x = x.double()
        return x.T @ x

    def einsum(self, spec: str, *operands: Any) -> Any:
        """torch.einsum."""
        return self.torch.einsum(spec, *operands)

    # --- LAPACK -------------------------------------------------------------------------------------------
    def svd(self, M: Any) -> tuple[Any, Any, Any]:
        """Thin SVD ``M = U diag(s) Wt``, batched over leading axes."""
        return self.torch.linalg.svd(M, full_matrices=False)

    def svdvals(self, M: Any) -> Any:
        """Singular values, batched over leading axes."""
        return self.torch.linalg.svdvals(M)

    def solve_gram(self, gram: Any, rhs: Any) -> Any | None:
        """X = rhs @ gram^-1 for a symmetric gram, or None when gram is singular."""
        try:
            return self.torch.linalg.solve(gram, rhs.T).T
        except self.torch.linalg.LinAlgError:
            return None

    def lstsq_gram(self, gram: Any, rhs: Any) -> Any:
        """The minimum-norm X minimising ||X gram - rhs|| (gram symmetric and singular), by its pseudo-inverse
        (CUDA's least squares assumes full rank)."""
        return rhs @ self.torch.linalg.pinv(gram, hermitian=True)

    # --- the slices and the two large products of a CP sweep -------------------------------------------------
    @staticmethod
    def map(fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        """``[fn(item) for item in items]``: each group is already a batched call."""
        return [fn(item) for item in items]

    @staticmethod
    def put(T: Any, rows: Any, a: Any, b: Any) -> None:
        """T[rows] = a @ b."""
        T[rows] = a @ b

    @staticmethod
    def times_c(flat: Any, C: Any) -> Any:
        """flat @ C."""
        return flat @ C

    @staticmethod
    def c_mttkrp(flat: Any, A: Any, B: Any) -> Any:
        """The C MTTKRP transposed, sum_l diag(a_l) B^T T_l (k x d)."""
        n_rows, rank = A.shape
        return (B[None, :, :] * A[:, None, :]).reshape(n_rows * rank, rank).T @ flat


class _SlicePool:
    """Runs the heavy linear algebra of a fit on as many threads as BLAS may use, one BLAS thread each.

    LAPACK's SVD parallelises poorly inside one call (half of the bidiagonalisation is matrix-vector
    work), and a multi-threaded BLAS spins while it waits for a descheduled thread (on a busy machine a
    two-thread ``solve`` of a 768 x 768 system took 5x the CPU time of a one-thread one). The slices, and
    blocks of rows of the CP products, are independent: splitting them over threads keeps every core
    busy without either cost. numpy and SciPy release the GIL in BLAS and LAPACK calls. So while the pool is
    open (the whole fit) BLAS is limited to one thread per call, process-wide, and the pool has as many
    threads as BLAS had. With one BLAS thread (e.g. ``OPENBLAS_NUM_THREADS=1``), or slices too small to
    be worth a thread, everything runs in the calling thread and BLAS is left alone. The split does not
    change what is computed (a test checks the fits agree to 1e-10), only possibly the last bits of
    rounding.
    """

    def __init__(self, work_per_slice: float) -> None:
        """``work_per_slice``: d_l * d * k on average, the multiply-adds of one product with a slice."""
        from threadpoolctl import ThreadpoolController

        # SciPy's LAPACK is a library of its own: loaded (above) before the controller looks for libraries.
        self._controller = ThreadpoolController()
        blas = self._controller.select(user_api="blas")
        threads = max((lib["num_threads"] for lib in blas.info()), default=1)
        # Below this the threads would mostly wait for each other on the GIL.
        self.workers = threads if work_per_slice >= _PARALLEL_MIN_WORK else 1
        self._executor: ThreadPoolExecutor | None = None
        self._limit: Any = None

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        """``[fn(item) for item in items]``, in order."""
        if self._executor is None or len(items) == 1:
            return [fn(item) for item in items]
        return list(self._executor.map(fn, items))

    def blocks(self, n: int) -> list[slice]:
        """0..n-1 in contiguous blocks, a few per thread so that a descheduled thread delays little."""
        n_blocks = 1 if self.workers == 1 else min(n, _BLOCKS_PER_THREAD * self.workers)
        edges = np.linspace(0, n, n_blocks + 1)
        return [slice(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]

    def __enter__(self) -> _SlicePool:
        if self.workers > 1:
            self._executor = ThreadPoolExecutor(self.workers)
            self._limit = self._controller.limit(limits=1, user_api="blas")
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._executor is not None:
            self._executor.shutdown()
            self._limit.restore_original_limits()
            self._executor = None


def _work_per_slice(slices: Sequence[np.ndarray], rank: int) -> float:
    """d_l * d * k on average over the slices: the multiply-adds of one product of a slice with a d x k factor."""
    return rank * float(np.mean([m.shape[0] * m.shape[1] for m in slices]))


def open_backend(name: str, slices: Sequence[np.ndarray], rank: int, *, dtype: np.dtype, device: str
                 ) -> NumpyBackend | TorchBackend:
    """The backend ``name`` holding ``slices`` in ``dtype`` (and, torch, on ``device``); enter it to fit.

    Parameters
    ----------
    name : {"numpy", "torch"}
    slices : sequence of ndarray (d_l, d)
        float64 host arrays; the backend keeps its own copies in ``dtype`` (numpy: views when float64).
    rank : int
        The fit's rank (numpy: whether the slices are worth a thread pool).
    dtype : numpy dtype
        float64 or float32.
    device : str
        A resolved torch device name (numpy: "cpu").

    Returns
    -------
    NumpyBackend or TorchBackend
    """
    if name == "numpy":
        return NumpyBackend(slices, rank, dtype)
    return TorchBackend(slices, dtype, device)

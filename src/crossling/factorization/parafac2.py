"""PARAFAC2 by alternating least squares, without the Khatri-Rao product.

The model (Harshman 1972) fits L matrices with the same number of columns jointly,

    Omega_l  ~  U_l diag(s_l) V^T,        U_l = P_l B,   P_l^T P_l = I,          l = 1..L

with V (d x k) shared by all slices, U_l (d_l x k) specific to slice l but with the same cross-product
U_l^T U_l = B^T B for every l (Harshman's constraint), and the signature s_l (row l of S, L x k). The
solver is the direct-fitting ALS of Kiers, ten Berge and Bro (1999, "PARAFAC2 - Part I. A direct fitting
algorithm for the PARAFAC2 model", J. Chemometrics 13: 275-294). One iteration is

1. for every slice the orthonormal polar factor P_l of M_l = Omega_l V diag(s_l) B^T (d_l x k), which
   maximises tr(P_l^T M_l), and the projected slice T_l = P_l^T Omega_l (k x d);
2. ``n_inner`` CP-ALS sweeps over the projected L x k x d tensor for S, B and V (S non-negative by
   hierarchical ALS when ``nonnegative``; V with orthonormal columns, by orthogonal Procrustes, when
   ``orthonormal_v``).

Without a constraint on B or V the fit can degenerate: two components grow without bound while cancelling
(``b_r ~ -b_r'`` or ``v_r ~ -v_r'``, their triple congruence tending to -1), the error creeping down and the
signatures growing with every iteration, so that they measure the iteration budget (Krijnen, Dijkstra and
Stegeman 2008 show this is what any sequence of iterates does when the best fit does not exist).
``orthonormal_v`` removes it: with V^T V = I the model's norm is ||Omega_hat_l||_F = ||s_l||_2 (unit U
columns), at most ||Omega_l||_F at a least-squares fit, and the CP criterion of the projected tensor attains
its minimum when one factor is column-wise orthonormal (same paper). :mod:`crossling.factorization.diagnostics` measures
degeneracy and instability of a fit.

What saves time and memory is step 2. TensorLy's ``parafac2`` (0.10) runs the CP sweeps through the generic
``parafac``, whose first-mode update multiplies the L x (k d) unfolding by the (k d) x k Khatri-Rao
product of B and V: for the original study (33 slices of 768 x 768, rank 768) a 589,824 x 768 matrix,
3.6 GB, built five times per iteration. Every CP product here is instead a product of the slices with a
d x k or k x k factor (``T_l V`` for all l is one (L k) x d by d x k product), and the relative error is
read off small matrices,

    ||Omega - Omega_hat||^2 = ||Omega||^2 - 2 <T, [[S, B, V]]> + ||[[S, B, V]]||^2,

with <T, [[S, B, V]]> = sum(MTTKRP_V * V) from the last update of V and ||[[S, B, V]]||^2 the sum of the
Hadamard product of the three k x k Gram matrices (P_l has orthonormal columns, so projecting loses
nothing). The polar factors (one SVD of a d_l x k matrix per slice, as in TensorLy) are then the
largest cost, and both solvers pay it: on the original setting one iteration is 33 SVDs of 768 x 768
and 14 products of 768 x 768 matrices per slice (4 for the projection, 2 per CP sweep). On a quiet
2-core machine ``benchmarks/parafac2.py --iterations 20`` measured 47.4 s per iteration for TensorLy and 8.8 s for
crossling in float64 (5.4x), 7.1x less peak memory (1.08 GB against 7.6 GB), and a floor of 7.6 s for the SVDs and
products alone (3.3 s for the SVDs), which crossling's median iteration is 1.12x of: no implementation of these
iterations on that machine can be much more than 6x faster than TensorLy in float64. The slices' SVDs and blocks of
the CP products run on a thread pool with one BLAS thread each (see ``_SlicePool`` in
:mod:`crossling.factorization._parafac2_backend`), which keeps a multi-threaded BLAS from spinning inside small
LAPACK calls. Past that floor there is cheaper arithmetic: ``dtype="float32"`` runs the iterations in single
precision (about 30% less time per iteration; the ``dtype`` parameter says when it is safe), and ``backend="torch"``
runs them through torch, batched, on its CPU or a GPU.
The iterations themselves live in :mod:`crossling.factorization._parafac2_als`, written once for both backends.

Semantics follow TensorLy's ``parafac2(..., nn_modes=[0])`` so that the two can be compared from the
same start: the same ``init="svd"`` (S = 1, B = I, V = leading eigenvectors of sum_l Omega_l^T Omega_l)
and ``init="random"`` (S, B and V uniform on [0, 1)), the same update order (S, B, V), five CP sweeps per
iteration and five HALS sweeps per non-negative update, and with ``acceleration="linesearch"`` the same
line-search schedule of Bro (1998) (the default, momentum, takes fewer iterations to the same error).
Deliberate differences: the stopping rule is the one TensorLy documents (relative change of the sum of
squared residuals; TensorLy's code tests the absolute change of the relative error), an error is recorded
at every iteration, and a line-search step is accepted when it beats the regular update of the same
iteration (TensorLy compares with the previous iteration because it does not compute the current error).
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import scipy

from crossling._utils.devices import device_problem, resolve_device
from crossling.exceptions import ConfigError, ConvergenceWarning, DegenerateInputWarning
from crossling.factorization._parafac2_als import Parafac2Start, fit_start, project
from crossling.factorization._parafac2_backend import open_backend

__all__ = [
    "N_INNER",
    "N_ITER_MAX",
    "TOL",
    "Parafac2Result",
    "Parafac2Start",
    "PlantedParafac2",
    "parafac2",
    "parafac2_start",
    "random_covariance_slices",
    "random_parafac2",
]

#: Iterations per start unless asked otherwise, shared by :func:`parafac2`,
#: :func:`crossling.factorization.signatures.fit_signatures` and the study's options (its ``paper`` preset runs
#: the original study's 100). A budget, not a target: fits stop at ``tol``; with ``orthonormal_v`` the problems
#: of ``benchmarks/parafac2_identifiability.py`` (10 slices of 64 x 64 at rank 64 and 8, 8 of 128 x 128 at rank
#: 32) met ``tol`` from the SVD start after 249, 74 and 154 iterations (with the line search: 420, 70 and 224).
N_ITER_MAX = 1000
#: The stopping rule's tolerance unless asked otherwise (relative change of the sum of squared residuals per
#: iteration). At 1e-6 the average signatures of those three problems were within 0.04%, 0.19% and 0.18% (mean
#: 0.02%, 0.08% and 0.08%) of their values at 1e-8, which took 1.4x, 2.7x and 3.0x as many iterations (341, 198
#: and 459; with the line search 1e-8 took 3.7x and 12x as many on the first and third): the error creeps on where
#: the signatures no longer move.
TOL = 1e-6
#: CP sweeps over the projected tensor per iteration unless asked otherwise (TensorLy's ``n_iter_parafac``).
N_INNER = 5

@dataclass(frozen=True, eq=False)
class Parafac2Result:
    """A fitted PARAFAC2 model ``Omega_l ~ U[l] @ diag(S[l]) @ V.T`` and how it was obtained.

    Columns of every ``U[l]`` and of ``V`` have unit Euclidean norm, the norms being folded into ``S``;
    components are sorted by mean signature ``S.mean(axis=0)``, largest first. Signs are fixed so that
    each column of ``S`` has a non-negative mean and the largest-magnitude entry of each column of ``V``
    is positive, so two runs on the same data give comparable factors.

    Attributes
    ----------
    U : list of ndarray, each (d_l, k)
        Slice-specific factors; ``U[l].T @ U[l]`` is the same k x k matrix for every l.
    S : ndarray, shape (L, k)
        Signatures, one row per slice in input order (non-negative when fitted with ``nonnegative``).
    V : ndarray, shape (d, k)
        Shared factor.
    errors : ndarray, shape (n_iter,)
        Relative error ``||Omega - Omega_hat||_F / ||Omega||_F`` after each iteration of the best start.
    relative_error : float
        Relative error of the returned model: the last iteration's factors with the slice factors
        ``U[l]`` projected once more onto them, so ``relative_error <= errors[-1]``.
    n_iter : int
        Iterations run by the best start.
    converged : bool
        Whether the best start met the stopping rule before ``n_iter_max``.
    signature_trace : ndarray, shape (n_iter,)
        Mean signature (over slices and components, column norms of B and V folded in as in ``S``) after
        each iteration of the best start: a steady rise is the mark of diverging components.
    iteration_seconds : ndarray, shape (n_iter,)
        Wall-clock seconds of each iteration of the best start (the start itself and the final projection
        excluded).
    rank, init, tol, n_iter_max, n_inner, nonnegative, orthonormal_v, ridge, acceleration, normalize_slices
        The options of the fit (``init`` is ``"svd"``, ``"random"`` or ``"given"``).
    backend, device, dtype : str
        Where and in what precision the iterations ran (``device`` with ``"auto"`` resolved to ``"cuda"`` or
        ``"cpu"``; ``dtype`` ``"float64"`` or ``"float32"``, the latter going on in float64 once float32 no longer
        resolves the changes, see :func:`parafac2`). The factors are float64 whatever ``dtype``.
    seed : int or None
        The ``seed`` argument.
    seeds : tuple of (int or None)
        Per start, the seed of ``numpy.random.default_rng`` its random initial factors were drawn from
        (None for a start from the SVD or from given factors).
    start_errors : ndarray, shape (n_starts,)
        Final ``relative_error`` of every start; inf for a start that diverged (its factors overflowed).
    start_signatures : ndarray, shape (n_starts, L)
        Average signature (mean of the row of S over the components) of every slice in every start, on the
        scale of ``S``: the agreement between starts. NaN for a start that diverged.
    best_start : int
        Index of the start that was kept (the lowest final error; with a ridge, the lowest penalised
        criterion).
    slice_norms : ndarray, shape (L,)
        Frobenius norms of the input slices. With ``normalize_slices`` the model is fitted to
        ``Omega_l / slice_norms[l]``; ``S[l] * slice_norms[l]`` puts a signature back on the input scale.
    versions : dict
        Library versions (numpy, SciPy; torch for the torch backend).
    """

    U: list[np.ndarray]
    S: np.ndarray
    V: np.ndarray
    errors: np.ndarray
    relative_error: float
    n_iter: int
    converged: bool
    signature_trace: np.ndarray
    iteration_seconds: np.ndarray
    rank: int
    init: str
    tol: float
    n_iter_max: int
    n_inner: int
    nonnegative: bool
    orthonormal_v: bool
    ridge: float
    acceleration: str
    normalize_slices: bool
    backend: str
    device: str
    dtype: str
    seed: int | None
    seeds: tuple[int | None, ...]
    start_errors: np.ndarray
    start_signatures: np.ndarray
    best_start: int
    slice_norms: np.ndarray
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def spread(self) -> float:
        """Range (max - min) of the final relative errors over starts; 0 for a single start."""
        return float(self.start_errors.max() - self.start_errors.min())

    def reconstruct(self) -> list[np.ndarray]:
        """The fitted slices ``U[l] @ diag(S[l]) @ V.T`` (on the fitted, possibly normalised, scale).

        Returns
        -------
        list of ndarray, each (d_l, d)
        """
        return [(u * s) @ self.V.T for u, s in zip(self.U, self.S)]


class PlantedParafac2(NamedTuple):
    """Slices generated from a known PARAFAC2 model (see :func:`random_parafac2`).

    Attributes
    ----------
    matrices : list of ndarray, each (d_l, d)
        The slices Omega_l, noise included.
    U : list of ndarray, each (d_l, k)
        The true slice factors (unit columns).
    S : ndarray, shape (L, k)
        The true signatures (the norms of B's and V's columns folded in).
    V : ndarray, shape (d, k)
        The true shared factor (unit columns).
    """

    matrices: list[np.ndarray]
    U: list[np.ndarray]
    S: np.ndarray
    V: np.ndarray


def random_parafac2(
    row_counts: Sequence[int],
    n_columns: int,
    rank: int,
    *,
    noise: float = 0.0,
    orthonormal_v: bool = False,
    seed: int | np.random.Generator | None = None,
) -> PlantedParafac2:
    """Draw slices from a random PARAFAC2 model, for recovery tests and benchmarks.

    ``Omega_l = U_l diag(s_l) V^T + E_l`` with U_l = P_l B (P_l a random d_l x k matrix with
    orthonormal columns; B = I + 0.3 G / sqrt(k) with unit columns, so the components are correlated but
    well conditioned), s_l uniform on [0.2, 1] (non-negative), V Gaussian with unit columns (orthonormal
    columns with ``orthonormal_v``), and E_l Gaussian noise scaled to ``noise * ||U_l diag(s_l) V^T||_F``.

    Parameters
    ----------
    row_counts : sequence of int
        d_l, the number of rows of each slice (may differ); each must be >= rank.
    n_columns : int
        d, the number of columns shared by all slices; must be >= rank.
    rank : int
        k, the number of components.
    noise : float, default 0.0
        Noise level relative to each slice's signal (Frobenius norm).
    orthonormal_v : bool, default False
        Plant a V with orthonormal columns (the Q factor of the Gaussian draw), the model that
        ``parafac2(..., orthonormal_v=True)`` fits.
    seed : int, Generator or None
        Seed of the generator (or the generator itself).

    Returns
    -------
    PlantedParafac2
        ``matrices`` (the noisy slices) and the true ``U`` (unit columns), ``S`` (L x k, the norms of
        B's and V's columns folded in) and ``V`` (unit columns).

    Raises
    ------
    ValueError
        For no slice, a rank below 1 or above a row count or the column count, or negative noise.
    """
    rows = [int(r) for r in row_counts]
    if not rows or rank < 1 or min(rows) < rank or n_columns < rank:
        raise ValueError(
            f"need at least one slice and rank ({rank}) between 1 and every row count ({rows}) "
            f"and the column count ({n_columns})"
        )
    if noise < 0:
        raise ValueError(f"noise must be non-negative, got {noise}")
    rng = np.random.default_rng(seed)
    B = np.eye(rank) + 0.3 * rng.standard_normal((rank, rank)) / np.sqrt(rank)
    B /= np.linalg.norm(B, axis=0)
    V = rng.standard_normal((n_columns, rank))
    V = np.linalg.qr(V)[0] if orthonormal_v else V / np.linalg.norm(V, axis=0)
    S = rng.uniform(0.2, 1.0, size=(len(rows), rank))
    U, matrices = [], []
    for d_l, s in zip(rows, S):
        P, _ = np.linalg.qr(rng.standard_normal((d_l, rank)))
        U.append(P @ B)
        signal = (U[-1] * s) @ V.T
        E = rng.standard_normal(signal.shape)
        matrices.append(signal + noise * np.linalg.norm(signal) / np.linalg.norm(E) * E)
    return PlantedParafac2(matrices, U, S, V)


def random_covariance_slices(
    n_slices: int = 10, n_columns: int = 64, *, n_rows: int = 1000, seed: int | np.random.Generator | None = None
) -> list[np.ndarray]:
    """Cross-covariance slices built like the study's, with no planted PARAFAC2 model (issue 13's problem).

    ``m = n_rows`` observations of a latent shared by all slices, with a decaying spectrum (column j scaled
    by ``linspace(2, 0.2, d)[j]``); per slice l = 1..L, the shared model's vectors ``Y_l = X + 0.7 E`` and
    the control model's ``Z_l = X (I + 0.5 G_l / sqrt(d)) + (0.5 + 0.1 l) E'``, with X the latent and
    ``E, E', G_l`` standard Gaussian; ``Omega_l = cov(Z_l, Y_l)`` (centred, divided by m - 1). Fitted at full
    rank without a constraint, its signatures grow with the iteration budget.

    Parameters
    ----------
    n_slices : int, default 10
        L.
    n_columns : int, default 64
        d, the rows and the columns of every slice.
    n_rows : int, default 1000
        m, the observations behind each covariance.
    seed : int, Generator or None

    Returns
    -------
    list of ndarray, each (d, d)
    """
    rng = np.random.default_rng(seed)
    shared = rng.standard_normal((n_rows, n_columns)) * np.linspace(2.0, 0.2, n_columns)
    slices = []
    for language in range(1, n_slices + 1):
        Y = shared + 0.7 * rng.standard_normal((n_rows, n_columns))
        G = rng.standard_normal((n_columns, n_columns))
        Z = shared @ (np.eye(n_columns) + 0.5 * G / np.sqrt(n_columns))
        Z += (0.5 + 0.1 * language) * rng.standard_normal((n_rows, n_columns))
        slices.append((Z - Z.mean(axis=0)).T @ (Y - Y.mean(axis=0)) / (n_rows - 1))
    return slices


def parafac2(
    matrices: Sequence[np.ndarray] | np.ndarray,
    rank: int,
    *,
    init: str | tuple[np.ndarray, np.ndarray, np.ndarray] = "svd",
    n_iter_max: int = N_ITER_MAX,
    tol: float = TOL,
    nonnegative: bool = True,
    orthonormal_v: bool = False,
    ridge: float = 0.0,
    acceleration: str = "momentum",
    n_inner: int = N_INNER,
    n_starts: int = 1,
    seed: int | None = None,
    normalize_slices: bool = False,
    backend: str = "numpy",
    device: str | None = None,
    dtype: str | np.dtype = "float64",
    starts: Sequence[Parafac2Start] | None = None,
) -> Parafac2Result:
    """Fit ``Omega_l ~ U_l diag(s_l) V^T`` (PARAFAC2) to L matrices jointly by ALS.

    Minimises ``sum_l ||Omega_l - P_l B diag(s_l) V^T||_F^2`` over P_l with orthonormal columns, B, the
    signatures S (non-negative if ``nonnegative``) and V (with orthonormal columns if ``orthonormal_v``)
    (Kiers, ten Berge and Bro 1999); ``U_l = P_l B`` then satisfies Harshman's constraint
    ``U_l^T U_l = B^T B`` for every l. See the module docstring for the algorithm, how it relates to
    TensorLy's ``parafac2``, and why an unconstrained fit may have no minimum.

    Parameters
    ----------
    matrices : sequence of ndarray (d_l, d), or ndarray (L, d_l, d)
        The slices Omega_l, e.g. the cross-covariances ``Moments.cov_xy()`` between a control model
        (d_l dims) and the shared model (d dims) per language. Row counts may differ; column counts must
        agree. Computed in float64.
    rank : int
        k, the number of components; at most every d_l and d (the polar factors P_l must have
        orthonormal columns).
    init : {"svd", "random"} or tuple (S, B, V), default "svd"
        "svd": S = 1, B = I, V = the k leading eigenvectors of ``sum_l Omega_l^T Omega_l`` (TensorLy's
        SVD initialisation, same sign convention). "random": S, B and V uniform on [0, 1), as TensorLy
        draws them (a start from B = I reached the planted model of TensorLy's own PARAFAC2 test in 1 of
        30 starts, from a random B in 22). A tuple gives S (L x k), B (k x k) and V (d x k) directly.
        With ``orthonormal_v`` the starting V is replaced by its orthonormal polar factor. Starts after
        the first are always random.
    n_iter_max : int, default :data:`N_ITER_MAX` (1000)
        Maximum number of iterations per start.
    tol : float, default :data:`TOL` (1e-6)
        Stopping rule: stop after iteration n >= 1 when
        ``|SSE_(n-1) - SSE_n| <= tol * SSE_(n-1)``, SSE being the sum of squared residuals. 0 runs
        ``n_iter_max`` iterations.
    nonnegative : bool, default True
        Constrain the signatures S to be non-negative (TensorLy's ``nn_modes=[0]``), updated by
        hierarchical ALS (Gillis and Glineur 2012) with five sweeps per update.
    orthonormal_v : bool, default False
        Constrain V to orthonormal columns, updated by orthogonal Procrustes (the polar factor of the V
        MTTKRP, which minimises the CP criterion over such V): a fit that always has a minimum, with
        bounded signatures (module docstring). The factors of a constrained fit differ from an
        unconstrained one's unless the best V is orthonormal.
    ridge : float, default 0.0
        Add ``ridge * (||S||^2 + ||B||^2 + ||V||^2)`` to the criterion, computed on the slices scaled to
        unit total Frobenius norm so that it does not depend on the data's units (the signatures are
        returned on the input scale). Penalising all three factors bounds every component (a ridge on B
        and V alone does not: S can grow as they shrink), as in regularised PARAFAC2 (Roald et al. 2022).
        It shrinks the signatures, and a component can die at zero.
    acceleration : {"momentum", "linesearch", "none"}, default "momentum"
        How the iterations are sped up. "momentum": Nesterov-type momentum with restart (Mitchell, Ye and De
        Sterck 2020): each iteration starts its ALS step from the extrapolated point
        ``factors + w (factors - factors_prev)``, with the weight ``w = (k - 1) / (k + 2)`` of Nesterov's method,
        k counting the iterations since the last restart; when the step from there raises the criterion it is
        discarded and a plain step from ``factors`` is taken instead (a restart: k starts again, one extra step).
        It costs no extra projection unless it restarts. "linesearch": Bro's (1998) extrapolation, TensorLy's
        ``parafac2`` default and so the original study's: from iteration 6 on, every other iteration tries the step
        ``factors_prev + (factors - factors_prev) * iteration ** (1 / a)`` (a = 2, increased by one after 4
        failures in a row) and keeps it when its error is lower, at the price of one more projection (singular
        values only) each time. "none": plain ALS. The extrapolated S is clipped at 0 with ``nonnegative``, the
        extrapolated V replaced by its polar factor with ``orthonormal_v``. A step from an extrapolated point never
        meets ``tol`` by itself: the fit stops only when a plain step does. Momentum reached the error that the
        line search had after 400 iterations in 150 (10 covariance slices of 64 x 64, rank 64, ``orthonormal_v``:
        the study's default fit) and TensorLy's error after 100 iterations in 59, 6.1x sooner than TensorLy in
        float64 and 7.5x in float32 (``benchmarks/parafac2.py --quick``: 33 planted slices of 256 x 256, rank
        256, no constraint on V). Its path depends on comparisons of nearly equal criteria, so rounding (a
        rescaled input, float32) can move where it stops within what ``tol`` allows; plain ALS and the line
        search follow TensorLy's iterates.
    n_inner : int, default :data:`N_INNER` (5)
        CP-ALS sweeps over the projected tensor per iteration (TensorLy's ``n_iter_parafac``; Kiers et al.
        use 1). The sweeps are cheap next to the polar factors: on 33 planted slices of 256 x 256 (rank
        256), 10 iterations with one sweep reached relative error 0.315 in 11.7 s, with five 0.122 in 18.4 s.
    n_starts : int, default 1
        Number of starts; the first uses ``init``, the others random factors. The fit with the lowest
        final error is returned, with every start's error in ``start_errors``.
    seed : int or None
        Seed for the random starts (and for ``init="random"``).
    normalize_slices : bool, default False
        Divide every slice by its Frobenius norm before fitting, so that each slice (language) weighs the
        same in the fit instead of in proportion to its squared norm. Signatures are then on the
        normalised scale; ``result.slice_norms`` converts back.
    backend : {"numpy", "torch"}, default "numpy"
        Where the iterations run: numpy on the host's cores (slices on a thread pool), or torch, which stacks the
        slices of one shape and computes their SVDs and products as batched calls (on a GPU with ``device``).
        In float64 on the CPU the two give the same fit (a test checks 1e-10).
    device : str, optional
        torch's device for ``backend="torch"``: ``"cpu"`` (default), ``"cuda"``, ``"cuda:N"``, ``"mps"`` or
        ``"auto"`` (the first CUDA GPU when torch sees one, else the CPU). A device this machine or torch build
        lacks raises :class:`~crossling.exceptions.ConfigError` in one sentence that says what to use or
        install (``./setup.sh --cuda``). numpy accepts only None or ``"cpu"``.
    dtype : {"float64", "float32"}, default "float64"
        Precision of the slices and factors during the iterations. The error, the stopping rule's sums and the
        final projection are float64 either way, and the returned factors are float64. float32 halves the
        working arrays (but adds a float32 copy of the slices) and, on the numpy backend, cuts the time per
        iteration by about 30% (6.1 s against 8.8 s on issue 18's benchmark on a quiet 2-core machine;
        SciPy's single-precision SVD, numpy's own computes float32 as slowly as float64).
        The SSE of float32 factors is exact only to about float32's epsilon times ``||Omega||^2``, so once an
        iteration changes it by less than that, the fit goes on in float64 from where it is (with ``tol``
        below what float32 resolves, fits in float32 alone stopped at random: after 240 iterations instead of
        420, or 1124 instead of 74). With that switch the fits matched float64's: on issue 18's benchmark
        (33 x 768 x 768, rank 768, 3 iterations) errors 8e-9 apart; on 33 planted slices of 256 x 256 at rank
        50, the same 74 iterations at ``tol=1e-8`` and errors 3e-14 apart; on planted slices at ``tol`` 1e-6 to
        1e-8 the same iterations and signatures within 2e-5; on 10 cross-covariance slices of 64 x 64
        (:func:`random_covariance_slices`, ``orthonormal_v``) at rank 8 signatures within 2e-6, at full rank
        (slowly converging) 336 iterations instead of 420, error +3e-5, average signatures within 0.13%. Safe
        for well-posed fits; check a few slow or degenerate ones in float64.

    starts : sequence of Parafac2Start, optional
        The fit's ``n_starts`` starts, computed elsewhere by :func:`parafac2_start` with the same data and options
        (e.g. as tasks on a cluster): the best is kept, its polar factors recomputed, and the result is the one
        this call would have computed itself.

    Returns
    -------
    Parafac2Result
        Unit-norm ``U`` and ``V`` columns with the norms in ``S``, components sorted by mean signature,
        the error trace and the provenance of the fit.

    Raises
    ------
    ValueError
        For an empty input, a slice that is not 2-D, differing column counts, NaN or Inf in a slice, a
        rank above what the slices allow, all-zero data (or an all-zero slice with
        ``normalize_slices``), a malformed ``init`` or an invalid option.
    ConfigError
        For a torch ``device`` that is not a device name, or one that this machine or torch build lacks.
    FloatingPointError
        When every start diverged until its factors overflowed (possible only without ``orthonormal_v`` or
        a ridge; a start that diverges among others that do not is left out, its error inf).

    Warns
    -----
    ConvergenceWarning
        When the kept start stopped at ``n_iter_max`` before meeting ``tol`` (``converged`` is False); not
        with ``tol=0``, which asks for exactly ``n_iter_max`` iterations.

    References
    ----------
    R. A. Harshman (1972), PARAFAC2: Mathematical and technical notes. UCLA Working Papers in Phonetics 22.
    W. P. Krijnen, T. K. Dijkstra and A. Stegeman (2008), On the non-existence of optimal solutions and the
    occurrence of "degeneracy" in the CANDECOMP/PARAFAC model. Psychometrika 73: 431-439.
    H. A. L. Kiers, J. M. F. ten Berge and R. Bro (1999), PARAFAC2 - Part I. A direct fitting algorithm
    for the PARAFAC2 model. J. Chemometrics 13: 275-294.
    R. Bro (1998), Multi-way analysis in the food industry. PhD thesis, University of Amsterdam.
    D. Mitchell, N. Ye and H. De Sterck (2020), Nesterov acceleration of alternating least squares for canonical
    tensor decomposition: momentum step size selection and restart mechanisms. Numerical Linear Algebra with
    Applications 27: e2297.
    M. Roald, C. Schenker, V. D. Calhoun, T. Adali, R. Bro, J. E. Cohen and E. Acar (2022), An AO-ADMM approach
    to constraining PARAFAC2 on all modes. SIAM J. Mathematics of Data Science 4: 1191-1222.
    S. Zhao, Y. Ziser and S. B. Cohen (2023), A joint matrix factorization analysis of multilingual
    representations. Findings of EMNLP.
    """
    problem = _Problem.make(matrices, rank, locals())
    if starts is None:
        with open_backend(backend, problem.slices, rank, dtype=problem.dtype, device=problem.device) as xb:
            final = xb.float64()
            fits = [problem.fit(index, xb, final) for index in range(n_starts)]
    else:
        fits = problem.check_starts(starts)
    return problem.best(fits)


def parafac2_start(matrices: Sequence[np.ndarray] | np.ndarray, rank: int, index: int, **options: Any
                   ) -> Parafac2Start:
    """Start number ``index`` of ``parafac2(matrices, rank, **options)``, computed on its own.

    The starts of a fit are independent, so a cluster can run them as tasks of their own and hand them to
    ``parafac2(matrices, rank, starts=..., **options)``, which keeps the best exactly as if it had run them: the
    same initial factors (start ``index`` draws the same seed from ``seed``), iterations and final error.

    Parameters
    ----------
    matrices : sequence of ndarray (d_l, d), or ndarray (L, d_l, d)
        As :func:`parafac2`.
    rank : int
        As :func:`parafac2`.
    index : int
        The start, 0 <= index < ``n_starts``: 0 is the one from ``init``, the others random.
    **options
        Keyword arguments of :func:`parafac2` (all but ``starts``), the same for every start of a fit.

    Returns
    -------
    Parafac2Start
        Without the polar factors (``P`` None).

    Raises
    ------
    ValueError
        For an ``index`` outside the starts, and what :func:`parafac2` rejects.
    TypeError
        For an option :func:`parafac2` does not take, or ``starts``.
    """
    if "starts" in options:
        raise TypeError("parafac2_start computes a start: it takes no starts")
    problem = _Problem.make(matrices, rank, _bind(options))
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < problem.n_starts:
        raise ValueError(f"index must be a start of the fit, 0 to {problem.n_starts - 1}, got {index!r}")
    with open_backend(problem.backend, problem.slices, rank, dtype=problem.dtype, device=problem.device) as xb:
        return problem.fit(int(index), xb, xb.float64())._replace(P=None)


def _bind(options: dict[str, Any]) -> dict[str, Any]:
    """:func:`parafac2`'s keyword arguments with its defaults filled in."""
    parameters = inspect.signature(parafac2).parameters
    unknown = sorted(set(options) - set(parameters) | set(options) & {"matrices", "rank"})
    if unknown:
        raise TypeError(f"parafac2 has no option {unknown[0]!r}")
    return {name: options.get(name, p.default) for name, p in parameters.items() if p.kind is p.KEYWORD_ONLY}


@dataclass(frozen=True)
class _Problem:
    """A fit's slices, as fitted (normalised or ridge-scaled), and its validated options."""

    slices: list[np.ndarray]
    rank: int
    options: dict[str, Any]
    slice_norms: np.ndarray
    norm_sq: float
    data_scale: float
    init_name: str
    given: tuple[np.ndarray, ...] | None
    dtype: np.dtype
    device: str

    def __getattr__(self, name: str) -> Any:
        if name == "options":  # not set yet (a copy being built)
            raise AttributeError(name)
        try:
            return self.options[name]
        except KeyError:
            raise AttributeError(name) from None

    @classmethod
    def make(cls, matrices: Sequence[np.ndarray] | np.ndarray, rank: int, arguments: dict[str, Any]) -> _Problem:
        options = {name: arguments[name] for name in _bind({})}
        slices = _validate_slices(matrices, rank)
        _validate_options(**{name: options[name] for name in ("n_iter_max", "tol", "n_inner", "n_starts", "ridge",
                                                              "acceleration")})
        work_dtype, device = _validate_backend(options["backend"], options["device"], options["dtype"])
        slice_norms = np.array([np.linalg.norm(m) for m in slices])
        if not slice_norms.any():
            raise ValueError("all slices are zero: the relative error is undefined")
        if options["normalize_slices"]:
            zero = np.flatnonzero(slice_norms == 0)
            if zero.size:
                raise ValueError(f"normalize_slices: slice(s) {zero.tolist()} are all zero")
            slices = [m / n for m, n in zip(slices, slice_norms)]
        norm_sq = float(sum(np.vdot(m, m) for m in slices))
        # The ridge acts on unit-norm data; the signatures are scaled back at the end.
        data_scale = np.sqrt(norm_sq) if options["ridge"] else 1.0
        if options["ridge"]:
            slices, norm_sq = [m / data_scale for m in slices], 1.0
        init, given = options["init"], None
        if isinstance(init, str):
            if init not in ("svd", "random"):
                raise ValueError(f"init must be 'svd', 'random' or a tuple (S, B, V), got {init!r}")
            init_name = init
        else:
            init_name = "given"
            given = _validate_init(init, len(slices), rank, slices[0].shape[1])
        return cls(slices, rank, options, slice_norms, norm_sq, data_scale, init_name, given, work_dtype, device)

    def start_seed(self, index: int) -> int | None:
        """The seed of start ``index``'s random factors: the same draw from ``seed`` as in a run of all starts."""
        if index == 0 and self.init_name != "random":
            return None
        seed_source = np.random.default_rng(self.seed)
        draws = index + (self.init_name == "random")
        for _ in range(draws - 1):
            seed_source.integers(2**63)
        return int(seed_source.integers(2**63))

    def fit(self, index: int, xb: Any, final: Any) -> Parafac2Start:
        """Run start ``index`` on the open backend ``xb`` (``final``: its float64 twin)."""
        seed = self.start_seed(index)
        if seed is not None:
            factors = _random_init(len(self.slices), self.rank, self.slices[0].shape[1], np.random.default_rng(seed))
        elif self.init_name == "svd":
            factors = _svd_init(self.slices, self.rank)
        else:
            factors = self.given
        fit = fit_start(xb, final, self.norm_sq, factors, n_iter_max=self.n_iter_max, tol=self.tol,
                        n_inner=self.n_inner, nonnegative=self.nonnegative, orthonormal_v=self.orthonormal_v,
                        ridge=self.ridge, acceleration=self.acceleration)
        return fit._replace(index=index, seed=seed)

    def check_starts(self, starts: Sequence[Parafac2Start]) -> list[Parafac2Start]:
        """Starts computed elsewhere, after checking that they are this fit's, each once, in order."""
        starts = list(starts)
        if [fit.index for fit in starts] != list(range(self.n_starts)):
            raise ValueError(f"starts must be the fit's {self.n_starts} starts in order, got the starts "
                             f"{[fit.index for fit in starts]}")
        shapes = ((len(self.slices), self.rank), (self.rank, self.rank), (self.slices[0].shape[1], self.rank))
        for fit in starts:
            if (np.shape(fit.A), np.shape(fit.B), np.shape(fit.C)) != shapes or fit.seed != self.start_seed(fit.index):
                raise ValueError(f"start {fit.index} was not computed for these slices and options (factor shapes "
                                 f"{np.shape(fit.A)}, {np.shape(fit.B)}, {np.shape(fit.C)}, seed {fit.seed})")
        return starts

    def best(self, fits: list[Parafac2Start]) -> Parafac2Result:
        """The result of the fit: its best start, with every start's error and signatures."""
        rank, n_rows = self.rank, len(self.slices)
        if all(fit.diverged for fit in fits):
            raise FloatingPointError(
                f"PARAFAC2 (rank {rank}, {n_rows} slices) diverged in every start: the factors overflowed, as "
                "diverging components do when the fit has no minimum; use orthonormal_v=True or a lower rank")
        best_start = int(np.argmin([fit.final_objective for fit in fits]))
        best = fits[best_start]
        if not best.converged and self.tol > 0:
            warnings.warn(f"PARAFAC2 (rank {rank}, {n_rows} slices) stopped at n_iter_max={self.n_iter_max} before "
                          f"the relative change of the residual fell to tol={self.tol:g} (relative error "
                          f"{best.final_error:.4g}); raise n_iter_max, or check the fit's errors", ConvergenceWarning,
                          stacklevel=3)
        P = best.P if best.P is not None else self.polar_factors(best)
        U, S, V = _normalised_factors(best.A, best.B, best.C, P)
        versions = {"numpy": np.__version__, "scipy": scipy.__version__}
        if self.backend == "torch":
            import torch

            versions["torch"] = torch.__version__
        scale = self.data_scale
        return Parafac2Result(
            U=U, S=S * scale, V=V, errors=np.asarray(best.errors), relative_error=best.final_error,
            n_iter=len(best.errors), converged=best.converged, signature_trace=np.asarray(best.trace) * scale,
            iteration_seconds=np.asarray(best.seconds), rank=rank, init=self.init_name, tol=self.tol,
            n_iter_max=self.n_iter_max, n_inner=self.n_inner, nonnegative=self.nonnegative,
            orthonormal_v=self.orthonormal_v, ridge=self.ridge, acceleration=self.acceleration,
            normalize_slices=self.normalize_slices, backend=self.backend, device=self.device, dtype=self.dtype.name,
            seed=self.seed, seeds=tuple(fit.seed for fit in fits),
            start_errors=np.array([fit.final_error for fit in fits]),
            start_signatures=np.array([np.full(n_rows, np.nan) if fit.diverged
                                       else _signatures(fit.A, fit.B, fit.C).mean(axis=1) * scale for fit in fits]),
            best_start=best_start, slice_norms=self.slice_norms, versions=versions,
        )

    def polar_factors(self, fit: Parafac2Start) -> list[np.ndarray]:
        """The P_l of a start's final factors, by the same float64 projection that ends every start."""
        P: list[np.ndarray] = [np.empty(0)] * len(self.slices)
        with open_backend(self.backend, self.slices, self.rank, dtype=np.dtype(np.float64), device=self.device) as xb:
            project(xb, *(xb.asarray(f) for f in (fit.A, fit.B, fit.C)), out=None, polar_factors=P)
        return P


def _validate_slices(matrices: Sequence[np.ndarray] | np.ndarray, rank: int) -> list[np.ndarray]:
    if isinstance(matrices, np.ndarray) and matrices.ndim != 3:
        raise ValueError(f"matrices as one array must be 3-D (L, d_l, d), got shape {matrices.shape}")
    slices = [np.asarray(m, dtype=np.float64) for m in matrices]
    if not slices:
        raise ValueError("matrices is empty: PARAFAC2 needs at least one slice")
    for i, m in enumerate(slices):
        if m.ndim != 2:
            raise ValueError(f"slice {i} must be 2-D, got shape {m.shape}")
        if m.shape[1] != slices[0].shape[1]:
            raise ValueError(
                f"slice {i} has {m.shape[1]} columns but slice 0 has {slices[0].shape[1]}: "
                "all slices must share their columns"
            )
        if not np.isfinite(m).all():
            raise ValueError(f"slice {i} contains NaN or Inf")
    if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) or rank < 1:
        raise ValueError(f"rank must be a positive integer, got {rank!r}")
    rows = [m.shape[0] for m in slices]
    if rank > min(rows):
        raise ValueError(
            f"rank {rank} exceeds the {min(rows)} rows of slice {int(np.argmin(rows))}: "
            "P_l must have orthonormal columns, so the rank is at most every slice's row count"
        )
    if rank > slices[0].shape[1]:
        raise ValueError(f"rank {rank} exceeds the number of columns ({slices[0].shape[1]})")
    return slices


def _validate_options(*, n_iter_max: int, tol: float, n_inner: int, n_starts: int, ridge: float, acceleration: str
                      ) -> None:
    if acceleration not in ("momentum", "linesearch", "none"):
        raise ValueError(f"acceleration must be 'momentum', 'linesearch' or 'none', got {acceleration!r}")
    for name, value in (("n_iter_max", n_iter_max), ("n_inner", n_inner), ("n_starts", n_starts)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    for name, value in (("tol", tol), ("ridge", ridge)):
        if not np.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a finite non-negative number, got {value!r}")


def _validate_backend(backend: str, device: str | None, dtype: Any) -> tuple[np.dtype, str]:
    """The fit's dtype and its resolved device, after checking that the backend can run them."""
    if backend not in ("numpy", "torch"):
        raise ValueError(f"backend must be 'numpy' or 'torch', got {backend!r}")
    try:
        work_dtype = np.dtype(dtype)
    except TypeError as exc:
        raise ValueError(f"dtype must be float64 or float32, got {dtype!r}") from exc
    if work_dtype not in (np.float64, np.float32):
        raise ValueError(f"dtype must be float64 or float32, got {dtype!r}")
    if backend == "numpy":
        if device not in (None, "cpu"):
            raise ValueError(f"device {device!r} needs backend='torch' (numpy runs on the CPU)")
        return work_dtype, "cpu"
    problem = device_problem(device or "cpu", flag="device")
    if problem:
        raise ConfigError(problem)
    return work_dtype, resolve_device(device or "cpu")


def _validate_init(init: Any, n_rows: int, rank: int, n_cols: int) -> tuple[np.ndarray, ...]:
    try:
        S, B, V = (np.array(f, dtype=np.float64) for f in init)
    except (TypeError, ValueError) as exc:
        raise ValueError("init must be 'svd', 'random' or a tuple of three arrays (S, B, V)") from exc
    for name, f, shape in (("S", S, (n_rows, rank)), ("B", B, (rank, rank)), ("V", V, (n_cols, rank))):
        if f.shape != shape:
            raise ValueError(f"init {name} must have shape {shape}, got {f.shape}")
        if not np.isfinite(f).all():
            raise ValueError(f"init {name} contains NaN or Inf")
    return S, B, V


def _svd_init(slices: list[np.ndarray], rank: int) -> tuple[np.ndarray, ...]:
    # The right singular vectors of the stacked slices are the eigenvectors of sum_l Omega_l^T Omega_l,
    # a d x d matrix however many rows there are.
    gram = sum(m.T @ m for m in slices)
    _, vectors = np.linalg.eigh(gram)
    V = vectors[:, ::-1][:, :rank]
    # TensorLy's svd_flip: the largest-magnitude entry of each column is positive.
    V = V * np.sign(V[np.argmax(np.abs(V), axis=0), np.arange(rank)])
    return np.ones((len(slices), rank)), np.eye(rank), V


def _random_init(n_rows: int, rank: int, n_cols: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    # TensorLy's draw. From B = I (orthonormal U_l) 29 of 30 starts on TensorLy's test problem (correlated
    # components) ended in a worse fit; from a random B 22 of 30 reached the planted model.
    return rng.uniform(size=(n_rows, rank)), rng.uniform(size=(rank, rank)), rng.uniform(size=(n_cols, rank))


def _signatures(A: np.ndarray, B: np.ndarray, C: np.ndarray) -> np.ndarray:
    """S: A with the column norms of B and C folded in, each column's sign making its mean non-negative."""
    S = A * (np.linalg.norm(B, axis=0) * np.linalg.norm(C, axis=0))
    return S * np.where(S.mean(axis=0) < 0, -1.0, 1.0)


def _normalised_factors(
    A: np.ndarray, B: np.ndarray, C: np.ndarray, P: list[np.ndarray]
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """U_l = P_l B and V = C with unit columns, norms folded into S, signs fixed, sorted by mean S."""
    norm_b = np.linalg.norm(B, axis=0)
    norm_c = np.linalg.norm(C, axis=0)
    S = A * (norm_b * norm_c)
    dead = np.flatnonzero((norm_b == 0) | (norm_c == 0))
    if dead.size:
        warnings.warn(
            f"PARAFAC2 component(s) {dead.tolist()} collapsed to zero: their U and V columns are zero",
            DegenerateInputWarning,
            stacklevel=3,
        )
    B = B / np.where(norm_b == 0, 1.0, norm_b)
    V = C / np.where(norm_c == 0, 1.0, norm_c)
    # S and V can swap sign together, and so can B and V; fix both choices.
    sign_s = np.where(S.mean(axis=0) < 0, -1.0, 1.0)
    S, V = S * sign_s, V * sign_s
    sign_v = np.sign(V[np.argmax(np.abs(V), axis=0), np.arange(V.shape[1])])
    sign_v[sign_v == 0] = 1.0
    V, B = V * sign_v, B * sign_v
    order = np.argsort(-S.mean(axis=0), kind="stable")
    U = [p @ B[:, order] for p in P]
    return U, S[:, order], V[:, order]

"""One start of PARAFAC2 by ALS, on any backend of :mod:`crossling.factorization._parafac2_backend`.

The projection onto polar factors, the CP sweeps over the projected tensor (HALS for non-negative signatures,
Procrustes for an orthonormal V), the acceleration (momentum or line search) and the stopping rule;
:func:`crossling.factorization.parafac2.parafac2` documents the algorithm and calls :func:`fit_start` once per
start. Factors are ``xb`` arrays (numpy or torch) in the fit's dtype; sums that the error and the stopping rule read
are float64 whatever that dtype.
"""

from __future__ import annotations

import time
from typing import Any, NamedTuple

import numpy as np

# TensorLy's parafac2 calls non_negative_parafac_hals with hals_nnls(n_iter_max=5): each outer
# iteration re-linearises the subproblem, so solving it exactly every time is wasted work.
_HALS_SWEEPS = 5
_HALS_TOL = 1e-8
# Bro's line search: step to iteration ** (1 / acc_pow) of the last update, after 4 failures in a row
# extrapolate less (acc_pow + 1); the same constants as TensorLy's _BroThesisLineSearch.
_LS_ACC_POW = 2.0
_LS_MAX_FAIL = 4
_LS_FIRST_ITERATION = 6
# A start is stopped as diverged once a component is this many times larger than the data (see fit_start).
_DIVERGED = 1e8
# A float32 fit goes on in float64 once its SSE changes by less than this times ||Omega||^2: float32's epsilon,
# about the rounding of the SSE computed from float32 factors (see fit_start).
_FLOAT32_RESOLUTION = float(np.finfo(np.float32).eps)


class Parafac2Start(NamedTuple):
    """One start of :func:`~crossling.factorization.parafac2.parafac2`, as
    :func:`~crossling.factorization.parafac2.parafac2_start` returns it: the start's final factors and record.

    Attributes
    ----------
    A : ndarray, shape (L, k)
        Signatures before the column norms of B and C are folded in (TensorLy's names A, B, C for S, B, V).
    B : ndarray, shape (k, k)
    C : ndarray, shape (d, k)
        V before normalisation. All three float64, on the fitted scale (normalised or ridge-scaled slices).
    P : list of ndarray (d_l, k), or None
        The polar factors of the final projection; None when the start was computed on its own (they are as
        large as the slices, so a cluster does not send them back; ``parafac2`` recomputes the kept start's).
    errors, trace, seconds : list of float
        Per iteration: relative error, mean signature, wall seconds.
    converged : bool
    final_error : float
        Relative error after the final projection; inf when the start diverged.
    final_objective : float
        The criterion the start minimised (SSE, plus the ridge penalty); the kept start has the lowest.
    diverged : bool
        Its factors overflowed (see ``parafac2``'s ``FloatingPointError``).
    index : int
        Which start of the fit (0 is the one from ``init``).
    seed : int or None
        Seed of ``numpy.random.default_rng`` for its random initial factors; None for the SVD or given start.
    """

    A: np.ndarray
    B: np.ndarray
    C: np.ndarray
    P: list[np.ndarray] | None
    errors: list[float]
    trace: list[float]
    seconds: list[float]
    converged: bool
    final_error: float
    final_objective: float
    diverged: bool = False
    index: int = 0
    seed: int | None = None


def fit_start(
    xb: Any,
    final: Any,
    norm_sq: float,
    factors: tuple[np.ndarray, np.ndarray, np.ndarray],
    *,
    n_iter_max: int,
    tol: float,
    n_inner: int,
    nonnegative: bool,
    orthonormal_v: bool,
    ridge: float,
    acceleration: str,
) -> Parafac2Start:
    """One start of ALS from host ``factors`` (S, B, V); with a ridge, the stopping rule and the acceleration follow
    the penalised criterion that the updates minimise.

    With ``orthonormal_v`` the starting V is replaced by its polar factor. ``xb`` runs the iterations; ``final``
    (``xb`` itself in float64, else its float64 twin) projects the last iterate once more, so the returned P_l,
    error and objective are those of the returned factors in float64. A float32 ``xb`` hands over to ``final``
    once an iteration changes the objective by less than :data:`_FLOAT32_RESOLUTION` ``* ||Omega||^2``: below
    that the change is float32's rounding, and the stopping rule would fire at random or never.

    Without a constraint a start can diverge without bound: random starts at full rank on issue 13's problem
    drove one factor towards 1e135 and another towards 1e-107 in their first iteration, and overflowed. A start
    is stopped, and returned with ``diverged`` set, when a factor is no longer finite or a component's
    magnitude ``||a_r|| ||b_r|| ||c_r||`` exceeds :data:`_DIVERGED` times ``||Omega||`` (the SSE computed from the
    Gram matrices then cancels terms of that size squared and has no correct digit left).
    """
    A, B, C = (xb.asarray(f) for f in factors)
    if orthonormal_v:
        C = polar(xb, C)
    n_rows, rank = A.shape
    projected = xb.empty((n_rows, rank, C.shape[0]))
    errors: list[float] = []
    trace: list[float] = []
    seconds: list[float] = []
    acc_pow, acc_fail = _LS_ACC_POW, 0
    momentum: tuple[Any, Any, Any] | None = None  # the extrapolated point the next ALS step starts from
    steps = 0  # momentum steps since the last restart
    objective_prev = np.inf
    converged = False

    def als_step(A: Any, B: Any, C: Any) -> tuple[Any, Any, Any, float, float]:
        """One ALS iteration from (A, B, C): projection and CP sweeps; its SSE and criterion (inf on overflow)."""
        try:
            with np.errstate(over="ignore", invalid="ignore"):
                project(xb, A, B, C, out=projected)
                A, B, C, inner, model_sq = cp_sweeps(
                    xb, projected, A, B, C, n_inner=n_inner, nonnegative=nonnegative, orthonormal_v=orthonormal_v,
                    ridge=ridge,
                )
                sse = max(norm_sq - 2 * inner + model_sq, 0.0)
                return A, B, C, sse, sse + penalty(xb, ridge, A, B, C)
        except FloatingPointError:  # a factor overflowed inside the sweeps
            return A, B, C, np.inf, np.inf

    for iteration in range(n_iter_max):
        tic = time.perf_counter()
        line_iter = acceleration == "linesearch" and iteration >= _LS_FIRST_ITERATION and iteration % 2 == 0
        last = (A, B, C)
        extrapolated = momentum is not None
        if extrapolated:
            A, B, C, sse, objective = als_step(*momentum)
            if not objective <= objective_prev:  # the momentum overshot: restart with a plain step from the iterate
                A, B, C, sse, objective = als_step(*last)
                extrapolated, steps = False, 0
        else:
            A, B, C, sse, objective = als_step(*last)
        if not np.isfinite(objective) or magnitude(xb, A, B, C) > _DIVERGED * np.sqrt(norm_sq):
            return Parafac2Start(*(xb.to_host(f) for f in (A, B, C)), [], errors, trace, seconds, False, np.inf,
                                 np.inf, diverged=True)
        if line_iter:
            jump = iteration ** (1.0 / acc_pow)
            trial = extrapolate(xb, last, (A, B, C), jump, nonnegative=nonnegative, orthonormal_v=orthonormal_v)
            trial_objective = np.inf  # an overflowed extrapolation fails like any step that is no better
            if trial is not None:
                # The error of the trial factors with their own projections: <Omega_l, P_l B D_l V^T> is
                # tr(P_l^T M_l), the nuclear norm of M_l, so no projected slices are needed.
                trial_nuclear = project(xb, *trial, out=None)
                trial_sse = max(norm_sq - 2 * trial_nuclear + model_norm_sq(xb, *trial), 0.0)
                trial_objective = trial_sse + penalty(xb, ridge, *trial)
            if trial_objective < objective:
                (A, B, C), sse, objective, acc_fail = trial, trial_sse, trial_objective, 0
            else:
                acc_fail += 1
                if acc_fail == _LS_MAX_FAIL:
                    acc_pow, acc_fail = acc_pow + 1.0, 0
        if acceleration == "momentum":
            steps += 1
            momentum = extrapolate(xb, last, (A, B, C), 1.0 + (steps - 1) / (steps + 2), nonnegative=nonnegative,
                                   orthonormal_v=orthonormal_v) if steps > 1 else None
        errors.append(float(np.sqrt(sse / norm_sq)))
        trace.append(mean_signature(xb, A, B, C))
        seconds.append(time.perf_counter() - tic)
        change = abs(objective_prev - objective)
        converged = iteration >= 1 and change <= tol * objective_prev
        if converged and extrapolated:
            # A step from an extrapolated point can land near the previous criterion by chance: the rule is met only
            # by a plain ALS step, the one the stopping rule is about, so take one next.
            converged, momentum, steps = False, None, 0
        if xb is not final and iteration >= 1 and (converged or change <= _FLOAT32_RESOLUTION * norm_sq):
            # Below what float32 resolves: the float32 SSE would stop the fit at random or never. Go on in float64.
            A, B, C = (final.asarray(xb.to_host(f)) for f in (A, B, C))
            xb, converged, momentum, steps = final, False, None, 0
            projected = xb.empty((n_rows, rank, C.shape[0]))
        if converged:
            break
        objective_prev = objective
    # Project once more so that U_l = P_l B is the best slice factor for the final S, B, V.
    host = tuple(xb.to_host(f) for f in (A, B, C))
    A, B, C = (final.asarray(f) for f in host)
    P: list[np.ndarray] = [np.empty(0)] * n_rows
    nuclear = project(final, A, B, C, out=None, polar_factors=P)
    final_sse = max(norm_sq - 2 * nuclear + model_norm_sq(final, A, B, C), 0.0)
    return Parafac2Start(*host, P, errors, trace, seconds, converged, float(np.sqrt(final_sse / norm_sq)),
                         final_sse + penalty(final, ridge, A, B, C))


def project(xb: Any, A: Any, B: Any, C: Any, *, out: Any | None, polar_factors: list[np.ndarray] | None = None
            ) -> float:
    """Polar factors P_l of M_l = Omega_l C diag(a_l) B^T; T_l = P_l^T Omega_l into ``out[l]``.

    P_l = U W^T for M_l = U Sigma W^T maximises tr(P_l^T M_l) over matrices with orthonormal columns
    (an orthonormal completion when M_l is rank-deficient, e.g. after a signature reached zero).
    Returns sum_l tr(P_l^T M_l) = sum_l ||M_l||_* (the inner product of the data with the model); with
    ``out`` and ``polar_factors`` both None only that sum is computed, from singular values alone.
    ``polar_factors[l]`` receives P_l on the host in float64. The groups of slices go through ``xb.map``
    (one SVD per slice is the largest cost of an iteration).
    """
    values_only = out is None and polar_factors is None

    def one(group: Any) -> tuple[float, Any]:
        weighted = (C[None, :, :] * A[group.rows][:, None, :]) @ B.T  # (g, d, k): C diag(a_l) B^T
        M = check(xb, group.data @ weighted)
        if values_only:
            return xb.total(xb.svdvals(M)), None
        left, singular_values, right_t = xb.svd(M)
        P = left @ right_t
        if out is not None:
            xb.put(out, group.rows, P.swapaxes(-1, -2), group.data)
        return xb.total(singular_values), P

    results = xb.map(one, xb.groups)
    if polar_factors is not None:
        for group, (_, P) in zip(xb.groups, results):
            rows = group.rows
            indices = range(rows.start, rows.stop) if isinstance(rows, slice) else rows.tolist()
            for j, i in enumerate(indices):
                polar_factors[i] = xb.to_host(P[j])
    return sum(nuclear for nuclear, _ in results)


def cp_sweeps(
    xb: Any,
    T: Any,
    A: Any,
    B: Any,
    C: Any,
    *,
    n_inner: int,
    nonnegative: bool,
    orthonormal_v: bool,
    ridge: float,
) -> tuple[Any, Any, Any, float, float]:
    """``n_inner`` CP-ALS sweeps (A, then B, then C) over the projected tensor T (L x k x d).

    Every MTTKRP is a sum over slices of small products: for A, diag(B^T T_l C); for B,
    sum_l T_l C diag(a_l); for C, sum_l T_l^T B diag(a_l). Returns the factors, <T, [[A, B, C]]> and
    ||[[A, B, C]]||^2 (both in float64). With ``orthonormal_v`` C is the polar factor of its MTTKRP:
    for C^T C = I the criterion is ||T||^2 - 2 tr(C^T M) + ||[[A, B]]||^2, so Procrustes solves it. A ridge
    adds ``ridge * I`` to each Gram matrix (the minimiser of the penalised criterion in that factor).
    """
    n_rows, rank, n_cols = T.shape
    flat = T.reshape(n_rows * rank, n_cols)
    damping = ridge * xb.eye(rank) if ridge else 0.0
    gram_b = B.T @ B
    for _ in range(n_inner):
        gram_c = C.T @ C
        work = xb.times_c(flat, C).reshape(n_rows, rank, rank)  # T_l C for every l
        mttkrp_a = xb.einsum("lir,ir->lr", work, B)
        gram_a = gram_b * gram_c + damping
        A = hals_nonnegative(xb, mttkrp_a, gram_a, A) if nonnegative else solve_gram(xb, gram_a, mttkrp_a)
        mttkrp_b = xb.einsum("lir,lr->ir", work, A)
        gram_aa = A.T @ A
        B = solve_gram(xb, gram_aa * gram_c + damping, mttkrp_b)
        gram_b = B.T @ B
        mttkrp_ct = xb.c_mttkrp(flat, A, B)  # (k x d), overwrites work
        if orthonormal_v:
            C = polar(xb, check(xb, mttkrp_ct.T))
        else:
            C = solve_gram(xb, gram_aa * gram_b + damping, mttkrp_ct.T)
    inner = xb.dot(mttkrp_ct, C.T)
    # ||[[A, B, C]]||^2 as model_norm_sq, but summed as vdot(A^T A * B^T B, C^T C): the rounding of the stopping
    # rule's SSE, and so the iteration at which a fit stops, are those of the float64 solver before the backends.
    return A, B, C, inner, xb.dot(xb.gram64(A) * xb.gram64(B), xb.gram64(C))


def check(xb: Any, X: Any) -> Any:
    """X, after checking that it did not overflow: LAPACK must not see Inf or NaN (it prints, then fails).

    Every LAPACK input of an iteration passes here: the Gram matrices and MTTKRPs of the solves, the matrices
    of the polar factors. (HALS, the other update, is plain arithmetic; its result reaches LAPACK only through
    these.)"""
    if not xb.finite(X):
        raise FloatingPointError("a PARAFAC2 factor overflowed")
    return X


def extrapolate(xb: Any, old: tuple[Any, Any, Any], new: tuple[Any, Any, Any], jump: float, *, nonnegative: bool,
                orthonormal_v: bool) -> tuple[Any, Any, Any] | None:
    """``old + (new - old) * jump`` for each factor, back in the constraints (S clipped at 0, V's polar factor);
    None when it overflowed."""
    with np.errstate(over="ignore", invalid="ignore"):
        A, B, C = (o + (n - o) * jump for o, n in zip(old, new))
    if not all(xb.finite(f) for f in (A, B, C)):
        return None
    return (xb.clamp0(A) if nonnegative else A), B, (polar(xb, C) if orthonormal_v else C)


def polar(xb: Any, M: Any) -> Any:
    """The orthonormal polar factor W Z^T of M = W Sigma Z^T: the matrix with orthonormal columns nearest to
    M, and the maximiser of tr(Q^T M) over such Q (orthogonal Procrustes)."""
    left, _, right_t = xb.svd(M)
    return left @ right_t


def solve_gram(xb: Any, gram: Any, mttkrp: Any) -> Any:
    """Least-squares factor update X = mttkrp @ gram^-1 (gram is symmetric)."""
    gram, mttkrp = check(xb, gram), check(xb, mttkrp)
    solution = xb.solve_gram(gram, mttkrp)
    # A component that vanished makes the Gram matrix singular; the minimum-norm solution keeps it at zero
    # instead of failing.
    return xb.lstsq_gram(gram, mttkrp) if solution is None else solution


def hals_nonnegative(xb: Any, mttkrp: Any, gram: Any, A: Any) -> Any:
    """Hierarchical ALS for min_{A >= 0} ||T_(1) - A (B odot C)^T||, one component (column) at a time.

    Column r becomes max(0, a_r + (m_r - A g_r) / g_rr), which solves the problem in a_r exactly with the
    other columns fixed (Gillis and Glineur 2012); five sweeps, stopping early when a sweep changes A by
    less than 1e-8 times the first sweep's change, as TensorLy's ``hals_nnls``.
    """
    # Rows of the transposed copy are the columns of A, so each update touches contiguous memory.
    At = xb.copy(A.T)
    mt = xb.contiguous(mttkrp.T)
    diagonal = xb.to_host(gram.diagonal())  # read once: a GPU would wait for each entry
    first_change = None
    for _ in range(_HALS_SWEEPS):
        change: Any = 0.0
        for r in range(At.shape[0]):
            if diagonal[r] <= 0:
                continue
            new = xb.clamp0(At[r] + (mt[r] - gram[r] @ At) / gram[r, r])
            step = new - At[r]
            change = change + step @ step
            At[r] = new
        change = float(change)
        if first_change is None:
            first_change = change
        elif change < _HALS_TOL * first_change:
            break
    return xb.contiguous(At.T)


def model_norm_sq(xb: Any, A: Any, B: Any, C: Any) -> float:
    """||[[A, B, C]]||^2 = sum of the Hadamard product of the three Gram matrices (= the PARAFAC2 model's
    squared norm, the P_l having orthonormal columns), in float64."""
    return xb.total(xb.gram64(A) * xb.gram64(B) * xb.gram64(C))


def penalty(xb: Any, ridge: float, A: Any, B: Any, C: Any) -> float:
    """The ridge penalty ridge (||A||^2 + ||B||^2 + ||C||^2)."""
    return ridge * (xb.dot(A, A) + xb.dot(B, B) + xb.dot(C, C)) if ridge else 0.0


def _column_norms(X: Any) -> Any:
    return (X * X).sum(0) ** 0.5


def magnitude(xb: Any, A: Any, B: Any, C: Any) -> float:
    """The largest component magnitude ||a_r|| ||b_r|| ||c_r|| (inf or NaN once the factors overflowed)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return float((_column_norms(A) * _column_norms(B) * _column_norms(C)).max())


def mean_signature(xb: Any, A: Any, B: Any, C: Any) -> float:
    """The mean of S (A with the column norms of B and C folded in, each column's sign making its mean
    non-negative): mean_r |sum_l a_lr| ||b_r|| ||c_r|| / L."""
    n_rows, rank = A.shape
    return xb.total(abs(A.sum(0)) * _column_norms(B) * _column_norms(C)) / (n_rows * rank)

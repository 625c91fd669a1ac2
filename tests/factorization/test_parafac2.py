"""PARAFAC2: recovery of planted models, agreement with TensorLy, invariances and bad input."""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from crossling.exceptions import ConvergenceWarning
from crossling.factorization.parafac2 import (
    N_INNER,
    N_ITER_MAX,
    TOL,
    Parafac2Result,
    parafac2,
    parafac2_start,
    random_covariance_slices,
    random_parafac2,
)

# (row counts, columns, rank): uneven slice heights, a square case and a wide one.
SIZES = [
    ([10, 12, 15, 9, 11, 14], 13, 4),
    ([30, 25, 40, 35, 28, 33, 31, 27], 20, 6),
    ([8, 8, 8, 20, 20, 20, 12], 16, 3),
    ([12] * 7, 12, 5),
]


def congruence(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Tucker's congruence |cos| between every column of X and every column of Y."""
    Xn = X / np.linalg.norm(X, axis=0)
    Yn = Y / np.linalg.norm(Y, axis=0)
    return np.abs(Xn.T @ Yn)


def matched_congruences(truth, fit: Parafac2Result) -> dict[str, np.ndarray]:
    """Per-factor congruences after the permutation (Hungarian) that maximises their product."""
    per_factor = {
        "S": congruence(truth.S, fit.S),
        "V": congruence(truth.V, fit.V),
        "U": congruence(np.vstack(truth.U), np.vstack(fit.U)),
    }
    rows, cols = linear_sum_assignment(-np.prod(list(per_factor.values()), axis=0))
    return {name: c[rows, cols] for name, c in per_factor.items()}


def explicit_error(matrices, slices_hat) -> float:
    residual = sum(np.linalg.norm(m - h) ** 2 for m, h in zip(matrices, slices_hat))
    return float(np.sqrt(residual / sum(np.linalg.norm(m) ** 2 for m in matrices)))


@pytest.mark.parametrize("nonnegative", [True, False])
@pytest.mark.parametrize(("rows", "cols", "rank"), SIZES)
def test_recovers_planted_model(rows, cols, rank, nonnegative):
    planted = random_parafac2(rows, cols, rank, noise=1e-3, seed=sum(rows) + rank)
    fit = parafac2(planted.matrices, rank, nonnegative=nonnegative, tol=1e-10, n_iter_max=1000)
    for name, values in matched_congruences(planted, fit).items():
        assert values.min() >= 0.99, (name, values)
    # Low noise: the fit error is at the noise level.
    assert fit.relative_error < 2e-3


@pytest.mark.parametrize("acceleration", ["momentum", "linesearch", "none"])
@pytest.mark.parametrize(("rows", "cols", "rank"), SIZES[:2])
def test_result_conventions_and_error_bookkeeping(rows, cols, rank, acceleration):
    planted = random_parafac2(rows, cols, rank, noise=0.05, seed=3)
    fit = parafac2(planted.matrices, rank, tol=1e-10, n_iter_max=1000, acceleration=acceleration)
    assert [u.shape for u in fit.U] == [(r, rank) for r in rows]
    assert fit.S.shape == (len(rows), rank) and fit.V.shape == (cols, rank)
    np.testing.assert_allclose(np.linalg.norm(fit.V, axis=0), 1.0, atol=1e-12)
    for u in fit.U:
        np.testing.assert_allclose(np.linalg.norm(u, axis=0), 1.0, atol=1e-12)
        # Harshman's constraint: the same cross-product for every slice.
        np.testing.assert_allclose(u.T @ u, fit.U[0].T @ fit.U[0], atol=1e-10)
    assert (fit.S >= 0).all()
    assert np.all(np.diff(fit.S.mean(axis=0)) <= 0)
    # The cheap error (small matrices only) is the true reconstruction error.
    assert fit.relative_error == pytest.approx(explicit_error(planted.matrices, fit.reconstruct()), abs=1e-10)
    # ALS never increases the error; the final projection only improves on the last iteration.
    assert np.all(np.diff(fit.errors) <= 1e-12)
    assert fit.relative_error <= fit.errors[-1] + 1e-12
    assert fit.n_iter == len(fit.errors) and fit.converged
    # The stopping rule as documented: the relative change of the sum of squared residuals.
    sse = fit.errors**2
    assert abs(sse[-2] - sse[-1]) <= 1e-10 * sse[-2]
    if acceleration != "momentum":  # every iteration may stop the fit
        assert np.all(np.abs(np.diff(sse[:-1])) > 1e-10 * sse[:-2])
    assert fit.init == "svd" and fit.seeds == (None,) and fit.spread == 0.0


# --- agreement with TensorLy ------------------------------------------------------------------------

tl = pytest.importorskip("tensorly")
from tensorly.decomposition import parafac2 as tl_parafac2  # noqa: E402
from tensorly.parafac2_tensor import Parafac2Tensor, parafac2_to_slices  # noqa: E402

AGREEMENT = [
    (([10, 12, 15, 9, 11, 14], 13, 4), 0.05),
    (([16, 20, 18, 25, 17], 15, 5), 0.3),
    (([9] * 8, 9, 9), 0.2),  # rank = rows = columns, as in the original study
]


def _tensorly(matrices, rank, *, init, nonnegative, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, errors = tl_parafac2(
            [np.asarray(m) for m in matrices], rank, init=init, nn_modes=[0] if nonnegative else None,
            return_errors=True, **options,
        )
    return model, np.array([float(e) for e in errors])


# With rank = rows, a signature that reaches zero makes M_l rank-deficient and its polar factor
# non-unique (any orthonormal completion is optimal), so the two paths may part; that case is only
# compared on its final error (below).
TRAJECTORIES = [
    (problem, noise, nonnegative)
    for problem, noise in AGREEMENT
    for nonnegative in (True, False)
    if not (nonnegative and problem[2] == min(problem[0]))
]


@pytest.mark.parametrize(("problem", "noise", "nonnegative"), TRAJECTORIES)
def test_same_iterates_as_tensorly_without_linesearch(problem, noise, nonnegative):
    # Same SVD start, same updates: the error traces agree iteration by iteration, which checks the
    # Khatri-Rao-free products and the small-matrix error against TensorLy's dense route.
    planted = random_parafac2(*problem, noise=noise, seed=11)
    rank = problem[2]
    fit = parafac2(planted.matrices, rank, nonnegative=nonnegative, acceleration="none", tol=0, n_iter_max=40)
    _, tl_errors = _tensorly(
        planted.matrices, rank, init="svd", nonnegative=nonnegative, linesearch=False, tol=1e-300,
        n_iter_max=40,
    )
    np.testing.assert_allclose(fit.errors, tl_errors, rtol=0, atol=1e-8)


@pytest.mark.parametrize("acceleration", ["none", "linesearch"])
@pytest.mark.parametrize("nonnegative", [True, False])
@pytest.mark.parametrize(("problem", "noise"), AGREEMENT)
def test_final_error_no_worse_than_tensorly(problem, noise, nonnegative, acceleration):
    linesearch = acceleration == "linesearch"
    planted = random_parafac2(*problem, noise=noise, seed=5)
    rows, cols, rank = problem
    rng = np.random.default_rng(7)
    S0, B0, V0 = rng.uniform(size=(len(rows), rank)), np.eye(rank), rng.standard_normal((cols, rank))
    projections = [np.eye(r, rank) for r in rows]  # recomputed by TensorLy before they are used
    model, _ = _tensorly(
        planted.matrices, rank, init=Parafac2Tensor((None, [S0, B0, V0], projections)),
        nonnegative=nonnegative, linesearch=linesearch, tol=1e-10, n_iter_max=150,
    )
    fit = parafac2(
        planted.matrices, rank, init=(S0, B0, V0), nonnegative=nonnegative, acceleration=acceleration,
        tol=1e-10, n_iter_max=150,
    )
    tl_error = explicit_error(planted.matrices, parafac2_to_slices(model))
    ours = explicit_error(planted.matrices, fit.reconstruct())
    assert ours <= tl_error + 1e-6
    assert fit.init == "given"
    if nonnegative:
        assert (fit.S >= 0).all()


# --- invariances ------------------------------------------------------------------------------------


@pytest.mark.parametrize("orthonormal_v", [False, True])
def test_momentum_reaches_the_same_minimum_in_fewer_iterations(orthonormal_v):
    # Acceleration changes the path, not the minimum: from the SVD start, plain ALS run to a tight tolerance and
    # momentum end at the same error and signatures; momentum needs fewer iterations, and its restarts keep the
    # criterion from ever rising.
    planted = random_parafac2([14, 12, 15, 13, 11, 16, 12, 14], 12, 4, noise=0.05, orthonormal_v=orthonormal_v,
                              seed=2)
    options = dict(tol=1e-13, n_iter_max=20000, orthonormal_v=orthonormal_v)
    plain = parafac2(planted.matrices, 4, acceleration="none", **options)
    fast = parafac2(planted.matrices, 4, acceleration="momentum", **options)
    assert plain.converged and fast.converged and fast.acceleration == "momentum"
    assert fast.relative_error == pytest.approx(plain.relative_error, rel=1e-7)
    np.testing.assert_allclose(fast.S, plain.S, rtol=1e-4, atol=1e-6 * np.abs(plain.S).max())
    assert fast.n_iter < 0.75 * plain.n_iter  # 136 against 605 without a constraint on V, 19 against 28 with one
    assert np.all(np.diff(fast.errors) <= 1e-12)


def test_permuting_slices_permutes_signatures():
    planted = random_parafac2([10, 12, 15, 9, 11, 14], 13, 4, noise=0.05, seed=2)
    order = np.array([3, 0, 5, 1, 4, 2])
    fit = parafac2(planted.matrices, 4, tol=1e-12, n_iter_max=1000)
    permuted = parafac2([planted.matrices[i] for i in order], 4, tol=1e-12, n_iter_max=1000)
    np.testing.assert_allclose(permuted.S, fit.S[order], atol=1e-7)
    np.testing.assert_allclose(permuted.V, fit.V, atol=1e-7)
    for i, u in zip(order, permuted.U):
        np.testing.assert_allclose(u, fit.U[i], atol=1e-6)


def test_rotating_and_scaling_slices():
    # PARAFAC2 is invariant to an orthogonal change of basis of each slice's rows (U_l rotates with it)
    # and equivariant to a global scale (signatures scale).
    planted = random_parafac2([10, 12, 15, 9, 11], 13, 3, noise=0.05, seed=4)
    rng = np.random.default_rng(0)
    rotations = [np.linalg.qr(rng.standard_normal((m.shape[0],) * 2))[0] for m in planted.matrices]
    fit = parafac2(planted.matrices, 3, tol=1e-12, n_iter_max=1000)
    moved = parafac2([2.5 * q @ m for q, m in zip(rotations, planted.matrices)], 3, tol=1e-12, n_iter_max=1000)
    np.testing.assert_allclose(moved.S, 2.5 * fit.S, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(moved.V, fit.V, atol=1e-6)
    for q, u, u_moved in zip(rotations, fit.U, moved.U):
        np.testing.assert_allclose(u_moved, q @ u, atol=1e-6)
    assert moved.relative_error == pytest.approx(fit.relative_error, abs=1e-9)


def test_array_input_and_float32_give_the_same_fit():
    planted = random_parafac2([9] * 6, 11, 3, noise=0.05, seed=8)
    fit = parafac2(planted.matrices, 3, n_iter_max=1000)
    stacked = parafac2(np.stack(planted.matrices), 3, n_iter_max=1000)
    np.testing.assert_array_equal(stacked.S, fit.S)
    single = parafac2([m.astype(np.float32) for m in planted.matrices], 3, n_iter_max=1000)
    np.testing.assert_allclose(single.S, fit.S, rtol=1e-4)


def test_slices_split_over_threads_give_the_same_fit(monkeypatch):
    # Large slices are split over threads (one BLAS thread each); only the split changes, not the
    # arithmetic, so the fit is the one computed in the calling thread. Forced here on small slices.
    from threadpoolctl import threadpool_info, threadpool_limits

    import crossling.factorization._parafac2_backend as module

    planted = random_parafac2([10, 12, 15, 9, 11, 14], 13, 4, noise=0.05, seed=12)
    options = dict(nonnegative=True, tol=1e-10, n_iter_max=60)
    with threadpool_limits(limits=1, user_api="blas"):
        serial = parafac2(planted.matrices, 4, **options)
    tasks = []

    class CountingExecutor(module.ThreadPoolExecutor):
        def submit(self, *args, **kwargs):
            tasks.append(args[0])
            return super().submit(*args, **kwargs)

    monkeypatch.setattr(module, "_PARALLEL_MIN_WORK", 0)
    monkeypatch.setattr(module, "ThreadPoolExecutor", CountingExecutor)
    with threadpool_limits(limits=2, user_api="blas"):
        blas_threads = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]
        if max(blas_threads, default=1) < 2:
            pytest.skip("BLAS runs a single thread here")
        threaded = parafac2(planted.matrices, 4, **options)
        # BLAS was limited to one thread per call only during the fit.
        assert [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"] == blas_threads
    # Every projection (6 slices) and both CP products went through the pool.
    assert len(tasks) >= threaded.n_iter * 6
    np.testing.assert_allclose(threaded.errors, serial.errors, rtol=0, atol=1e-10)
    np.testing.assert_allclose(threaded.S, serial.S, atol=1e-8)
    np.testing.assert_allclose(threaded.V, serial.V, atol=1e-8)
    assert threaded.relative_error == pytest.approx(serial.relative_error, abs=1e-12)


# --- starts, normalisation, generator -------------------------------------------------------------


def test_multiple_starts_keep_the_best_and_report_the_spread():
    planted = random_parafac2([10, 12, 15, 9, 11, 14], 13, 4, noise=0.2, seed=6)
    fit = parafac2(planted.matrices, 4, n_starts=3, seed=123, tol=1e-8, n_iter_max=200)
    assert fit.start_errors.shape == (3,)
    assert fit.relative_error == fit.start_errors.min() == fit.start_errors[fit.best_start]
    assert fit.spread == pytest.approx(fit.start_errors.max() - fit.start_errors.min())
    assert fit.seeds[0] is None and all(isinstance(s, int) for s in fit.seeds[1:])
    # A random start is reproducible from its recorded seed.
    again = parafac2(planted.matrices, 4, n_starts=3, seed=123, tol=1e-8, n_iter_max=200)
    np.testing.assert_array_equal(again.start_errors, fit.start_errors)
    random_only = parafac2(planted.matrices, 4, init="random", n_starts=2, seed=1, n_iter_max=20)
    assert random_only.init == "random" and all(isinstance(s, int) for s in random_only.seeds)
    assert len(set(random_only.seeds)) == 2


def _assert_same_fit(a: Parafac2Result, b: Parafac2Result) -> None:
    for name in ("S", "V", "errors", "start_errors", "start_signatures", "signature_trace"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    for u, v in zip(a.U, b.U):
        np.testing.assert_array_equal(u, v)
    assert (a.seeds, a.best_start, a.n_iter, a.relative_error) == (b.seeds, b.best_start, b.n_iter, b.relative_error)


@pytest.mark.parametrize("options", [
    dict(n_starts=3, seed=123, tol=1e-8, n_iter_max=200),
    dict(init="random", n_starts=2, seed=1, n_iter_max=20, orthonormal_v=True, normalize_slices=True),
    dict(n_starts=2, seed=4, ridge=1e-3, dtype="float32", n_iter_max=60),
])
def test_starts_computed_on_their_own_give_the_same_fit(options):
    planted = random_parafac2([10, 12, 15, 9, 11, 14], 13, 4, noise=0.2, seed=6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        whole = parafac2(planted.matrices, 4, **options)
        # In reverse, each in its own call, as tasks on a cluster would run them.
        starts = [parafac2_start(planted.matrices, 4, index, **options) for index in reversed(range(len(whole.seeds)))]
        assert all(start.P is None for start in starts)
        assert [start.seed for start in reversed(starts)] == list(whole.seeds)
        _assert_same_fit(parafac2(planted.matrices, 4, starts=starts[::-1], **options), whole)


def test_starts_of_another_fit_or_out_of_order_are_rejected():
    planted = random_parafac2([10, 12, 15, 9, 11, 14], 13, 4, noise=0.2, seed=6)
    options = dict(n_starts=2, seed=3, n_iter_max=5, tol=0.0)
    starts = [parafac2_start(planted.matrices, 4, index, **options) for index in range(2)]
    with pytest.raises(ValueError, match="starts in order"):
        parafac2(planted.matrices, 4, starts=starts[::-1], **options)
    with pytest.raises(ValueError, match="starts in order"):
        parafac2(planted.matrices, 4, starts=starts[:1], **options)
    with pytest.raises(ValueError, match="not computed for these slices and options"):
        parafac2(planted.matrices, 4, starts=starts, **{**options, "seed": 4})
    with pytest.raises(ValueError, match="not computed for these slices and options"):
        parafac2(planted.matrices, 3, starts=starts, **options)
    with pytest.raises(ValueError, match="index must be a start of the fit, 0 to 1"):
        parafac2_start(planted.matrices, 4, 2, **options)
    with pytest.raises(TypeError, match="takes no starts"):
        parafac2_start(planted.matrices, 4, 0, starts=starts, **options)
    with pytest.raises(TypeError, match="no option 'n_iter'"):
        parafac2_start(planted.matrices, 4, 0, n_iter=5)


def test_normalize_slices_fits_unit_norm_slices():
    planted = random_parafac2([10, 12, 15, 9], 13, 3, noise=0.05, seed=9)
    scaled = [m * f for m, f in zip(planted.matrices, [1.0, 10.0, 0.1, 3.0])]
    fit = parafac2(scaled, 3, normalize_slices=True, n_iter_max=1000)
    norms = np.array([np.linalg.norm(m) for m in scaled])
    np.testing.assert_allclose(fit.slice_norms, norms)
    manual = parafac2([m / n for m, n in zip(scaled, norms)], 3, n_iter_max=1000)
    np.testing.assert_allclose(fit.S, manual.S, atol=1e-12)
    assert fit.normalize_slices and not manual.normalize_slices
    np.testing.assert_allclose(manual.slice_norms, 1.0)


def test_random_parafac2_is_a_parafac2_model():
    planted = random_parafac2([5, 7, 9], 6, 2, noise=0.1, seed=0)
    for m, u, s in zip(planted.matrices, planted.U, planted.S):
        signal = (u * s) @ planted.V.T
        assert np.linalg.norm(m - signal) == pytest.approx(0.1 * np.linalg.norm(signal))
        np.testing.assert_allclose(u.T @ u, planted.U[0].T @ planted.U[0], atol=1e-12)
    assert (planted.S > 0).all()
    again = random_parafac2([5, 7, 9], 6, 2, noise=0.1, seed=0)
    np.testing.assert_array_equal(again.matrices[2], planted.matrices[2])


def test_a_fit_stopped_by_its_budget_warns():
    planted = random_parafac2([10, 12, 15, 9], 13, 3, noise=0.05, seed=9)
    with pytest.warns(ConvergenceWarning, match=r"stopped at n_iter_max=3 before .* tol=1e-08"):
        fit = parafac2(planted.matrices, 3, n_iter_max=3, tol=1e-8)
    assert not fit.converged and fit.n_iter == 3
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        exact = parafac2(planted.matrices, 3, n_iter_max=3, tol=0)  # tol=0 asks for exactly n_iter_max iterations
        converged = parafac2(planted.matrices, 3, n_iter_max=1000)
    assert exact.n_iter == 3 and not exact.converged and converged.converged


def test_one_default_for_the_iteration_budget_and_the_seed():
    from crossling.factorization.signatures import fit_signatures
    from crossling.factorization.study import FactorizationOptions

    for function in (parafac2, fit_signatures):
        parameters = inspect.signature(function).parameters
        # 1000 since issue 13 (the original study's 100 is the paper preset's): a budget that fits meet tol within
        assert parameters["n_iter_max"].default == N_ITER_MAX == 1000 and parameters["tol"].default == TOL
        assert parameters["n_inner"].default == N_INNER
        assert "seed" in parameters and "random_state" not in parameters
    assert FactorizationOptions().n_iter_max == N_ITER_MAX and FactorizationOptions().tol == TOL
    assert FactorizationOptions().n_inner == N_INNER
    planted = random_parafac2([5, 6, 7], 6, 2, seed=1)
    assert parafac2(planted.matrices, 2, seed=4, n_starts=2).seed == 4


# --- random starts, constraints, ridge, divergence ---------------------------------------------------


def _tensorly_test_problem():
    """TensorLy's own PARAFAC2 test problem (tensorly/decomposition/tests/test_parafac2.py): 25 slices of
    (15-19) x 30, rank 3, all factors uniform on [0, 1) (correlated components), 0.01 added to the first."""
    from tensorly.random import random_parafac2 as tl_random_parafac2

    rng = tl.check_random_state(1234)
    model = tl_random_parafac2(shapes=[(15 + rng.randint(5), 30) for _ in range(25)], rank=3, random_state=rng)
    model.factors[0] = model.factors[0] + 0.01
    A, B, C = model.factors
    truth = random_parafac2([5], 3, 1)._replace(U=[P @ B for P in model.projections], S=A, V=C)
    return truth, parafac2_to_slices(model)


def test_random_starts_reach_the_planted_model_of_tensorlys_test():
    # Drawing B = I in the start (orthonormal U_l) reached it in 1 of these 30 starts; TensorLy reaches it in
    # 24. The criterion is TensorLy's test's: every factor's congruence above 0.98.
    truth, slices = _tensorly_test_problem()
    reached = 0
    for seed in range(30):
        fit = parafac2(slices, 3, init="random", nonnegative=False, seed=seed)
        congruences = matched_congruences(truth, fit)
        reached += min(values.min() for values in congruences.values()) > 0.98 and fit.relative_error < 0.1
    assert reached >= 15


def test_orthonormal_v_recovers_its_model_and_bounds_the_signatures():
    planted = random_parafac2([10, 12, 15, 9, 11, 14], 13, 4, noise=1e-3, orthonormal_v=True, seed=7)
    np.testing.assert_allclose(planted.V.T @ planted.V, np.eye(4), atol=1e-12)
    fit = parafac2(planted.matrices, 4, orthonormal_v=True, tol=1e-10, n_iter_max=2000)
    assert fit.orthonormal_v
    np.testing.assert_allclose(fit.V.T @ fit.V, np.eye(4), atol=1e-10)
    for name, values in matched_congruences(planted, fit).items():
        assert values.min() >= 0.99, (name, values)
    assert fit.relative_error < 2e-3
    # With V^T V = I and unit U columns, a signature's norm is its fitted slice's, and a least-squares fit is no
    # larger than the data (the residual is orthogonal to the fit along each slice's scale).
    for u, s, m, fitted in zip(fit.U, fit.S, planted.matrices, fit.reconstruct()):
        assert np.linalg.norm(s) == pytest.approx(np.linalg.norm(fitted), rel=1e-10)
        assert np.linalg.norm(fitted) <= np.linalg.norm(m) * (1 + 1e-8)
    # Not the model of the data: an unconstrained fit is better, the constrained one still a valid PARAFAC2.
    correlated = random_parafac2([10, 12, 15, 9, 11, 14], 13, 4, noise=1e-3, seed=7)
    free = parafac2(correlated.matrices, 4, tol=1e-10, n_iter_max=2000)
    constrained = parafac2(correlated.matrices, 4, orthonormal_v=True, tol=1e-10, n_iter_max=2000)
    assert free.relative_error < constrained.relative_error
    assert constrained.relative_error == pytest.approx(explicit_error(correlated.matrices, constrained.reconstruct()),
                                                       abs=1e-10)


def test_ridge_shrinks_the_signatures_whatever_the_units_of_the_data():
    planted = random_parafac2([10, 12, 15, 9, 11, 14], 13, 4, noise=0.05, seed=3)
    options = dict(tol=1e-12, n_iter_max=3000)
    free = parafac2(planted.matrices, 4, **options)
    means = [parafac2(planted.matrices, 4, ridge=ridge, **options).S.mean() for ridge in (1e-4, 1e-3, 1e-2)]
    assert free.S.mean() > means[0] > means[1] > means[2] > 0
    # A vanishing ridge is no ridge.
    tiny = parafac2(planted.matrices, 4, ridge=1e-14, **options)
    np.testing.assert_allclose(np.sort(tiny.S.mean(axis=0)), np.sort(free.S.mean(axis=0)), rtol=1e-5)
    # The ridge acts on the data scaled to unit norm: the fit of 1000 times the data is 1000 times the fit.
    # Plain ALS takes the same path on both to rounding. Momentum's restarts compare nearly equal criteria, so the
    # rounding of the scaled data can change where it stops: the same fit to the precision the tolerance gives.
    for acceleration, rtol in (("none", 1e-12), ("momentum", 1e-6)):
        base = parafac2(planted.matrices, 4, ridge=1e-3, acceleration=acceleration, **options)
        scaled = parafac2([1000 * m for m in planted.matrices], 4, ridge=1e-3, acceleration=acceleration, **options)
        np.testing.assert_allclose(scaled.S, 1000 * base.S, rtol=rtol)
        assert scaled.relative_error == pytest.approx(base.relative_error, rel=rtol) and base.ridge == 1e-3


def test_trace_and_start_signatures_are_those_of_the_factors():
    planted = random_parafac2([10, 12, 15, 9, 11, 14], 13, 4, noise=0.2, seed=6)
    fit = parafac2(planted.matrices, 4, n_starts=3, seed=1, n_iter_max=500)
    assert fit.signature_trace.shape == (fit.n_iter,)
    assert fit.signature_trace[-1] == pytest.approx(fit.S.mean(), rel=1e-12)
    assert fit.start_signatures.shape == (3, 6)
    np.testing.assert_allclose(fit.start_signatures[fit.best_start], fit.S.mean(axis=1), rtol=1e-12)


def test_diverging_starts_are_left_out_and_all_diverging_is_an_error():
    # Random starts without a constraint at full rank on issue 13's kind of slices drive a factor to overflow in
    # their first iteration; the SVD start does not diverge that fast.
    slices = random_covariance_slices(6, 24, n_rows=500, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warnings from numpy, no LAPACK failure
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit = parafac2(slices, 24, n_starts=3, seed=0, n_iter_max=50)
    assert fit.best_start == 0 and np.isfinite(fit.start_errors[0])
    assert np.isinf(fit.start_errors[1:]).all() and np.isnan(fit.start_signatures[1:]).all()
    with pytest.raises(FloatingPointError, match="diverged in every start"):
        parafac2(slices, 24, init="random", n_starts=2, seed=0, n_iter_max=50)
    # Constrained, the same starts do not diverge.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        constrained = parafac2(slices, 24, init="random", orthonormal_v=True, n_starts=2, seed=0, n_iter_max=50)
    assert np.isfinite(constrained.start_errors).all()


def test_random_covariance_slices_are_covariances_of_the_documented_variables():
    slices = random_covariance_slices(3, 5, n_rows=200, seed=4)
    rng = np.random.default_rng(4)
    shared = rng.standard_normal((200, 5)) * np.linspace(2.0, 0.2, 5)
    for language, omega in enumerate(slices, start=1):
        Y = shared + 0.7 * rng.standard_normal((200, 5))
        G = rng.standard_normal((5, 5))
        Z = shared @ (np.eye(5) + 0.5 * G / np.sqrt(5)) + (0.5 + 0.1 * language) * rng.standard_normal((200, 5))
        np.testing.assert_allclose(omega, np.cov(Z.T, Y.T)[:5, 5:], rtol=1e-12)


# --- bad input ------------------------------------------------------------------------------------


def _slices():
    return random_parafac2([6, 7, 8], 5, 2, seed=0).matrices


@pytest.mark.parametrize(
    ("matrices", "rank", "options", "message"),
    [
        ([], 2, {}, "empty"),
        ("nan", 2, {}, "slice 1 contains NaN or Inf"),
        ("inf", 2, {}, "slice 1 contains NaN or Inf"),
        ("ok", 7, {}, "exceeds the 6 rows of slice 0"),
        ("ok", 6, {}, "exceeds the number of columns"),
        ("ok", 0, {}, "rank must be a positive integer"),
        ("ok", 2.0, {}, "rank must be a positive integer"),
        ("columns", 2, {}, "slice 2 has 4 columns"),
        ("1d", 2, {}, "slice 0 must be 2-D"),
        ("zeros", 2, {}, "all slices are zero"),
        ("zero_slice", 2, {"normalize_slices": True}, r"slice\(s\) \[1\] are all zero"),
        ("ok", 2, {"init": "nndsvd"}, "init must be"),
        ("ok", 2, {"init": (np.ones((3, 2)), np.eye(2), np.ones((4, 2)))}, r"init V must have shape \(5, 2\)"),
        ("ok", 2, {"n_starts": 0}, "n_starts must be a positive integer"),
        ("ok", 2, {"n_iter_max": 0}, "n_iter_max must be a positive integer"),
        ("ok", 2, {"n_inner": 0}, "n_inner must be a positive integer"),
        ("ok", 2, {"tol": -1.0}, "tol must be"),
        ("ok", 2, {"ridge": -1e-3}, "ridge must be"),
    ],
)
def test_bad_input_is_rejected_with_the_cause(matrices, rank, options, message):
    slices = _slices()
    if matrices == "ok":
        matrices = slices
    elif matrices == "nan":
        matrices = [slices[0], slices[1].copy(), slices[2]]
        matrices[1][2, 3] = np.nan
    elif matrices == "inf":
        matrices = [slices[0], slices[1].copy(), slices[2]]
        matrices[1][0, 0] = np.inf
    elif matrices == "columns":
        matrices = [slices[0], slices[1], slices[2][:, :4]]
    elif matrices == "1d":
        matrices = [slices[0].ravel(), slices[1], slices[2]]
    elif matrices == "zeros":
        matrices = [np.zeros_like(m) for m in slices]
    elif matrices == "zero_slice":
        matrices = [slices[0], np.zeros_like(slices[1]), slices[2]]
    with pytest.raises(ValueError, match=message):
        parafac2(matrices, rank, **options)

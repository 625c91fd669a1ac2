"""PARAFAC2: crossling against TensorLy 0.10 in the same run.

Claim: on the setting of Zhao, Ziser and Cohen (2023) (33 slices of 768 x 768, rank 768, SVD start,
non-negative signatures) crossling's solver is faster per iteration and needs far less memory than
TensorLy's ``parafac2``, whose first-mode update builds a 589,824 x 768 Khatri-Rao product, and reaches
the same error. Both compute one SVD per slice and iteration for the polar factors, which bounds the speed-up. On a
quiet 2-core machine with ``--iterations 20`` (the default 2 iterations carry each solver's start, so they
understate the speed-up: 3.8x and 5.2x): TensorLy 47.4 s per iteration and 7.6 GB; crossling float64 8.8 s (5.4x)
and 1.08 GB, its median iteration 1.12x its floor of 7.6 s (the SVDs 3.3 s); float32 6.1 s (7.7x) and 0.95 GB,
1.19x its floor, error 5e-6 from float64's after 20 iterations; float64 with the line search 9.4 s (5.0x). In 20
iterations TensorLy's line search got further than momentum (error 0.119102 against 0.119155: momentum gains over
longer fits, below); crossling's line search reached TensorLy's error at its 20th iteration, 5.0x sooner.
With more BLAS threads crossling splits the SVDs and CP products over a thread pool instead (one BLAS thread per
task), so compare at equal thread counts. With ``acceleration="linesearch"`` (``numpy-float64-linesearch``) both run
the same algorithm (same SVD start, five CP sweeps per iteration, HALS for the signatures, Bro's line search): the
test suite checks that their error traces agree iteration by iteration on small problems. crossling's default,
momentum, takes fewer iterations to the same error: with ``--quick --only original --iterations 100`` (33 x 256 x 256,
rank 256, load 0.5) TensorLy took 185.8 s for its 100 iterations (error 0.115101); crossling with momentum reached
that error after 59 iterations, in 30.7 s in float64 (6.1x sooner) and 24.7 s in float32 (7.5x), and ended its 100 at
0.114515; with the line search it followed TensorLy (0.61 s per iteration, 3.1x; error 0.115101 at 100).
Issue 18 added float32: two runs on a 2-core machine shared with other jobs (load 4 to 6, so TensorLy, whose
Khatri-Rao products are memory-bound, lost most: 197 and 202 s per iteration) measured crossling float64 at 33.0
and 14.5 s per iteration (6.0x and 13.9x TensorLy's speed; 1.11x and 0.89x its floor timed a minute apart) and
float32 at 20.3 and 11.8 s (9.7x and 17.1x; 1.11x and 1.08x its float32 floor of 6.7 s in the second run), its
error 6e-10 from float64's. On a quiet machine (load 0.4, 2 iterations): TensorLy 44.3 s, float64 11.5 s
(3.8x; 1.22x its floor of 10.6 s), float32 8.5 s (5.2x; 1.21x its floor of 7.9 s): single precision barely
speeds up the SVDs here, so float32's floor itself is 5.6x TensorLy (superseded by the 20-iteration run above, in
which the floors were 7.6 s and 5.0 s: the 2-iteration runs were timed on a slower day of the same machine).

Solvers, each in its own subprocess (Linux: memory is read from /proc), loading the same slices from a temporary
.npy file: TensorLy, crossling in float64 (``numpy-float64``, the default) and in float32 (``numpy-float32``), both
with momentum, crossling in float64 with Bro's line search (``numpy-float64-linesearch``), and with ``--torch``
crossling's torch backend on the CPU in both dtypes. Reported per solver: wall seconds of the call divided
by the number of iterations (each also pays one extra polar step: TensorLy in its start, crossling in its final
projection), the peak RSS during the call (the counter is reset just before it, so it is the loaded data plus the
solver's working memory) and its increase over the RSS just before the call, and the relative error
``||Omega - Omega_hat|| / ||Omega||`` of the returned model, computed the same way for all after the timing. Then,
per crossling solver: its speed-up over TensorLy, and when its error trace first reached TensorLy's final error
(iterations and seconds, its start included): the time to TensorLy's fit, which counts fewer iterations as well as
faster ones. For the fixed-iteration setting two more processes time the floor in float64 and float32: one SVD
per slice (the polar factors, which every solver computes) and the 14 products per slice that one iteration with
five CP sweeps is made of (4 with the slice, 10 with the k x d projected slice), and each crossling dtype's median
seconds per iteration is divided by its floor.

Settings (planted PARAFAC2 slices from ``crossling.factorization.parafac2.random_parafac2`` plus noise):

* original: 33 x 768 x 768, planted rank 256 with 20% noise, fitted rank 768 (``--ranks 32,128,768`` fits each
  of those ranks to the same slices), a fixed number of iterations (``--iterations``, default 2; TensorLy needs
  about a minute per iteration, so its 100-iteration error is out of reach of a routine run: time to TensorLy's
  error is measured at the budget given).
* small: 33 x 256 x 256, planted rank 50 with 10% noise, rank 50, each to its own convergence
  (tol 1e-8, TensorLy's default; the two libraries' stopping rules differ, see the crossling docstring).

``--quick`` shrinks them (33 x 256 x 256 rank 256, and 33 x 64 x 64 rank 10) for a smoke run.

    python benchmarks/parafac2.py [--quick] [--iterations N] [--threads T] [--ranks R,...] [--torch]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np


def _status_mb(field: str) -> float:
    """VmRSS (resident now) or VmHWM (peak resident since the last reset) of this process, in MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_peak() -> float:
    """Reset the peak-RSS counter to the current RSS (Linux >= 4.0) and return the current RSS."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status_mb("VmRSS")


def _worker(solver: str, data: str, rank: int, n_iter_max: int, tol: float) -> None:
    """Fit once with ``solver`` (tensorly, or crossling's backend-dtype, e.g. numpy-float32) and print a JSON line;
    runs in a fresh process."""
    slices = list(np.load(data))
    if solver == "tensorly":
        from tensorly.decomposition import parafac2 as tl_parafac2
        from tensorly.parafac2_tensor import parafac2_to_slices

        # TensorLy records no error (and so never stops) with tol=0; 1e-300 keeps the errors and in
        # effect runs all n_iter_max iterations, as crossling's tol=0 does.
        options = dict(init="svd", nn_modes=[0], n_iter_max=n_iter_max, tol=tol or 1e-300, return_errors=True)
        before = _reset_peak()
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "SVD initialization rank 768 >= columns 768"
            model, errors = tl_parafac2(slices, rank, **options)
        seconds = time.perf_counter() - start
        peak = _status_mb("VmHWM")
        # TensorLy keeps one error per iteration except on line-search iterations.
        n_iter = n_iter_max if not tol else None
        fitted = parafac2_to_slices(model)
        trace = [float(e) for e in errors]
        iteration_seconds: list[float] = []
    else:
        from crossling.factorization.parafac2 import parafac2

        backend, dtype, *rest = solver.split("-")
        before = _reset_peak()
        start = time.perf_counter()
        result = parafac2(slices, rank, init="svd", nonnegative=True, n_iter_max=n_iter_max, tol=tol,
                          backend=backend, dtype=dtype, acceleration=rest[0] if rest else "momentum")
        seconds = time.perf_counter() - start
        peak = _status_mb("VmHWM")
        n_iter = result.n_iter
        fitted = result.reconstruct()
        trace = result.errors.tolist()
        iteration_seconds = result.iteration_seconds.tolist()
    residual = sum(float(np.linalg.norm(m - f) ** 2) for m, f in zip(slices, fitted))
    error = float(np.sqrt(residual / sum(float(np.linalg.norm(m) ** 2) for m in slices)))
    record = dict(seconds=seconds, peak_mb=peak, before_mb=before, error=error, n_iter=n_iter, trace=trace,
                  iteration_seconds=iteration_seconds)
    print(json.dumps(record))


def _floor(data: str, rank: int, dtype: str) -> None:
    """Time the work one iteration of either solver cannot avoid, and print a JSON line.

    Per slice: one SVD of the d_l x k matrix M_l (its polar factor; TensorLy computes the same SVD) and
    the 14 products with a d x k matrix that crossling's iteration is made of: 4 of the slice (d_l x d) for the
    projection, 2 of the projected slice (k x d) for each of TensorLy's 5 CP sweeps (at k = d_l all 14 are slice
    sized). In ``dtype`` (the SVD by numpy in float64, by SciPy in float32, as crossling), on as many threads as
    BLAS may use, one BLAS thread each (crossling's scheme, the fastest found here for many small LAPACK calls).
    """
    from concurrent.futures import ThreadPoolExecutor

    import scipy.linalg
    from threadpoolctl import threadpool_info, threadpool_limits

    slices = [m.astype(dtype) for m in np.load(data)]
    threads = max((lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"), default=1)
    factor = np.random.default_rng(0).standard_normal((slices[0].shape[1], rank)).astype(dtype)
    thin_svd = np.linalg.svd if dtype == "float64" else scipy.linalg.svd

    def svd(omega: np.ndarray) -> None:
        thin_svd(omega @ factor, full_matrices=False)

    def products(omega: np.ndarray) -> None:
        projected = omega[:rank]
        for operand in [omega] * 4 + [projected] * 10:
            operand @ factor

    times = {}
    with threadpool_limits(limits=1, user_api="blas"), ThreadPoolExecutor(threads) as pool:
        for name, fn in (("svd", svd), ("products", products)):
            start = time.perf_counter()
            list(pool.map(fn, slices))
            times[name] = time.perf_counter() - start
    print(json.dumps(dict(threads=threads, **times)))


def _run(solver: str, data: Path, rank: int, n_iter_max: int, tol: float, threads: int | None) -> dict:
    env = dict(os.environ)
    if threads is not None:
        for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env[name] = str(threads)
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    command = [sys.executable, __file__, "--worker", solver, str(data), str(rank), str(n_iter_max)]
    command.append(repr(tol))
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{solver} worker failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _time_to(run: dict, target: float) -> str:
    """When a crossling run's error trace first reached ``target``: iterations and seconds (its start and final
    projection included, spread over the iterations as measured)."""
    reached = np.flatnonzero(np.array(run["trace"]) <= target)
    if not reached.size:
        return f"not reached in {len(run['trace'])} iterations"
    overhead = run["seconds"] - sum(run["iteration_seconds"])
    seconds = overhead + sum(run["iteration_seconds"][: reached[0] + 1])
    return f"after {reached[0] + 1} iterations, {seconds:.1f} s"


def _setting(
    name: str, *, n_slices: int, size: int, true_rank: int, noise: float, ranks: list[int], n_iter_max: int,
    tol: float, solvers: list[str], threads: int | None, tmp: Path,
) -> None:
    from crossling.factorization.parafac2 import random_parafac2

    planted = random_parafac2([size] * n_slices, size, true_rank, noise=noise, seed=0)
    data = tmp / f"{name}.npy"
    np.save(data, np.stack(planted.matrices))
    del planted
    for rank in ranks:
        print(f"\n== {name}: {n_slices} slices of {size} x {size} (planted rank {true_rank}, noise {noise}), "
              f"rank {rank}, SVD start, non-negative signatures, "
              + (f"{n_iter_max} iterations" if not tol else f"to convergence (tol {tol}, at most {n_iter_max})"),
              flush=True)
        runs = {}
        for solver in solvers:
            runs[solver] = run = _run(solver, data, rank, n_iter_max, tol, threads)
            n_iter = run["n_iter"]
            per_iter = (
                f"{run['seconds'] / n_iter:8.2f} s/iter ({n_iter} iter)" if n_iter else "(iteration count unknown)"
            )
            print(f"{solver:24s}  {run['seconds']:8.1f} s  {per_iter}  peak RSS {run['peak_mb']:7.0f} MB "
                  f"(+{run['peak_mb'] - run['before_mb']:.0f} MB over the loaded data)  error {run['error']:.8f}",
                  flush=True)
        tl = runs.get("tensorly")
        ours = {solver: run for solver, run in runs.items() if solver != "tensorly"}
        if tl is not None:
            for solver, run in ours.items():
                print(f"{solver:24s}  speed-up {'per iteration' if not tol else 'to convergence'} "
                      f"{tl['seconds'] / run['seconds'] * (run['n_iter'] / tl['n_iter'] if not tol else 1):.2f}x, "
                      f"peak RSS {tl['peak_mb'] / run['peak_mb']:.1f}x less, error - TensorLy's "
                      f"{run['error'] - tl['error']:+.2e}; reached TensorLy's final error {tl['error']:.6f} "
                      f"{_time_to(run, tl['error'])} (TensorLy: {tl['seconds']:.1f} s)")
        if "numpy-float64" in ours and "numpy-float32" in ours:
            print(f"float32 - float64 error: {ours['numpy-float32']['error'] - ours['numpy-float64']['error']:+.2e}")
        if not tol:
            for dtype in ("float64", "float32"):
                floor = _run(f"floor-{dtype}", data, rank, n_iter_max, tol, threads)
                seconds = floor["svd"] + floor["products"]
                ratio = ""
                if f"numpy-{dtype}" in ours:
                    run = ours[f"numpy-{dtype}"]
                    ratio = f"; crossling {dtype} per iteration {np.median(run['iteration_seconds']) / seconds:.2f}x it"
                print(f"floor {dtype} per iteration on {floor['threads']} thread(s): the slices' SVDs alone "
                      f"{floor['svd']:.2f} s, plus the 14 products per slice {seconds:.2f} s{ratio}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller settings for a smoke run")
    parser.add_argument("--iterations", type=int, default=2, help="iterations of the original setting")
    parser.add_argument("--threads", type=int, default=None, help="BLAS threads per solver (default inherit)")
    parser.add_argument("--only", choices=["original", "small"], default=None)
    parser.add_argument("--ranks", default=None,
                        help="fitted ranks of the original setting, comma-separated (default: the slice size)")
    parser.add_argument("--torch", action="store_true", help="also crossling's torch backend on the CPU")
    args = parser.parse_args()
    import tensorly

    print(f"numpy {np.__version__}, tensorly {tensorly.__version__}, "
          f"BLAS threads: {args.threads or 'inherited'}, cpus {os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.1f} (other jobs slow both solvers)")
    big = dict(n_slices=33, size=256, true_rank=96, noise=0.2) if args.quick else dict(
        n_slices=33, size=768, true_rank=256, noise=0.2)
    small = dict(n_slices=33, size=64, true_rank=10, noise=0.1, ranks=[10]) if args.quick else dict(
        n_slices=33, size=256, true_rank=50, noise=0.1, ranks=[50])
    ranks = [int(r) for r in args.ranks.split(",")] if args.ranks else [big["size"]]
    # crossling's default acceleration is momentum; with Bro's line search it runs TensorLy's own algorithm.
    solvers = ["tensorly", "numpy-float64", "numpy-float32", "numpy-float64-linesearch"]
    if args.torch:
        solvers += ["torch-float64", "torch-float32"]
    with tempfile.TemporaryDirectory() as tmp:
        if args.only in (None, "original"):
            _setting("original", **big, ranks=ranks, n_iter_max=args.iterations, tol=0.0, solvers=solvers,
                     threads=args.threads, tmp=Path(tmp))
        if args.only in (None, "small"):
            _setting("small", **small, n_iter_max=2000, tol=1e-8, solvers=solvers, threads=args.threads,
                     tmp=Path(tmp))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker" and sys.argv[2].startswith("floor-"):
        _floor(sys.argv[3], int(sys.argv[4]), sys.argv[2].removeprefix("floor-"))
    elif len(sys.argv) > 1 and sys.argv[1] == "--worker":
        _worker(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]))
    else:
        main()

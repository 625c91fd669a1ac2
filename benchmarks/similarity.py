"""Linear CKA from streamed moments vs the Gram-matrix formula; all moment indices on 13 layers x 20 pairs.

Claim (issue 6): for n = 20,000 paired rows of width 768, linear CKA from moments, *including* building
the moments from the arrays in chunks, is at least 20x faster and needs at least 20x less memory than the
Gram-matrix formula CKA = <HKH, HLH> / (||HKH|| ||HLH||), K = X X^T, L = Y Y^T.

Each method runs in its own subprocess on the same generated data (float32 inputs, as stored vectors are).
The Gram baseline is computed in float32 (numpy's bundled OpenBLAS here has crashed on ``x @ x.T`` for a
20000 x 768 float64 array) and is already lean: Grams centred in place, no copies, float64 accumulation of
the Frobenius products. Memory is reported three ways, all measured after the inputs exist:

- tracemalloc peak: numpy allocations of the computation alone (not BLAS's internal buffers);
- peak RSS growth: ``getrusage(RUSAGE_SELF).ru_maxrss`` minus the RSS once the inputs were built;
- peak RSS: ``ru_maxrss`` of the whole process (interpreter, numpy, the 123 MB of inputs included).

The second part times every moments-based index (ANC, signed ANC, linear CKA, debiased linear CKA, CCA,
SVCCA at 99% variance, SVCCA with 20 dimensions, PWCCA) on 13 layers x 20 language pairs once the
statistics exist (sizes of me5-small on PUD by default: n = 1000 sentences, width 384), plus one pair of the
vector-based indices (RBF CKA, matching accuracy).

Usage: ``PYTHONPATH=src python benchmarks/similarity.py [--n 20000 --dim 768 --threads 1]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import tracemalloc
import warnings

import numpy as np


def make_pair(n: int, d: int, *, seed: int, chunk: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """Paired float32 representations sharing a 64-dimensional latent, built in chunks (low peak memory)."""
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(64, d)).astype(np.float32)
    B = rng.normal(size=(64, d)).astype(np.float32)
    X, Y = np.empty((n, d), np.float32), np.empty((n, d), np.float32)
    for a in range(0, n, chunk):
        b = min(a + chunk, n)
        Z = rng.standard_normal((b - a, 64), dtype=np.float32)
        X[a:b] = Z @ A + 2 * rng.standard_normal((b - a, d), dtype=np.float32) + 1.0
        Y[a:b] = Z @ B + 2 * rng.standard_normal((b - a, d), dtype=np.float32) - 1.0
    return X, Y


def _rss_bytes() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def _centre_gram_in_place(K: np.ndarray) -> None:
    """K <- H K H for symmetric K: subtract column means, then row means (of the column-centred matrix)."""
    K -= K.mean(axis=0, dtype=np.float64).astype(K.dtype)[None, :]
    K -= K.mean(axis=1, dtype=np.float64).astype(K.dtype)[:, None]


def _frobenius(K: np.ndarray, L: np.ndarray, block: int = 256) -> float:
    """<K, L>_F accumulated in float64 over row blocks (float32 sums of 4e8 terms would lose digits)."""
    return float(sum(np.einsum("ij,ij->", K[a:a + block], L[a:a + block], dtype=np.float64)
                     for a in range(0, K.shape[0], block)))


def gram_cka(X: np.ndarray, Y: np.ndarray) -> float:
    K = X @ X.T
    _centre_gram_in_place(K)
    L = Y @ Y.T
    _centre_gram_in_place(L)
    return _frobenius(K, L) / np.sqrt(_frobenius(K, K) * _frobenius(L, L))


def moments_cka(X: np.ndarray, Y: np.ndarray, chunk: int) -> float:
    from crossling import Moments
    from crossling.similarity import linear_cka

    m = Moments(X.shape[1], Y.shape[1])
    for a in range(0, X.shape[0], chunk):
        m.update(X[a:a + chunk], Y[a:a + chunk])
    return linear_cka(m).value


def worker(method: str, n: int, d: int, chunk: int) -> None:
    import crossling.similarity  # noqa: F401  (both processes load the package before measuring)

    X, Y = make_pair(n, d, seed=0)
    rss_inputs = _rss_bytes()
    tracemalloc.start()
    t0 = time.perf_counter()
    value = gram_cka(X, Y) if method == "gram" else moments_cka(X, Y, chunk)
    seconds = time.perf_counter() - t0
    traced_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB
    print(json.dumps({"method": method, "value": value, "seconds": seconds, "traced_peak": traced_peak,
                      "rss_growth": max_rss - rss_inputs, "max_rss": max_rss}))


def run_worker(method: str, args: argparse.Namespace, env: dict) -> dict:
    cmd = [sys.executable, __file__, "--worker", method, "--n", str(args.n), "--dim", str(args.dim),
           "--chunk", str(args.chunk)]
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def time_all_indices(args: argparse.Namespace) -> None:
    from crossling.similarity import (
        RowNormMoments,
        anc,
        cca,
        linear_cka,
        pwcca,
        rbf_cka,
        retrieval_accuracy,
        svcca,
    )

    n, d, L, P = args.indices_n, args.indices_dim, args.layers, args.pairs
    rng = np.random.default_rng(1)
    print(f"\nbuilding statistics for {L} layers x {P} pairs (n={n}, width {d}) ...", flush=True)
    t0 = time.perf_counter()
    english = rng.normal(size=(L, n, d)).astype(np.float32)
    pairs = []
    for _ in range(P):
        mixing = rng.normal(size=(d, d)).astype(np.float32)
        other = (0.6 * english + rng.normal(size=(L, n, d)).astype(np.float32)) @ mixing
        pairs.append(RowNormMoments.from_arrays(english, other))
    print(f"  built in {time.perf_counter() - t0:.1f} s (not part of the timing below)")
    indices = {
        "anc": lambda s: anc(s),
        "anc signed": lambda s: anc(s, absolute=False),
        "linear CKA": lambda s: linear_cka(s),
        "linear CKA debiased": lambda s: linear_cka(s, debiased=True),
        "CCA": lambda s: cca(s),
        "SVCCA 0.99": lambda s: svcca(s),
        "SVCCA 20 dims": lambda s: svcca(s, dims=20),
        "PWCCA": lambda s: pwcca(s),
    }
    spent = dict.fromkeys(indices, 0.0)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a degenerate fallback would make the timing meaningless
        for layer in range(L):
            for stats in pairs:
                one = stats.layer(layer)
                for name, index in indices.items():
                    t = time.perf_counter()
                    index(one)
                    spent[name] += time.perf_counter() - t
    total = time.perf_counter() - t0
    print(f"all {len(indices)} moment indices, {L} layers x {P} pairs = {L * P} pair-layers: {total:.1f} s "
          f"({1000 * total / (L * P):.0f} ms per pair-layer)")
    for name, s in spent.items():
        print(f"  {name:<22s} {s:8.2f} s  ({1000 * s / (L * P):7.1f} ms per pair-layer)")
    X, Y = english[0], (0.6 * english[0] + rng.normal(size=(n, d)).astype(np.float32))
    for name, fn in (("RBF CKA", lambda: rbf_cka(X, Y)), ("RBF CKA debiased", lambda: rbf_cka(X, Y, debiased=True)),
                     ("matching accuracy", lambda: retrieval_accuracy(X, Y))):
        t = time.perf_counter()
        fn()
        print(f"  vector index {name:<18s} {time.perf_counter() - t:6.2f} s for one pair-layer (n={n}, width {d})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--dim", type=int, default=768)
    ap.add_argument("--chunk", type=int, default=2000, help="rows per moments update")
    ap.add_argument("--threads", type=int, default=1, help="BLAS threads for both methods (the machine is shared)")
    ap.add_argument("--layers", type=int, default=13)
    ap.add_argument("--pairs", type=int, default=20)
    ap.add_argument("--indices-n", type=int, default=1000)
    ap.add_argument("--indices-dim", type=int, default=384)
    ap.add_argument("--worker", choices=["gram", "moments", "indices"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker == "indices":
        time_all_indices(args)
        return
    if args.worker:
        worker(args.worker, args.n, args.dim, args.chunk)
        return

    env = dict(os.environ)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(args.threads)
    print(f"linear CKA, n={args.n}, p=q={args.dim}, float32 inputs, {args.threads} BLAS thread(s), "
          "each method in its own process")
    results = {m: run_worker(m, args, env) for m in ("gram", "moments")}
    g, m = results["gram"], results["moments"]
    mib = 2.0**20
    print(f"{'':34s}{'Gram (float32)':>16s}{'moments':>14s}{'ratio':>9s}")
    rows = [("time (s)", "seconds", 1.0), ("tracemalloc peak (MiB)", "traced_peak", mib),
            ("peak RSS growth (MiB)", "rss_growth", mib), ("peak RSS, whole process (MiB)", "max_rss", mib)]
    for label, key, unit in rows:
        ratio = g[key] / m[key] if m[key] > 0 else float("inf")
        print(f"{label:34s}{g[key] / unit:16.2f}{m[key] / unit:14.2f}{ratio:8.1f}x")
    print(f"CKA value: Gram {g['value']:.8f}, moments {m['value']:.8f}, |difference| {abs(g['value'] - m['value']):.2e}"
          " (the Gram form runs in float32)")

    # in a process of its own too: BLAS reads the thread count when it is first loaded
    subprocess.run([sys.executable, __file__, "--worker", "indices", *sys.argv[1:]], env=env, check=True)


if __name__ == "__main__":
    main()

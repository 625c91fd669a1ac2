"""Which similarity values are noise: each index, its shuffled-pairing null and its jackknife band at me5-small's size.

Claim (issue 14): at n = 1000 sentences of d = 384 dimensions, independent representations score far from 0
on the CCA family (CCA 0.55, SVCCA 0.53, PWCCA 0.55), and the index minus its null lies within the index's
jackknife band; for planted related data (a shared 64-dimensional latent plus as much noise) it is far above
it. Also prints what the null and band cost next to the value alone (same process, same data).

Usage: ``PYTHONPATH=src python benchmarks/similarity_noise.py [--n 1000 --dim 384 --shards 10 --permutations 3]``
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from crossling._utils.threads import blas_limit
from crossling.exceptions import NullReachWarning
from crossling.similarity import anc, cca, linear_cka, pwcca, svcca
from crossling.similarity.baseline import shuffled_null
from crossling.similarity.jackknife import jackknife, shard_stats

INDICES = {
    "anc": (anc, {}),
    "cka": (linear_cka, {}),
    "cka_debiased": (linear_cka, {"debiased": True}),
    "cca": (cca, {}),
    "cca (Eq. 1)": (cca, {"summary": "mean_squared"}),
    "svcca": (svcca, {}),
    "pwcca": (pwcca, {}),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--shards", type=int, default=10)
    parser.add_argument("--permutations", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    n, d = args.n, args.dim
    Z = rng.normal(size=(n, 64))
    data = {"independent": (rng.normal(size=(n, d)), rng.normal(size=(n, d))),
            "related": tuple(Z @ rng.normal(size=(64, d)) + rng.normal(size=(n, d)) for _ in range(2))}
    print(f"n = {n}, d = {d}; band: {args.shards}-shard jackknife, 95%; null: {args.permutations} derangements")
    print(f"{'data':12s} {'index':13s} {'value':>7s} {'null':>7s} {'null sd':>8s} {'value-null':>11s} "
          f"{'band +-':>8s} {'reading':>9s} {'value s':>8s} {'+null+band s':>13s}")
    with blas_limit(1), warnings.catch_warnings():
        warnings.simplefilter("ignore", NullReachWarning)
        for label, (X, Y) in data.items():
            for name, (index, kw) in INDICES.items():
                rownorm = kw.get("debiased", False)
                start = time.perf_counter()
                parts = shard_stats(X, Y, args.shards, rownorm=rownorm)
                band = jackknife(index, parts, **kw)
                null = shuffled_null(index, X, Y, permutations=args.permutations, rownorm=rownorm, **kw)
                total = time.perf_counter() - start
                start = time.perf_counter()
                index(X, Y, **kw)
                alone = time.perf_counter() - start
                half = band.high - band.value
                excess = band.value - null.mean
                reading = "within" if abs(excess) <= half else ("beyond" if excess > half else "below")
                print(f"{label:12s} {name:13s} {band.value:7.4f} {null.mean:7.4f} {null.sd:8.4f} {excess:+11.4f} "
                      f"{half:8.4f} {reading:>9s} {alone:8.2f} {total:13.2f}")


if __name__ == "__main__":
    main()

"""Which PARAFAC2 setting gives signatures that do not depend on how the fit was computed (issue 13)?

Claim: fitted as the original study did (Zhao, Ziser and Cohen 2023 through TensorLy: full rank, SVD start, no
constraint on B or V, 100 iterations), the average signatures of cross-covariance slices grow with the iteration
budget and depend on the start; with V constrained to orthonormal columns (the study's default) they change by
less than 2% between 100, 300 and 1000 iterations and every start ranks the languages alike (Spearman >= 0.95).

Problems (:func:`crossling.factorization.parafac2.random_covariance_slices`, slices built like the study's, no
planted model): issue 13's 10 slices of 64 x 64 (seed 0) at full rank 64 and at rank 8, and 8 slices of
128 x 128 (seed 1, 2000 observations; the demo's 8 languages and width) at the demo's rank 32.

Candidates, each with non-negative signatures:

* ``paper``: no constraint, tolerance 1e-8 and Bro's line search (TensorLy's), the original study's settings but
  for the budget (the others run crossling's default acceleration, momentum);
* ``ridge 1e-4`` and ``ridge 1e-3``: a ridge on S, B and V (regularised PARAFAC2, Roald et al. 2022);
* ``orthonormal V``: the study's default;
* ``rank auto``: no constraint at the rank chosen by core consistency (Bro and Kiers 2003): the largest rank of
  at most the number of slices whose fit (3 starts) keeps a core consistency of at least 50%. Only for the
  problems at full rank, whose rank it replaces.

Per candidate: the mean signature from the SVD start after budgets of 100, 300 and 1000 iterations (each run
stops earlier when it meets its tolerance), the largest relative change of a language's average signature
between consecutive budgets; from 5 starts (the SVD start and 4 random ones, budget 1000): how many diverged
until their factors overflowed, the lowest Spearman correlation between any two other starts' language
rankings and the range of their mean signatures; the relative
error, iterations and the diagnostics' flags of the 1000-iteration SVD fit (:mod:`crossling.factorization.
diagnostics`); and the seconds of all its fits.

    python benchmarks/parafac2_identifiability.py [--quick] [--json FILE]

``--quick`` runs only the problem at rank 8 (about a minute).
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
import warnings

import numpy as np
from scipy.stats import spearmanr

from crossling.factorization.diagnostics import core_consistency, diagnose
from crossling.factorization.parafac2 import parafac2, random_covariance_slices

BUDGETS = (100, 300, 1000)
N_STARTS = 5
CANDIDATES = {
    "paper": {"tol": 1e-8, "acceleration": "linesearch"},
    "ridge 1e-4": {"ridge": 1e-4},
    "ridge 1e-3": {"ridge": 1e-3},
    "orthonormal V": {"orthonormal_v": True},
}
AUTO_CONSISTENCY = 50.0


def _fit(slices: list[np.ndarray], rank: int, **options: object):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # budgets hit on purpose
        return parafac2(slices, rank, nonnegative=True, seed=0, **options)


def _auto_rank(slices: list[np.ndarray], max_rank: int) -> tuple[int, dict[int, float]]:
    """The largest rank <= max_rank whose unconstrained fit keeps a core consistency of AUTO_CONSISTENCY."""
    consistency = {}
    for rank in range(1, max_rank + 1):
        fit = _fit(slices, rank, n_starts=3)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            consistency[rank] = round(core_consistency(slices, fit), 1)
    chosen = max((r for r, c in consistency.items() if c >= AUTO_CONSISTENCY), default=1)
    return chosen, consistency


def evaluate(slices: list[np.ndarray], rank: int, options: dict) -> dict:
    """The measures of one candidate on one problem (see the module docstring)."""
    tic = time.perf_counter()
    averages, fits = {}, {}
    for budget in BUDGETS:
        fits[budget] = _fit(slices, rank, n_iter_max=budget, **options)
        averages[budget] = fits[budget].S.mean(axis=1)
    drift = max(float(np.max(np.abs(averages[b] - averages[a]) / averages[a]))
                for a, b in zip(BUDGETS, BUDGETS[1:]))
    starts = _fit(slices, rank, n_iter_max=BUDGETS[-1], n_starts=N_STARTS, **options)
    finite = np.isfinite(starts.start_errors)  # a start that diverged until its factors overflowed has none
    rhos = [spearmanr(a, b)[0] for a, b in itertools.combinations(starts.start_signatures[finite], 2)]
    levels = starts.start_signatures[finite].mean(axis=1)
    last = fits[BUDGETS[-1]]
    diagnostics = diagnose(last, slices)
    return {
        "rank": rank,
        "mean_signature": {b: round(float(averages[b].mean()), 4) for b in BUDGETS},
        "max_change": round(drift, 4),
        "starts_diverged": int((~finite).sum()),
        "start_spearman_min": round(float(np.min(rhos)), 3) if rhos else float("nan"),
        "start_mean_signature": [round(float(levels.min()), 4), round(float(levels.max()), 4)],
        "start_errors": [round(float(starts.start_errors[finite].min()), 4),
                         round(float(starts.start_errors[finite].max()), 4)],
        "relative_error": round(last.relative_error, 4),
        "n_iter": last.n_iter,
        "min_congruence": round(diagnostics.min_congruence, 3),
        "signature_growth": round(diagnostics.signature_growth, 5),
        "degenerate": diagnostics.degenerate,
        "unstable": diagnostics.unstable,
        "seconds": round(time.perf_counter() - tic, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only the problem at rank 8")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    issue = random_covariance_slices(seed=0)
    problems = [("issue 10 x 64 x 64", issue, 8)]
    if not args.quick:
        problems = [("issue 10 x 64 x 64", issue, 64), *problems,
                    ("demo-like 8 x 128 x 128", random_covariance_slices(8, 128, n_rows=2000, seed=1), 32)]
    results = []
    for name, slices, rank in problems:
        candidates = dict(CANDIDATES)
        record = {}
        if rank > len(slices):
            auto, record = _auto_rank(slices, len(slices))
            candidates["rank auto"] = {"rank": auto}
        for label, options in candidates.items():
            options = dict(options)
            row = {"problem": name, "candidate": label,
                   **evaluate(slices, options.pop("rank", rank), options)}
            if label == "rank auto":
                row["core_consistency_by_rank"] = record
            results.append(row)
            print(json.dumps(row), flush=True)
    print()
    print("| problem | candidate | rank | mean signature 100 / 300 / 1000 it. | max change | Spearman (5 starts) "
          "| diverged | error | min congruence | growth | flags | s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for row in results:
        flags = ", ".join(f for f in ("degenerate", "unstable") if row[f]) or "-"
        levels = " / ".join(f"{v:.3g}" for v in row["mean_signature"].values())
        print(f"| {row['problem']} | {row['candidate']} | {row['rank']} | {levels} | {row['max_change']:.1%} | "
              f"{row['start_spearman_min']:.2f} | {row['starts_diverged']} | {row['relative_error']:.4f} | "
              f"{row['min_congruence']:.2f} | "
              f"{row['signature_growth']:+.2%} | {flags} | {row['seconds']:.0f} |")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=1)


if __name__ == "__main__":
    main()

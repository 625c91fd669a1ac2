"""``crossling similarity``: the cross-lingual similarity study (Del and Fishel 2022)."""

from __future__ import annotations

import typer

from crossling.cli import app
from crossling.cli._build import config_command
from crossling.similarity.run import SimilarityConfig, run_similarity

__all__: list[str] = []  # a command, registered on the app: not a Python API


@config_command(app, "similarity", SimilarityConfig)
def similarity(config: SimilarityConfig) -> None:
    """Cross-lingual similarity (Del and Fishel 2022): ANC, CKA, CCA, SVCCA, PWCCA and matching, layer by layer.

    Extracts mean-pooled sentence representations of every language from all layers (cached vector stores),
    then compares every language pair at every layer. Writes a tidy table (parquet + csv), figures,
    manifest.json and a report section (see `crossling report`).
    """
    run = run_similarity(config)
    summary = run.result.summary()
    typer.echo(f"{run.result.n} sentences, {len(run.result.pairs)} pairs, mean over pairs per layer:")
    typer.echo(summary.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    typer.echo(f"results in {run.out} ({run.manifest['seconds']['total']:.0f} s)")

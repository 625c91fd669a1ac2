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

    Extracts pooled sentence representations of every language from all layers (cached vector stores), then
    compares every language pair at every layer, each value with its null baseline (shuffled translations)
    and a jackknife interval. Conventions of the paper and of its code are options (see --preset). Writes a
    tidy table (parquet + csv), figures, manifest.json and a report section (see `crossling report`);
    `crossling compare-similarity` overlays runs of several models.
    """
    run = run_similarity(config)
    summary = run.result.summary()
    typer.echo(f"{run.result.n} sentences, {len(run.result.pairs)} pairs, mean over pairs per layer:")
    typer.echo(summary.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    nulls = run.result.table.groupby("index", sort=False)["null"].mean().dropna()
    if len(nulls):
        typer.echo("null baseline (shuffled translations), mean over pairs and layers: "
                   + ", ".join(f"{name} {value:.3f}" for name, value in nulls.items()))
    typer.echo(f"results in {run.out} ({run.manifest['seconds']['total']:.0f} s)")

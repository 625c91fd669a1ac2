"""``crossling concepts``: the latent-concept alignment study (Mousi, Durrani, Dalvi et al. 2024)."""

from __future__ import annotations

import typer

from crossling.cli import app
from crossling.cli._build import config_command
from crossling.concepts.run import ConceptsConfig, run_concepts

__all__: list[str] = []  # a command, registered on the app: not a Python API


@config_command(app, "concepts", ConceptsConfig)
def concepts(config: ConceptsConfig) -> None:
    """Latent-concept alignment (Mousi, Durrani, Dalvi et al. 2024): CALIGN and COLAP, layer by layer.

    Extracts word representations of every language from all layers (cached vector stores), builds
    translation dictionaries from eflomal word alignments of the same corpus, clusters each layer's tokens
    into K concepts and measures how many concepts align across languages (CALIGN, both directions) and how
    many mix languages when clustered jointly (COLAP), both in percent. Writes tables, concept listings,
    figures, manifest.json and a report section (see `crossling report`).
    """
    run = run_concepts(config)
    typer.echo(run.result.summary().to_string(index=False, float_format=lambda v: f"{v:.1f}"))
    typer.echo(f"results in {run.out} ({run.manifest['seconds']['total']:.0f} s)")

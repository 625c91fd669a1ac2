"""``crossling concepts``: the latent-concept alignment study (Mousi, Durrani, Dalvi et al. 2024)."""

from __future__ import annotations

import typer

from crossling.cli import app
from crossling.cli._build import config_command
from crossling.concepts.report import control_notes
from crossling.concepts.run import ConceptsConfig, run_concepts

__all__: list[str] = []  # a command, registered on the app: not a Python API


@config_command(app, "concepts", ConceptsConfig)
def concepts(config: ConceptsConfig) -> None:
    """Latent-concept alignment (Mousi, Durrani, Dalvi et al. 2024): CALIGN and COLAP, layer by layer.

    Extracts word representations of every language from all layers (cached vector stores), builds
    translation dictionaries from eflomal word alignments of the same corpus (one cached replicate per
    seed), clusters each layer's tokens into K concepts and measures how many concepts align across
    languages (CALIGN, both directions) and how many mix languages when clustered jointly (COLAP), both in
    percent, for several seeds, beside their controls: the sentence and random baselines, how
    sentence-bound the concepts are, and a held-out variant whose dictionary comes from other sentences.
    Writes tables, concept listings, figures, manifest.json and a report section (see `crossling report`).
    """
    run = run_concepts(config)
    result = run.result
    number = lambda v: f"{v:.1f}"  # noqa: E731
    typer.echo(result.summary().to_string(index=False, float_format=number))
    columns = ["model", "layer", "direction", "calign_percent", "calign_percent_min", "calign_percent_max",
               "n_eligible", "sentence_baseline_percent", "random_baseline_percent", "heldout_calign_percent"]
    if len(result.calign):
        typer.echo(result.calign[columns].to_string(index=False, float_format=number))
    for note in control_notes(result):
        typer.echo(f"- {note}")
    typer.echo(f"results in {run.out} ({run.manifest['seconds']['total']:.0f} s)")

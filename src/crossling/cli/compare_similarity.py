"""``crossling compare-similarity``: several similarity runs (models) on one plot of normalised depth."""

from __future__ import annotations

import typer

from crossling.cli import app
from crossling.cli._build import config_command
from crossling.similarity.compare import CompareSimilarityConfig, run_compare_similarity

__all__: list[str] = []  # a command, registered on the app: not a Python API


@config_command(app, "compare-similarity", CompareSimilarityConfig)
def compare_similarity(config: CompareSimilarityConfig) -> None:
    """Overlay finished `crossling similarity` runs (Del and Fishel 2022, Figs. 3, 5, 6) on normalised depth.

    Each model's mean over language pairs, its spread over pairs and its null baseline, with depth 0 = the
    embedding output and 1 = the last layer, so models with different numbers of layers line up. Writes a
    table (parquet + csv), one figure per index, manifest.json and a report section.
    """
    run = run_compare_similarity(config)
    typer.echo(f"{run.result['model'].nunique()} models, {run.result['index'].nunique()} indices: results in "
               f"{run.out}")

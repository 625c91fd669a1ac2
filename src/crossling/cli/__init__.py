"""The ``crossling`` command line: one module per command, flags generated from the configuration models.

Every study's options live in a typed configuration model (``<Study>Config`` in the study's ``run.py``)
that a YAML file (``--config run.yaml``) fills as well as the flags; flags win, and the resolved
configuration is written beside the results. :mod:`crossling.cli._build` makes the flags from the models, so
each option is declared once. A user error prints one line and exits with status 2; ``crossling --debug``
shows the traceback.

Importing this module imports no torch: ``crossling --help`` stays fast.
"""

from __future__ import annotations

from typing import Optional

import typer

import crossling

app = typer.Typer(
    name="crossling",
    help="How multilingual language models represent languages, layer by layer.\n\n"
    "Studies: joint factorization (Zhao, Ziser and Cohen 2023), cross-lingual similarity (Del and Fishel 2022), "
    "latent-concept alignment (Mousi, Durrani, Dalvi et al. 2024). Start with `crossling demo`.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",  # docstrings are wrapped as paragraphs, not line by line
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"crossling {crossling.__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    debug: bool = typer.Option(False, "--debug", help="Show the full traceback of an error instead of one line."),
    version: Optional[bool] = typer.Option(None, "--version", callback=_version, is_eager=True,
                                           help="Print crossling's version and exit."),
) -> None:
    """How multilingual language models represent languages, layer by layer."""
    ctx.obj = {"debug": debug}


def _register() -> None:
    # Each command's module registers itself on the app; their imports are light (no torch).
    from crossling.cli import (  # noqa: F401
        compare_similarity,
        concepts,
        demo,
        extract,
        factorization,
        factorization_compare,
        models,
        pretrain,
        report,
        similarity,
    )


_register()

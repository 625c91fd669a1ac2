"""``crossling report``: one self-contained HTML page of every study in a run folder."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from crossling.cli import app
from crossling.cli._build import run_guarded

__all__: list[str] = []  # a command, registered on the app: not a Python API


@app.command()
def report(
    ctx: typer.Context,
    run_dir: Path = typer.Argument(..., help="A run folder whose studies wrote report.json sections."),
    out: Optional[Path] = typer.Option(None, help="Where to write the HTML (default RUN_DIR/report.html)."),
    title: str = typer.Option("crossling report", help="The page's title."),
) -> None:
    """Write one self-contained HTML report of a run: figures embedded, tables, readings and provenance.

    Sections follow the order the run recorded in RUN_DIR/run.json (the demo writes it), else folder names.
    """
    from crossling.report import write_report

    typer.echo(f"wrote {run_guarded(lambda: write_report(run_dir, out=out, title=title), ctx)}")

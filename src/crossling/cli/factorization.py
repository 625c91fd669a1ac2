"""``crossling factorization`` (alias ``parafac2``): the joint-factorization study (Zhao, Ziser and Cohen 2023)."""

from __future__ import annotations

import typer

from crossling.cli import app
from crossling.cli._build import config_command
from crossling.factorization.run import FactorizationConfig, run_factorization

__all__: list[str] = []  # a command, registered on the app: not a Python API


@config_command(app, "factorization", FactorizationConfig, aliases=("parafac2",))
def factorization(config: FactorizationConfig) -> None:
    """Joint factorization (Zhao, Ziser and Cohen 2023): PARAFAC2 signatures of languages per category and layer.

    For each language, its words go through the multilingual model E and the language's monolingual control
    model; per UniMorph category and layer the cross-covariance Omega_l of the two models' word vectors is
    computed from streaming moments, and one PARAFAC2 over all languages gives each language's signature.
    Writes signatures, fits, skipped languages, trend tests, property correlations, variance tests, trees,
    figures, manifest.json and a report section (see `crossling report`) to OUT.
    """
    run = run_factorization(config)
    result = run.result
    fits = result.fits
    typer.echo(f"{len(fits)} fits over {len(result.languages)} languages, {len(result.categories)} categories, "
               f"{len(result.layers)} layers; {int(fits['converged'].sum())} converged, "
               f"relative error {fits['relative_error'].min():.3g}..{fits['relative_error'].max():.3g}")
    flagged = fits[fits["degenerate"] | fits["unstable"]]
    if not flagged.empty:
        typer.echo(f"{len(flagged)} fits degenerate or unstable (their signatures depend on how they were computed): "
                   f"see the columns degenerate, unstable and problems of {run.out / 'fits.csv'}")
    if not result.skipped.empty:
        typer.echo(f"{len(result.skipped)} (category, language) pairs left out: see {run.out / 'skipped.csv'}")
    for analysis, why in result.skipped_analyses.items():
        typer.echo(f"not computed: {analysis}: {why}")
    typer.echo(f"results in {run.out} ({run.manifest['seconds']['total']:.0f} s)")

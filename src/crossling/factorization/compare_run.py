"""``crossling factorization-compare`` as a function: two or more factorization run folders in; the per-language
signature changes with their tests, side-by-side violins, manifest and report out.

:func:`run_comparison` reads each run's ``average_signatures.parquet`` and ``manifest.json`` (written by
:func:`crossling.factorization.run.run_factorization`), compares them with
:func:`crossling.factorization.compare.compare_signatures` and writes, through
:func:`crossling.pipeline.write_run`: ``combined``, ``changes`` and ``tests`` (parquet + CSV),
``figures/violins/<category>.png`` (the runs side by side, as Fig. 2b of Zhao, Ziser and Cohen 2023),
``figures/changes/<run>.png`` (each language's median change), ``config.yaml``, ``manifest.json`` (the common
keys, plus ``runs``: label -> folder, its manifest's models, corpus spec, languages and romanised languages)
and ``report.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import pandas as pd
from pydantic import Field, field_validator

from crossling._utils.io import write_table
from crossling._utils.provenance import Provenance
from crossling.config import CommaList, RunConfig
from crossling.exceptions import ConfigError
from crossling.factorization.compare import RunComparison, compare_signatures
from crossling.pipeline import RunResult, write_run

__all__ = ["CompareConfig", "run_comparison"]

STUDY = "comparison of joint-factorization runs (Zhao, Ziser and Cohen 2023)"


class CompareConfig(RunConfig):
    """Settings of ``crossling factorization-compare``: a YAML file with these keys, or the flags.

    Attributes
    ----------
    runs : list of path
        Two or more folders written by ``crossling factorization`` (the baseline first, unless ``baseline``
        names another). From the command line: ``--run DIR`` repeated.
    labels : list of str, optional
        A name per run, in the order of ``runs`` (e.g. ``original,romanised``); default the folder names.
    baseline : str, optional
        The label of the run the others are compared with; default the first.
    highlight : list of str, default []
        Languages marked in the violins (e.g. ``zh,ja`` for the romanisation ablation).
    q : float, default 0.05
        False discovery rate of the Benjamini-Hochberg correction over the languages of a run.
    figures : bool, default True
        Draw the figures.
    out : path
        Folder for the tables, figures, manifest and report section (replaced whole at the end).
    """

    runs: list[Path] = Field(min_length=2, json_schema_extra={"repeat": True, "flag": "run", "metavar": "DIR"})
    labels: CommaList = []
    baseline: Optional[str] = None
    highlight: CommaList = []
    q: float = Field(default=0.05, gt=0.0, lt=1.0)
    figures: bool = True
    out: Path

    @field_validator("labels")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError(f"labels must be distinct, got {value}")
        return value

    def run_labels(self) -> list[str]:
        """The label of each run, in the order of ``runs``.

        Returns
        -------
        list of str

        Raises
        ------
        ConfigError
            When ``labels`` does not give one per run, the folder names repeat without labels, or ``baseline``
            is not a label.
        """
        labels = list(self.labels) or [Path(run).name for run in self.runs]
        if len(labels) != len(self.runs):
            raise ConfigError(f"--labels gives {len(labels)} names for {len(self.runs)} runs")
        if len(set(labels)) != len(labels):
            raise ConfigError(f"the run folders share names {labels}: give --labels")
        if self.baseline is not None and self.baseline not in labels:
            raise ConfigError(f"--baseline {self.baseline!r} is not one of the runs {labels}")
        return labels


def _read_run(folder: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    table, manifest = folder / "average_signatures.parquet", folder / "manifest.json"
    if not table.is_file() or not manifest.is_file():
        raise ConfigError(f"{folder} is not a factorization run folder (no average_signatures.parquet and "
                          "manifest.json): give folders written by `crossling factorization`")
    return pd.read_parquet(table), json.loads(manifest.read_text(encoding="utf-8"))


def run_comparison(config: CompareConfig) -> RunResult[RunComparison]:
    """Compare the average signatures of two or more factorization runs and write the result.

    Parameters
    ----------
    config : CompareConfig

    Returns
    -------
    RunResult
        ``result`` is the :class:`~crossling.factorization.compare.RunComparison`.

    Raises
    ------
    ConfigError
        For a folder that is not a factorization run, labels that do not fit the runs, or a highlighted
        language that no run has.
    ValueError
        For runs that share nothing with the baseline (:func:`~crossling.factorization.compare.compare_signatures`).
    """
    from crossling.factorization.plots import plot_run_violins, plot_signature_changes
    from crossling.factorization.study import category_slug
    from crossling.report import write_section

    labels = config.run_labels()
    provenance = Provenance(STUDY, "crossling factorization-compare", config.model_dump(mode="json"))
    tables, manifests = {}, {}
    with provenance.stage("reading the runs"):
        for label, folder in zip(labels, config.runs):
            tables[label], manifests[label] = _read_run(Path(folder))
    unknown = [lang for lang in config.highlight if not any(lang in set(t["language"]) for t in tables.values())]
    if unknown:
        raise ConfigError(f"--highlight {unknown}: no run has these languages")
    with provenance.stage("comparison"):
        result = compare_signatures(tables, baseline=config.baseline, q=config.q)
    provenance.record.update(
        runs={label: {"folder": str(folder), "models": manifests[label].get("models", {}),
                      "corpus": manifests[label].get("corpus", {}).get("spec"),
                      "languages": manifests[label].get("languages"),
                      "romanized": manifests[label].get("corpus", {}).get("romanized", [])}
              for label, folder in zip(labels, config.runs)},
        baseline=result.baseline, test="Wilcoxon signed-rank over (category, layer) pairs per language, "
                                       f"Benjamini-Hochberg over languages (q = {config.q})",
        tables=sorted(result.tables()))

    def write(folder: Path) -> list[Path]:
        files: list[Path] = []
        for name, table in result.tables().items():
            files += write_table(table, folder, name)
        figures: list[Path] = []
        if config.figures:
            for category, table in result.combined.groupby("category", sort=False):
                path = folder / "figures" / "violins" / f"{category_slug(category)}.png"
                figures.append(plot_run_violins(table, path, runs=result.runs, highlight=config.highlight))
            order = list(dict.fromkeys(result.combined["language"]))
            for run, table in result.tests.groupby("run", sort=False):
                figures.append(plot_signature_changes(table, folder / "figures" / "changes" / f"{run}.png",
                                                      order=order))
        provenance.record["figures"] = [str(path.relative_to(folder)) for path in figures]
        files += figures
        shifts = result.tests.groupby("run", sort=False)["direction"].value_counts().unstack(fill_value=0)
        counts = "; ".join(f"{run}: {int(row.get('higher', 0))} languages higher, {int(row.get('lower', 0))} lower"
                           for run, row in shifts.iterrows())
        files.append(write_section(folder, {
            "title": f"Comparison of factorization runs against {result.baseline}",
            "summary": (f"Average signatures of {', '.join(result.runs)}; each language's change from "
                        f"{result.baseline} over the (category, layer) pairs both runs have, tested with the "
                        f"Wilcoxon signed-rank test (BH over languages): {counts}. Each run is its own fit, so a "
                        "change shared by every language may be one of scale; the layers of a language are not "
                        "independent, so read the p-values as a guide."),
            "figures": [{"file": str(path.relative_to(folder)), "caption": path.stem,
                         "reading": "Violins of the runs side by side per layer (marked languages highlighted)"
                                    if path.parent.name == "violins" else
                                    "Median change of each language's average signature from the baseline; "
                                    "* significant after BH correction."} for path in figures[:6]],
            "tables": [{"file": "tests.parquet", "caption": "Per-language change and its test", "max_rows": 60}],
            "provenance": "manifest.json"}))
        return files

    files = write_run(config.out, config, provenance, write)
    return RunResult(result=result, manifest=provenance.record, out=Path(config.out), files=files)

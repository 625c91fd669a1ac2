"""Several models on one plot (Del and Fishel 2022, Figures 3, 5 and 6): similarity runs overlaid on normalised depth.

``crossling compare-similarity --run DIR --run DIR --out DIR`` reads finished ``crossling similarity`` runs
(their ``similarity.parquet`` and ``manifest.json``), puts every layer on a normalised depth axis,
``depth = layer / (hidden states - 1)`` (0 = the embedding output, 1 = the last layer), so models with
different numbers of layers line up, and summarises each model, index and layer over its language pairs:
the mean, the spread (standard deviation over pairs) and the mean null baseline.
:func:`compare_similarity` is the computation (tables only); :func:`run_compare_similarity` reads the runs and
writes the table, figures, manifest and report section.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd
from pydantic import Field

from crossling._utils.io import write_table
from crossling._utils.labels import model_label
from crossling._utils.provenance import Provenance
from crossling.config import CommaList, RunConfig
from crossling.exceptions import ConfigError
from crossling.pipeline import RunResult, write_run

__all__ = ["CompareSimilarityConfig", "compare_similarity", "load_similarity_run", "run_compare_similarity"]

_COLUMNS = ["model", "index", "layer", "depth", "mean", "sd", "band_low", "band_high", "null", "low", "high",
            "n_pairs", "n"]


def load_similarity_run(folder: str | Path) -> tuple[pd.DataFrame, dict]:
    """The tidy table and the manifest of a finished ``crossling similarity`` run.

    Parameters
    ----------
    folder : path
        The run's ``--out`` folder.

    Returns
    -------
    tuple of (DataFrame, dict)
        ``similarity.parquet`` and ``manifest.json``.

    Raises
    ------
    ConfigError
        When the folder holds no similarity result.
    """
    folder = Path(folder)
    table, manifest = folder / "similarity.parquet", folder / "manifest.json"
    if not (table.is_file() and manifest.is_file()):
        raise ConfigError(f"--run {folder}: not a `crossling similarity` result (no similarity.parquet and "
                          "manifest.json)")
    return pd.read_parquet(table), json.loads(manifest.read_text(encoding="utf-8"))


def compare_similarity(runs: Mapping[str, tuple[pd.DataFrame, int]], *,
                       indices: Sequence[str] | None = None) -> pd.DataFrame:
    """Each model's mean over language pairs per index and layer, on normalised depth, with spread and null.

    Parameters
    ----------
    runs : mapping of str to (DataFrame, int)
        Model label -> (the run's tidy table, the model's number of hidden states, embeddings included).
    indices : sequence of str, optional
        Indices to keep; default those every run has, in the first run's order.

    Returns
    -------
    pandas.DataFrame
        One row per model, index and layer: ``model, index, layer, depth, mean, sd, band_low, band_high, null,
        low, high, n_pairs, n``. ``depth = layer / (hidden states - 1)``; ``mean`` and ``sd`` (ddof 0) over the
        pairs; ``band_low``/``band_high`` the band drawn: ``mean -+ sd`` with two or more pairs, else the
        pair's confidence interval; ``null``, ``low`` and ``high`` the means over pairs of the null baseline
        and of the interval bounds (NaN when the run has none); ``n`` the sentences.

    Raises
    ------
    ConfigError
        For no runs, a model with fewer than two hidden states, or an index some run lacks.
    """
    if not runs:
        raise ConfigError("no runs to compare")
    common = [name for name in dict.fromkeys(next(iter(runs.values()))[0]["index"])
              if all(name in set(table["index"]) for table, _ in runs.values())]
    wanted = list(common if indices is None else indices)
    missing = [name for name in wanted if name not in common]
    if missing:
        raise ConfigError(f"indices {missing} are not in every run (common: {', '.join(common) or 'none'})")
    frames = []
    for model, (table, hidden_states) in runs.items():
        if hidden_states < 2:
            raise ConfigError(f"{model}: {hidden_states} hidden states leave no depth to normalise")
        rows = table[table["index"].isin(wanted)].copy()
        for column in ("null", "low", "high"):
            if column not in rows.columns:
                rows[column] = np.nan
        grouped = rows.groupby(["index", "layer"], sort=False)
        summary = grouped.agg(mean=("value", "mean"), sd=("value", lambda v: float(np.std(v))),
                              null=("null", "mean"), low=("low", "mean"), high=("high", "mean"),
                              n_pairs=("pair", "nunique"), n=("n", "max")).reset_index()
        several = summary["n_pairs"] > 1
        summary["band_low"] = np.where(several, summary["mean"] - summary["sd"], summary["low"])
        summary["band_high"] = np.where(several, summary["mean"] + summary["sd"], summary["high"])
        summary["depth"] = summary["layer"] / (hidden_states - 1)
        summary["model"] = model
        frames.append(summary)
    out = pd.concat(frames, ignore_index=True)[_COLUMNS]
    order = {name: i for i, name in enumerate(wanted)}
    return out.sort_values(["index", "model", "layer"], key=lambda c: c.map(order) if c.name == "index" else c,
                           kind="stable").reset_index(drop=True)


class CompareSimilarityConfig(RunConfig):
    """Settings of ``crossling compare-similarity``.

    Attributes
    ----------
    runs : list of path
        Folders of finished ``crossling similarity`` runs (``--run DIR``, repeated; at least two).
    labels : list of str, optional
        Comma-separated names of the runs in the legend, in order; default the models' names (with the
        folder's name where two runs share a model).
    indices : list of str, optional
        Comma-separated indices to compare; default every index all runs have.
    out : path
        Folder for the comparison table, figures, manifest and report section (replaced whole).
    """

    runs: list[Path] = Field(json_schema_extra={"repeat": True, "flag": "run", "metavar": "DIR"})
    labels: Optional[CommaList] = None
    indices: Optional[CommaList] = None
    out: Path


def _labels(config: CompareSimilarityConfig, manifests: Sequence[dict]) -> list[str]:
    if config.labels is not None:
        if len(config.labels) != len(config.runs) or len(set(config.labels)) != len(config.labels):
            raise ConfigError(f"--labels: give {len(config.runs)} distinct names, one per --run")
        return list(config.labels)
    names = [model_label(m.get("models", {}).get("model", {})) for m in manifests]
    return [f"{name} ({Path(run).name})" if names.count(name) > 1 else name
            for name, run in zip(names, config.runs)]


def run_compare_similarity(config: CompareSimilarityConfig) -> RunResult[pd.DataFrame]:
    """Overlay finished similarity runs on normalised depth: table, one figure per index, manifest, report section.

    Writes into ``config.out``: ``config.yaml``, ``comparison`` (parquet + csv), ``figures/compare_overview.png``
    and ``figures/compare_<index>.png``, ``manifest.json`` and ``report.json``.

    Parameters
    ----------
    config : CompareSimilarityConfig
        The runs, their labels, the indices and the output folder.

    Returns
    -------
    RunResult
        ``result`` is the comparison table (:func:`compare_similarity`).

    Raises
    ------
    ConfigError
        For fewer than two runs, a folder without a similarity result, labels that do not fit, or indices
        some run lacks.
    """
    from crossling.similarity.plots import plot_comparison, plot_comparison_overview
    from crossling.similarity.report import write_comparison_section
    from crossling.similarity.study import INDICES

    if len(config.runs) < 2:
        raise ConfigError(f"compare-similarity overlays runs: give at least two --run folders, got {len(config.runs)}")
    provenance = Provenance("cross-lingual similarity, several models", "crossling compare-similarity",
                            config.model_dump(mode="json"))
    loaded = [load_similarity_run(run) for run in config.runs]
    labels = _labels(config, [manifest for _, manifest in loaded])
    runs = {label: (table, int(manifest["models"]["model"]["n_hidden_states"]))
            for label, (table, manifest) in zip(labels, loaded)}
    with provenance.stage("comparison"):
        comparison = compare_similarity(runs, indices=config.indices)
    provenance.record.update(
        models={label: manifest["models"]["model"] for label, (_, manifest) in zip(labels, loaded)},
        runs={label: {"folder": str(run), "corpus": manifest.get("corpus", {}).get("name"), "n": manifest.get("n"),
                      "pairs": manifest.get("pairs"), "indices": manifest.get("indices")}
              for label, run, (_, manifest) in zip(labels, config.runs, loaded)})

    labels_of = {name: INDICES[name].label for name in INDICES}

    def write(folder: Path) -> list[Path]:
        files = list(write_table(comparison, folder, "comparison"))
        figures = folder / "figures"
        files.append(plot_comparison_overview(comparison, figures / "compare_overview.png", labels=labels_of))
        for name in dict.fromkeys(comparison["index"]):
            files.append(plot_comparison(comparison, name, figures / f"compare_{name}.png",
                                         label=labels_of.get(name, name)))
        files.append(write_comparison_section(comparison, folder, runs={k: m for k, (_, m) in zip(labels, loaded)}))
        return files

    files = write_run(config.out, config, provenance, write)
    return RunResult(result=comparison, manifest=provenance.record, out=Path(config.out), files=files)

"""The similarity study's report sections: what each figure shows, how to read it, and which values are noise."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crossling._utils.labels import model_label
from crossling.report import write_section
from crossling.similarity.study import INDICES, SimilarityResult

__all__ = ["noise_reading", "write_comparison_section", "write_similarity_section"]

_AXES = ("The x axis is the layer (0 = the embedding output, then each transformer layer in order); the y axis the "
         "index for a sentence and its translation. Thin lines are the language pairs, each over its confidence "
         "band (jackknife over shards of the sentences), the thick black line their mean and the grey band the "
         "mean plus or minus one standard deviation across pairs; the dashed red line is the null baseline, what "
         "the same sentences score when the translations are shuffled. Only the height above the null line is "
         "similarity. A rise means that layer represents a sentence and its translation more alike (more "
         "language-neutral); a fall means it pulls the languages apart (more language-specific, as layers that "
         "prepare the model's output for one language do).")

_CAUSAL = ("This is a causal (decoder-only) model: Del and Fishel found such models to align the languages in "
           "their first half and to pull them apart again towards the last layers, which predict the next token "
           "in one language (\"first align, then predict\"): look for a rise and a late fall above the null line.")


def _two(value: float) -> str:
    """Two decimals, without a sign on a value that rounds to zero."""
    return f"{round(value, 2) + 0.0:.2f}"


def noise_reading(table: pd.DataFrame, index: str, label: str) -> str:
    """Plain words on which values of one index are within reach of their null baseline.

    A value is beyond its null when ``beyond_null`` is true (its excess over the shuffled-pairing null is
    larger than the interval's quantile times the combined standard deviation).

    Parameters
    ----------
    table : DataFrame
        The study's tidy table (columns ``index, layer, value, null, beyond_null``).
    index : str
        The index.
    label : str
        Its display name.

    Returns
    -------
    str
        One or two sentences; "" when the table has no null for the index.
    """
    rows = table[table["index"] == index]
    if "null" not in rows.columns or rows["null"].isna().all():
        return ""
    beyond = rows["beyond_null"].fillna(False).astype(bool)
    null = (f"unrelated sentences score {_two(rows['null'].mean())} here, {_two(rows['null'].min())} to "
            f"{_two(rows['null'].max())} across layers and pairs")
    if beyond.all():
        return f"{label}: every value rises beyond its null baseline ({null}), so the curves show similarity."
    layers = sorted(int(layer) for layer, part in rows.groupby("layer") if not part["beyond_null"].fillna(False).any())
    within = f"{int((~beyond).sum())} of {len(rows)} values are within reach of their null baseline ({null})"
    if not beyond.any():
        return (f"{label}: no value rises beyond its null baseline ({null}): at this number of sentences these "
                "values are what unrelated sentences score, so read them as noise, not as similarity.")
    where = (f"; at layer{'s' * (len(layers) > 1)} {', '.join(map(str, layers))} no pair is beyond it"
             if layers else "")
    return f"{label}: {within}{where}. Read those values as noise; only the others show similarity."


def _matching_directions(details: pd.DataFrame) -> str:
    rows = details[details["index"] == "matching"]
    if rows.empty:
        return ""
    means = rows.groupby("quantity")["value"].mean()
    return (f" Averaged over pairs and layers the first language finds its translation {means['x_to_y']:.3f} of the "
            f"time and the second {means['y_to_x']:.3f} (both directions are in similarity_details).")


def write_similarity_section(result: SimilarityResult, out: Path, identity: Mapping[str, Any]) -> Path:
    """Write the study's ``report.json`` section: summary, figures with their readings, tables, provenance.

    Each index's reading says in plain words which of its values are within reach of their null baseline.

    Parameters
    ----------
    result : SimilarityResult
        The study's result.
    out : Path
        The result folder (its ``figures/`` and tables must exist).
    identity : mapping
        The model's identity (for the title, and whether it is causal).

    Returns
    -------
    Path
        The section file.
    """
    names = list(dict.fromkeys(result.table["index"]))
    pairs = ", ".join(f"{a}-{b}" for a, b in result.pairs)
    causal = " " + _CAUSAL if identity.get("kind") == "decoder" else ""
    words = {name: noise_reading(result.table, name, INDICES[name].label) for name in names}
    figures = [{"file": "figures/overview.png",
                "caption": "Every index against layer (mean over pairs, band: ± 1 sd; dashed: null baseline)",
                "reading": "One panel per index, same axes as the figures below. Where the panels agree, the "
                           "layer-wise shape does not depend on the choice of index. " + _AXES + causal}]
    for name in names:
        extra = _matching_directions(result.details) if name == "matching" else ""
        definition = result.table.loc[result.table["index"] == name, "definition"].iloc[0]
        figures.append({"file": f"figures/{name}.png",
                        "caption": f"{INDICES[name].label} ({definition}) against layer, per language pair",
                        "reading": " ".join(part for part in (INDICES[name].reading + extra, words[name], _AXES)
                                            if part)})
    if result.anc_matrix is not None:
        figures.append({
            "file": "figures/anc_matrix.png",
            "caption": f"ANC between every two languages at layer {result.focus_layer}",
            "reading": "Rows and columns are languages; each cell is the ANC of the pair at this layer (the "
                       "matrix is symmetric, the diagonal left blank). Brighter cells are pairs the layer "
                       "represents more alike; languages of one family or script often form brighter blocks."})
    if result.per_neuron is not None:
        figures.append({
            "file": "figures/per_neuron_anc.png",
            "caption": f"Per-neuron correlation at layer {result.focus_layer}",
            "reading": "Neurons sorted by their mean absolute correlation across the language pairs (x: rank, "
                       "y: |r|), with the range over pairs shaded. The left end are the most language-neutral "
                       "neurons (they take the same value for a sentence in every language); the right end "
                       "the most language-specific ones. ANC is the mean height of this curve."})
    tables = [{"file": "similarity_summary.parquet", "caption": "Mean over language pairs of every index, per layer",
               "max_rows": 100},
              {"file": "similarity.parquet",
               "caption": "Every value with its definition, interval and null baseline (tidy table)", "max_rows": 40}]
    unc = result.uncertainty
    noise = " ".join(words[name] for name in names if words[name])
    summary = (f"Similarity of the representations of {result.n} parallel sentences in "
               f"{len(result.languages)} languages ({pairs}) by {model_label(identity)}, at each of "
               f"{len(result.layers)} layers, with {len(names)} indices ({', '.join(names)}); the table's "
               "definition column names the convention each value follows. Null baseline: "
               f"{unc.null_permutations} shuffled pairings; intervals: {unc.confidence:.0%}, jackknife over "
               f"{unc.jackknife_shards} shards of the sentences. {noise}{causal}").strip()
    title = f"Cross-lingual similarity (Del and Fishel 2022): {model_label(identity)}"
    return write_section(out, {"title": title, "summary": summary,
                               "figures": figures, "tables": tables, "provenance": "manifest.json"})


def write_comparison_section(comparison: pd.DataFrame, out: Path, *, runs: Mapping[str, Mapping[str, Any]]) -> Path:
    """Write ``report.json`` of ``crossling compare-similarity``: one figure per index, the table, provenance.

    Parameters
    ----------
    comparison : DataFrame
        :func:`crossling.similarity.compare.compare_similarity`'s table.
    out : Path
        The result folder (``figures/compare_<index>.png`` must exist).
    runs : mapping of str to mapping
        Label -> the run's manifest (for the summary).

    Returns
    -------
    Path
        The section file.
    """
    names = list(dict.fromkeys(comparison["index"]))
    models = list(dict.fromkeys(comparison["model"]))
    figures = [{"file": "figures/compare_overview.png", "caption": f"Every index of {len(models)} models on normalised "
                "depth", "reading": "One panel per index, the models in every panel, as in the figures below."}]
    for name in names:
        label = INDICES[name].label if name in INDICES else name
        rows = comparison[comparison["index"] == name]
        peaks = ", ".join(f"{model} at depth {part.loc[part['mean'].idxmax(), 'depth']:.2f}"
                          for model, part in rows.groupby("model", sort=False) if np.isfinite(part["mean"]).any())
        figures.append({
            "file": f"figures/compare_{name}.png", "caption": f"{label} of {len(models)} models on normalised depth",
            "reading": "The x axis is depth within each model (0 = the embedding output, 1 = the last layer), so "
                       "models with different numbers of layers line up; the y axis the index for a sentence and "
                       "its translation. Each model's line is its mean over language pairs, its band the mean plus "
                       "or minus one standard deviation over pairs (the confidence interval when it has one pair), "
                       "and its dashed line its null baseline (shuffled pairing). Compare the models by their "
                       f"height above their own null lines. Highest: {peaks}."})
    described = "; ".join(f"{label}: {m.get('n')} sentences, pairs {', '.join(m.get('pairs') or [])}"
                          for label, m in runs.items())
    summary = f"Cross-lingual similarity of {len(models)} models on one depth axis ({described})."
    return write_section(out, {"title": f"Cross-lingual similarity of {', '.join(models)}", "summary": summary,
                               "figures": figures,
                               "tables": [{"file": "comparison.parquet", "caption": "Mean over pairs per model, "
                                           "index and layer, with the band and the null", "max_rows": 60}],
                               "provenance": "manifest.json"})

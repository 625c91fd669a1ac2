"""The similarity study's report section: what each figure shows and how to read it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from crossling._utils.labels import model_label
from crossling.report import write_section
from crossling.similarity.study import INDICES, SimilarityResult

__all__ = ["write_similarity_section"]

_AXES = ("The x axis is the layer (0 = the embedding output, then each transformer layer in order); the y axis the "
         "index for a sentence and its translation. Thin lines are the language pairs, the thick black line "
         "their mean and the grey band the mean plus or minus one standard deviation across pairs. A rise "
         "means that layer represents a sentence and its translation more alike (more language-neutral); a "
         "fall means it pulls the languages apart (more language-specific, as layers that prepare the "
         "model's output for one language do).")


def write_similarity_section(result: SimilarityResult, out: Path, identity: Mapping[str, Any]) -> Path:
    """Write the study's ``report.json`` section: summary, figures with their readings, tables, provenance.

    Parameters
    ----------
    result : SimilarityResult
    out : Path
        The result folder (its ``figures/`` and tables must exist).
    identity : mapping
        The model's identity (for the title).

    Returns
    -------
    Path
        The section file.
    """

    names = list(dict.fromkeys(result.table["index"]))
    pairs = ", ".join(f"{a}-{b}" for a, b in result.pairs)
    figures = [{"file": "figures/overview.png", "caption": "Every index against layer (mean over pairs, band: ± 1 sd)",
                "reading": "One panel per index, same axes as the figures below. Where the panels agree, the "
                           "layer-wise shape does not depend on the choice of index. " + _AXES}]
    figures += [{"file": f"figures/{name}.png", "caption": f"{INDICES[name].label} against layer, per language pair",
                 "reading": INDICES[name].reading + " " + _AXES} for name in names]
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
              {"file": "similarity.parquet", "caption": "Every value (tidy table)", "max_rows": 40}]
    summary = (f"Similarity of the representations of {result.n} parallel sentences in "
               f"{len(result.languages)} languages ({pairs}) by {model_label(identity)}, at each of "
               f"{len(result.layers)} layers, with {len(names)} indices ({', '.join(names)}); sentence "
               "vectors are mean-pooled over the tokens.")
    title = f"Cross-lingual similarity (Del and Fishel 2022): {model_label(identity)}"
    return write_section(out, {"title": title, "summary": summary,
                               "figures": figures, "tables": tables, "provenance": "manifest.json"})

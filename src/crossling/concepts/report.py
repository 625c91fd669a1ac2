"""The concept study's report section: what each figure shows and how to read it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from crossling._utils.labels import model_label
from crossling.concepts.study import ConceptsResult
from crossling.report import write_section

__all__ = ["write_concepts_section"]


def write_concepts_section(result: ConceptsResult, out: Path, identity: Mapping[str, Any], *, n_sentences: int,
                           pooling: str, example_layer: int) -> Path:
    """Write the study's ``report.json`` section: summary, figures with their readings, tables, provenance.

    Parameters
    ----------
    result : ConceptsResult
    out : Path
        The result folder (its ``figures/`` and tables must exist; a figure that was not drawn is left out).
    identity : mapping
        The model's identity (for the title).
    n_sentences : int
        Parallel sentences per language.
    pooling : str
        How a word's sub-words were pooled into its vector (``last``, ``first`` or ``mean``).
    example_layer : int
        The layer of the aligned examples.

    Returns
    -------
    Path
        The section file.
    """
    options = result.options
    readings = {
        "calign.png": (
            "CALIGN against layer, per language pair and direction",
            "The x axis is the layer (0 = the embedding output); the y axis is CALIGN, the percentage of one "
            f"language's concepts (K = {options.k} clusters of its word tokens, counting only concepts "
            f"with {options.min_types} or more distinct words) for which the other language has a concept "
            f"holding a translation of at least {options.theta_a:.0%} of its words, with a size within "
            f"{options.size_tolerance:.0%}. One colour per language pair; the solid line reads from the "
            "pivot language into the other, the dashed line back. A rise means that layer groups words "
            "the way their translations are grouped in the other language: its concepts are shared across "
            "languages rather than language-specific. The two directions can differ because each language's "
            "concepts are clustered separately and the dictionaries are not symmetric."),
        "colap.png": (
            "COLAP against layer, per jointly clustered language set",
            "The x axis is the layer; the y axis is COLAP, the percentage of concepts, from clustering the "
            "word tokens of the languages together, in which at least two languages each make up "
            f"{options.theta_o:.0%} or more of the concept (counted by {options.colap_by}). A rise means "
            "the layer places words of different languages in the same regions of its space (mixed, "
            "language-neutral concepts); near zero means every concept belongs to one language. A set has "
            "the colour of the pair of the same languages in the CALIGN figure."),
        "aligned_examples.png": (
            f"Example aligned concepts at layer {example_layer}",
            "Each box pairs a concept of one language (left) with the concept of the other language it is "
            "aligned to (right), most frequent words first, with token counts; a tick marks a word whose "
            "translation (from the dictionary) is in the other concept. Such pairs are what CALIGN counts."),
    }
    figures = [{"file": f"figures/{name}", "caption": caption, "reading": reading}
               for name, (caption, reading) in readings.items() if (Path(out) / "figures" / name).is_file()]
    tables = [{"file": "summary.parquet", "caption": "CALIGN and COLAP (%) per layer", "max_rows": 100},
              {"file": "calign.parquet", "caption": "CALIGN (%) per layer and direction, with counts",
               "max_rows": 60},
              {"file": "colap.parquet", "caption": "COLAP (%) per layer and language set, with counts",
               "max_rows": 60},
              {"file": "clusterings.parquet", "caption": "Every clustering: backend, tokens, inertia, convergence",
               "max_rows": 40}]
    tokens = ", ".join(f"{lang} {t['n_selected']}" for lang, t in result.tokens.items())
    supplied = sum("loaded_from" in record for record in result.dictionary_provenance.values())
    source = ("word alignments of the same corpus" if not supplied else "the dictionaries supplied"
              if supplied == len(result.dictionary_provenance) else
              "word alignments of the same corpus and the dictionaries supplied")
    cap = ("every occurrence of each word" if options.max_per_type is None
           else f"after capping each word at {options.max_per_type} occurrences")
    vectors = "last sub-word" if pooling == "last" else f"{pooling} pooled sub-words"
    summary = (
        f"Latent concepts of {model_label(identity)}: the word tokens of {n_sentences} parallel sentences per "
        f"language ({tokens} tokens, {cap}) are "
        f"clustered into K = {options.k} concepts at each of {len(result.layers)} layers "
        f"({', '.join(map(str, result.layers))}), one language at a time for CALIGN and jointly for COLAP; "
        f"translations come from {source}. Word vectors are the model's {vectors} "
        "of each word.")
    title = f"Latent-concept alignment (Mousi, Durrani, Dalvi et al. 2024): {model_label(identity)}"
    return write_section(out, {"title": title, "summary": summary, "figures": figures, "tables": tables,
                               "provenance": "manifest.json"})

"""The concept study's report section: what each figure shows, how to read it, and what the controls say."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from crossling._utils.labels import model_label
from crossling.concepts.study import ConceptsResult
from crossling.report import write_section

__all__ = ["FEW_CONCEPTS", "REACH", "control_notes", "write_concepts_section"]

REACH = 0.5
"""A value is *within reach of the sentence baseline* when its largest seed value is at least this share of
what the sentence baseline (concepts made of consecutive sentences, no model) scores."""
FEW_CONCEPTS = 10
"""CALIGN resting on fewer eligible concepts than this (seed mean) is flagged as too few to read."""


def _layers(values) -> str:
    values = [int(v) for v in values]
    return ("layer " if len(values) == 1 else "layers ") + ", ".join(map(str, values))


def control_notes(result: ConceptsResult, *, model: str | None = None) -> list[str]:
    """Plain sentences on what the controls say about the result, per direction and language set.

    For each CALIGN direction: the layers whose value is within reach of the sentence baseline
    (:data:`REACH`), the layers resting on fewer than :data:`FEW_CONCEPTS` eligible concepts, how many
    aligned concepts of the last layer share their most common sentence with their target, and the
    held-out variant at the last layer. For each COLAP set: the layers within reach of its sentence
    baseline and of its random baseline (random concepts mix languages, so COLAP near it means no
    separation by language rather than shared concepts), and how many overlapping concepts of the last layer
    share one sentence across languages.

    Parameters
    ----------
    result : ConceptsResult
    model : str, optional
        Whose rows (default: the first model's).

    Returns
    -------
    list of str
    """
    model = model or result.models[0]
    notes = []
    value = "calign_percent" if result.options.calign_denominator == "eligible" else "calign_k_percent"
    calign = result.calign[result.calign["model"] == model]
    for direction, rows in calign.groupby("direction", sort=False):
        rows = rows.sort_values("layer")
        base = float(rows["sentence_baseline_percent"].mean())
        high = rows[f"{value}_max"] if f"{value}_max" in rows.columns else rows[value]
        if not np.isnan(base):
            near = rows.loc[high >= REACH * base, "layer"]
            if len(near):
                notes.append(f"CALIGN {direction} at {_layers(near)} is within reach of the sentence baseline "
                             f"({base:.1f}%, concepts made of the words of consecutive sentences, no model): these "
                             "values can come from sentence clustering alone.")
            else:
                notes.append(f"CALIGN {direction} stays below {REACH:.0%} of the sentence baseline ({base:.1f}%) at "
                             "every layer.")
        few = rows.loc[rows["n_eligible"] < FEW_CONCEPTS, "layer"]
        if len(few):
            notes.append(f"CALIGN {direction} at {_layers(few)} rests on fewer than {FEW_CONCEPTS} eligible concepts "
                         "(n_eligible): too few to read as a finding.")
        last = rows.iloc[-1]
        if not np.isnan(last["aligned_same_sentence"]) and last["n_aligned"] > 0:
            notes.append(f"At layer {int(last['layer'])}, {last['aligned_same_sentence']:.1f} of "
                         f"{last['n_aligned']:.1f} aligned {direction} concepts (seed means) share their most "
                         "common sentence with their target concept.")
        if not np.isnan(last["heldout_calign_percent"]):
            notes.append(f"Held out (dictionary from the other half of the sentences), CALIGN {direction} at layer "
                         f"{int(last['layer'])} is {last['heldout_calign_percent']:.1f}% (n = "
                         f"{last['heldout_n_eligible']:.1f}; sentence baseline "
                         f"{last['heldout_sentence_baseline_percent']:.1f}%) against {last['calign_percent']:.1f}% "
                         "with the whole corpus.")
    colap = result.colap[result.colap["model"] == model]
    for name, rows in colap.groupby("languages", sort=False):
        rows = rows.sort_values("layer")
        for column, what in (("sentence_baseline_percent", "sentence baseline"),
                             ("random_baseline_percent", "random baseline (concepts drawn at random mix languages)")):
            base = float(rows[column].mean())
            near = rows.loc[rows["colap_percent_max"] >= REACH * base, "layer"] if not np.isnan(base) else []
            if len(near):
                notes.append(f"COLAP {name} at {_layers(near)} is within reach of the {what}, {base:.1f}%.")
        last = rows.iloc[-1]
        if not np.isnan(last["overlapping_same_sentence"]) and last["n_overlapping"] > 0:
            notes.append(f"At layer {int(last['layer'])}, {last['overlapping_same_sentence']:.1f} of "
                         f"{last['n_overlapping']:.1f} overlapping {name} concepts have one most common sentence in "
                         "every language.")
    return notes


def write_concepts_section(result: ConceptsResult, out: Path, identity: Mapping[str, Any], *, n_sentences: int,
                           pooling: str, example_layer: int, base: Mapping[str, Any] | None = None,
                           stacks: str = "encoder") -> Path:
    """Write the study's ``report.json`` section: summary, controls, figures with their readings, tables.

    Parameters
    ----------
    result : ConceptsResult
    out : Path
        The result folder (its ``figures/`` and tables must exist; a figure or table that was not written
        is left out).
    identity : mapping
        The model's identity (for the title).
    n_sentences : int
        Parallel sentences per language.
    pooling : str
        How a word's sub-words were pooled into its vector (``last``, ``first`` or ``mean``).
    example_layer : int
        The layer of the examples.
    base : mapping, optional
        The base model's identity, when one was compared.
    stacks : {"encoder", "encoder-decoder"}, default "encoder"
        Whether the other languages were read by the decoder.

    Returns
    -------
    Path
        The section file.
    """
    options = result.options
    denominator = ("eligible concepts" if options.calign_denominator == "eligible" else f"all K = {options.k}")
    seeds = f"{len(result.seeds)} seeds ({', '.join(map(str, result.seeds))})"
    dotted = f"; the base model {model_label(base)} is dotted" if base else ""
    readings = {
        "calign.png": (
            "CALIGN against layer, per language pair and direction, with the sentence baseline",
            "The x axis is the layer (0 = the embedding output); the y axis is CALIGN, the percentage of one "
            f"language's concepts (K = {options.k} clusters of its word tokens, over {denominator}; a concept "
            f"is eligible with {options.min_types} or more distinct words) for which the other language has a "
            f"concept holding a translation of at least {options.theta_a:.0%} of its words, with a size within "
            f"{options.size_tolerance:.0%} ({options.size_rule} rule). The line is the mean over {seeds}, the "
            "band their range. One colour per language pair; the solid line reads from the pivot language into "
            f"the other, the dashed line back{dotted}. The thin dash-dotted line is the sentence baseline: "
            "concepts made of the words of consecutive sentences, no model at all; a value near it can come "
            "from sentence clustering alone, because the dictionary is estimated from the same sentences. The "
            "right panel, when present, takes the dictionary from one half of the sentences and the concepts "
            f"from the other (K = {result.heldout_k}): no sentence gives both a concept and its translations, "
            "so what is left there is alignment beyond shared sentences."),
        "colap.png": (
            "COLAP against layer, per jointly clustered language set, with the sentence baseline",
            "The x axis is the layer; the y axis is COLAP, the percentage of concepts, from clustering the "
            "word tokens of the languages together, in which enough languages "
            f"({options.colap_min_languages}) each make up {options.theta_o:.0%} or more of the concept "
            f"(counted by {options.colap_by}); mean over {seeds} with their range{dotted}. A rise means the "
            "layer places words of different languages in the same regions of its space. The dash-dotted line "
            "is the sentence baseline (a parallel sentence's words in both languages share a concept, so it "
            "mixes languages fully), the grey one the random baseline (concepts drawn at random mix languages "
            "too): COLAP near them says that the layer does not separate the languages, not by itself that "
            "it shares concepts. Mixed concepts made of one sentence pair's words are what the table's "
            "overlapping_same_sentence counts."),
        "boundness.png": (
            "How sentence-bound the concepts are, per layer",
            "For each concept, the share of its tokens that come from its most common sentence (1 = all from "
            "one sentence), averaged over concepts and seeds, per clustering (each language alone, the sets "
            "jointly). High values mean the concepts group the words of a sentence rather than words of a kind, "
            "the confound CALIGN and COLAP are read against."),
        "sweeps.png": (
            "Sensitivity of CALIGN and COLAP to theta_A, theta_O and K",
            "Each panel varies one setting (x axis) and shows the first direction or set, one line per layer "
            "(darker = deeper), mean over seeds (K: the first seed). Every direction and set is in the sweeps "
            "table. Conclusions that hold only at one setting are fragile."),
        "aligned_examples.png": (
            f"Example aligned concepts at layer {example_layer}",
            "Each box pairs a concept of one language (left) with the concept of the other language it is "
            "aligned to (right), most frequent words first, with token counts and the share of the concept's "
            "tokens from its most common sentence; a tick marks a word whose translation (from the dictionary) "
            "is in the other concept. Such pairs are what CALIGN counts."),
        "overlap_examples.png": (
            f"Example overlapping concepts at layer {example_layer}",
            "Each row is one concept of a joint clustering in which two or more languages each reach "
            f"{options.theta_o:.0%}: one box per language, most frequent words first, with the language's share "
            "of the concept and the share of the concept's tokens from its most common sentence. Such concepts "
            "are what COLAP counts."),
    }
    figures = [{"file": f"figures/{name}", "caption": caption, "reading": reading}
               for name, (caption, reading) in readings.items() if (Path(out) / "figures" / name).is_file()]
    tables = [{"file": "summary.parquet", "caption": f"CALIGN and COLAP (%) per layer, mean over {seeds}",
               "max_rows": 100},
              {"file": "calign.parquet", "caption": "CALIGN (%) per layer and direction: mean, range over seeds, "
               "n eligible concepts, sentence and random baselines, sentence-boundness, held-out variant",
               "max_rows": 60},
              {"file": "colap.parquet", "caption": "COLAP (%) per layer and language set: mean, range over seeds, "
               "baselines, sentence-boundness", "max_rows": 60},
              {"file": "sweeps.parquet", "caption": "CALIGN and COLAP (%) for every swept setting", "max_rows": 60},
              {"file": "clusterings.parquet", "caption": "Every clustering: backend, tokens, empty concepts, inertia, "
               "convergence, boundness", "max_rows": 40}]
    tables = [t for t in tables if (Path(out) / t["file"]).is_file()]
    tokens = ", ".join(f"{lang} {t['n_selected']}" for lang, t in result.tokens.items())
    supplied = sum("loaded_from" in record for record in result.dictionary_provenance.values())
    source = ("word alignments of the same corpus" if not supplied else "the dictionaries supplied"
              if supplied == len(result.dictionary_provenance) else
              "word alignments of the same corpus and the dictionaries supplied")
    cap = ("every occurrence of each word" if options.max_per_type is None
           else f"after capping each word at {options.max_per_type} occurrences ({options.sampling} ones)")
    vectors = "last sub-word" if pooling == "last" else f"{pooling} pooled sub-words"
    compared = f", compared with its base model {model_label(base)}" if base else ""
    decoder = (" The pivot language is read by the encoder and every other language by the decoder, conditioned "
               "on the pivot's parallel sentence (teacher forcing, shifted right)." if stacks == "encoder-decoder"
               else "")
    summary = (
        f"Latent concepts of {model_label(identity)}{compared}: the word tokens of {n_sentences} parallel sentences "
        f"per language ({tokens} tokens, {cap}) are clustered into K = {options.k} concepts at each of "
        f"{len(result.layers)} layers ({', '.join(map(str, result.layers))}), one language at a time for CALIGN and "
        f"jointly for COLAP, with {seeds}; translations come from {source}. Word vectors are the model's "
        f"{vectors} of each word.{decoder} Controls: " + " ".join(control_notes(result)))
    title = f"Latent-concept alignment (Mousi, Durrani, Dalvi et al. 2024): {model_label(identity)}"
    return write_section(out, {"title": title, "summary": summary, "figures": figures, "tables": tables,
                               "provenance": "manifest.json"})

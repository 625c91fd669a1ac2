"""The joint-factorization study's report section: what was done and what to beware of, a few figures of each
kind with how to read them, the key tables."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from crossling.factorization.diagnostics import diagnostics_sentence
from crossling.factorization.study import FactorizationResult
from crossling.report import write_section

__all__ = ["summary_text", "write_factorization_section"]

_READINGS = {
    "violins": ("Average signature per layer",
                "Each violin is the spread over languages of the average PARAFAC2 signature (the intensity with "
                "which a language's control-model space is reflected in the multilingual model) at one layer. "
                "A falling curve means the multilingual model keeps less language-specific structure deeper in."),
    "distances": ("Distances between language signatures",
                  "Cosine distance between the signature vectors of two languages at a layer: dark cells are "
                  "languages the multilingual model treats alike."),
    "dendrograms": ("Language tree from signatures",
                    "UPGMA tree of the average distance over the UniMorph categories but part of speech (average) "
                    "or of the All-words signatures; leaves are coloured by family. Branches that follow families "
                    "mean the model's language-specific structure follows typology."),
    "correlations": ("Correlation across languages",
                     "Pearson r between the average signature and a language property (characters covering 99.9% "
                     "of the text, type-token ratio), the number of words of each slice (data_size: per language "
                     "and category, not a property of the language) or a downstream score, per category and "
                     "layer; * marks p < 0.05 (uncorrected)."),
    "mean_correlations": ("Correlation averaged over layers",
                          "The correlations of the heatmaps above averaged over the layers, per category and "
                          "property (as Fig. 4 of Zhao, Ziser and Cohen 2023)."),
}
_MAX_FIGURES_PER_KIND = 3
_TABLES = [("average_signatures", "Average signature by category, layer and language", 40),
           ("signature_spread", "Spread of the average signature over languages, per category and layer", 30),
           ("word_counts", "Words per category and language (with a vector from both models; Table 3 of the paper)",
            20),
           ("fits", "PARAFAC2 fits (relative error, convergence, degeneracy and stability diagnostics)", 30),
           ("trends", "Mann-Kendall trend of each language's signature over layers (label from the BH decision)", 30),
           ("variance_tests", "Variance of the diverse set against each related set (chi-square and F)", 30),
           ("mean_correlations", "Correlations averaged over layers", 30),
           ("skipped", "Languages left out of a category and why", 30)]


def summary_text(result: FactorizationResult, caveats: Sequence[str] = ()) -> str:
    """The section's text: what was fitted, then what a reader must know before trusting the numbers.

    Parameters
    ----------
    result : FactorizationResult
    caveats : sequence of str, default ()
        Sentences the run adds (a model that did not beat its unigram baseline, a romanisation mismatch).

    Returns
    -------
    str
        Sentences: the fits; how many stopped at their iteration budget; the significant trends by direction;
        the analyses not computed and why; the caveats.
    """
    fits = result.fits
    parts = [f"PARAFAC2 of the cross-covariances between each language's monolingual control model and the "
             f"multilingual model, per category and layer, over {', '.join(result.languages)}.",
             diagnostics_sentence(fits)]
    if result.not_converged:
        parts.append(f"{len(result.not_converged)} of {len(fits)} fits stopped at the iteration budget "
                     f"(n_iter_max={result.options.n_iter_max}) before meeting the tolerance: their signatures still "
                     "move with the budget, so levels and trends partly measure the solver setting.")
    trends = result.trends
    decided = trends["trend"].value_counts()
    down, up = int(decided.get("decreasing", 0)), int(decided.get("increasing", 0))
    parts.append(f"Trends over layers significant after Benjamini-Hochberg correction (q <= "
                 f"{trends.attrs.get('q', 0.05)}): {down} decreasing and {up} increasing of {len(trends)} "
                 "(category, language) series.")
    for analysis, why in result.skipped_analyses.items():
        parts.append(f"Not computed: {analysis} ({why}).")
    parts.extend(caveats)
    return " ".join(parts)


def write_factorization_section(result: FactorizationResult, out: str | Path, figures: Sequence[str | Path],
                                source: str, *, caveats: Sequence[str] = ()) -> Path:
    """Write the study's ``report.json`` section: summary with caveats, up to three figures of each kind, tables.

    Parameters
    ----------
    result : FactorizationResult
    out : path
        The result folder (its figures and tables must exist).
    figures : sequence of path
        The figures written (under ``out``), in the order they are shown; a figure's kind is its folder.
    source : str
        The corpus, for the title (e.g. "UD test treebanks, per category").
    caveats : sequence of str, default ()
        Sentences added to the summary (:func:`summary_text`).

    Returns
    -------
    Path
        The section file.
    """
    out = Path(out)
    items, shown = [], {}
    for path in figures:
        kind = Path(path).parent.name
        if kind not in _READINGS or shown.get(kind, 0) >= _MAX_FIGURES_PER_KIND:
            continue
        shown[kind] = shown.get(kind, 0) + 1
        title, reading = _READINGS[kind]
        items.append({"file": str(Path(path).relative_to(out)), "caption": f"{title}: {Path(path).stem}",
                      "reading": reading})
    tables = result.tables()
    return write_section(out, {
        "title": f"Joint factorization (Zhao, Ziser and Cohen 2023): {source}",
        "summary": summary_text(result, caveats),
        "figures": items,
        "tables": [{"file": f"{name}.parquet", "caption": caption, "max_rows": rows}
                   for name, caption, rows in _TABLES if name in tables],
        "provenance": "manifest.json",
    })

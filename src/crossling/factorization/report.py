"""The joint-factorization study's report section: a few figures of each kind with how to read them, the key tables."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from crossling.factorization.diagnostics import diagnostics_sentence
from crossling.factorization.study import FactorizationResult
from crossling.report import write_section

__all__ = ["write_factorization_section"]

_READINGS = {
    "violins": ("Average signature per layer",
                "Each violin is the spread over languages of the average PARAFAC2 signature (the intensity with "
                "which a language's control-model space is reflected in the multilingual model) at one layer. "
                "A falling curve means the multilingual model keeps less language-specific structure deeper in."),
    "distances": ("Distances between language signatures",
                  "Cosine distance between the signature vectors of two languages at a layer: dark cells are "
                  "languages the multilingual model treats alike."),
    "dendrograms": ("Language tree from signatures",
                    "UPGMA tree of the average distance over categories; leaves are coloured by family. Branches "
                    "that follow families mean the model's language-specific structure follows typology."),
    "correlations": ("Correlation with language properties",
                     "Pearson r between the average signature and a language property (characters covering 99.9% "
                     "of text, type-token ratio, data size), per category and layer; * marks p < 0.05."),
}
_MAX_FIGURES_PER_KIND = 3
_TABLES = [("average_signatures", "Average signature by category, layer and language", 40),
           ("fits", "PARAFAC2 fits (relative error, convergence, degeneracy and stability diagnostics)", 30),
           ("trends", "Mann-Kendall trend of each language's signature over layers (BH-corrected)", 30),
           ("skipped", "Languages left out of a category and why", 30)]


def write_factorization_section(result: FactorizationResult, out: str | Path, figures: Sequence[str | Path],
                                source: str) -> Path:
    """Write the study's ``report.json`` section: summary, up to three figures of each kind, key tables.

    Parameters
    ----------
    result : FactorizationResult
    out : path
        The result folder (its figures and tables must exist).
    figures : sequence of path
        The figures written (under ``out``), in the order they are shown; a figure's kind is its folder.
    source : str
        The corpus, for the title (e.g. "UD test treebanks, per category").

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
        "summary": f"PARAFAC2 of the cross-covariances between each language's monolingual control model and the "
                   f"multilingual model, per category and layer, over {', '.join(result.languages)}. "
                   + diagnostics_sentence(result.fits),
        "figures": items,
        "tables": [{"file": f"{name}.parquet", "caption": caption, "max_rows": rows}
                   for name, caption, rows in _TABLES if name in tables],
        "provenance": "manifest.json",
    })

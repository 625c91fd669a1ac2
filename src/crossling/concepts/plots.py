"""Figures and readable renderings of the concept study: CALIGN / COLAP against layer, aligned concepts."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from crossling.io import atomic_path

if TYPE_CHECKING:
    from crossling.concepts.study import ConceptsStudy

__all__ = ["aligned_examples_markdown", "plot_calign", "plot_colap"]


def _line_plot(table: pd.DataFrame, value: str, series: str, title: str, path: str | os.PathLike) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    try:
        for i, (name, group) in enumerate(table.groupby(series, sort=False)):
            group = group.sort_values("layer")
            # Styles cycle too, so that series with equal values stay distinguishable.
            ax.plot(group["layer"], group[value], marker="os^Dv"[i % 5], linestyle=("-", "--", ":", "-.")[i % 4],
                    label=str(name))
        ax.set_xlabel("layer")
        ax.set_ylabel(f"{value.upper()} (%)")
        ax.set_ylim(-2, 102)
        ax.set_xticks(sorted(table["layer"].unique()))
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small", ncol=2)
        fig.tight_layout()
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=Path(path).suffix.lstrip(".") or "png", dpi=150)
    finally:
        plt.close(fig)
    return Path(path)


def plot_calign(table: pd.DataFrame, path: str | os.PathLike) -> Path:
    """CALIGN against layer, one line per direction (columns ``layer, direction, calign``)."""
    return _line_plot(table, "calign", "direction", "Concept alignment (CALIGN)", path)


def plot_colap(table: pd.DataFrame, path: str | os.PathLike) -> Path:
    """COLAP against layer, one line per language set (columns ``layer, languages, colap``)."""
    return _line_plot(table, "colap", "languages", "Concept overlap (COLAP)", path)


def aligned_examples_markdown(study: "ConceptsStudy", *, layer: int, n_examples: int = 5) -> str:
    """Markdown tables of aligned concepts of one layer, the words of C_s and C_t side by side.

    Per direction, the ``n_examples`` aligned source concepts with the most types (ties: lowest id),
    each beside its best target (:attr:`CalignResult.best_target`). Words are ordered by token count;
    a source word with one of its kept translations in C_t is marked with a check mark, a target word
    that is such a translation too.
    """
    lines = [f"# Aligned concepts, layer {layer}", ""]
    directions = [(s, t) for (lay, s, t) in study.alignments if lay == layer]
    if not directions:
        lines.append("No CALIGN direction was computed for this layer.")
    for source, target in directions:
        res = study.alignments[layer, source, target]
        lines += [f"## {source} -> {target}: CALIGN {res.calign:.1f}% ({res.n_aligned} of {res.n_eligible})", ""]
        aligned = [c for c in range(res.n_source_concepts) if res.best_target[c] >= 0]
        if not aligned:
            lines += ["No aligned concept.", ""]
            continue
        src_counts = _word_counts(study, layer, source)
        tgt_counts = _word_counts(study, layer, target)
        translations = study.dictionaries[source, target]
        aligned.sort(key=lambda c: (-len(src_counts.get(c, {})), c))
        for c_s in aligned[:n_examples]:
            c_t = int(res.best_target[c_s])
            s_words, t_words = src_counts.get(c_s, {}), tgt_counts.get(c_t, {})
            hits = {w: set(translations.get(w, ())) & set(t_words) for w in s_words}
            used = set().union(*hits.values())
            s_cells = [f"{_md(w)} ({n}){' ✓' if hits[w] else ''}" for w, n in s_words.items()]
            t_cells = [f"{_md(w)} ({n}){' ✓' if w in used else ''}" for w, n in t_words.items()]
            lines += [
                f"| {source} concept {c_s} ({len(s_words)} types) | {target} concept {c_t} ({len(t_words)} types) |",
                "|---|---|",
            ]
            for i in range(max(len(s_cells), len(t_cells))):
                left = s_cells[i] if i < len(s_cells) else ""
                right = t_cells[i] if i < len(t_cells) else ""
                lines.append(f"| {left} | {right} |")
            lines.append("")
    return "\n".join(lines) + "\n"


def _word_counts(study: "ConceptsStudy", layer: int, language: str) -> dict[int, dict[str, int]]:
    """Concept -> {word: token count}, most frequent first, for one language's own clustering."""
    counts = study.concepts[layer, language].counts()
    out: dict[int, dict[str, int]] = {}
    for concept, _, word, n in counts.itertuples(index=False):
        out.setdefault(int(concept), {})[word] = int(n)
    return out


def _md(word: str) -> str:
    return word.replace("|", "\\|")

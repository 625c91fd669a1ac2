"""Figures and readable renderings of the concept study: CALIGN / COLAP against layer, aligned concepts."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from crossling._utils.io import atomic_path

if TYPE_CHECKING:
    from crossling.concepts.study import ConceptsStudy

__all__ = ["aligned_examples_markdown", "plot_aligned_examples", "plot_calign", "plot_colap"]


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
    """CALIGN against layer: one colour per language pair, solid from its first language, dashed back.

    ``table`` has the columns ``layer, pair, direction, source, calign`` of :attr:`ConceptsStudy.calign`;
    a pair is written ``a-b`` and its first language ``a`` reads solid.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pairs = list(dict.fromkeys(table["pair"]))
    colours = plt.get_cmap("tab10" if len(pairs) <= 10 else "tab20")
    fig, ax = plt.subplots(figsize=(7.2, 4.4))
    try:
        for i, pair in enumerate(pairs):
            first = pair.split("-")[0]
            for direction, group in table[table["pair"] == pair].groupby("direction", sort=False):
                group = group.sort_values("layer")
                solid = group["source"].iloc[0] == first
                ax.plot(group["layer"], group["calign"], color=colours(i % colours.N), marker="o" if solid else "s",
                        markersize=4, linestyle="-" if solid else "--", label=direction)
        ax.set_xlabel("layer (0 = embeddings)")
        ax.set_ylabel("CALIGN (% of concepts aligned)")
        top = float(table["calign"].max()) if table["calign"].notna().any() else 100.0
        ax.set_ylim(-1, min(102, max(10.0, top * 1.15 + 2)))
        ax.set_xticks(sorted(table["layer"].unique()))
        ax.set_title("Concept alignment (CALIGN)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small", ncol=2 if len(pairs) > 2 else 1, loc="center left", bbox_to_anchor=(1.01, 0.5),
                  frameon=False)
        fig.tight_layout()
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=Path(path).suffix.lstrip(".") or "png", dpi=150)
    finally:
        plt.close(fig)
    return Path(path)


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
        examples = _aligned_examples(study, layer, source, target, n_examples)
        if not examples:
            lines += ["No aligned concept.", ""]
            continue
        for ex in examples:
            s_cells, t_cells = ex.cells(_md)
            lines += [
                f"| {source} concept {ex.c_s} ({len(ex.s_words)} types) | "
                f"{target} concept {ex.c_t} ({len(ex.t_words)} types) |",
                "|---|---|",
            ]
            for i in range(max(len(s_cells), len(t_cells))):
                left = s_cells[i] if i < len(s_cells) else ""
                right = t_cells[i] if i < len(t_cells) else ""
                lines.append(f"| {left} | {right} |")
            lines.append("")
    return "\n".join(lines) + "\n"


def plot_aligned_examples(
    study: "ConceptsStudy",
    path: str | os.PathLike,
    *,
    layer: int,
    n_directions: int = 3,
    n_examples: int = 2,
    max_words: int = 14,
) -> Path | None:
    """Draw example aligned concept pairs of one layer (the figure beside ``aligned_examples.md``).

    Takes the first ``n_directions`` directions (in the study's order) that have an aligned concept
    whose words the plotting font can draw (scripts it lacks, e.g. Japanese without a CJK font, are
    left to the Markdown file), and for each its ``n_examples`` largest aligned pairs as in
    :func:`aligned_examples_markdown`, at most ``max_words`` words per concept. Returns None (and
    writes nothing) when no direction qualifies.
    """
    import textwrap

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    drawable = _drawable_characters()
    chosen = []
    for (lay, source, target) in study.alignments:
        if lay != layer or len(chosen) == n_directions:
            continue
        examples = _aligned_examples(study, layer, source, target, n_examples)
        words = "".join(w for ex in examples for w in [*ex.s_words, *ex.t_words])
        if examples and set(words) <= drawable:
            chosen.append((source, target, examples))
    if not chosen:
        return None
    rows = []
    for source, target, examples in chosen:
        for ex in examples:
            boxes = []
            for lang, concept, cells, n_types in ((source, ex.c_s, ex.cells(str)[0], len(ex.s_words)),
                                                  (target, ex.c_t, ex.cells(str)[1], len(ex.t_words))):
                more = f", +{len(cells) - max_words} more" if len(cells) > max_words else ""
                boxes.append((f"{lang} concept {concept} ({n_types} types)",
                              textwrap.fill(", ".join(cells[:max_words]) + more, width=52)))
            rows.append(boxes)
    # Row height in inches: the title, the longer of the two wrapped word lists (8 pt text, 1.3 line
    # spacing) and the box padding; the boxes hang from the titles by a fixed offset in points.
    heights = [0.62 + 0.145 * max(body.count("\n") + 1 for _, body in boxes) for boxes in rows]
    fig, axes = plt.subplots(len(rows), 1, figsize=(9.0, sum(heights) + 0.5), squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    try:
        for ax, boxes in zip(axes[:, 0], rows):
            ax.set_axis_off()
            for x, (title, body) in zip((0.0, 0.53), boxes):
                ax.annotate(title, xy=(x, 1.0), xycoords="axes fraction", fontsize=9, fontweight="bold", va="top")
                ax.annotate(body, xy=(x, 1.0), xycoords="axes fraction", xytext=(4, -20), textcoords="offset points",
                            fontsize=8, va="top", linespacing=1.3,
                            bbox={"boxstyle": "round,pad=0.4", "facecolor": "#f2f5f9", "edgecolor": "#b8c4d2"})
            ax.annotate("", xy=(0.525, 0.97), xytext=(0.485, 0.97), xycoords="axes fraction",
                        arrowprops={"arrowstyle": "->", "color": "#555555"})
        fig.suptitle(f"Aligned concepts at layer {layer} (word (tokens), ✓ = its translation is in the other concept)",
                     fontsize=10)
        fig.tight_layout()
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=150)
    finally:
        plt.close(fig)
    return Path(path)


@dataclass(frozen=True)
class _Example:
    c_s: int
    c_t: int
    s_words: dict[str, int]
    t_words: dict[str, int]
    hits: dict[str, set[str]]

    def cells(self, escape) -> tuple[list[str], list[str]]:
        """``word (count)`` per word, with a check mark on words with a translation across."""
        used = set().union(*self.hits.values()) if self.hits else set()
        s_cells = [f"{escape(w)} ({n}){' ✓' if self.hits[w] else ''}" for w, n in self.s_words.items()]
        t_cells = [f"{escape(w)} ({n}){' ✓' if w in used else ''}" for w, n in self.t_words.items()]
        return s_cells, t_cells


def _aligned_examples(study: "ConceptsStudy", layer: int, source: str, target: str, n_examples: int) -> list[_Example]:
    """The ``n_examples`` aligned source concepts with the most types (ties: lowest id), with their words."""
    res = study.alignments[layer, source, target]
    aligned = [c for c in range(res.n_source_concepts) if res.best_target[c] >= 0]
    if not aligned:
        return []
    src_counts = _word_counts(study, layer, source)
    tgt_counts = _word_counts(study, layer, target)
    translations = study.dictionaries[source, target]
    aligned.sort(key=lambda c: (-len(src_counts.get(c, {})), c))
    out = []
    for c_s in aligned[:n_examples]:
        c_t = int(res.best_target[c_s])
        s_words, t_words = src_counts.get(c_s, {}), tgt_counts.get(c_t, {})
        hits = {w: set(translations.get(w, ())) & set(t_words) for w in s_words}
        out.append(_Example(c_s, c_t, s_words, t_words, hits))
    return out


def _drawable_characters() -> set[str]:
    """Characters the default matplotlib font has glyphs for (plus the space)."""
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    font = FT2Font(font_manager.findfont(font_manager.FontProperties()))
    return {chr(code) for code in font.get_charmap()} | {" "}


def _word_counts(study: "ConceptsStudy", layer: int, language: str) -> dict[int, dict[str, int]]:
    """Concept -> {word: token count}, most frequent first, for one language's own clustering."""
    counts = study.concepts[layer, language].counts()
    out: dict[int, dict[str, int]] = {}
    for concept, _, word, n in counts.itertuples(index=False):
        out.setdefault(int(concept), {})[word] = int(n)
    return out


def _md(word: str) -> str:
    return word.replace("|", "\\|")

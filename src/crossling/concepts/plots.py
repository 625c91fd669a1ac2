"""Figures and readable renderings of the concept study: CALIGN / COLAP against layer, aligned concepts.

Every figure is drawn with the object-oriented Matplotlib API on its own Agg canvas
(:func:`crossling._utils.figures.new_figure`) and written atomically as PNG. The figures of one result
share their conventions: languages in the result's order (the pivot first), one colour per language pair
or set (a pair and the set of the same two languages share it), percentages on a y axis labelled with the
unit, the layers as x ticks, and values printed with one decimal.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib
import pandas as pd

from crossling._utils.figures import new_figure, save_figure
from crossling._utils.labels import pair_label

if TYPE_CHECKING:
    from crossling.concepts.study import ConceptsResult

__all__ = ["aligned_examples_markdown", "plot_aligned_examples", "plot_calign", "plot_colap",
           "write_concepts_figures"]

_LAYER_LABEL = "layer (0 = embeddings)"


def _colours(labels: Sequence[str]) -> dict[str, Any]:
    """One colour per label, in the order given: tab10, or tab20 beyond ten labels."""
    labels = list(dict.fromkeys(labels))
    cmap = matplotlib.colormaps["tab10" if len(labels) <= 10 else "tab20"]
    return {label: cmap(i % cmap.N) for i, label in enumerate(labels)}


def _percent_axes(ax, table: pd.DataFrame, value: str, label: str, title: str, n_series: int) -> None:
    """The axes every layer plot of the study shares: layers as ticks, a percentage axis, the legend outside."""
    ax.set_xlabel(_LAYER_LABEL)
    ax.set_ylabel(label)
    top = float(table[value].max()) if table[value].notna().any() else 100.0
    ax.set_ylim(-1, min(102, max(10.0, top * 1.15 + 2)))
    ax.set_xticks(sorted(table["layer"].unique()))
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", ncol=2 if n_series > 8 else 1, loc="center left", bbox_to_anchor=(1.01, 0.5),
              frameon=False)


def plot_calign(table: pd.DataFrame, path: str | os.PathLike, *, colours: Mapping[str, Any] | None = None) -> Path:
    """CALIGN against layer: one colour per language pair, solid from its first language, dashed back.

    Parameters
    ----------
    table : pandas.DataFrame
        :attr:`ConceptsResult.calign <crossling.concepts.study.ConceptsResult>` (columns ``layer, pair,
        direction, source, calign_percent``); a pair ``a-b`` reads solid from ``a``.
    path : path ending in .png
    colours : mapping of pair label to colour, optional
        Default: tab10 in the table's order of pairs.

    Returns
    -------
    Path
    """
    pairs = list(dict.fromkeys(table["pair"]))
    colours = dict(colours) if colours is not None else _colours(pairs)
    figure = new_figure(7.2, 4.4)
    ax = figure.add_subplot()
    for pair in pairs:
        for direction, group in table[table["pair"] == pair].groupby("direction", sort=False):
            group = group.sort_values("layer")
            solid = direction == pair  # the pair's label reads from its first language
            ax.plot(group["layer"], group["calign_percent"], color=colours[pair], marker="o" if solid else "s",
                    markersize=4, linestyle="-" if solid else "--", label=direction)
    _percent_axes(ax, table, "calign_percent", "CALIGN (% of concepts aligned)", "Concept alignment (CALIGN)",
                  table["direction"].nunique())
    return save_figure(figure, path)


def plot_colap(table: pd.DataFrame, path: str | os.PathLike, *, colours: Mapping[str, Any] | None = None) -> Path:
    """COLAP against layer, one line per jointly clustered language set.

    Parameters
    ----------
    table : pandas.DataFrame
        :attr:`ConceptsResult.colap <crossling.concepts.study.ConceptsResult>` (columns ``layer, languages,
        colap_percent``).
    path : path ending in .png
    colours : mapping of set label to colour, optional
        Default: tab10 in the table's order of sets.

    Returns
    -------
    Path
    """
    sets = list(dict.fromkeys(table["languages"]))
    colours = dict(colours) if colours is not None else _colours(sets)
    figure = new_figure(7.2, 4.4)
    ax = figure.add_subplot()
    for name in sets:
        group = table[table["languages"] == name].sort_values("layer")
        ax.plot(group["layer"], group["colap_percent"], color=colours[name], marker="o", markersize=4, label=name)
    _percent_axes(ax, table, "colap_percent", "COLAP (% of concepts mixing languages)", "Concept overlap (COLAP)",
                  len(sets))
    return save_figure(figure, path)


def aligned_examples_markdown(result: ConceptsResult, *, layer: int, n_examples: int = 5) -> str:
    """Markdown tables of aligned concepts of one layer, the words of C_s and C_t side by side.

    Per direction, the ``n_examples`` aligned source concepts with the most types (ties: lowest id),
    each beside its best target (:attr:`CalignResult.best_target
    <crossling.concepts.alignment.CalignResult>`). Words are ordered by token count; a source word with one
    of its kept translations in C_t is marked with a check mark, a target word that is such a translation too.

    Parameters
    ----------
    result : ConceptsResult
    layer : int
        One of ``result.layers``.
    n_examples : int, default 5
        Aligned concept pairs per direction.

    Returns
    -------
    str
        The Markdown text.
    """
    lines = [f"# Aligned concepts, layer {layer}", ""]
    directions = [(s, t) for (lay, s, t) in result.alignments if lay == layer]
    if not directions:
        lines.append("No CALIGN direction was computed for this layer.")
    for source, target in directions:
        res = result.alignments[layer, source, target]
        lines += [f"## {pair_label(source, target)}: CALIGN {res.calign_percent:.1f}% "
                  f"({res.n_aligned} of {res.n_eligible})", ""]
        examples = _aligned_examples(result, layer, source, target, n_examples)
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
    result: ConceptsResult,
    path: str | os.PathLike,
    *,
    layer: int,
    n_directions: int = 3,
    n_examples: int = 2,
    max_words: int = 14,
) -> Path | None:
    """Draw example aligned concept pairs of one layer (the figure beside ``aligned_examples.md``).

    Takes the first ``n_directions`` directions (in the result's order) that have an aligned concept
    whose words the plotting font can draw (scripts it lacks, e.g. Japanese without a CJK font, are
    left to the Markdown file), and for each its ``n_examples`` largest aligned pairs as in
    :func:`aligned_examples_markdown`.

    Parameters
    ----------
    result : ConceptsResult
    path : path ending in .png
    layer : int
        One of ``result.layers``.
    n_directions : int, default 3
    n_examples : int, default 2
        Concept pairs per direction.
    max_words : int, default 14
        Words shown per concept (the rest are counted).

    Returns
    -------
    Path or None
        None (and nothing written) when no direction qualifies.
    """
    drawable = _drawable_characters()
    chosen = []
    for (lay, source, target) in result.alignments:
        if lay != layer or len(chosen) == n_directions:
            continue
        examples = _aligned_examples(result, layer, source, target, n_examples)
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
    figure = new_figure(9.0, sum(heights) + 0.5)
    figure.set_layout_engine("tight")  # the boxes hang outside their axes, which constrained layout would squeeze
    axes = figure.subplots(len(rows), 1, squeeze=False, gridspec_kw={"height_ratios": heights})
    for ax, boxes in zip(axes[:, 0], rows):
        ax.set_axis_off()
        for x, (title, body) in zip((0.0, 0.53), boxes):
            ax.annotate(title, xy=(x, 1.0), xycoords="axes fraction", fontsize=9, fontweight="bold", va="top")
            ax.annotate(body, xy=(x, 1.0), xycoords="axes fraction", xytext=(4, -20), textcoords="offset points",
                        fontsize=8, va="top", linespacing=1.3,
                        bbox={"boxstyle": "round,pad=0.4", "facecolor": "#f2f5f9", "edgecolor": "#b8c4d2"})
        ax.annotate("", xy=(0.525, 0.97), xytext=(0.485, 0.97), xycoords="axes fraction",
                    arrowprops={"arrowstyle": "->", "color": "#555555"})
    figure.suptitle(f"Aligned concepts at layer {layer} (word (tokens), ✓ = its translation is in the other concept)",
                    fontsize=10)
    return save_figure(figure, path)


def write_concepts_figures(result: ConceptsResult, folder: str | os.PathLike, *, example_layer: int) -> list[Path]:
    """Draw every figure of a concept result into ``folder``.

    ``calign.png`` (when a direction was computed), ``colap.png`` (when a set was) and
    ``aligned_examples.png`` (when some concept of ``example_layer`` is aligned and drawable), with one
    colour per language pair or set across the figures.

    Parameters
    ----------
    result : ConceptsResult
    folder : path-like
    example_layer : int
        The layer of the aligned examples.

    Returns
    -------
    list of Path
    """
    folder = Path(folder)
    colours = _colours([*result.calign["pair"], *result.colap["languages"]])
    files = []
    if len(result.calign):
        files.append(plot_calign(result.calign, folder / "calign.png", colours=colours))
    if len(result.colap):
        files.append(plot_colap(result.colap, folder / "colap.png", colours=colours))
    examples = plot_aligned_examples(result, folder / "aligned_examples.png", layer=example_layer)
    if examples is not None:
        files.append(examples)
    return files


@dataclass(frozen=True)
class _Example:
    c_s: int
    c_t: int
    s_words: dict[str, int]
    t_words: dict[str, int]
    hits: dict[str, set[str]]

    def cells(self, escape: Callable[[str], str]) -> tuple[list[str], list[str]]:
        """``word (count)`` per word, with a check mark on words with a translation across."""
        used = set().union(*self.hits.values()) if self.hits else set()
        s_cells = [f"{escape(w)} ({n}){' ✓' if self.hits[w] else ''}" for w, n in self.s_words.items()]
        t_cells = [f"{escape(w)} ({n}){' ✓' if w in used else ''}" for w, n in self.t_words.items()]
        return s_cells, t_cells


def _aligned_examples(result: ConceptsResult, layer: int, source: str, target: str, n_examples: int) -> list[_Example]:
    """The ``n_examples`` aligned source concepts with the most types (ties: lowest id), with their words."""
    res = result.alignments[layer, source, target]
    aligned = [c for c in range(res.n_source_concepts) if res.best_target[c] >= 0]
    if not aligned:
        return []
    src_counts = _word_counts(result, layer, source)
    tgt_counts = _word_counts(result, layer, target)
    translations = result.dictionaries[source, target]
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


def _word_counts(result: ConceptsResult, layer: int, language: str) -> dict[int, dict[str, int]]:
    """Concept -> {word: token count}, most frequent first, for one language's own clustering."""
    counts = result.concepts[layer, language].counts()
    out: dict[int, dict[str, int]] = {}
    for concept, _, word, n in counts.itertuples(index=False):
        out.setdefault(int(concept), {})[word] = int(n)
    return out


def _md(word: str) -> str:
    return word.replace("|", "\\|")

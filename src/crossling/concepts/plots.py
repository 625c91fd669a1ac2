"""Figures and readable renderings of the concept study: CALIGN / COLAP against layer with their controls,
sentence-boundness, sensitivity sweeps, aligned and overlapping concepts.

Every figure is drawn with the object-oriented Matplotlib API on its own Agg canvas
(:func:`crossling._utils.figures.new_figure`) and written atomically as PNG. The figures of one result
share their conventions: languages in the result's order (the pivot first), one colour per language pair
or set (a pair and the set of the same two languages share it), percentages on a y axis labelled with the
unit, the layers as x ticks, the range over seeds as a shaded band around the mean, the sentence baseline
as a thin dash-dotted line of the same colour, and a second (base) model dotted.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib
import numpy as np
import pandas as pd

from crossling._utils.figures import new_figure, save_figure
from crossling._utils.labels import pair_label
from crossling.concepts.controls import boundness, dominant_sentences

if TYPE_CHECKING:
    from crossling.concepts.study import ConceptsResult

__all__ = ["aligned_examples_markdown", "overlap_examples_markdown", "plot_aligned_examples", "plot_boundness",
           "plot_calign", "plot_colap", "plot_overlap_examples", "plot_sweeps", "write_concepts_figures"]

_LAYER_LABEL = "layer (0 = embeddings)"
_BAND_ALPHA = 0.15


def _colours(labels: Sequence[str]) -> dict[str, Any]:
    """One colour per label, in the order given: tab10, or tab20 beyond ten labels."""
    labels = list(dict.fromkeys(labels))
    cmap = matplotlib.colormaps["tab10" if len(labels) <= 10 else "tab20"]
    return {label: cmap(i % cmap.N) for i, label in enumerate(labels)}


def _percent_axes(ax, values: pd.Series, label: str, title: str, layers, *, legend: bool, n_series: int) -> None:
    """The axes every layer plot of the study shares: layers as ticks, a percentage axis, the legend outside."""
    ax.set_xlabel(_LAYER_LABEL)
    ax.set_ylabel(label)
    top = float(values.max()) if values.notna().any() else 100.0
    ax.set_ylim(-1, min(102, max(10.0, top * 1.15 + 2)))
    ax.set_xticks(sorted(set(layers)))
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if legend:
        ax.legend(fontsize="small", ncol=2 if n_series > 8 else 1, loc="center left", bbox_to_anchor=(1.01, 0.5),
                  frameon=False)


def _models(table: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(table["model"])) if "model" in table.columns else [None]


def _line(ax, group: pd.DataFrame, value: str, *, colour, linestyle: str, marker: str, label: str) -> None:
    """One mean line against layer, with its seed range as a band when the table has one."""
    group = group.sort_values("layer")
    ax.plot(group["layer"], group[value], color=colour, marker=marker, markersize=4, linestyle=linestyle,
            label=label)
    low, high = f"{value}_min", f"{value}_max"
    if low in group.columns and (group[high] > group[low]).any():
        ax.fill_between(group["layer"], group[low], group[high], color=colour, alpha=_BAND_ALPHA, linewidth=0)


def _baseline(ax, group: pd.DataFrame, column: str, *, colour, label: str) -> None:
    """A model-free baseline (the same at every layer) as a thin dash-dotted line across the layers."""
    if column not in group.columns or not group[column].notna().any():
        return
    ax.plot(sorted(group["layer"]), [float(group[column].mean())] * group["layer"].nunique(), color=colour,
            linestyle="-.", linewidth=0.9, alpha=0.7, label=label)


def plot_calign(table: pd.DataFrame, path: str | os.PathLike, *, colours: Mapping[str, Any] | None = None,
                value: str = "calign_percent") -> Path:
    """CALIGN against layer: one colour per language pair, solid from its first language, dashed back.

    The range over seeds is shaded; the sentence baseline of each direction is a thin dash-dotted line; a
    second model's lines are dotted. When the table has the held-out variant, a second panel shows it in
    the same way (with the held-out sentence baseline).

    Parameters
    ----------
    table : pandas.DataFrame
        :attr:`ConceptsResult.calign <crossling.concepts.study.ConceptsResult>` (at least ``layer, pair,
        direction, source`` and ``value``; ``model``, ``<value>_min``/``_max``, the baselines and the
        held-out columns are drawn when present); a pair ``a-b`` reads solid from ``a``.
    path : path ending in .png
    colours : mapping of pair label to colour, optional
        Default: tab10 in the table's order of pairs.
    value : str, default "calign_percent"
        The column drawn (``calign_k_percent``: over K).

    Returns
    -------
    Path
    """
    pairs = list(dict.fromkeys(table["pair"]))
    colours = dict(colours) if colours is not None else _colours(pairs)
    panels = [(value, "sentence_baseline_percent", "Concept alignment (CALIGN)")]
    if "heldout_calign_percent" in table.columns and table["heldout_calign_percent"].notna().any():
        panels.append(("heldout_calign_percent", "heldout_sentence_baseline_percent",
                       "Held out: dictionary from the other half of the sentences"))
    figure = new_figure(7.2 + 5.2 * (len(panels) - 1), 4.4)
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    models = _models(table)
    for ax, (column, base_column, title) in zip(axes, panels):
        for m, model in enumerate(models):
            rows = table if model is None else table[table["model"] == model]
            for pair in pairs:
                for direction, group in rows[rows["pair"] == pair].groupby("direction", sort=False):
                    solid = direction == pair  # the pair's label reads from its first language
                    style = ("-" if solid else "--") if m == 0 else ":"
                    label = direction if m == 0 else f"{direction} ({model})"
                    _line(ax, group, column, colour=colours[pair], linestyle=style, marker="o" if solid else "s",
                          label=label)
                    if m == 0:
                        _baseline(ax, group, base_column, colour=colours[pair], label=f"{direction} sentence baseline")
        shown = table[[c for c in (column, base_column, f"{column}_max") if c in table.columns]].max(axis=1)
        _percent_axes(ax, shown, "CALIGN (% of concepts aligned)", title, table["layer"],
                      legend=ax is axes[-1], n_series=len(ax.get_lines()))
    return save_figure(figure, path)


def plot_colap(table: pd.DataFrame, path: str | os.PathLike, *, colours: Mapping[str, Any] | None = None) -> Path:
    """COLAP against layer, one line per jointly clustered language set, with its seed range and baselines.

    The sentence baseline is drawn dash-dotted in the set's colour, the random baseline dash-dotted in grey
    (random concepts mix languages, so it is near 100%).

    Parameters
    ----------
    table : pandas.DataFrame
        :attr:`ConceptsResult.colap <crossling.concepts.study.ConceptsResult>` (at least ``layer, languages,
        colap_percent``; ``model``, ``colap_percent_min``/``_max`` and the two baselines are drawn when
        present).
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
    for m, model in enumerate(_models(table)):
        rows = table if model is None else table[table["model"] == model]
        for name in sets:
            group = rows[rows["languages"] == name]
            _line(ax, group, "colap_percent", colour=colours[name], linestyle="-" if m == 0 else ":", marker="o",
                  label=name if m == 0 else f"{name} ({model})")
            if m == 0:
                _baseline(ax, group, "sentence_baseline_percent", colour=colours[name],
                          label=f"{name} sentence baseline")
                _baseline(ax, group, "random_baseline_percent", colour="0.45", label=f"{name} random baseline")
    shown = table[[c for c in ("colap_percent", "colap_percent_max", "sentence_baseline_percent")
                   if c in table.columns]].max(axis=1)
    _percent_axes(ax, shown, "COLAP (% of concepts mixing languages)", "Concept overlap (COLAP)", table["layer"],
                  legend=True, n_series=len(ax.get_lines()))
    return save_figure(figure, path)


def plot_boundness(clusterings: pd.DataFrame, path: str | os.PathLike, *,
                   colours: Mapping[str, Any] | None = None) -> Path | None:
    """How sentence-bound the concepts are, against layer: one line per clustering (language or set).

    The y value is the mean over concepts (and seeds) of the share of a concept's tokens that come from its
    most common sentence; a second model is dotted.

    Parameters
    ----------
    clusterings : pandas.DataFrame
        :attr:`ConceptsResult.clusterings <crossling.concepts.study.ConceptsResult>`; only the rows of the
        full variant (``variant == "all"``) are drawn.
    path : path ending in .png
    colours : mapping of clustering name to colour, optional

    Returns
    -------
    Path or None
        None (nothing written) when no boundness was computed (no sentences).
    """
    rows = clusterings[(clusterings["variant"] == "all") & clusterings["boundness"].notna()]
    if rows.empty:
        return None
    names = list(dict.fromkeys(rows["clustering"]))
    colours = dict(colours) if colours is not None else _colours(names)
    figure = new_figure(7.2, 4.4)
    ax = figure.add_subplot()
    for m, model in enumerate(_models(rows)):
        mine = rows[rows["model"] == model]
        for name in names:
            group = mine[mine["clustering"] == name].groupby("layer", as_index=False)["boundness"].mean()
            ax.plot(group["layer"], group["boundness"], color=colours.get(name), marker="o", markersize=4,
                    linestyle="-" if m == 0 else ":", label=name if m == 0 else f"{name} ({model})")
    ax.set_xlabel(_LAYER_LABEL)
    ax.set_ylabel("share of a concept's tokens from its top sentence")
    ax.set_ylim(0, 1.02)
    ax.set_xticks(sorted(rows["layer"].unique()))
    ax.set_title("Sentence-boundness of the concepts")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    return save_figure(figure, path)


def plot_sweeps(sweeps: pd.DataFrame, path: str | os.PathLike) -> Path | None:
    """CALIGN and COLAP against each swept setting (theta_A, theta_O, K): one panel per setting and measure.

    Each panel shows the first direction (or set) of the table, mean over seeds, one line per layer
    (darker = deeper); the other directions are in the table.

    Parameters
    ----------
    sweeps : pandas.DataFrame
        :attr:`ConceptsResult.sweeps <crossling.concepts.study.ConceptsResult>`; the first model's rows.
    path : path ending in .png

    Returns
    -------
    Path or None
        None (nothing written) for an empty table.
    """
    if sweeps.empty:
        return None
    rows = sweeps[sweeps["model"] == sweeps["model"].iloc[0]]
    order = [("theta_a", "calign"), ("theta_o", "colap"), ("k", "calign"), ("k", "colap")]
    present = set(zip(rows["parameter"], rows["measure"]))
    panels = [panel for panel in order if panel in present]
    names = {"theta_a": "theta_A", "theta_o": "theta_O", "k": "K"}
    layers = sorted(rows["layer"].unique())
    cmap = matplotlib.colormaps["viridis"]
    figure = new_figure(4.2 * len(panels) + 1.4, 3.8)
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    for ax, (parameter, measure) in zip(axes, panels):
        part = rows[(rows["parameter"] == parameter) & (rows["measure"] == measure)]
        label = part["label"].iloc[0]
        part = part[part["label"] == label].groupby(["layer", "value"], as_index=False)["percent"].mean()
        for i, layer in enumerate(layers):
            group = part[part["layer"] == layer].sort_values("value")
            ax.plot(group["value"], group["percent"], marker="o", markersize=3,
                    color=cmap(1 - (i + 1) / (len(layers) + 1)), label=f"layer {layer}")
        ax.set_xlabel(names.get(parameter, parameter))
        ax.set_ylabel(f"{measure.upper()} (%)")
        ax.set_title(f"{measure.upper()} {label} against {names.get(parameter, parameter)}", fontsize=10)
        ax.grid(alpha=0.3)
    axes[-1].legend(fontsize="small", loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    return save_figure(figure, path)


def aligned_examples_markdown(result: ConceptsResult, *, layer: int, n_examples: int = 5) -> str:
    """Markdown tables of aligned concepts of one layer, the words of C_s and C_t side by side.

    Per direction, the ``n_examples`` aligned source concepts with the most types (ties: lowest id),
    each beside its best target (:attr:`CalignResult.best_target
    <crossling.concepts.alignment.CalignResult>`), with the share of each concept's tokens from its most
    common sentence when the sentences are known. Words are ordered by token count; a source word with one
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
                f"| {source} concept {ex.c_s} ({len(ex.s_words)} types{_bound(ex.s_bound)}) | "
                f"{target} concept {ex.c_t} ({len(ex.t_words)} types{_bound(ex.t_bound)}) |",
                "|---|---|",
            ]
            for i in range(max(len(s_cells), len(t_cells))):
                left = s_cells[i] if i < len(s_cells) else ""
                right = t_cells[i] if i < len(t_cells) else ""
                lines.append(f"| {left} | {right} |")
            lines.append("")
    return "\n".join(lines) + "\n"


def overlap_examples_markdown(result: ConceptsResult, *, layer: int, n_examples: int = 5) -> str:
    """Markdown tables of overlapping concepts (COLAP) of one layer: each language's words side by side.

    Per jointly clustered set, the ``n_examples`` overlapping concepts with the most tokens (ties: lowest
    id), with each language's share of the tokens, the share of the concept's tokens from its most common
    sentence and whether every language's most common sentence is the same one.

    Parameters
    ----------
    result : ConceptsResult
    layer : int
        One of ``result.layers``.
    n_examples : int, default 5
        Overlapping concepts per set.

    Returns
    -------
    str
        The Markdown text.
    """
    lines = [f"# Overlapping concepts, layer {layer}", ""]
    names = [name for (lay, name) in result.overlaps if lay == layer]
    if not names:
        lines.append("No language set was clustered jointly.")
    for name in names:
        res = result.overlaps[layer, name]
        lines += [f"## {name}: COLAP {res.colap_percent:.1f}% ({res.n_overlapping} of {res.n_concepts})", ""]
        examples = _overlap_examples(result, layer, name, n_examples)
        if not examples:
            lines += ["No overlapping concept.", ""]
            continue
        for ex in examples:
            shares = ", ".join(f"{lang} {share:.0%}" for lang, share in ex.shares.items())
            same = "" if ex.same_sentence is None else (
                "; every language's top sentence is the same" if ex.same_sentence else "")
            lines += [f"Concept {ex.concept} ({shares}{_bound(ex.bound)}{same})", "",
                      "| " + " | ".join(ex.words) + " |", "|" + "---|" * len(ex.words)]
            columns = [[f"{_md(w)} ({n})" for w, n in words.items()] for words in ex.words.values()]
            for i in range(max(len(c) for c in columns)):
                lines.append("| " + " | ".join(c[i] if i < len(c) else "" for c in columns) + " |")
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
    rows = []
    chosen = 0
    for (lay, source, target) in result.alignments:
        if lay != layer or chosen == n_directions:
            continue
        examples = _aligned_examples(result, layer, source, target, n_examples)
        words = "".join(w for ex in examples for w in [*ex.s_words, *ex.t_words])
        if not examples or not set(words) <= drawable:
            continue
        chosen += 1
        for ex in examples:
            s_cells, t_cells = ex.cells(str)
            rows.append([(f"{source} concept {ex.c_s} ({len(ex.s_words)} types{_bound(ex.s_bound)})", s_cells),
                         (f"{target} concept {ex.c_t} ({len(ex.t_words)} types{_bound(ex.t_bound)})", t_cells)])
    if not rows:
        return None
    title = f"Aligned concepts at layer {layer} (word (tokens), ✓ = its translation is in the other concept)"
    return _word_boxes(rows, path, title=title, max_words=max_words, arrows=True)


def plot_overlap_examples(
    result: ConceptsResult,
    path: str | os.PathLike,
    *,
    layer: int,
    n_sets: int = 2,
    n_examples: int = 2,
    max_words: int = 14,
) -> Path | None:
    """Draw example overlapping concepts of one layer: one row per concept, one box per language.

    Takes the first ``n_sets`` jointly clustered sets with an overlapping concept whose words the plotting
    font can draw, and for each its ``n_examples`` largest overlapping concepts as in
    :func:`overlap_examples_markdown`.

    Parameters
    ----------
    result : ConceptsResult
    path : path ending in .png
    layer : int
        One of ``result.layers``.
    n_sets : int, default 2
    n_examples : int, default 2
        Concepts per set.
    max_words : int, default 14
        Words shown per language (the rest are counted).

    Returns
    -------
    Path or None
        None (and nothing written) when no set qualifies.
    """
    drawable = _drawable_characters()
    rows = []
    chosen = 0
    for (lay, name) in result.overlaps:
        if lay != layer or chosen == n_sets:
            continue
        examples = _overlap_examples(result, layer, name, n_examples)
        words = "".join(w for ex in examples for ws in ex.words.values() for w in ws)
        if not examples or not set(words) <= drawable:
            continue
        chosen += 1
        for ex in examples:
            heads = [f"{name} concept {ex.concept}: {lang} {ex.shares[lang]:.0%}" for lang in ex.words]
            heads[0] += _bound(ex.bound)
            rows.append([(head, [f"{w} ({n})" for w, n in ws.items()]) for head, ws in zip(heads, ex.words.values())])
    if not rows:
        return None
    return _word_boxes(rows, path, title=f"Overlapping concepts at layer {layer} (word (tokens) per language)",
                       max_words=max_words, arrows=False)


def write_concepts_figures(result: ConceptsResult, folder: str | os.PathLike, *, example_layer: int) -> list[Path]:
    """Draw every figure of a concept result into ``folder``.

    ``calign.png`` (when a direction was computed), ``colap.png`` (when a set was), ``boundness.png``
    (when the sentences were known), ``sweeps.png`` (when something was swept), ``aligned_examples.png``
    and ``overlap_examples.png`` (when some concept of ``example_layer`` is aligned, or overlapping, and
    drawable), with one colour per language pair or set across the figures.

    Parameters
    ----------
    result : ConceptsResult
    folder : path-like
    example_layer : int
        The layer of the examples.

    Returns
    -------
    list of Path
    """
    folder = Path(folder)
    colours = _colours([*result.calign["pair"], *result.colap["languages"], *result.languages])
    value = "calign_percent" if result.options.calign_denominator == "eligible" else "calign_k_percent"
    drawn: list[Path | None] = []
    if len(result.calign):
        drawn.append(plot_calign(result.calign, folder / "calign.png", colours=colours, value=value))
    if len(result.colap):
        drawn.append(plot_colap(result.colap, folder / "colap.png", colours=colours))
    drawn.append(plot_boundness(result.clusterings, folder / "boundness.png", colours=colours))
    drawn.append(plot_sweeps(result.sweeps, folder / "sweeps.png"))
    drawn.append(plot_aligned_examples(result, folder / "aligned_examples.png", layer=example_layer))
    drawn.append(plot_overlap_examples(result, folder / "overlap_examples.png", layer=example_layer))
    return [path for path in drawn if path is not None]


def _word_boxes(rows: list[list[tuple[str, list[str]]]], path, *, title: str, max_words: int, arrows: bool) -> Path:
    """Rows of titled word boxes side by side (two per row for aligned pairs, one per language for overlaps)."""
    wrapped = []
    for boxes in rows:
        width = 104 // len(boxes)
        wrapped.append([(head, textwrap.fill(", ".join(cells[:max_words]) + (
            f", +{len(cells) - max_words} more" if len(cells) > max_words else ""), width=width))
            for head, cells in boxes])
    # Row height in inches: the title, the longest wrapped word list (8 pt text, 1.3 line spacing) and the
    # box padding; the boxes hang from the titles by a fixed offset in points.
    heights = [0.62 + 0.145 * max(body.count("\n") + 1 for _, body in boxes) for boxes in wrapped]
    figure = new_figure(9.0, sum(heights) + 0.5)
    figure.set_layout_engine("tight")  # the boxes hang outside their axes, which constrained layout would squeeze
    axes = figure.subplots(len(wrapped), 1, squeeze=False, gridspec_kw={"height_ratios": heights})
    for ax, boxes in zip(axes[:, 0], wrapped):
        ax.set_axis_off()
        step = 1.06 / len(boxes)
        for i, (head, body) in enumerate(boxes):
            ax.annotate(head, xy=(i * step, 1.0), xycoords="axes fraction", fontsize=9, fontweight="bold", va="top")
            ax.annotate(body, xy=(i * step, 1.0), xycoords="axes fraction", xytext=(4, -20), textcoords="offset points",
                        fontsize=8, va="top", linespacing=1.3,
                        bbox={"boxstyle": "round,pad=0.4", "facecolor": "#f2f5f9", "edgecolor": "#b8c4d2"})
        if arrows and len(boxes) == 2:
            ax.annotate("", xy=(0.525, 0.97), xytext=(0.485, 0.97), xycoords="axes fraction",
                        arrowprops={"arrowstyle": "->", "color": "#555555"})
    figure.suptitle(title, fontsize=10)
    return save_figure(figure, path)


@dataclass(frozen=True)
class _Example:
    c_s: int
    c_t: int
    s_words: dict[str, int]
    t_words: dict[str, int]
    hits: dict[str, set[str]]
    s_bound: float
    t_bound: float

    def cells(self, escape: Callable[[str], str]) -> tuple[list[str], list[str]]:
        """``word (count)`` per word, with a check mark on words with a translation across."""
        used = set().union(*self.hits.values()) if self.hits else set()
        s_cells = [f"{escape(w)} ({n}){' ✓' if self.hits[w] else ''}" for w, n in self.s_words.items()]
        t_cells = [f"{escape(w)} ({n}){' ✓' if w in used else ''}" for w, n in self.t_words.items()]
        return s_cells, t_cells


@dataclass(frozen=True)
class _Overlap:
    concept: int
    words: dict[str, dict[str, int]]  # language -> word -> tokens, most frequent first
    shares: dict[str, float]
    bound: float
    same_sentence: bool | None


def _aligned_examples(result: ConceptsResult, layer: int, source: str, target: str, n_examples: int) -> list[_Example]:
    """The ``n_examples`` aligned source concepts with the most types (ties: lowest id), with their words."""
    res = result.alignments[layer, source, target]
    aligned = [c for c in range(res.n_source_concepts) if res.best_target[c] >= 0]
    if not aligned:
        return []
    src_counts = _word_counts(result, layer, source)
    tgt_counts = _word_counts(result, layer, target)
    s_bound, t_bound = _concept_boundness(result, layer, source), _concept_boundness(result, layer, target)
    translations = result.dictionaries[source, target]
    aligned.sort(key=lambda c: (-len(src_counts.get(c, {})), c))
    out = []
    for c_s in aligned[:n_examples]:
        c_t = int(res.best_target[c_s])
        s_words, t_words = src_counts.get(c_s, {}), tgt_counts.get(c_t, {})
        hits = {w: set(translations.get(w, ())) & set(t_words) for w in s_words}
        out.append(_Example(c_s, c_t, s_words, t_words, hits, s_bound[c_s], t_bound[c_t]))
    return out


def _overlap_examples(result: ConceptsResult, layer: int, name: str, n_examples: int) -> list[_Overlap]:
    """The ``n_examples`` overlapping concepts with the most tokens (ties: lowest id), with their words."""
    res = result.overlaps[layer, name]
    joint = result.concepts[layer, name]
    sizes = np.bincount(joint.labels, minlength=joint.k)
    chosen = sorted(np.flatnonzero(res.overlapping), key=lambda c: (-sizes[c], c))[:n_examples]
    if not chosen:
        return []
    counts = joint.counts()
    share = dominant = None
    if joint.sentences is not None:
        share, _ = boundness(joint.labels, joint.sentences, joint.k)
        dominant = dominant_sentences(joint.labels, joint.sentences, joint.languages, res.languages, joint.k)
    out = []
    for c in chosen:
        rows = counts[counts["concept"] == c]
        words = {lang: dict(zip(part["word"], part["count"]))
                 for lang in res.languages for part in [rows[rows["language"] == lang]]}
        same = None if dominant is None else len({int(dominant[lang][c]) for lang in res.languages}) == 1
        out.append(_Overlap(int(c), words, dict(zip(res.languages, res.proportions[c])),
                            np.nan if share is None else float(share[c]), same))
    return out


def _concept_boundness(result: ConceptsResult, layer: int, language: str) -> np.ndarray:
    """Per concept of a language's own clustering, the share of its tokens from its top sentence (NaN unknown)."""
    concepts = result.concepts[layer, language]
    if concepts.sentences is None:
        return np.full(concepts.k, np.nan)
    return boundness(concepts.labels, concepts.sentences, concepts.k)[0]


def _bound(share: float) -> str:
    return "" if share is None or np.isnan(share) else f"; {share:.0%} from one sentence"


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

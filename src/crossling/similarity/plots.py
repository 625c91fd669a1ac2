"""Figures of the cross-lingual similarity study: indices against layer, the ANC matrix, per-neuron ANC, models.

Each function takes the study's tidy tables and an output path, draws one figure with the object-oriented
Matplotlib API on the Agg canvas (no pyplot state), writes it atomically as PNG and returns the path.
The layer plots follow Del and Fishel (2022, Figures 3-6): one line per language pair, each over its
confidence band (the table's ``low``/``high``), the mean over pairs drawn thick over the spread across pairs
(mean +- one standard deviation), and the shuffled-pairing null (mean over pairs) as a dashed line. The
comparison plot puts several models on one normalised depth axis (0 = embeddings, 1 = last layer).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

import matplotlib
import numpy as np
import pandas as pd

from crossling._utils.figures import new_figure, save_figure

if TYPE_CHECKING:
    from crossling.similarity.study import SimilarityResult

__all__ = [
    "plot_anc_matrix",
    "plot_comparison",
    "plot_comparison_overview",
    "plot_index_by_layer",
    "plot_overview",
    "plot_per_neuron",
    "write_similarity_figures",
]

_BAND = "#9e9e9e"
_NULL = "#b03a2e"


def _curves(table: pd.DataFrame, index: str, column: str = "value") -> pd.DataFrame:
    """Layer x pair values of one index (pairs in their order of appearance); ``column`` picks what."""
    rows = table[table["index"] == index]
    if rows.empty:
        raise ValueError(f"no values of index {index!r} in the table (indices: {sorted(table['index'].unique())})")
    wide = rows.pivot(index="layer", columns="pair", values=column).sort_index()
    return wide[list(dict.fromkeys(rows["pair"]))].astype(float)


def _optional(table: pd.DataFrame, index: str, column: str) -> pd.DataFrame | None:
    """:func:`_curves` of ``column`` when the table has it with a finite value, else None."""
    if column not in table.columns:
        return None
    wide = _curves(table, index, column)
    return wide if np.isfinite(wide.to_numpy()).any() else None


def _pair_styles(n: int) -> list[tuple]:
    """(colour, line style) per pair: the ten distinct tab10 colours, then again with another dash pattern."""
    cmap = matplotlib.colormaps["tab10"]
    dashes = ["-", "--", ":", "-."]
    return [(cmap(i % 10), dashes[(i // 10) % len(dashes)]) for i in range(n)]


def _chance(table: pd.DataFrame, index: str) -> float | None:
    """The chance level an index is read against: 1/n for matching accuracy (n sentences), else None."""
    n = _single_n(table, index)
    return 1.0 / n if index == "matching" and n else None


def _draw_index(ax, table: pd.DataFrame, index: str, *, pair_lines: str) -> np.ndarray:
    """Pair lines over their confidence bands, the spread (+-1 sd) across pairs, the mean, and the null line.

    Bands are clipped to the index's range: [0, 1], or [-1, 1] when a value is negative (signed ANC,
    debiased CKA), so they never show values the index cannot take. Matching gets a chance line (1/n)
    when the table has no null. Returns every value drawn (for the axis limits).
    """
    wide = _curves(table, index)
    low, high, null = (_optional(table, index, c) for c in ("low", "high", "null"))
    layers = wide.index.to_numpy()
    mean = wide.mean(axis=1, skipna=True).to_numpy()
    sd = wide.std(axis=1, ddof=0, skipna=True).to_numpy()
    drawn = [wide.to_numpy()]
    floor = -1.0 if np.nanmin(wide.to_numpy(dtype=float), initial=0.0) < 0 else 0.0
    if wide.shape[1] > 1:
        ax.fill_between(layers, np.clip(mean - sd, floor, 1.0), np.clip(mean + sd, floor, 1.0), color=_BAND,
                        alpha=0.3, lw=0, label="mean ± 1 sd over pairs", zorder=1)
    if null is not None:
        null_mean = null.mean(axis=1).to_numpy()
        ax.plot(layers, null_mean, color=_NULL, lw=1.2, ls="--", zorder=2,
                label="null: shuffled pairs" + (" (mean over pairs)" if wide.shape[1] > 1 else ""))
        drawn.append(null_mean)
    elif _chance(table, index) is not None:
        ax.axhline(_chance(table, index), color=_NULL, lw=1, ls="--", zorder=1,
                   label=f"chance (1/n = {_chance(table, index):.3g})")
    labelled = pair_lines == "labelled"
    for (colour, dash), pair in zip(_pair_styles(wide.shape[1]), wide.columns):
        shade = colour if labelled else "#7a8a99"
        if low is not None and high is not None:
            ax.fill_between(layers, np.clip(low[pair], floor, 1.0), np.clip(high[pair], floor, 1.0), color=shade,
                            alpha=0.18 if labelled else 0.08, lw=0, zorder=2)
            drawn += [low[pair].to_numpy(), high[pair].to_numpy()]
        if labelled:
            ax.plot(layers, wide[pair], lw=1.2, ls=dash, marker="o", ms=2.5, color=colour, label=pair, zorder=3)
        else:
            ax.plot(layers, wide[pair], lw=0.7, color=shade, alpha=0.6, zorder=3)
    if wide.shape[1] > 1:
        ax.plot(layers, mean, lw=2.6, color="black", label="mean over pairs", zorder=4)
    ax.set_xticks(layers)
    ax.grid(alpha=0.3)
    return np.concatenate([np.ravel(np.asarray(d, dtype=float)) for d in drawn])


def _limits(ax, values: np.ndarray) -> None:
    """A similarity axis from 0 (or below, for a debiased index that went negative) to just above the data."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return
    low = min(0.0, float(finite.min()) - 0.02)
    high = min(1.02, max(float(finite.max()) + 0.05, 0.1))
    ax.set_ylim(low, high)


def plot_index_by_layer(table: pd.DataFrame, index: str, path: str | os.PathLike, *, label: str | None = None) -> Path:
    """One index against layer: a labelled line per language pair, the mean over pairs and its +-1 sd band.

    Each pair's line lies over its confidence band (columns ``low``, ``high``) and the shuffled-pairing null
    (column ``null``, mean over pairs) is a dashed line, when the table has them; matching accuracy
    without a null gets a dashed line at chance, 1/n, when the table has one ``n`` for it.

    Parameters
    ----------
    table : DataFrame
        The study's tidy table (columns ``layer, pair, index, value, n``, n in sentences, and optionally
        ``low, high, null``; one model).
    index : str
        Which index to draw (a value of the ``index`` column).
    path : path-like
        The PNG file to write (must end in ``.png``); written atomically, folders created.
    label : str, optional
        Name of the index on the axis (default: ``index``).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ValueError
        If the table has no row of ``index``, or ``path`` does not end in ``.png``.
    """
    wide = _curves(table, index)
    label = label or index
    figure = new_figure(8.0 if wide.shape[1] > 1 else 6.4, 4.6)
    ax = figure.add_subplot()
    _limits(ax, _draw_index(ax, table, index, pair_lines="labelled"))
    ax.set_xlabel("layer (0 = embeddings)")
    ax.set_ylabel(label)
    n = _single_n(table, index)
    ax.set_title(f"{label} per layer, {wide.shape[1]} language pair{'s' * (wide.shape[1] > 1)}"
                 + (f" (n = {n} sentences)" if n else ""))
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize="small", frameon=False,
              ncol=2 if wide.shape[1] > 16 else 1)
    return save_figure(figure, path)


def _single_n(table: pd.DataFrame, index: str) -> int | None:
    values = table.loc[table["index"] == index, "n"].unique()
    return int(values[0]) if len(values) == 1 else None


def plot_overview(table: pd.DataFrame, path: str | os.PathLike, *, labels: Mapping[str, str] | None = None,
                  indices: Sequence[str] | None = None) -> Path:
    """Small multiples: every index against layer, pairs as faint lines over their bands, the mean and the null.

    Parameters
    ----------
    table : DataFrame
        The study's tidy table (columns ``layer, pair, index, value, n``, optionally ``low, high, null``; one
        model).
    path : path-like
        The PNG file to write (must end in ``.png``); written atomically, folders created.
    labels : mapping of str to str, optional
        Display name of each index (default: the index's name).
    indices : sequence of str, optional
        Panels, in order (default: every index of the table, in table order); three panels per row.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ValueError
        If there is no index to plot, an index of ``indices`` has no row in the table, or ``path`` does not
        end in ``.png``.
    """
    indices = list(dict.fromkeys(table["index"])) if indices is None else list(indices)
    if not indices:
        raise ValueError("no index to plot")
    labels = dict(labels or {})
    ncols = min(3, len(indices))
    nrows = -(-len(indices) // ncols)
    figure = new_figure(4.0 * ncols, 3.1 * nrows + 0.5)
    axes = figure.subplots(nrows, ncols, squeeze=False, sharex=True)
    for ax, index in zip(axes.flat, indices):
        _limits(ax, _draw_index(ax, table, index, pair_lines="faint"))
        ax.set_title(labels.get(index, index), fontsize="medium")
        ax.set_ylabel(labels.get(index, index), fontsize="small")
    for ax in axes.flat[len(indices):]:
        ax.set_visible(False)
    for column in range(ncols):  # the lowest panel of each column carries the layer axis
        lowest = axes[(len(indices) - 1 - column) // ncols, column]
        lowest.set_xlabel("layer")
        lowest.tick_params(labelbottom=True)
    pairs = table["pair"].nunique()
    null = " and shuffled-pairing null (red, dashed)" if "null" in table.columns and table["null"].notna().any() else ""
    figure.suptitle(f"Cross-lingual similarity per layer: {pairs} language pairs (grey, over their intervals), "
                    f"mean (black) ± 1 sd{null}", fontsize="medium")
    return save_figure(figure, path)


def plot_anc_matrix(matrix: pd.DataFrame, path: str | os.PathLike, *, languages: Sequence[str] | None = None) -> Path:
    """Language-by-language heatmap of ANC at one layer, values written in the cells.

    The matrix is symmetric; a pair without a row (and the diagonal, unless given) is left blank. Cell
    values are written when there are at most 25 languages.

    Parameters
    ----------
    matrix : DataFrame
        Columns ``layer, lang_x, lang_y, value, n``, one row per unordered pair of one layer (``value`` the
        ANC, ``n`` the paired sentences).
    path : path-like
        The PNG file to write (must end in ``.png``); written atomically, folders created.
    languages : sequence of str, optional
        Order of the axes; must include every language of the matrix (default: order of first appearance).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ValueError
        If the matrix holds more than one layer, or ``path`` does not end in ``.png``.
    KeyError
        If ``languages`` lacks a language of the matrix.
    """
    layers = matrix["layer"].unique()
    if len(layers) != 1:
        raise ValueError(f"the ANC matrix must be of one layer, got layers {list(layers)}")
    if languages is None:
        languages = list(dict.fromkeys([*matrix["lang_x"], *matrix["lang_y"]]))
    position = {lang: i for i, lang in enumerate(languages)}
    k = len(languages)
    values = np.full((k, k), np.nan)
    for a, b, v in matrix[["lang_x", "lang_y", "value"]].itertuples(index=False):
        values[position[a], position[b]] = values[position[b], position[a]] = v
    side = max(4.0, 0.5 * k + 1.8)
    figure = new_figure(side + 1.0, side)
    ax = figure.add_subplot()
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="white")
    finite = values[np.isfinite(values)]
    vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_xticks(range(k), languages)
    ax.set_yticks(range(k), languages)
    mid = (vmin + vmax) / 2
    if k <= 25:
        for i in range(k):
            for j in range(k):
                if np.isfinite(values[i, j]):
                    ax.text(j, i, f"{values[i, j]:.2f}", ha="center", va="center", fontsize=7 if k > 12 else 8,
                            color="black" if values[i, j] > mid else "white")
    figure.colorbar(image, ax=ax, shrink=0.8, label="ANC")
    n = matrix["n"].unique()
    ax.set_title(f"ANC between languages at layer {int(layers[0])}" + (f" (n = {int(n[0])})" if len(n) == 1 else ""))
    return save_figure(figure, path)


def plot_per_neuron(per_neuron: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Neurons sorted by mean |r| over the language pairs, with the range over pairs shaded.

    Parameters
    ----------
    per_neuron : DataFrame
        Columns ``layer, pair, neuron, r`` (one layer; ``r`` the signed correlation of neuron ``neuron``
        between the two languages of ``pair``, NaN for a constant neuron), one row per pair and neuron.
    path : path-like
        The PNG file to write (must end in ``.png``); written atomically, folders created.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ValueError
        If the table holds more than one layer, or ``path`` does not end in ``.png``.
    """
    layers = per_neuron["layer"].unique()
    if len(layers) != 1:
        raise ValueError(f"the per-neuron table must be of one layer, got layers {list(layers)}")
    wide = per_neuron.assign(a=per_neuron["r"].abs()).pivot(index="neuron", columns="pair", values="a")
    mean = wide.mean(axis=1)
    order = mean.sort_values(ascending=False, na_position="last").index
    wide, mean = wide.loc[order], mean.loc[order]
    rank = np.arange(len(mean))
    figure = new_figure(7.0, 4.0)
    ax = figure.add_subplot()
    if wide.shape[1] > 1:
        ax.fill_between(rank, wide.min(axis=1), wide.max(axis=1), color=_BAND, alpha=0.4, lw=0,
                        label="range over pairs")
    ax.plot(rank, mean, color="black", lw=1.8, label=f"mean over {wide.shape[1]} pair{'s' * (wide.shape[1] > 1)}")
    ax.axhline(float(mean.mean()), color="#c0392b", lw=1, ls="--", label=f"mean ANC over pairs = {mean.mean():.3f}")
    ax.set_xlim(0, max(len(rank) - 1, 1))
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("neuron rank (most language-neutral first)")
    ax.set_ylabel("|correlation| of a sentence and its translation")
    ax.set_title(f"Per-neuron correlation at layer {int(layers[0])}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", frameon=False)
    return save_figure(figure, path)


def _draw_comparison(ax, rows: pd.DataFrame, *, legend_nulls: bool) -> np.ndarray:
    """Each model's mean over pairs on normalised depth over its band, and its null dashed; returns the values drawn."""
    colours = matplotlib.colormaps["tab10"]
    drawn = []
    for k, (model, part) in enumerate(rows.groupby("model", sort=False)):
        part = part.sort_values("depth")
        colour = colours(k % 10)
        depth = part["depth"].to_numpy()
        ax.fill_between(depth, part["band_low"], part["band_high"], color=colour, alpha=0.2, lw=0, zorder=1)
        ax.plot(depth, part["mean"], color=colour, lw=2.2, marker="o", ms=3, label=model, zorder=3)
        drawn += [part["mean"].to_numpy(), part["band_low"].to_numpy(), part["band_high"].to_numpy()]
        if part["null"].notna().any():
            ax.plot(depth, part["null"], color=colour, lw=1.1, ls="--", zorder=2,
                    label=f"{model}: null" if legend_nulls else None)
            drawn.append(part["null"].to_numpy())
    ax.set_xlim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    return np.concatenate([np.asarray(d, dtype=float) for d in drawn])


def _comparison_rows(comparison: pd.DataFrame, index: str) -> pd.DataFrame:
    rows = comparison[comparison["index"] == index]
    if rows.empty:
        raise ValueError(f"no values of index {index!r} in the comparison")
    return rows


def plot_comparison(comparison: pd.DataFrame, index: str, path: str | os.PathLike, *,
                    label: str | None = None) -> Path:
    """Several models on one axis of normalised depth: mean over pairs, its band, and each model's null line.

    Parameters
    ----------
    comparison : DataFrame
        :func:`crossling.similarity.compare.compare_similarity`'s table (columns ``model, index, depth,
        mean, band_low, band_high, null``), one row per model, index and layer.
    index : str
        Which index to draw.
    path : path-like
        The PNG file to write (must end in ``.png``); written atomically, folders created.
    label : str, optional
        Name of the index on the axis (default: ``index``).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ValueError
        If the table has no row of ``index``, or ``path`` does not end in ``.png``.
    """
    rows = _comparison_rows(comparison, index)
    label = label or index
    figure = new_figure(7.6, 4.6)
    ax = figure.add_subplot()
    _limits(ax, _draw_comparison(ax, rows, legend_nulls=True))
    ax.set_xlabel("normalised depth (0 = embeddings, 1 = last layer)")
    ax.set_ylabel(label)
    ax.set_title(f"{label} of {rows['model'].nunique()} models: mean over language pairs, band over pairs")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize="small", frameon=False)
    return save_figure(figure, path)


def plot_comparison_overview(comparison: pd.DataFrame, path: str | os.PathLike, *,
                             labels: Mapping[str, str] | None = None) -> Path:
    """Small multiples of :func:`plot_comparison`: one panel per index, the models in every panel.

    Parameters
    ----------
    comparison : DataFrame
        :func:`crossling.similarity.compare.compare_similarity`'s table.
    path : path-like
        The PNG file to write (must end in ``.png``); written atomically, folders created.
    labels : mapping of str to str, optional
        Display name of each index (default: the index's name).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ValueError
        If the table is empty, or ``path`` does not end in ``.png``.
    """
    indices = list(dict.fromkeys(comparison["index"]))
    if not indices:
        raise ValueError("no index to plot")
    labels = dict(labels or {})
    ncols = min(3, len(indices))
    nrows = -(-len(indices) // ncols)
    figure = new_figure(4.0 * ncols, 3.1 * nrows + 0.8)
    axes = figure.subplots(nrows, ncols, squeeze=False, sharex=True)
    for ax, index in zip(axes.flat, indices):
        _limits(ax, _draw_comparison(ax, _comparison_rows(comparison, index), legend_nulls=False))
        ax.set_title(labels.get(index, index), fontsize="medium")
    for ax in axes.flat[len(indices):]:
        ax.set_visible(False)
    for column in range(ncols):
        lowest = axes[(len(indices) - 1 - column) // ncols, column]
        lowest.set_xlabel("normalised depth")
        lowest.tick_params(labelbottom=True)
    handles, names = axes.flat[0].get_legend_handles_labels()
    figure.legend(handles, names, loc="outside lower center", ncol=min(len(names), 4), frameon=False)
    figure.suptitle("Models on normalised depth (0 = embeddings, 1 = last layer): mean over pairs, band over pairs, "
                    "null dashed", fontsize="medium")
    return save_figure(figure, path)


def write_similarity_figures(result: "SimilarityResult", folder: str | os.PathLike) -> list[Path]:
    """Draw every figure of a similarity result into ``folder``.

    The overview of every index, one figure per index against layer, the ANC matrix and the per-neuron
    breakdown at the focus layer (when computed).

    Parameters
    ----------
    result : SimilarityResult
        The study's result (its ``table``, and ``anc_matrix`` and ``per_neuron`` when computed).
    folder : path-like
        Where the PNG files go (created if missing): ``overview.png``, ``<index>.png`` per index,
        ``anc_matrix.png``, ``per_neuron_anc.png``.

    Returns
    -------
    list of Path
        The files written, in that order.
    """
    from crossling.similarity.study import INDICES

    folder = Path(folder)
    labels = {name: INDICES[name].label for name in INDICES}
    files = [plot_overview(result.table, folder / "overview.png", labels=labels)]
    for name in dict.fromkeys(result.table["index"]):
        files.append(plot_index_by_layer(result.table, name, folder / f"{name}.png", label=labels[name]))
    if result.anc_matrix is not None:
        files.append(plot_anc_matrix(result.anc_matrix, folder / "anc_matrix.png", languages=result.languages))
    if result.per_neuron is not None:
        focus = result.per_neuron[result.per_neuron["layer"] == result.focus_layer]
        files.append(plot_per_neuron(focus, folder / "per_neuron_anc.png"))
    return files

"""Figures of the joint-factorization study: signatures across layers, distances, trees, correlations.

Each ``plot_*`` function takes tidy tables (or :mod:`crossling.trees` objects) and an output path, draws one
figure with the object-oriented Matplotlib API on the Agg canvas (no pyplot state, no global backend switch),
writes it atomically (PNG, plus an SVG beside it when asked) and returns the path;
:func:`write_factorization_figures` draws every figure of a result.

Conventions shared by the figures: languages appear in the analysis order (the order of the study's
``languages``; a dendrogram's leaves follow its tree), every panel names its axes, and values are written with
two decimals (:data:`NUMBER_FORMAT`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.ticker import StrMethodFormatter
from scipy.cluster import hierarchy

from crossling._utils.figures import new_figure, save_figure
from crossling.trees import DistanceMatrix, Tree

if TYPE_CHECKING:
    from crossling.factorization.study import FactorizationResult

__all__ = [
    "NUMBER_FORMAT",
    "plot_correlation_heatmap",
    "plot_dendrogram",
    "plot_distance_heatmaps",
    "plot_mean_correlations",
    "plot_run_violins",
    "plot_signature_changes",
    "plot_signature_violins",
    "write_factorization_figures",
]

NUMBER_FORMAT = "{x:.2f}"
"""How the figures write a value (cell labels, colour-bar and value-axis ticks)."""


def _single(table: pd.DataFrame, column: str, name: str) -> Any:
    """The one value of ``column`` in ``table`` (a figure shows one category, property, ...)."""
    if column not in table.columns:
        return None
    values = table[column].unique()
    if len(values) > 1:
        raise ValueError(f"{name} has several {column}s {list(values)[:5]}: select one before plotting")
    return values[0]


def plot_signature_violins(
    signatures: pd.DataFrame,
    path: str | os.PathLike,
    *,
    title: str | None = None,
    highlight: Sequence[str] = (),
    svg: bool = False,
) -> Path:
    """Violin plot of the languages' average signatures at each layer.

    Parameters
    ----------
    signatures : DataFrame
        Columns ``language``, ``layer``, ``value`` (average signature); an optional ``category`` column
        must hold a single category.
    path : path ending in .png
    title : str, optional
        Default: "Average signature per layer" with the category.
    highlight : sequence of str
        Languages drawn as labelled lines across layers (e.g. the extremes, or zh and ja).
    svg : bool, default False
        Also write an SVG beside the PNG.

    Returns
    -------
    Path

    Raises
    ------
    ValueError
        For a table without the columns, with several categories or no value, or a highlighted language
        it does not have.
    """
    for column in ("language", "layer", "value"):
        if column not in signatures.columns:
            raise ValueError(f"signatures lacks column {column!r}")
    category = _single(signatures, "category", "signatures")
    table = signatures.dropna(subset=["value"])
    if table.empty:
        raise ValueError("no signature values to plot")
    layers = np.sort(table["layer"].unique())
    groups = [table.loc[table["layer"] == layer, "value"].to_numpy() for layer in layers]
    figure = new_figure(max(6.0, 0.55 * len(layers) + 2), 4.5)
    ax = figure.add_subplot()
    parts = ax.violinplot(groups, positions=layers, widths=0.8, showmedians=True, showextrema=False)
    for body in parts["bodies"]:
        body.set_facecolor("#9ecae1")
        body.set_edgecolor("#3182bd")
        body.set_alpha(0.8)
    parts["cmedians"].set_color("#08519c")
    rng = np.random.default_rng(0)  # fixed jitter: the same data always give the same picture
    for layer, values in zip(layers, groups):
        ax.scatter(layer + rng.uniform(-0.12, 0.12, values.size), values, s=9, color="#525252", zorder=3)
    colours = matplotlib.colormaps["tab10"]
    for i, language in enumerate(highlight):
        line = table[table["language"] == language].sort_values("layer")
        if line.empty:
            raise ValueError(f"highlighted language {language!r} is not in the table")
        colour = colours(i % 10)
        ax.plot(line["layer"], line["value"], marker="o", ms=3, lw=1.5, color=colour, zorder=4)
        ax.annotate(language, (line["layer"].iloc[-1], line["value"].iloc[-1]), xytext=(18, 0),
                    textcoords="offset points", va="center", color=colour, fontweight="bold",
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8})
    if len(highlight):
        ax.set_xlim(right=layers[-1] + 1.2)  # room for the labels of the highlighted lines
    ax.set_xticks(layers)
    ax.set_xlabel("layer")
    ax.set_ylabel("average signature")
    ax.yaxis.set_major_formatter(StrMethodFormatter(NUMBER_FORMAT))
    default = "Average signature per layer" + (f" ({category})" if category is not None else "")
    ax.set_title(title or default + f", {table['language'].nunique()} languages")
    ax.grid(axis="y", alpha=0.3)
    return save_figure(figure, path, svg=svg)


def plot_run_violins(
    combined: pd.DataFrame,
    path: str | os.PathLike,
    *,
    runs: Sequence[str],
    highlight: Sequence[str] = (),
    title: str | None = None,
    svg: bool = False,
) -> Path:
    """Violins of the average signature per layer, one per run side by side (Zhao, Ziser and Cohen 2023, Fig. 2b).

    Parameters
    ----------
    combined : DataFrame
        Columns ``run``, ``layer``, ``language``, ``value``; an optional ``category`` column must hold a single
        category (:attr:`crossling.factorization.compare.RunComparison.combined`).
    path : path ending in .png
    runs : sequence of str
        The runs in the order of the violins at each layer (the baseline first).
    highlight : sequence of str, default ()
        Languages marked in every run (e.g. the romanised zh and ja), one marker shape each.
    title : str, optional
        Default: "Average signature per layer" with the category.
    svg : bool, default False

    Returns
    -------
    Path

    Raises
    ------
    ValueError
        For a table without the columns, several categories, no value, or runs it does not have.
    """
    for column in ("run", "layer", "language", "value"):
        if column not in combined.columns:
            raise ValueError(f"combined lacks column {column!r}")
    category = _single(combined, "category", "combined")
    table = combined.dropna(subset=["value"])
    absent = [run for run in runs if run not in set(table["run"])]
    if table.empty or absent:
        raise ValueError(f"no values to plot for runs {absent or list(runs)}")
    layers = np.sort(table["layer"].unique())
    width = 0.8 / len(runs)
    colours = matplotlib.colormaps["tab10"]
    figure = new_figure(max(6.0, 0.35 * len(layers) * len(runs) + 3), 4.5)
    ax = figure.add_subplot()
    markers = "o^sDvP*X"
    for r, run in enumerate(runs):
        offset = (r - (len(runs) - 1) / 2) * width
        mine = table[table["run"] == run]
        present = [layer for layer in layers if (mine["layer"] == layer).any()]
        groups = [mine.loc[mine["layer"] == layer, "value"].to_numpy() for layer in present]
        parts = ax.violinplot(groups, positions=np.asarray(present) + offset, widths=width * 0.9, showmedians=True,
                              showextrema=False)
        for body in parts["bodies"]:
            body.set_facecolor(colours(r % 10))
            body.set_alpha(0.55)
        parts["cmedians"].set_color(colours(r % 10))
        for i, language in enumerate(highlight):
            line = mine[mine["language"] == language]
            ax.scatter(line["layer"] + offset, line["value"], marker=markers[i % len(markers)], s=28,
                       color=colours(r % 10), edgecolor="black", zorder=4)
    handles = [Line2D([], [], marker="s", ls="", color=colours(r % 10), label=run) for r, run in enumerate(runs)]
    handles += [Line2D([], [], marker=markers[i % len(markers)], ls="", color="grey", markeredgecolor="black",
                       label=language) for i, language in enumerate(highlight)]
    ax.legend(handles=handles, fontsize=8, frameon=False)
    ax.set_xticks(layers)
    ax.set_xlabel("layer")
    ax.set_ylabel("average signature")
    ax.yaxis.set_major_formatter(StrMethodFormatter(NUMBER_FORMAT))
    default = "Average signature per layer" + (f" ({category})" if category is not None else "")
    ax.set_title(title or default + ", runs side by side")
    ax.grid(axis="y", alpha=0.3)
    return save_figure(figure, path, svg=svg)


def plot_signature_changes(
    tests: pd.DataFrame,
    path: str | os.PathLike,
    *,
    order: Sequence[str] | None = None,
    title: str | None = None,
    svg: bool = False,
) -> Path:
    """Bars of each language's median change of the average signature in one run, significant ones starred.

    Parameters
    ----------
    tests : DataFrame
        Columns ``language``, ``median_change`` and ``significant``; an optional ``run`` column must hold a
        single run (:attr:`crossling.factorization.compare.RunComparison.tests`).
    path : path ending in .png
    order : sequence of str, optional
        Order of the languages; default the table's.
    title : str, optional
    svg : bool, default False

    Returns
    -------
    Path

    Raises
    ------
    ValueError
        For a table without the columns or with several runs.
    """
    for column in ("language", "median_change", "significant"):
        if column not in tests.columns:
            raise ValueError(f"tests lacks column {column!r}")
    run = _single(tests, "run", "tests")
    table = tests.set_index("language")
    languages = [lang for lang in (order or list(table.index)) if lang in table.index]
    values = table.loc[languages, "median_change"].to_numpy(dtype=float)
    figure = new_figure(max(5.0, 0.45 * len(languages) + 2), 4.0)
    ax = figure.add_subplot()
    colours = np.where(values >= 0, "#4393c3", "#d6604d")
    ax.bar(range(len(languages)), np.nan_to_num(values), color=colours)
    for i, language in enumerate(languages):
        if bool(table.at[language, "significant"]):
            ax.annotate("*", (i, values[i]), ha="center", va="bottom" if values[i] >= 0 else "top", fontsize=13)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(range(len(languages)), languages)
    ax.set_xlabel("language")
    ax.set_ylabel("median change of the average signature")
    ax.yaxis.set_major_formatter(StrMethodFormatter(NUMBER_FORMAT))
    where = f" in {run}" if run is not None else ""
    ax.set_title(title or f"Change from the baseline{where} (* significant after BH correction)")
    return save_figure(figure, path, svg=svg)


def plot_distance_heatmaps(
    distances: DistanceMatrix | Mapping[Any, DistanceMatrix],
    path: str | os.PathLike,
    *,
    order: Sequence[str] | None = None,
    title: str = "Cosine distance between language signatures",
    svg: bool = False,
) -> Path:
    """Heatmaps of distance matrices, one panel per chosen layer, on a shared colour scale.

    Parameters
    ----------
    distances : DistanceMatrix or mapping of panel name (e.g. layer) to DistanceMatrix
    path : path ending in .png
    order : sequence of str, optional
        Order of the languages on both axes (the analysis order). Default: the languages in order of first
        appearance in the panels. Languages missing from a panel are grey.
    title : str
    svg : bool, default False

    Returns
    -------
    Path

    Raises
    ------
    ValueError
        For no matrix, or an ``order`` that does not list exactly the matrices' languages.
    """
    panels = {"": distances} if isinstance(distances, DistanceMatrix) else dict(distances)
    if not panels:
        raise ValueError("no distance matrix to plot")
    union = list(dict.fromkeys(label for m in panels.values() for label in m.labels))
    if order is None:
        order = union
    elif len(set(order)) != len(order) or set(order) != set(union):
        raise ValueError(f"order must list exactly the languages of the matrices: {sorted(union)}")
    n = len(order)
    position = {label: i for i, label in enumerate(order)}
    arrays = []
    for matrix in panels.values():
        full = np.full((n, n), np.nan)
        index = np.array([position[label] for label in matrix.labels])
        full[np.ix_(index, index)] = matrix.values
        arrays.append(full)
    vmax = max(float(np.nanmax(a)) for a in arrays) or 1.0
    side = max(3.5, 0.22 * n + 1.5)
    figure = new_figure(side * len(panels) + 1.2, side + 0.6)
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="#d9d9d9")
    for ax, (name, array) in zip(axes, zip(panels, arrays)):
        image = ax.imshow(array, cmap=cmap, vmin=0.0, vmax=vmax, interpolation="nearest")
        ax.set_xticks(range(n), order, rotation=90, fontsize=8)
        ax.set_yticks(range(n), order, fontsize=8)
        ax.set_xlabel("language")
        ax.set_ylabel("language")
        ax.set_title(f"layer {name}" if isinstance(name, (int, np.integer)) else str(name))
    figure.colorbar(image, ax=list(axes), shrink=0.8, label="cosine distance", format=StrMethodFormatter(NUMBER_FORMAT))
    figure.suptitle(title)
    return save_figure(figure, path, svg=svg)


def plot_dendrogram(
    tree: Tree,
    path: str | os.PathLike,
    *,
    families: Mapping[str, str] | None = None,
    names: Mapping[str, str] | None = None,
    title: str = "UPGMA tree of language signatures",
    svg: bool = False,
) -> Path:
    """Dendrogram of a language tree, leaf labels coloured by family.

    Parameters
    ----------
    tree : Tree
    path : path ending in .png
    families : mapping of language to family, optional
        Colours the leaf labels, with a legend. Every leaf must have a family.
    names : mapping of language to display name, optional
        E.g. ``{"fi": "Finnish"}``; default: the language codes.
    title : str
    svg : bool, default False

    Returns
    -------
    Path

    Raises
    ------
    ValueError
        For a leaf without a family, or display names that are not distinct.
    """
    if families is not None:
        absent = [label for label in tree.labels if label not in families]
        if absent:
            raise ValueError(f"no family given for {absent}")
    labels = [names.get(label, label) if names else label for label in tree.labels]
    if len(set(labels)) != len(labels):
        raise ValueError("display names must be distinct")
    n = len(labels)
    figure = new_figure(7.0, max(3.0, 0.28 * n + 1.2))
    ax = figure.add_subplot()
    hierarchy.dendrogram(tree.linkage, labels=labels, orientation="left", ax=ax,
                                 color_threshold=0, above_threshold_color="#4d4d4d", leaf_font_size=9)
    if families is not None:
        family_names = sorted(set(families[label] for label in tree.labels))
        palette = matplotlib.colormaps["tab20" if len(family_names) > 10 else "tab10"]
        colour = {family: palette(i % palette.N) for i, family in enumerate(family_names)}
        by_label = dict(zip(labels, tree.labels))
        for text in ax.get_yticklabels():
            text.set_color(colour[families[by_label[text.get_text()]]])
            text.set_fontweight("bold")
        handles = [Line2D([], [], marker="s", ls="", color=colour[f], label=f) for f in family_names]
        figure.legend(handles=handles, title="family", loc="outside right upper", fontsize=8, title_fontsize=9,
                      frameon=False)
    ax.set_xlabel("distance at merge (UPGMA)")
    ax.set_ylabel("language")
    ax.xaxis.set_major_formatter(StrMethodFormatter(NUMBER_FORMAT))
    ax.set_title(title)
    ax.spines[["top", "right", "left"]].set_visible(False)
    return save_figure(figure, path, svg=svg)


def plot_correlation_heatmap(
    correlations: pd.DataFrame,
    path: str | os.PathLike,
    *,
    categories: Sequence[str] | None = None,
    title: str = "Pearson correlation",
    alpha: float = 0.05,
    svg: bool = False,
) -> Path:
    """Heatmap of correlations, categories by layers, with the values written in the cells.

    Parameters
    ----------
    correlations : DataFrame
        Columns ``category``, ``layer``, ``statistic`` (Pearson r) and optionally ``pvalue`` (cells with
        ``pvalue < alpha`` have their value in bold and starred); a ``property`` or ``task`` column must
        hold a single value, named in the colour bar.
    path : path ending in .png
    categories : sequence of str, optional
        Order of the rows (the study's category order); default the order of first appearance.
    title : str
    alpha : float, default 0.05
    svg : bool, default False

    Returns
    -------
    Path

    Raises
    ------
    ValueError
        For a table without the columns, with several properties or tasks, several rows of one (category,
        layer), or ``categories`` that miss one of its categories.
    """
    for column in ("category", "layer", "statistic"):
        if column not in correlations.columns:
            raise ValueError(f"correlations lacks column {column!r}")
    against = _single(correlations, "property", "correlations")
    against = _single(correlations, "task", "correlations") if against is None else against
    if correlations.duplicated(["category", "layer"]).any():
        raise ValueError("correlations has several rows for one (category, layer)")
    present = list(dict.fromkeys(correlations["category"]))
    rows = present if categories is None else [c for c in categories if c in present]
    if set(rows) != set(present):
        raise ValueError(f"categories {list(categories)} miss {sorted(set(present) - set(rows))}")
    grid = (correlations.pivot(index="category", columns="layer", values="statistic")
            .reindex(rows).sort_index(axis=1))
    pvalues = (correlations.pivot(index="category", columns="layer", values="pvalue")
               .reindex_like(grid) if "pvalue" in correlations.columns else None)
    label = "Pearson r" + (f" with {against}" if against is not None else "")
    note = f" (* p < {alpha:g})" if pvalues is not None else ""
    return _heatmap(grid, pvalues, path, xlabel="layer", label=label,
                    title=title + (f": {against}" if against is not None else "") + note, alpha=alpha, svg=svg)


def plot_mean_correlations(
    means: pd.DataFrame,
    path: str | os.PathLike,
    *,
    categories: Sequence[str] | None = None,
    title: str = "Pearson correlation averaged over layers",
    svg: bool = False,
) -> Path:
    """Heatmap of correlations averaged over layers, categories by properties (Zhao, Ziser and Cohen 2023, Fig. 4).

    Parameters
    ----------
    means : DataFrame
        Columns ``category``, ``property``, ``mean_r``
        (:func:`crossling.factorization.statistics.mean_correlations`).
    path : path ending in .png
    categories : sequence of str, optional
        Order of the rows; default the order of first appearance.
    title : str
    svg : bool, default False

    Returns
    -------
    Path

    Raises
    ------
    ValueError
        For a table without the columns, or ``categories`` that miss one of its categories.
    """
    for column in ("category", "property", "mean_r"):
        if column not in means.columns:
            raise ValueError(f"means lacks column {column!r}")
    present = list(dict.fromkeys(means["category"]))
    rows = present if categories is None else [c for c in categories if c in present]
    if set(rows) != set(present):
        raise ValueError(f"categories {list(categories)} miss {sorted(set(present) - set(rows))}")
    grid = means.pivot(index="category", columns="property", values="mean_r").reindex(rows)
    grid = grid[list(dict.fromkeys(means["property"]))]
    return _heatmap(grid, None, path, xlabel="property", label="mean Pearson r over layers", title=title, svg=svg)


def _heatmap(grid: pd.DataFrame, pvalues: pd.DataFrame | None, path: str | os.PathLike, *, xlabel: str, label: str,
             title: str, alpha: float = 0.05, svg: bool = False) -> Path:
    """Correlations in [-1, 1], rows by columns, with the values written in the cells (starred if p < alpha)."""
    n_rows, n_cols = grid.shape
    figure = new_figure(max(5.0, 0.6 * n_cols + 3), max(3.0, 0.4 * n_rows + 1.5))
    ax = figure.add_subplot()
    cmap = matplotlib.colormaps["RdBu_r"].with_extremes(bad="#d9d9d9")
    image = ax.imshow(grid.to_numpy(dtype=float), cmap=cmap, vmin=-1, vmax=1, aspect="auto",
                      interpolation="nearest")
    for i in range(n_rows):
        for j in range(n_cols):
            r = grid.iat[i, j]
            if np.isnan(r):
                continue
            significant = pvalues is not None and pvalues.iat[i, j] < alpha
            ax.text(j, i, NUMBER_FORMAT.format(x=r) + ("*" if significant else ""), ha="center", va="center",
                    fontsize=7, color="white" if abs(r) > 0.6 else "black", fontweight="bold" if significant else None)
    ax.set_xticks(range(n_cols), [str(c) for c in grid.columns])
    ax.set_yticks(range(n_rows), [str(c) for c in grid.index])
    ax.set_xlabel(xlabel)
    ax.set_ylabel("category")
    figure.colorbar(image, ax=ax, label=label, format=StrMethodFormatter(NUMBER_FORMAT))
    ax.set_title(title)
    return save_figure(figure, path, svg=svg)


def write_factorization_figures(result: FactorizationResult, folder: str | os.PathLike, *,
                                highlight: Sequence[str] = ()) -> list[Path]:
    """Draw every figure of a factorization result into ``folder``.

    ``violins/<category>.png`` (average signature per layer), ``distances/<category>.png`` (heatmaps at the
    result's ``heatmap_layers``, also for the average over categories), ``dendrograms/average_layer_NN.png``
    and ``dendrograms/all_words_layer_NN.png`` (the trees of the average distances and of "All words" per
    layer, leaves coloured by family), ``correlations/<property or task>.png`` (per category and layer;
    ``data_size`` is the words of each slice; a table whose correlations are all undefined gets no figure)
    and ``mean_correlations/properties.png`` (averaged over layers).

    Parameters
    ----------
    result : FactorizationResult
    folder : path-like
    highlight : sequence of str, default ()
        Languages drawn as labelled lines in the violin plots (e.g. the romanised ones).

    Returns
    -------
    list of Path
    """
    from crossling.factorization.crosscov import ALL_WORDS
    from crossling.factorization.study import AVERAGE, category_slug

    folder = Path(folder)
    figures: list[Path] = []
    languages = list(result.languages)
    average = result.average_signatures
    for category in result.categories:
        table = average[average["category"] == category]
        present = set(table["language"])
        marked = [lang for lang in languages if lang in highlight and lang in present]
        figures.append(plot_signature_violins(table, folder / "violins" / f"{category_slug(category)}.png",
                                              highlight=marked))
    matrices = result.distance_matrices
    for category in [*result.categories, AVERAGE]:
        panels = {layer: matrices[category, layer] for layer in result.heatmap_layers if (category, layer) in matrices}
        panels = {layer: m for layer, m in panels.items() if not np.isnan(m.values).any()}
        if panels:
            union = {lang for m in panels.values() for lang in m.labels}
            figures.append(plot_distance_heatmaps(
                panels, folder / "distances" / f"{category_slug(category)}.png",
                order=[lang for lang in languages if lang in union],
                title=f"Cosine distance between language signatures: {category}"))
    taxonomy = result.taxonomy.set_index("language")
    for category, what in ((AVERAGE, "average over categories"), (ALL_WORDS, ALL_WORDS)):
        for layer in result.layers:
            tree = result.upgma_trees.get((category, layer))
            if tree is None:
                continue
            families = {lang: taxonomy.at[lang, "family"] if lang in taxonomy.index else "unknown"
                        for lang in tree.labels}
            name = f"{category_slug(category)}_layer_{layer:02d}.png"
            figures.append(plot_dendrogram(tree, folder / "dendrograms" / name, families=families,
                                           title=f"UPGMA tree of signatures, {what}, layer {layer}"))
    for table, column in ((result.property_correlations, "property"), (result.data_size_correlations, "property"),
                          (result.downstream_correlations, "task")):
        if table is None:
            continue
        for value in table[column].unique():
            selected = table[table[column] == value]
            if selected["statistic"].notna().any():
                figures.append(plot_correlation_heatmap(selected,
                                                        folder / "correlations" / f"{category_slug(str(value))}.png",
                                                        categories=result.categories))
    means = result.mean_correlations
    if means is not None and means["mean_r"].notna().any():
        figures.append(plot_mean_correlations(means, folder / "mean_correlations" / "properties.png",
                                              categories=result.categories))
    return figures

"""crossling.factorization.plots: each figure is written whole, as a PNG of a sensible size."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crossling.factorization.plots import (
    plot_correlation_heatmap,
    plot_dendrogram,
    plot_distance_heatmaps,
    plot_mean_correlations,
    plot_signature_violins,
)
from crossling.trees import cosine_distances, upgma

LANGUAGES = ["ar", "de", "en", "es", "fi", "fr", "hi", "ja", "ru", "tr", "zh", "ko"]
FAMILIES = {"ar": "Afro-Asiatic", "de": "Indo-European", "en": "Indo-European", "es": "Indo-European",
            "fi": "Uralic", "fr": "Indo-European", "hi": "Indo-European", "ja": "Japanese",
            "ru": "Indo-European", "tr": "Altaic", "zh": "Sino-Tibetan", "ko": "Korean"}


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def _check(path: Path, returned: Path) -> None:
    assert returned == path and path.is_file()
    width, height = _png_size(path)
    assert 400 <= width <= 6000 and 300 <= height <= 6000
    assert path.stat().st_size > 10_000  # drawn content, not an empty canvas
    assert not list(path.parent.glob(".*.tmp"))  # the atomic write left nothing behind


def _signatures() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame([{"category": "Case", "language": lang, "layer": k, "value": rng.uniform() + 0.02 * k}
                         for lang in LANGUAGES for k in range(13)])


def test_violins(tmp_path):
    path = tmp_path / "violins.png"
    _check(path, plot_signature_violins(_signatures(), path, highlight=["zh", "ja"], svg=True))
    assert path.with_suffix(".svg").read_text().lstrip().startswith("<?xml")
    with pytest.raises(ValueError, match="several categorys|several category"):
        plot_signature_violins(pd.concat([_signatures(), _signatures().assign(category="Tense")]), path)
    with pytest.raises(ValueError, match="'xx'"):
        plot_signature_violins(_signatures(), path, highlight=["xx"])


def test_distance_heatmaps(tmp_path):
    rng = np.random.default_rng(1)
    panels = {k: cosine_distances(rng.uniform(size=(12, 8)), labels=LANGUAGES) for k in (0, 6, 12)}
    panels[12] = cosine_distances(rng.uniform(size=(11, 8)), labels=LANGUAGES[:-1])  # Korean missing
    path = tmp_path / "distances.png"
    _check(path, plot_distance_heatmaps(panels, path))
    with pytest.raises(ValueError, match="order"):
        plot_distance_heatmaps(panels, path, order=LANGUAGES[:-1])
    with pytest.raises(ValueError, match=r"\.png"):
        plot_distance_heatmaps(panels, tmp_path / "distances.jpg")


def test_dendrogram(tmp_path):
    tree = upgma(cosine_distances(np.random.default_rng(2).uniform(size=(12, 8)), labels=LANGUAGES))
    path = tmp_path / "tree.png"
    _check(path, plot_dendrogram(tree, path, families=FAMILIES, names={"fi": "Finnish", "zh": "Chinese"}))
    with pytest.raises(ValueError, match=r"\['ko'\]"):
        plot_dendrogram(tree, path, families={k: v for k, v in FAMILIES.items() if k != "ko"})


def test_correlation_heatmap(tmp_path):
    rng = np.random.default_rng(3)
    table = pd.DataFrame([{"category": c, "layer": k, "property": "type_token_ratio",
                           "statistic": rng.uniform(-1, 1), "pvalue": rng.uniform(0, 0.2)}
                          for c in ("Case", "Gender", "Number", "Tense") for k in range(13)])
    path = tmp_path / "correlations.png"
    _check(path, plot_correlation_heatmap(table, path))
    with pytest.raises(ValueError, match="several"):
        plot_correlation_heatmap(pd.concat([table, table.assign(property="data_size")]), path)


def test_mean_correlations_heatmap(tmp_path, monkeypatch):
    figures = _capture(monkeypatch)
    means = pd.DataFrame([{"category": c, "property": p, "mean_r": r}
                          for c, r0 in (("Case", 0.1), ("Number", -0.4), ("Tense", 0.7))
                          for p, r in (("distinct_chars_99.9", r0), ("data_size", -r0))])
    path = tmp_path / "means.png"
    _check(path, plot_mean_correlations(means, path, categories=["Tense", "Case", "Number"]))
    ax = _panels(figures[0])[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Tense", "Case", "Number"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["distinct_chars_99.9", "data_size"]
    assert {t.get_text() for t in ax.texts} >= {"0.70", "-0.70", "-0.40"}
    with pytest.raises(ValueError, match="miss"):
        plot_mean_correlations(means, path, categories=["Case"])


def _capture(monkeypatch) -> list:
    """Keep every figure the plot functions save (the files are still written)."""
    import crossling.factorization.plots as plots

    figures = []
    real = plots.save_figure

    def keep(figure, path, **kwargs):
        figures.append(figure)
        return real(figure, path, **kwargs)

    monkeypatch.setattr(plots, "save_figure", keep)
    return figures


def _panels(figure) -> list:
    """The axes that draw data (not colour bars)."""
    return [ax for ax in figure.axes if ax.get_label() != "<colorbar>"]


def test_every_panel_names_its_axes_and_languages_keep_their_order(tmp_path, monkeypatch):
    figures = _capture(monkeypatch)
    rng = np.random.default_rng(4)
    order = ["zh", "en", "fi", "ar"]  # an analysis order that is not alphabetical
    panels = {k: cosine_distances(rng.uniform(size=(4, 5)), labels=order) for k in (0, 3)}
    plot_distance_heatmaps(panels, tmp_path / "d.png")
    plot_dendrogram(upgma(panels[0]), tmp_path / "t.png")
    plot_signature_violins(_signatures(), tmp_path / "v.png")
    table = pd.DataFrame([{"category": c, "layer": k, "property": "data_size", "statistic": 0.1 * k - 0.2,
                           "pvalue": 0.5} for c in ("Tense", "Case", "Number") for k in range(3)])
    plot_correlation_heatmap(table, tmp_path / "c.png", categories=["Number", "Tense", "Case"])
    for figure in figures:
        for ax in _panels(figure):
            assert ax.get_ylabel() and ax.get_xlabel(), figure
    heatmap = _panels(figures[0])
    assert len(heatmap) == 2
    for ax in heatmap:  # the order given by the matrices (the analysis order), not a tree's
        assert [t.get_text() for t in ax.get_yticklabels()] == order
        assert [t.get_text() for t in ax.get_xticklabels()] == order
    correlation = _panels(figures[3])[0]
    assert [t.get_text() for t in correlation.get_yticklabels()] == ["Number", "Tense", "Case"]
    cells = [t.get_text() for t in correlation.texts]
    assert cells[:3] == ["-0.20", "-0.10", "0.00"]  # row Number, layers 0..2, two decimals
    with pytest.raises(ValueError, match=r"miss \['Tense'\]"):
        plot_correlation_heatmap(table, tmp_path / "c.png", categories=["Number", "Case"])


def test_write_factorization_figures_draws_every_kind(tmp_path):
    import warnings

    from crossling.factorization.parafac2 import random_parafac2
    from crossling.factorization.plots import write_factorization_figures
    from crossling.factorization.study import FactorizationOptions, compute_factorization

    languages = ["ja", "en", "fi", "de", "zh"]
    omegas = {(c, layer): dict(zip(languages, random_parafac2([6] * 5, 6, 2, seed=layer).matrices))
              for layer in range(3) for c in ("Case", "All words")}
    properties = pd.DataFrame({"language": languages, "property": "data_size", "value": [3.0, 1.0, 4.0, 1.5, 9.0]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = compute_factorization(omegas, languages=languages, properties=properties,
                                       options=FactorizationOptions(rank=2, n_iter_max=20, n_permutations=9))
    files = write_factorization_figures(result, tmp_path, highlight=["zh", "ja"])
    names = {str(path.relative_to(tmp_path)) for path in files}
    assert names == {"violins/case.png", "violins/all_words.png", "distances/case.png", "distances/all_words.png",
                     "distances/average.png", "dendrograms/average_layer_00.png", "dendrograms/average_layer_01.png",
                     "dendrograms/average_layer_02.png", "correlations/data_size.png",
                     # the All-words trees (Zhao, Ziser and Cohen 2023) and the correlations averaged over layers
                     "dendrograms/all_words_layer_00.png", "dendrograms/all_words_layer_01.png",
                     "dendrograms/all_words_layer_02.png", "mean_correlations/properties.png"}
    for path in files:
        _check(path, path)

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

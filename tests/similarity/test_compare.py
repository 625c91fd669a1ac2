"""Several models on one plot: normalised depth, mean and spread over pairs, the null; the command end to end."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from crossling.cli import app
from crossling.exceptions import ConfigError
from crossling.similarity.compare import compare_similarity


def _table(layers: int, pairs: list[str], *, offset: float, indices=("cca", "matching")) -> pd.DataFrame:
    """A tidy table as `crossling similarity` writes it: value = offset + layer/10 + pair number/100."""
    rows = []
    for layer in range(layers):
        for k, pair in enumerate(pairs):
            for index in indices:
                value = offset + layer / 10 + k / 100
                rows.append(dict(layer=layer, pair=pair, index=index, value=value, low=value - 0.01,
                                 high=value + 0.01, null=0.5 if index == "cca" else 0.01, n=100))
    return pd.DataFrame(rows)


def test_depth_is_normalised_and_pairs_are_summarised():
    runs = {"deep": (_table(13, ["en-de", "en-fr", "en-ru"], offset=0.1), 13),
            "shallow": (_table(5, ["en-de"], offset=0.3), 5)}
    got = compare_similarity(runs)
    assert list(got["index"].unique()) == ["cca", "matching"]
    deep = got[(got["model"] == "deep") & (got["index"] == "cca")]
    np.testing.assert_allclose(deep["depth"], np.arange(13) / 12)
    np.testing.assert_allclose(deep["mean"], 0.1 + np.arange(13) / 10 + 0.01)  # pairs 0, 1, 2 -> mean +0.01
    np.testing.assert_allclose(deep["sd"], np.std([0, 0.01, 0.02]))
    np.testing.assert_allclose(deep["band_high"] - deep["mean"], deep["sd"])  # spread over pairs
    assert (deep["n_pairs"] == 3).all() and (deep["null"] == 0.5).all()
    shallow = got[(got["model"] == "shallow") & (got["index"] == "cca")]
    np.testing.assert_allclose(shallow["depth"], [0, 0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(shallow["band_low"], shallow["low"])  # one pair: its interval is the band
    assert compare_similarity(runs, indices=["matching"])["index"].unique().tolist() == ["matching"]
    with pytest.raises(ConfigError, match="not in every run"):
        compare_similarity({"a": (_table(3, ["en-de"], offset=0), 3),
                            "b": (_table(3, ["en-de"], offset=0, indices=("cca",)), 3)}, indices=["matching"])


def _run_folder(folder, table, model, hidden_states):
    folder.mkdir()
    table.to_parquet(folder / "similarity.parquet")
    manifest = {"models": {"model": {"model": model, "n_hidden_states": hidden_states}}, "n": 100,
                "pairs": sorted(set(table["pair"])), "corpus": {"name": "test"}}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def test_compare_command_writes_table_figures_and_report(tmp_path):
    for name in ("me5-small", "multilingual"):  # a local model is named by its folder
        (tmp_path / "models" / name).mkdir(parents=True)
    a = _run_folder(tmp_path / "a", _table(13, ["en-de", "en-fr"], offset=0.1), str(tmp_path / "models/me5-small"), 13)
    b = _run_folder(tmp_path / "b", _table(4, ["en-de", "en-fr"], offset=0.2), str(tmp_path / "models/multilingual"),
                    4)
    out = tmp_path / "cmp"
    result = CliRunner().invoke(app, ["compare-similarity", "--run", str(a), "--run", str(b), "--out", str(out)])
    assert result.exit_code == 0, result.output
    table = pd.read_parquet(out / "comparison.parquet")
    assert set(table["model"]) == {"me5-small", "multilingual"}
    for name in ("overview", "cca", "matching"):
        assert (out / "figures" / f"compare_{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    section = json.loads((out / "report.json").read_text())
    assert len(section["figures"]) == 3 and all("normalised depth" in f["caption"] for f in section["figures"])
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["runs"]) == {"me5-small", "multilingual"}
    bad = CliRunner().invoke(app, ["compare-similarity", "--run", str(a), "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "at least two" in bad.output
    empty = tmp_path / "empty"
    empty.mkdir()
    bad = CliRunner().invoke(app, ["compare-similarity", "--run", str(a), "--run", str(empty), "--out",
                                   str(tmp_path / "y")])
    assert bad.exit_code == 2 and "not a `crossling similarity` result" in bad.output

"""Comparisons across factorization runs: planted per-language changes, the test, the command and its files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from crossling.factorization.compare import compare_signatures
from crossling.factorization.compare_run import CompareConfig, run_comparison
from crossling.stats import wilcoxon_signed_rank

LANGUAGES = ["en", "de", "zh", "ja"]
CATEGORIES = ["All words", "Number", "Tense"]


def _baseline(seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame([{"category": c, "layer": k, "language": lang, "value": float(rng.uniform(0.2, 1.0))}
                         for c in CATEGORIES for k in range(4) for lang in LANGUAGES])


def _romanised(baseline: pd.DataFrame) -> pd.DataFrame:
    """zh and ja rise by 0.1 everywhere; en and de move by +-0.01 from layer to layer (no systematic change)."""
    shift = np.where(baseline["language"].isin(["zh", "ja"]), 0.1, 0.01 * (-1.0) ** baseline["layer"])
    return baseline.assign(value=baseline["value"] + shift)


def test_planted_changes_are_found_per_language():
    base = _baseline()
    comparison = compare_signatures({"original": base, "romanised": _romanised(base)})
    assert comparison.baseline == "original" and comparison.runs == ("original", "romanised")
    assert len(comparison.combined) == 2 * len(base) and len(comparison.changes) == len(base)
    changes = comparison.changes.set_index(["category", "layer", "language"])
    assert changes.loc[("Number", 2, "zh"), "change"] == pytest.approx(0.1)
    tests = comparison.tests.set_index("language")
    # 12 (category, layer) pairs, all changes +0.1: W = 0, exact two-sided p = 2 / 2^12
    assert tests.at["zh", "n"] == 12 and tests.at["zh", "statistic"] == 0
    assert tests.at["zh", "pvalue"] == pytest.approx(2 / 2**12)
    assert list(tests.loc[["zh", "ja"], "direction"]) == ["higher", "higher"]
    assert not tests.loc[["en", "de"], "significant"].any()
    assert (tests.loc[["en", "de"], "direction"] == "no change").all()
    en = comparison.changes.query("language == 'en'")
    assert tests.at["en", "pvalue"] == pytest.approx(wilcoxon_signed_rank(en["value"], en["baseline_value"]).pvalue)
    np.testing.assert_allclose(tests["qvalue"].max(), 1.0)  # BH over the four languages


def test_baseline_choice_and_bad_input():
    base = _baseline()
    other = _romanised(base)
    flipped = compare_signatures({"original": base, "romanised": other}, baseline="romanised")
    assert flipped.runs == ("romanised", "original")
    assert flipped.tests.set_index("language").at["zh", "direction"] == "lower"
    with pytest.raises(ValueError, match="two or more runs"):
        compare_signatures({"original": base})
    with pytest.raises(ValueError, match="baseline 'x'"):
        compare_signatures({"a": base, "b": other}, baseline="x")
    with pytest.raises(ValueError, match="shares no"):
        compare_signatures({"a": base, "b": other.assign(layer=other["layer"] + 10)})
    with pytest.raises(ValueError, match="several rows"):
        compare_signatures({"a": base, "b": pd.concat([other, other.iloc[:1]])})


def _write_run(folder, table, languages=LANGUAGES):
    folder.mkdir(parents=True)
    table.to_parquet(folder / "average_signatures.parquet", index=False)
    manifest = {"languages": languages, "models": {"experimental": {"model": str(folder)}},
                "corpus": {"spec": "ud:x", "romanized": ["zh", "ja"] if "roman" in folder.name else []}}
    (folder / "manifest.json").write_text(json.dumps(manifest))


def test_command_writes_tables_figures_manifest_and_report(tmp_path):
    from crossling.cli import app

    base = _baseline()
    _write_run(tmp_path / "original", base)
    _write_run(tmp_path / "romanised", _romanised(base))
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["factorization-compare", "--run", str(tmp_path / "original"), "--run",
                                      str(tmp_path / "romanised"), "--highlight", "zh,ja", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "romanised against original: significant changes: zh higher, ja higher" in result.output
    for name in ("combined", "changes", "tests"):
        assert (out / f"{name}.parquet").is_file() and (out / f"{name}.csv").is_file()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["baseline"] == "original" and manifest["runs"]["romanised"]["romanized"] == ["zh", "ja"]
    assert set(manifest["figures"]) == {"figures/violins/all_words.png", "figures/violins/number.png",
                                        "figures/violins/tense.png", "figures/changes/romanised.png"}
    for name in manifest["figures"]:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = json.loads((out / "report.json").read_text())
    assert "romanised: 2 languages higher, 0 lower" in report["summary"]
    bad = CompareConfig(runs=[tmp_path / "original", tmp_path], out=tmp_path / "bad")
    with pytest.raises(ValueError, match="not a factorization run folder"):
        run_comparison(bad)
    with pytest.raises(ValueError, match="2 names for 3 runs"):
        CompareConfig(runs=[tmp_path] * 3, labels="a,b", out=tmp_path / "x").run_labels()
    failed = CliRunner().invoke(app, ["factorization-compare", "--run", str(tmp_path / "original"), "--out", str(out)])
    assert failed.exit_code == 2 and "at least 2" in failed.output

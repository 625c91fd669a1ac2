"""crossling.factorization.statistics: the study's tables of trend, correlation and variance tests, each against
the generic test of :mod:`crossling.stats` or an independent computation on planted data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from crossling.exceptions import DegenerateInputWarning
from crossling.factorization.statistics import (
    DIVERSE_SET,
    RELATED_SETS,
    downstream_correlations,
    group_variance_tests,
    property_correlations,
    trend_tests,
    variance_tests,
)
from crossling.stats import variance_test

# --- trends ------------------------------------------------------------------------------------------


def test_trend_tests_planted_directions_and_fdr_per_category():
    rng = np.random.default_rng(0)
    layers = np.arange(13)
    rows = []
    for category in ("Case", "Number"):
        for language, direction in [("de", 1), ("fi", -1), ("en", 0), ("ru", 0), ("tr", 1)]:
            series = direction * 0.05 * layers + (rng.normal(size=13) if direction == 0 else 0)
            rows += [{"category": category, "language": language, "layer": int(k), "value": float(v)}
                     for k, v in zip(layers, series)]
    table = pd.DataFrame(rows).sample(frac=1, random_state=1)  # row order must not matter
    out = trend_tests(table)
    assert len(out) == 10
    up = out[out["language"].isin(["de", "tr"])]
    assert (up["trend"] == "increasing").all() and (up["statistic"] == 78).all() and up["significant"].all()
    assert (out.loc[out["language"] == "fi", "trend"] == "decreasing").all()
    np.testing.assert_allclose(out.loc[out["language"] == "fi", "slope"], -0.05)
    for _, family in out.groupby("category"):
        np.testing.assert_allclose(family["qvalue"], sps.false_discovery_control(family["pvalue"]))
    assert out.attrs["q"] == 0.05
    single = trend_tests(table[table["category"] == "Case"].drop(columns="category"))
    np.testing.assert_allclose(single["qvalue"], out.loc[out["category"] == "Case", "qvalue"])
    with pytest.raises(ValueError, match="several rows"):
        trend_tests(pd.concat([table, table.iloc[:1]]))
    with pytest.raises(ValueError, match="lacks column"):
        trend_tests(table.drop(columns="layer"))


# --- correlations ------------------------------------------------------------------------------------


def _signature_table(languages, layers=(0, 6, 12), categories=("Case", "Tense"), seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame([{"category": c, "layer": k, "language": lang, "value": float(rng.uniform())}
                         for c in categories for k in layers for lang in languages])


def test_property_correlations_planted_and_against_scipy():
    languages = ["ar", "de", "en", "fi", "hi", "ja", "zh"]
    signatures = _signature_table(languages)
    case12 = signatures[(signatures["category"] == "Case") & (signatures["layer"] == 12)].set_index("language")
    properties = pd.DataFrame(
        [{"language": lang, "property": "linear", "value": 3 * case12.loc[lang, "value"] - 1} for lang in languages]
        + [{"language": lang, "property": "ttr", "value": float(i)} for i, lang in enumerate(languages[:-1])]
        + [{"language": "xx", "property": "ttr", "value": 9.0}]  # a language without signatures: ignored
    )
    out = property_correlations(signatures, properties)
    assert len(out) == 2 * 3 * 2
    assert list(out.columns) == ["category", "layer", "property", "statistic", "pvalue", "n"]
    planted = out[(out["category"] == "Case") & (out["layer"] == 12) & (out["property"] == "linear")].iloc[0]
    assert planted.statistic == pytest.approx(1.0) and planted.n == 7
    row = out[(out["category"] == "Tense") & (out["layer"] == 6) & (out["property"] == "ttr")].iloc[0]
    tense6 = signatures[(signatures["category"] == "Tense") & (signatures["layer"] == 6)].set_index("language")
    reference = sps.pearsonr(tense6.loc[languages[:-1], "value"], np.arange(6.0))
    assert row.n == 6
    assert row.statistic == pytest.approx(reference.statistic)
    assert row.pvalue == pytest.approx(reference.pvalue)


def test_downstream_correlations_per_task_and_layer():
    languages = ["de", "en", "es", "fr", "ru", "zh"]
    signatures = _signature_table(languages, categories=("all",)).drop(columns="category")
    layer6 = signatures[signatures["layer"] == 6].set_index("language")["value"]
    scores = pd.DataFrame(
        [{"language": lang, "task": "xnli", "score": 50 - 10 * layer6[lang]} for lang in languages]
        + [{"language": lang, "task": "pos", "score": float(i % 3)} for i, lang in enumerate(languages)]
    )
    out = downstream_correlations(signatures, scores)
    assert list(out.columns) == ["layer", "task", "statistic", "pvalue", "n"]
    assert len(out) == 3 * 2
    xnli6 = out[(out["layer"] == 6) & (out["task"] == "xnli")].iloc[0]
    assert xnli6.statistic == pytest.approx(-1.0)
    pos0 = out[(out["layer"] == 0) & (out["task"] == "pos")].iloc[0]
    layer0 = signatures[signatures["layer"] == 0].set_index("language").loc[languages, "value"]
    assert pos0.statistic == pytest.approx(np.corrcoef(layer0, [i % 3 for i in range(6)])[0, 1])
    with pytest.raises(ValueError, match="lacks column"):
        downstream_correlations(signatures, scores.rename(columns={"score": "value"}))


# --- variance of the diverse set ---------------------------------------------------------------------


def test_group_variance_tests_uses_the_study_groups():
    languages = sorted(set(DIVERSE_SET).union(*RELATED_SETS.values()) - {"gl"})  # Galician missing
    signatures = _signature_table(languages, layers=(0, 6, 12), categories=("Number",), seed=5)
    out = group_variance_tests(signatures, layers=[0, 12])
    assert len(out) == 2 * 3
    assert set(out["related_set"]) == {"Germanic", "Romance", "Slavic"}
    row = out[(out["layer"] == 12) & (out["related_set"] == "Romance")].iloc[0]
    at12 = signatures[signatures["layer"] == 12].set_index("language")["value"]
    romance = [lang for lang in RELATED_SETS["Romance"] if lang != "gl"]
    expected = variance_test(at12[list(DIVERSE_SET)].to_numpy(), float(np.var(at12[romance], ddof=1)))
    assert row.statistic == pytest.approx(expected.statistic)
    assert row.pvalue == pytest.approx(expected.pvalue)
    assert row.n == 10 and row.n_reference == 6 and "gl" not in row.related_languages.split(",")
    with pytest.raises(ValueError, match=r"layers \[7\]"):
        group_variance_tests(signatures, layers=[7])
    small = signatures[~signatures["language"].isin(["da", "nl", "de", "sv"])]
    with pytest.warns(DegenerateInputWarning, match="Germanic"):
        thin = group_variance_tests(small, layers=[0])
    assert thin.loc[thin["related_set"] == "Germanic", "pvalue"].isna().all()


def test_variance_tests_needs_two_languages_in_each_group():
    signatures = _signature_table(["en", "es", "de", "fr", "it"], layers=(0, 6), categories=("Number",), seed=2)
    # diverse: en, es; Germanic: en, de; Romance: es, fr, it; Slavic: none, so it is left out of the table
    table, reason = variance_tests(signatures, ["en", "es", "de", "fr", "it"], layers=[6])
    assert reason == "" and list(table["related_set"]) == ["Germanic", "Romance"]
    related = {name: RELATED_SETS[name] for name in ("Germanic", "Romance")}
    expected = group_variance_tests(signatures, layers=[6], related=related)
    pd.testing.assert_frame_equal(table, expected)
    table, reason = variance_tests(signatures, ["en", "de"])
    assert table is None
    assert reason == ("the languages cover 1 language(s) of the diverse set " + str(list(DIVERSE_SET))
                      + "; the test needs 2 or more in each group")
    table, reason = variance_tests(signatures, ["fi", "ar"], diverse=["fi", "ar"], related={"Germanic": ["en", "de"]})
    assert table is None and reason.startswith("the languages cover no related set (Germanic) with 2 or more")

"""The study on planted vectors: CALIGN and COLAP per layer, and what the result records."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from crossling.concepts import ConceptOptions, compute_concepts
from crossling.exceptions import ConfigError

from .concepts_data import REPEAT, TYPES, K, planted_study_inputs


def test_calign_per_layer(planted_result):
    study = planted_result
    table = study.calign.set_index(["layer", "direction"])["calign_percent"]
    assert table[0, "en-de"] == 100.0 and table[0, "de-en"] == 100.0
    assert table[6, "en-de"] == 100.0 and table[6, "de-en"] == 100.0
    assert table[12, "en-de"] == 0.0 and table[12, "de-en"] == 0.0
    assert set(study.calign["pair"]) == {"en-de"}
    assert study.calign[["source", "target"]].drop_duplicates().values.tolist() == [["en", "de"], ["de", "en"]]
    assert (study.calign["n_eligible"] == K).all()


def test_colap_per_layer(planted_result):
    study = planted_result
    table = study.colap.set_index("layer")["colap_percent"]
    assert table[0] == 0.0 and table[6] == 100.0
    assert study.colap["languages"].tolist() == ["en-de"] * 3
    joint = study.concepts[6, "en-de"]
    assert len(joint.labels) == 2 * K * TYPES * REPEAT


def test_clusterings_and_settings_are_recorded(planted_result):
    study = planted_result
    assert len(study.clusterings) == 3 * 3  # en, de, en-de per layer
    assert set(study.clusterings["backend"]) == {"sklearn"}
    n = K * TYPES * REPEAT
    assert study.tokens["en"] == {"n_words": n, "n_allowed": n, "n_selected": n}
    assert study.options.theta_a == 0.8 and study.layers == [0, 6, 12]
    assert study.options.record()["calign"] == {"theta_a": 0.8, "n_best": 10, "size_tolerance": 0.4,
                                                "size_rule": "symmetric", "min_types": 6}


def test_summary_is_the_two_tables_side_by_side(planted_result):
    summary = planted_result.summary().set_index("layer")
    assert list(summary.columns) == ["calign_percent en-de", "calign_percent de-en", "colap_percent en-de"]
    for row in planted_result.calign.itertuples():
        assert summary.loc[row.layer, f"calign_percent {row.direction}"] == row.calign_percent
    for row in planted_result.colap.itertuples():
        assert summary.loc[row.layer, f"colap_percent {row.languages}"] == row.colap_percent


def test_listing_counts_every_token(planted_result):
    listing = planted_result.listing()
    assert list(listing.columns) == ["layer", "clustering", "concept", "language", "word", "count"]
    tokens = listing.groupby(["layer", "clustering"])["count"].sum()
    assert tokens[6, "en"] == K * TYPES * REPEAT and tokens[6, "en-de"] == 2 * K * TYPES * REPEAT


def test_colap_only_and_bad_inputs():
    vectors, forms, _ = planted_study_inputs()
    options = ConceptOptions(k=K, backend="sklearn")
    res = compute_concepts(vectors, forms, {}, colap_sets=[["en", "de"]], options=options)
    assert res.calign.empty and len(res.colap) == 3
    with pytest.raises(ValueError, match="nothing to compute"):
        compute_concepts(vectors, forms, {}, options=ConceptOptions(k=K))
    with pytest.raises(ValueError, match=r"\['fr'\]"):
        compute_concepts(vectors, forms, {("en", "fr"): {}}, options=ConceptOptions(k=K))
    with pytest.raises(ConfigError, match="fewer than k"):
        compute_concepts(vectors, forms, {("en", "de"): {}}, options=ConceptOptions(k=1000))
    with pytest.raises(ValueError, match="3 distinct layer"):
        compute_concepts(vectors, forms, {("en", "de"): {}}, layers=[0, 1], options=ConceptOptions(k=K))
    with pytest.raises(ValueError, match="forms"):
        compute_concepts(vectors, {"en": forms["en"][:-1], "de": forms["de"]}, {("en", "de"): {}},
                         options=ConceptOptions(k=K))
    with pytest.raises(ConfigError, match="at least two languages"):
        compute_concepts(vectors, forms, {}, colap_sets=[["en", "en"]], options=options)


@pytest.mark.parametrize("bad, match", [
    ({"k": 0}, "greater than or equal to 1"), ({"theta_a": 0}, "greater than 0"), ({"theta_o": 1.5}, "less than"),
    ({"size_tolerance": -0.1}, "greater than or equal to 0"), ({"backend": "kmeans"}, "'auto'"),
    ({"colap_by": "words"}, "'tokens'"), ({"max_per_type": 0}, "greater than or equal to 1"),
])
def test_options_are_checked_once(bad, match):
    with pytest.raises(ValidationError, match=match):
        ConceptOptions(**bad)
    with pytest.raises(ValidationError, match="frozen"):
        ConceptOptions().k = 3

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


# Controls, seeds, the held-out variant, readings and sweeps (issue 15).

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from crossling.concepts import HeldOut, calign, colap, merge_results  # noqa: E402
from crossling.exceptions import DegenerateInputWarning  # noqa: E402

from .concepts_data import K_SENT, N_SENT, PER_SENT, sentence_bound_inputs  # noqa: E402


def test_concepts_that_are_sentence_blocks_score_like_the_sentence_baseline(bound_result):
    """Layer 0's concepts are the baseline's blocks of two sentences: both align fully, the random baseline not."""
    table = bound_result.calign.set_index(["layer", "direction"])
    row = table.loc[(0, "en-de")]
    assert (row["calign_percent"], row["sentence_baseline_percent"], row["random_baseline_percent"]) == (
        100.0, 100.0, 0.0)
    # A concept holds two sentences of 6 tokens each: half its tokens come from its top sentence, and every
    # aligned pair has the same top sentence in both languages (the lower id of the two tied ones).
    assert row["boundness"] == pytest.approx(0.5) and row["aligned_same_sentence"] == row["n_aligned"] == K_SENT
    colap_row = bound_result.colap.set_index("layer").loc[0]
    assert (colap_row["colap_percent"], colap_row["sentence_baseline_percent"]) == (100.0, 100.0)
    assert colap_row["overlapping_same_sentence"] == K_SENT and colap_row["boundness"] == pytest.approx(0.5)
    # The baselines do not depend on the layer (same tokens, same dictionary).
    assert table.loc[(1, "en-de"), "sentence_baseline_percent"] == 100.0


def test_the_held_out_variant_removes_same_sentence_evidence(bound_result):
    """With the dictionary from the odd sentences and the concepts from the even ones, no word has a
    translation: the held-out CALIGN and its sentence baseline fall to 0."""
    row = bound_result.calign.set_index(["layer", "direction"]).loc[(0, "en-de")]
    assert (row["heldout_calign_percent"], row["heldout_sentence_baseline_percent"]) == (0.0, 0.0)
    assert bound_result.heldout_k == K_SENT // 2 and row["heldout_n_eligible"] == K_SENT // 2
    held = bound_result.clusterings[bound_result.clusterings["variant"] == "heldout"]
    assert set(held["k"]) == {K_SENT // 2} and set(held["n_tokens"]) == {N_SENT // 2 * PER_SENT}


def test_seed_rows_and_their_summary(bound_result):
    seeds = bound_result.calign_seeds
    assert bound_result.seeds == [0, 1, 2] and set(seeds["seed"]) == {0, 1, 2}
    assert set(seeds["variant"]) == {"all", "heldout"}
    main = seeds[seeds["variant"] == "all"]
    means = main.groupby(["layer", "direction"], sort=False)["calign_percent"].agg(["mean", "min", "max", "std"])
    summary = bound_result.calign.set_index(["layer", "direction"])
    for key, row in means.iterrows():
        assert summary.loc[key, "calign_percent"] == pytest.approx(row["mean"])
        assert (summary.loc[key, "calign_percent_min"], summary.loc[key, "calign_percent_max"]) == (row["min"],
                                                                                                    row["max"])
    assert (bound_result.calign["n_seeds"] == 3).all() and (bound_result.colap["n_seeds"] == 3).all()
    # Layer 1 is noise: CALIGN there is far below layer 0's.
    assert summary.loc[(1, "en-de"), "calign_percent"] < 50


def test_the_same_options_give_the_same_tables():
    vectors, forms, sentences, dictionaries = sentence_bound_inputs()
    options = ConceptOptions(k=K_SENT, backend="faiss", n_seeds=2, seed=4)
    a = compute_concepts(vectors, forms, dictionaries, sentences=sentences, options=options)
    b = compute_concepts(vectors, forms, dictionaries, sentences=sentences, options=options)
    pd.testing.assert_frame_equal(a.calign_seeds, b.calign_seeds)
    pd.testing.assert_frame_equal(a.colap_seeds, b.colap_seeds)
    assert a.seeds == [4, 5]


def test_sweeps_at_the_run_settings_repeat_the_run(bound_result):
    sweeps = bound_result.sweeps
    main = bound_result.calign_seeds[bound_result.calign_seeds["variant"] == "all"].set_index(
        ["layer", "direction", "seed"])["calign_percent"]
    at = sweeps[(sweeps["parameter"] == "theta_a") & (sweeps["value"] == 0.8)]
    for row in at.itertuples():
        assert row.percent == main[row.layer, row.label, row.seed]
    colaps = bound_result.colap_seeds.set_index(["layer", "languages", "seed"])["colap_percent"]
    for row in sweeps[sweeps["parameter"] == "theta_o"].itertuples():
        assert row.percent == colaps[row.layer, row.label, row.seed]
    # K is swept on the first seed only, with the run's own clustering settings: K_SENT repeats seed 0.
    k_rows = sweeps[sweeps["parameter"] == "k"]
    assert set(k_rows["seed"]) == {0}
    for row in k_rows[k_rows["measure"] == "calign"].itertuples():
        assert row.percent == main[row.layer, row.label, 0]
    # A looser theta_A never aligns fewer concepts.
    loose = sweeps[(sweeps["parameter"] == "theta_a") & (sweeps["value"] == 0.5)].set_index(["layer", "label", "seed"])
    assert all(loose.loc[(r.layer, r.label, r.seed), "percent"] >= r.percent for r in at.itertuples())


def test_aligned_only_filters_the_calign_clusterings_but_not_colap():
    vectors, forms, sentences, dictionaries = sentence_bound_inputs()
    keep = {"en": np.arange(forms["en"].size) % 2 == 0}  # half the English tokens
    res = compute_concepts(vectors, forms, dictionaries, keep=keep, sentences=sentences,
                           options=ConceptOptions(k=4, backend="sklearn", n_seeds=1))
    tokens = res.clusterings.set_index(["layer", "clustering"])["n_tokens"]
    assert tokens[0, "en"] == forms["en"].size // 2 and tokens[0, "de"] == forms["de"].size
    assert tokens[0, "en-de"] == forms["en"].size + forms["de"].size  # every token in the joint clustering
    assert res.token_filter == ["en"]


def test_colap_all_languages_reading():
    """min_languages "all": every language of the set must reach theta_O; here 2 of 3 do in each concept."""
    vectors, forms, sentences, _ = sentence_bound_inputs()
    vectors["fr"] = vectors["de"][:, : 2 * PER_SENT * 2]  # French tokens only in the first two blocks
    forms["fr"] = np.array([f"f{i}" for i in range(2 * PER_SENT * 2)], dtype=object)
    sets = [["en", "de", "fr"]]
    two = compute_concepts(vectors, forms, {}, colap_sets=sets, options=ConceptOptions(k=K_SENT, n_seeds=1,
                                                                                        theta_o=0.2))
    every = compute_concepts(vectors, forms, {}, colap_sets=sets,
                             options=ConceptOptions(k=K_SENT, n_seeds=1, theta_o=0.2, colap_min_languages="all"))
    joint = two.concepts[0, "en-de-fr"]
    expected = colap(joint.labels, joint.languages, theta_o=0.2, min_languages=3).n_overlapping
    assert every.colap.set_index("layer").loc[0, "n_overlapping"] == expected
    assert two.colap.set_index("layer").loc[0, "n_overlapping"] > expected


def test_k_close_to_the_tokens_warns_and_per_seed_inputs_are_checked():
    vectors, forms, sentences, dictionaries = sentence_bound_inputs()
    with pytest.warns(DegenerateInputWarning, match="1.2 per concept"):
        compute_concepts(vectors, forms, dictionaries, options=ConceptOptions(k=80, n_seeds=1))
    with pytest.raises(ConfigError, match="got 2 dictionaries for 3 seeds"):
        compute_concepts(vectors, forms, [dictionaries, dictionaries], options=ConceptOptions(k=K_SENT))
    with pytest.raises(ConfigError, match="needs the sentence"):
        compute_concepts(vectors, forms, dictionaries, heldout=[HeldOut(np.arange(4), dictionaries)],
                         options=ConceptOptions(k=K_SENT, n_seeds=1))


def test_per_seed_dictionaries_are_used_seed_by_seed():
    """Seed 1 gets a dictionary that translates nothing: its CALIGN is 0, seed 0's is 100."""
    vectors, forms, sentences, dictionaries = sentence_bound_inputs()
    empty = {d: {} for d in dictionaries}
    res = compute_concepts(vectors, forms, [dictionaries, empty], sentences=sentences, layers=[0, 1],
                           options=ConceptOptions(k=K_SENT, backend="sklearn", n_seeds=2))
    rows = res.calign_seeds.set_index(["layer", "direction", "seed"])
    assert rows.loc[(0, "en-de", 0), "calign_percent"] == 100.0 and rows.loc[(0, "en-de", 1), "calign_percent"] == 0
    # The first seed's concepts and alignments are kept for the listings and examples.
    assert res.alignments[0, "en", "de"].calign_percent == 100.0
    assert calign(res.concepts[0, "en"].types("en"), res.concepts[0, "de"].types("de"),
                  dictionaries["en", "de"]).calign_percent == 100.0


def test_two_models_in_one_result(bound_result):
    other = compute_concepts(*sentence_bound_inputs(seed=1)[:2], sentence_bound_inputs()[3],
                             sentences=sentence_bound_inputs()[2], model="base",
                             options=ConceptOptions(k=K_SENT, backend="sklearn", n_seeds=3))
    with pytest.raises(ValueError, match="same layers"):
        merge_results([bound_result, compute_concepts(*sentence_bound_inputs()[:2], sentence_bound_inputs()[3],
                                                      layers=[3, 4], model="other",
                                                      options=ConceptOptions(k=K_SENT, n_seeds=1))])
    both = merge_results([bound_result, other])
    assert both.models == ["model", "base"] and set(both.calign["model"]) == {"model", "base"}
    assert list(both.summary().columns) == ["layer", "calign_percent en-de", "calign_percent de-en",
                                            "calign_percent en-de (base)", "calign_percent de-en (base)",
                                            "colap_percent en-de", "colap_percent en-de (base)"]
    with pytest.raises(ValueError, match="repeat"):
        merge_results([bound_result, bound_result])


def test_the_denominator_reading_chooses_the_summary_value(bound_result):
    vectors, forms, sentences, dictionaries = sentence_bound_inputs()
    over_k = compute_concepts(vectors, forms, dictionaries, sentences=sentences,
                              options=ConceptOptions(k=K_SENT, backend="sklearn", n_seeds=1,
                                                     calign_denominator="k"))
    summary = over_k.summary().set_index("layer")
    assert summary["calign_percent en-de"].tolist() == over_k.calign.set_index("layer").loc[
        over_k.calign.set_index("layer")["direction"] == "en-de", "calign_k_percent"].tolist()

"""The joint-factorization study pipeline: words, alignment, Omega, fits, tables, trees, figures, provenance.

End to end on tiny random models (one multilingual E, two monolingual controls, one of them shared by two
languages) over real UD treebanks for en, de and es, with the known answer of a control model equal to the
experimental one (Omega is then a covariance matrix); the configuration, romanisation and the command line.
The model-free pieces are tested beside their modules (test_crosscov, test_signatures, test_study).
"""

from __future__ import annotations

import json
import shutil
import unicodedata
import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import yaml
from pydantic import ValidationError
from scipy.spatial.distance import cosine
from tiny_models import build_tiny
from typer.testing import CliRunner

from crossling.data.corpus import Corpus, corpus_checksum, load_corpus
from crossling.data.unimorph import unimorph_features
from crossling.exceptions import CategorySkippedWarning, ConfigError
from crossling.extraction.store import VectorStore
from crossling.factorization import (
    ALL_WORDS,
    AVERAGE,
    CATEGORIES,
    FactorizationConfig,
    align_words,
    category_words,
    cross_covariances,
    fit_signatures,
    run_factorization,
    study_sentences,
)
from crossling.factorization.crosscov import surface_sentence
from crossling.factorization.diagnostics import diagnostics_sentence
from crossling.stats import mann_kendall

LANGUAGES = ["en", "de", "es"]
LIMIT = 50
MIN_WORDS = 40
# Number and Tense: every language; Gender: en has too few words; Case: only de has enough (a category
# needs two languages); Aspect: no language has enough; All words: every word.
CATEGORY_SELECTION = ["Number", "Tense", "Gender", "Case", "Aspect", ALL_WORDS]
TABLES = ["signatures", "average_signatures", "fits", "skipped", "trends", "properties", "property_correlations",
          "variance_tests", "distances", "trees", "word_counts", "signature_spread", "data_size_correlations",
          "mean_correlations", "set_signatures"]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    e = build_tiny("xlmr", root / "e", seed=0)
    c1 = build_tiny("bert", root / "c1", seed=1)
    c2 = build_tiny("bert", root / "c2", seed=2)
    return {"experimental": str(e), "control": {"en": str(c1), "de": str(c2), "es": str(c1)}}


@pytest.fixture(scope="module")
def stores_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("stores")


def _config(models, stores_dir, data_dir, out, **overrides) -> FactorizationConfig:
    settings = dict(experimental=models["experimental"], control=models["control"], languages=LANGUAGES,
                    corpus=f"ud:{data_dir / 'ud' / 'treebanks'}", split="test", limit=LIMIT,
                    categories=CATEGORY_SELECTION, min_words=MIN_WORDS, rank=8, n_iter_max=30, n_starts=1,
                    n_permutations=199,
                    chunk_size=64, store_dir=stores_dir, out=out)
    settings.update(overrides)
    return FactorizationConfig(**settings)


@pytest.fixture(scope="module")
def study(models, stores_dir, data_dir, tmp_path_factory):
    config = _config(models, stores_dir, data_dir, tmp_path_factory.mktemp("study"))
    with pytest.warns(CategorySkippedWarning, match="left out"):
        run = run_factorization(config, progress=False)
    return config, run


@pytest.fixture(scope="module")
def sentences(data_dir):
    corpus = load_corpus(f"ud:{data_dir / 'ud' / 'treebanks'}", LANGUAGES, split="test")
    return {lang: corpus[lang][:LIMIT] for lang in LANGUAGES}


def _stores(run) -> dict[str, dict[str, VectorStore]]:
    """The stores a run read, reopened from its manifest: role -> language -> store."""
    stores: dict[str, dict[str, VectorStore]] = {"experimental": {}, "control": {}}
    for name, info in run.manifest["stores"].items():
        role, lang = name.split("/")
        stores[role][lang] = VectorStore(info["path"])
    return stores


def _carries(word, category) -> bool:
    """Independently: "All words" are those with a part of speech (not PUNCT, SYM, X), else the UniMorph label."""
    if category == ALL_WORDS:
        return word.upos not in {"PUNCT", "SYM", "X"}
    return category in unimorph_features(word.upos, word.feats)


def _aligned_counts(sentences, stores) -> dict[tuple[str, str], int]:
    """Independently: words carrying each category (unimorph_features) that have a vector in both stores."""
    counts = {}
    for lang in LANGUAGES:
        present = [set(zip(stores[role][lang].meta["sentence_index"], stores[role][lang].meta["word_index"]))
                   for role in ("experimental", "control")]
        both = present[0] & present[1]
        for category in CATEGORY_SELECTION:
            words = {(i, j) for i, s in enumerate(sentences[lang]) for j, w in enumerate(s.words)
                     if _carries(w, category)}
            counts[category, lang] = len(words & both)
    return counts


def _numpy_omega(stores, sentences, category, layer, lang) -> np.ndarray:
    """Omega = Zc^T Yc / m from the stores' vectors, rows matched through the metadata tables."""
    e_store, c_store = stores["experimental"][lang], stores["control"][lang]
    words = pd.DataFrame([(i, j) for i, s in enumerate(sentences[lang]) for j, w in enumerate(s.words)
                          if _carries(w, category)],
                         columns=["sentence_index", "word_index"])
    e_meta = e_store.meta[["sentence_index", "word_index"]].reset_index(names="row_e")
    c_meta = c_store.meta[["sentence_index", "word_index"]].reset_index(names="row_c")
    rows = words.merge(e_meta, on=["sentence_index", "word_index"]).merge(c_meta, on=["sentence_index", "word_index"])
    Z = np.asarray(c_store.vectors(layer), dtype=np.float64)[rows["row_c"].to_numpy()]
    Y = np.asarray(e_store.vectors(layer), dtype=np.float64)[rows["row_e"].to_numpy()]
    Z, Y = Z - Z.mean(axis=0), Y - Y.mean(axis=0)
    return Z.T @ Y / len(rows)


# ------------------------------------------------------------------------------------------------
# End to end


@pytest.mark.slow
def test_skipped_languages_are_recorded_with_counts(study, sentences):
    config, run = study
    result = run.result
    counts = _aligned_counts(sentences, _stores(run))
    skipped = result.skipped.set_index(["category", "language"])
    fitted = set(zip(result.average_signatures["category"], result.average_signatures["language"]))
    for (category, lang), n in counts.items():
        if n < MIN_WORDS:
            assert skipped.at[(category, lang), "n_words"] == n
            assert f"fewer than min_words={MIN_WORDS}" in skipped.at[(category, lang), "reason"]
        # every (category, language) is either fitted or recorded as skipped, never both
        assert ((category, lang) in fitted) != ((category, lang) in skipped.index)
    # the scenarios this data set was chosen for
    assert result.categories == ("Number", "Tense", "Gender", ALL_WORDS)
    assert "at least 2 languages" in skipped.at[("Case", "de"), "reason"]
    assert set(result.skipped.loc[result.skipped["category"] == "Aspect", "language"]) == set(LANGUAGES)
    assert "without a vector" in skipped.at[("Case", "es"), "reason"]  # labelled 41, aligned fewer
    assert list(result.average_signatures.query("category == 'Gender'")["language"].unique()) == ["de", "es"]
    # n_words of the kept languages is the independent count
    for row in result.average_signatures.itertuples():
        assert row.n_words == counts[row.category, row.language]
    recorded = [{key: entry[key] for key in ("category", "language", "n_words", "reason")}
                for entry in run.manifest["skipped"] if entry["what"] == "language"]
    assert recorded == result.skipped.to_dict(orient="records")
    # beside the languages, only the words extraction left without a vector, as each store counted them
    words: dict[str, int] = {}
    for entry in run.manifest["skipped"]:
        if entry["what"] != "language":
            words[entry["store"]] = words.get(entry["store"], 0) + entry["count"]
    assert {entry["what"] for entry in run.manifest["skipped"]} == {"language", "word"}
    assert words == {name: info["words_without_vector"] for name, info in run.manifest["stores"].items()
                     if info["words_without_vector"]}


@pytest.mark.slow
def test_omega_equals_numpy_on_the_stored_vectors(study, sentences):
    _, run = study
    stores = _stores(run)
    lang, category, layer = "de", "Number", 1
    aligned = align_words(category_words(sentences[lang], CATEGORY_SELECTION), stores["experimental"][lang].meta,
                          stores["control"][lang].meta)
    for chunk_size in (64, 7, 100_000):  # streaming over chunks merges exactly
        omega = cross_covariances(stores["control"][lang].vectors(layer), stores["experimental"][lang].vectors(layer),
                                  aligned, categories=[category], chunk_size=chunk_size)[category]
        expected = _numpy_omega(stores, sentences, category, layer, lang)
        assert omega.shape == (32, 32)
        np.testing.assert_allclose(omega, expected, rtol=0, atol=1e-10)
        assert np.abs(expected).max() > 1e-3  # not trivially zero


@pytest.mark.slow
def test_signatures_are_the_fit_of_the_numpy_omegas_in_language_order(study, sentences):
    config, run = study
    result, stores = run.result, _stores(run)
    for category, layer in (("Number", 2), ("Gender", 0)):
        langs = result.fits.set_index(["category", "layer"]).at[(category, layer), "languages"].split(",")
        # reversed dict order: the language column, not the position, must carry the signature
        omegas = {lang: _numpy_omega(stores, sentences, category, layer, lang) for lang in reversed(langs)}
        fit = fit_signatures({lang: omegas[lang] for lang in langs}, rank=8, n_iter_max=30, n_starts=1, seed=0)
        table = result.signatures.query("category == @category and layer == @layer")
        for i, lang in enumerate(langs):
            values = table[table["language"] == lang].sort_values("component")["value"].to_numpy()
            np.testing.assert_allclose(values, fit.S[i], rtol=0, atol=1e-10)


@pytest.mark.slow
def test_tables_shapes_and_values(study):
    config, run = study
    result = run.result
    fits = result.fits
    assert len(fits) == 4 * 3 and set(fits["layer"]) == {0, 1, 2}
    assert (fits["rank"] == 8).all() and (fits["relative_error"].between(0, 1)).all()
    assert fits.set_index(["category", "layer"]).at[("Number", 0), "languages"] == "en,de,es"
    assert (fits["spread"] == 0).all()  # one start
    sig = result.signatures
    assert len(sig) == sum(fits["n_languages"]) * 8 and (sig["value"] >= 0).all()
    # average signature = mean over components, recomputed from the signature table
    mean = sig.groupby(["category", "layer", "language"])["value"].mean()
    avg = result.average_signatures.set_index(["category", "layer", "language"])["value"]
    np.testing.assert_allclose(avg.sort_index().to_numpy(), mean.sort_index().to_numpy(), rtol=1e-12)
    # trends: one Mann-Kendall test per (category, language) over the three layers
    trends = result.trends.set_index(["category", "language"])
    assert len(trends) == len(result.average_signatures) // 3
    series = result.average_signatures.query("category == 'Number' and language == 'es'").sort_values("layer")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = mann_kendall(series["value"].to_numpy(), positions=series["layer"].to_numpy())
    assert trends.at[("Number", "es"), "statistic"] == expected.statistic
    assert trends["qvalue"].notna().all()
    # variance test: diverse set covered by en and es, Germanic by en and de; Romance and Slavic absent. Each
    # set is fitted on its own (the paper's way); en is left out of Gender, whose diverse set then has one
    # language: no per-set fit and no test there.
    variance = result.variance_tests
    assert set(variance["related_set"]) == {"Germanic"} and set(variance["signatures"]) == {"per set"}
    assert set(variance["diverse_languages"]) == {"en,es"} and "Gender" not in set(variance["category"])
    row = variance.query("category == 'Number' and layer == 1").iloc[0]
    sets = result.set_signatures.query("category == 'Number' and layer == 1").set_index(["set", "language"])["value"]
    expected = np.var(sets["diverse"][["en", "es"]], ddof=1) / np.var(sets["Germanic"][["en", "de"]], ddof=1)
    assert row["statistic"] == pytest.approx(expected) and row["f_statistic"] == pytest.approx(expected)
    assert row["alternative"] == "two-sided"
    assert result.downstream_correlations is None and "downstream_correlations" in result.skipped_analyses


@pytest.mark.slow
def test_properties_come_from_the_same_ud_data(study, sentences):
    result = study[1].result
    props = result.properties.set_index(["language", "property"])
    for lang in LANGUAGES:
        lemmas = [w.lemma for s in sentences[lang] for w in s.words]
        assert props.at[(lang, "type_token_ratio"), "value"] == pytest.approx(len(set(lemmas)) / len(lemmas))
        assert props.at[(lang, "type_token_ratio"), "source"].endswith(", lemmas")
        # the tiny models have no pre-training record: characters are counted on the analysed corpus
        assert props.at[(lang, "distinct_chars_99.9"), "source"].startswith("analysed corpus ud:")
    assert set(result.properties["property"]) == {"distinct_chars_99.9", "type_token_ratio"}  # no data size
    corr = result.property_correlations.merge(result.fits[["category", "layer", "n_languages"]])
    assert len(corr) == len(result.fits) * 2 and (corr["n"] == corr["n_languages"]).all()
    # data size is per language and category: the words of the slice (Zhao, Ziser and Cohen 2023, Fig. 3)
    row = result.data_size_correlations.query("category == 'Tense' and layer == 2").iloc[0]
    tense = result.average_signatures.query("category == 'Tense' and layer == 2")
    assert row["statistic"] == pytest.approx(np.corrcoef(tense["value"], tense["n_words"])[0, 1], abs=1e-12)
    counts = result.word_counts.set_index("category")
    for r in tense.itertuples():
        assert counts.at["Tense", r.language] == r.n_words


@pytest.mark.slow
def test_distances_trees_and_taxonomy(study):
    config, run = study
    result, out = run.result, run.out
    dist = result.distances.set_index(["category", "layer", "language_a", "language_b"])["distance"]
    sig = result.signatures.query("category == 'Number' and layer == 1")
    s = {lang: g.sort_values("component")["value"].to_numpy() for lang, g in sig.groupby("language")}
    assert dist["Number", 1, "en", "de"] == pytest.approx(cosine(s["en"], s["de"]), abs=1e-12)
    # average over the UniMorph categories (All words excluded); en is missing from Gender: distance 1 there
    for a, b in (("en", "de"), ("de", "es")):
        parts = [dist["Number", 1, a, b], dist["Tense", 1, a, b],
                 dist["Gender", 1, a, b] if a != "en" else 1.0]
        assert dist[AVERAGE, 1, a, b] == pytest.approx(np.mean(parts), abs=1e-12)
    trees = result.trees.set_index(["category", "layer"])
    assert len(trees) == len(result.fits) + 3
    for layer in (0, 1, 2):
        newick = (out / "trees" / f"average_layer_{layer:02d}.nwk").read_text().strip()
        assert newick == trees.at[(AVERAGE, layer), "newick"] and newick.endswith(";")
        assert all(lang in newick for lang in LANGUAGES)
    # en and de share a genus, es is Romance: taxonomy distances (0, 0.5, 0.5); a 3-leaf tree's cophenetic
    # correlation with it is +1 when en and de merge first and -0.5 otherwise
    for (category, layer), row in trees.iterrows():
        if row["n_languages"] == 3:
            first = result.upgma_trees[category, layer].linkage[0, :2].astype(int)
            pair = {row["languages"].split(",")[i] for i in first}
            assert row["cophenetic_r"] == pytest.approx(1.0 if pair == {"en", "de"} else -0.5)
            assert 0 < row["pvalue"] <= 1 and row["n_permutations"] == 199
        else:
            assert "fewer than 3 languages" in row["note"]


@pytest.mark.slow
def test_figures_files_manifest_and_config(study, models):
    config, run = study
    result, out, stores = run.result, run.out, _stores(run)
    for name in TABLES:
        assert (out / f"{name}.parquet").is_file() and (out / f"{name}.csv").is_file()
    pd.testing.assert_frame_equal(pd.read_parquet(out / "fits.parquet"), result.fits)
    expected = {f"figures/violins/{c}.png" for c in ("number", "tense", "gender", "all_words")}
    expected |= {f"figures/distances/{c}.png" for c in ("number", "tense", "gender", "all_words", "average")}
    expected |= {f"figures/dendrograms/{c}_layer_{layer:02d}.png" for c in ("average", "all_words")
                 for layer in (0, 1, 2)}
    expected |= {f"figures/correlations/{p}.png" for p in ("data_size", "distinct_chars_99.9", "type_token_ratio")}
    expected |= {"figures/mean_correlations/properties.png"}
    assert set(run.manifest["figures"]) == expected
    assert {path for path in run.files if path.suffix == ".png"} == {out / name for name in expected}
    for path in (out / name for name in expected):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["languages"] == LANGUAGES and manifest["layers"] == [0, 1, 2]
    fingerprint = stores["experimental"]["en"].manifest["model"]["fingerprint"]
    assert manifest["models"]["experimental"]["fingerprint"] == fingerprint
    assert manifest["models"]["control"]["en"]["model"] == models["control"]["en"]
    for lang in LANGUAGES:
        assert manifest["stores"][f"control/{lang}"]["key"] == stores["control"][lang].manifest["key"]
        assert manifest["corpus"]["checksums"][lang] == stores["experimental"][lang].manifest["corpus_checksum"]
    assert manifest["parafac2"]["n_fits"] == 12 and manifest["parafac2"]["rank"] == 8
    assert manifest["parafac2"]["n_converged"] == int(result.fits["converged"].sum())
    fits = result.fits
    # the fit's settings and its diagnostics (issue 13)
    assert manifest["parafac2"]["preset"] == "default" and manifest["parafac2"]["orthonormal_v"] is True
    settings = ("init", "acceleration", "n_inner", "n_starts", "n_iter_max")
    assert {key: manifest["parafac2"][key] for key in settings} == {
        "init": "svd", "acceleration": "momentum", "n_inner": 5, "n_starts": 1, "n_iter_max": 30}
    assert manifest["parafac2"]["n_degenerate"] == int(result.fits["degenerate"].sum())
    assert manifest["parafac2"]["n_unstable"] == int(result.fits["unstable"].sum())
    diagnostics = manifest["diagnostics"]
    assert diagnostics["starts_disagree"] == [[row.category, row.layer] for row in result.fits.itertuples()
                                              if row.starts_disagree]
    assert diagnostics["min_congruence"] == pytest.approx(result.fits["min_congruence"].min())
    assert {"min_congruence", "core_consistency", "signature_growth", "starts_at_best", "start_spearman",
            "start_spread", "degenerate", "growing", "starts_disagree", "unstable", "problems"} <= set(fits.columns)
    report = json.loads((out / "report.json").read_text())
    assert report["summary"].count(diagnostics_sentence(fits)) == 1
    assert manifest["fitted_categories"]["Gender"] == ["de", "es"]
    # how the words were made, where the properties come from, what the report warns of
    assert manifest["corpus"]["all_words"].startswith("part-of-speech-bearing words (not PUNCT, SYM, X)")
    assert manifest["corpus"]["multiword"].startswith("syntactic words") and manifest["corpus"]["segmentation"] is None
    assert manifest["corpus"]["romanization"]["analysis"] == [] and manifest["caveats"] == []
    assert manifest["model_quality"] == []  # the tiny models have no pre-training record
    assert manifest["property_sources"]["de/type_token_ratio"].endswith("lemmas")
    summary = json.loads((out / "report.json").read_text())["summary"]
    assert f"{len(result.not_converged)} of 12 fits stopped at the iteration budget" in summary
    assert "Trends over layers significant after Benjamini-Hochberg correction" in summary
    assert set(manifest["versions"]) >= {"numpy", "torch", "transformers", "crossling"}
    resolved = FactorizationConfig.resolve(out / "config.yaml")
    assert resolved == config


@pytest.mark.slow
def test_control_equal_to_experimental_gives_covariances(models, stores_dir, data_dir, tmp_path, study, sentences):
    """Known answer: with C_l = E, Omega_l = Y^T Y / m is the covariance of E's vectors (symmetric PSD)."""
    first = _stores(study[1])
    e = models["experimental"]
    config = _config(models, stores_dir, data_dir, tmp_path / "out", control={lang: e for lang in LANGUAGES},
                     languages=["de", "es"], categories=["Number", ALL_WORDS], layers=[2, 0], rank=4, figures=False)
    run = run_factorization(config, progress=False)
    result, stores = run.result, _stores(run)
    assert run.manifest["layers"] == [0, 2]  # analysed in ascending order whatever the order asked
    # two languages cover neither the diverse set nor a related set: the variance test is skipped, with the reason
    assert result.variance_tests is None and not (run.out / "variance_tests.csv").exists()
    assert "1 language(s) of the diverse set" in result.skipped_analyses["variance_tests"]
    assert run.manifest["skipped_analyses"]["variance_tests"] == result.skipped_analyses["variance_tests"]
    assert (result.trees["note"] == "fewer than 3 languages: no agreement test").all()
    for lang in ["de", "es"]:
        store = stores["experimental"][lang]
        # one forward pass: the control store is the experimental one, reused from the first study's cache
        assert stores["control"][lang].path == store.path == first["experimental"][lang].path
        aligned = align_words(category_words(sentences[lang], ["Number", ALL_WORDS], all_words="every"), store.meta,
                              store.meta)
        assert aligned.n_words(ALL_WORDS) == store.n_rows
        for layer in (0, 2):
            omegas = cross_covariances(store.vectors(layer), store.vectors(layer), aligned)
            Y = np.asarray(store.vectors(layer), dtype=np.float64)
            omega = omegas[ALL_WORDS]
            np.testing.assert_allclose(omega, omega.T, rtol=0, atol=1e-12)
            np.testing.assert_allclose(omega, np.cov(Y, rowvar=False, bias=True), rtol=0, atol=1e-10)
            assert np.linalg.eigvalsh(omega).min() > -1e-10
            assert np.trace(omega) == pytest.approx(Y.var(axis=0).sum(), rel=1e-10)
            number = omegas["Number"]
            assert np.linalg.eigvalsh((number + number.T) / 2).min() > -1e-10
            np.testing.assert_allclose(number, number.T, rtol=0, atol=1e-12)
    assert list(result.fits["layer"].unique()) == [0, 2] and not run.manifest["figures"]


# ------------------------------------------------------------------------------------------------
# Configuration, errors, romanisation, command line


def test_config_parses_and_validates(tmp_path):
    base = dict(experimental="e", corpus=f"ud:{tmp_path}", out=tmp_path / "out")
    config = FactorizationConfig(**base, control=["en=m1", "de = m2"], categories="Number,Part of Speech",
                                 layers="0,-1", romanize="")
    assert config.control == {"en": "m1", "de": "m2"} and config.categories == ["Number", "Part of Speech"]
    assert config.layers == [0, -1] and config.analysed_languages() == ["en", "de"]
    assert FactorizationConfig(**base, control={"en": "m"}, categories="all").analysed_categories() == list(CATEGORIES)
    for bad, match in ((dict(control=["en"]), "LANG=MODEL"), (dict(control=["en=a", "en=b"]), "twice"),
                       (dict(control=["en=a"], categories="Nmber"), "unknown categories"),
                       (dict(control=["en=a"], romanize="ko"), "not supported"),
                       (dict(control=["en=a"], min_words=0), "greater than or equal"),
                       (dict(control=["en=a"], bogus=1), "Extra inputs")):
        with pytest.raises(ValidationError, match=match):
            FactorizationConfig(**base, **bad)
    with pytest.raises(ValueError, match=r"no control model for \['fi'\]"):
        FactorizationConfig(**base, control=["en=a", "de=b"], languages="en,fi").analysed_languages()
    with pytest.raises(ValueError, match="at least 2 languages"):
        FactorizationConfig(**base, control=["en=a"]).analysed_languages()
    with pytest.raises(ValueError, match="romanize"):
        FactorizationConfig(**base, control=["en=a", "de=b"], romanize="zh").analysed_languages()
    # --preset paper: the original study's fit, for the options not given (a flag not given is None)
    flags = dict(base, control=["en=a", "de=b"], preset="paper", orthonormal_v=None, n_starts=None)
    paper = FactorizationConfig.resolve(None, **flags, n_iter_max=None).factorization_options()
    assert paper.n_iter_max == 100 and not paper.orthonormal_v and paper.n_starts == 1 and paper.tol == 1e-8
    assert FactorizationConfig.resolve(None, **flags, n_iter_max=300).n_iter_max == 300


@pytest.mark.slow
def test_control_with_other_number_of_layers_is_an_error(models, stores_dir, data_dir, tmp_path):
    shallow = tmp_path / "shallow"
    shutil.copytree(models["control"]["de"], shallow)
    cfg = json.loads((shallow / "config.json").read_text())
    cfg["num_hidden_layers"] = 1
    (shallow / "config.json").write_text(json.dumps(cfg))
    config = _config(models, stores_dir, data_dir, tmp_path / "out", control={**models["control"], "de": str(shallow)})
    with pytest.raises(ValueError, match=r"2 hidden states but the experimental model .* has 3"):
        run_factorization(config, progress=False)


def test_romanisation_is_word_by_word(data_dir):
    from pypinyin import lazy_pinyin

    original = load_corpus(f"ud:{data_dir / 'ud' / 'treebanks'}", ["zh"], split="test")["zh"][:5]
    romanized = study_sentences(f"ud:{data_dir / 'ud' / 'treebanks'}", ["zh", "en"], split="test", limit=5,
                                romanize=["zh"])
    assert len(romanized["zh"]) == 5 and len(romanized["en"]) == 5
    for before, after in zip(original, romanized["zh"]):
        assert len(after.words) == len(before.words) and after.text is None
        for w0, w1 in zip(before.words, after.words):
            assert w1.form == ("".join(lazy_pinyin(w0.form)) or w0.form)
            assert (w1.upos, w1.feats, w1.id) == (w0.upos, w0.feats, w0.id)
        # no Chinese character left (full-width punctuation has no reading and is kept)
        assert not any(unicodedata.name(ch, "").startswith("CJK UNIFIED") for w in after.words for ch in w.form)
        assert any(unicodedata.name(ch, "").startswith("CJK UNIFIED") for w in before.words for ch in w.form)
    assert romanized["en"][0].text is not None  # other languages untouched
    assert corpus_checksum(romanized["zh"]) != corpus_checksum(original)


@pytest.mark.slow
def test_command_line_from_yaml_and_flags(models, stores_dir, data_dir, tmp_path, study):
    from crossling.cli import app
    runner = CliRunner()
    help_text = runner.invoke(app, ["parafac2", "--help"]).output
    for option in ("--experimental", "--control", "--corpus", "--categories", "--layers", "--rank", "--min-words",
                   "--romanize", "--n-starts", "--seed", "--out", "--config", "--preset", "--orthonormal-v",
                   "--init", "--acceleration", "--n-inner"):
        assert option in help_text
    scores = pd.DataFrame({"language": LANGUAGES * 2, "task": ["xnli"] * 3 + ["pos"] * 3,
                           "score": [80.0, 75.0, 78.0, 95.0, 90.0, 97.0]})
    scores.to_csv(tmp_path / "scores.csv", index=False)
    run = tmp_path / "run.yaml"
    run.write_text(yaml.safe_dump({"corpus": f"ud:{data_dir / 'ud' / 'treebanks'}", "split": "test",
                                   "limit": LIMIT, "store_dir": str(stores_dir), "figures": False, "n_iter_max": 5,
                                   "n_permutations": 9}))
    args = ["parafac2", "--config", str(run), "--experimental", models["experimental"], "--languages", "en,de,es",
            "--categories", "All words", "--layers", "0,2", "--min-words", "10", "--seed", "3",
            "--scores", str(tmp_path / "scores.csv"), "--out", str(tmp_path / "out")]
    for lang in LANGUAGES:
        args += ["--control", f"{lang}={models['control'][lang]}"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "2 fits over 3 languages" in result.output
    resolved = yaml.safe_load((tmp_path / "out" / "config.yaml").read_text())
    assert resolved["control"] == models["control"] and resolved["seed"] == 3 and resolved["layers"] == [0, 2]
    fits = pd.read_csv(tmp_path / "out" / "fits.csv")
    assert (fits["rank"] == 32).all()  # default: full rank min(d, d_l) = 32
    average = pd.read_csv(tmp_path / "out" / "average_signatures.csv").query("layer == 2").set_index("language")
    downstream = pd.read_csv(tmp_path / "out" / "downstream_correlations.csv").set_index(["layer", "task"])
    assert len(downstream) == 2 * 2
    xnli = scores[scores["task"] == "xnli"].set_index("language")["score"]
    expected = np.corrcoef(average.loc[LANGUAGES, "value"], xnli[LANGUAGES])[0, 1]
    assert downstream.at[(2, "xnli"), "statistic"] == pytest.approx(expected, abs=1e-12)
    assert (tmp_path / "out" / "figures").exists() is False  # figures: false in the YAML
    bad = tmp_path / "bad.csv"
    scores.rename(columns={"score": "accuracy"}).to_csv(bad, index=False)
    failed = runner.invoke(app, [*args, "--scores", str(bad)])
    assert failed.exit_code == 2 and "lacks column(s) ['score']" in failed.output


def test_any_corpus_gives_whitespace_words_and_only_all_words(models, stores_dir, data_dir, tmp_path, study, sentences,
                                                              monkeypatch):
    # Known answer: plain text whose whitespace words are the UD forms gives the same words, hence the same
    # Omegas and the same "All words" fit as the UD run of the study fixture.
    assert not any(ch.isspace() for lang in LANGUAGES for s in sentences[lang] for f in s.forms for ch in f)
    text_dir = tmp_path / "text"
    text_dir.mkdir()
    for lang in LANGUAGES:
        (text_dir / f"{lang}.txt").write_text("\n".join(" ".join(s.forms) for s in sentences[lang]) + "\n",
                                              encoding="utf-8")
    config = _config(models, stores_dir, data_dir, tmp_path / "out", corpus=f"text:{text_dir}", categories="all",
                     split="all")
    assert config.analysed_categories() == [ALL_WORDS] and not config.annotated()
    result = run_factorization(config, progress=False).result
    assert result.categories == (ALL_WORDS,)
    ours = result.average_signatures.set_index(["layer", "language"])["value"]
    ud = study[1].result.average_signatures.query("category == @ALL_WORDS").set_index(["layer", "language"])["value"]
    pd.testing.assert_series_equal(ours.sort_index(), ud.sort_index(), rtol=1e-6, atol=1e-9)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["corpus"]["spec"] == f"text:{text_dir}" and manifest["corpus"]["annotated"] is False
    assert manifest["corpus"]["words"] == {lang: sum(len(s.words) for s in sentences[lang]) for lang in LANGUAGES}
    # Sentences without words (LibreOffice Help paragraphs) get their whitespace words; empty ones are dropped.
    bare = [replace(s, words=[], multiword=[]) for s in sentences["en"][:3]]
    bare.insert(1, replace(bare[0], words=[], text="  "))
    monkeypatch.setattr("crossling.data.corpus.load_corpus",
                        lambda spec, languages, split, lenient: Corpus({"en": bare}))
    loaded = study_sentences("lohelp:", ["en"])
    assert [[w.form for w in s.words] for s in loaded["en"]] == [s.text.split() for s in sentences["en"][:3]]
    assert loaded.skipped == [{"what": "sentence", "reason": "no words and no text", "language": "en", "count": 1}]
    assert [s.sent_id for s in loaded["en"]] == [s.sent_id for s in sentences["en"][:3]]
    with pytest.raises(ValidationError, match="no UD annotation"):
        _config(models, stores_dir, data_dir, tmp_path, corpus=f"text:{text_dir}", categories=["Number"])


@pytest.mark.slow
def test_multiword_tokens_read_as_written(models, stores_dir, data_dir, tmp_path, sentences):
    # Spanish AnCora writes "del" = "de" + "el" as a multiword token: with multiword="surface" the models read
    # "del", one token holding the categories of its words (Number from "el").
    config = _config(models, stores_dir, data_dir, tmp_path / "out", languages=["es", "en"],
                     categories=["Number", ALL_WORDS], multiword="surface", layers=[1], figures=False)
    run = run_factorization(config, progress=False)
    spanish = sentences["es"]
    assert sum(len(s.multiword) for s in spanish) > 10
    tokens = [surface_sentence(s) for s in spanish]
    meta = _stores(run)["experimental"]["es"].meta
    assert meta.groupby("sentence_index").size().max() <= max(len(t.words) for t, _ in tokens)
    forms = {tokens[i][0].words[j].form for i, j in zip(meta["sentence_index"], meta["word_index"])}
    assert {"del", "al"} <= forms
    number = {(i, int(token_of[j])) for i, (s, (_, token_of)) in enumerate(zip(spanish, tokens))
              for j, w in enumerate(s.words) if "Number" in unimorph_features(w.upos, w.feats)}
    both = set(zip(meta["sentence_index"], meta["word_index"]))
    average = run.result.average_signatures.query("category == 'Number' and language == 'es'")
    assert (average["n_words"] == len(number & both)).all()
    assert run.manifest["corpus"]["multiword"].startswith("surface tokens")


def test_raw_chinese_text_is_segmented_and_thai_refused(tmp_path):
    folder = tmp_path / "text"
    folder.mkdir()
    (folder / "zh.txt").write_text("我们学习中文。\n", encoding="utf-8")
    (folder / "en.txt").write_text("We learn Chinese.\n", encoding="utf-8")
    loaded = study_sentences(f"text:{folder}", ["zh", "en"])
    assert loaded["zh"][0].forms == ["我们", "学习", "中文", "。"] and loaded["en"][0].forms[0] == "We"
    config = FactorizationConfig(experimental="e", control=["zh=a", "th=b"], corpus=f"text:{folder}",
                                 out=tmp_path / "out")
    with pytest.raises(ConfigError, match=r"\['th'\] are written without spaces"):
        config.analysed_languages()
    ud = FactorizationConfig(experimental="e", control=["zh=a", "th=b"], corpus=f"ud:{folder}", out=tmp_path / "o")
    assert ud.analysed_languages() == ["zh", "th"]  # UD words need no segmenter


@pytest.mark.slow
def test_pretraining_record_gives_characters_and_caveats(models, stores_dir, data_dir, tmp_path):
    # A model folder made by `crossling pretrain` records its training texts' characters and its losses: the
    # distinct characters are those of the pre-training text (Zhao, Ziser and Cohen 2023), and a model that did
    # not beat its unigram baseline is analysed with a caveat in the report.
    experimental = tmp_path / "e"
    shutil.copytree(models["experimental"], experimental)
    corpus = {"characters": {"en": {"characters": 900, "distinct": 80, "coverage": 0.999, "distinct_at_coverage": 77}},
              "romanized": []}
    record = {"val_loss": {"en": 6.2, "de": 4.0, "es": 4.1}, "unigram_loss": {"en": 5.9, "de": 5.8, "es": 5.7},
              "experiment": {"corpus": corpus}}
    (experimental / "training_record.json").write_text(json.dumps(record))
    config = _config(models, stores_dir, data_dir, tmp_path / "out", experimental=str(experimental),
                     categories=[ALL_WORDS], layers=[0, 2], figures=False)
    run = run_factorization(config, progress=False)
    props = run.result.properties.set_index(["language", "property"])
    assert props.at[("en", "distinct_chars_99.9"), "value"] == 77
    assert props.at[("en", "distinct_chars_99.9"), "source"].startswith("pre-training text of")
    assert props.at[("de", "distinct_chars_99.9"), "source"].startswith("analysed corpus")  # not in the record
    caveat = "The experimental model did not beat its unigram baseline on held-out text for en (6.20 against 5.90"
    assert run.manifest["caveats"][0].startswith(caveat)
    assert [row["language"] for row in run.manifest["model_quality"]] == ["en", "de", "es"]
    assert caveat in json.loads((run.out / "report.json").read_text())["summary"]


def test_bundled_downstream_results_and_a_user_table_exclude_each_other(tmp_path):
    scores = tmp_path / "scores.csv"
    scores.write_text("language,task,score\nen,xnli,1\n")
    config = FactorizationConfig(experimental="e", control={"en": "a", "de": "b"}, corpus="text:x",
                                 scores=scores, downstream="xlmr-large", out=tmp_path / "out")
    with pytest.raises(ConfigError, match="not both"):
        run_factorization(config, progress=False)
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match="xlmr-large"):
        FactorizationConfig(experimental="e", control={"en": "a"}, corpus="text:x", downstream="gpt", out="o")

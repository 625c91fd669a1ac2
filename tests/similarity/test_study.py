"""The similarity study end to end: a tiny random model on real Parallel UD, and aligned text files via the CLI.

The table must hold every pair x layer x index once, with n right, and every value must equal a direct
call of the index on the vectors in the stores (which must be the sentences of the corpus, aligned by id).
Known answer: two identical text files give 1 for every index.
"""

from __future__ import annotations

import json
import warnings
from itertools import product
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from tiny_models import CORPUS, build_tiny
from typer.testing import CliRunner

from crossling.cli import app
from crossling.data.corpus import corpus_checksum
from crossling.data.pud import read_pud
from crossling.exceptions import AlignmentError, DegenerateInputWarning
from crossling.extraction.extract import sentence_vectors
from crossling.extraction.store import VectorStore
from crossling.models import load_model
from crossling.report import write_report
from crossling.similarity import anc, cca, linear_cka, pwcca, rbf_cka, retrieval_accuracy, svcca
from crossling.similarity.run import SimilarityConfig, run_similarity
from crossling.similarity.study import INDICES, check_aligned, compute_similarity, parse_pairs

pytestmark = [
    pytest.mark.filterwarnings("ignore:.*truncated:UserWarning"),
]

LANGS, N = ["en", "de", "fr"], 70  # n > 2 d + 1: CCA of the 32-wide tiny model needs no ridge
DIRECT = {  # each index called on the arrays, with the study's default options
    "anc": lambda X, Y: anc(X, Y),
    "cka": lambda X, Y: linear_cka(X, Y),
    "cka_debiased": lambda X, Y: linear_cka(X, Y, debiased=True),
    "cca": lambda X, Y: cca(X, Y),
    "svcca": lambda X, Y: svcca(X, Y, variance=0.99),
    "pwcca": lambda X, Y: pwcca(X, Y),
    "rbf_cka": lambda X, Y: rbf_cka(X, Y, sigma=0.8),
    "matching": lambda X, Y: retrieval_accuracy(X, Y, metric="cosine"),
}


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return build_tiny("xlmr", tmp_path_factory.mktemp("xlmr"))


@pytest.fixture(scope="module")
def pud(data_dir):
    return data_dir / "ud" / "pud"


@pytest.fixture(scope="module")
def study(tiny_dir, pud, tmp_path_factory):
    cfg = SimilarityConfig(model=str(tiny_dir), corpus=f"pud:{pud}", languages=LANGS, limit=N, pairs="all",
                           indices=list(INDICES), chunk_size=7, out=tmp_path_factory.mktemp("similarity"))
    return run_similarity(cfg, progress=False)


@pytest.fixture(scope="module")
def stores(study):
    return {lang: VectorStore(info["path"]) for lang, info in study.manifest["stores"].items()}


def test_table_has_every_pair_layer_and_index_once(study, tiny_dir):
    table = study.result.table
    pairs = ["en-de", "en-fr", "de-fr"]
    expected = set(product([0, 1, 2], pairs, INDICES))
    assert len(table) == len(expected) == 3 * 3 * 8
    assert set(zip(table["layer"], table["pair"], table["index"])) == expected
    assert (table["n"] == N).all() and (table["model"] == Path(tiny_dir).name).all()
    assert (table["pair"] == table["lang_x"] + "-" + table["lang_y"]).all()
    assert (table["note"] == "").all()


def test_values_equal_direct_calls_on_the_stored_vectors(study, stores):
    worst = 0.0
    for row in study.result.table.itertuples(index=False):
        X, Y = stores[row.lang_x].vectors(row.layer), stores[row.lang_y].vectors(row.layer)
        expected = float(DIRECT[row.index](X, Y))
        assert np.isfinite(row.value)
        worst = max(worst, abs(row.value - expected))
    assert worst <= 1e-10


def test_anc_and_cka_equal_textbook_formulas(study, stores):
    X = np.asarray(stores["en"].vectors(2), dtype=np.float64)
    Y = np.asarray(stores["fr"].vectors(2), dtype=np.float64)
    r = [np.corrcoef(X[:, i], Y[:, i])[0, 1] for i in range(X.shape[1])]
    H = np.eye(N) - 1 / N
    K, L = H @ X @ X.T @ H, H @ Y @ Y.T @ H
    gram_cka = np.sum(K * L) / np.sqrt(np.sum(K * K) * np.sum(L * L))
    value = study.result.table.set_index(["layer", "pair", "index"])["value"]
    assert value[2, "en-fr", "anc"] == pytest.approx(np.mean(np.abs(r)), abs=1e-10)
    assert value[2, "en-fr", "cka"] == pytest.approx(gram_cka, abs=1e-10)


def test_stores_hold_the_corpus_sentences_aligned(study, stores, pud, tiny_dir):
    corpus = {lang: sentences[:N] for lang, sentences in read_pud(pud, LANGS).items()}
    ids = [s.sent_id for s in corpus["en"]]
    lm = load_model(tiny_dir)
    for lang in LANGS:
        assert stores[lang].meta["sentence_id"].tolist() == ids
        assert study.manifest["stores"][lang]["corpus_checksum"] == corpus_checksum(corpus[lang])
    direct = sentence_vectors(lm, [s.text for s in corpus["de"]], progress=False)
    for layer in range(3):
        np.testing.assert_allclose(stores["de"].vectors(layer), direct[layer], atol=1e-5)


def test_anc_matrix_and_per_neuron_breakdown(study, stores):
    result = study.result
    assert result.focus_layer == 1  # the middle of layers 0, 1, 2
    matrix = result.anc_matrix
    assert sorted(zip(matrix["lang_x"], matrix["lang_y"])) == sorted([("en", "de"), ("en", "fr"), ("de", "fr")])
    table = study.result.table.set_index(["layer", "pair", "index"])["value"]
    for row in matrix.itertuples(index=False):
        X, Y = stores[row.lang_x].vectors(1), stores[row.lang_y].vectors(1)
        assert row.value == pytest.approx(anc(X, Y).value, abs=1e-12)
        assert row.value == pytest.approx(table[1, f"{row.lang_x}-{row.lang_y}", "anc"], abs=1e-10)
        assert row.layer == 1 and row.n == N
    neurons = result.per_neuron
    assert len(neurons) == 3 * 32 and set(neurons["layer"]) == {1}
    en_de = neurons[neurons["pair"] == "en-de"].sort_values("neuron")["r"].to_numpy()
    np.testing.assert_allclose(en_de, anc(stores["en"].vectors(1), stores["de"].vectors(1)).per_neuron, atol=1e-12)
    assert np.mean(np.abs(en_de)) == pytest.approx(table[1, "en-de", "anc"], abs=1e-10)


def test_files_manifest_and_report(study):
    out = study.out
    back = pd.read_parquet(out / "similarity.parquet")
    pd.testing.assert_frame_equal(back, study.result.table)
    assert len(pd.read_csv(out / "similarity.csv")) == len(study.result.table)
    summary = pd.read_parquet(out / "similarity_summary.parquet")
    assert list(summary["layer"]) == [0, 1, 2]
    means = study.result.table.groupby(["layer", "index"])["value"].mean()
    for index in INDICES:
        np.testing.assert_allclose(summary[index], [means[layer, index] for layer in range(3)], atol=1e-12)
    details = pd.read_parquet(out / "similarity_details.parquet")
    ridge = details[(details["index"] == "cca") & (details["quantity"] == "ridge")]["value"]
    assert len(ridge) == 9 and (ridge == 0).all()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["n"] == N and manifest["languages"] == LANGS and manifest["pairs"] == ["en-de", "en-fr", "de-fr"]
    assert manifest["layers"] == [0, 1, 2] and manifest["indices"]["svcca"]["options"]["svcca_variance"] == 0.99
    assert manifest["models"]["model"]["fingerprint"] and manifest["versions"]["numpy"] == np.__version__
    assert manifest["extraction"]["level"] == "sentence" and manifest["extraction"]["pooling"] == "mean"
    section = json.loads((out / "report.json").read_text())
    files = [f["file"] for f in section["figures"]]
    assert {"figures/overview.png", "figures/anc.png", "figures/anc_matrix.png",
            "figures/per_neuron_anc.png"} <= set(files)
    assert len(files) == len(INDICES) + 3
    for file in files:
        assert (out / file).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert all(f["reading"] for f in section["figures"])
    page = write_report(out).read_text()
    assert "Cross-lingual similarity" in page and page.count("<img") == len(files)


def test_compute_similarity_rejects_bad_requests(stores):
    with pytest.raises(ValueError, match="without vectors"):
        compute_similarity(stores, [("en", "xx")], progress=False)
    with pytest.raises(ValueError, match=r"layers \[7\] out of range"):
        compute_similarity(stores, [("en", "de")], layers=[7], progress=False)
    with pytest.raises(ValueError, match="unknown indices"):
        compute_similarity(stores, [("en", "de")], indices=["anc", "mutual_information"], progress=False)
    last = compute_similarity(stores, [("en", "de")], layers=[-1], indices=["cka"], anc_matrix=False,
                              per_neuron=False, progress=False)
    assert list(last.table["layer"]) == [2] and last.anc_matrix is None and last.focus_layer is None


class _Head:
    """The first k rows of a store (a corpus too small for plain CCA)."""

    def __init__(self, store, k):
        self.store, self.k, self.manifest = store, k, store.manifest
        self.meta = store.meta.head(k)

    def vectors(self, layer):
        return self.store.vectors(layer)[: self.k]


def test_degenerate_input_is_noted_row_by_row(stores):
    few = {lang: _Head(stores[lang], 20) for lang in ("en", "de")}
    with pytest.warns(DegenerateInputWarning, match="2 of 3 index values were computed on degenerate input"):
        result = compute_similarity(few, [("en", "de")], layers=[1], indices=["cka", "cca", "svcca"], progress=False)
    notes = result.table.set_index("index")["note"]
    assert notes["cka"] == "" and "ridge=0.1" in notes["cca"] and "ridge=0.1" in notes["svcca"]
    X, Y = few["en"].vectors(1), few["de"].vectors(1)
    assert result.table.set_index("index")["value"]["cca"] == pytest.approx(cca(X, Y, ridge=0.1).value, abs=1e-10)
    assert (result.table["n"] == 20).all()


def test_parse_pairs():
    langs = ["en", "de", "fr", "zh-Hans"]
    assert parse_pairs("en-*", langs) == [("en", "de"), ("en", "fr"), ("en", "zh-Hans")]
    assert parse_pairs("*-en", langs) == [("de", "en"), ("fr", "en"), ("zh-Hans", "en")]
    assert parse_pairs("all", langs[:3]) == [("en", "de"), ("en", "fr"), ("de", "fr")]
    assert parse_pairs("en-de, fr-zh-Hans,en-de", langs) == [("en", "de"), ("fr", "zh-Hans")]
    assert parse_pairs("en-*,de-fr", langs) == [("en", "de"), ("en", "fr"), ("en", "zh-Hans"), ("de", "fr")]
    with pytest.raises(ValueError, match="'ja' is not among the languages"):
        parse_pairs("ja-*", langs)
    with pytest.raises(ValueError, match="'en-ja' is not two of the languages"):
        parse_pairs("en-ja", langs)
    with pytest.raises(ValueError, match="with itself"):
        parse_pairs("en-en", langs)
    with pytest.raises(ValueError, match="names no language pair"):
        parse_pairs(" , ", langs)
    with pytest.raises(ValueError, match="at least two"):
        parse_pairs("all", ["en"])


def test_config_from_strings_and_yaml(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("model: m\ncorpus: pud:x\nout: o\npairs: [en-de, en-fr]\nindices: anc,matching\n")
    cfg = SimilarityConfig.resolve(path, layers="0,6", languages="en,de,fr")
    assert cfg.pairs == "en-de,en-fr" and cfg.indices == ["anc", "matching"] and cfg.layers == [0, 6]
    assert cfg.languages == ["en", "de", "fr"] and cfg.index_options().svcca_variance == 0.99
    assert SimilarityConfig.resolve(path, layers="all").layers is None
    with pytest.raises(ValueError, match="unknown indices"):
        SimilarityConfig.resolve(path, indices="anc,cka2")


def test_check_aligned_names_the_misaligned_row():
    def fake(ids):
        return SimpleNamespace(meta=pd.DataFrame({"sentence_id": ids}))

    assert check_aligned({"en": fake(["a", "b", "c"]), "de": fake(["a", "b", "c"])}) == 3
    with pytest.raises(AlignmentError, match="row 1 is sentence 'b' in 'en' but 'c' in 'de'"):
        check_aligned({"en": fake(["a", "b", "c"]), "de": fake(["a", "c", "b"])})
    with pytest.raises(AlignmentError, match="'de' has 2 rows but 'en' has 3"):
        check_aligned({"en": fake(["a", "b", "c"]), "de": fake(["a", "b"])})


def _cli():
    """The crossling command line."""
    return app


def test_cli_identical_text_files_give_similarity_one(tmp_path, tiny_dir):
    rng = np.random.default_rng(0)
    words = sorted({w for line in CORPUS for w in line.split()})
    lines = list(dict.fromkeys(" ".join(rng.choice(words, 4)) for _ in range(200)))[:80]
    for lang in ("en", "de"):  # a "translation" identical to the source: every index is exactly 1
        (tmp_path / f"{lang}.txt").write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(_cli(), [
        "similarity", "--model", str(tiny_dir), "--corpus", f"text:{tmp_path}", "--indices", ",".join(INDICES),
        "--layers", "0,2", "--blas-threads", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "mean over pairs per layer" in result.output
    table = pd.read_parquet(out / "similarity.parquet")
    assert len(table) == 2 * len(INDICES) and set(table["pair"]) == {"en-de"} and (table["n"] == 80).all()
    assert (table["note"] == "").all()  # 80 sentences support CCA of 32 + 32 dimensions without a ridge
    np.testing.assert_allclose(table["value"], 1.0, atol=1e-6)


def test_cli_misaligned_text_files_fail_clearly(tmp_path, tiny_dir):
    (tmp_path / "en.txt").write_text("The quick brown fox.\nThe lazy dog.\nA third line.\n")
    (tmp_path / "de.txt").write_text("Der schnelle Fuchs.\nDer faule Hund.\n")
    result = CliRunner().invoke(_cli(), ["similarity", "--model", str(tiny_dir), "--corpus", f"text:{tmp_path}",
                                         "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "Error: parallel files differ in length" in result.output
    assert not (tmp_path / "out").exists()
    assert "differ in length" in result.output and "de.txt" in result.output


def test_every_value_names_its_convention_and_carries_its_null_and_band(study, stores):
    from crossling.similarity.baseline import shuffled_null
    from crossling.similarity.jackknife import jackknife, shard_stats

    table = study.result.table
    definition = table.drop_duplicates("index").set_index("index")["definition"]
    assert definition["cca"] == "mean rho (Raghu et al. 2017)"
    assert definition["pwcca"] == "Morcos et al. 2018 weights" and definition["svcca"].startswith("99% of variance")
    assert definition["matching"] == "top-1 cosine, x->y (Del and Fishel 2022), ties shared"
    finite = table[np.isfinite(table["se"])]
    assert len(finite) == len(table)
    assert ((finite["low"] <= finite["value"]) & (finite["value"] <= finite["high"])).all()
    np.testing.assert_allclose(table.loc[table["index"] == "matching", "null"], 1 / N)
    # one row of each kind against the public functions on the stored vectors
    row = table.set_index(["layer", "pair", "index"]).loc[(1, "en-de")]
    X, Y = stores["en"].vectors(1), stores["de"].vectors(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        band = jackknife(cca, shard_stats(X, Y, 10))
        null = shuffled_null(cca, X, Y, permutations=3, seed=0)
        cka_null = shuffled_null(linear_cka, X, Y, permutations=3, seed=0)
    assert row.loc["cca", "se"] == pytest.approx(band.se, abs=1e-10)
    assert row.loc["cca", "low"] == pytest.approx(band.low, abs=1e-10)
    assert row.loc["cca", "null"] == pytest.approx(null.mean, abs=1e-10)
    assert row.loc["cca", "null_sd"] == pytest.approx(null.sd, abs=1e-10)
    assert row.loc["cka", "null"] == pytest.approx(cka_null.mean, abs=1e-10)
    manifest = study.manifest
    assert manifest["uncertainty"]["jackknife_shards"] == 10 and manifest["seeds"] == {"derangements": 0}
    assert manifest["indices"]["cca"]["definition"] == "mean rho (Raghu et al. 2017)"


def test_conventions_are_options_and_the_table_says_which(stores):
    from crossling.similarity.study import IndexOptions, UncertaintyOptions

    options = IndexOptions(cca_summary="mean_squared", pwcca_weights="uncentred", svcca_dims=20,
                           matching_direction="both", matching_ties="miss")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = compute_similarity(stores, [("en", "de")], layers=[1], indices=["cca", "svcca", "pwcca", "matching"],
                                    options=options, uncertainty=UncertaintyOptions(null_permutations=0,
                                                                                    jackknife_shards=0),
                                    anc_matrix=False, per_neuron=False, progress=False)
        X, Y = stores["en"].vectors(1), stores["de"].vectors(1)
        want = {"cca": cca(X, Y, summary="mean_squared").value,
                "svcca": svcca(X, Y, dims=20, summary="mean_squared").value,
                "pwcca": pwcca(X, Y, weights="uncentred").value,
                "matching": retrieval_accuracy(X, Y, direction="both", ties="miss").value}
    table = result.table.set_index("index")
    for name, value in want.items():
        assert table.loc[name, "value"] == pytest.approx(value, abs=1e-10)
    assert table.loc["cca", "definition"] == "mean rho^2 (Del and Fishel 2022, Eq. 1)"
    assert table.loc["svcca", "definition"] == "20 directions; mean rho^2 (Del and Fishel 2022, Eq. 1)"
    assert table.loc["pwcca", "definition"] == "uncentred weights (svcca code)"
    assert table.loc["matching", "definition"] == "top-1 cosine, mean of x->y and y->x, ties missed"
    assert table[["se", "null"]].isna().all().all() and table["beyond_null"].isna().all()


def test_per_neuron_correlations_at_every_layer(stores):
    result = compute_similarity(stores, [("en", "de")], indices=["anc"], per_neuron_layers="all", anc_matrix=False,
                                progress=False)
    neurons = result.per_neuron
    assert sorted(neurons["layer"].unique()) == [0, 1, 2] and len(neurons) == 3 * 32
    details = result.details.set_index(["layer", "quantity"])["value"]
    for layer in range(3):
        r = neurons.loc[neurons["layer"] == layer, "r"].to_numpy()
        assert details[layer, "mean_r"] == pytest.approx(np.mean(r), abs=1e-12)  # the signed ANC
        assert details[layer, "mean_abs_r"] == pytest.approx(np.mean(np.abs(r)), abs=1e-12)


def test_presets_fill_what_is_not_given(tmp_path):
    base = dict(model="m", corpus="pud:x", out=tmp_path)
    code = SimilarityConfig(**base, preset="authors-code", svcca_dims=10)
    assert (code.cca_summary, code.svcca_dims, code.pwcca_weights) == ("leading", 10, "uncentred")
    assert (code.include_special, code.max_length, code.matching_direction) == (True, 100, "x_to_y")
    paper = SimilarityConfig.resolve(None, **base, preset="paper")
    assert paper.cca_summary == "mean_squared" and paper.pwcca_weights == "morcos"
    assert SimilarityConfig(**base).cca_summary == "mean"
    with pytest.raises(ValueError, match="jackknife_shards"):
        SimilarityConfig(**base, jackknife_shards=1)


def test_threads_do_not_change_a_number(stores):
    kwargs = dict(layers=[1, 2], indices=["cka_debiased", "cca", "pwcca", "matching"], anc_matrix=False,
                  per_neuron=False, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one = compute_similarity(stores, [("en", "de"), ("de", "fr")], workers=1, **kwargs).table
        two = compute_similarity(stores, [("en", "de"), ("de", "fr")], workers=3, **kwargs).table
    pd.testing.assert_frame_equal(one, two)


def test_too_few_sentences_for_the_shards_use_fewer_with_a_warning(stores):
    few = {lang: _Head(stores[lang], 12) for lang in ("en", "de")}
    with pytest.warns(DegenerateInputWarning, match="jackknife_shards=10 needs at least 20 sentences and there are "
                                                    "12: using 6 shards"):
        result = compute_similarity(few, [("en", "de")], layers=[1], indices=["cka"], anc_matrix=False,
                                    per_neuron=False, progress=False)
    assert result.uncertainty.jackknife_shards == 6 and result.table["low"].notna().all()

"""``crossling concepts`` end to end on a tiny random model and real PUD sentences, and what the run writes.

The numbers in the written tables are recomputed from the written files with plain loops (CALIGN from
concepts.tsv and the dictionary TSVs, COLAP from concepts.tsv, token counts from the store's word forms),
so the files are checked against each other and against the textbook definitions. The options are checked
before any work: a bad value stops the command with one line naming its flag.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from tiny_models import build_tiny
from typer.testing import CliRunner

from crossling.cli import app
from crossling.cli._build import field_docs
from crossling.concepts import ConceptOptions, WordAlignment, calign
from crossling.concepts.run import ConceptsConfig, _aligned_tokens, run_concepts, write_concepts_tables
from crossling.data.corpus import corpus_checksum, load_corpus
from crossling.exceptions import AlignmentError, ConfigError
from crossling.report import write_report

from .concepts_data import REPEAT

N_SENTENCES, K, LAYERS = 40, 12, [0, 2]

runner = CliRunner()


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return build_tiny("xlmr", tmp_path_factory.mktemp("xlmr"))


@pytest.fixture(scope="module")
def pud(data_dir):
    return data_dir / "ud" / "pud"


@pytest.fixture(scope="module")
def first_run(tmp_path_factory, tiny_dir, pud):
    """Dictionaries from eflomal alignment of the 40 sentences, default thresholds, one seed, no held-out variant."""
    out = tmp_path_factory.mktemp("concepts") / "run1"
    result = runner.invoke(app, [
        "concepts", "--model", str(tiny_dir), "--corpus", f"pud:{pud}", "--languages", "en,de",
        "--limit", str(N_SENTENCES), "--layers", ",".join(map(str, LAYERS)), "--k", str(K), "--out", str(out),
        "--n-seeds", "1", "--no-heldout"])
    assert result.exit_code == 0, result.output
    return out


def read(out, name):
    return pd.read_parquet(out / f"{name}.parquet")


def load_dictionary(path, n_best):
    """Source word -> its first n_best targets, read line by line (the file is best-first per word)."""
    out = defaultdict(list)
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or line.startswith("source\ttarget"):
            continue
        source, target = line.split("\t")[:2]
        if len(out[source]) < n_best:
            out[source].append(target)
    return out


def plain_calign(types_s, types_t, translations, *, theta_a, tolerance, min_types):
    """The paper's definition, one concept pair at a time."""
    eligible = aligned = 0
    for c_s in types_s.values():
        if len(c_s) < min_types:
            continue
        eligible += 1
        for c_t in types_t.values():
            hits = sum(1 for u in c_s if set(translations.get(u, ())) & c_t)
            if hits >= theta_a * len(c_s) and abs(len(c_s) - len(c_t)) <= tolerance * max(len(c_s), len(c_t)):
                aligned += 1
                break
    return 100.0 * aligned / eligible, eligible


def concept_types(listing, layer, clustering):
    rows = listing[(listing["layer"] == layer) & (listing["clustering"] == clustering)]
    out = defaultdict(set)
    for concept, word in zip(rows["concept"], rows["word"]):
        out[concept].add(word)
    return out


@pytest.mark.slow
def test_tables_figures_and_files(first_run):
    for name in ("calign", "colap", "clusterings", "summary"):
        assert (first_run / f"{name}.parquet").is_file() and (first_run / f"{name}.csv").is_file()
    for name in ("config.yaml", "concepts.tsv", "concepts.json", "aligned_examples.md",
                 "manifest.json", "report.json", "dictionaries/en-de.tsv", "dictionaries/de-en.tsv"):
        assert (first_run / name).is_file(), name
    for name in ("calign.png", "colap.png"):
        assert (first_run / "figures" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    calign = read(first_run, "calign")
    assert list(zip(calign["layer"], calign["direction"])) == [(0, "en-de"), (0, "de-en"), (2, "en-de"), (2, "de-en")]
    assert (calign["n_source_concepts"] == K).all() and calign["calign_percent"].between(0, 100).all()
    colap = read(first_run, "colap")
    assert colap["layer"].tolist() == LAYERS and (colap["languages"] == "en-de").all()
    # The per-layer summary is the two tidy tables side by side.
    summary = read(first_run, "summary").set_index("layer")
    for row in calign.itertuples():
        assert summary.loc[row.layer, f"calign_percent {row.direction}"] == row.calign_percent
    for row in colap.itertuples():
        assert summary.loc[row.layer, f"colap_percent {row.languages}"] == row.colap_percent
    clusterings = read(first_run, "clusterings")
    assert len(clusterings) == 3 * len(LAYERS) and clusterings["converged"].all()
    assert set(clusterings["backend"]) == {"faiss"} and (clusterings["k"] == K).all()


@pytest.mark.slow
def test_token_counts_follow_the_selection_rule(first_run, pud):
    """Each word is kept at most 15 times: n_tokens = sum over types of min(count, 15) of the stored forms."""
    stores = json.loads((first_run / "manifest.json").read_text())["stores"]
    clusterings = read(first_run, "clusterings").set_index(["layer", "clustering"])
    expected = {}
    for lang in ("en", "de"):
        forms = pd.read_parquet(f"{stores[lang]['path']}/meta.parquet")["form"]
        expected[lang] = sum(min(n, 15) for n in Counter(forms).values())
        assert stores[lang]["n_rows"] == len(forms)
    for layer in LAYERS:
        assert clusterings.loc[(layer, "en"), "n_tokens"] == expected["en"]
        assert clusterings.loc[(layer, "de"), "n_tokens"] == expected["de"]
        assert clusterings.loc[(layer, "en-de"), "n_tokens"] == expected["en"] + expected["de"]


@pytest.mark.slow
def test_calign_and_colap_match_plain_loops_over_the_files(first_run):
    listing = pd.read_csv(first_run / "concepts.tsv", sep="\t", keep_default_na=False)
    calign = read(first_run, "calign")
    for row in calign.itertuples():
        translations = load_dictionary(first_run / "dictionaries" / f"{row.source}-{row.target}.tsv", 10)
        value, eligible = plain_calign(concept_types(listing, row.layer, row.source),
                                       concept_types(listing, row.layer, row.target), translations,
                                       theta_a=0.8, tolerance=0.4, min_types=6)
        assert (row.calign_percent, row.n_eligible) == (pytest.approx(value), eligible)
    for row in read(first_run, "colap").itertuples():
        joint = listing[(listing["layer"] == row.layer) & (listing["clustering"] == "en-de")]
        shares = joint.pivot_table(index="concept", columns="language", values="count", aggfunc="sum", fill_value=0)
        shares = shares.div(shares.sum(axis=1), axis=0)
        overlapping = int(((shares >= 0.3).sum(axis=1) >= 2).sum())
        assert (row.n_overlapping, row.n_concepts) == (overlapping, len(shares))
        assert row.colap_percent == pytest.approx(100.0 * overlapping / len(shares))


@pytest.mark.slow
def test_manifest_records_provenance(first_run, pud):
    manifest = json.loads((first_run / "manifest.json").read_text())
    corpus = load_corpus(f"pud:{pud}", ["en", "de"])
    for lang in ("en", "de"):
        store = manifest["stores"][lang]
        assert store["corpus_checksum"] == corpus_checksum(corpus[lang][:N_SENTENCES])
        assert store["path"].endswith(store["key"][:16]) and store["n_sentences"] == N_SENTENCES
    assert manifest["models"]["model"]["fingerprint"] and manifest["extraction"]["pooling"] == "last"
    assert manifest["extraction"]["level"] == "word" and manifest["layers"] == LAYERS
    assert manifest["seeds"] == {"token_selection": 0, "clustering": 0}
    assert manifest["clustering"]["k"] == K and manifest["backends_used"] == ["faiss"]
    assert manifest["calign"] == {"theta_a": 0.8, "n_best": 10, "size_tolerance": 0.4, "size_rule": "symmetric",
                                  "min_types": 6}
    assert manifest["colap"]["theta_o"] == 0.3 and manifest["colap"]["sets"] == [["en", "de"]]
    assert manifest["word_alignment"]["deterministic"] is False
    assert manifest["dictionaries"]["en-de"]["aligner"].startswith("eflomal")
    assert manifest["diagnostics"]["convergence"]["not_converged"] == 0
    assert manifest["pivot"] == "en" and manifest["directions"] == ["en-de", "de-en"]
    assert manifest["corpus"]["sentences"] == {"en": N_SENTENCES, "de": N_SENTENCES}
    assert {"faiss-cpu", "scikit-learn", "eflomal", "torch"} <= set(manifest["versions"])


@pytest.mark.slow
def test_report_section_renders(first_run):
    section = json.loads((first_run / "report.json").read_text())
    assert section["provenance"] == "manifest.json"
    assert [f["file"] for f in section["figures"]][:2] == ["figures/calign.png", "figures/colap.png"]
    assert all(len(f["reading"]) > 100 for f in section["figures"])
    html = write_report(first_run).read_text()
    assert "Latent-concept alignment" in html and html.count("data:image/png;base64") == len(section["figures"])


@pytest.mark.slow
def test_saved_dictionaries_reproduce_the_run_and_the_stores_are_reused(first_run, tiny_dir, pud, tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({
        "model": str(tiny_dir), "corpus": f"pud:{pud}", "languages": ["en", "de"], "limit": N_SENTENCES,
        "layers": LAYERS, "k": K, "n_seeds": 1}))
    out = tmp_path / "run2"
    result = runner.invoke(app, ["concepts", "--config", str(config), "--out", str(out),
                                 "--dictionary", f"en-de={first_run / 'dictionaries' / 'en-de.tsv'}",
                                 "--dictionary", f"de-en={first_run / 'dictionaries' / 'de-en.tsv'}"])
    assert result.exit_code == 0, result.output
    for name in ("calign", "colap", "clusterings"):
        pd.testing.assert_frame_equal(read(out, name), read(first_run, name))
    manifest = json.loads((out / "manifest.json").read_text())
    first = json.loads((first_run / "manifest.json").read_text())
    assert manifest["stores"] == first["stores"]  # same cache key, same folders: nothing re-extracted
    assert manifest["word_alignment"] is None and manifest["dictionaries"]["de-en"]["supplied"] is True
    assert yaml.safe_load((out / "config.yaml").read_text())["out"] == str(out)


@pytest.mark.slow
def test_loose_thresholds_on_the_real_concepts_agree_with_the_plain_loop(first_run):
    """With theta_A = 0.3 and any size some concepts align; calign() still follows the definition."""
    listing = pd.read_csv(first_run / "concepts.tsv", sep="\t", keep_default_na=False)
    translations = load_dictionary(first_run / "dictionaries" / "en-de.tsv", 10)
    values = []
    for layer in LAYERS:
        types_s, types_t = concept_types(listing, layer, "en"), concept_types(listing, layer, "de")
        res = calign([types_s.get(c, set()) for c in range(K)], [types_t.get(c, set()) for c in range(K)],
                     translations, theta_a=0.3, size_tolerance=1.0)
        value, eligible = plain_calign(types_s, types_t, translations, theta_a=0.3, tolerance=1.0, min_types=6)
        assert (res.calign_percent, res.n_eligible) == (pytest.approx(value), eligible)
        values.append(value)
    assert max(values) > 0


def test_aligned_tokens_are_those_with_a_link():
    # Sentence 0: en words 0 and 2 are linked to de words 1 and 0; sentence 1: en word 1 to de word 1.
    alignment = WordAlignment((("a", "b", "c"), ("d", "e")), (("x", "y"), ("z", "w")),
                              (np.array([[0, 1], [2, 0]]), np.array([[1, 1]])), "intersection", "test", {})
    metas = {"en": pd.DataFrame({"sentence_index": [0, 0, 0, 1, 1], "word_index": [0, 1, 2, 0, 1]}),
             # a word without a vector is not in the store: de sentence 1 word 0 is missing
             "de": pd.DataFrame({"sentence_index": [0, 0, 1], "word_index": [0, 1, 1]})}
    keep = _aligned_tokens({("en", "de"): alignment}, metas)
    assert keep["en"].tolist() == [True, False, True, False, True]
    assert keep["de"].tolist() == [True, True, True]


def test_bad_settings_are_rejected(tiny_dir, pud, tmp_path):
    base = {"model": str(tiny_dir), "corpus": f"pud:{pud}", "out": tmp_path / "x", "limit": 5}
    with pytest.raises(ValueError, match="SRC-TGT=PATH"):
        ConceptsConfig(**base, dictionaries=["en-de"])
    with pytest.raises(ValueError, match="two or more languages"):
        ConceptsConfig(**base, colap_sets="en")
    with pytest.raises(ValueError, match="Extra inputs"):
        ConceptsConfig.resolve(None, **base, theta=0.5)
    with pytest.raises(ConfigError, match="pivot language 'en'"):
        run_concepts(ConceptsConfig(**base, languages=["de", "fr"]), progress=False)
    with pytest.raises(ConfigError, match="not a CALIGN direction"):
        run_concepts(ConceptsConfig(**base, languages=["en", "de"], dictionaries=[f"de-fr={pud}"]), progress=False)
    with pytest.raises(ConfigError, match="at least two"):
        run_concepts(ConceptsConfig(**base, languages=["en"]), progress=False)
    with pytest.raises(ConfigError, match=r"--colap-sets names languages \['fr'\]"):
        run_concepts(ConceptsConfig(**base, languages=["en", "de"], colap_sets="en-fr"), progress=False)
    with pytest.raises(ConfigError, match="UD treebanks are not parallel"):
        run_concepts(ConceptsConfig(**{**base, "corpus": f"ud:{pud}"}), progress=False)
    assert not (tmp_path / "x").exists()


class _Stop(Exception):
    """Stops a run at the extraction, once the options it was given are seen."""


def test_the_model_is_checked_and_the_extraction_gets_the_options(tiny_dir, pud, tmp_path, monkeypatch,
                                                                   crossling_home):
    base = {"model": str(tiny_dir), "corpus": f"pud:{pud}", "languages": "de,en", "limit": 5, "k": 5,
            "out": tmp_path / "x"}
    with pytest.raises(ConfigError, match=r"layers \[7\] out of range: the hidden states available are 0..2"):
        run_concepts(ConceptsConfig(**base, layers=[0, 7]), progress=False)
    with pytest.raises(ConfigError, match=r"example_layer 1 is not among the layers analysed \[0, 2\]"):
        run_concepts(ConceptsConfig(**base, layers=[0, 2], example_layer=1), progress=False)
    seen = []

    def extract(lm, corpus, options, store_dir, **kwargs):
        seen.append((list(corpus), options, store_dir))
        raise _Stop

    monkeypatch.setattr("crossling.extraction.run.extract_stores", extract)
    with pytest.raises(_Stop):
        run_concepts(ConceptsConfig(**base, prefix="query: ", pooling="mean", example_layer=-1), progress=False)
    languages, options, store_dir = seen[0]
    assert languages == ["en", "de"]  # the pivot first
    assert (options.level, options.pooling, options.prefix, options.layers) == ("word", "mean", "query: ", None)
    assert store_dir == crossling_home / "stores"
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("value", ["en+de,en+de+fr", "en-de,en-de-fr", " en-de , en+de-fr ,", ["en-de", "en-de-fr"],
                                   [["en", "de"], ["en", "de", "fr"]]])
def test_colap_sets_read_labels_or_lists(value, tmp_path):
    config = ConceptsConfig(model="m", corpus="pud:x", out=tmp_path, colap_sets=value)
    assert config.colap_sets == [["en", "de"], ["en", "de", "fr"]]


def test_every_option_has_help_and_the_concept_options_are_one_declaration(tmp_path):
    docs = field_docs(ConceptsConfig)
    assert {name for name in ConceptsConfig.model_fields if not docs.get(name)} == set()
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({"model": "m", "corpus": "pud:x", "out": "o", "k": 50, "theta_o": 0.5,
                                    "max_per_type": None}))
    config = ConceptsConfig.resolve(path, seed=3)
    assert config.concept_options() == ConceptOptions(k=50, theta_o=0.5, max_per_type=None, seed=3)
    # The defaults of before issue 15 are unchanged; the readings, seeds and sweeps are new options.
    assert ConceptOptions().model_dump() == dict(
        k=600, backend="auto", seed=0, max_iter=100, tol=1e-4, min_count=1, max_per_type=15, theta_a=0.8, n_best=10,
        size_tolerance=0.4, size_rule="symmetric", min_types=6, theta_o=0.3, colap_by="tokens",
        n_seeds=3, sampling="random", eligibility="source", calign_denominator="eligible", colap_min_languages=2,
        sweep_theta_a=[], sweep_theta_o=[], sweep_k=[])
    result = runner.invoke(app, ["concepts", "--help"], env={"COLUMNS": "200"})
    for flag in ("--max-iter", "--tol", "--min-types", "--n-examples", "--example-layer", "--symmetrisation",
                 "--prefix", "--dictionary", "--colap-sets", "--store-dir", "--seed"):
        assert flag in result.output, flag


@pytest.mark.parametrize("flags, message", [
    (["--k", "0"], "Error: --k: Input should be greater than or equal to 1 (got 0)"),
    (["--theta-a", "1.5"], "Error: --theta-a: Input should be less than or equal to 1 (got 1.5)"),
    (["--n-examples", "0"], "Error: --n-examples: Input should be greater than or equal to 1 (got 0)"),
])
def test_out_of_range_options_name_their_flag(flags, message, tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(app, ["concepts", "--model", "m", "--corpus", "pud:x", "--out", str(out), *flags])
    assert result.exit_code == 2 and result.output.strip() == message
    assert not out.exists()


def test_k_above_the_words_of_the_corpus_fails_before_the_model_loads(pud, tmp_path):
    """5 sentences give fewer word tokens than K = 1000: one line naming --k, before the (absent) model loads."""
    out = tmp_path / "out"
    corpus = load_corpus(f"pud:{pud}", ["en", "de"], limit=5)
    n_en = sum(min(n, 15) for n in Counter(w for s in corpus["en"] for w in s.forms).values())
    result = runner.invoke(app, ["concepts", "--model", str(tmp_path / "no-model"), "--corpus", f"pud:{pud}",
                                 "--languages", "en,de", "--limit", "5", "--k", "1000", "--out", str(out)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: --k 1000 is more than the {n_en} word tokens en has")
    assert not out.exists()


def test_sentence_counts_must_agree():
    from crossling.concepts.run import _check_parallel

    with pytest.raises(AlignmentError, match="not parallel"):
        _check_parallel({"en": [1, 2, 3], "de": [1, 2]})


def test_written_tables(planted_result, tmp_path):
    files = write_concepts_tables(planted_result, tmp_path)
    for name in ("calign", "colap", "clusterings", "summary"):
        assert (tmp_path / f"{name}.parquet").is_file() and (tmp_path / f"{name}.csv").is_file()
    tables = ("calign", "colap", "clusterings", "summary", "calign_seeds", "colap_seeds")  # the last two: issue 15
    assert set(files) == {*(tmp_path / f"{name}.{ext}" for name in tables for ext in ("parquet", "csv")),
                          tmp_path / "concepts.tsv", tmp_path / "concepts.json"}
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "calign.parquet"), planted_result.calign)
    listing = pd.read_csv(tmp_path / "concepts.tsv", sep="\t")
    assert list(listing.columns) == ["layer", "clustering", "concept", "language", "word", "count"]
    records = json.loads((tmp_path / "concepts.json").read_text(encoding="utf-8"))
    # JSON and TSV describe the same concepts: tokens per concept agree.
    tsv_tokens = listing.groupby(["layer", "clustering", "concept"])["count"].sum().to_dict()
    assert {(r["layer"], r["clustering"], r["concept"]): r["n_tokens"] for r in records} == tsv_tokens
    one = next(r for r in records if r["layer"] == 6 and r["clustering"] == "en-de")
    assert set(one["words"]) == {"en", "de"} and all(n == REPEAT for n in one["words"]["en"].values())


# Seeds, controls, the held-out variant, base vs fine-tuned and encoder-decoder runs (issue 15).


@pytest.fixture(scope="module")
def seeded_runs(tmp_path_factory, tiny_dir, pud):
    """The same command twice (same --seed), with a base model, sweeps and the default seeds and controls."""
    root = tmp_path_factory.mktemp("seeded")
    base = build_tiny("xlmr", root / "base", seed=1)
    outs = []
    for name in ("a", "b"):
        out = root / name
        result = runner.invoke(app, [
            "concepts", "--model", str(tiny_dir), "--base-model", str(base), "--corpus", f"pud:{pud}",
            "--languages", "en,de", "--limit", str(N_SENTENCES), "--layers", "0,2", "--k", "8", "--seed", "3",
            "--sweep-theta-a", "0.5,0.8", "--sweep-theta-o", "0.2,0.3", "--sweep-k", "6,8", "--out", str(out)])
        assert result.exit_code == 0, result.output
        outs.append(out)
    return outs


@pytest.mark.slow
def test_the_same_seed_gives_the_same_calign(seeded_runs):
    a, b = seeded_runs
    for name in ("calign", "calign_seeds", "colap", "colap_seeds", "sweeps"):
        pd.testing.assert_frame_equal(read(a, name), read(b, name))
    first, second = (json.loads((out / "manifest.json").read_text()) for out in seeded_runs)
    replicates = first["word_alignment"]["replicates"]["en-de"]
    assert sorted(replicates) == ["3", "4", "5"] and not any(r["reused"] for r in replicates.values())
    again = second["word_alignment"]["replicates"]["en-de"]
    assert all(again[r]["reused"] and again[r]["key"] == replicates[r]["key"] for r in replicates)
    assert first["replicates"] == {"seeds": [3, 4, 5], "realign": True,
                                   "alignment_replicate": {"3": 3, "4": 4, "5": 5}}
    for seed in (4, 5):
        assert (a / "dictionaries" / f"seed-{seed}" / "en-de.tsv").is_file()
        assert (a / "dictionaries" / "heldout" / f"seed-{seed}" / "de-en.tsv").is_file()


@pytest.mark.slow
def test_every_calign_value_has_its_controls_and_interval(seeded_runs):
    calign = read(seeded_runs[0], "calign")
    assert set(calign["model"]) == {"model", "base"} and (calign["n_seeds"] == 3).all()
    assert (calign["calign_percent_min"] <= calign["calign_percent"]).all()
    assert (calign["calign_percent"] <= calign["calign_percent_max"]).all()
    for column in ("n_eligible", "sentence_baseline_percent", "random_baseline_percent", "boundness",
                   "heldout_calign_percent", "heldout_sentence_baseline_percent"):
        assert calign[column].notna().all(), column
    # The sentence baseline is model-free: the same for both models and every layer of a direction.
    assert calign.groupby("direction")["sentence_baseline_percent"].nunique().eq(1).all()
    seeds = read(seeded_runs[0], "calign_seeds")
    assert len(seeds) == 2 * 2 * 2 * 2 * 3  # models x layers x directions x variants x seeds
    clusterings = read(seeded_runs[0], "clusterings")
    assert set(clusterings[clusterings["variant"] == "heldout"]["k"]) == {4}


@pytest.mark.slow
def test_base_model_overlay_sweeps_and_report(seeded_runs):
    out = seeded_runs[0]
    for name in ("calign", "colap", "boundness", "sweeps"):
        assert (out / "figures" / f"{name}.png").read_bytes()[:4] == b"\x89PNG", name
    summary = read(out, "summary")
    assert "calign_percent en-de (base)" in summary.columns and "colap_percent en-de (base)" in summary.columns
    sweeps = read(out, "sweeps")
    assert set(sweeps["parameter"]) == {"theta_a", "theta_o", "k"} and set(sweeps["model"]) == {"model", "base"}
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["models"]) == {"model", "base"} and any(key.startswith("base/") for key in manifest["stores"])
    assert manifest["readings"] == {"eligibility": "source", "calign_denominator": "eligible", "sampling": "random",
                                    "colap_min_languages": 2}
    section = json.loads((out / "report.json").read_text())
    assert "sentence baseline" in section["summary"] and "compared with its base model" in section["summary"]
    assert "overlap_examples.md" in {p.name for p in out.iterdir()}


@pytest.mark.slow
def test_encoder_decoder_concepts_on_a_tiny_t5(tmp_path, pud):
    """English through the encoder, German through the decoder conditioned on the English sentence."""
    t5 = build_tiny("t5", tmp_path / "t5")
    out = tmp_path / "t5-run"
    result = runner.invoke(app, [
        "concepts", "--model", str(t5), "--corpus", f"pud:{pud}", "--languages", "en,de", "--limit", "30",
        "--layers", "0,2", "--k", "6", "--n-seeds", "2", "--stacks", "encoder-decoder", "--out", str(out)])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["stacks"] == "encoder-decoder" and manifest["extraction"]["decoder_source"] == "en"
    decoder = manifest["extraction"]["decoder"]
    assert decoder["stack"] == "decoder" and decoder["decoder_shift"] is True
    stores = {lang: json.loads((Path(manifest["stores"][lang]["path"]) / "manifest.json").read_text())
              for lang in ("en", "de")}
    assert stores["en"]["options"]["stack"] == "encoder" and stores["en"]["sources_checksum"] is None
    corpus = load_corpus(f"pud:{pud}", ["en", "de"], limit=30)
    assert stores["de"]["options"]["stack"] == "decoder" and stores["de"]["sources_checksum"] == corpus_checksum(
        corpus["en"])
    calign = read(out, "calign")
    assert calign["direction"].tolist() == ["en-de", "de-en", "en-de", "de-en"]
    assert calign["calign_percent"].notna().all()
    assert "decoder" in json.loads((out / "report.json").read_text())["summary"]


def test_encoder_decoder_needs_an_encoder_decoder_model(tiny_dir, pud, tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(app, ["concepts", "--model", str(tiny_dir), "--corpus", f"pud:{pud}", "--languages",
                                 "en,de", "--limit", "5", "--k", "5", "--stacks", "encoder-decoder", "--out", str(out)])
    assert result.exit_code == 2 and "needs an encoder-decoder model; the model is a encoder" in result.output
    assert not out.exists()


def test_moses_and_tsv_dictionaries_are_loaded_for_every_seed(tmp_path, pud):
    from crossling.concepts.run import _dictionaries, _supplied_directions

    (tmp_path / "lex.f2e").write_text("house Haus 0.7\nhome Haus 0.3\n", encoding="utf-8")
    (tmp_path / "en-de.tsv").write_text("house\tHaus\n", encoding="utf-8")
    config = ConceptsConfig(model="m", corpus=f"pud:{pud}", out=tmp_path / "o", n_seeds=2,
                            moses_dictionaries=[f"de-en={tmp_path / 'lex.f2e'}"],
                            dictionaries=[f"en-de={tmp_path / 'en-de.tsv'}"])
    supplied = _supplied_directions(config, [("en", "de"), ("de", "en")])
    dictionaries, alignments, reuse = _dictionaries(config, {}, [("en", "de"), ("de", "en")], supplied)
    assert sorted(dictionaries) == [0, 1] and alignments == {0: {}, 1: {}} and reuse == {}
    assert dictionaries[1]["de", "en"].translations("Haus") == ("house", "home")
    assert dictionaries[0]["en", "de"].translations("house") == ("Haus",)
    table = tmp_path / "lex.f2e"
    twice = ConceptsConfig(model="m", corpus="pud:x", out=tmp_path / "o", moses_dictionaries=[f"de-en={table}"],
                           dictionaries=[f"de-en={table}"])
    with pytest.raises(ConfigError, match="both as a TSV and as a Moses table"):
        _supplied_directions(twice, [("en", "de"), ("de", "en")])


def test_k_above_a_held_out_half_fails_before_the_model_loads(pud, tmp_path):
    out = tmp_path / "out"
    corpus = load_corpus(f"pud:{pud}", ["en", "de"], limit=12)
    n_en = sum(min(n, 15) for n in Counter(w for s in corpus["en"] for w in s.forms).values())
    k = n_en - 1  # fits the whole corpus, not half of it at K // 2
    result = runner.invoke(app, ["concepts", "--model", str(tmp_path / "no-model"), "--corpus", f"pud:{pud}",
                                 "--languages", "en,de", "--limit", "12", "--k", str(k), "--out", str(out)])
    assert result.exit_code == 2 and "to cluster in a held-out half" in result.output
    assert "(or --no-heldout)" in result.output and not out.exists()


@pytest.mark.parametrize("flag, expected", [("all", "all"), ("3", 3)])
def test_colap_min_languages_from_the_command_line(flag, expected, tmp_path, monkeypatch):
    """The all-languages reading of COLAP is a flag; the run hands it to the study."""
    seen = []
    monkeypatch.setattr("crossling.cli.concepts.run_concepts", lambda config: seen.append(config) or _raise())
    result = runner.invoke(app, ["concepts", "--model", "m", "--corpus", "pud:x", "--out", str(tmp_path / "o"),
                                 "--colap-min-languages", flag, "--sampling", "first", "--eligibility", "both"])
    assert result.exit_code == 2 and "stopped" in result.output
    options = seen[0].concept_options()
    assert (options.colap_min_languages, options.sampling, options.eligibility) == (expected, "first", "both")
    bad = runner.invoke(app, ["concepts", "--model", "m", "--corpus", "pud:x", "--out", str(tmp_path / "o"),
                              "--colap-min-languages", "most"])
    assert bad.exit_code == 2 and "--colap-min-languages" in bad.output


def _raise():
    raise ConfigError("stopped")


def test_a_swept_k_above_the_tokens_fails_before_the_model_loads(pud, tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(app, ["concepts", "--model", str(tmp_path / "no-model"), "--corpus", f"pud:{pud}",
                                 "--languages", "en,de", "--limit", "5", "--k", "5", "--sweep-k", "5,5000",
                                 "--out", str(out)])
    assert result.exit_code == 2 and result.output.startswith("Error: --sweep-k 5000 is more than the")
    assert not out.exists()

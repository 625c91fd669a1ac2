"""``crossling concepts`` end to end on a tiny random model and real PUD sentences.

The numbers in the written tables are recomputed from the written files with plain loops (CALIGN from
concepts.tsv and the dictionary TSVs, COLAP from concepts.tsv, token counts from the store's word forms),
so the files are checked against each other and against the textbook definitions.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict

import numpy as np
import pandas as pd
import pytest
import yaml
from tiny_models import build_tiny
from typer.testing import CliRunner

from crossling.cli import app
from crossling.concepts import WordAlignment, calign
from crossling.concepts.cli import ConceptsConfig, _aligned_tokens, run_concepts_study
from crossling.data.corpus import corpus_checksum, load_corpus
from crossling.report import write_report

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
    """Dictionaries from eflomal alignment of the 40 sentences, default thresholds."""
    out = tmp_path_factory.mktemp("concepts") / "run1"
    result = runner.invoke(app, [
        "concepts", "--model", str(tiny_dir), "--corpus", f"pud:{pud}", "--languages", "en,de",
        "--limit", str(N_SENTENCES), "--layers", ",".join(map(str, LAYERS)), "--k", str(K), "--out", str(out)])
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
    for name in ("config.yaml", "concepts.tsv", "concepts.json", "aligned_examples.md", "params.json",
                 "manifest.json", "report.json", "dictionaries/en-de.tsv", "dictionaries/de-en.tsv"):
        assert (first_run / name).is_file(), name
    for name in ("calign.png", "colap.png"):
        assert (first_run / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    calign = read(first_run, "calign")
    assert list(zip(calign["layer"], calign["direction"])) == [(0, "en->de"), (0, "de->en"), (2, "en->de"), (2, "de->en")]
    assert (calign["n_source_concepts"] == K).all() and calign["calign"].between(0, 100).all()
    colap = read(first_run, "colap")
    assert colap["layer"].tolist() == LAYERS and (colap["languages"] == "en+de").all()
    # The per-layer summary is the two tidy tables side by side.
    summary = read(first_run, "summary").set_index("layer")
    for row in calign.itertuples():
        assert summary.loc[row.layer, f"calign {row.direction}"] == row.calign
    for row in colap.itertuples():
        assert summary.loc[row.layer, f"colap {row.languages}"] == row.colap
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
        assert stores[lang]["n_words"] == len(forms)
    for layer in LAYERS:
        assert clusterings.loc[(layer, "en"), "n_tokens"] == expected["en"]
        assert clusterings.loc[(layer, "de"), "n_tokens"] == expected["de"]
        assert clusterings.loc[(layer, "en+de"), "n_tokens"] == expected["en"] + expected["de"]


@pytest.mark.slow
def test_calign_and_colap_match_plain_loops_over_the_files(first_run):
    listing = pd.read_csv(first_run / "concepts.tsv", sep="\t", keep_default_na=False)
    calign = read(first_run, "calign")
    for row in calign.itertuples():
        translations = load_dictionary(first_run / "dictionaries" / f"{row.source}-{row.target}.tsv", 10)
        value, eligible = plain_calign(concept_types(listing, row.layer, row.source),
                                       concept_types(listing, row.layer, row.target), translations,
                                       theta_a=0.8, tolerance=0.4, min_types=6)
        assert (row.calign, row.n_eligible) == (pytest.approx(value), eligible)
    for row in read(first_run, "colap").itertuples():
        joint = listing[(listing["layer"] == row.layer) & (listing["clustering"] == "en+de")]
        shares = joint.pivot_table(index="concept", columns="language", values="count", aggfunc="sum", fill_value=0)
        shares = shares.div(shares.sum(axis=1), axis=0)
        overlapping = int(((shares >= 0.3).sum(axis=1) >= 2).sum())
        assert (row.n_overlapping, row.n_concepts) == (overlapping, len(shares))
        assert row.colap == pytest.approx(100.0 * overlapping / len(shares))


@pytest.mark.slow
def test_manifest_records_provenance(first_run, pud):
    manifest = json.loads((first_run / "manifest.json").read_text())
    corpus = load_corpus(f"pud:{pud}", ["en", "de"])
    for lang in ("en", "de"):
        store = manifest["stores"][lang]
        assert store["corpus_checksum"] == corpus_checksum(corpus[lang][:N_SENTENCES])
        assert store["path"].endswith(store["key"][:16]) and store["n_sentences"] == N_SENTENCES
    assert manifest["model"]["fingerprint"] and manifest["extraction"]["pooling"] == "last"
    assert manifest["extraction"]["level"] == "word" and manifest["layers"] == LAYERS
    assert manifest["seed"] == 0 and manifest["clustering"]["k"] == K and manifest["backends_used"] == ["faiss"]
    assert manifest["calign"] == {"theta_a": 0.8, "n_best": 10, "size_tolerance": 0.4, "size_rule": "symmetric",
                                  "min_types": 6}
    assert manifest["colap"]["theta_o"] == 0.3 and manifest["colap"]["sets"] == [["en", "de"]]
    assert manifest["word_alignment"]["deterministic"] is False
    assert manifest["dictionaries"]["en-de"]["aligner"].startswith("eflomal")
    assert manifest["convergence"]["not_converged"] == 0
    assert {"faiss-cpu", "scikit-learn", "eflomal", "torch"} <= set(manifest["versions"])


@pytest.mark.slow
def test_report_section_renders(first_run):
    section = json.loads((first_run / "report.json").read_text())
    assert section["provenance"] == "manifest.json"
    assert [f["file"] for f in section["figures"]][:2] == ["calign.png", "colap.png"]
    assert all(len(f["reading"]) > 100 for f in section["figures"])
    html = write_report(first_run).read_text()
    assert "Latent-concept alignment" in html and html.count("data:image/png;base64") == len(section["figures"])


@pytest.mark.slow
def test_saved_dictionaries_reproduce_the_run_and_the_stores_are_reused(first_run, tiny_dir, pud, tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({
        "model": str(tiny_dir), "corpus": f"pud:{pud}", "languages": ["en", "de"], "limit": N_SENTENCES,
        "layers": LAYERS, "k": K, "store_dir": str(first_run / "stores")}))
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
        assert (res.calign, res.n_eligible) == (pytest.approx(value), eligible)
        values.append(value)
    assert max(values) > 0


def test_aligned_tokens_are_those_with_a_link():
    # Sentence 0: en words 0 and 2 are linked to de words 1 and 0; sentence 1: en word 1 to de word 1.
    alignment = WordAlignment((("a", "b", "c"), ("d", "e")), (("x", "y"), ("z", "w")),
                              (np.array([[0, 1], [2, 0]]), np.array([[1, 1]])), "intersection", "test", {})
    metas = {"en": pd.DataFrame({"sentence_index": [0, 0, 0, 1, 1], "word_index": [0, 1, 2, 0, 1]}),
             # a word without a vector is not in the store: de sentence 1 word 0 is missing
             "de": pd.DataFrame({"sentence_index": [0, 0, 1], "word_index": [0, 1, 1]})}
    keep = _aligned_tokens({("en", "de"): alignment}, metas, "en")
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
    with pytest.raises(ValueError, match="pivot language 'en'"):
        run_concepts_study(ConceptsConfig(**base, languages=["de", "fr"]), progress=False)
    with pytest.raises(ValueError, match="not a CALIGN direction"):
        run_concepts_study(ConceptsConfig(**base, languages=["en", "de"], dictionaries=[f"de-fr={pud}"]),
                           progress=False)
    with pytest.raises(ValueError, match="at least two"):
        run_concepts_study(ConceptsConfig(**base, languages=["en"]), progress=False)
    assert ConceptsConfig(**base, colap_sets="en+de,en+de+fr").colap_sets == [["en", "de"], ["en", "de", "fr"]]

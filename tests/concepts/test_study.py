"""The study end to end on planted vectors: CALIGN and COLAP per layer, and the files it writes."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from crossling.concepts import run_concepts, write_concepts_study

K, TYPES, REPEAT, D = 8, 8, 3, 16


def planted_study_inputs(seed=0):
    """Two languages with K planted concepts of TYPES word types each, REPEAT tokens per type.

    layer 0: shared concept centres, a large language offset -> monolingual concepts = planted ones
             (CALIGN 100 both ways), joint clusters split by language (COLAP 0);
    layer 1: shared centres, no offset -> joint clusters are bilingual halves (COLAP 100), CALIGN 100;
    layer 2: German types scattered over random centres -> German concepts are not translations (CALIGN ~0).
    """
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(K, D)) * 20
    concept = np.repeat(np.arange(K), TYPES * REPEAT)
    word = np.tile(np.repeat(np.arange(TYPES), REPEAT), K)
    en_forms = np.array([f"e{c}_{w}" for c, w in zip(concept, word)], dtype=object)
    de_forms = np.array([f"d{c}_{w}" for c, w in zip(concept, word)], dtype=object)
    scattered = rng.permutation(concept.reshape(K * TYPES, REPEAT)[:, 0])  # a random concept per German type
    de_scatter = np.repeat(scattered, REPEAT)
    n = concept.size

    def noise():
        return rng.normal(size=(n, D))

    offset = np.zeros(D)
    offset[0] = 500.0
    en = np.stack([centres[concept] + noise(), centres[concept] + noise(), centres[concept] + noise()])
    de = np.stack([centres[concept] + offset + noise(), centres[concept] + noise(), centres[de_scatter] + noise()])
    dictionaries = {
        ("en", "de"): {f"e{c}_{w}": [f"d{c}_{w}"] for c in range(K) for w in range(TYPES)},
        ("de", "en"): {f"d{c}_{w}": [f"e{c}_{w}"] for c in range(K) for w in range(TYPES)},
    }
    return {"en": en.astype(np.float32), "de": de.astype(np.float32)}, {"en": en_forms, "de": de_forms}, dictionaries


@pytest.fixture(scope="module")
def study():
    vectors, forms, dictionaries = planted_study_inputs()
    return run_concepts(vectors, forms, dictionaries, layer_ids=[0, 6, 12], k=K, backend="sklearn", seed=0)


def test_calign_per_layer(study):
    table = study.calign.set_index(["layer", "direction"])["calign"]
    assert table[0, "en->de"] == 100.0 and table[0, "de->en"] == 100.0
    assert table[6, "en->de"] == 100.0 and table[6, "de->en"] == 100.0
    assert table[12, "en->de"] == 0.0 and table[12, "de->en"] == 0.0
    assert set(study.calign["pair"]) == {"en-de"}
    assert (study.calign["n_eligible"] == K).all()


def test_colap_per_layer(study):
    table = study.colap.set_index("layer")["colap"]
    assert table[0] == 0.0 and table[6] == 100.0
    assert study.colap["languages"].tolist() == ["en+de"] * 3
    joint = study.concepts[6, "en+de"]
    assert len(joint.labels) == 2 * K * TYPES * REPEAT


def test_clusterings_and_params_record_provenance(study):
    assert len(study.clusterings) == 3 * 3  # en, de, en+de per layer
    assert set(study.clusterings["backend"]) == {"sklearn"}
    n = K * TYPES * REPEAT
    assert study.params["tokens"]["en"] == {"n_words": n, "n_allowed": n, "n_selected": n}
    assert study.params["calign"]["theta_a"] == 0.8 and study.params["layer_ids"] == [0, 6, 12]


def test_written_outputs(study, tmp_path):
    write_concepts_study(study, tmp_path, n_examples=2, example_layer=6)
    for name in ("calign", "colap", "clusterings"):
        assert (tmp_path / f"{name}.parquet").is_file() and (tmp_path / f"{name}.csv").is_file()
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "calign.parquet"), study.calign)
    listing = pd.read_csv(tmp_path / "concepts.tsv", sep="\t")
    assert list(listing.columns) == ["layer", "clustering", "concept", "language", "word", "count"]
    records = json.loads((tmp_path / "concepts.json").read_text(encoding="utf-8"))
    # JSON and TSV describe the same concepts: tokens per concept agree.
    tsv_tokens = listing.groupby(["layer", "clustering", "concept"])["count"].sum().to_dict()
    assert {(r["layer"], r["clustering"], r["concept"]): r["n_tokens"] for r in records} == tsv_tokens
    one = next(r for r in records if r["layer"] == 6 and r["clustering"] == "en+de")
    assert set(one["words"]) == {"en", "de"} and all(n == REPEAT for n in one["words"]["en"].values())
    assert (tmp_path / "calign.png").stat().st_size > 1000 and (tmp_path / "colap.png").stat().st_size > 1000
    assert (tmp_path / "aligned_examples.png").read_bytes()[:4] == b"\x89PNG"
    md = (tmp_path / "aligned_examples.md").read_text(encoding="utf-8")
    assert "## en -> de: CALIGN 100.0% (8 of 8)" in md and "✓" in md
    assert sum(line.startswith("| en concept") for line in md.splitlines()) == 2  # n_examples per direction


def test_colap_only_and_bad_inputs():
    vectors, forms, _ = planted_study_inputs()
    res = run_concepts(vectors, forms, {}, colap_sets=[["en", "de"]], k=K, backend="sklearn")
    assert res.calign.empty and len(res.colap) == 3
    with pytest.raises(ValueError, match="nothing to compute"):
        run_concepts(vectors, forms, {}, k=K)
    with pytest.raises(ValueError, match=r"\['fr'\]"):
        run_concepts(vectors, forms, {("en", "fr"): {}}, k=K)
    with pytest.raises(ValueError, match="fewer than k"):
        run_concepts(vectors, forms, {("en", "de"): {}}, k=1000)
    with pytest.raises(ValueError, match="3 distinct layer"):
        run_concepts(vectors, forms, {("en", "de"): {}}, layer_ids=[0, 1], k=K)
    with pytest.raises(ValueError, match="forms"):
        run_concepts(vectors, {"en": forms["en"][:-1], "de": forms["de"]}, {("en", "de"): {}}, k=K)

"""A causal (decoder-only) model through the similarity study end to end: a tiny GPT-2 on real Parallel UD."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from tiny_models import build_tiny

from crossling.exceptions import ConfigError, DataLossWarning
from crossling.extraction.store import VectorStore
from crossling.similarity import cca, linear_cka, pwcca, retrieval_accuracy
from crossling.similarity.run import SimilarityConfig, run_similarity
from crossling.similarity.study import INDICES

LANGS, N = ["en", "de", "fr"], 70


@pytest.fixture(scope="module")
def gpt2_dir(tmp_path_factory):
    return build_tiny("gpt2", tmp_path_factory.mktemp("gpt2"))


@pytest.fixture(scope="module")
def causal(gpt2_dir, data_dir, tmp_path_factory):
    cfg = SimilarityConfig(model=str(gpt2_dir), corpus=f"pud:{data_dir / 'ud' / 'pud'}", languages=LANGS, limit=N,
                           pooling="last", indices=list(INDICES), jackknife_shards=5, null_permutations=2,
                           out=tmp_path_factory.mktemp("causal"))
    return run_similarity(cfg, progress=False)


def test_the_last_token_of_a_causal_model_runs_through_every_index(causal, gpt2_dir):
    table = causal.result.table
    assert causal.manifest["models"]["model"]["kind"] == "decoder"
    assert causal.manifest["extraction"]["pooling"] == "last"
    assert len(table) == 2 * 3 * len(INDICES) and set(table["pair"]) == {"en-de", "en-fr"}
    assert (table["n"] == N).all()
    assert np.isfinite(table["value"]).all()
    moments = table[table["index"] != "matching"]
    assert np.isfinite(moments[["se", "low", "high", "null", "null_sd"]].to_numpy()).all()
    assert ((moments["low"] <= moments["value"]) & (moments["value"] <= moments["high"])).all()
    matching = table[table["index"] == "matching"]
    np.testing.assert_allclose(matching["null"], 1 / N)  # the exact expectation under shuffled pairing
    assert table["beyond_null"].notna().all()


def test_values_equal_direct_calls_on_the_last_token_vectors(causal):
    stores = {lang: VectorStore(info["path"]) for lang, info in causal.manifest["stores"].items()}
    direct = {"cka": linear_cka, "cca": cca, "pwcca": pwcca, "matching": retrieval_accuracy}
    rows = causal.result.table[causal.result.table["index"].isin(direct)]
    assert len(rows) == 2 * 3 * len(direct)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataLossWarning)  # the final LayerNorm's redundant neuron
        for row in rows.itertuples(index=False):
            X, Y = stores[row.lang_x].vectors(row.layer), stores[row.lang_y].vectors(row.layer)
            assert row.value == pytest.approx(float(direct[row.index](X, Y)), abs=1e-10)


def test_report_tells_how_to_read_a_causal_model(causal):
    section = json.loads((causal.out / "report.json").read_text())
    assert "first align, then predict" in section["summary"]
    readings = " ".join(f["reading"] for f in section["figures"])
    assert "null" in readings


def test_first_token_pooling_of_a_causal_model_is_refused(gpt2_dir, data_dir, tmp_path):
    cfg = SimilarityConfig(model=str(gpt2_dir), corpus=f"pud:{data_dir / 'ud' / 'pud'}", languages=["en", "de"],
                           limit=10, pooling="first", out=tmp_path / "out", store_dir=tmp_path / "stores")
    with pytest.raises(ConfigError, match="causal"):
        run_similarity(cfg, progress=False)
    assert not (tmp_path / "stores").exists() and not (tmp_path / "out").exists()

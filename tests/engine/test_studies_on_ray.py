"""Each study run end to end on a real two-node Ray cluster writes the tables of a local run, bit for bit.

The Ray runs extract with model actors and run the study's tasks on the cluster's workers (similarity: one per
layer and pair, nulls and jackknife included; concepts: one per clustering, joint clustering with its COLAP and
CALIGN direction, over two seeds with the held-out variant and sweeps; factorization: one per category and
layer, with two starts). Both runs use one torch and one BLAS thread per task, as the workers do
(``cpus_per_task=1``): thread counts move sums in the last bit. A worker that dies mid-task is covered once for
every stage by the engine's own tests (a task killed mid-run is retried with the same result, a killed model
actor is restarted): the studies' tasks are plain engine tasks, retried the same way.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch
from threadpoolctl import threadpool_limits
from tiny_models import build_tiny

from crossling.concepts.run import ConceptsConfig, run_concepts
from crossling.factorization.run import FactorizationConfig, run_factorization
from crossling.similarity.run import SimilarityConfig, run_similarity
from parallel_text import write_parallel_text

pytestmark = pytest.mark.slow

_TIMINGS = ["seconds"]  # wall times: the only column two runs of the same work may differ in


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return {"xlmr": build_tiny("xlmr", root / "xlmr"), "bert": build_tiny("bert", root / "bert", seed=1)}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_parallel_text(tmp_path_factory.mktemp("corpus"))


def _both(run, config, ray_address: str, tmp_path: Path) -> tuple[Path, dict]:
    """Run ``config`` locally and on the cluster (own stores and outputs each), one thread per task in both."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(1):
            run(config.model_copy(update={"out": tmp_path / "local", "store_dir": tmp_path / "local-stores"}))
            run(config.model_copy(update={"out": tmp_path / "ray", "store_dir": tmp_path / "ray-stores",
                                          "engine": "ray", "ray_address": ray_address}))
    finally:
        torch.set_num_threads(threads)
    tables = {}
    for side in ("local", "ray"):
        out = tmp_path / side
        tables[side] = {str(p.relative_to(out)): pd.read_parquet(p).drop(columns=_TIMINGS, errors="ignore")
                        for p in sorted(out.rglob("*.parquet"))}
    assert tables["local"].keys() == tables["ray"].keys() and tables["local"]
    for name, table in tables["local"].items():
        pd.testing.assert_frame_equal(tables["ray"][name], table, check_exact=True, obj=name)
    local, remote = (json.loads((tmp_path / side / "manifest.json").read_text()) for side in ("local", "ray"))
    assert {name: s["key"] for name, s in local["stores"].items()} == \
        {name: s["key"] for name, s in remote["stores"].items()}  # the same cache entries
    assert local["engine"]["name"] == "local"
    engine = remote["engine"]
    assert engine["name"] == "ray" and len(engine["nodes"]) == 2 and engine["resources"]["CPU"] == 2
    assert all(node["resources"]["CPU"] == 1 for node in engine["nodes"])
    return tmp_path / "ray", engine


def _stages(engine: dict) -> dict[str, dict]:
    return {stage["stage"]: stage for stage in engine["stages"]}


def test_similarity_on_ray_writes_the_local_tables(ray_engine, ray_address, tiny, corpus, tmp_path):
    config = SimilarityConfig(model=str(tiny["xlmr"]), corpus=f"text:{corpus}", shard_size=16, batch_size=8,
                              indices=["anc", "cka", "cka_debiased", "cca", "svcca", "pwcca", "rbf_cka", "matching"],
                              workers=1, out=tmp_path / "unused")
    out, engine = _both(run_similarity, config, ray_address, tmp_path)
    stages = _stages(engine)
    assert stages["similarity"] == {"stage": "similarity", "tasks": 3}  # 3 hidden states x 1 pair
    # 2 x 120 sentences in shards of 16 rows (the text reader lists de first)
    assert stages["extracting de, en"] == {"stage": "extracting de, en", "tasks": 16, "actors": 2, "restarts": 0}
    table = pd.read_parquet(out / "similarity.parquet")
    assert table["null"].notna().all() and table["se"].notna().all()  # the nulls and intervals came back too


def test_concepts_on_ray_writes_the_local_tables(ray_engine, ray_address, tiny, corpus, tmp_path):
    config = ConceptsConfig(model=str(tiny["xlmr"]), corpus=f"text:{corpus}", k=5, backend="sklearn", n_seeds=2,
                            sweep_k=[4], sweep_theta_a=[0.5], sweep_theta_o=[0.5], shard_size=16, batch_size=8,
                            alignment_dir=tmp_path / "alignments", out=tmp_path / "unused")
    out, engine = _both(run_concepts, config, ray_address, tmp_path)
    stages = _stages(engine)
    # per seed and layer (3): en, de alone (all, held-out) and the set en-de; first seed also the swept K
    assert stages["clustering (seed 0)"]["tasks"] == 3 * (2 * 2 + 1 + 2 + 1)
    assert stages["clustering (seed 1)"]["tasks"] == 3 * (2 * 2 + 1)
    # per seed and layer: both directions, all and held-out; first seed also the swept K
    assert stages["CALIGN (seed 0)"]["tasks"] == 3 * 2 * 3 and stages["CALIGN (seed 1)"]["tasks"] == 3 * 2 * 2
    calign = pd.read_parquet(out / "calign.parquet")
    assert calign["heldout_calign_percent"].notna().all()


def test_factorization_on_ray_writes_the_local_tables(ray_engine, ray_address, tiny, corpus, tmp_path):
    # one control model for both languages: one extraction stage for the controls (a model load per actor)
    config = FactorizationConfig(experimental=str(tiny["xlmr"]), control={"en": str(tiny["bert"]),
                                                                          "de": str(tiny["bert"])},
                                 corpus=f"text:{corpus}", min_words=50, rank=4, n_iter_max=30, n_starts=2,
                                 n_permutations=19, chunk_size=64, figures=False, shard_size=16, batch_size=8,
                                 out=tmp_path / "unused")
    out, engine = _both(run_factorization, config, ray_address, tmp_path)
    stages = _stages(engine)
    assert stages["PARAFAC2"] == {"stage": "PARAFAC2", "tasks": 3}  # "All words" x 3 hidden states
    assert stages["PARAFAC2 starts"] == {"stage": "PARAFAC2 starts", "tasks": 3 * 2}  # each start a task
    fits = pd.read_parquet(out / "fits.parquet")
    assert (fits["n_starts"] == 2).all() and len(fits) == 3

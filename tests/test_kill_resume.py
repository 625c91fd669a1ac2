"""Killed runs resume: SIGKILL and SIGINT at random points of an extraction, a pre-training run and each study.

Each case runs once uninterrupted (in this process: the reference), then in child processes that are killed at
random points, each child resuming from what the previous one left, and finally once more to its end (in this
process). After every kill nothing half-written may be trusted: every vector store folder under its final name
passes its size and sha256 check, and the result folder is either absent or complete. The final run must end
with exactly the results of the uninterrupted one (the same tables, the same vectors, the same weights), from
the same cache entries.

A child imports everything first and only then waits for the test's signal to start, so the kill points (drawn
uniformly over the reference run's duration, from a seeded generator) fall in the work, not in the imports.
``CROSSLING_KILL_POINTS`` (default 2 per case: one SIGKILL and one SIGINT, then alternating) and
``CROSSLING_KILL_SEED`` (default 0) change how many points are tried and where; every point tried is printed
(``pytest -s``). The last case truncates a layer file of a store the study reads and checks that the next run
extracts the store again rather than read it.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file
from threadpoolctl import threadpool_limits
from tiny_models import build_tiny

from crossling._utils.io import umask
from crossling.concepts.run import ConceptsConfig, run_concepts
from crossling.extraction.run import ExtractConfig, run_extract
from crossling.extraction.store import VectorStore
from crossling.factorization.run import FactorizationConfig, run_factorization
from crossling.models.pretrain import PretrainConfig, pretrain_experiment
from crossling.similarity.run import SimilarityConfig, run_similarity
from models.pretrain.pretrain_data import text_dir
from parallel_text import write_parallel_text

pytestmark = pytest.mark.slow

KILL_POINTS = int(os.environ.get("CROSSLING_KILL_POINTS", "2"))
SEED = int(os.environ.get("CROSSLING_KILL_SEED", "0"))
SRC = Path(__file__).resolve().parents[1] / "src"

_DRIVER = r"""
import json, sys, time
from pathlib import Path
import torch
torch.set_num_threads(1)
ready, go = Path(sys.argv[1]), Path(sys.argv[2])
for name in sys.argv[3].split(","):
    __import__(name)
from crossling.cli import app
ready.touch()
while not go.exists():
    time.sleep(0.01)
app(json.loads(go.read_text()), prog_name="crossling")
"""


@dataclass
class Case:
    """One command to kill: its reference configuration and how to run, check and compare it."""

    command: str
    modules: str  # what the child imports before it says it is ready
    config: Any  # the reference run's configuration (its out and store_dir are replaced for the killed runs)
    run: Callable[[Any], Any]
    compare: Callable[[Path, Path], None]
    done: str  # what the command prints once its work is done


def _env(home: Path) -> dict[str, str]:
    threads = dict.fromkeys(["OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "CROSSLING_THREADS",
                             "RAYON_NUM_THREADS"], "1")
    return {**os.environ, **threads, "PYTHONPATH": str(SRC), "CROSSLING_HOME": str(home),
            "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"}


def _in_process(case: Case, config: Any) -> float:
    """Run ``config`` here, single-threaded like the children; its wall time."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    tic = time.perf_counter()
    try:
        with threadpool_limits(1):
            case.run(config)
    finally:
        torch.set_num_threads(threads)
    return time.perf_counter() - tic


def _killed_run(case: Case, config_file: Path, delay: float, sig: int, folder: Path, env: dict) -> tuple[int, str]:
    """Start the command in a child, signal it ``delay`` seconds into its work; (status, when the signal came).

    "in the work" when the command had not printed its last line; "at exit" when it had (the signal hit the
    interpreter's shutdown); "none" when it had ended before the delay.
    """
    folder.mkdir(parents=True)
    ready, go = folder / "ready", folder / "go"
    with open(folder / "log", "w") as log:
        child = subprocess.Popen([sys.executable, "-c", _DRIVER, str(ready), str(go), case.modules], env=env,
                                 stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 600
        while not ready.exists():
            assert child.poll() is None, (folder / "log").read_text()
            assert time.monotonic() < deadline, "the child did not get ready"
            time.sleep(0.02)
        (folder / "go.tmp").write_text(json.dumps([case.command, "--config", str(config_file)]))
        os.replace(folder / "go.tmp", go)
        try:
            return child.wait(timeout=delay), "none"
        except subprocess.TimeoutExpired:
            child.send_signal(sig)
            status = child.wait(timeout=300)
    return status, "at exit" if case.done in (folder / "log").read_text() else "in the work"


def _store_folders(root: Path) -> list[Path]:
    return [p for p in root.glob("*-*")
            if p.is_dir() and not p.name.startswith(".") and not p.name.endswith(".partial")]


def _check_nothing_half_written(config: Any) -> None:
    """Every store under its final name passes its check; the result folder is absent or complete."""
    roots = [Path(config.out)] if isinstance(config, ExtractConfig) else []
    if getattr(config, "store_dir", None) is not None:
        roots.append(Path(config.store_dir))
    for root in roots:
        for folder in _store_folders(root):
            VectorStore(folder).verify()
    out = Path(config.out)
    if isinstance(config, PretrainConfig):
        for model in out.glob("*/training_record.json"):  # finished models are whole folders
            assert (model.parent / "model.safetensors").is_file() and (model.parent / "tokenizer.json").is_file()
    elif not isinstance(config, ExtractConfig) and out.exists():
        assert (out / "manifest.json").is_file(), sorted(p.name for p in out.iterdir())


# Wall times, the only columns two runs of the same work may differ in.
_TIMINGS = ["seconds", "minutes", "tokens_per_second"]


def _tables(out: Path) -> dict[str, pd.DataFrame]:
    return {str(p.relative_to(out)): pd.read_parquet(p).drop(columns=_TIMINGS, errors="ignore")
            for p in sorted(out.rglob("*.parquet"))}


def _same_tables(ref: Path, out: Path) -> None:
    a, b = _tables(ref), _tables(out)
    assert a.keys() == b.keys() and a
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=True, obj=name)
    manifests = [json.loads((folder / "manifest.json").read_text()) for folder in (ref, out)]
    keys = [{name: store["key"] for name, store in m["stores"].items()} for m in manifests]
    assert keys[0] == keys[1]  # the same cache entries


def _same_stores(ref: Path, out: Path) -> None:
    a, b = (json.loads((f / "stores.json").read_text()) for f in (ref, out))
    assert a == b  # the same cache keys
    for name in a.values():
        x, y = VectorStore(ref / name), VectorStore(out / name)
        pd.testing.assert_frame_equal(x.meta, y.meta)
        for layer in x.layers:
            np.testing.assert_array_equal(x.vectors(layer), y.vectors(layer))


def _same_models(ref: Path, out: Path) -> None:
    names = sorted(p.parent.name for p in ref.glob("*/training_record.json"))
    assert names == sorted(p.parent.name for p in out.glob("*/training_record.json")) and names
    for name in names:
        a, b = load_file(ref / name / "model.safetensors"), load_file(out / name / "model.safetensors")
        # safetensors writes its files 0600; a finished model folder has the modes of the user's umask
        assert stat.S_IMODE((out / name / "model.safetensors").stat().st_mode) == 0o666 & ~umask()
        assert a.keys() == b.keys()
        for key in a:
            assert torch.equal(a[key], b[key]), f"{name}: {key}"
        ra, rb = (json.loads((f / name / "training_record.json").read_text()) for f in (ref, out))
        assert (ra["steps"], ra["best_step"], ra["val_loss"]) == (rb["steps"], rb["best_step"], rb["val_loss"])
    # tokenizers' unigram trainer gives scores that differ in the last bit from run to run (even on one thread);
    # the pieces, hence every token id, are the same.
    pieces = [[p for p, _ in json.loads((f / "tokenizer" / "tokenizer.json").read_text())["model"]["vocab"]]
              for f in (ref, out)]
    assert pieces[0] == pieces[1]


def _kill_and_resume(case: Case, tmp_path: Path) -> list[tuple[str, float, int, str]]:
    """The reference run, KILL_POINTS killed runs, a final run; returns what each kill did."""
    home = tmp_path / "home"
    home.mkdir()
    seconds = _in_process(case, case.config)
    update = {"out": tmp_path / "killed" / "out"}
    if hasattr(case.config, "store_dir"):
        update["store_dir"] = tmp_path / "killed" / "stores"
    config = case.config.model_copy(update=update)
    config_file = config.write(tmp_path / "killed", name="run.yaml")
    rng = np.random.default_rng([SEED, zlib.crc32(case.command.encode())])
    tried = []
    for point in range(KILL_POINTS):
        sig = signal.SIGKILL if point % 2 == 0 else signal.SIGINT
        delay = float(rng.uniform(0.02, 1.0) * seconds)
        status, when = _killed_run(case, config_file, delay, sig, tmp_path / f"child{point}", _env(home))
        tried.append((sig.name, round(delay, 2), status, when))
        # SIGINT in the work is Ctrl-C: the command says how to resume and exits with 130
        # (or 1, "Aborted!", when it comes while the command line is parsed)
        expected = {"none": (0,), "at exit": (-sig, 0), "in the work": (-9,) if sig == signal.SIGKILL else (130, 1)}
        assert status in expected[when], (tmp_path / f"child{point}" / "log").read_text()
        _check_nothing_half_written(config)
    _in_process(case, config)
    _check_nothing_half_written(config)
    case.compare(Path(case.config.out), Path(config.out))
    assert not list(Path(config.out).parent.glob(".out.*")), "a staging folder was left behind"
    print(f"\n{case.command}: reference {seconds:.1f} s; kill points (signal, seconds, status, when): {tried}")
    return tried


# ---------------------------------------------------------------- the cases


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return {"xlmr": build_tiny("xlmr", root / "xlmr"), "bert1": build_tiny("bert", root / "bert1", seed=1),
            "bert2": build_tiny("bert", root / "bert2", seed=2)}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """120 parallel en/de lines of 3-9 words, word-for-word translations, and the two dictionaries."""
    return write_parallel_text(tmp_path_factory.mktemp("corpus"))


def test_extraction_survives_kills(tiny, corpus, tmp_path):
    config = ExtractConfig(model=str(tiny["xlmr"]), corpus=f"text:{corpus}", level="word", shard_size=4,
                           batch_size=2, out=tmp_path / "reference")
    _kill_and_resume(Case("extract", "crossling.extraction.run,crossling.extraction.store", config,
                          lambda c: run_extract(c, progress=False), _same_stores, " vectors x "), tmp_path)


def test_similarity_survives_kills_and_a_cut_store(tiny, corpus, tmp_path):
    config = SimilarityConfig(model=str(tiny["xlmr"]), corpus=f"text:{corpus}", shard_size=4, batch_size=2,
                              store_dir=tmp_path / "reference-stores", out=tmp_path / "reference")
    case = Case("similarity", "crossling.similarity.run,crossling.extraction.store,matplotlib.pyplot", config,
                lambda c: run_similarity(c, progress=False), _same_tables, "results in ")
    _kill_and_resume(case, tmp_path)
    # A layer file cut short (a disk that lost its end): detected, extracted again, the same results.
    stores = _store_folders(tmp_path / "killed" / "stores")
    victim = stores[0] / "layer_01.npy"
    with open(victim, "r+b") as fh:
        fh.truncate(victim.stat().st_size - 64)
    again = config.model_copy(update={"out": tmp_path / "again", "store_dir": tmp_path / "killed" / "stores"})
    with pytest.warns(UserWarning, match="extracting it again"):
        _in_process(case, again)
    _same_tables(tmp_path / "reference", tmp_path / "again")


def test_concepts_survive_kills(tiny, corpus, tmp_path):
    config = ConceptsConfig(model=str(tiny["xlmr"]), corpus=f"text:{corpus}", k=5, backend="sklearn",
                            dictionaries={"en-de": corpus / "en-de.tsv", "de-en": corpus / "de-en.tsv"},
                            shard_size=4, batch_size=2, store_dir=tmp_path / "reference-stores",
                            out=tmp_path / "reference")
    _kill_and_resume(Case("concepts", "crossling.concepts.run,crossling.extraction.store,matplotlib.pyplot", config,
                          lambda c: run_concepts(c, progress=False), _same_tables, "results in "), tmp_path)


def test_factorization_survives_kills(tiny, corpus, tmp_path):
    config = FactorizationConfig(experimental=str(tiny["xlmr"]), control={"en": str(tiny["bert1"]),
                                                                          "de": str(tiny["bert2"])},
                                 corpus=f"text:{corpus}", min_words=50, rank=4, n_iter_max=30, n_permutations=19,
                                 chunk_size=64, figures=False, shard_size=8, batch_size=4,
                                 store_dir=tmp_path / "reference-stores", out=tmp_path / "reference")
    _kill_and_resume(Case("factorization", "crossling.factorization.run,crossling.extraction.store", config,
                          lambda c: run_factorization(c, progress=False), _same_tables, "results in "), tmp_path)


def test_pretraining_survives_kills(tmp_path):
    config = PretrainConfig(languages=["xx", "yy"], out=tmp_path / "reference", corpus=f"text:{text_dir(tmp_path)}",
                            validation_items=10, vocab_size=200, layers=2, hidden=32, heads=2, ffn=64, max_length=32,
                            batch_size=8, max_steps=24, eval_every=4, checkpoint_every=3, seed=1, threads=1)
    _kill_and_resume(Case("pretrain", "crossling.models.pretrain.experiment,transformers,matplotlib.pyplot", config,
                          pretrain_experiment, _same_models, "models in "), tmp_path)

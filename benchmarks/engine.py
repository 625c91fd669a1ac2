"""The Ray engine against the local engine, per task, for each stage wired to it; and a projection of the full grid.

Claim: the Ray engine costs a bounded overhead per task (object-store transfer, scheduling) plus a one-time
actor start (a model load) per worker, small against the work of a real task; so the original
joint-factorization grid of Zhao, Ziser and Cohen (2023), about four days on one 2-core machine, spreads over
N such machines at close to 1/N of that.

Measured in this run, on a Ray cluster of this machine (one node with one CPU, loopback only, started and stopped
here unless ``--ray-address`` names one), against the local engine in this process with one torch/BLAS thread
(a Ray task's, cpus_per_task=1), so the difference is the engine's and not parallelism:

* empty task: the bare cost of one Ray task;
* extraction (``crossling.extraction.store.extract_to_stores``): word-level vectors of UD English sentences by an
  XLM-R-base-shaped model (12 layers x 768, random weights: the cost of a forward pass does not depend on the
  weights' values) with a tokenizer trained here, shards of ``--shard-size`` sentences, one model actor; each
  result's arrival is timed, so the actor's start (process, imports, model load: the first result's extra
  time) and the overhead per shard (the later results' spacing against the local engine's) come apart;
* pre-training (``crossling.models.pretrain.pretrain_experiment``): a multilingual model and two controls of the
  ``mini`` size as three Ray tasks against the local loop (the training stage's seconds from the manifest);
* similarity (``crossling.similarity.study.compute_similarity``): every index with its shuffled-pairing nulls and
  jackknife interval, one task per (layer, pair), on sentence vectors of ``--sentences`` PUD sentences in en, de
  and fr by the same model at every layer (0, 6 and 12 with ``--quick``; pairs en-de, en-fr; the ANC matrix and
  per-neuron table, computed on the driver either way, left out);
* concepts (``crossling.concepts.study.compute_concepts``): one seed, K = 50, faiss K-means when installed; a
  task per (layer, language) clustering and per (layer, language set) joint clustering with its COLAP, then one
  per (layer, direction) CALIGN, on word vectors of the same PUD sentences (en, de), with a seeded random
  dictionary of three translations per word (the values mean nothing; the work per task is the real one), at
  the same layers;
* factorization (``crossling.factorization.study.compute_factorization``): one task per (category, layer) fit,
  here 6 fits of 8 planted slices of 128 x 128 at rank 32, 30 iterations each, with every analysis after them;
* a PARAFAC2-fit-sized task: 33 slices of 768 x 768 float64 (156 MB) in, the 33 x 768 signatures out, no
  fitting, so the difference is moving them (the transfer of one fit of the original grid).

A small run of each study's stage (one layer and pair; two fits) on both engines comes before it is timed (a Ray
worker's first task imports the study), and the timed runs' tables are checked equal between the engines.

Then crossling's own PARAFAC2 solver (``crossling.factorization.parafac2.parafac2``, rank 768, SVD start,
non-negative signatures, the study's setting) is timed for ``--fit-iterations`` iterations on planted 33 x 768 x
768 slices with two BLAS threads (one node of this machine), and the projection of the full grid is printed:
234 fits (13 layers x 18 categories) of 100 iterations each (the solver's ``n_iter_max``, hit by fits that do not
converge sooner), plus two forward passes (E and the language's control) per language over every UD sentence,
for 33 languages, on N nodes each like this machine (2 cores: one fit or two model actors at a time), from the
per-task costs and overheads measured above. It is a projection, not a measurement: it assumes ideal
placement (nodes never idle while tasks wait) and this machine's speed on every node; the 33 control models'
pre-training is not in it (its cost depends on the training budget, not measured at base size here).

    python benchmarks/engine.py [--data ../shared/data] [--quick] [--ray-address HOST:PORT]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from crossling.engine import LocalCluster, LocalEngine, RayEngine

GRID_LANGUAGES, GRID_LAYERS, GRID_CATEGORIES, GRID_WIDTH, GRID_ITERATIONS = 33, 13, 18, 768, 100


def empty(task: int) -> int:
    return task


def signatures_only(slices: np.ndarray) -> np.ndarray:
    """What a fit task returns (33 x 768), computed without fitting: the cost left is moving the slices."""
    return np.linalg.norm(slices, axis=1)


def _timed(fn, *args, **kwargs):
    tic = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - tic


def base_model(folder: Path, data: Path) -> Path:
    """An XLM-R-base-shaped encoder (random weights) with a SentencePiece tokenizer trained on UD text."""
    from crossling.data.corpus import load_corpus
    from crossling.models.pretrain import PRESETS, build_model, train_tokenizer

    if (folder / "config.json").is_file():
        return folder
    texts = {lang: [s.text for s in sentences if s.text] for lang, sentences in
             load_corpus(f"ud:{data / 'ud' / 'treebanks'}", ["en", "de", "fr"], split="train", limit=3000).items()}
    tokenizer = train_tokenizer(texts, vocab_size=8000, max_length=PRESETS["base"].max_length,
                                out_dir=folder / "tokenizer")
    model = build_model("xlm-roberta", PRESETS["base"], len(tokenizer), seed=0)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def row(stage: str, tasks: int, local: float, ray: float, startup: float = 0.0) -> dict:
    per_task = (ray - startup - local) / tasks
    return {"stage": stage, "tasks": tasks, "local_s": local, "ray_s": ray, "startup_s": startup,
            "local_per_task_ms": 1000 * local / tasks, "overhead_per_task_ms": 1000 * per_task,
            "overhead_fraction": per_task / (local / tasks)}


def bench_empty(local: LocalEngine, ray: RayEngine, n: int) -> dict:
    _, t_local = _timed(local.map, empty, range(n), desc="empty", progress=False)
    ray.map(empty, range(4), desc="warm-up", progress=False)  # a worker process exists before timing
    _, t_ray = _timed(ray.map, empty, range(n), desc="empty", progress=False)
    return row("empty task", n, t_local, t_ray)


class Stamped:
    """An engine whose stateful stages note when each result arrives (seconds from the stage's start)."""

    def __init__(self, engine):
        self.engine, self.arrivals = engine, []

    def share(self, value):
        return self.engine.share(value)

    def imap_with(self, *args, **kwargs):
        start, self.arrivals = time.perf_counter(), []
        for pair in self.engine.imap_with(*args, **kwargs):
            self.arrivals.append(time.perf_counter() - start)
            yield pair


def bench_extraction(local: LocalEngine, ray: RayEngine, model: Path, data: Path, sentences: int,
                     shard_size: int, work: Path) -> tuple[dict, float]:
    """Shard by shard: the first result pays the actor's start, the later ones compute plus overhead each."""
    from crossling.data.corpus import load_corpus
    from crossling.extraction.extract import ExtractionOptions
    from crossling.extraction.store import extract_to_stores
    from crossling.models import load_model

    lm = load_model(model)
    corpus = load_corpus(f"ud:{data / 'ud' / 'treebanks'}", ["en"], split="test", limit=sentences)
    options = ExtractionOptions(level="word", batch_size=16)
    # Warm-up: the first forward passes of a process are slower (allocations, kernel selection).
    extract_to_stores(lm, {"en": corpus["en"][:shard_size]}, work / "warm-up", options, shard_size=shard_size,
                      progress=False, engine=local)
    here, there = Stamped(local), Stamped(ray)
    stores = extract_to_stores(lm, corpus, work / "local", options, shard_size=shard_size, progress=False,
                               engine=here)
    again = extract_to_stores(lm, corpus, work / "ray", options, shard_size=shard_size, progress=False,
                              engine=there)
    for layer in stores["en"].layers:  # the engines' stores agree bit for bit (same threads)
        assert np.array_equal(stores["en"].vectors(layer), again["en"].vectors(layer))
    tasks = len(here.arrivals)
    local_per_task = (here.arrivals[-1] - here.arrivals[0]) / (tasks - 1)
    ray_per_task = (there.arrivals[-1] - there.arrivals[0]) / (tasks - 1)
    startup = there.arrivals[0] - here.arrivals[0]  # the actor's start, beyond the first shard's work
    result = row(f"extraction ({sentences} sentences, {stores['en'].n_rows} words)", tasks, here.arrivals[-1],
                 there.arrivals[-1], startup)
    result.update(overhead_per_task_ms=1000 * (ray_per_task - local_per_task),
                  overhead_fraction=(ray_per_task - local_per_task) / local_per_task)
    return result, here.arrivals[-1] / sentences


def bench_pretraining(address: str, data: Path, work: Path, steps: int) -> dict:
    from crossling.models.pretrain import PretrainConfig, pretrain_experiment

    config = PretrainConfig(languages=["en", "de"], corpus=f"ud:{data / 'ud' / 'treebanks'}", split="train",
                            out=work / "pretrain-local", size="mini", max_steps=steps, eval_every=steps,
                            checkpoint_every=steps, validation_items=50, vocab_size=2000, threads=1, limit=2000)
    local = pretrain_experiment(config)
    remote = pretrain_experiment(config.model_copy(update={"out": work / "pretrain-ray", "engine": "ray",
                                                           "ray_address": address}))
    n = len(local.models)
    return row(f"pre-training ({n} mini models, {steps} steps)", n, local.manifest["seconds"]["training"],
               remote.manifest["seconds"]["training"])


def _stage_row(stage: str, run, local: LocalEngine, ray: RayEngine, same) -> dict:
    """Time ``run(engine)`` on both engines after a small warm-up run of each (``run(engine, warm_up=True)``);
    its tasks from the engine's stage records."""
    from crossling._utils.threads import blas_limit

    with blas_limit(1):  # the local engine with a Ray task's BLAS threads
        # warm-up: imports, first allocations, a worker that has run the stage's code
        run(local, warm_up=True), run(ray, warm_up=True)
        before = len(ray.stages)
        there, t_ray = _timed(run, ray)
        here, t_local = _timed(run, local)
    same(here, there)
    return row(stage, sum(s["tasks"] for s in ray.stages[before:]), t_local, t_ray)


def _equal_tables(*names: str):
    def check(a, b) -> None:
        import pandas as pd

        for name in names:
            pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), check_exact=True, obj=name)

    return check


def bench_similarity(local: LocalEngine, ray: RayEngine, model: Path, data: Path, sentences: int, layers: list[int],
                     work: Path) -> dict:
    from crossling.data.corpus import load_corpus
    from crossling.extraction.extract import ExtractionOptions
    from crossling.extraction.store import extract_to_stores
    from crossling.models import load_model
    from crossling.similarity.study import compute_similarity

    corpus = load_corpus(f"pud:{data / 'ud' / 'pud'}", ["en", "de", "fr"], limit=sentences)
    stores = extract_to_stores(load_model(model), corpus, work / "sentences", ExtractionOptions(level="sentence"),
                               progress=False)
    pairs = [("en", "de"), ("en", "fr")]

    def run(engine, warm_up=False):
        return compute_similarity(stores, pairs[:1] if warm_up else pairs, layers=layers[:1] if warm_up else layers,
                                  workers=1, anc_matrix=False, per_neuron=False, progress=False, engine=engine)

    return _stage_row(f"similarity ({sentences} sentences, {len(layers)} layers x {len(pairs)} pairs)", run, local,
                      ray, _equal_tables("table", "details"))


def bench_concepts(local: LocalEngine, ray: RayEngine, model: Path, data: Path, sentences: int, layers: list[int],
                   work: Path) -> dict:
    from crossling.concepts.study import ConceptOptions, compute_concepts
    from crossling.data.corpus import load_corpus
    from crossling.extraction.extract import ExtractionOptions
    from crossling.extraction.store import extract_to_stores
    from crossling.models import load_model

    corpus = load_corpus(f"pud:{data / 'ud' / 'pud'}", ["en", "de"], limit=sentences)
    stores = extract_to_stores(load_model(model), corpus, work / "words", ExtractionOptions(level="word"),
                               progress=False)
    forms = {lang: store.meta["form"].to_numpy(dtype=object) for lang, store in stores.items()}
    rng = np.random.default_rng(0)
    types = {lang: sorted(set(f)) for lang, f in forms.items()}
    dictionaries = {(s, t): {w: list(rng.choice(types[t], 3, replace=False)) for w in types[s]}
                    for s, t in (("en", "de"), ("de", "en"))}
    options = ConceptOptions(k=50, n_seeds=1)

    def run(engine, warm_up=False):
        chosen = layers[:1] if warm_up else layers
        return compute_concepts({lang: [store.vectors(layer) for layer in chosen] for lang, store in stores.items()},
                                forms, dictionaries, options=options, layers=chosen, threads=1, engine=engine,
                                sentences={lang: s.meta["sentence_index"].to_numpy() for lang, s in stores.items()})

    words = sum(store.n_rows for store in stores.values())
    return _stage_row(f"concepts ({words} words, {len(layers)} layers, K=50)", run, local, ray,
                      _equal_tables("calign", "colap", "clusterings"))


def bench_factorization(local: LocalEngine, ray: RayEngine) -> dict:
    from crossling.factorization.parafac2 import random_parafac2
    from crossling.factorization.study import FactorizationOptions, compute_factorization

    languages = ["en", "de", "fr", "ru", "fi", "tr", "ja", "zh"]
    omegas = {("All words", layer): dict(zip(languages, random_parafac2([128] * 8, 128, 32, noise=0.2,
                                                                        seed=layer).matrices))
              for layer in range(6)}
    options = FactorizationOptions(rank=32, n_iter_max=30, tol=0.0, n_permutations=99)

    def run(engine, warm_up=False):
        return compute_factorization(dict(list(omegas.items())[:2]) if warm_up else omegas, languages=languages,
                                     options=options, engine=engine)

    return _stage_row("factorization (6 fits, 8 x 128 x 128, rank 32, 30 iter.)", run, local, ray,
                      _equal_tables("signatures", "average_signatures", "trees"))


def bench_fit_transfer(local: LocalEngine, ray: RayEngine, width: int, n: int) -> dict:
    rng = np.random.default_rng(0)
    tasks = [rng.standard_normal((GRID_LANGUAGES, width, width)) for _ in range(n)]
    _, t_local = _timed(local.map, signatures_only, tasks, desc="fit-sized", progress=False)
    _, t_ray = _timed(ray.map, signatures_only, tasks, desc="fit-sized", progress=False)
    mb = tasks[0].nbytes / 1e6
    result = row(f"fit-sized task ({GRID_LANGUAGES} x {width} x {width} float64, {mb:.0f} MB)", n, t_local, t_ray)
    result["overhead_fraction"] = float("nan")  # no work in it: the overhead is against a real fit, below
    return result


def time_fit(width: int, iterations: int) -> tuple[float, float]:
    """Seconds of crossling's PARAFAC2 per iteration and of its start + final projection, 2 BLAS threads."""
    from crossling._utils.threads import blas_limit
    from crossling.factorization.parafac2 import parafac2, random_parafac2

    planted = random_parafac2([width] * GRID_LANGUAGES, width, max(width // 3, 2), noise=0.2, seed=0)
    slices = list(planted.matrices)
    with blas_limit(2):
        _, one = _timed(parafac2, slices, width, n_iter_max=1, tol=0.0)
        _, more = _timed(parafac2, slices, width, n_iter_max=1 + iterations, tol=0.0)
    per_iteration = (more - one) / iterations
    return per_iteration, one - per_iteration


def projection(fit_seconds: float, fit_overhead: float, sentence_seconds: float, extraction_fraction: float,
               actor_start: float, sentences_per_language: int, nodes: list[int], cores: int = 2) -> list[dict]:
    fits = GRID_LAYERS * GRID_CATEGORIES
    passes = 2 * GRID_LANGUAGES
    forward = passes * sentences_per_language * sentence_seconds  # one core, one thread
    local_seconds = fits * fit_seconds + forward / cores
    rows = [{"nodes": "local", "fits_h": fits * fit_seconds / 3600, "forward_h": forward / cores / 3600,
             "total_h": local_seconds / 3600, "speed_up": 1.0}]
    for n in nodes:
        fit_wall = math.ceil(fits / n) * (fit_seconds + fit_overhead)
        forward_wall = actor_start + forward * (1 + max(extraction_fraction, 0.0)) / (n * cores)
        total = fit_wall + forward_wall
        rows.append({"nodes": n, "fits_h": fit_wall / 3600, "forward_h": forward_wall / 3600,
                     "total_h": total / 3600, "speed_up": local_seconds / total})
    return rows


def sentences_per_language(data: Path) -> int:
    manifest = json.loads((data / "ud" / "MANIFEST.json").read_text())
    files = [f for f in manifest["files"] if f.get("kind") == "conllu" and f["path"].startswith("treebanks/")]
    languages = {f["language_iso"] for f in files}
    return round(sum(f["sentences"] for f in files) / len(languages))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("CROSSLING_DATA", "../shared/data")))
    parser.add_argument("--ray-address", help="an existing cluster (default: one node started here)")
    parser.add_argument("--quick", action="store_true", help="smaller stages and a 256-wide fit (smoke run)")
    parser.add_argument("--sentences", type=int, default=96)
    parser.add_argument("--shard-size", type=int, default=16)
    parser.add_argument("--fit-iterations", type=int, default=2)
    parser.add_argument("--nodes", default="1,2,4,8,16,32,64,117,234")
    args = parser.parse_args()
    if args.quick:
        args.sentences, args.shard_size, args.fit_iterations = 32, 8, 1
    width = 256 if args.quick else GRID_WIDTH

    import torch

    torch.set_num_threads(1)  # the local engine with a Ray task's threads (cpus_per_task=1)
    cluster = None
    if args.ray_address is None:
        # One node, one CPU: Ray runs one task at a time, as the local loop does.
        cluster = LocalCluster(1, cpus_per_node=1, object_store_bytes=600_000_000)
        args.ray_address = cluster.start()
    try:
        with tempfile.TemporaryDirectory() as tmp, RayEngine(args.ray_address) as ray:
            work = Path(tmp)
            local = LocalEngine()
            print(f"cluster: {json.dumps(ray.record()['nodes'])}")
            rows = [bench_empty(local, ray, 50 if args.quick else 200)]
            model = base_model(work / "base", args.data)
            one_actor = RayEngine(args.ray_address, actors=1)  # the same connection, a pool of one
            extraction, sentence_seconds = bench_extraction(local, one_actor, model, args.data, args.sentences,
                                                            args.shard_size, work)
            rows.append(extraction)
            rows.append(bench_pretraining(args.ray_address, args.data, work, 10 if args.quick else 40))
            study_layers = [0, 6, 12] if args.quick else list(range(13))
            rows.append(bench_similarity(local, ray, model, args.data, args.sentences, study_layers, work))
            rows.append(bench_concepts(local, ray, model, args.data, args.sentences, study_layers, work))
            rows.append(bench_factorization(local, ray))
            rows.append(bench_fit_transfer(local, ray, width, 2 if args.quick else 3))
            print(f"\n{'stage':58s} {'tasks':>5s} {'local s':>8s} {'ray s':>8s} {'start s':>8s} "
                  f"{'local/task ms':>13s} {'overhead/task ms':>16s} {'overhead':>9s}")
            for r in rows:
                print(f"{r['stage']:58s} {r['tasks']:5d} {r['local_s']:8.2f} {r['ray_s']:8.2f} {r['startup_s']:8.2f} "
                      f"{r['local_per_task_ms']:13.1f} {r['overhead_per_task_ms']:16.1f} "
                      f"{100 * r['overhead_fraction']:8.1f}%")

            per_iteration, start = time_fit(width, args.fit_iterations)
            fit_seconds = start + GRID_ITERATIONS * per_iteration
            print(f"\nPARAFAC2 (crossling), {GRID_LANGUAGES} slices of {width} x {width}, rank {width}, 2 BLAS "
                  f"threads: {per_iteration:.2f} s per iteration ({args.fit_iterations} timed), {start:.2f} s start "
                  f"and projection; one fit of {GRID_ITERATIONS} iterations: {fit_seconds / 60:.1f} min")
            fit_overhead = rows[-1]["overhead_per_task_ms"] / 1000
            per_language = sentences_per_language(args.data)
            print(f"forward pass of the base-shaped model: {1000 * sentence_seconds:.0f} ms per UD sentence, one "
                  f"thread; {per_language} sentences per language (mean of the stored UD treebanks, train + test)")
            nodes = [int(n) for n in args.nodes.split(",")]
            print(f"\nPROJECTION (not a measurement) of the original grid: {GRID_LAYERS * GRID_CATEGORIES} fits "
                  f"({GRID_LAYERS} layers x {GRID_CATEGORIES} categories) of {GRID_LANGUAGES} slices "
                  f"{width} x {width}, {GRID_ITERATIONS} iterations each, plus 2 forward passes per language over "
                  f"{per_language} sentences for {GRID_LANGUAGES} languages; nodes like this machine (2 cores), "
                  "ideal placement, per-task overheads as measured above:")
            print(f"{'nodes':>6s} {'fits h':>8s} {'forward h':>10s} {'total h':>8s} {'speed-up':>9s}")
            for p in projection(fit_seconds, fit_overhead, sentence_seconds, extraction["overhead_fraction"],
                                extraction["startup_s"], per_language, nodes):
                print(f"{p['nodes']!s:>6s} {p['fits_h']:8.2f} {p['forward_h']:10.2f} {p['total_h']:8.2f} "
                      f"{p['speed_up']:8.1f}x")
            if args.quick:
                print("(--quick: the fit is 256 wide, so this projection is not the study's grid)")
    finally:
        if cluster is not None:
            cluster.stop()


if __name__ == "__main__":
    main()

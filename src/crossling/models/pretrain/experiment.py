"""The pre-training experiment: one shared tokenizer, a multilingual model and monolingual controls, resumable.

The joint-factorization study (Zhao, Ziser and Cohen 2023) compares a multilingual model E with one monolingual
control C_l per language, trained on the same amount of data with the same vocabulary, so that differences come
from multilinguality alone. :func:`pretrain_experiment` builds such a set:

1. texts per language from a corpus spec, exact duplicates removed, optionally romanised, a held-out
   validation set split off per language, the rest sampled across languages
   (:mod:`crossling.models.pretrain.corpus`);
2. one SentencePiece-unigram vocabulary trained on all languages together
   (:func:`~crossling.models.pretrain.tokenizer.train_tokenizer`);
3. E with the XLM-R architecture on all languages, each C_l with the RoBERTa architecture on language l only,
   by masked-language modelling (:func:`~crossling.models.pretrain.trainer.train_mlm`): 15% of tokens
   selected, of which 80% become ``<mask>``, 10% a random token and 10% stay (Devlin et al. 2019; Liu et al.
   2019), AdamW with linear warm-up and decay, early stopping on held-out loss, atomic checkpoints and exact
   resume.

Every model is a standard Hugging Face folder (``AutoModel.from_pretrained`` and
``AutoTokenizer.from_pretrained`` load it) with a ``training_record.json`` saying what made it; the experiment
folder gets the report section and a ``manifest.json`` like every other command's.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np
import yaml
from pydantic import ValidationError

from crossling._utils.provenance import Provenance, sha256_file
from crossling.config import EngineOptions
from crossling.data.corpus import corpus_record
from crossling.engine import LocalEngine
from crossling.exceptions import ConfigError
from crossling.models.pretrain.config import ModelSize, PretrainConfig
from crossling.models.pretrain.corpus import prepare_corpus, read_texts
from crossling.models.pretrain.mlm import Architecture, build_model, pack_blocks
from crossling.models.pretrain.tokenizer import train_tokenizer
from crossling.models.pretrain.trainer import (
    ModelResult,
    TrainEvent,
    TrainOptions,
    read_model_result,
    train_mlm,
    validation_mask_seed,
)

if TYPE_CHECKING:
    import pandas as pd
    from transformers import PreTrainedTokenizerBase

__all__ = ["STUDY", "ExperimentResult", "pretrain_experiment"]

STUDY = "pre-training a multilingual model and its monolingual controls (Zhao, Ziser and Cohen 2023)"


@dataclass
class ExperimentResult:
    """A tokenizer and the models trained with it.

    Attributes
    ----------
    out_dir : Path
        The experiment folder.
    tokenizer_path : Path
        Folder of the shared tokenizer (also copied into every model folder).
    tokenizer_sha256 : str
        Hash of its ``tokenizer.json``; every model folder's copy has the same hash.
    models : dict
        ``"multilingual"`` and ``"mono-<lang>"`` -> :class:`~crossling.models.pretrain.trainer.ModelResult`.
    data : dict
        The corpus preparation record (sizes, deduplication, sampling;
        :class:`~crossling.models.pretrain.corpus.PreparedCorpus`).
    manifest : dict
        What ``manifest.json`` says (empty until it is written).
    """

    out_dir: Path
    tokenizer_path: Path
    tokenizer_sha256: str
    models: dict[str, ModelResult]
    data: dict[str, Any] = field(default_factory=dict)
    manifest: dict[str, Any] = field(default_factory=dict)

    def table(self) -> pd.DataFrame:
        """Tidy table: one row per model and language.

        Returns
        -------
        pandas.DataFrame
            Columns ``model, architecture, language, val_loss, unigram_loss, steps, best_step,
            tokens_per_second, minutes`` (losses in nats).
        """
        import pandas as pd

        rows = [
            {"model": m.name, "architecture": m.architecture, "language": lang, "val_loss": m.val_loss[lang],
             "unigram_loss": m.unigram_loss[lang], "steps": m.steps, "best_step": m.best_step,
             "tokens_per_second": m.tokens_per_second, "minutes": m.wall_seconds / 60}
            for m in self.models.values() for lang in m.languages
        ]
        return pd.DataFrame(rows)


def _encode(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], block_length: int) -> np.ndarray:
    # The backend encodes without the length warning the wrapper gives for texts longer than a block.
    encodings = tokenizer.backend_tokenizer.encode_batch(list(texts), add_special_tokens=False)
    return pack_blocks([e.ids for e in encodings], block_length)


@dataclass
class _Job:
    """One model to train (picklable, for worker processes)."""

    architecture: Architecture
    size: ModelSize
    vocab_size: int
    seed: int
    tokenizer_dir: Path
    train: dict[str, np.ndarray]
    validation: dict[str, np.ndarray]
    folder: Path
    options: TrainOptions
    name: str
    record: dict[str, Any]
    threads: int


def _train_job(job: _Job, progress: Callable[[TrainEvent], None] | None = None) -> ModelResult:
    import torch
    from transformers import AutoTokenizer

    def writable(blocks: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        # A Ray worker gets the arrays read-only from the object store, and torch warns about wrapping those.
        return {lang: a if a.flags.writeable else a.copy() for lang, a in blocks.items()}

    torch.set_num_threads(job.threads)
    model = build_model(job.architecture, job.size, job.vocab_size, seed=job.seed)
    return train_mlm(
        model, AutoTokenizer.from_pretrained(job.tokenizer_dir), writable(job.train), writable(job.validation),
        job.folder, options=job.options, name=job.name, record=job.record, progress=progress,
    )


_WORKER_EVENTS: Any = None  # the queue a worker process sends its TrainEvents to


def _worker_init(events: Any) -> None:
    global _WORKER_EVENTS
    _WORKER_EVENTS = events


def _worker_train(job: _Job) -> ModelResult:
    return _train_job(job, _WORKER_EVENTS.put)


def _train_in_processes(
    jobs: Sequence[_Job], workers: int, progress: Callable[[TrainEvent], None] | None
) -> dict[str, ModelResult]:
    import multiprocessing
    import queue as queue_module
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    # spawn, not fork: a forked child of a process that has run OpenMP or Rust thread pools can hang.
    context = multiprocessing.get_context("spawn")
    events = context.Queue()

    def drain() -> None:
        while True:
            try:
                event = events.get_nowait()
            except queue_module.Empty:
                return
            if progress is not None:
                progress(event)

    with ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_init, initargs=(events,)) as pool:
        futures = {pool.submit(_worker_train, job): job.name for job in jobs}
        pending = set(futures)
        while pending:
            _, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            drain()
    # The workers have exited, so their queue feeder threads have flushed the last events.
    drain()
    return {futures[f]: f.result() for f in futures}


# Where the folder is, how many threads or processes run and on which engine do not change what is trained.
_RUN_ONLY = {"threads", "workers", "out", *EngineOptions.model_fields}


def _check_previous(config: PretrainConfig, path: Path) -> bool:
    """Whether ``path`` (an experiment's ``config.yaml``) exists; it must hold the same configuration."""
    if not path.is_file():
        return False
    try:
        # The file is the experiment's own record, not a user's YAML: its paths are read as written.
        previous = type(config).model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except ValidationError as error:
        raise ConfigError(f"{path.parent} holds an experiment whose configuration ({path}) this version cannot "
                          f"read ({error.errors()[0]['msg']}); use another --out or remove the folder") from None
    if previous.model_dump(exclude=_RUN_ONLY) != config.model_dump(exclude=_RUN_ONLY):
        raise ConfigError(f"{path.parent} holds an experiment with a different configuration ({path}); "
                          "use another --out or remove the folder")
    return True


def pretrain_experiment(
    config: PretrainConfig, *, progress: Callable[[TrainEvent], None] | None = None
) -> ExperimentResult:
    """Train the shared tokenizer, the multilingual model and the monolingual controls of ``config``.

    Layout of ``config.out``: ``tokenizer/``, ``multilingual/`` (XLM-R architecture, all languages),
    ``mono-<lang>/`` (RoBERTa architecture, one language), each a Hugging Face folder with the tokenizer and
    ``training_record.json``; ``config.yaml``; the report section (``training.parquet``,
    ``figures/validation_loss.png``, ``report.json``; see :mod:`crossling.models.pretrain.report`); and
    ``manifest.json`` (:class:`~crossling._utils.provenance.Provenance`: configuration, corpus, seeds, seconds
    per stage, versions, plus ``preparation`` (the corpus preparation record), ``tokenizer`` (folder, sha256,
    size), ``model_size`` and ``trained_models`` (per model its folder, steps, and held-out loss against the
    unigram baseline per language)).

    Running it again resumes: finished models are kept, an interrupted one continues from its last checkpoint
    (to the weights an uninterrupted run gives), and the tokenizer is reused. ``config.yaml`` is written once
    the corpus has been read and prepared, so a corpus error leaves the folder free for a corrected command.

    Parameters
    ----------
    config : PretrainConfig
    progress : callable, optional
        Called with every :class:`~crossling.models.pretrain.trainer.TrainEvent` of every model (also those
        of worker processes), e.g. a :class:`~crossling.models.pretrain.progress.TrainingBars`.

    Returns
    -------
    ExperimentResult
        With ``manifest`` filled.

    Raises
    ------
    ConfigError
        When ``config.out`` holds an experiment with another configuration, or a language has too few
        distinct texts for ``validation_items``.
    CorpusSpecError
        When the corpus cannot be read.

    Notes
    -----
    Threads: ``config.threads`` per process, else the ``CROSSLING_THREADS`` environment variable, else 1. With
    ``config.workers`` > 1 the models train in that many processes at once; with ``config.engine == "ray"`` each
    model is a Ray task reserving that many CPUs (the folder must be on a path every node writes). Each model's
    result is the same wherever it trains (it depends only on the seed), and a task whose worker died resumes
    from the model's last checkpoint.
    """
    import torch
    from transformers import AutoTokenizer

    threads = config.threads or int(os.environ.get("CROSSLING_THREADS") or 1)
    torch.set_num_threads(threads)
    out = Path(config.out)
    resuming = _check_previous(config, out / "config.yaml")
    provenance = Provenance(STUDY, "crossling pretrain", config.model_dump(mode="json"))
    manifest = provenance.record
    with provenance.stage("reading the corpus"):
        sentences, texts = read_texts(config)
    manifest["corpus"] = {**corpus_record(config.corpus, sentences, split=config.split, limit=config.limit),
                          "parallel": False}
    with provenance.stage("preparing the corpus"):
        corpus = prepare_corpus(
            texts, validation_items=config.validation_items, sampling=config.sampling,
            sample_size=config.sample_size, alpha=config.alpha, low_resource=config.low_resource,
            low_resource_fraction=config.low_resource_fraction, romanize=config.romanize, seed=config.seed,
        )
    for entry in sentences.skipped:
        provenance.skip(**entry)
    for lang in config.languages:
        blank = len(sentences[lang]) - len(texts[lang])
        if blank:
            provenance.skip("text", "blank", blank, language=lang)
        if corpus.record["duplicates_removed"][lang]:
            provenance.skip("text", "duplicate (once whitespace runs are one space)",
                            corpus.record["duplicates_removed"][lang], language=lang)
    manifest["preparation"] = corpus.record
    if not resuming:
        config.write(out)
    size = config.model_size()
    tok_dir = out / "tokenizer"
    with provenance.stage("tokenizer"):
        if (tok_dir / "tokenizer.json").is_file():
            tokenizer = AutoTokenizer.from_pretrained(tok_dir)
        else:
            tokenizer = train_tokenizer(corpus.train, vocab_size=config.vocab_size, max_length=size.max_length,
                                        out_dir=tok_dir)
    tokenizer_sha256 = sha256_file(tok_dir / "tokenizer.json")
    manifest["tokenizer"] = {"path": tok_dir.name, "sha256": tokenizer_sha256, "vocab_size": len(tokenizer)}
    with provenance.stage("encoding"):
        train = {lang: _encode(tokenizer, corpus.train[lang], size.max_length) for lang in config.languages}
        val = {lang: _encode(tokenizer, corpus.validation[lang], size.max_length) for lang in config.languages}
    record = {"config": config.model_dump(mode="json"), "corpus": corpus.record, "tokenizer_sha256": tokenizer_sha256}
    plan = config.model_plan()
    results = {name: read_model_result(out / name) for name, _, _ in plan
               if (out / name / "training_record.json").is_file()}
    jobs = [
        _Job(arch, size, len(tokenizer), config.seed, tok_dir, {lang: train[lang] for lang in langs},
             {lang: val[lang] for lang in langs}, out / name,
             config.train_options(multilingual=arch == "xlm-roberta"), name, record, threads)
        for name, arch, langs in plan if name not in results
    ]
    with provenance.stage("training"), config.open_engine() as engine:
        if isinstance(engine, LocalEngine) and config.workers > 1 and len(jobs) > 1:
            results.update(_train_in_processes(jobs, config.workers, progress))
        else:
            if not isinstance(engine, LocalEngine):  # a worker's working directory may be another one
                jobs = [dataclasses.replace(job, folder=job.folder.resolve(), tokenizer_dir=job.tokenizer_dir.resolve())
                        for job in jobs]
            # One task per model, retried from its last checkpoint when its worker dies; the per-model displays
            # of ``progress`` (events from the tasks) replace the engine's count of models.
            trained = engine.map(_train_job, jobs, desc="training", unit="model", progress=progress is None,
                                 cpus=threads, events=progress)
            results.update({job.name: result for job, result in zip(jobs, trained)})
        engine_record = engine.record()
    results = {name: results[name] for name, _, _ in plan}
    manifest.update(
        seeds={"validation_split": config.seed, "sampling": config.seed, "initialisation": config.seed,
               "masking": config.seed, "batch_order": config.seed,
               "validation_masks": {lang: validation_mask_seed(config.seed, lang) for lang in config.languages}},
        diagnostics={"stopped_early": [name for name, m in results.items() if m.stopped_early]},
        engine={**engine_record, "threads": threads, "workers": config.workers},
        model_size=asdict(size),
        trained_models={name: _model_entry(m) for name, m in results.items()},
    )
    result = ExperimentResult(out, tok_dir, tokenizer_sha256, results, corpus.record)
    with provenance.stage("report"):
        from crossling.models.pretrain.report import write_pretrain_section

        write_pretrain_section(result)
    provenance.write(out)
    return dataclasses.replace(result, manifest=manifest)


def _model_entry(model: ModelResult) -> dict[str, Any]:
    """What the manifest says of a trained model; ``below_unigram`` is the baseline's loss minus the model's."""
    return {"path": model.path.name, "architecture": model.architecture, "languages": model.languages,
            "steps": model.steps, "best_step": model.best_step, "stopped_early": model.stopped_early,
            "val_loss": model.val_loss, "unigram_loss": model.unigram_loss,
            "below_unigram": {lang: model.unigram_loss[lang] - model.val_loss[lang] for lang in model.languages},
            "train_tokens": model.train_tokens, "tokens_per_second": model.tokens_per_second,
            "wall_seconds": model.wall_seconds}

"""Training one masked-language model: AdamW with warm-up and decay, early stopping, checkpoints, exact resume.

:func:`train_mlm` saves the model, optimiser, scheduler, every random generator's state and the position in the
data every ``checkpoint_every`` steps, atomically, so a run killed at any point and started again ends with the
same weights as one that was never interrupted. The finished model is a Hugging Face folder with a
``training_record.json`` (curves, unigram baseline, data sizes, options, versions) that
:func:`read_model_result` reads back.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import time
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

import numpy as np

from crossling._utils.io import atomic_path, staged_folder
from crossling._utils.provenance import versions
from crossling.models.pretrain.mlm import IGNORE, init_unigram_bias, mask_tokens, mlm_loss, unigram_cross_entropy
from crossling.models.pretrain.tokenizer import PAD

if TYPE_CHECKING:  # torch and transformers load inside the functions, so `crossling --help` stays fast
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = ["ModelResult", "TrainEvent", "TrainOptions", "read_model_result", "train_mlm", "validation_mask_seed"]


@dataclass(frozen=True)
class TrainOptions:
    """Optimisation settings of :func:`train_mlm` (defaults as in
    :class:`~crossling.models.pretrain.config.PretrainConfig`).

    Attributes
    ----------
    batch_size : int, default 32
        Blocks per optimiser step.
    lr : float, default 1e-3
        Peak learning rate of AdamW (betas 0.9, 0.98, eps 1e-6, as RoBERTa).
    warmup_fraction : float, default 0.05
        Linear warm-up over ``warmup_fraction * max_steps`` steps, then linear decay to zero at ``max_steps``.
    weight_decay : float, default 0.01
        Decoupled weight decay, not on biases and layer norms.
    max_steps : int, default 10000
        Optimiser steps.
    eval_every : int, default 200
        Steps between held-out evaluations (and the last step).
    patience : int, default 5
        Evaluations without improvement of the mean held-out loss before training stops.
    checkpoint_every : int, default 200
        Steps between checkpoints.
    mask_probability : float, default 0.15
        Chance that an ordinary token is selected for prediction.
    unigram_bias : bool, default True
        Start the output bias at the log unigram frequencies of the training tokens.
    seed : int, default 0
        Seed of the masks, the batch order and the global generators.
    clip_norm : float, default 1.0
        Gradients are clipped to this global L2 norm.
    eval_batch_size : int, default 64
        Blocks per forward pass of an evaluation.
    """

    batch_size: int = 32
    lr: float = 1e-3
    warmup_fraction: float = 0.05
    weight_decay: float = 0.01
    max_steps: int = 10000
    eval_every: int = 200
    patience: int = 5
    checkpoint_every: int = 200
    mask_probability: float = 0.15
    unigram_bias: bool = True
    seed: int = 0
    clip_norm: float = 1.0
    eval_batch_size: int = 64


@dataclass(frozen=True)
class TrainEvent:
    """What :func:`train_mlm` reports after every optimiser step.

    Attributes
    ----------
    model : str
        The model's name.
    step : int
        Steps done, 1-based.
    max_steps : int
        The step budget.
    train_loss : float
        Loss of this step's batch (NaN when the batch had no selected token).
    val_loss : float or None
        Mean held-out loss over the languages, only after an evaluation.
    """

    model: str
    step: int
    max_steps: int
    train_loss: float
    val_loss: float | None


@dataclass
class ModelResult:
    """One trained model: where it is and how it did.

    Attributes
    ----------
    name : str
        ``multilingual`` or ``mono-<lang>`` in an experiment.
    path : Path
        The Hugging Face folder.
    architecture : str
        ``xlm-roberta`` or ``roberta`` (the config's ``model_type``).
    languages : list of str
        Languages it was trained on, sorted.
    steps : int
        Optimiser steps taken.
    best_step : int
        Step of the kept (best) weights.
    stopped_early : bool
        Whether training stopped for lack of improvement before ``max_steps``.
    val_loss : dict of str to float
        Per-language masked-token cross-entropy (nats) of the best weights on the held-out texts.
    unigram_loss : dict of str to float
        The unigram baseline on the same masked positions.
    train_tokens : int
        Non-padding tokens of its training blocks.
    tokens_per_second : float
        Training throughput (non-padding tokens).
    wall_seconds : float
        Wall time over every session.
    """

    name: str
    path: Path
    architecture: str
    languages: list[str]
    steps: int
    best_step: int
    stopped_early: bool
    val_loss: dict[str, float]
    unigram_loss: dict[str, float]
    train_tokens: int
    tokens_per_second: float
    wall_seconds: float


def read_model_result(folder: str | os.PathLike) -> ModelResult:
    """The :class:`ModelResult` of a finished model folder, from its ``training_record.json``.

    Parameters
    ----------
    folder : path

    Returns
    -------
    ModelResult
    """
    folder = Path(folder)
    r = json.loads((folder / "training_record.json").read_text(encoding="utf-8"))
    return ModelResult(
        name=r["name"], path=folder, architecture=r["architecture"], languages=r["languages"], steps=r["steps"],
        best_step=r["best_step"], stopped_early=r["stopped_early"], val_loss=r["val_loss"],
        unigram_loss=r["unigram_loss"], train_tokens=sum(r["data"]["train_tokens"].values()),
        tokens_per_second=r["tokens_per_second"], wall_seconds=r["wall_seconds"],
    )


def validation_mask_seed(seed: int, lang: str) -> int:
    """Seed of the fixed masks of ``lang``'s held-out blocks: ``seed * 1000003 + crc32(lang)``.

    It depends on the experiment's seed and the language code only, so every evaluation of every model of an
    experiment (multilingual or not) scores the same positions of a language.

    Parameters
    ----------
    seed : int
    lang : str

    Returns
    -------
    int
    """
    return seed * 1_000_003 + zlib.crc32(lang.encode())


def _lr_lambda(warmup: int, total: int) -> Callable[[int], float]:
    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    return f


def _optimizer(model: PreTrainedModel, options: TrainOptions) -> torch.optim.Optimizer:
    import torch

    # No weight decay on biases and layer norms (as in BERT/RoBERTa).
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        (no_decay if param.ndim < 2 or "LayerNorm" in name or "layer_norm" in name else decay).append(param)
    groups = [{"params": decay, "weight_decay": options.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=options.lr, betas=(0.9, 0.98), eps=1e-6, foreach=True)


@dataclass
class _ValSet:
    inputs: dict[str, torch.Tensor]
    labels: dict[str, torch.Tensor]


def _validation_masks(val: Mapping[str, np.ndarray], mask_id: int, probability: float, seed: int) -> _ValSet:
    import torch

    inputs, labels = {}, {}
    for lang, blocks in sorted(val.items()):
        gen = torch.Generator().manual_seed(validation_mask_seed(seed, lang))
        inputs[lang], labels[lang] = mask_tokens(
            torch.from_numpy(blocks), mask_id=mask_id, probability=probability, generator=gen
        )
    return _ValSet(inputs, labels)


def _evaluate(model: PreTrainedModel, val: _ValSet, batch_size: int) -> dict[str, float]:
    import torch

    was_training = model.training
    model.eval()
    out = {}
    for lang in val.inputs:
        total, count = 0.0, 0
        for start in range(0, len(val.inputs[lang]), batch_size):
            x, y = val.inputs[lang][start:start + batch_size], val.labels[lang][start:start + batch_size]
            n = int((y != IGNORE).sum())
            if n:
                with torch.no_grad():
                    total += float(mlm_loss(model, x, y, reduction="sum"))
                count += n
        out[lang] = total / count if count else math.nan
    model.train(was_training)
    return out


def _rng_state() -> dict[str, Any]:
    """Every global generator's state as tensors and plain values, which ``torch.load(weights_only=True)`` reads."""
    import torch

    name, keys, position, has_gauss, gauss = np.random.get_state()
    return {"torch": torch.get_rng_state(),
            "numpy": [name, torch.from_numpy(keys.astype(np.int64)), int(position), int(has_gauss), float(gauss)],
            "python": random.getstate()}


def _set_rng_state(state: dict[str, Any]) -> None:
    import torch

    torch.set_rng_state(state["torch"])
    name, keys, position, has_gauss, gauss = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), position, has_gauss, gauss))
    random.setstate(state["python"])


def _trim(batch: np.ndarray) -> np.ndarray:
    # Only a language's last block is short; cut trailing all-padding columns.
    used = np.flatnonzero((batch != PAD).any(axis=0))
    return batch[:, : used[-1] + 1]


def train_mlm(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    train: Mapping[str, np.ndarray],
    validation: Mapping[str, np.ndarray],
    out_dir: str | os.PathLike,
    *,
    options: TrainOptions = TrainOptions(),
    name: str | None = None,
    record: Mapping[str, Any] | None = None,
    progress: Callable[[TrainEvent], None] | None = None,
) -> ModelResult:
    """Masked-language-model training with early stopping, checkpoints and exact resume.

    Parameters
    ----------
    model : transformers.PreTrainedModel
        A ``*ForMaskedLM`` with ``base_model`` and ``lm_head`` (RoBERTa family), freshly initialised.
    tokenizer : transformers.PreTrainedTokenizerBase
        Saved beside the model; its ``<mask>`` must be the last id.
    train, validation : mapping of str to ndarray (n_blocks, block_length) int32
        Packed blocks per language (:func:`~crossling.models.pretrain.mlm.pack_blocks`). Training draws
        batches from all languages' blocks together, in a seeded order (a new permutation each epoch).
    out_dir : path
        The model's folder. Training state goes to ``<out_dir>.ckpt/`` and is removed when done; an
        existing finished folder (with ``training_record.json``) is returned without training.
    options : TrainOptions
        Linear warm-up over ``warmup_fraction * max_steps`` steps then linear decay to zero at
        ``max_steps``; every ``eval_every`` steps the held-out loss (mean over languages of the
        per-language masked-token cross-entropy) is computed and training stops after ``patience``
        evaluations without improvement; the best model is kept. Every ``checkpoint_every`` steps the
        model, optimiser, scheduler, RNG states and data position are saved atomically.
    name : str, optional
        Model name for events and the record (default: the folder name).
    record : mapping, optional
        Extra provenance stored in ``training_record.json`` (experiment config, data record).
    progress : callable, optional
        Called with a :class:`TrainEvent` after every step.

    Returns
    -------
    ModelResult

    Raises
    ------
    ValueError
        When ``<mask>`` is not the tokenizer's last id, the model's vocabulary differs from the tokenizer's, a
        training language has no block, or the validation languages differ from the training languages.
    """
    import torch

    out_dir = Path(out_dir)
    name = name or out_dir.name
    if (out_dir / "training_record.json").is_file():
        return read_model_result(out_dir)
    if tokenizer.mask_token_id != len(tokenizer) - 1:
        raise ValueError("the tokenizer's <mask> must be its last id")
    if model.config.vocab_size != len(tokenizer):
        raise ValueError(f"model vocabulary {model.config.vocab_size} != tokenizer size {len(tokenizer)}")
    languages = sorted(train)
    if not languages or any(len(train[lang]) == 0 for lang in languages):
        raise ValueError("every training language needs at least one block")
    if sorted(validation) != languages:
        raise ValueError(f"validation languages {sorted(validation)} != training languages {languages}")

    blocks = np.concatenate([train[lang] for lang in languages])
    mask_id, vocab = tokenizer.mask_token_id, len(tokenizer)
    val = _validation_masks(validation, mask_id, options.mask_probability, options.seed)
    baseline = {
        lang: unigram_cross_entropy(train[lang], val.labels[lang][val.labels[lang] != IGNORE].numpy(), vocab)
        for lang in languages
    }
    warmup = int(options.warmup_fraction * options.max_steps)
    optimizer = _optimizer(model, options)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(warmup, options.max_steps))
    mask_gen = torch.Generator().manual_seed(options.seed)
    ckpt_dir = out_dir.with_name(out_dir.name + ".ckpt")
    state = {
        "step": 0, "epoch": 0, "offset": 0, "best_loss": math.inf, "best_step": 0, "bad_evals": 0,
        "train_curve": [], "val_curve": [], "interval_loss": 0.0, "interval_steps": 0, "tokens": 0,
        "train_seconds": 0.0, "wall_seconds": 0.0, "sessions": 0, "stopped_early": False,
    }
    if (ckpt_dir / "state.pt").is_file():
        # Tensors and plain values only: nothing in a checkpoint can run code when it is read.
        saved = torch.load(ckpt_dir / "state.pt", weights_only=True)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        mask_gen.set_state(saved["mask_generator"])
        _set_rng_state(saved["rng"])
        state = saved["state"]
    else:
        if options.unigram_bias:
            init_unigram_bias(model, blocks)
        random.seed(options.seed)
        np.random.seed(options.seed % 2**32)
        torch.manual_seed(options.seed)
    state["sessions"] += 1

    def save_checkpoint() -> None:
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        with atomic_path(ckpt_dir / "state.pt") as tmp:
            torch.save({
                "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "mask_generator": mask_gen.get_state(),
                "rng": _rng_state(), "state": state,
            }, tmp)

    def save_best() -> None:
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        with atomic_path(ckpt_dir / "best.pt") as tmp:
            torch.save(model.state_dict(), tmp)

    session_start = time.perf_counter()
    wall_before = state["wall_seconds"]
    model.train()
    perm = np.random.default_rng([options.seed, state["epoch"]]).permutation(len(blocks))
    while state["step"] < options.max_steps and not state["stopped_early"]:
        if state["offset"] >= len(blocks):
            state["epoch"], state["offset"] = state["epoch"] + 1, 0
            perm = np.random.default_rng([options.seed, state["epoch"]]).permutation(len(blocks))
        idx = perm[state["offset"]: state["offset"] + options.batch_size]
        state["offset"] += len(idx)
        batch = torch.from_numpy(_trim(blocks[np.sort(idx)]))
        inputs, labels = mask_tokens(batch, mask_id=mask_id, probability=options.mask_probability, generator=mask_gen)
        t0 = time.perf_counter()
        loss = mlm_loss(model, inputs, labels) if (labels != IGNORE).any() else None
        if loss is not None:
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), options.clip_norm)
            optimizer.step()
        scheduler.step()
        state["train_seconds"] += time.perf_counter() - t0
        state["step"] += 1
        state["tokens"] += int((batch != PAD).sum())
        loss_value = loss.item() if loss is not None else math.nan
        if loss is not None:
            state["interval_loss"] += loss_value
            state["interval_steps"] += 1
        val_mean = None
        if state["step"] % options.eval_every == 0 or state["step"] == options.max_steps:
            losses = _evaluate(model, val, options.eval_batch_size)
            val_mean = float(np.mean(list(losses.values())))
            state["train_curve"].append(
                [state["step"], state["interval_loss"] / max(1, state["interval_steps"]), scheduler.get_last_lr()[0]]
            )
            state["interval_loss"], state["interval_steps"] = 0.0, 0
            state["val_curve"].append({"step": state["step"], "mean": val_mean, **losses})
            if val_mean < state["best_loss"]:
                state["best_loss"], state["best_step"], state["bad_evals"] = val_mean, state["step"], 0
                save_best()
            else:
                state["bad_evals"] += 1
                state["stopped_early"] = state["bad_evals"] >= options.patience
        state["wall_seconds"] = wall_before + time.perf_counter() - session_start
        if state["step"] % options.checkpoint_every == 0:
            save_checkpoint()
        if progress is not None:
            progress(TrainEvent(name, state["step"], options.max_steps, loss_value, val_mean))
    save_checkpoint()

    model.load_state_dict(torch.load(ckpt_dir / "best.pt", weights_only=True))
    final = _evaluate(model, val, options.eval_batch_size)
    training_record = {
        "name": name,
        "architecture": model.config.model_type,
        "languages": languages,
        "steps": state["step"],
        "best_step": state["best_step"],
        "stopped_early": state["stopped_early"],
        "val_loss": final,
        "unigram_loss": baseline,
        "train_curve": [{"step": s, "loss": loss, "lr": lr} for s, loss, lr in state["train_curve"]],
        "val_curve": state["val_curve"],
        "data": {
            "train_blocks": {lang: int(len(train[lang])) for lang in languages},
            "train_tokens": {lang: int((train[lang] != PAD).sum()) for lang in languages},
            "validation_blocks": {lang: int(len(validation[lang])) for lang in languages},
            "validation_masked_tokens": {lang: int((val.labels[lang] != IGNORE).sum()) for lang in languages},
            "block_length": int(blocks.shape[1]),
        },
        "tokens_seen": state["tokens"],
        "tokens_per_second": state["tokens"] / state["train_seconds"] if state["train_seconds"] else math.nan,
        "wall_seconds": state["wall_seconds"],
        "sessions": state["sessions"],
        "options": asdict(options),
        "model_config": model.config.to_dict(),
        "threads": torch.get_num_threads(),
        "versions": versions(),
        **({"experiment": dict(record)} if record else {}),
    }
    with staged_folder(out_dir) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / "training_record.json").write_text(json.dumps(training_record, indent=1, default=str), encoding="utf-8")
    shutil.rmtree(ckpt_dir, ignore_errors=True)
    return read_model_result(out_dir)

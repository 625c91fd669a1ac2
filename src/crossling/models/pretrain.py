"""Pre-training from scratch: one shared tokenizer, a multilingual model and monolingual controls.

The joint-factorization study (Zhao, Ziser and Cohen 2023) compares a multilingual model E with one
monolingual control C_l per language, trained on the same amount of data with the same vocabulary, so
that differences come from multilinguality alone. :func:`pretrain_experiment` builds such a set:

1. texts per language from a source (LibreOffice Help, UD ``# text``, plain text files), exact
   duplicates removed, optionally romanised, a held-out validation set split off per language, the rest
   sampled across languages (:func:`crossling.data.sampling.sample_languages`);
2. one SentencePiece-unigram vocabulary trained on all languages together (:func:`train_tokenizer`);
3. E with the XLM-R architecture on all languages, each C_l with the RoBERTa architecture on language
   l only, by masked-language modelling (:func:`train_mlm`): 15% of tokens selected, of which 80%
   become ``<mask>``, 10% a random token and 10% stay (Devlin et al. 2019; Liu et al. 2019), AdamW with
   linear warm-up and decay, early stopping on held-out loss, atomic checkpoints and exact resume.

Every model is a standard Hugging Face folder (``AutoModel.from_pretrained`` and
``AutoTokenizer.from_pretrained`` load it) with a ``training_record.json`` saying what made it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import random
import shutil
import tempfile
import time
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal, Mapping, Optional, Sequence

import numpy as np
import typer
from pydantic import Field, model_validator

if TYPE_CHECKING:  # torch and transformers load inside the functions, so `crossling --help` stays fast
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

from crossling._utils.io import atomic_path, atomic_write_text
from crossling.config import RunConfig
from crossling.data.sampling import sample_languages

__all__ = [
    "ModelSize", "PRESETS", "PretrainConfig", "TrainOptions", "TrainEvent", "ModelResult", "ExperimentResult",
    "load_texts", "prepare_corpus", "PreparedCorpus", "train_tokenizer", "build_model", "pack_blocks",
    "mask_tokens", "unigram_log_probs", "unigram_cross_entropy", "init_unigram_bias", "train_mlm",
    "pretrain_experiment", "PRESET_TRAINING", "pretrain_command",
]

SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>")  # ids 0..3 as in XLM-R; <mask> is appended last
BOS, PAD, EOS, UNK = range(4)
IGNORE = -100  # label of unmasked positions (ignored by the loss, as in Hugging Face)
Architecture = Literal["xlm-roberta", "roberta"]


# ----------------------------------------------------------------------------------------------- sizes
@dataclass(frozen=True)
class ModelSize:
    """Transformer encoder shape.

    ``max_length`` counts tokens including ``<s>`` and ``</s>``; the model gets ``max_length + 2``
    position embeddings because RoBERTa-style positions start after the padding index.
    """

    layers: int
    hidden: int
    heads: int
    ffn: int
    max_length: int

    def __post_init__(self) -> None:
        if min(self.layers, self.hidden, self.heads, self.ffn, self.max_length) < 1:
            raise ValueError(f"every size must be positive: {self}")
        if self.hidden % self.heads:
            raise ValueError(f"hidden size {self.hidden} is not divisible by {self.heads} attention heads")
        if self.max_length < 8:
            raise ValueError(f"max_length {self.max_length} is too short for masked-language modelling")


PRESETS: dict[str, ModelSize] = {
    "mini": ModelSize(layers=2, hidden=64, heads=2, ffn=256, max_length=64),  # the demo's --quick models
    "tiny": ModelSize(layers=4, hidden=128, heads=2, ffn=512, max_length=128),
    "base": ModelSize(layers=12, hidden=768, heads=12, ffn=3072, max_length=512),  # XLM-R base / RoBERTa base
}

# Training defaults that depend on the size (used when ``lr`` / ``vocab_size`` are not given). The
# study's 1e-4 suits base models trained for days; CPU models get a few thousand steps at most, in which
# 1e-4 barely moves a small encoder. Measured on LibreOffice Help en: 4 x 64, 300 steps of 16 x 64
# tokens, held-out loss 0.21 nats below the unigram baseline at 3e-3 and 0.11 at 1e-3; 4 x 128, 1000 steps
# of 32 x 64 tokens at 2e-3, 0.64 nats below (5.925 against 6.567). A smaller vocabulary gives short runs
# more examples per output row.
PRESET_TRAINING: dict[str, dict[str, float | int]] = {
    "mini": {"lr": 3e-3, "vocab_size": 8000},
    "tiny": {"lr": 2e-3, "vocab_size": 8000},
    "base": {"lr": 1e-4, "vocab_size": 16000},
}


# ---------------------------------------------------------------------------------------------- config
class PretrainConfig(RunConfig):
    """Everything ``crossling pretrain`` needs; see :func:`pretrain_experiment`.

    Size fields (``layers``, ``hidden``, ``heads``, ``ffn``, ``max_length``) override the preset
    named by ``size`` when given; ``lr`` and ``vocab_size`` default to the preset's
    (:data:`PRESET_TRAINING`: 3e-3 for ``mini``, 2e-3 for ``tiny``, the study's 1e-4 for ``base``;
    vocabulary 8000, 8000, 16000). ``multilingual_steps`` gives the multilingual model its own step
    budget (default ``max_steps``): it reads every language, so at equal steps it sees each one
    ``len(languages)`` times less often than its control does. ``unigram_bias`` starts every model's output bias at the log unigram frequencies of its
    training tokens (see :class:`TrainOptions`). ``threads`` is per process (default: the
    ``CROSSLING_THREADS`` environment variable, else 1: on a shared CPU one thread per process avoids
    OpenMP spin-waiting); ``workers`` > 1 trains the models in that many processes at once.
    """

    languages: list[str] = Field(min_length=1)
    out: Path
    source: Literal["lohelp", "ud", "text"] = "lohelp"
    text_files: dict[str, Path] = Field(default_factory=dict)
    data_dir: Path | None = None
    cache_dir: Path | None = None
    sampling: Literal["equal", "temperature", "none"] = "equal"
    sample_size: int | None = Field(default=None, ge=1)
    alpha: float = Field(default=0.3, ge=0.0, le=1.0)
    low_resource: list[str] = Field(default_factory=list)
    low_resource_fraction: float = Field(default=0.1, gt=0.0, le=1.0)
    romanize: list[str] = Field(default_factory=list)
    validation_items: int = Field(default=500, ge=1)
    vocab_size: int = Field(default=8000, ge=16)
    size: Literal["mini", "tiny", "base"] = "tiny"
    layers: int | None = Field(default=None, ge=1)
    hidden: int | None = Field(default=None, ge=1)
    heads: int | None = Field(default=None, ge=1)
    ffn: int | None = Field(default=None, ge=1)
    max_length: int | None = Field(default=None, ge=8)
    multilingual: bool = True
    monolingual: bool = True
    batch_size: int = Field(default=32, ge=1)
    lr: float = Field(default=1e-3, gt=0.0)
    warmup_fraction: float = Field(default=0.05, ge=0.0, lt=1.0)
    weight_decay: float = Field(default=0.01, ge=0.0)
    max_steps: int = Field(default=10000, ge=1)
    multilingual_steps: int | None = Field(default=None, ge=1)
    eval_every: int = Field(default=200, ge=1)
    patience: int = Field(default=5, ge=1)
    checkpoint_every: int = Field(default=200, ge=1)
    mask_probability: float = Field(default=0.15, gt=0.0, lt=1.0)
    unigram_bias: bool = True
    seed: int = 0
    threads: int | None = Field(default=None, ge=1)
    workers: int = Field(default=1, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _preset_training(cls, data: Any) -> Any:
        # Fill lr / vocab_size from the size preset before validation (an "after" validator cannot
        # assign fields of a validate_assignment model without recursing).
        if isinstance(data, dict):
            preset = PRESET_TRAINING.get(data.get("size") or "tiny", {})
            data = {**data, **{k: v for k, v in preset.items() if data.get(k) is None}}
        return data

    @model_validator(mode="after")
    def _check(self) -> "PretrainConfig":
        if len(set(self.languages)) != len(self.languages):
            raise ValueError(f"duplicate languages: {self.languages}")
        for name, langs in (("low_resource", self.low_resource), ("romanize", self.romanize)):
            stray = sorted(set(langs) - set(self.languages))
            if stray:
                raise ValueError(f"{name} languages {stray} are not among languages {self.languages}")
        if self.source == "text":
            missing = sorted(set(self.languages) - set(self.text_files))
            if missing:
                raise ValueError(f"source 'text' needs text_files for every language; missing: {missing}")
        if not (self.multilingual or self.monolingual):
            raise ValueError("nothing to train: multilingual and monolingual are both off")
        self.model_size()  # validates the shape
        return self

    def model_size(self) -> ModelSize:
        """The preset with the explicit size fields applied."""
        base = asdict(PRESETS[self.size])
        base.update({k: getattr(self, k) for k in base if getattr(self, k) is not None})
        return ModelSize(**base)

    def train_options(self, *, multilingual: bool = False) -> "TrainOptions":
        """Training options of one model; the multilingual one gets ``multilingual_steps`` if set."""
        steps = self.multilingual_steps if multilingual and self.multilingual_steps else self.max_steps
        return TrainOptions(
            batch_size=self.batch_size, lr=self.lr, warmup_fraction=self.warmup_fraction,
            weight_decay=self.weight_decay, max_steps=steps, eval_every=self.eval_every,
            patience=self.patience, checkpoint_every=self.checkpoint_every,
            mask_probability=self.mask_probability, unigram_bias=self.unigram_bias, seed=self.seed,
        )


# ------------------------------------------------------------------------------------------------ data
def load_texts(config: PretrainConfig) -> dict[str, list[str]]:
    """Texts per language from ``config.source``.

    - ``"lohelp"``: LibreOffice Help paragraphs (all translated ones, not only the parallel subset;
      :func:`crossling.data.lohelp.read_lohelp`);
    - ``"ud"``: the ``# text`` of ``<data_dir>/ud/treebanks/<lang>_*-train.conllu.gz`` (data_dir
      defaults to ``$CROSSLING_DATA``); sentences without ``# text`` are skipped;
    - ``"text"``: ``config.text_files[lang]``, one item per non-empty line (UTF-8).
    """
    if config.source == "lohelp":
        from crossling.data.lohelp import read_lohelp

        corpus = read_lohelp(config.languages, config.cache_dir, parallel=False)
        return {lang: [s.text for s in corpus[lang]] for lang in config.languages}
    if config.source == "ud":
        from crossling.data.conllu import read_conllu

        root = config.data_dir or (Path(os.environ["CROSSLING_DATA"]) if "CROSSLING_DATA" in os.environ else None)
        if root is None:
            raise ValueError("source 'ud' needs data_dir (or the CROSSLING_DATA environment variable)")
        out = {}
        for lang in config.languages:
            files = sorted((Path(root) / "ud" / "treebanks").glob(f"{lang}_*-train.conllu.gz"))
            if not files:
                raise FileNotFoundError(f"no UD train file {lang}_*-train.conllu.gz in {Path(root) / 'ud' / 'treebanks'}")
            out[lang] = [s.text for f in files for s in read_conllu(f, lang=lang) if s.text]
        return out
    out = {}
    for lang in config.languages:
        with open(config.text_files[lang], encoding="utf-8") as fh:
            out[lang] = [line.strip() for line in fh if line.strip()]
    return out


@dataclass
class PreparedCorpus:
    """Train and validation texts per language, with what was done to them.

    ``train`` is what the models see (after sampling); ``validation`` is held out from every model and
    disjoint from ``train`` as texts (duplicates are removed before the split).
    """

    train: dict[str, list[str]]
    validation: dict[str, list[str]]
    record: dict[str, Any]


def _romanize(texts: list[str], lang: str) -> list[str]:
    from crossling.data.romanize import romanize_words

    # Romanisation works on words; a text without spaces (zh, ja) is one "word" that it segments itself.
    return [" ".join(romanize_words(t.split(), lang)) for t in texts]


def prepare_corpus(
    texts: Mapping[str, Sequence[str]],
    *,
    validation_items: int = 500,
    sampling: str = "equal",
    sample_size: int | None = None,
    alpha: float = 0.3,
    low_resource: Sequence[str] = (),
    low_resource_fraction: float = 0.1,
    romanize: Sequence[str] = (),
    seed: int = 0,
) -> PreparedCorpus:
    """Deduplicate, romanise, split off validation texts and sample the training texts.

    Validation is split before sampling, so temperature upsampling never repeats a validation text
    into training and every model of an experiment is evaluated on the same held-out texts.

    Parameters
    ----------
    texts : mapping of str to sequence of str
        Texts per language.
    validation_items : int, default 500
        Held-out texts per language; a language needs at least twice as many texts.
    sampling, sample_size, alpha, low_resource, low_resource_fraction
        See :func:`crossling.data.sampling.sample_languages`.
    romanize : sequence of str
        Languages whose texts go through :func:`crossling.data.romanize.romanize_words`.
    seed : int, default 0
    """
    unique, removed = {}, {}
    for lang, items in texts.items():
        kept = list(dict.fromkeys(t for t in (" ".join(x.split()) for x in items) if t))
        if lang in romanize:
            kept = list(dict.fromkeys(_romanize(kept, lang)))
        unique[lang], removed[lang] = kept, len(items) - len(kept)
        if len(kept) < 2 * validation_items:
            raise ValueError(
                f"{lang}: {len(kept)} distinct texts, fewer than twice validation_items={validation_items}"
            )
    train, validation = {}, {}
    for lang, items in unique.items():
        perm = np.random.default_rng([seed, len(items), 1]).permutation(len(items))
        held = set(perm[:validation_items].tolist())
        validation[lang] = [t for i, t in enumerate(items) if i in held]
        train[lang] = [t for i, t in enumerate(items) if i not in held]
    sampled = sample_languages(
        train, strategy=sampling, size=sample_size, alpha=alpha, low_resource=low_resource,
        low_resource_fraction=low_resource_fraction, seed=seed,
    )
    record = {
        "texts": {lang: len(items) for lang, items in texts.items()},
        "duplicates_removed": removed,
        "validation_texts": {lang: len(v) for lang, v in validation.items()},
        "romanized": list(romanize),
        "sampling": sampled.record(),
    }
    return PreparedCorpus(train=sampled.items, validation=validation, record=record)


# ------------------------------------------------------------------------------------------- tokenizer
def train_tokenizer(
    texts: Mapping[str, Sequence[str]],
    *,
    vocab_size: int,
    max_length: int,
    out_dir: str | os.PathLike,
) -> PreTrainedTokenizerBase:
    """Train one SentencePiece-unigram vocabulary on all languages and save it as an XLM-R tokenizer.

    Special tokens follow XLM-R: ``<s>`` = 0, ``<pad>`` = 1, ``</s>`` = 2, ``<unk>`` = 3, ``<mask>`` last
    (id ``vocab_size``); pre-tokenisation splits on whitespace and marks word starts with ``▁``
    (Metaspace), as ``XLMRobertaTokenizerFast`` does. There is no Unicode normaliser: when a
    ``tokenizer.json`` is reloaded, Hugging Face's XLM-R class keeps only a SentencePiece *precompiled*
    normaliser, so a ``tokenizers`` NFKC normaliser would silently disappear and training and later use
    would tokenise differently.

    Parameters
    ----------
    texts : mapping of str to sequence of str
        Training texts per language (all are used together).
    vocab_size : int
        Pieces including the four special tokens; ``<mask>`` comes on top.
    max_length : int
        ``model_max_length`` of the saved tokenizer (tokens including ``<s>``/``</s>``).
    out_dir : path
        Folder to write (``tokenizer.json``, ``tokenizer_config.json``).

    Returns
    -------
    transformers.PreTrainedTokenizerBase
        The tokenizer as :func:`transformers.AutoTokenizer.from_pretrained` loads it from ``out_dir``.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import AutoTokenizer, XLMRobertaTokenizerFast

    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")]
    )
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    trainer = trainers.UnigramTrainer(
        vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS), unk_token="<unk>", show_progress=False
    )
    tok.train_from_iterator((t for items in texts.values() for t in items), trainer)
    tok.add_special_tokens(["<mask>"])
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", BOS), ("</s>", EOS)]
    )
    fast = XLMRobertaTokenizerFast(tokenizer_object=tok, model_max_length=max_length)
    with _atomic_dir(out_dir) as tmp:
        fast.save_pretrained(tmp)
    loaded = AutoTokenizer.from_pretrained(out_dir)
    if [loaded.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS] != [BOS, PAD, EOS, UNK]:
        raise RuntimeError("the reloaded tokenizer does not have XLM-R's special-token ids 0..3")
    if loaded.mask_token_id != len(loaded) - 1:
        raise RuntimeError("the reloaded tokenizer does not put <mask> last")
    return loaded


# -------------------------------------------------------------------------------------------- models
def build_model(architecture: Architecture, size: ModelSize, vocab_size: int, *, seed: int) -> PreTrainedModel:
    """A freshly initialised masked-language model.

    ``"xlm-roberta"`` gives :class:`~transformers.XLMRobertaForMaskedLM` (the multilingual model),
    ``"roberta"`` :class:`~transformers.RobertaForMaskedLM` (a monolingual control); the two share the
    architecture, as in the study, and differ in their config's ``model_type``. Dropout 0.1, GELU,
    layer-norm eps 1e-5 and tied input/output embeddings as in XLM-R.
    """
    import torch
    from transformers import RobertaConfig, RobertaForMaskedLM, XLMRobertaConfig, XLMRobertaForMaskedLM

    kwargs = dict(
        vocab_size=vocab_size, hidden_size=size.hidden, num_hidden_layers=size.layers,
        num_attention_heads=size.heads, intermediate_size=size.ffn, max_position_embeddings=size.max_length + 2,
        type_vocab_size=1, layer_norm_eps=1e-5, pad_token_id=PAD, bos_token_id=BOS, eos_token_id=EOS,
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    if architecture == "xlm-roberta":
        return XLMRobertaForMaskedLM(XLMRobertaConfig(**kwargs))
    if architecture == "roberta":
        return RobertaForMaskedLM(RobertaConfig(**kwargs))
    raise ValueError(f"unknown architecture {architecture!r}: expected 'xlm-roberta' or 'roberta'")


# ------------------------------------------------------------------------------------------- batches
def pack_blocks(token_ids: Sequence[Sequence[int]], block_length: int) -> np.ndarray:
    """Pack tokenised texts into fixed-length blocks (RoBERTa's FULL-SENTENCES format).

    The texts are concatenated, each followed by ``</s>``, and cut into pieces of ``block_length - 1``
    tokens; each block is ``<s>`` + piece. The last block is padded with ``<pad>``.

    Returns
    -------
    ndarray of int32, shape (n_blocks, block_length)
    """
    if block_length < 2:
        raise ValueError(f"block_length must be at least 2, got {block_length}")
    stream = np.fromiter((i for ids in token_ids for i in (*ids, EOS)), dtype=np.int32)
    if stream.size == 0:
        return np.empty((0, block_length), dtype=np.int32)
    piece = block_length - 1
    n = -(-stream.size // piece)
    blocks = np.full((n, block_length), PAD, dtype=np.int32)
    blocks[:, 0] = BOS
    padded = np.full(n * piece, PAD, dtype=np.int32)
    padded[: stream.size] = stream
    blocks[:, 1:] = padded.reshape(n, piece)
    return blocks


def mask_tokens(
    input_ids: torch.Tensor,
    *,
    mask_id: int,
    probability: float = 0.15,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masking: select each ordinary token with ``probability``; of the selected, 80% become
    ``<mask>``, 10% a uniformly random ordinary token, 10% stay unchanged.

    Special tokens (``<s>``, ``<pad>``, ``</s>``) are never selected; ``<unk>`` is an ordinary target.
    Random replacements are drawn from the ordinary ids ``3 .. mask_id - 1`` (``<mask>`` is the last id).

    Returns
    -------
    inputs : LongTensor, same shape as ``input_ids``
    labels : LongTensor
        The original id at selected positions, -100 elsewhere.
    """
    import torch

    ids = input_ids.long()
    ordinary = (ids != BOS) & (ids != PAD) & (ids != EOS)
    u = torch.rand(ids.shape, generator=generator)
    selected = ordinary & (u < probability)
    action = torch.rand(ids.shape, generator=generator)
    random_ids = torch.randint(UNK, mask_id, ids.shape, generator=generator)  # ordinary ids: 3..mask_id-1
    inputs = torch.where(selected & (action < 0.8), mask_id, ids)
    inputs = torch.where(selected & (action >= 0.8) & (action < 0.9), random_ids, inputs)
    labels = torch.where(selected, ids, IGNORE)
    return inputs, labels


def unigram_log_probs(train_blocks: np.ndarray, vocab_size: int) -> np.ndarray:
    """Log of the add-one-smoothed unigram distribution of the ordinary tokens in ``train_blocks``.

    ``p(v) = (c_v + 1) / (N + V)`` over the ``V`` ordinary ids (all but ``<s>``, ``<pad>``, ``</s>`` and
    ``<mask>``), ``c_v`` the count of ``v`` among the ``N`` ordinary training tokens; special ids get
    ``-inf`` (they are never targets).

    Returns
    -------
    ndarray of float64, shape (vocab_size,)
    """
    counts = np.bincount(np.asarray(train_blocks).ravel(), minlength=vocab_size).astype(np.float64)
    ordinary = np.ones(vocab_size, dtype=bool)
    ordinary[[BOS, PAD, EOS, vocab_size - 1]] = False
    counts[~ordinary] = 0.0
    with np.errstate(divide="ignore"):
        return np.log((counts + ordinary) / (counts.sum() + ordinary.sum()))


def unigram_cross_entropy(train_blocks: np.ndarray, targets: np.ndarray, vocab_size: int) -> float:
    """Cross-entropy (nats) of ``targets`` under the add-one-smoothed unigram distribution of the
    ordinary tokens in ``train_blocks`` (:func:`unigram_log_probs`): the loss of a model that ignores
    context, ``-mean_t log p(target_t)``.
    """
    targets = np.asarray(targets)
    if targets.size == 0:
        raise ValueError("no targets")
    log_p = unigram_log_probs(train_blocks, vocab_size)
    if not np.isfinite(log_p[targets]).all():
        raise ValueError("targets include special tokens")
    return float(-log_p[targets].mean())


def init_unigram_bias(model: PreTrainedModel, train_blocks: np.ndarray) -> None:
    """Set the output bias of ``model`` to the log unigram frequencies of ``train_blocks``.

    With small initial weights the logits are then about ``log p(v)``, so training starts at the
    unigram baseline instead of at ``log V`` and spends its steps on context rather than on learning
    the frequency table, which on a large vocabulary takes thousands of steps (Karpathy 2019, "A recipe
    for training neural networks": "initialize the final layer bias" to the data's distribution).
    Special ids, never targets, get the smallest ordinary value.
    """
    import torch

    log_p = unigram_log_probs(train_blocks, model.config.vocab_size)
    log_p[~np.isfinite(log_p)] = log_p[np.isfinite(log_p)].min()
    with torch.no_grad():
        model.lm_head.bias.copy_(torch.from_numpy(log_p).to(model.lm_head.bias.dtype))


# ------------------------------------------------------------------------------------------- training
@dataclass(frozen=True)
class TrainOptions:
    """Optimisation settings of :func:`train_mlm` (defaults as in :class:`PretrainConfig`)."""

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
    """What :func:`train_mlm` reports after every optimiser step (``val_loss`` only after an evaluation)."""

    model: str
    step: int
    max_steps: int
    train_loss: float
    val_loss: float | None


@dataclass
class ModelResult:
    """One trained model: where it is and how it did.

    ``val_loss`` and ``unigram_loss`` are per-language masked-token cross-entropies (nats) on the
    held-out texts, of the best model and of the unigram baseline on the same masked positions.
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


def _versions() -> dict[str, str]:
    import tokenizers
    import torch
    import transformers

    import crossling

    return {
        "crossling": crossling.__version__, "torch": torch.__version__, "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__, "numpy": np.__version__, "python": platform.python_version(),
    }


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class _atomic_dir:
    """Write a folder under a temporary name and rename it into place (replacing an older one)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def __enter__(self) -> Path:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", dir=self.path.parent))
        return self.tmp

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return
        if self.path.exists():
            old = self.path.with_name(f".{self.path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(self.path, old)
            os.replace(self.tmp, self.path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(self.tmp, self.path)


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


def _mlm_loss(model: PreTrainedModel, inputs: torch.Tensor, labels: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    import torch.nn.functional as F

    # The output layer runs on the selected positions only (15%): on a large vocabulary it would cost
    # as much as the encoder if applied to every position, as the Hugging Face head does.
    hidden = model.base_model(input_ids=inputs, attention_mask=(inputs != PAD).long()).last_hidden_state
    selected = labels != IGNORE
    logits = model.lm_head(hidden[selected])
    return F.cross_entropy(logits.float(), labels[selected], reduction=reduction)


@dataclass
class _ValSet:
    inputs: dict[str, torch.Tensor]
    labels: dict[str, torch.Tensor]


def _validation_masks(val: Mapping[str, np.ndarray], mask_id: int, probability: float, seed: int) -> _ValSet:
    import torch

    # Fixed masks seeded by the experiment seed and the language code only, so every evaluation of
    # every model of the experiment (multilingual or not) scores the same positions of a language.
    inputs, labels = {}, {}
    for lang, blocks in sorted(val.items()):
        gen = torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(lang.encode()))
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
                    total += float(_mlm_loss(model, x, y, reduction="sum"))
                count += n
        out[lang] = total / count if count else math.nan
    model.train(was_training)
    return out


def _rng_state() -> dict[str, Any]:
    import torch

    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def _set_rng_state(state: dict[str, Any]) -> None:
    import torch

    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
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
        Packed blocks per language (:func:`pack_blocks`). Training draws batches from all languages'
        blocks together, in a seeded order (a new permutation each epoch).
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
    """
    import torch

    out_dir = Path(out_dir)
    name = name or out_dir.name
    if (out_dir / "training_record.json").is_file():
        return _result_from_record(out_dir)
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
        # Our own file: pickled RNG states need weights_only=False.
        saved = torch.load(ckpt_dir / "state.pt", weights_only=False)
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
        loss = _mlm_loss(model, inputs, labels) if (labels != IGNORE).any() else None
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
        "train_curve": [{"step": s, "loss": l, "lr": lr} for s, l, lr in state["train_curve"]],
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
        "versions": _versions(),
        **({"experiment": dict(record)} if record else {}),
    }
    with _atomic_dir(out_dir) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / "training_record.json").write_text(json.dumps(training_record, indent=1, default=str), encoding="utf-8")
    shutil.rmtree(ckpt_dir, ignore_errors=True)
    return _result_from_record(out_dir)


def _result_from_record(folder: Path) -> ModelResult:
    r = json.loads((folder / "training_record.json").read_text(encoding="utf-8"))
    return ModelResult(
        name=r["name"], path=folder, architecture=r["architecture"], languages=r["languages"], steps=r["steps"],
        best_step=r["best_step"], stopped_early=r["stopped_early"], val_loss=r["val_loss"],
        unigram_loss=r["unigram_loss"], train_tokens=sum(r["data"]["train_tokens"].values()),
        tokens_per_second=r["tokens_per_second"], wall_seconds=r["wall_seconds"],
    )


# ------------------------------------------------------------------------------------------ experiment
@dataclass
class ExperimentResult:
    """A tokenizer and the models trained with it.

    Attributes
    ----------
    out_dir : Path
    tokenizer_path : Path
        Folder of the shared tokenizer (also copied into every model folder).
    tokenizer_sha256 : str
        Hash of its ``tokenizer.json``; every model folder's copy has the same hash.
    models : dict
        ``"multilingual"`` and ``"mono-<lang>"`` -> :class:`ModelResult`.
    data : dict
        The corpus record (sizes, deduplication, sampling).
    """

    out_dir: Path
    tokenizer_path: Path
    tokenizer_sha256: str
    models: dict[str, ModelResult]
    data: dict[str, Any] = field(default_factory=dict)

    def table(self) -> "Any":
        """Tidy table: one row per model and language (val loss, unigram baseline, tokens/s, minutes)."""
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


def _train_job(job: _Job, progress: Callable[[TrainEvent], None] | None) -> ModelResult:
    import torch
    from transformers import AutoTokenizer

    torch.set_num_threads(job.threads)
    model = build_model(job.architecture, job.size, job.vocab_size, seed=job.seed)
    return train_mlm(
        model, AutoTokenizer.from_pretrained(job.tokenizer_dir), job.train, job.validation, job.folder,
        options=job.options, name=job.name, record=job.record, progress=progress,
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


def pretrain_experiment(
    config: PretrainConfig, *, progress: Callable[[TrainEvent], None] | None = None
) -> ExperimentResult:
    """Train the shared tokenizer, the multilingual model and the monolingual controls of ``config``.

    Layout of ``config.out``: ``tokenizer/``, ``multilingual/`` (XLM-R architecture, all languages),
    ``mono-<lang>/`` (RoBERTa architecture, one language), each a Hugging Face folder with the
    tokenizer and ``training_record.json``; ``config.yaml``; ``experiment.json`` (summary); the report
    section (``training.parquet``, ``figures/validation_loss.png``, ``report.json``; see
    :mod:`crossling.models.pretrain_report`). Running it again resumes: finished models are kept, an interrupted one continues from its last checkpoint, and
    the tokenizer is reused. A config differing from the one in ``config.yaml`` is an error.

    Threads: ``config.threads`` per process, else the ``CROSSLING_THREADS`` environment variable, else
    1. With ``config.workers`` > 1 the models train in that many processes at once (each model's result
    is the same as in one process: it depends only on the seed); ``progress`` still gets every step.
    """
    import torch
    from transformers import AutoTokenizer

    threads = config.threads or int(os.environ.get("CROSSLING_THREADS") or 1)
    torch.set_num_threads(threads)
    out = Path(config.out)
    config_path = out / "config.yaml"
    if config_path.is_file():
        previous = type(config).resolve(config_path)
        # Where the folder is and how many threads or processes run do not change what is trained.
        same = {"threads", "workers", "out"}
        if previous.model_dump(exclude=same) != config.model_dump(exclude=same):
            raise ValueError(f"{out} holds an experiment with a different configuration ({config_path}); "
                             "use another --out or remove the folder")
    else:
        config.write(out)
    size = config.model_size()
    corpus = prepare_corpus(
        load_texts(config), validation_items=config.validation_items, sampling=config.sampling,
        sample_size=config.sample_size, alpha=config.alpha, low_resource=config.low_resource,
        low_resource_fraction=config.low_resource_fraction, romanize=config.romanize, seed=config.seed,
    )
    tok_dir = out / "tokenizer"
    if (tok_dir / "tokenizer.json").is_file():
        tokenizer = AutoTokenizer.from_pretrained(tok_dir)
    else:
        tokenizer = train_tokenizer(corpus.train, vocab_size=config.vocab_size, max_length=size.max_length,
                                    out_dir=tok_dir)
    train = {lang: _encode(tokenizer, corpus.train[lang], size.max_length) for lang in config.languages}
    val = {lang: _encode(tokenizer, corpus.validation[lang], size.max_length) for lang in config.languages}
    record = {"config": config.model_dump(mode="json"), "corpus": corpus.record,
              "tokenizer_sha256": _sha256(tok_dir / "tokenizer.json")}
    plan: list[tuple[str, Architecture, list[str]]] = []
    if config.multilingual:
        plan.append(("multilingual", "xlm-roberta", list(config.languages)))
    if config.monolingual:
        plan.extend((f"mono-{lang}", "roberta", [lang]) for lang in config.languages)
    results = {name: _result_from_record(out / name) for name, _, _ in plan
               if (out / name / "training_record.json").is_file()}
    jobs = [
        _Job(arch, size, len(tokenizer), config.seed, tok_dir, {l: train[l] for l in langs},
             {l: val[l] for l in langs}, out / name, config.train_options(multilingual=arch == "xlm-roberta"),
             name, record, threads)
        for name, arch, langs in plan if name not in results
    ]
    if config.workers > 1 and len(jobs) > 1:
        results.update(_train_in_processes(jobs, config.workers, progress))
    else:
        results.update({job.name: _train_job(job, progress) for job in jobs})
    results = {name: results[name] for name, _, _ in plan}
    result = ExperimentResult(out, tok_dir, record["tokenizer_sha256"], results, corpus.record)
    summary = {
        "tokenizer": str(tok_dir), "tokenizer_sha256": result.tokenizer_sha256, "corpus": corpus.record,
        "models": {k: {**asdict(v), "path": str(v.path)} for k, v in results.items()},
    }
    atomic_write_text(out / "experiment.json", json.dumps(summary, indent=1, default=str))
    from crossling.models.pretrain_report import write_pretrain_section

    write_pretrain_section(result)
    return result


# ------------------------------------------------------------------------------------------------- CLI
class TrainingBars:
    """One tqdm bar per model, fed by :class:`TrainEvent` (models may train in parallel)."""

    def __init__(self) -> None:
        self.bars: dict[str, Any] = {}

    def __call__(self, event: TrainEvent) -> None:
        from tqdm.auto import tqdm

        bar = self.bars.get(event.model)
        if bar is None:
            bar = self.bars[event.model] = tqdm(total=event.max_steps, desc=event.model, unit="step",
                                                initial=event.step - 1, position=len(self.bars), leave=True)
        bar.update(event.step - bar.n)
        if event.val_loss is not None:
            bar.set_postfix(val_loss=f"{event.val_loss:.3f}")
        if event.step >= event.max_steps:
            bar.close()

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


def pretrain_command(
    languages: Optional[str] = typer.Option(None, help="Comma-separated ISO 639-1 codes, e.g. en,de,fr,es,ru,fi,ja,zh."),
    source: Optional[str] = typer.Option(None, help="lohelp (LibreOffice Help, via apt), ud (# text of UD train files) or text."),
    text_dir: Optional[Path] = typer.Option(None, help="source text: folder of LANG.txt files, one text per line."),
    data_dir: Optional[Path] = typer.Option(None, help="source ud: data folder with ud/treebanks [$CROSSLING_DATA]."),
    cache_dir: Optional[Path] = typer.Option(None, help="source lohelp: package cache [~/.cache/crossling/lohelp]."),
    size: Optional[str] = typer.Option(None, help="Preset: mini (2x64), tiny (4x128) or base (12x768) [tiny]."),
    layers: Optional[int] = typer.Option(None, help="Override the preset's number of layers."),
    hidden: Optional[int] = typer.Option(None, help="Override the preset's hidden size (ffn stays the preset's)."),
    max_length: Optional[int] = typer.Option(None, help="Override the preset's block length in tokens."),
    out: Optional[Path] = typer.Option(None, help="Experiment folder: tokenizer/, multilingual/, mono-LANG/."),
    max_steps: Optional[int] = typer.Option(None, help="Optimiser steps per model [10000]."),
    multilingual_steps: Optional[int] = typer.Option(
        None, help="Steps of the multilingual model, which reads every language [--max-steps]."),
    batch_size: Optional[int] = typer.Option(None, help="Blocks per step [32]."),
    vocab_size: Optional[int] = typer.Option(None, help="Shared vocabulary size [preset: 8000 mini/tiny, 16000 base]."),
    lr: Optional[float] = typer.Option(None, help="Peak AdamW learning rate [preset: 3e-3 mini, 2e-3 tiny, 1e-4 base]."),
    sampling: Optional[str] = typer.Option(None, help="equal (downsample to the smallest language), temperature or none."),
    alpha: Optional[float] = typer.Option(None, help="Temperature sampling exponent, P(L) ~ |L|^alpha [0.3]."),
    low_resource: Optional[str] = typer.Option(None, help="Languages that keep only 10% of their data."),
    romanize: Optional[str] = typer.Option(None, help="Romanise these languages first: zh (pinyin), ja (Hepburn)."),
    eval_every: Optional[int] = typer.Option(None, help="Steps between held-out evaluations [200]."),
    unigram_bias: Optional[bool] = typer.Option(None, "--unigram-bias/--no-unigram-bias",
                                                help="Start the output bias at log unigram frequencies [on]."),
    seed: Optional[int] = typer.Option(None, help="Seed of sampling, initialisation, masking and batches [0]."),
    threads: Optional[int] = typer.Option(None, help="Torch threads per process [$CROSSLING_THREADS or 1]."),
    workers: Optional[int] = typer.Option(None, help="Models trained at once, in separate processes [1]."),
    config: Optional[Path] = typer.Option(None, help="YAML file with any PretrainConfig field; flags override it."),
) -> None:
    """Pre-train a shared tokenizer, a multilingual model E (XLM-R) and one monolingual control per language (RoBERTa).

    Every model is a Hugging Face folder with training_record.json (loss curves, unigram baseline, data sizes,
    config, seed, versions). Running the same command again resumes: finished models are kept and an
    interrupted one continues from its last checkpoint.
    """
    def split(value: str | None) -> list[str] | None:
        return [v.strip() for v in value.split(",") if v.strip()] if value else None

    langs = split(languages)
    text_files = {lang: text_dir / f"{lang}.txt" for lang in langs or ()} if text_dir is not None else None
    cfg = PretrainConfig.resolve(
        config, languages=langs, source=source, text_files=text_files, data_dir=data_dir, cache_dir=cache_dir,
        size=size, layers=layers, hidden=hidden, max_length=max_length, out=out, max_steps=max_steps,
        multilingual_steps=multilingual_steps, batch_size=batch_size, vocab_size=vocab_size, lr=lr,
        sampling=sampling, alpha=alpha, low_resource=split(low_resource), romanize=split(romanize),
        eval_every=eval_every, unigram_bias=unigram_bias, seed=seed, threads=threads, workers=workers)
    out_dir = Path(cfg.out)
    names = (["multilingual"] if cfg.multilingual else []) + (
        [f"mono-{lang}" for lang in cfg.languages] if cfg.monolingual else [])
    if (out_dir / "config.yaml").is_file():
        done = [n for n in names if (out_dir / n / "training_record.json").is_file()]
        running = [n for n in names if (out_dir / f"{n}.ckpt" / "state.pt").is_file()]
        typer.echo(f"resuming {out_dir}: {len(done)} of {len(names)} models finished"
                   + (f"; continuing {', '.join(running)} from its last checkpoint" if running else ""))
    typer.echo(f"{cfg.size} models {cfg.model_size()} on {cfg.source} for {', '.join(cfg.languages)}; "
               f"vocabulary {cfg.vocab_size}, lr {cfg.lr:g}, {cfg.max_steps} steps of {cfg.batch_size} blocks"
               + (f" ({cfg.multilingual_steps} for the multilingual model)" if cfg.multilingual_steps else ""))
    bars = TrainingBars()
    try:
        result = pretrain_experiment(cfg, progress=bars)
    finally:
        bars.close()
    table = result.table()
    typer.echo(table[["model", "language", "val_loss", "unigram_loss", "best_step", "minutes", "tokens_per_second"]]
               .to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    typer.echo(f"models in {out_dir} (tokenizer sha256 {result.tokenizer_sha256[:12]})")

"""What ``crossling pretrain`` is told: the model sizes, their training defaults and the experiment's settings.

:class:`PretrainConfig` is read from a YAML file and/or the command's flags (:meth:`RunConfig.resolve`), and its
numpydoc ``Attributes`` section is the command's ``--help``. A size preset (:data:`PRESETS`) fixes the shape of
every model; :data:`PRESET_TRAINING` the learning rate and vocabulary that suit it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, Optional

from pydantic import Field, model_validator

from crossling.config import CORPUS_SPEC, CommaList, CorpusOptions, EngineOptions
from crossling.models.pretrain.trainer import TrainOptions

__all__ = ["PRESETS", "PRESET_TRAINING", "ModelSize", "PretrainConfig", "PretrainCorpusOptions"]


@dataclass(frozen=True)
class ModelSize:
    """Transformer encoder shape.

    The model gets ``max_length + 2`` position embeddings because RoBERTa-style positions start after the
    padding index.

    Attributes
    ----------
    layers : int
        Transformer layers.
    hidden : int
        Hidden size; a multiple of ``heads``.
    heads : int
        Attention heads per layer.
    ffn : int
        Width of the feed-forward layer.
    max_length : int
        Block length in tokens, ``<s>`` and ``</s>`` included; at least 8.

    Raises
    ------
    ValueError
        For a size below 1, a hidden size not divisible by the heads, or ``max_length`` below 8.
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


class PretrainCorpusOptions(CorpusOptions):
    """The texts the models learn from: a corpus spec read by :func:`crossling.data.corpus.load_corpus`, and how
    its texts are prepared (:func:`crossling.models.pretrain.corpus.prepare_corpus`).

    Each language is read on its own (``parallel=False``): a ``lohelp:`` language keeps every translated
    paragraph, not only those all languages share, and the ``LANG.txt`` files of a ``text:`` folder may differ
    in length.

    Attributes
    ----------
    corpus : str, default "lohelp:"
        ``lohelp:`` (LibreOffice Help from Debian's packages; ``lohelp:DIR`` caches them in DIR), ``ud:DIR``
        (the ``# text`` of the UD treebanks in DIR, files of ``split``), ``text:DIR`` (one ``LANG.txt`` per
        language, one text per line) or ``text:FILE`` (one language).
    languages : list of str
        Comma-separated language codes, e.g. ``en,de,fr,es,ru,fi,ja,zh``; each gets a monolingual control.
    split : {"all", "train", "dev", "test"}, default "train"
        Which files of a UD treebank folder are read (the test files stay unseen by default).
    sampling : {"equal", "temperature", "none"}, default "equal"
        ``equal`` downsamples every language to the smallest one, ``temperature`` samples languages with
        probability proportional to their size to the power ``alpha`` (XLM-R), ``none`` keeps every text.
    sample_size : int, optional
        Training texts per language (equal; at most the smallest language's) or in all (temperature); default
        the smallest language's count (equal) or every text (temperature).
    alpha : float, default 0.3
        Temperature sampling exponent, P(L) ~ |L|^alpha, in [0, 1].
    low_resource : list of str
        Comma-separated languages that keep only ``low_resource_fraction`` of their training texts.
    low_resource_fraction : float, default 0.1
        Fraction of the training texts a low-resource language keeps, in (0, 1].
    romanize : list of str
        Comma-separated languages romanised before everything else: zh (pinyin), ja (Hepburn).
    validation_items : int, default 500
        Held-out texts per language (a language needs twice as many distinct texts).
    limit : int, optional
        Only the first N sentences of each language are read (before duplicates are removed).
    """

    cli_panel: ClassVar[str] = "Corpus"

    corpus: str = Field(default="lohelp:", json_schema_extra=CORPUS_SPEC)
    languages: CommaList = Field(min_length=1)
    split: Literal["all", "train", "dev", "test"] = "train"
    sampling: Literal["equal", "temperature", "none"] = "equal"
    sample_size: Optional[int] = Field(default=None, ge=1)
    alpha: float = Field(default=0.3, ge=0.0, le=1.0)
    low_resource: CommaList = []
    low_resource_fraction: float = Field(default=0.1, gt=0.0, le=1.0)
    romanize: CommaList = []
    validation_items: int = Field(default=500, ge=1)


class PretrainConfig(PretrainCorpusOptions, EngineOptions):
    """Settings of ``crossling pretrain``: a shared tokenizer, a multilingual model and monolingual controls.

    The corpus and its preparation: :class:`PretrainCorpusOptions`; where the models train:
    :class:`~crossling.config.EngineOptions` (with ``--engine ray`` each model is one Ray task of ``threads``
    CPUs, retried from its last checkpoint when its worker dies). Size fields (``layers``, ``hidden``,
    ``heads``, ``ffn``, ``max_length``) override the preset named by ``size``; ``lr`` and ``vocab_size``
    default to the preset's (:data:`PRESET_TRAINING`).

    Attributes
    ----------
    out : path
        Experiment folder: ``tokenizer/``, ``multilingual/``, ``mono-LANG/``, tables, figures, manifest. Running
        the same command again resumes in it.
    size : {"mini", "tiny", "base"}, default "tiny"
        Preset: mini (2 layers x 64), tiny (4 x 128) or base (12 x 768, XLM-R base).
    layers : int, optional
        Override the preset's number of layers.
    hidden : int, optional
        Override the preset's hidden size (``ffn`` stays the preset's).
    heads : int, optional
        Override the preset's attention heads.
    ffn : int, optional
        Override the preset's feed-forward width.
    max_length : int, optional
        Override the preset's block length in tokens (at least 8).
    vocab_size : int, optional
        Shared vocabulary size; default the preset's: 8000 for mini and tiny, 16000 for base.
    multilingual : bool, default True
        Train the multilingual model E (XLM-R architecture, every language).
    monolingual : bool, default True
        Train one monolingual control C_L per language (RoBERTa architecture).
    batch_size : int, default 32
        Blocks per optimiser step.
    lr : float, optional
        Peak AdamW learning rate; default the preset's: 3e-3 mini, 2e-3 tiny, the study's 1e-4 base.
    warmup_fraction : float, default 0.05
        Share of the steps with a linear warm-up, in [0, 1).
    weight_decay : float, default 0.01
        AdamW weight decay (not on biases and layer norms).
    max_steps : int, default 10000
        Optimiser steps per model.
    multilingual_steps : int, optional
        Steps of the multilingual model, which reads every language and so sees each one ``len(languages)``
        times less often than its control at equal steps; default ``max_steps``.
    eval_every : int, default 200
        Steps between held-out evaluations.
    patience : int, default 5
        Evaluations without improvement before training stops early.
    checkpoint_every : int, default 200
        Steps between checkpoints (an interrupted run resumes from the last one).
    mask_probability : float, default 0.15
        Share of the tokens selected for masked-language modelling, in (0, 1).
    unigram_bias : bool, default True
        Start every model's output bias at the log unigram frequencies of its training tokens.
    seed : int, default 0
        Seed of the validation split, sampling, initialisation, masking and batch order.
    threads : int, optional
        Torch threads per process; default the ``CROSSLING_THREADS`` environment variable, else 1 (on a
        shared CPU one thread per process avoids OpenMP spin-waiting).
    workers : int, default 1
        Models trained at once, in separate processes of this machine (each model comes out the same as in one
        process); with ``--engine ray`` the cluster's room decides instead.
    """

    cli_panel: ClassVar[str] = "Pre-training"

    out: Path
    size: Literal["mini", "tiny", "base"] = "tiny"
    layers: Optional[int] = Field(default=None, ge=1)
    hidden: Optional[int] = Field(default=None, ge=1)
    heads: Optional[int] = Field(default=None, ge=1)
    ffn: Optional[int] = Field(default=None, ge=1)
    max_length: Optional[int] = Field(default=None, ge=8)
    vocab_size: Optional[int] = Field(default=None, ge=16)
    multilingual: bool = True
    monolingual: bool = True
    batch_size: int = Field(default=32, ge=1)
    lr: Optional[float] = Field(default=None, gt=0.0)
    warmup_fraction: float = Field(default=0.05, ge=0.0, lt=1.0)
    weight_decay: float = Field(default=0.01, ge=0.0)
    max_steps: int = Field(default=10000, ge=1)
    multilingual_steps: Optional[int] = Field(default=None, ge=1)
    eval_every: int = Field(default=200, ge=1)
    patience: int = Field(default=5, ge=1)
    checkpoint_every: int = Field(default=200, ge=1)
    mask_probability: float = Field(default=0.15, gt=0.0, lt=1.0)
    unigram_bias: bool = True
    seed: int = 0
    threads: Optional[int] = Field(default=None, ge=1)
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
        if not (self.multilingual or self.monolingual):
            raise ValueError("nothing to train: multilingual and monolingual are both off")
        self.model_size()  # validates the shape
        return self

    def model_size(self) -> ModelSize:
        """The preset with the explicit size fields applied.

        Returns
        -------
        ModelSize

        Raises
        ------
        ValueError
            When the overrides give an impossible shape (see :class:`ModelSize`).
        """
        base = asdict(PRESETS[self.size])
        base.update({k: getattr(self, k) for k in base if getattr(self, k) is not None})
        return ModelSize(**base)

    def model_plan(self) -> list[tuple[str, str, list[str]]]:
        """The models of the experiment, in training order: the multilingual one, then one control per language.

        Returns
        -------
        list of (str, str, list of str)
            ``(name, architecture, languages)``: ``("multilingual", "xlm-roberta", languages)`` and
            ``("mono-<lang>", "roberta", [lang])``; the name is also the model's folder under ``out``.
        """
        plan = [("multilingual", "xlm-roberta", list(self.languages))] if self.multilingual else []
        if self.monolingual:
            plan += [(f"mono-{lang}", "roberta", [lang]) for lang in self.languages]
        return plan

    def train_options(self, *, multilingual: bool = False) -> TrainOptions:
        """Training options of one model.

        Parameters
        ----------
        multilingual : bool, default False
            The multilingual model gets ``multilingual_steps`` when set.

        Returns
        -------
        TrainOptions
        """
        steps = self.multilingual_steps if multilingual and self.multilingual_steps else self.max_steps
        return TrainOptions(
            batch_size=self.batch_size, lr=self.lr, warmup_fraction=self.warmup_fraction,
            weight_decay=self.weight_decay, max_steps=steps, eval_every=self.eval_every,
            patience=self.patience, checkpoint_every=self.checkpoint_every,
            mask_probability=self.mask_probability, unigram_bias=self.unigram_bias, seed=self.seed,
        )

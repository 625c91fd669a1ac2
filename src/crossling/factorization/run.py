"""``crossling factorization`` as a function: corpus and models in; tables, trees, figures, manifest, report out.

:func:`run_factorization` is the only place of the study that touches models, corpora and the disk:

1. the sentences of every language (:func:`study_sentences`: a UD corpus, or any corpus spec whose
   unannotated text is split into words, at whitespace or by a segmenter for Chinese and Japanese
   (:mod:`crossling.data.segment`), where only :data:`ALL_WORDS` is analysed), optionally the first ``limit``
   of each, Chinese and Japanese optionally romanised word by word
   (:func:`crossling.data.romanize.romanize_words`); the models read the syntactic words or, with
   ``multiword="surface"``, the surface tokens (:func:`~crossling.factorization.crosscov.surface_sentence`);
2. the words of each category (:func:`~crossling.factorization.crosscov.category_words`; "All words" the
   part-of-speech-bearing ones by default);
3. one forward pass per model and language over all hidden states into a cached vector store
   (:func:`crossling.extraction.run.extract_stores`, under ``store_dir``): the experimental model E first,
   after the layers are checked against it, then each control model C_l, which must have as many hidden
   states as E (layer i is paired with layer i);
4. the languages each category keeps (:func:`~crossling.factorization.study.plan_fits`: ``min_words`` words
   with a vector from both models, two languages per category);
5. per layer, per language, one streaming pass over the two stores gives Omega_l of every category at once
   (:func:`~crossling.factorization.crosscov.cross_covariances`), handed one (category, layer) at a time to
   :func:`~crossling.factorization.study.compute_factorization`, which fits and computes every table;
6. the language properties: distinct characters at 99.9% on the experimental model's pre-training text when
   its folder records them, else on the analysed corpus; the type-token ratio of lemmas, or of forms where the
   corpus has no lemmas (each row says which); and the models' pre-training records checked for a loss above
   the unigram baseline and for a romanisation that differs from the analysis's
   (:mod:`crossling.factorization.records`), said in the report;
7. tables (parquet + CSV), ``trees/*.nwk``, figures, ``manifest.json``, ``config.yaml`` and ``report.json``,
   written by :func:`crossling.pipeline.write_run` (the folder is replaced whole at the end).

Memory: per layer the Omegas of every (category, language) are held at once, n_categories x L x d_l x d
float64 (18 x 33 x 768 x 768: 2.8 GB); vectors are read from the memory-mapped stores ``chunk_size`` words at
a time.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Optional, Union

import numpy as np
import pandas as pd
from pydantic import ConfigDict, Field, field_validator, model_validator

from crossling._utils.io import atomic_write_text, write_table
from crossling._utils.provenance import Provenance
from crossling.config import (
    MODEL_PATH,
    CommaList,
    CorpusOptions,
    EngineOptions,
    LayerList,
    ModelOptions,
    StoreOptions,
    resolve_layers,
    split_commas,
)
from crossling.data.records import Sentence
from crossling.data.romanize import SUPPORTED as ROMANIZABLE
from crossling.data.segment import require_segmentation
from crossling.exceptions import ConfigError
from crossling.factorization.crosscov import (
    ALL_WORDS,
    CATEGORIES,
    NOT_PART_OF_SPEECH,
    AlignedWords,
    align_words,
    category_words,
    surface_sentence,
)
from crossling.factorization.diagnostics import diagnostics_summary
from crossling.factorization.records import (
    model_caveats,
    pretraining_characters,
    read_training_record,
    romanization_caveats,
)
from crossling.factorization.study import (
    FactorizationOptions,
    FactorizationResult,
    FitPlan,
    analysis_layers,
    category_slug,
    compute_factorization,
    plan_fits,
)
from crossling.pipeline import RunResult, write_run

if TYPE_CHECKING:  # the store pulls in torch, which a command line must not load to print its help
    from crossling.engine import Engine
    from crossling.extraction.extract import ExtractionOptions
    from crossling.extraction.store import VectorStore

__all__ = ["PROPERTIES", "STUDY", "FactorizationConfig", "run_factorization", "study_sentences"]

STUDY = "joint factorization (Zhao, Ziser and Cohen 2023, Findings of EMNLP)"
UD_SCHEMES = ("ud", "pud")
"""Corpus spec schemes whose sentences carry UD words and features; others give whitespace words only."""
PROPERTIES: tuple[str, ...] = ("distinct_chars_99.9", "type_token_ratio")
"""The language properties the average signature is correlated with (the data size is per language and
category: the words of each slice, ``data_size_correlations``)."""


class FactorizationConfig(ModelOptions, CorpusOptions, StoreOptions, EngineOptions, FactorizationOptions):
    """Settings of ``crossling factorization`` (alias ``parafac2``): a YAML file with these keys, or the flags.

    Model loading and batching: :class:`~crossling.config.ModelOptions` (``revision`` applies to the
    experimental model only; the control models load at their default revision); the corpus:
    :class:`~crossling.config.CorpusOptions`; the vector stores: :class:`~crossling.config.StoreOptions`; where
    the extraction and the (category, layer) fits run: :class:`~crossling.config.EngineOptions`; the fits and
    analyses: :class:`~crossling.factorization.study.FactorizationOptions`.

    Attributes
    ----------
    experimental : str
        The multilingual model E (Hugging Face folder or hub id).
    control : dict of str to str
        Language -> its monolingual control model C_l. From the command line: ``LANG=MODEL`` strings.
    corpus : str
        ``ud:PATH`` (a folder of UD treebanks ``<lang>_<code>-<split>.conllu[.gz]`` or one CoNLL-U file) or
        ``pud:DIR``: words with UD features, analysed per category. A corpus without UD annotation
        (``text:PATH``, ``lohelp:``) is split into words at whitespace, Chinese and Japanese text by a word
        segmenter (jieba; MeCab with UniDic-lite), other languages written without spaces (Thai, ...) are
        refused, and only "All words" is analysed: ``categories`` "all" means ["All words"] there, and a
        UniMorph category is an error.
    languages : list of str, optional
        Languages to analyse, in this order (the order of every table and figure); default: the order of
        ``control``.
    limit : int, optional
        Only the first N sentences (with words) of each language.
    categories : "all" or list of str, default "all"
        The 17 UniMorph categories of the study and "All words", or a comma-separated selection of them.
    layers : list of int, optional
        Hidden states to analyse: ``all`` (default) or comma-separated indices (0 = the embedding output,
        negative from the end); analysed in ascending order. Extraction always stores every hidden state, so
        the cache serves any selection.
    min_words : int, default 100
        A language with fewer words (with a vector from both models) in a category is left out of it.
    romanize : list of str, default []
        Languages (``zh``, ``ja``) whose words are romanised before extraction (the script ablation), each word
        on its own with its syllables joined, words separated as in pre-training
        (:data:`crossling.data.romanize.CONVENTION`).
    all_words : {"pos", "every"}, default "pos"
        What "All words" holds: "pos", the part-of-speech-bearing words (not PUNCT, SYM or X; in raw text,
        not written with punctuation and symbols only), as Zhao, Ziser and Cohen (2023); "every": every word
        (the earlier reading).
    multiword : {"words", "surface"}, default "words"
        What the models read of a multiword token (Spanish "del" = "de" + "el"): its syntactic "words" (UD's
        word lines), or its "surface" form as written, one token holding its words' categories.
    pooling : {"mean", "first", "last"}, default "mean"
        Sub-words to word.
    chunk_size : int, default 4096
        Words read from a store at a time when accumulating the cross-covariances.
    scores : path, optional
        Table (CSV or parquet) with columns ``language``, ``task``, ``score`` (e.g. XTREME results): adds the
        correlation of the average signature with each task.
    downstream : {"mbert", "xlmr-base", "xlmr-large"}, optional
        Instead of ``scores``: the published per-language results of that model bundled with crossling (XNLI
        accuracy and MLQA F1, Conneau et al. 2020, Tables 1 and 3; :mod:`crossling.data.downstream`), for the
        correlation of Zhao, Ziser and Cohen (2023, Table 1) when the experimental model is that model.
    figures : bool, default True
        Draw the figures (off: tables, trees and report section only).
    out : path
        Folder for the tables, trees, figures, manifest and report section (replaced whole at the end of
        the run).
    """

    # FactorizationOptions is frozen (a result records it); a run's settings stay assignable like every RunConfig
    model_config = ConfigDict(frozen=False)

    experimental: str = Field(json_schema_extra=MODEL_PATH)
    control: dict[str, str] = Field(json_schema_extra=MODEL_PATH)
    categories: Union[Literal["all"], list[str]] = "all"
    layers: LayerList = None
    min_words: int = Field(default=100, ge=1)
    romanize: CommaList = []
    all_words: Literal["pos", "every"] = "pos"
    multiword: Literal["words", "surface"] = "words"
    pooling: Literal["mean", "first", "last"] = "mean"
    chunk_size: int = Field(default=4096, ge=1)
    scores: Optional[Path] = None
    downstream: Optional[Literal["mbert", "xlmr-base", "xlmr-large"]] = None
    figures: bool = True
    out: Path

    @field_validator("control", mode="before")
    @classmethod
    def _parse_control(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        if isinstance(value, (list, tuple)):
            pairs: dict[str, str] = {}
            for item in value:
                lang, sep, model = str(item).partition("=")
                lang, model = lang.strip(), model.strip()
                if not sep or not lang or not model:
                    raise ValueError(f"control {item!r}: expected LANG=MODEL, e.g. fi=path/to/finnish-bert")
                if lang in pairs:
                    raise ValueError(f"control: language {lang!r} is given twice")
                pairs[lang] = model
            value = pairs
        if isinstance(value, dict) and not value:
            raise ValueError("control: give at least one LANG=MODEL")
        return value

    @field_validator("categories", mode="before")
    @classmethod
    def _parse_categories(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() == "all":
            return "all"
        return split_commas(value)

    @field_validator("categories")
    @classmethod
    def _check_categories(cls, value: Any) -> Any:
        if value == "all":
            return value
        unknown = [c for c in value if c not in CATEGORIES]
        if unknown:
            raise ValueError(f"unknown categories {unknown}; choose from {list(CATEGORIES)}")
        if len(set(value)) != len(value) or not value:
            raise ValueError(f"categories must be distinct and non-empty, got {value}")
        return value

    @field_validator("romanize")
    @classmethod
    def _check_romanize(cls, value: list[str]) -> list[str]:
        unsupported = [lang for lang in value if lang not in ROMANIZABLE]
        if unsupported:
            raise ValueError(f"romanize: {unsupported} not supported; romanisation exists for {list(ROMANIZABLE)}")
        return value

    @model_validator(mode="after")
    def _check_categories_annotated(self) -> FactorizationConfig:
        if not self.annotated() and self.categories != "all" and set(self.categories) != {ALL_WORDS}:
            raise ValueError(f"corpus {self.corpus!r} has no UD annotation: only the category {ALL_WORDS!r} "
                             f"can be analysed, got {self.categories}")
        return self

    def annotated(self) -> bool:
        """Whether the corpus carries UD morphology (``ud:`` and ``pud:`` specs).

        Returns
        -------
        bool
        """
        return self.corpus.partition(":")[0] in UD_SCHEMES

    def analysed_languages(self) -> list[str]:
        """The languages in analysis order; each must have a control model.

        Returns
        -------
        list of str

        Raises
        ------
        ConfigError
            For languages given twice or without a control model, fewer than 2 languages, a romanised
            language that is not analysed, or (a corpus without UD annotation) a language written without
            spaces that has no segmenter.
        """
        languages = list(self.control) if self.languages is None else list(self.languages)
        if len(set(languages)) != len(languages):
            raise ConfigError(f"languages must be distinct, got {languages}")
        missing = [lang for lang in languages if lang not in self.control]
        if missing:
            raise ConfigError(f"no control model for {missing}: add --control {missing[0]}=MODEL")
        if len(languages) < 2:
            raise ConfigError(f"the joint factorization needs at least 2 languages, got {languages}")
        stray = [lang for lang in self.romanize if lang not in languages]
        if stray:
            raise ConfigError(f"romanize: {stray} not among the analysed languages {languages}")
        if not self.annotated():
            require_segmentation(languages, what=f"the factorization of {self.corpus}")
        return languages

    def analysed_categories(self) -> list[str]:
        """The categories to analyse, in order.

        Returns
        -------
        list of str
            ``[ALL_WORDS]`` for a corpus without UD annotation; every category of
            :data:`~crossling.factorization.crosscov.CATEGORIES` for "all".
        """
        if not self.annotated():
            return [ALL_WORDS]
        return list(CATEGORIES) if self.categories == "all" else list(self.categories)

    def factorization_options(self) -> FactorizationOptions:
        """The fit and analysis settings of this run.

        Returns
        -------
        FactorizationOptions
        """
        return self.subset(FactorizationOptions)


def study_sentences(
    corpus: str,
    languages: Sequence[str],
    *,
    split: str = "all",
    limit: int | None = None,
    romanize: Sequence[str] = (),
    lenient: bool = False,
) -> dict[str, list[Sentence]]:
    """The sentences the study reads, per language, romanised where asked.

    Parameters
    ----------
    corpus : str
        A corpus spec (:func:`crossling.data.corpus.load_corpus`). A sentence without words (LibreOffice Help
        paragraphs, plain text) gets the whitespace words of its text
        (:func:`crossling.data.parallel.whitespace_sentence`); one with neither words nor text is dropped.
    languages : sequence of str
    split : {"all", "train", "dev", "test"}, default "all"
    limit : int, optional
        Only the first ``limit`` sentences (after dropping empty ones) of each language.
    romanize : sequence of str, default ()
        Languages (``zh``, ``ja``) whose word forms are replaced, word by word, by their romanisation
        (:func:`crossling.data.romanize.romanize_words`); every other field of the words is kept, so word
        alignment and features are unchanged. Their ``text`` is dropped (it is in the original script), so
        language properties are measured on the romanised forms the models read.
    lenient : bool, default False
        Read the corpus files leniently (:func:`crossling.data.corpus.load_corpus`).

    Returns
    -------
    Corpus
        In the order of ``languages``; its ``skipped`` counts what the reader left out and the sentences
        dropped for having neither words nor text.
    """
    from crossling.data.corpus import Corpus, load_corpus
    from crossling.data.parallel import whitespace_sentence
    from crossling.data.romanize import romanize_words

    read = load_corpus(corpus, list(languages), split=split, lenient=lenient)
    out = Corpus(skipped=read.skipped)
    for lang in languages:
        sentences = [s if s.words else whitespace_sentence(s.text, lang=s.lang, sent_id=s.sent_id, source=s.source,
                                                             line=s.line)
                     for s in read[lang] if s.words or (s.text and s.text.strip())]
        if len(sentences) < len(read[lang]):
            out.skipped.append({"what": "sentence", "reason": "no words and no text", "language": lang,
                                "count": len(read[lang]) - len(sentences)})
        sentences = sentences[:limit] if limit else sentences
        if lang in romanize:
            sentences = [replace(s, words=[replace(w, form=f) for w, f in zip(s.words, romanize_words(s.forms, lang))],
                                 text=None) for s in sentences]
        out[lang] = sentences
    return out


def _read_scores(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise ConfigError(f"--scores {path}: no such file")
    table = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    missing = {"language", "task", "score"} - set(table.columns)
    if missing:
        raise ConfigError(f"scores table {path} lacks column(s) {sorted(missing)}; it has {list(table.columns)}")
    return table


def _properties(sentences: Mapping[str, Sequence[Sentence]], corpus: str, pretraining: Mapping[str, int],
                experimental: str) -> pd.DataFrame:
    """The :data:`PROPERTIES` of every language: ``language, property, value, source``.

    Distinct characters come from the pre-training record where it has the language (``pretraining``), else
    from the analysed sentences; the type-token ratio is of lemmas, or of forms where no word has a lemma.
    """
    from crossling.data.languages import language_properties

    wide = language_properties(sentences).set_index("iso639_1")
    rows = []
    for lang in sentences:
        if lang in pretraining:
            chars, source = pretraining[lang], f"pre-training text of {experimental} (training_record.json)"
        else:
            chars, source = wide.at[lang, "char_coverage"], f"analysed corpus {corpus}"
        rows.append({"language": lang, "property": "distinct_chars_99.9", "value": float(chars), "source": source})
        unit = wide.at[lang, "type_token_unit"]
        rows.append({"language": lang, "property": "type_token_ratio",
                     "value": float(wide.at[lang, "type_token_ratio"]),
                     "source": f"analysed corpus {corpus}, "
                               + ("lemmas" if unit == "lemmas" else "word forms (the corpus has no lemmas)")})
    return pd.DataFrame(rows)


class _Extraction(NamedTuple):
    stores: dict[str, dict[str, VectorStore]]  # role ("experimental", "control") -> language -> store
    identities: dict[str, Any]  # the manifest's models: experimental, and control per language
    layers: list[int]
    heatmap_layers: list[int]
    variance_layers: list[int]
    rank: int  # the study's default: full rank, min(d, min_l d_l) over every analysed language


def _extract(config: FactorizationConfig, sentences: Mapping[str, list[Sentence]], languages: list[str],
             options: ExtractionOptions, provenance: Provenance, progress: bool, engine: Engine) -> _Extraction:
    """Stores of E and of every C_l; the layer settings and the rank checked against the models first."""
    from crossling.extraction.run import extract_stores

    root = config.stores_root()
    with provenance.stage("loading the models"):
        lm = config.load_model(config.experimental)
    n_states, d = lm.n_hidden_states, lm.hidden_size
    # Ascending, whatever order the user gave: trends and figures run along the layers.
    layers = sorted(resolve_layers(config.layers, range(n_states)))
    heatmap_layers, variance_layers = analysis_layers(config.factorization_options(), layers, range(n_states))
    if config.rank is not None and config.rank > d:
        raise ConfigError(f"rank {config.rank} exceeds the experimental model's width d = {d}")
    identities: dict[str, Any] = {"experimental": lm.identity(), "control": {}}
    with provenance.stage("extraction"):
        experimental = extract_stores(lm, {lang: sentences[lang] for lang in languages}, options, root,
                                      shard_size=config.shard_size, progress=progress, engine=engine)
    del lm
    by_model: dict[str, list[str]] = {}
    for lang in languages:
        by_model.setdefault(config.control[lang], []).append(lang)
    widths = [d]
    control_stores: dict[str, VectorStore] = {}
    for path, langs in by_model.items():
        with provenance.stage("loading the models"):
            control = config.load_model(path, revision=None)  # the revision names a commit of E's repository
        if control.n_hidden_states != n_states:
            raise ConfigError(
                f"control model {path} (for {', '.join(langs)}) has {control.n_hidden_states} hidden states but "
                f"the experimental model {config.experimental} has {n_states}: the study pairs hidden state i of "
                "one with hidden state i of the other, so both need the same number of layers")
        if config.rank is not None and config.rank > control.hidden_size:
            raise ConfigError(f"rank {config.rank} exceeds the width d_l = {control.hidden_size} of control "
                              f"model {path}")
        widths.append(control.hidden_size)
        for lang in langs:
            identities["control"][lang] = control.identity()
        with provenance.stage("extraction"):
            control_stores.update(extract_stores(control, {lang: sentences[lang] for lang in langs}, options, root,
                                                 shard_size=config.shard_size, progress=progress, engine=engine))
        del control
    stores = {"experimental": experimental, "control": {lang: control_stores[lang] for lang in languages}}
    return _Extraction(stores, identities, layers, heatmap_layers, variance_layers, config.rank or min(widths))


@dataclass(frozen=True)
class _OmegaStream:
    """The slices of every (category, layer), layer by layer, one layer's Omegas in memory at a time; its length
    is the number of fits (for the progress display)."""

    stores: Mapping[str, Mapping[str, VectorStore]]
    aligned: Mapping[str, AlignedWords]
    kept: Mapping[str, list[str]]
    languages: list[str]
    layers: list[int]
    chunk_size: int

    def __len__(self) -> int:
        return len(self.layers) * len(self.kept)

    def __iter__(self) -> Iterator[tuple[tuple[str, int], dict[str, np.ndarray]]]:
        from crossling.factorization.crosscov import cross_covariances

        kept = self.kept
        for layer in self.layers:
            omegas: dict[str, dict[str, np.ndarray]] = {c: {} for c in kept}
            for lang in self.languages:
                mine = [c for c in kept if lang in kept[c]]
                if mine:
                    per_category = cross_covariances(self.stores["control"][lang].vectors(layer),
                                                     self.stores["experimental"][lang].vectors(layer),
                                                     self.aligned[lang], categories=mine, chunk_size=self.chunk_size)
                    for category, omega in per_category.items():
                        omegas[category][lang] = omega
            for category, langs in kept.items():
                yield (category, layer), {lang: omegas[category].pop(lang) for lang in langs}


def _fits(config: FactorizationConfig, extracted: _Extraction, words: Mapping[str, Any],
          sentences: Mapping[str, Sequence[Sentence]], languages: list[str], categories: list[str],
          scores: pd.DataFrame | None, records: Mapping[str, Any], provenance: Provenance, progress: bool,
          engine: Engine) -> tuple[FactorizationResult, FitPlan, dict[str, AlignedWords]]:
    """The words both models saw, the languages each category keeps, then every fit and table."""
    stores = extracted.stores
    aligned = {lang: align_words(words[lang], stores["experimental"][lang].meta, stores["control"][lang].meta)
               for lang in languages}
    n_words = {(c, lang): aligned[lang].n_words(c) for c in categories for lang in languages}
    n_labelled = {(c, lang): aligned[lang].n_labelled.get(c, 0) for c in categories for lang in languages}
    plan = plan_fits(n_words, languages=languages, categories=categories, min_words=config.min_words,
                     n_labelled=n_labelled)
    if not plan.kept:
        raise ConfigError(f"no category has {config.min_words} or more words in at least 2 languages; see the "
                          "table of the warning above (lower --min-words or add data)")
    for row in plan.skipped.itertuples(index=False):
        provenance.skip("language", row.reason, category=row.category, language=row.language, n_words=row.n_words)
    options = config.factorization_options().model_copy(update={
        "rank": extracted.rank, "heatmap_layers": extracted.heatmap_layers,
        "variance_layers": extracted.variance_layers})
    with provenance.stage("cross-covariances and fits"):
        result = compute_factorization(
            _OmegaStream(stores, aligned, plan.kept, languages, extracted.layers, config.chunk_size),
            languages=languages, n_words=n_words, scores=scores, skipped=plan.skipped, options=options,
            properties=_properties(sentences, config.corpus, pretraining_characters(records["experimental"], languages),
                                   config.experimental), engine=engine, progress=progress)
    return result, plan, aligned


def run_factorization(config: FactorizationConfig, *, progress: bool = True) -> RunResult[FactorizationResult]:
    """Run the joint-factorization study (Zhao, Ziser and Cohen, 2023) and write its results.

    Every option is checked before the models run (languages and their control models, the scores table); the
    layers are checked against the experimental model right after it is loaded, and each control model's
    number of hidden states before its extraction.

    Writes into ``config.out``: ``config.yaml``; the tables of
    :class:`~crossling.factorization.study.FactorizationResult` (parquet + CSV: ``signatures``,
    ``average_signatures``, ``fits``, ``skipped``, ``trends``, ``properties``, ``property_correlations``,
    ``variance_tests`` and ``downstream_correlations`` when computed, ``distances``, ``trees``);
    ``trees/<category>_layer_NN.nwk``; ``figures/`` (unless ``figures`` is off); ``manifest.json`` (the common
    keys of :mod:`crossling._utils.provenance`, plus ``languages``, ``categories``, ``fitted_categories``,
    ``layers``, ``min_words``, ``parafac2``, ``skipped_analyses``, ``model_quality`` (held-out loss against
    the unigram baseline of the models with a pre-training record), ``caveats`` (what the report warns of),
    ``property_sources`` (``"<language>/<property>"`` -> where the value was measured), ``tables`` and
    ``figures``; the corpus section also says how words were made: ``segmentation``, ``all_words``,
    ``multiword``, ``romanization``) and ``report.json``.

    Parameters
    ----------
    config : FactorizationConfig
    progress : bool, default True
        Progress bars (or lines, off a terminal) for extraction and fitting.

    Returns
    -------
    RunResult
        ``result`` is the :class:`~crossling.factorization.study.FactorizationResult`.

    Raises
    ------
    ConfigError
        For a language without a control model, fewer than two languages, a scores table that does not exist
        or lacks a column, layers the experimental model does not have, a control model with another number
        of hidden states than E, a rank above min(d, d_l), or no category with two languages to compare.
    CorpusSpecError
        When the corpus cannot be read.
    ModelLoadError
        When a model cannot be loaded.
    """
    from crossling.data.corpus import corpus_name, corpus_record
    from crossling.data.segment import segmenter_record
    from crossling.extraction.extract import ExtractionOptions
    from crossling.extraction.run import stores_record, stores_skipped
    from crossling.factorization.plots import write_factorization_figures
    from crossling.factorization.report import write_factorization_section

    provenance = Provenance(STUDY, "crossling factorization", config.model_dump(mode="json"))
    languages = config.analysed_languages()
    categories = config.analysed_categories()
    from crossling.data.downstream import SOURCE as DOWNSTREAM_SOURCE
    from crossling.data.downstream import downstream_scores

    if config.scores is not None and config.downstream is not None:
        raise ConfigError("give --scores (your table) or --downstream (a bundled model's results), not both")
    scores = (_read_scores(config.scores) if config.scores is not None
              else downstream_scores(config.downstream) if config.downstream is not None else None)
    with provenance.stage("reading the corpus"):
        sentences = study_sentences(config.corpus, languages, split=config.split, limit=config.limit,
                                    lenient=config.lenient,
                                    romanize=config.romanize)
    words = {lang: category_words(sentences[lang], categories, all_words=config.all_words, multiword=config.multiword)
             for lang in languages}
    # What the models read: the syntactic words, or the tokens as written (category_words indexes the same)
    model_input = sentences if config.multiword == "words" else {
        lang: [surface_sentence(s)[0] for s in sentences[lang]] for lang in languages}
    records = {"experimental": read_training_record(config.experimental),
               **{f"control/{lang}": read_training_record(config.control[lang]) for lang in languages}}
    model_quality, caveats = model_caveats(records, {"experimental": languages,
                                                     **{f"control/{lang}": [lang] for lang in languages}})
    romanization, romanization_notes = romanization_caveats(records["experimental"], config.romanize, languages)
    caveats += romanization_notes
    extraction = ExtractionOptions(level="word", pooling=config.pooling, batch_size=config.batch_size,
                                   max_length=config.max_length)
    with config.open_engine() as engine:
        extracted = _extract(config, model_input, languages, extraction, provenance, progress, engine)
        result, plan, aligned = _fits(config, extracted, words, sentences, languages, categories, scores, records,
                                      provenance, progress, engine)
        engine_record = engine.record()
    stores = extracted.stores
    options = result.options
    fits = result.fits
    role_stores = {f"{role}/{lang}": stores[role][lang] for role in ("experimental", "control") for lang in languages}
    provenance.record.update(
        models=extracted.identities, extraction=extraction.as_dict(),
        stores=stores_record(role_stores),
        corpus={**corpus_record(config.corpus, sentences, split=config.split, limit=config.limit),
                "annotated": config.annotated(),
                "word_source": "UD words" if config.annotated() else f"words of raw text; only {ALL_WORDS!r} analysed",
                "segmentation": None if config.annotated() else {lang: segmenter_record(lang) for lang in languages},
                "all_words": (f"part-of-speech-bearing words (not {', '.join(NOT_PART_OF_SPEECH)})"
                              if config.all_words == "pos" else "every word"),
                "multiword": ("syntactic words (a multiword token's words each read on their own)"
                              if config.multiword == "words" else "surface tokens (a multiword token read as written)"),
                "romanized": list(config.romanize), "romanization": romanization,
                "aligned_words": {lang: int(aligned[lang].control_rows.size) for lang in languages}},
        seeds={"parafac2": config.seed, "tree_permutations": config.seed},
        diagnostics={"not_converged": [list(key) for key in result.not_converged],
                     "max_relative_error": float(fits["relative_error"].max()), **diagnostics_summary(fits)},
        engine={**engine_record, "chunk_size": config.chunk_size},
        languages=languages, categories=categories, fitted_categories=plan.kept, layers=list(result.layers),
        min_words=config.min_words, skipped_analyses=result.skipped_analyses, model_quality=model_quality,
        downstream_scores=({"file": str(config.scores)} if config.scores is not None else
                           {"bundled": config.downstream, "source": DOWNSTREAM_SOURCE} if config.downstream else None),
        caveats=caveats,
        property_sources={f"{row.language}/{row.property}": row.source for row in result.properties.itertuples()},
        parafac2={"preset": options.preset, "rank": options.rank, "nonnegative": True, **options.fit_options(),
                  "n_fits": len(fits), "n_converged": int(fits["converged"].sum()),
                  "n_degenerate": int(fits["degenerate"].sum()), "n_unstable": int(fits["unstable"].sum())},
        tables=sorted(result.tables()))
    for entry in [*sentences.skipped, *stores_skipped(role_stores)]:
        provenance.skip(**entry)
    if config.annotated():
        source = (f"UD {config.split} treebanks, per category" if config.corpus.startswith("ud:")
                  else f"{corpus_name(config.corpus)}, per category")
    else:
        source = f"{corpus_name(config.corpus)}, all words"

    def write(folder: Path) -> list[Path]:
        files: list[Path] = []
        for name, table in result.tables().items():
            files += write_table(table, folder, name)
        for row in result.trees.itertuples(index=False):
            if row.newick is not None:
                name = f"{category_slug(row.category)}_layer_{row.layer:02d}.nwk"
                files.append(atomic_write_text(folder / "trees" / name, row.newick + "\n"))
        figures = (write_factorization_figures(result, folder / "figures", highlight=config.romanize)
                   if config.figures else [])
        provenance.record["figures"] = [str(path.relative_to(folder)) for path in figures]
        files += figures
        files.append(write_factorization_section(result, folder, figures, source, caveats=caveats))
        return files

    files = write_run(config.out, config, provenance, write)
    return RunResult(result=result, manifest=provenance.record, out=Path(config.out), files=files)

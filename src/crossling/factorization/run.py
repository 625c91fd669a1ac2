"""The joint-factorization study (Zhao, Ziser and Cohen, 2023) end to end: UD words to tables, trees, figures.

For each language l the same UD words (of one UniMorph category, or all words) go through the multilingual
experimental model E (d dims) and the language's monolingual control model C_l (d_l dims). With Z_l
(m x d_l) and Y_l (m x d) the word vectors of one hidden state, centred per feature,

    Omega_l = Z_l^T Y_l / m                    (d_l x d, ``Moments(d_l, d).cov_xy()``)

and one PARAFAC2 (:func:`crossling.factorization.parafac2.parafac2`, non-negative signatures, SVD initialisation) per
(category, layer) fits every kept language jointly, Omega_l ~ U_l diag(s_l) V^T. Row s_l of S is the
language's *signature*; its mean over components is the *average signature* (the study's intensity).

Pipeline (:func:`run_factorization`):

1. UD sentences per language (``load_corpus("ud:DIR")``), or any corpus spec (``corpus``, e.g.
   ``lohelp:`` or ``text:DIR``; unannotated text is split into words at whitespace and only
   :data:`ALL_WORDS` is analysed), optionally the first ``limit`` of each, Chinese and Japanese optionally
   romanised word by word (:func:`crossling.data.romanize.romanize_words`).
2. Words per category (:func:`crossling.data.unimorph.words_by_category`, plus the pseudo-category
   :data:`ALL_WORDS` holding every word).
3. One forward pass per model and language over all hidden states into a cached
   :class:`~crossling.extraction.store.VectorStore` (``out/stores`` unless ``stores`` is given; an identical extraction is
   reused). E and every C_l must have the same number of hidden states: layer i is paired with layer i.
4. Per layer, per language, one streaming pass over the two stores' rows (:func:`cross_covariances`) gives
   Omega_l for every category at once. Words a model lost to truncation are left out of both sides
   (:func:`align_words`). A language with fewer than ``min_words`` such words in a category is left out of
   that category (table ``skipped``); a category needs at least two languages.
5. Per (category, layer) one PARAFAC2 over the kept languages, in the configured language order (every
   table names its languages in a ``language`` column; nothing is positional).
6. Statistics and trees: Mann-Kendall trends with BH FDR (:func:`crossling.stats.trend_tests`), Pearson
   correlations with language properties measured on the same UD data (distinct characters covering 99.9%
   of occurrences, type-token ratio, data size in tokens) and optionally with downstream scores, the
   chi-square variance test of the diverse set against the related sets (when the languages cover them),
   cosine distances between signatures, UPGMA trees and their Newick text, the average tree over the
   UniMorph categories per layer, and the trees' agreement with the WALS family/genus table.
7. Figures (:mod:`crossling.factorization.plots`) and provenance (``manifest.json``, ``config.yaml``).

Outputs in ``out/`` (tables as parquet + CSV): ``signatures`` (category, layer, language, component, value),
``average_signatures`` (category, layer, language, value, n_words), ``fits``, ``skipped``, ``trends``,
``properties``, ``property_correlations``, ``variance_tests``, ``downstream_correlations`` (with scores),
``distances``, ``trees``; ``trees/*.nwk``; ``figures/``.

Memory: per layer the Omegas of every (category, language) are held at once, n_categories x L x d_l x d
float64 (18 x 33 x 768 x 768: 2.8 GB); vectors are read from the memory-mapped stores ``chunk_size`` words
at a time.
"""

from __future__ import annotations

import json
import platform
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Optional, Union

import numpy as np
import pandas as pd
from pydantic import Field, field_validator, model_validator

from crossling._utils.io import atomic_write_text, write_table
from crossling._utils.progress import progress_bar
from crossling.config import (
    CommaList,
    LayerList,
    ModelOptions,
    resolve_layers,
    split_commas,
)
from crossling.data.corpus import corpus_name
from crossling.data.records import Sentence
from crossling.data.romanize import SUPPORTED as ROMANIZABLE
from crossling.data.unimorph import UNIMORPH_CATEGORIES, CategoryIndex, words_by_category
from crossling.exceptions import CategorySkippedWarning
from crossling.factorization.parafac2 import Parafac2Result, parafac2
from crossling.moments import Moments

if TYPE_CHECKING:  # the store pulls in torch, which a command line must not load to print its help
    from crossling.extraction.store import VectorStore

__all__ = [
    "ALL_WORDS",
    "AVERAGE",
    "CATEGORIES",
    "AlignedWords",
    "FactorizationConfig",
    "FactorizationResult",
    "align_words",
    "category_words",
    "cross_covariances",
    "fit_signatures",
    "run_factorization",
    "signature_table",
    "study_sentences",
]

ALL_WORDS = "All words"
"""Pseudo-category of every UD word of a language, whatever its features."""
AVERAGE = "average"
"""Category name of the distance matrices and trees averaged over the UniMorph categories of a layer."""
CATEGORIES: tuple[str, ...] = (*UNIMORPH_CATEGORIES, ALL_WORDS)
UD_SCHEMES = ("ud", "pud")
"""Corpus spec schemes whose sentences carry UD words and features; others give whitespace words only."""
PROPERTIES: tuple[str, ...] = ("distinct_chars_99.9", "type_token_ratio", "data_size")


# --------------------------------------------------------------------------------------------------
# Configuration


class FactorizationConfig(ModelOptions):
    """Settings of ``crossling parafac2`` (the joint-factorization study).

    Model loading and batching (``batch_size``, ``max_length``, ``device``, ``dtype``, ``revision``,
    ``trust_remote_code``): :class:`~crossling.config.ModelOptions`; ``revision`` applies to the experimental
    model only (the control models load at their default revision).

    Attributes
    ----------
    experimental : str
        The multilingual model E (Hugging Face folder or hub id).
    control : dict of str to str
        Language -> its monolingual control model C_l. From the command line: ``LANG=MODEL`` strings.
    ud : path, optional
        Folder of UD treebanks (``<lang>_<code>-<split>.conllu[.gz]``) or one CoNLL-U file.
    corpus : str, optional
        Instead of ``ud``: a corpus spec (:func:`crossling.data.corpus.load_corpus`), e.g. ``pud:DIR``,
        ``lohelp:`` or ``text:DIR``. Corpora without UD annotation (``lohelp``, ``text``) are split into
        words at whitespace (:func:`crossling.data.parallel.whitespace_sentence`; a text without spaces,
        as in Chinese or Japanese, gives one "word" per space-separated run) and only :data:`ALL_WORDS`
        is analysed: ``categories="all"`` means ``[ALL_WORDS]`` there, and a UniMorph category is an
        error. Exactly one of ``ud`` and ``corpus`` is given.
    languages : list of str, optional
        Languages to analyse, in this order (the order of every table); default: the order of ``control``.
    split : {"all", "train", "dev", "test"}, default "all"
        Which treebank files to read.
    limit : int, optional
        Only the first ``limit`` sentences of each language.
    categories : "all" or list of str, default "all"
        The 17 UniMorph categories of the study and :data:`ALL_WORDS`, or a selection of them.
    layers : list of int, optional
        Hidden states to analyse (0 = embedding output, negative counts from the end); default all.
        Extraction always stores every hidden state, so the cache serves any selection.
    rank : int, optional
        PARAFAC2 rank k. Default: full rank, min(d, min_l d_l), the study's setting (768 for its models).
        The average signature is a mean over the k components, so runs are comparable only at the same k;
        the cost grows with k (``--rank 50`` for a quick look).
    min_words : int, default 100
        A language with fewer words (with a vector from both models) in a category is left out of it.
    romanize : list of str, default []
        Languages (``zh``, ``ja``) whose words are romanised before extraction (the script ablation).
    n_starts : int, default 1
        PARAFAC2 starts (the first from the SVD, the others random); the spread of their errors is reported.
    seed : int, default 0
        Seed of the random PARAFAC2 starts and of the tree permutation tests.
    n_iter_max : int, default 100
        PARAFAC2 iterations per start (the study ran 100).
    tol : float, default 1e-8
        PARAFAC2 stopping rule (relative change of the sum of squared residuals).
    normalize_slices : bool, default False
        Divide each Omega_l by its Frobenius norm before the fit, so languages weigh equally.
    pooling : {"mean", "first", "last"}, default "mean"
        Sub-words to word.
    chunk_size : int, default 4096
        Words read from a store at a time when accumulating moments.
    n_permutations : int, default 9999
        Permutations of the tree-agreement test.
    heatmap_layers : list of int, optional
        Layers of the distance heatmaps; default the first, middle and last analysed layer.
    variance_layers : list of int, optional
        Layers of the variance test; default every analysed layer.
    scores : path, optional
        Table (CSV or parquet) with columns ``language``, ``task``, ``score`` (e.g. XTREME results): adds
        the correlation of the average signature with each task.
    figures : bool, default True
    stores : path, optional
        Folder of the vector stores; default ``out/stores``. Share it between runs to reuse extractions.
    out : path
        Folder for every result.
    """

    experimental: str
    control: dict[str, str]
    ud: Optional[Path] = None
    corpus: Optional[str] = None
    languages: Optional[CommaList] = None
    split: Literal["all", "train", "dev", "test"] = "all"
    limit: Optional[int] = Field(default=None, ge=1)
    categories: Union[Literal["all"], list[str]] = "all"
    layers: LayerList = None
    rank: Optional[int] = Field(default=None, ge=1)
    min_words: int = Field(default=100, ge=1)
    romanize: CommaList = Field(default_factory=list)
    n_starts: int = Field(default=1, ge=1)
    seed: int = 0
    n_iter_max: int = Field(default=100, ge=1)
    tol: float = Field(default=1e-8, ge=0)
    normalize_slices: bool = False
    pooling: Literal["mean", "first", "last"] = "mean"
    chunk_size: int = Field(default=4096, ge=1)
    n_permutations: int = Field(default=9999, ge=1)
    heatmap_layers: LayerList = None
    variance_layers: LayerList = None
    scores: Optional[Path] = None
    figures: bool = True
    stores: Optional[Path] = None
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
    def _check_source(self) -> "FactorizationConfig":
        if (self.ud is None) == (self.corpus is None):
            raise ValueError("give exactly one of ud (a UD treebank folder) and corpus (a corpus spec)")
        if not self.annotated() and self.categories != "all" and set(self.categories) != {ALL_WORDS}:
            raise ValueError(f"corpus {self.corpus!r} has no UD annotation: only the category {ALL_WORDS!r} "
                             f"can be analysed, got {self.categories}")
        return self

    def corpus_spec(self) -> str:
        """The corpus as a :func:`crossling.data.corpus.load_corpus` spec."""
        return f"ud:{self.ud}" if self.ud is not None else str(self.corpus)

    def annotated(self) -> bool:
        """Whether the corpus carries UD morphology (``ud:`` and ``pud:`` specs)."""
        return self.corpus_spec().partition(":")[0] in UD_SCHEMES

    def analysed_languages(self) -> list[str]:
        """The languages in analysis order; each must have a control model."""
        languages = list(self.control) if self.languages is None else list(self.languages)
        if len(set(languages)) != len(languages):
            raise ValueError(f"languages must be distinct, got {languages}")
        missing = [lang for lang in languages if lang not in self.control]
        if missing:
            raise ValueError(f"no control model for {missing}: add --control {missing[0]}=MODEL")
        if len(languages) < 2:
            raise ValueError(f"the joint factorization needs at least 2 languages, got {languages}")
        stray = [lang for lang in self.romanize if lang not in languages]
        if stray:
            raise ValueError(f"romanize: {stray} not among the analysed languages {languages}")
        return languages

    def analysed_categories(self) -> list[str]:
        if not self.annotated():
            return [ALL_WORDS]
        return list(CATEGORIES) if self.categories == "all" else list(self.categories)


# --------------------------------------------------------------------------------------------------
# Words, alignment and cross-covariances


def category_words(sentences: Sequence[Sentence], categories: Sequence[str]) -> dict[str, CategoryIndex]:
    """The words of one language that carry each category (no minimum count).

    Parameters
    ----------
    sentences : sequence of Sentence
        One language's corpus, in the order it is extracted.
    categories : sequence of str
        UniMorph categories (:data:`~crossling.data.unimorph.UNIMORPH_CATEGORIES`) and/or :data:`ALL_WORDS`.

    Returns
    -------
    dict of str to CategoryIndex
        Every requested category that at least one word carries, in the order of ``categories``;
        :data:`ALL_WORDS` lists every word (its ``values`` are the UPOS tags).
    """
    with warnings.catch_warnings():
        # Counts are checked against min_words later, after alignment, where the skip is recorded.
        warnings.simplefilter("ignore", CategorySkippedWarning)
        found = words_by_category(sentences, min_words=1).categories
    out: dict[str, CategoryIndex] = {}
    for category in categories:
        if category == ALL_WORDS:
            lengths = [len(s.words) for s in sentences]
            out[category] = CategoryIndex(
                ALL_WORDS,
                np.repeat(np.arange(len(sentences), dtype=np.int64), lengths),
                np.concatenate([np.arange(n, dtype=np.int64) for n in lengths]) if lengths else np.zeros(0, np.int64),
                np.array([w.upos for s in sentences for w in s.words]),
            )
        elif category in found:
            out[category] = found[category]
    return out


@dataclass(frozen=True)
class AlignedWords:
    """The words of one language that have a vector in both stores, and where they are.

    Attributes
    ----------
    control_rows, experimental_rows : ndarray of int64, shape (n,)
        Row of each aligned word in the control and in the experimental store, in corpus order
        (sentence, then word).
    positions : dict of str to ndarray of int64
        Category -> sorted positions (into the two row arrays) of its words.
    n_labelled : dict of str to int
        Category -> words carrying it in the corpus, before alignment (the difference was lost to
        truncation or produced no token in one of the models).
    """

    control_rows: np.ndarray
    experimental_rows: np.ndarray
    positions: dict[str, np.ndarray]
    n_labelled: dict[str, int]

    def n_words(self, category: str) -> int:
        """Aligned words of ``category`` (0 when no word carries it)."""
        return int(self.positions[category].size) if category in self.positions else 0


def _word_keys(sentence_index: np.ndarray, word_index: np.ndarray, width: int) -> np.ndarray:
    return np.asarray(sentence_index, dtype=np.int64) * width + np.asarray(word_index, dtype=np.int64)


def align_words(
    words: Mapping[str, CategoryIndex], experimental_meta: pd.DataFrame, control_meta: pd.DataFrame
) -> AlignedWords:
    """Pair the rows of two word-level stores of the same sentences, per category.

    Parameters
    ----------
    words : mapping of str to CategoryIndex
        Category -> its words, as (sentence_index, word_index) into the extracted sentences
        (:func:`category_words`).
    experimental_meta, control_meta : DataFrame
        ``VectorStore.meta`` of the two stores (columns ``sentence_index``, ``word_index``; one row per vector).

    Returns
    -------
    AlignedWords
        A word is kept when both stores have its vector.
    """
    for name, meta in (("experimental", experimental_meta), ("control", control_meta)):
        if (meta["word_index"] < 0).any():
            raise ValueError(f"the {name} store holds sentence vectors; the study needs a word-level store")
    e_words, c_words = experimental_meta["word_index"].to_numpy(), control_meta["word_index"].to_numpy()
    width = 1 + max(int(w.max(initial=0)) for w in (e_words, c_words, *(idx.word_index for idx in words.values())))
    e_keys = _word_keys(experimental_meta["sentence_index"].to_numpy(), e_words, width)
    c_keys = _word_keys(control_meta["sentence_index"].to_numpy(), c_words, width)
    common, e_rows, c_rows = np.intersect1d(e_keys, c_keys, assume_unique=True, return_indices=True)
    positions, n_labelled = {}, {}
    for category, index in words.items():
        keys = _word_keys(index.sentence_index, index.word_index, width)
        pos = np.searchsorted(common, keys)
        found = pos < common.size
        found[found] = common[pos[found]] == keys[found]
        positions[category] = np.unique(pos[found])
        n_labelled[category] = len(index)
    return AlignedWords(c_rows.astype(np.int64), e_rows.astype(np.int64), positions, n_labelled)


def cross_covariances(
    control: VectorStore,
    experimental: VectorStore,
    aligned: AlignedWords,
    layer: int,
    *,
    categories: Sequence[str] | None = None,
    chunk_size: int = 4096,
) -> dict[str, np.ndarray]:
    """Omega = Z^T Y / m per category at one hidden state, in one streaming pass over both stores.

    Parameters
    ----------
    control : VectorStore
        C_l's word vectors Z (d_l dims).
    experimental : VectorStore
        E's word vectors Y (d dims) of the same sentences.
    aligned : AlignedWords
        From :func:`align_words` on the two stores.
    layer : int
        Hidden state (the same index in both models).
    categories : sequence of str, optional
        Default: every category of ``aligned``.
    chunk_size : int, default 4096
        Aligned words read from the memory-mapped stores at a time.

    Returns
    -------
    dict of str to ndarray, shape (d_l, d), float64
        Omega = (Z - mean Z)^T (Y - mean Y) / m over the category's m aligned words
        (:meth:`crossling.Moments.cov_xy`, accumulated in float64 and merged chunk by chunk).
    """
    categories = list(aligned.positions) if categories is None else list(categories)
    empty = [c for c in categories if aligned.n_words(c) == 0]
    if empty:
        raise ValueError(f"no aligned words in categories {empty}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")
    Z, Y = control.vectors(layer), experimental.vectors(layer)
    moments = {c: Moments(Z.shape[1], Y.shape[1]) for c in categories}
    n = aligned.control_rows.size
    for start in range(0, n, chunk_size):
        stop = min(start + chunk_size, n)
        z = Z[aligned.control_rows[start:stop]]
        y = Y[aligned.experimental_rows[start:stop]]
        for category in categories:
            pos = aligned.positions[category]
            lo, hi = np.searchsorted(pos, (start, stop))
            if hi > lo:
                local = pos[lo:hi] - start
                moments[category].update(z[local], y[local])
    return {c: m.cov_xy() for c, m in moments.items()}


# --------------------------------------------------------------------------------------------------
# Fitting


def fit_signatures(
    omegas: Mapping[str, np.ndarray],
    *,
    rank: int,
    n_iter_max: int = 100,
    tol: float = 1e-8,
    n_starts: int = 1,
    random_state: int | None = 0,
    normalize_slices: bool = False,
) -> Parafac2Result:
    """One PARAFAC2 over the languages' Omegas: non-negative signatures, SVD initialisation.

    Parameters
    ----------
    omegas : mapping of str to ndarray (d_l, d)
        Language -> Omega_l. Row l of the result's ``S`` belongs to the l-th language of the mapping; use
        :func:`signature_table` to turn it into rows named by language.
    rank : int
        k.
    n_iter_max, tol, n_starts, random_state, normalize_slices
        As :func:`crossling.factorization.parafac2.parafac2` (the study: ``init="svd"``, non-negative signatures,
        100 iterations).

    Returns
    -------
    Parafac2Result
    """
    if len(omegas) < 2:
        raise ValueError(f"a joint factorization needs at least 2 languages, got {list(omegas)}")
    return parafac2(list(omegas.values()), rank, init="svd", nonnegative=True, n_iter_max=n_iter_max, tol=tol,
                    n_starts=n_starts, random_state=random_state, normalize_slices=normalize_slices)


def signature_table(languages: Sequence[str], S: np.ndarray, **keys: Any) -> pd.DataFrame:
    """Tidy signatures: one row per (language, component), the ``keys`` (e.g. category, layer) in front.

    Parameters
    ----------
    languages : sequence of str, length L
        The language of each row of ``S``.
    S : ndarray, shape (L, k)
    **keys
        Constant columns, e.g. ``category="Case", layer=3``.

    Returns
    -------
    DataFrame
        Columns ``*keys, language, component, value``.
    """
    S = np.asarray(S)
    if S.ndim != 2 or S.shape[0] != len(languages):
        raise ValueError(f"S has shape {S.shape} for {len(languages)} languages")
    L, k = S.shape
    table = pd.DataFrame({"language": np.repeat(np.array(languages, dtype=object), k),
                          "component": np.tile(np.arange(k), L), "value": S.ravel()})
    for i, (name, value) in enumerate(keys.items()):
        table.insert(i, name, value)
    return table


# --------------------------------------------------------------------------------------------------
# The study


@dataclass(frozen=True)
class FactorizationResult:
    """Everything :func:`run_factorization` produced (also written to ``out``).

    Attributes
    ----------
    signatures : DataFrame
        category, layer, language, component, value.
    average_signatures : DataFrame
        category, layer, language, value (mean signature over components), n_words.
    fits : DataFrame
        category, layer, n_languages, languages, rank, relative_error, n_iter, converged, spread,
        n_starts, best_start, seconds.
    skipped : DataFrame
        category, language, n_words, reason: every (category, language) left out.
    trends, properties, property_correlations, distances, trees : DataFrame
        See the module docstring.
    variance_tests, downstream_correlations : DataFrame or None
        None when not computed (the reason is in ``skipped_analyses``).
    languages, categories, layers : tuple
        What was analysed, in order.
    stores : dict
        ``{"experimental": {lang: VectorStore}, "control": {lang: VectorStore}}``.
    words : dict
        Language -> category -> :class:`~crossling.data.unimorph.CategoryIndex` into the extracted sentences.
    skipped_analyses : dict of str to str
        Analysis -> why it was not computed.
    figures : list of Path
    manifest : dict
        The provenance record written to ``out/manifest.json``.
    out : Path
    """

    signatures: pd.DataFrame
    average_signatures: pd.DataFrame
    fits: pd.DataFrame
    skipped: pd.DataFrame
    trends: pd.DataFrame
    properties: pd.DataFrame
    property_correlations: pd.DataFrame
    distances: pd.DataFrame
    trees: pd.DataFrame
    variance_tests: pd.DataFrame | None
    downstream_correlations: pd.DataFrame | None
    languages: tuple[str, ...]
    categories: tuple[str, ...]
    layers: tuple[int, ...]
    stores: dict[str, dict[str, VectorStore]]
    words: dict[str, dict[str, CategoryIndex]]
    skipped_analyses: dict[str, str]
    figures: list[Path]
    manifest: dict[str, Any]
    out: Path
    upgma_trees: dict[tuple[str, int], Any] = field(default_factory=dict, repr=False)


def study_sentences(
    ud: str | Path | None,
    languages: Sequence[str],
    *,
    corpus: str | None = None,
    split: str = "all",
    limit: int | None = None,
    romanize: Sequence[str] = (),
) -> dict[str, list[Sentence]]:
    """The sentences the study reads, per language, romanised where asked.

    Parameters
    ----------
    ud : path or None
        Folder of UD treebanks or one CoNLL-U file (``load_corpus("ud:...")``).
    languages : sequence of str
    corpus : str, optional
        Instead of ``ud``: any corpus spec (:func:`crossling.data.corpus.load_corpus`). A sentence without
        words (LibreOffice Help paragraphs) gets the whitespace words of its text
        (:func:`crossling.data.parallel.whitespace_sentence`); one with neither words nor text is dropped.
    split : {"all", "train", "dev", "test"}, default "all"
    limit : int, optional
        Only the first ``limit`` sentences of each language.
    romanize : sequence of str, default ()
        Languages (``zh``, ``ja``) whose word forms are replaced, word by word, by their romanisation
        (:func:`crossling.data.romanize.romanize_words`); every other field of the words is kept, so word
        alignment and features are unchanged. Their ``text`` is dropped (it is in the original script), so
        language properties are measured on the romanised forms the models read.

    Returns
    -------
    dict of str to list of Sentence
        In the order of ``languages``.
    """
    from crossling.data.corpus import load_corpus
    from crossling.data.parallel import whitespace_sentence
    from crossling.data.romanize import romanize_words

    if (ud is None) == (corpus is None):
        raise ValueError("give exactly one of ud and corpus")
    read = load_corpus(f"ud:{ud}" if corpus is None else corpus, list(languages), split=split)
    out = {}
    for lang in languages:
        sentences = [s if s.words else whitespace_sentence(s.text, lang=s.lang, sent_id=s.sent_id, source=s.source,
                                                             line=s.line)
                     for s in read[lang] if s.words or (s.text and s.text.strip())]
        sentences = sentences[:limit] if limit else sentences
        if lang in romanize:
            sentences = [replace(s, words=[replace(w, form=f) for w, f in zip(s.words, romanize_words(s.forms, lang))],
                                 text=None) for s in sentences]
        out[lang] = sentences
    return out


def _extract(config: FactorizationConfig, sentences: dict[str, list[Sentence]], languages: list[str],
             root: Path, progress: bool) -> tuple[dict[str, dict[str, VectorStore]], dict[str, Any]]:
    """Stores of E and of every C_l; the models' identities. Checks hidden states and widths."""
    from crossling.extraction.extract import ExtractionOptions
    from crossling.extraction.store import extract_to_store

    options = ExtractionOptions(level="word", pooling=config.pooling, batch_size=config.batch_size,
                                max_length=config.max_length)
    stores: dict[str, dict[str, VectorStore]] = {"experimental": {}, "control": {}}
    lm = config.load_model(config.experimental)
    n_states, d = lm.n_hidden_states, lm.hidden_size
    identities: dict[str, Any] = {"experimental": lm.identity(), "control": {}}
    if config.rank is not None and config.rank > d:
        raise ValueError(f"rank {config.rank} exceeds the experimental model's width d = {d}")
    for lang in languages:
        stores["experimental"][lang] = extract_to_store(lm, sentences[lang], root, options, progress=progress)
    del lm
    by_model: dict[str, list[str]] = {}
    for lang in languages:
        by_model.setdefault(config.control[lang], []).append(lang)
    for path, langs in by_model.items():
        control = config.load_model(path, revision=None)  # the revision names a commit of E's repository
        if control.n_hidden_states != n_states:
            raise ValueError(
                f"control model {path} (for {', '.join(langs)}) has {control.n_hidden_states} hidden states but the "
                f"experimental model {config.experimental} has {n_states}: the study pairs hidden state i of one "
                f"with hidden state i of the other, so both need the same number of layers")
        if config.rank is not None and config.rank > control.hidden_size:
            raise ValueError(f"rank {config.rank} exceeds the width d_l = {control.hidden_size} of control model {path}")
        for lang in langs:
            identities["control"][lang] = control.identity()
            stores["control"][lang] = extract_to_store(control, sentences[lang], root, options, progress=progress)
        del control
    return stores, identities


def _skip_reason(n_words: int, n_labelled: int, min_words: int) -> str:
    lost = n_labelled - n_words
    detail = f" ({n_labelled} labelled, {lost} without a vector in one of the models)" if lost else ""
    return f"{n_words} words{detail}, fewer than min_words={min_words}"


def _plan(categories: list[str], languages: list[str], aligned: dict[str, AlignedWords], min_words: int
          ) -> tuple[dict[str, list[str]], pd.DataFrame]:
    """Languages kept per category (in analysis order) and the table of every (category, language) left out."""
    kept: dict[str, list[str]] = {}
    skipped = []
    for category in categories:
        langs = []
        for lang in languages:
            n = aligned[lang].n_words(category)
            if n >= min_words:
                langs.append(lang)
            else:
                skipped.append((category, lang, n, _skip_reason(n, aligned[lang].n_labelled.get(category, 0), min_words)))
        if len(langs) == 1:
            skipped.append((category, langs[0], aligned[langs[0]].n_words(category),
                            "the only language with enough words: a joint factorization needs at least 2 languages"))
            langs = []
        if langs:
            kept[category] = langs
    table = pd.DataFrame(skipped, columns=["category", "language", "n_words", "reason"])
    if not table.empty:
        summary = table.groupby("category")["language"].apply(",".join).to_dict()
        warnings.warn(f"languages left out of categories (see table 'skipped'): {summary}", CategorySkippedWarning,
                      stacklevel=3)
    return kept, table


def _properties(sentences: dict[str, list[Sentence]]) -> pd.DataFrame:
    from crossling.data.languages import language_properties

    wide = language_properties(sentences)
    columns = {"char_coverage": "distinct_chars_99.9", "type_token_ratio": "type_token_ratio", "tokens": "data_size"}
    long = wide.drop(columns="language").rename(columns={"iso639_1": "language", **columns})[["language", *PROPERTIES]]
    return long.melt(id_vars="language", var_name="property", value_name="value").astype({"value": float})


def _taxonomy() -> pd.DataFrame:
    from crossling.data.languages import language_table

    table = language_table()
    return table.drop(columns="language").rename(columns={"iso639_1": "language"})


def _tree_row(dm: Any, category: str, layer: int, taxonomy: pd.DataFrame, config: FactorizationConfig
              ) -> tuple[dict[str, Any], Any]:
    from crossling.trees import to_newick, tree_agreement, upgma

    row: dict[str, Any] = {"category": category, "layer": layer, "n_languages": len(dm.labels),
                           "languages": ",".join(dm.labels), "newick": None, "cophenetic_r": np.nan,
                           "pvalue": np.nan, "n_permutations": 0, "note": ""}
    if np.isnan(dm.values).any():
        row["note"] = "undefined distance (a zero signature): no tree"
        return row, None
    tree = upgma(dm)
    row["newick"] = to_newick(tree)
    unknown = [lang for lang in dm.labels if lang not in set(taxonomy["language"])]
    if unknown:
        row["note"] = f"no family/genus for {unknown}: no agreement test"
    elif len(dm.labels) < 3:
        row["note"] = "fewer than 3 languages: no agreement test"
    else:
        agreement = tree_agreement(tree, taxonomy, n_permutations=config.n_permutations, random_state=config.seed)
        row.update(cophenetic_r=agreement.statistic, pvalue=agreement.pvalue, n_permutations=agreement.n_permutations)
    return row, tree


def _trees(distances: dict[tuple[str, int], Any], categories: list[str], languages: list[str], layers: list[int],
           config: FactorizationConfig) -> tuple[pd.DataFrame, pd.DataFrame, dict, dict[str, str]]:
    """Distance and tree tables, per (category, layer) and averaged over the UniMorph categories per layer."""
    from crossling.trees import average_distances

    notes: dict[str, str] = {}
    unimorph = [c for c in categories if c != ALL_WORDS]
    for layer in layers:
        mats = [distances[c, layer] for c in unimorph if (c, layer) in distances]
        if not mats:
            notes["average_trees"] = "no UniMorph category was fitted: no average tree"
            continue
        present = {lang for m in mats for lang in m.labels}
        distances[AVERAGE, layer] = average_distances(mats, labels=[lang for lang in languages if lang in present])
    taxonomy = _taxonomy()
    rows, frames, trees = [], [], {}
    for (category, layer), dm in distances.items():
        frame = dm.to_frame()
        frame.insert(0, "layer", layer)
        frame.insert(0, "category", category)
        frames.append(frame)
        row, tree = _tree_row(dm, category, layer, taxonomy, config)
        rows.append(row)
        if tree is not None:
            trees[category, layer] = tree
    return pd.concat(frames, ignore_index=True), pd.DataFrame(rows), trees, notes


def _variance_tests(average: pd.DataFrame, languages: list[str], layers: list[int]) -> tuple[pd.DataFrame | None, str]:
    from crossling.stats import DIVERSE, RELATED_SETS, group_variance_tests

    diverse = [lang for lang in DIVERSE if lang in languages]
    related = {name: members for name, members in RELATED_SETS.items()
               if sum(lang in languages for lang in members) >= 2}
    problems = []
    if len(diverse) < 2:
        problems.append(f"{len(diverse)} language(s) of the diverse set {list(DIVERSE)}")
    if not related:
        problems.append("no related set (" + ", ".join(RELATED_SETS) + ") with 2 or more languages")
    if problems:
        return None, "the languages cover " + " and ".join(problems) + "; the test needs 2 or more in each group"
    return group_variance_tests(average, layers=layers, related=related), ""


def _read_scores(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise FileNotFoundError(f"scores table {path} does not exist")
    table = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    missing = {"language", "task", "score"} - set(table.columns)
    if missing:
        raise ValueError(f"scores table {path} lacks column(s) {sorted(missing)}; it has {list(table.columns)}")
    return table


def _slug(name: str) -> str:
    return name.lower().replace(" ", "_")


_READINGS = {
    "violins": ("Average signature per layer",
                "Each violin is the spread over languages of the average PARAFAC2 signature (the intensity with "
                "which a language's control-model space is reflected in the multilingual model) at one layer. "
                "A falling curve means the multilingual model keeps less language-specific structure deeper in."),
    "distances": ("Distances between language signatures",
                  "Cosine distance between the signature vectors of two languages at a layer: dark cells are "
                  "languages the multilingual model treats alike."),
    "dendrograms": ("Language tree from signatures",
                    "UPGMA tree of the average distance over categories; leaves are coloured by family. Branches "
                    "that follow families mean the model's language-specific structure follows typology."),
    "correlations": ("Correlation with language properties",
                     "Pearson r between the average signature and a language property (characters covering 99.9% "
                     "of text, type-token ratio, data size), per category and layer; * marks p < 0.05."),
}
_MAX_FIGURES_PER_KIND = 3


def _report_section(
    out: Path, figures: Sequence[Path], tables: Mapping[str, pd.DataFrame], languages: Sequence[str], source: str
) -> None:
    """The study's section of ``crossling report``: a few figures of each kind, the key tables."""
    from crossling.report import write_section

    items, shown = [], {}
    for path in figures:
        kind = Path(path).parent.name
        if kind not in _READINGS or shown.get(kind, 0) >= _MAX_FIGURES_PER_KIND:
            continue
        shown[kind] = shown.get(kind, 0) + 1
        title, reading = _READINGS[kind]
        items.append({"file": str(Path(path).relative_to(out)), "caption": f"{title}: {Path(path).stem}",
                      "reading": reading})
    wanted = [("average_signatures", "Average signature by category, layer and language", 40),
              ("fits", "PARAFAC2 fits (relative error, convergence)", 30),
              ("trends", "Mann-Kendall trend of each language's signature over layers (BH-corrected)", 30),
              ("skipped", "Languages left out of a category and why", 30)]
    write_section(out, {
        "title": f"Joint factorization (Zhao, Ziser and Cohen 2023): {source}",
        "summary": f"PARAFAC2 of the cross-covariances between each language's monolingual control model and the "
                   f"multilingual model, per category and layer, over {', '.join(languages)}.",
        "figures": items,
        "tables": [{"file": f"{name}.parquet", "caption": caption, "max_rows": rows}
                   for name, caption, rows in wanted if name in tables],
        "provenance": "manifest.json",
    })


def _figures(result_tables: dict[str, pd.DataFrame], distances: dict, trees: dict, categories: list[str],
             heatmap_layers: list[int], layers: list[int], highlight: list[str], out: Path) -> list[Path]:
    from crossling.factorization.plots import (
        plot_correlation_heatmap,
        plot_dendrogram,
        plot_distance_heatmaps,
        plot_signature_violins,
    )

    figures: list[Path] = []
    folder = out / "figures"
    average = result_tables["average_signatures"]
    for category in categories:
        table = average[average["category"] == category]
        if table.empty:
            continue
        marked = [lang for lang in highlight if lang in set(table["language"])]
        figures.append(plot_signature_violins(table, folder / "violins" / f"{_slug(category)}.png", highlight=marked))
    for category in [*categories, AVERAGE]:
        panels = {layer: distances[category, layer] for layer in heatmap_layers if (category, layer) in distances}
        panels = {layer: m for layer, m in panels.items() if not np.isnan(m.values).any()}
        if panels:
            figures.append(plot_distance_heatmaps(
                panels, folder / "distances" / f"{_slug(category)}.png",
                title=f"Cosine distance between language signatures: {category}"))
    taxonomy = _taxonomy().set_index("language")
    for layer in layers:
        tree = trees.get((AVERAGE, layer))
        if tree is None:
            continue
        families = {lang: taxonomy.at[lang, "family"] if lang in taxonomy.index else "unknown" for lang in tree.labels}
        figures.append(plot_dendrogram(tree, folder / "dendrograms" / f"average_layer_{layer:02d}.png",
                                       families=families,
                                       title=f"UPGMA tree of signatures, average over categories, layer {layer}"))
    for name, column in (("property_correlations", "property"), ("downstream_correlations", "task")):
        table = result_tables.get(name)
        if table is None or table.empty:
            continue
        for value in table[column].unique():
            figures.append(plot_correlation_heatmap(
                table[table[column] == value], folder / "correlations" / f"{_slug(str(value))}.png"))
    return figures


def _versions() -> dict[str, str]:
    import crossling

    versions = {"python": platform.python_version(), "crossling": crossling.__version__}
    for package in ("numpy", "scipy", "pandas", "torch", "transformers", "tokenizers", "pymannkendall", "matplotlib"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def run_factorization(config: FactorizationConfig, *, progress: bool = True) -> FactorizationResult:
    """Run the joint-factorization study (Zhao, Ziser and Cohen, 2023) and write its results.

    Parameters
    ----------
    config : FactorizationConfig
    progress : bool, default True
        Progress bars for extraction and fitting.

    Returns
    -------
    FactorizationResult
        The tables (also written to ``config.out`` as parquet + CSV), figures, trees and provenance.

    Raises
    ------
    ValueError
        A language without a control model, a control model with another number of hidden states than E,
        a rank above min(d, d_l), a layer out of range, or no category with two languages to compare.
    """
    from crossling.data.corpus import corpus_checksum
    from crossling.stats import downstream_correlations, property_correlations, trend_tests
    from crossling.trees import cosine_distances

    started = time.time()
    languages = config.analysed_languages()
    categories = config.analysed_categories()
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    config.write(out)
    root = Path(config.stores) if config.stores is not None else out / "stores"
    scores = _read_scores(config.scores) if config.scores is not None else None

    sentences = study_sentences(config.ud, languages, corpus=config.corpus, split=config.split, limit=config.limit,
                                romanize=config.romanize)
    words = {lang: category_words(sentences[lang], categories) for lang in languages}
    stores, identities = _extract(config, sentences, languages, root, progress)
    n_states = identities["experimental"]["n_hidden_states"]
    # Ascending, whatever order the user gave: trends and figures run along the layers.
    layers = sorted(resolve_layers(config.layers, range(n_states)))
    heatmap_layers = (sorted(resolve_layers(config.heatmap_layers, range(n_states), what="heatmap_layers"))
                      if config.heatmap_layers is not None else sorted({layers[0], layers[len(layers) // 2], layers[-1]}))
    variance_layers = (sorted(resolve_layers(config.variance_layers, range(n_states), what="variance_layers"))
                       if config.variance_layers is not None else layers)
    for what, chosen in (("heatmap_layers", heatmap_layers), ("variance_layers", variance_layers)):
        if set(chosen) - set(layers):
            raise ValueError(f"{what} {sorted(set(chosen) - set(layers))} are not among the analysed layers {layers}")
    d = identities["experimental"]["hidden_size"]
    rank = config.rank or min(d, *(identities["control"][lang]["hidden_size"] for lang in languages))

    aligned = {lang: align_words(words[lang], stores["experimental"][lang].meta, stores["control"][lang].meta)
               for lang in languages}
    kept, skipped = _plan(categories, languages, aligned, config.min_words)
    if not kept:
        raise ValueError(f"no category has {config.min_words} or more words in at least 2 languages; "
                         f"see the reasons above (lower --min-words or add data)")
    fitted = [c for c in categories if c in kept]

    signature_frames, average_frames, fit_rows = [], [], []
    distances: dict[tuple[str, int], Any] = {}
    bar = progress_bar(len(layers) * len(fitted), "PARAFAC2", "fit", enabled=progress)
    for layer in layers:
        omegas: dict[str, dict[str, np.ndarray]] = {c: {} for c in fitted}
        for lang in languages:
            mine = [c for c in fitted if lang in kept[c]]
            if mine:
                per_category = cross_covariances(stores["control"][lang], stores["experimental"][lang], aligned[lang],
                                                 layer, categories=mine, chunk_size=config.chunk_size)
                for category, omega in per_category.items():
                    omegas[category][lang] = omega
        for category in fitted:
            langs = kept[category]
            slices = {lang: omegas[category].pop(lang) for lang in langs}  # analysis order, not dict order
            tic = time.time()
            fit = fit_signatures(slices, rank=rank, n_iter_max=config.n_iter_max, tol=config.tol,
                                 n_starts=config.n_starts, random_state=config.seed,
                                 normalize_slices=config.normalize_slices)
            signature_frames.append(signature_table(langs, fit.S, category=category, layer=layer))
            average_frames.append(pd.DataFrame({
                "category": category, "layer": layer, "language": langs, "value": fit.S.mean(axis=1),
                "n_words": [aligned[lang].n_words(category) for lang in langs]}))
            fit_rows.append({"category": category, "layer": layer, "n_languages": len(langs),
                             "languages": ",".join(langs), "rank": rank, "relative_error": fit.relative_error,
                             "n_iter": fit.n_iter, "converged": fit.converged, "spread": fit.spread,
                             "n_starts": config.n_starts, "best_start": fit.best_start,
                             "seconds": round(time.time() - tic, 3)})
            distances[category, layer] = cosine_distances(fit.S, labels=langs)
            bar.update(1)
        del omegas
    bar.close()

    signatures = pd.concat(signature_frames, ignore_index=True)
    average = pd.concat(average_frames, ignore_index=True)
    fits = pd.DataFrame(fit_rows)
    tables: dict[str, pd.DataFrame] = {"signatures": signatures, "average_signatures": average, "fits": fits,
                                       "skipped": skipped}
    skipped_analyses: dict[str, str] = {}
    tables["trends"] = trend_tests(average[["category", "layer", "language", "value"]])
    tables["properties"] = _properties(sentences)
    tables["property_correlations"] = property_correlations(average, tables["properties"])
    variance, reason = _variance_tests(average, languages, variance_layers)
    if variance is None:
        skipped_analyses["variance_tests"] = reason
    else:
        tables["variance_tests"] = variance
    if scores is not None:
        tables["downstream_correlations"] = downstream_correlations(average, scores)
    else:
        skipped_analyses["downstream_correlations"] = "no scores table given (--scores)"
    tables["distances"], tables["trees"], trees, notes = _trees(distances, fitted, languages, layers, config)
    skipped_analyses.update(notes)

    for name, table in tables.items():
        write_table(table, out, name)
    for (category, layer), tree_row in tables["trees"].set_index(["category", "layer"]).iterrows():
        if tree_row["newick"] is not None:
            atomic_write_text(out / "trees" / f"{_slug(category)}_layer_{layer:02d}.nwk", tree_row["newick"] + "\n")
    figures = (_figures(tables, distances, trees, fitted, heatmap_layers, layers, list(config.romanize), out)
               if config.figures else [])

    not_converged = fits.loc[~fits["converged"], ["category", "layer"]].to_numpy().tolist()
    manifest = {
        "study": "joint factorization (Zhao, Ziser and Cohen 2023, Findings of EMNLP)",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "seconds": round(time.time() - started, 3),
        "languages": languages,
        "categories": categories,
        "fitted_categories": {c: kept[c] for c in fitted},
        "layers": layers,
        "models": identities,
        "stores": {lang: {role: {"folder": stores[role][lang].path.name, "key": stores[role][lang].manifest["key"],
                                 "words_without_vector": stores[role][lang].manifest["words_without_vector"],
                                 "truncated_inputs": stores[role][lang].manifest["truncated_inputs"]}
                          for role in ("experimental", "control")} for lang in languages},
        "corpus": {"spec": config.corpus_spec(), "split": config.split, "limit": config.limit,
                   "annotated": config.annotated(),
                   "word_source": "UD words" if config.annotated() else f"whitespace words; only {ALL_WORDS!r} analysed",
                   "romanized": list(config.romanize),
                   "checksums": {lang: corpus_checksum(sentences[lang]) for lang in languages},
                   "sentences": {lang: len(sentences[lang]) for lang in languages},
                   "words": {lang: sum(len(s.words) for s in sentences[lang]) for lang in languages},
                   "aligned_words": {lang: int(aligned[lang].control_rows.size) for lang in languages}},
        "min_words": config.min_words,
        "skipped": skipped.to_dict(orient="records"),
        "skipped_analyses": skipped_analyses,
        "parafac2": {"rank": rank, "init": "svd", "nonnegative": True, "n_iter_max": config.n_iter_max,
                     "tol": config.tol, "n_starts": config.n_starts, "random_state": config.seed,
                     "normalize_slices": config.normalize_slices, "n_fits": len(fits),
                     "n_converged": int(fits["converged"].sum()),
                     "max_relative_error": float(fits["relative_error"].max()), "not_converged": not_converged},
        "seeds": {"parafac2": config.seed, "tree_permutations": config.seed},
        "versions": _versions(),
        "tables": sorted(tables),
        "figures": [str(p.relative_to(out)) for p in figures],
    }
    atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=1, ensure_ascii=False, default=str))
    source = (f"UD {config.split} treebanks, per category" if config.ud is not None
              else f"{corpus_name(config.corpus_spec())}, all words")
    _report_section(out, figures, tables, languages, source)
    return FactorizationResult(
        signatures=signatures, average_signatures=average, fits=fits, skipped=skipped, trends=tables["trends"],
        properties=tables["properties"], property_correlations=tables["property_correlations"],
        distances=tables["distances"], trees=tables["trees"], variance_tests=tables.get("variance_tests"),
        downstream_correlations=tables.get("downstream_correlations"), languages=tuple(languages),
        categories=tuple(fitted), layers=tuple(layers), stores=stores, words=words,
        skipped_analyses=skipped_analyses, figures=figures, manifest=manifest, out=out, upgma_trees=trees)

"""The study's input matrices: per language and category, the cross-covariance of two models' word vectors.

For a language l the same words go through the multilingual experimental model E (d dims) and the language's
monolingual control model C_l (d_l dims). With Z_l (m x d_l) and Y_l (m x d) the vectors of one hidden state of
the m words of a category,

    Omega_l = (Z_l - mean Z_l)^T (Y_l - mean Y_l) / m          (d_l x d, ``Moments(d_l, d).cov_xy()``)

is the slice the joint factorization fits (Zhao, Ziser and Cohen 2023). Here:

- :func:`category_words`: the words of a language that carry each UniMorph category (and :data:`ALL_WORDS`,
  the part-of-speech-bearing words), as syntactic words or as the surface tokens that hold them
  (:func:`surface_sentence`: a multiword token such as Spanish "del" = "de" + "el" is one token);
- :func:`align_words`: the rows of the two models' word-level stores that hold the same word (a word one model
  lost to truncation is left out of both sides);
- :func:`cross_covariances`: Omega_l of every category at once, in one streaming pass over the two layers'
  rows, accumulated in float64 and merged chunk by chunk (:class:`crossling.Moments`).
"""

from __future__ import annotations

import unicodedata
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import pandas as pd

from crossling.data.records import Sentence, Word
from crossling.data.unimorph import UNIMORPH_CATEGORIES, CategoryIndex, words_by_category
from crossling.exceptions import CategorySkippedWarning
from crossling.moments import Moments

__all__ = [
    "ALL_WORDS",
    "CATEGORIES",
    "NOT_PART_OF_SPEECH",
    "AlignedWords",
    "align_words",
    "category_words",
    "cross_covariances",
    "surface_sentence",
]

ALL_WORDS = "All words"
"""Pseudo-category of the words of a language that bear a part of speech (see :func:`category_words`)."""
CATEGORIES: tuple[str, ...] = (*UNIMORPH_CATEGORIES, ALL_WORDS)
"""The study's categories: the 17 UniMorph categories and :data:`ALL_WORDS`."""
NOT_PART_OF_SPEECH: tuple[str, ...] = ("PUNCT", "SYM", "X")
"""UPOS tags that :data:`ALL_WORDS` leaves out by default: punctuation, symbols and "other" (10-21% of UD tokens)."""

AllWords = Literal["pos", "every"]
Multiword = Literal["words", "surface"]


def surface_sentence(sentence: Sentence) -> tuple[Sentence, np.ndarray]:
    """The sentence as written: each multiword token one word, with the map from syntactic words to tokens.

    Parameters
    ----------
    sentence : Sentence
        With its ``multiword`` ranges (CoNLL-U ``3-4 del``).

    Returns
    -------
    surface : Sentence
        The same sentence whose ``words`` are the surface tokens, numbered 1..T: a multiword token becomes one
        word with its surface form (lemma, tags and features ``_``: they belong to its syntactic words), other
        words are kept; no multiword ranges. A sentence without them is returned as it is.
    token_of : ndarray of int64, shape (len(sentence.words),)
        0-based index of the token that holds each syntactic word.
    """
    n = len(sentence.words)
    if not sentence.multiword:
        return sentence, np.arange(n, dtype=np.int64)
    starts = {token.first: token for token in sentence.multiword}
    tokens: list[Word] = []
    token_of = np.empty(n, dtype=np.int64)
    i = 0
    while i < n:
        token = starts.get(i + 1)
        if token is None:
            word = sentence.words[i]
            tokens.append(replace(word, id=len(tokens) + 1))
            token_of[i] = len(tokens) - 1
            i += 1
        else:
            tokens.append(Word(len(tokens) + 1, token.form, "_", "_", "_", {}, None, "_", "_", token.misc))
            token_of[token.first - 1:token.last] = len(tokens) - 1
            i = token.last
    return replace(sentence, words=tokens, multiword=[]), token_of


def _is_punctuation(form: str) -> bool:
    """Whether a form is written with punctuation and symbol characters only (Unicode classes P and S)."""
    return all(unicodedata.category(ch)[0] in "PS" for ch in form)


def _all_words(sentences: Sequence[Sentence], all_words: AllWords) -> CategoryIndex:
    sentence_index, word_index, values = [], [], []
    for i, sentence in enumerate(sentences):
        for j, word in enumerate(sentence.words):
            if all_words == "pos" and (word.upos in NOT_PART_OF_SPEECH
                                       or word.upos == "_" and _is_punctuation(word.form)):
                continue
            sentence_index.append(i)
            word_index.append(j)
            values.append(word.upos)
    return CategoryIndex(ALL_WORDS, np.array(sentence_index, dtype=np.int64), np.array(word_index, dtype=np.int64),
                         np.array(values, dtype=str))


def _to_tokens(index: CategoryIndex, token_of: Sequence[np.ndarray]) -> CategoryIndex:
    """The same words as indices of the surface tokens that hold them; a token counts once (its first word)."""
    offsets = np.concatenate([[0], np.cumsum([len(t) for t in token_of])]).astype(np.int64)
    flat = np.concatenate(token_of) if token_of else np.zeros(0, np.int64)
    tokens = flat[offsets[index.sentence_index] + index.word_index]
    width = 1 + int(flat.max(initial=0))
    _, first = np.unique(index.sentence_index * width + tokens, return_index=True)
    return CategoryIndex(index.category, index.sentence_index[first], tokens[first], index.values[first])


def category_words(
    sentences: Sequence[Sentence],
    categories: Sequence[str],
    *,
    all_words: AllWords = "pos",
    multiword: Multiword = "words",
) -> dict[str, CategoryIndex]:
    """The words of one language that carry each category (no minimum count).

    Parameters
    ----------
    sentences : sequence of Sentence
        One language's corpus (syntactic words, with their multiword ranges), in the order it is extracted.
    categories : sequence of str
        UniMorph categories (:data:`~crossling.data.unimorph.UNIMORPH_CATEGORIES`) and/or :data:`ALL_WORDS`.
    all_words : {"pos", "every"}, default "pos"
        What :data:`ALL_WORDS` holds. "pos": the part-of-speech-bearing words, as Zhao, Ziser and Cohen
        (2023): every word but those tagged PUNCT, SYM or X (:data:`NOT_PART_OF_SPEECH`); a word without a
        UPOS tag (``_``, raw text) is left out when it is written with punctuation and symbol characters
        only. "every": every word (the earlier reading).
    multiword : {"words", "surface"}, default "words"
        "words": indices of syntactic words (Spanish "del" is "de" and "el"). "surface": indices of the surface
        tokens of :func:`surface_sentence` (what the models are then fed); a token carries a category when one
        of its words does, and counts once (with the value of its first such word).

    Returns
    -------
    dict of str to CategoryIndex
        Every requested category that at least one word carries, in the order of ``categories``;
        :data:`ALL_WORDS`' ``values`` are the UPOS tags. ``word_index`` is into ``Sentence.words`` or, for
        "surface", into the surface sentence's words.

    Raises
    ------
    ValueError
        For another ``all_words`` or ``multiword``.
    """
    if all_words not in ("pos", "every"):
        raise ValueError(f"all_words must be 'pos' or 'every', got {all_words!r}")
    if multiword not in ("words", "surface"):
        raise ValueError(f"multiword must be 'words' or 'surface', got {multiword!r}")
    with warnings.catch_warnings():
        # Counts are checked against min_words later, after alignment, where the skip is recorded.
        warnings.simplefilter("ignore", CategorySkippedWarning)
        found = words_by_category(sentences, min_words=1).categories
    out: dict[str, CategoryIndex] = {}
    for category in categories:
        if category == ALL_WORDS:
            out[category] = _all_words(sentences, all_words)
        elif category in found:
            out[category] = found[category]
    if multiword == "surface":
        token_of = [surface_sentence(s)[1] for s in sentences]
        out = {category: _to_tokens(index, token_of) for category, index in out.items()}
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
        """Aligned words of a category.

        Parameters
        ----------
        category : str

        Returns
        -------
        int
            0 when no word carries the category.
        """
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

    Raises
    ------
    ValueError
        When a store holds sentence vectors (``word_index`` below 0) instead of word vectors.
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
    control: np.ndarray,
    experimental: np.ndarray,
    aligned: AlignedWords,
    *,
    categories: Sequence[str] | None = None,
    chunk_size: int = 4096,
) -> dict[str, np.ndarray]:
    """Omega = Z^T Y / m (centred) per category, in one streaming pass over one hidden state of both models.

    Parameters
    ----------
    control : array_like, shape (n_control_rows, d_l)
        C_l's word vectors Z at one hidden state, e.g. the memory-mapped ``VectorStore.vectors(layer)``.
    experimental : array_like, shape (n_experimental_rows, d)
        E's word vectors Y of the same sentences at the same hidden state.
    aligned : AlignedWords
        From :func:`align_words` on the two stores' metadata.
    categories : sequence of str, optional
        Default: every category of ``aligned``.
    chunk_size : int, default 4096
        Aligned words read at a time (rows of a memory-mapped array are only read then).

    Returns
    -------
    dict of str to ndarray, shape (d_l, d), float64
        Omega = (Z - mean Z)^T (Y - mean Y) / m over the category's m aligned words
        (:meth:`crossling.Moments.cov_xy`, accumulated in float64 and merged chunk by chunk).

    Raises
    ------
    ValueError
        For a category without aligned words, or ``chunk_size`` below 1.
    """
    categories = list(aligned.positions) if categories is None else list(categories)
    empty = [c for c in categories if aligned.n_words(c) == 0]
    if empty:
        raise ValueError(f"no aligned words in categories {empty}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")
    moments = {c: Moments(control.shape[1], experimental.shape[1]) for c in categories}
    n = aligned.control_rows.size
    for start in range(0, n, chunk_size):
        stop = min(start + chunk_size, n)
        z = control[aligned.control_rows[start:stop]]
        y = experimental[aligned.experimental_rows[start:stop]]
        for category in categories:
            pos = aligned.positions[category]
            lo, hi = np.searchsorted(pos, (start, stop))
            if hi > lo:
                local = pos[lo:hi] - start
                moments[category].update(z[local], y[local])
    return {c: m.cov_xy() for c, m in moments.items()}

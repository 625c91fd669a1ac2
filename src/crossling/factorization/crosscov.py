"""The study's input matrices: per language and category, the cross-covariance of two models' word vectors.

For a language l the same words go through the multilingual experimental model E (d dims) and the language's
monolingual control model C_l (d_l dims). With Z_l (m x d_l) and Y_l (m x d) the vectors of one hidden state of
the m words of a category,

    Omega_l = (Z_l - mean Z_l)^T (Y_l - mean Y_l) / m          (d_l x d, ``Moments(d_l, d).cov_xy()``)

is the slice the joint factorization fits (Zhao, Ziser and Cohen 2023). Here:

- :func:`category_words`: the words of a language that carry each UniMorph category (and :data:`ALL_WORDS`);
- :func:`align_words`: the rows of the two models' word-level stores that hold the same word (a word one model
  lost to truncation is left out of both sides);
- :func:`cross_covariances`: Omega_l of every category at once, in one streaming pass over the two layers'
  rows, accumulated in float64 and merged chunk by chunk (:class:`crossling.Moments`).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from crossling.data.records import Sentence
from crossling.data.unimorph import UNIMORPH_CATEGORIES, CategoryIndex, words_by_category
from crossling.exceptions import CategorySkippedWarning
from crossling.moments import Moments

__all__ = ["ALL_WORDS", "CATEGORIES", "AlignedWords", "align_words", "category_words", "cross_covariances"]

ALL_WORDS = "All words"
"""Pseudo-category of every word of a language, whatever its features."""
CATEGORIES: tuple[str, ...] = (*UNIMORPH_CATEGORIES, ALL_WORDS)
"""The study's categories: the 17 UniMorph categories and :data:`ALL_WORDS`."""


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

"""Language metadata (the study's table and groups) and properties measured on a corpus.

The table (``languages.tsv``, package data) holds the 33 languages of Zhao, Ziser and Cohen (2023), Table 2,
with the family and genus that paper took from WALS (Dryer and Haspelmath, eds.). The groups are the ones of
its variance test. The properties are the language-level covariates it relates to the factorization:
the number of distinct characters covering 99.9% of character occurrences, the type-token ratio and the
data size.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from io import StringIO
from typing import Literal, NamedTuple

import numpy as np
import pandas as pd

from crossling.data.records import Sentence
from crossling.exceptions import DataLossWarning, DegenerateInputWarning

__all__ = [
    "GERMANIC",
    "ROMANCE",
    "SLAVIC",
    "RELATED_SETS",
    "DIVERSE_SET",
    "LOW_RESOURCE_SET",
    "DataSize",
    "language_table",
    "char_counts",
    "char_coverage",
    "count_characters",
    "coverage_size",
    "type_token_ratio",
    "data_size",
    "language_properties",
]

GERMANIC: tuple[str, ...] = ("da", "nl", "en", "de", "sv")
ROMANCE: tuple[str, ...] = ("ca", "fr", "gl", "it", "pt", "ro", "es")
SLAVIC: tuple[str, ...] = ("bg", "hr", "cs", "pl", "ru", "sk", "sl", "uk")
RELATED_SETS: Mapping[str, tuple[str, ...]] = {"Germanic": GERMANIC, "Romance": ROMANCE, "Slavic": SLAVIC}
"""Related sets of the variance test: languages of one family and genus."""
DIVERSE_SET: tuple[str, ...] = ("ar", "zh", "en", "fi", "el", "hi", "id", "ru", "es", "tr")
"""Diverse set of the variance test: ten genera and diverse scripts, after Fujinuma et al. (2022)."""
LOW_RESOURCE_SET: tuple[str, ...] = ("en", "fr", "ko", "tr", "vi")
"""Languages whose training data the study cuts to 10% to simulate low resources."""

_TABLE_COLUMNS = ["language", "iso639_1", "family", "genus"]


class DataSize(NamedTuple):
    """Size of a corpus: sentences, tokens (syntactic words) and non-whitespace characters.

    Attributes
    ----------
    sentences : int
        Number of sentences.
    tokens : int
        Number of syntactic words (``len(sentence.words)`` summed).
    characters : int
        Number of non-whitespace character occurrences, as counted by :func:`char_counts`.
    """

    sentences: int
    tokens: int
    characters: int


def language_table() -> pd.DataFrame:
    """The study's languages: columns ``language`` (English name), ``iso639_1``, ``family``, ``genus`` (WALS).

    Returns
    -------
    DataFrame
        33 rows, one per language of Zhao, Ziser and Cohen (2023), Table 2, in the order of the package's
        ``languages.tsv``; the four columns above, all strings. A fresh copy on every call, so callers may
        modify it.
    """
    return pd.read_csv(StringIO(_table_text()), sep="\t", dtype=str, keep_default_na=False)


def _table_text() -> str:
    text = resources.files("crossling.data").joinpath("languages.tsv").read_text(encoding="utf-8")
    header = text.split("\n", 1)[0].split("\t")
    if header != _TABLE_COLUMNS:
        raise RuntimeError(f"crossling/data/languages.tsv has columns {header}, expected {_TABLE_COLUMNS}")
    return text


def _sentence_text(sentence: Sentence) -> str:
    return sentence.text if sentence.text is not None else " ".join(sentence.forms)


def count_characters(texts: Iterable[str]) -> Counter[str]:
    """Occurrences of each non-whitespace character in raw texts.

    Whitespace (``str.isspace``) is not counted: it separates words rather than writing them, and its amount
    depends on tokenisation conventions.

    Parameters
    ----------
    texts : iterable of str
        Read once (e.g. the pre-training texts of a language, repeats included).

    Returns
    -------
    Counter of str to int
        Character -> number of occurrences; empty for texts without characters.
    """
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(text)
    for char in [c for c in counts if c.isspace()]:
        del counts[char]
    return counts


def char_counts(sentences: Iterable[Sentence]) -> Counter[str]:
    """Occurrences of each non-whitespace character in the sentences (:func:`count_characters`).

    The characters of a sentence are those of its ``text`` (the raw sentence, ``# text`` in CoNLL-U), or of
    its word forms joined by spaces when it has no text.

    Parameters
    ----------
    sentences : iterable of Sentence
        The corpus; read once.

    Returns
    -------
    Counter of str to int
        Character -> number of occurrences; empty for a corpus without characters.
    """
    return count_characters(_sentence_text(sentence) for sentence in sentences)


def char_coverage(sentences: Iterable[Sentence], *, coverage: float = 0.999) -> int:
    """Number of distinct characters needed to cover ``coverage`` of all character occurrences.

    With the character counts c_1 >= c_2 >= ... (:func:`char_counts`: whitespace excluded) and total
    T = sum c_i, the result is the smallest k with c_1 + ... + c_k >= coverage * T. Ties in the ordering do not
    change k. Zhao, Ziser and Cohen (2023) use coverage = 0.999 as a measure of script size.

    Parameters
    ----------
    sentences : iterable of Sentence
        The corpus; characters as in :func:`char_counts`.
    coverage : float, default 0.999
        Fraction in (0, 1] of all character occurrences to cover.

    Returns
    -------
    int
        The number k of distinct characters (at least 1).

    Raises
    ------
    ValueError
        If ``coverage`` is not in (0, 1] or the sentences contain no character.
    """
    return coverage_size(char_counts(sentences), coverage=coverage)


def coverage_size(counts: Mapping[str, int], *, coverage: float = 0.999) -> int:
    """Number of distinct characters needed to cover ``coverage`` of the occurrences counted in ``counts``.

    Parameters
    ----------
    counts : mapping of str to int
        Character -> occurrences (:func:`count_characters`, :func:`char_counts`).
    coverage : float, default 0.999
        Fraction in (0, 1].

    Returns
    -------
    int
        The smallest k with c_1 + ... + c_k >= coverage * T for the counts sorted c_1 >= c_2 >= ... and their
        total T (see :func:`char_coverage`).

    Raises
    ------
    ValueError
        If ``coverage`` is not in (0, 1] or there is no character.
    """
    if not 0 < coverage <= 1:
        raise ValueError(f"coverage must be in (0, 1], got {coverage}")
    if not counts:
        raise ValueError("no characters: cannot compute character coverage of an empty corpus")
    ordered = np.sort(np.fromiter(counts.values(), dtype=np.int64, count=len(counts)))[::-1]
    cumulative = np.cumsum(ordered)
    return int(np.searchsorted(cumulative, coverage * cumulative[-1], side="left")) + 1


def type_token_ratio(sentences: Iterable[Sentence], *, unit: Literal["lemmas", "forms"] = "lemmas") -> float:
    """Distinct lemmas (or forms) divided by tokens (syntactic words).

    With ``unit="lemmas"`` the ratio is over the words that have a lemma: a lemma ``_`` means "not
    annotated" unless the form is ``_`` too; such words are left out of both counts and a warning gives their
    number (Korean PUD lemmatises about half of its words). With ``unit="forms"`` every word counts, by its
    form (for text without lemmas, e.g. whitespace words). Compared as written (case-sensitive).

    Parameters
    ----------
    sentences : iterable of Sentence
        The corpus (its words' ``lemma`` and ``form``).
    unit : {"lemmas", "forms"}, default "lemmas"
        What a type is.

    Returns
    -------
    float
        The ratio, in (0, 1]; NaN, with a warning, when no word has a lemma (``"lemmas"``) or there is no
        word.

    Raises
    ------
    ValueError
        For another ``unit``.

    Warns
    -----
    DataLossWarning
        When some words have no lemma and are left out (the message gives how many).
    DegenerateInputWarning
        When no word counts (the ratio is NaN).
    """
    if unit not in ("lemmas", "forms"):
        raise ValueError(f"unit must be 'lemmas' or 'forms', got {unit!r}")
    ratio, counted, left_out = _type_stats(sentences, unit)
    if left_out:
        warnings.warn(f"{left_out} of {counted + left_out} words have no lemma ('_') and are left out of the "
                      "type-token ratio", DataLossWarning, stacklevel=2)
    if not counted:
        warnings.warn(f"no word has a {unit[:-1]}: type-token ratio is NaN", DegenerateInputWarning, stacklevel=2)
    return ratio


def _type_stats(sentences: Iterable[Sentence], unit: str) -> tuple[float, int, int]:
    """(type-token ratio, words counted, words left out for lack of a lemma); NaN when none counts."""
    types: set[str] = set()
    counted = left_out = 0
    for sentence in sentences:
        for word in sentence.words:
            if unit == "lemmas" and word.lemma == "_" and word.form != "_":
                left_out += 1
            else:
                counted += 1
                types.add(word.lemma if unit == "lemmas" else word.form)
    return (len(types) / counted if counted else math.nan), counted, left_out


def data_size(sentences: Iterable[Sentence]) -> DataSize:
    """Number of sentences, tokens (syntactic words) and non-whitespace characters (as :func:`char_counts`).

    Parameters
    ----------
    sentences : iterable of Sentence
        The corpus.

    Returns
    -------
    DataSize
        The three counts; all 0 for an empty corpus.
    """
    sentences = list(sentences)
    characters = sum(char_counts(sentences).values())
    return DataSize(len(sentences), sum(len(s.words) for s in sentences), characters)


def language_properties(
    sentences_by_lang: Mapping[str, Sequence[Sentence]], *, coverage: float = 0.999
) -> pd.DataFrame:
    """One row of properties per language.

    Parameters
    ----------
    sentences_by_lang : mapping of str to sequence of Sentence
        Language code -> its corpus (e.g. a treebank, or one side of PUD).
    coverage : float, default 0.999
        Fraction in (0, 1] of character occurrences the ``char_coverage`` column covers (:func:`char_coverage`).

    Returns
    -------
    DataFrame
        Columns ``iso639_1``, ``language``, ``family``, ``genus`` (from :func:`language_table`, empty strings
        for a code not in it), ``sentences``, ``tokens``, ``characters``, ``char_coverage`` (the k of
        :func:`char_coverage`), ``coverage`` (the fraction used), ``type_token_ratio`` (:func:`type_token_ratio`
        over lemmas; over forms for a corpus where no word has a lemma), ``type_token_unit`` ("lemmas" or
        "forms": which), ``lemmatised_tokens`` (the words with a lemma). Rows in the order of
        ``sentences_by_lang``.

    Raises
    ------
    ValueError
        If ``coverage`` is not in (0, 1], or a language's sentences contain no character.

    Warns
    -----
    DataLossWarning
        As :func:`type_token_ratio`, for each language where some (not all) words lack a lemma.
    """
    if not 0 < coverage <= 1:
        raise ValueError(f"coverage must be in (0, 1], got {coverage}")
    meta = language_table().set_index("iso639_1")
    rows = []
    for lang, sentences in sentences_by_lang.items():
        counts = char_counts(sentences)
        if not counts:
            raise ValueError(f"language {lang!r}: no characters, cannot compute its properties")
        ratio, with_lemma, left_out = _type_stats(sentences, "lemmas")
        unit = "lemmas"
        if not with_lemma:  # unannotated text: the forms are what there is
            (ratio, _, _), unit = _type_stats(sentences, "forms"), "forms"
        elif left_out:
            warnings.warn(f"{lang}: {left_out} of {with_lemma + left_out} words have no lemma ('_') and are left "
                          "out of the type-token ratio", DataLossWarning, stacklevel=2)
        known = lang in meta.index
        rows.append(
            {
                "iso639_1": lang,
                **{col: meta.at[lang, col] if known else "" for col in ("language", "family", "genus")},
                "sentences": len(sentences),
                "tokens": sum(len(s.words) for s in sentences),
                "characters": sum(counts.values()),
                "char_coverage": coverage_size(counts, coverage=coverage),
                "coverage": coverage,
                "type_token_ratio": ratio,
                "type_token_unit": unit,
                "lemmatised_tokens": with_lemma,
            }
        )
    return pd.DataFrame(rows)

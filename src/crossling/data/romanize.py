"""Romanisation of Chinese and Japanese words, word by word (the study's script ablation).

Zhao, Ziser and Cohen (2023) ask how much of a language's signature is due to its script by romanising
Chinese (pinyin) and Japanese (Hepburn) and running the factorization again. Each word is converted on
its own, so the i-th output word is the romanisation of the i-th input word and UD word alignment (and
every word-level label) is kept.

Pre-training and analysis must see the same text (:data:`CONVENTION`): a word's syllables are joined without
a separator and words are separated by one space. The analysis romanises UD words (:func:`romanize_words`)
and feeds them word by word, which a SentencePiece tokenizer reads as space-separated words;
:func:`romanize_text`, for pre-training text, segments it into words first
(:func:`crossling.data.segment.segment_words`), so the models learn the same space-separated words. (Joined
without separators, as a sentence without spaces, the pre-training text never had a word boundary inside a
sentence, and the analysis's words fed one by one each started with a bare "▁" token the model had not seen.)
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Callable, Sequence

from crossling.data.segment import segment_words

__all__ = ["CONVENTION", "SUPPORTED", "romanize_text", "romanize_words"]

SUPPORTED = ("ja", "zh")
CONVENTION: dict[str, str] = {
    "zh": "pinyin without tones (pypinyin.lazy_pinyin)",
    "ja": "modified Hepburn (pykakasi)",
    "within a word": "syllables joined without a separator",
    "between words": "one space (words from UD, or from the segmenter of crossling.data.segment)",
}
"""How romanised text is written, on both sides (pre-training and analysis); recorded in manifests."""


def _chinese() -> Callable[[str], str]:
    try:
        from pypinyin import lazy_pinyin
    except ImportError as error:  # an optional dependency of the ablation only
        raise ImportError("romanising Chinese needs pypinyin (pip install 'pypinyin>=0.50,<1')") from error
    # lazy_pinyin: toneless pinyin per character; characters without a reading (Latin, digits,
    # punctuation) pass through unchanged.
    return lambda word: "".join(lazy_pinyin(word))


@lru_cache(maxsize=1)
def _kakasi() -> Any:
    try:
        import pykakasi
    except ImportError as error:
        raise ImportError("romanising Japanese needs pykakasi (pip install 'pykakasi>=2.2,<3')") from error
    return pykakasi.kakasi()  # loading its dictionaries is slow: once per process


def _japanese() -> Callable[[str], str]:
    kakasi = _kakasi()
    return lambda word: "".join(item["hepburn"] for item in kakasi.convert(word))


_CONVERTERS: dict[str, Callable[[], Callable[[str], str]]] = {"zh": _chinese, "ja": _japanese}


def romanize_words(words: Sequence[str], lang: str) -> list[str]:
    """Romanise each word of a sentence on its own.

    Parameters
    ----------
    words : sequence of str
        The words of one sentence (e.g. ``Sentence.forms``).
    lang : {"zh", "ja"}
        ``"zh"``: pinyin without tones (``pypinyin.lazy_pinyin``), syllables of a word joined without a
        separator (中国人 -> zhongguoren). ``"ja"``: modified Hepburn (``pykakasi``), segments of a word
        joined without a separator (勉強 -> benkyou; long vowels are spelled out, not marked).

    Returns
    -------
    list of str
        Same length as ``words``; characters with no romanisation (Latin letters, digits, punctuation)
        are kept as they are. A word whose romanisation would be empty keeps its original form, so no
        word disappears from the alignment.

    Raises
    ------
    ValueError
        For a language other than Chinese or Japanese, or a word that is not a non-empty string.
    """
    if lang not in _CONVERTERS:
        raise ValueError(f"romanisation is defined for {list(SUPPORTED)} only, not {lang!r}")
    if isinstance(words, str):
        raise ValueError("words must be a sequence of words, not one string (split the sentence first)")
    convert = _CONVERTERS[lang]()
    out = []
    for i, word in enumerate(words):
        if not isinstance(word, str) or not word:
            raise ValueError(f"word {i} is {word!r}: every word must be a non-empty string")
        out.append(convert(word) or word)
    return out


def romanize_text(text: str, lang: str) -> str:
    """Romanise raw text the way the analysis romanises words: segmented, word by word, words space-separated.

    Parameters
    ----------
    text : str
        A sentence or paragraph (Chinese or Japanese text has no spaces between words).
    lang : {"zh", "ja"}

    Returns
    -------
    str
        ``" ".join(romanize_words(segment_words(text, lang), lang))``: the words of
        :func:`crossling.data.segment.segment_words`, each romanised on its own (:data:`CONVENTION`); ``""``
        for blank text.

    Raises
    ------
    ValueError
        For a language other than Chinese or Japanese.
    """
    if lang not in _CONVERTERS:
        raise ValueError(f"romanisation is defined for {list(SUPPORTED)} only, not {lang!r}")
    return " ".join(romanize_words(segment_words(text, lang), lang))

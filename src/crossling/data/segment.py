"""Words of raw text: whitespace for languages written with spaces, a segmenter for Chinese and Japanese.

Every study that counts words of unannotated text (the factorization's ``text:`` and ``lohelp:`` corpora, the
concept study's LibreOffice Help word lists) gets them from :func:`segment_words`, through
:func:`crossling.data.parallel.whitespace_sentence`. Splitting at whitespace is right for most languages, but a
Chinese or Japanese paragraph has no spaces between words: split at whitespace, one "word" is a whole clause
(the LibreOffice Help demo counted 1,997 Japanese and 1,905 Chinese "words" against 10,069 English ones). So:

- ``zh``: jieba (precise mode with its HMM for unknown words; Sun Junyi, https://github.com/fxsjy/jieba);
- ``ja``: MeCab through fugashi with the UniDic-lite dictionary (McCann 2020, "fugashi, a Tool for Tokenizing
  Japanese in Python"): UniDic short units, the word unit of the UD Japanese treebanks (GSD, PUD);
- every other language: ``text.split()``. For the languages of :data:`UNSEGMENTED` (Thai, Lao, Khmer,
  Burmese, Tibetan, Dzongkha), also written without spaces, there is no segmenter here and whitespace "words"
  are phrases: a study that counts words of their raw text refuses them with :func:`require_segmentation`
  (reading their text, e.g. for pre-training or sentence vectors, is fine).

The segmenters are loaded once per process, on first use.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Callable, Iterable

from crossling.exceptions import ConfigError

__all__ = ["SEGMENTED", "UNSEGMENTED", "require_segmentation", "segment_words", "segmenter_record"]

SEGMENTED: tuple[str, ...] = ("ja", "zh")
"""Languages written without spaces whose text :func:`segment_words` segments into words."""
UNSEGMENTED: tuple[str, ...] = ("bo", "dz", "km", "lo", "my", "th")
"""Languages written without spaces between words for which there is no segmenter here."""

_PACKAGES = {"zh": ("jieba",), "ja": ("fugashi", "unidic-lite")}
_METHODS = {"zh": "jieba.lcut (precise mode, HMM for unknown words)",
            "ja": "MeCab via fugashi with UniDic-lite (UniDic short units)"}


@lru_cache(maxsize=1)
def _jieba() -> Callable[[str], list[str]]:
    import logging

    try:
        import jieba
    except ImportError as error:
        raise ImportError("segmenting Chinese needs jieba (pip install 'jieba>=0.42.1,<1')") from error
    jieba.setLogLevel(logging.WARNING)  # it logs the building of its prefix dictionary at INFO
    return jieba.lcut


@lru_cache(maxsize=1)
def _mecab() -> Any:
    try:
        import fugashi
    except ImportError as error:
        raise ImportError("segmenting Japanese needs fugashi and unidic-lite "
                          "(pip install 'fugashi>=1.3,<2' 'unidic-lite>=1.0.8,<2')") from error
    return fugashi.Tagger()  # finds unidic-lite's dictionary; loading it is slow: once per process


def _words_zh(text: str) -> list[str]:
    return _jieba()(text)


def _words_ja(text: str) -> list[str]:
    return [word.surface for word in _mecab()(text)]


_SEGMENTERS: dict[str, Callable[[str], list[str]]] = {"zh": _words_zh, "ja": _words_ja}


def segment_words(text: str, lang: str) -> list[str]:
    """The words of a text: segmented for Chinese and Japanese, split at whitespace otherwise.

    Parameters
    ----------
    text : str
        Raw text (a sentence or paragraph).
    lang : str
        Its language code (ISO 639-1).

    Returns
    -------
    list of str
        The words in order, none empty or containing whitespace; ``[]`` for blank text. Runs of whitespace
        separate words in every language (also between Latin words inside Chinese or Japanese text).

    Raises
    ------
    ImportError
        When the segmenter of ``zh`` or ``ja`` is not installed (the message says what to install).

    Examples
    --------
    >>> segment_words("Hello  world", "en")
    ['Hello', 'world']
    """
    segmenter = _SEGMENTERS.get(lang)
    if segmenter is None:
        return text.split()
    return [word for chunk in text.split() for word in segmenter(chunk) if not word.isspace()]


def require_segmentation(languages: Iterable[str], *, what: str) -> None:
    """Refuse the languages whose raw text cannot be split into words here (:data:`UNSEGMENTED`).

    Parameters
    ----------
    languages : iterable of str
    what : str
        The study or corpus that needs words, for the message (e.g. "the factorization of text:corpus").

    Raises
    ------
    ConfigError
        Naming the languages, when any is in :data:`UNSEGMENTED`.
    """
    refused = [lang for lang in languages if lang in UNSEGMENTED]
    if refused:
        raise ConfigError(f"{what} counts words, but {refused} are written without spaces between words and "
                          f"crossling has no segmenter for them (only for {', '.join(SEGMENTED)}): use a UD corpus "
                          "(ud:, pud:) for them or leave them out")


def segmenter_record(lang: str) -> dict[str, Any]:
    """What splits a language's raw text into words, for a manifest.

    Parameters
    ----------
    lang : str

    Returns
    -------
    dict
        ``method`` ("whitespace" or the segmenter) and, for a segmented language, ``versions`` (package ->
        installed version, None when not installed).
    """
    if lang not in _SEGMENTERS:
        return {"method": "whitespace (str.split)"}

    def installed(package: str) -> str | None:
        try:
            return version(package)
        except PackageNotFoundError:
            return None

    return {"method": _METHODS[lang], "versions": {p: installed(p) for p in _PACKAGES[lang]}}

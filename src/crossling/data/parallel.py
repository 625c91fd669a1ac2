"""Readers of sentence-aligned parallel text: one file per language, or one TSV with a column per language.

Segments are aligned by position (line k of every file is one translation unit), so the readers insist that
every language has the same number of segments. Words come from :func:`crossling.data.segment.segment_words`:
``str.split()`` with no argument (any run of Unicode whitespace separates words and leading/trailing whitespace
is ignored), and for Chinese and Japanese, written without spaces, a word segmenter. An empty line is kept as a
sentence without words (dropping it would shift the alignment).
"""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path

from crossling.data.conllu import open_text
from crossling.data.records import Sentence, Word
from crossling.data.segment import segment_words
from crossling.exceptions import AlignmentError

__all__ = ["read_parallel", "read_parallel_tsv", "whitespace_sentence"]


def whitespace_sentence(text: str, *, lang: str, sent_id: str, source: str = "", line: int = 0) -> Sentence:
    """A :class:`Sentence` from raw text: its words numbered from 1, other columns ``_``.

    The words are :func:`crossling.data.segment.segment_words` of the text: whitespace tokens, or segmented
    words for Chinese and Japanese (so a word count of such text counts words, not clauses).

    Parameters
    ----------
    text : str
        The raw segment; kept as the sentence's ``text``.
    lang : str
        Language code stored in the sentence; it chooses the segmentation.
    sent_id : str
        Identifier of the sentence (parallel readers use the line number).
    source : str, default ""
        Where the text came from (a file name), for provenance and error messages.
    line : int, default 0
        1-based line of the text in ``source``; 0 when not from a file.

    Returns
    -------
    Sentence
        ``words`` with IDs 1..n, no lemma, tags or features (``"_"``, ``{}``) and no head; no comments, no
        multiword tokens. An empty or all-whitespace ``text`` gives a sentence without words.

    """
    words = [Word(i, form, "_", "_", "_", {}, None, "_", "_", "_")
             for i, form in enumerate(segment_words(text, lang), 1)]
    return Sentence(lang, sent_id, words, text, {}, [], source, line)


def read_parallel(paths: Mapping[str, str | os.PathLike]) -> dict[str, list[Sentence]]:
    """Read one plain-text file per language, one segment per line, aligned by line number.

    Parameters
    ----------
    paths : mapping of str to path-like
        Language code -> file (UTF-8, optional BOM; gzip-compressed files are detected and read too).

    Returns
    -------
    dict of str to list of Sentence
        In the order of ``paths``. Sentence ``k`` of every language comes from line ``k`` (1-based), its
        ``sent_id`` is ``str(k)``, ``text`` the line without its line end, ``words`` its whitespace tokens.

    Raises
    ------
    AlignmentError
        If the files do not all have the same number of lines; the message names each disagreeing file
        and the first file, with both line counts.
    ValueError
        If ``paths`` is empty, or a file is not valid UTF-8 or is a truncated or corrupt gzip stream.
    FileNotFoundError
        If a file does not exist.
    """
    if not paths:
        raise ValueError("read_parallel needs at least one language")
    segments = {lang: _read_lines(Path(path)) for lang, path in paths.items()}
    first_lang, *_ = paths
    first, n_first = Path(paths[first_lang]), len(segments[first_lang])
    mismatches = [
        f"{Path(paths[lang])} ({lang}) has {len(lines)} segments but {first} ({first_lang}) has {n_first}"
        for lang, lines in segments.items()
        if len(lines) != n_first
    ]
    if mismatches:
        raise AlignmentError("parallel files differ in length: " + "; ".join(mismatches))
    return {
        lang: [
            whitespace_sentence(text, lang=lang, sent_id=str(k), source=Path(paths[lang]).name, line=k)
            for k, text in enumerate(lines, 1)
        ]
        for lang, lines in segments.items()
    }


def read_parallel_tsv(
    path: str | os.PathLike, languages: Sequence[str] | None = None
) -> dict[str, list[Sentence]]:
    """Read a TSV file whose columns are the languages and whose rows are translation units.

    Parameters
    ----------
    path : path-like
        UTF-8 text (gzip detected), one segment per language per line, separated by tabs.
    languages : sequence of str, optional
        The language of each column, in order. Default: the first line is a header naming them.

    Returns
    -------
    dict of str to list of Sentence
        As :func:`read_parallel`; ``sent_id`` is the line number in the file (so the first data row of a file
        with a header has sent_id ``"2"``).

    Raises
    ------
    ValueError
        If a line does not have one column per language (``file:line`` and both counts), the languages are
        empty or repeated, ``languages`` is not given and the file is empty, or the file is not valid UTF-8
        or is a truncated or corrupt gzip stream.
    FileNotFoundError
        If the file does not exist.
    """
    path = Path(path)
    lines = _read_lines(path)
    start = 1
    if languages is None:
        if not lines:
            raise ValueError(f"{path}: empty file, so no header naming the languages")
        languages, lines, start = lines[0].split("\t"), lines[1:], 2
    languages = list(languages)
    if not languages or len(set(languages)) != len(languages) or "" in languages:
        raise ValueError(f"{path}: languages must be non-empty and distinct, got {languages}")
    result: dict[str, list[Sentence]] = {lang: [] for lang in languages}
    for k, row in enumerate(lines, start):
        cells = row.split("\t")
        if len(cells) != len(languages):
            raise ValueError(
                f"{path}:{k}: expected {len(languages)} tab-separated columns ({', '.join(languages)}), "
                f"found {len(cells)}"
            )
        for lang, text in zip(languages, cells):
            result[lang].append(whitespace_sentence(text, lang=lang, sent_id=str(k), source=path.name, line=k))
    return result


def _read_lines(path: Path) -> list[str]:
    """All lines of a text file without line ends (``\\n`` or ``\\r\\n``); a final line end is optional."""
    try:
        with open_text(path, encoding="utf-8-sig") as stream:
            lines = stream.read().split("\n")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: invalid UTF-8 at byte {exc.start} ({exc.reason})") from exc
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise ValueError(f"{path}: truncated or corrupt gzip stream ({exc})") from exc
    if lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]

"""Readers of sentence-aligned parallel text: one file per language, one TSV with a column per language, or
one XNLI-style TSV per language (a header, then one example per row; a named column holds the sentences).

Segments are aligned by position (line k of every file is one translation unit), so the readers insist that
every language has the same number of segments. Words come from :func:`crossling.data.segment.segment_words`:
``str.split()`` with no argument (any run of Unicode whitespace separates words and leading/trailing whitespace
is ignored), and for Chinese and Japanese, written without spaces, a word segmenter. An empty line is kept as a
sentence without words (dropping it would shift the alignment).

The files are read by :func:`crossling.data.textfile.read_lines`, with its policy for every reader: strict by
default (invalid UTF-8, text not in Unicode NFC, a byte-order mark after the start and an empty file are
:class:`~crossling.exceptions.FileFormatError` naming ``file:line``); ``lenient=True`` normalises the text to
NFC and removes stray byte-order marks, counting them in a :class:`~crossling.exceptions.DataLossWarning`.
A TSV header is held to the same rule as a CoNLL-U column: whitespace around a language name is an error,
removed by a lenient reading. A byte-order mark at the start, CRLF line ends and a missing final line end are
read in both readings.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from crossling.data.records import Sentence, Word
from crossling.data.segment import segment_words
from crossling.data.textfile import Repairs, read_lines
from crossling.exceptions import AlignmentError, FileFormatError

__all__ = ["read_parallel", "read_parallel_tsv", "read_xnli", "whitespace_sentence"]


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


def read_parallel(paths: Mapping[str, str | os.PathLike], *, lenient: bool = False) -> dict[str, list[Sentence]]:
    """Read one plain-text file per language, one segment per line, aligned by line number.

    Parameters
    ----------
    paths : mapping of str to path-like
        Language code -> file (UTF-8, optional BOM; gzip-compressed files are detected and read too).
    lenient : bool, default False
        Normalise text to NFC and remove stray byte-order marks instead of raising (module docstring).

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
    FileFormatError
        ``file:line: what is wrong`` (a ``ValueError``) for a file that is empty, not valid UTF-8, a
        truncated or corrupt gzip stream, or, unless ``lenient``, not in NFC or with a byte-order mark after
        its start.
    ValueError
        If ``paths`` is empty.
    FileNotFoundError
        If a file does not exist.
    """
    if not paths:
        raise ValueError("read_parallel needs at least one language")
    segments = {lang: _read_lines(Path(path), lenient) for lang, path in paths.items()}
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
    path: str | os.PathLike, languages: Sequence[str] | None = None, *, lenient: bool = False
) -> dict[str, list[Sentence]]:
    """Read a TSV file whose columns are the languages and whose rows are translation units.

    Parameters
    ----------
    path : path-like
        UTF-8 text (gzip detected), one segment per language per line, separated by tabs.
    languages : sequence of str, optional
        The language of each column, in order. Default: the first line is a header naming them.
    lenient : bool, default False
        Normalise text to NFC, remove stray byte-order marks and whitespace around the header's language names
        instead of raising (module docstring).

    Returns
    -------
    dict of str to list of Sentence
        As :func:`read_parallel`; ``sent_id`` is the line number in the file (so the first data row of a file
        with a header has sent_id ``"2"``).

    Raises
    ------
    FileFormatError
        ``file:line: what is wrong`` (a ``ValueError``) for a line without one column per language (with
        both counts), a header whose language names are empty, repeated or, unless ``lenient``, have
        whitespace around them, a header without segments, and the file faults of :func:`read_parallel`.
    ValueError
        If ``languages`` is given but empty or repeats a language.
    FileNotFoundError
        If the file does not exist.
    """
    path = Path(path)
    repairs = Repairs(path)
    lines = _read_lines(path, lenient, repairs)
    start = 1
    if languages is None:
        languages, lines, start = _header(lines[0], path, lenient, repairs), lines[1:], 2
        if not lines:
            raise FileFormatError(f"{path}:1: the file has a header but no segments")
    languages = list(languages)
    if not languages or len(set(languages)) != len(languages) or "" in languages:
        raise ValueError(f"{path}: languages must be non-empty and distinct, got {languages}")
    result: dict[str, list[Sentence]] = {lang: [] for lang in languages}
    for k, row in enumerate(lines, start):
        cells = row.split("\t")
        if len(cells) != len(languages):
            raise FileFormatError(
                f"{path}:{k}: expected {len(languages)} tab-separated columns ({', '.join(languages)}), "
                f"found {len(cells)}"
            )
        for lang, text in zip(languages, cells):
            result[lang].append(whitespace_sentence(text, lang=lang, sent_id=str(k), source=path.name, line=k))
    repairs.warn()
    return result


def read_xnli(folder: str | os.PathLike, languages: Sequence[str] | None = None, *,
              column: str = "hypo", lenient: bool = False) -> dict[str, list[Sentence]]:
    """Read one XNLI-style TSV per language and keep one column: by default the hypotheses, row by row.

    The data shape of Del and Fishel (2022): the XNLI extension (Salesforce) has ``multinli.train.<lang>.tsv``
    per language, a header ``premise, hypo, label`` and the examples translated row by row; the paper
    compares the first N hypotheses of every language (``limit`` of the corpus spec). A file's language is
    the last dot-separated part of its name before ``.tsv`` (``multinli.train.de.tsv`` -> ``de``). The text
    is taken as it is in the file: the XNLI extension is Moses-tokenised (``word ,``), and Del and Fishel
    detokenised it with sacremoses before encoding, which this reader does not do.

    Parameters
    ----------
    folder : path-like
        Folder of ``*.<lang>.tsv`` files (UTF-8; gzip detected).
    languages : sequence of str, optional
        Languages to read, in this order; default every language found, in name order.
    column : str, default "hypo"
        The header name of the column to read (``premise`` for the premises).
    lenient : bool, default False
        Read the files leniently (:func:`crossling.data.textfile.read_lines`).

    Returns
    -------
    dict of str to list of Sentence
        As :func:`read_parallel`: sentence ``k`` of every language is data row ``k`` (1-based, after the
        header), ``sent_id`` ``str(k)``, ``line`` ``k + 1``.

    Raises
    ------
    FileNotFoundError
        If ``folder`` has no ``*.<lang>.tsv`` file, or none for a language asked for.
    ValueError
        If two files give the same language, a header lacks ``column``, or a row has fewer columns than the
        header needs.
    FileFormatError
        If a file breaks the text-file rules (invalid UTF-8, not NFC unless ``lenient``, empty).
    AlignmentError
        If the languages have different numbers of rows.
    """
    folder = Path(folder)
    found: dict[str, Path] = {}
    for path in sorted(folder.glob("*.tsv")) + sorted(folder.glob("*.tsv.gz")):
        lang = path.name.removesuffix(".gz").removesuffix(".tsv").rsplit(".", 1)[-1]
        if lang in found:
            raise ValueError(f"{folder}: {found[lang].name} and {path.name} are both {lang!r}; keep one per language")
        found[lang] = path
    if not found:
        raise FileNotFoundError(f"{folder}: no *.<lang>.tsv files")
    wanted = list(languages) if languages else sorted(found)
    absent = [lang for lang in wanted if lang not in found]
    if absent:
        raise FileNotFoundError(f"{folder}: no TSV file for {', '.join(absent)} (have {', '.join(sorted(found))})")
    texts: dict[str, list[str]] = {}
    for lang in wanted:
        header, *rows = _read_lines(found[lang], lenient)
        names = header.split("\t")
        if column not in names:
            raise ValueError(f"{found[lang]}: no column {column!r} in the header (columns: {', '.join(names)})")
        k = names.index(column)
        texts[lang] = []
        for number, row in enumerate(rows, 2):
            cells = row.split("\t")
            if len(cells) <= k:
                raise ValueError(f"{found[lang]}:{number}: {len(cells)} columns, no {column!r}")
            texts[lang].append(cells[k])
    first = wanted[0]
    mismatches = [f"{found[lang].name} has {len(rows)} rows but {found[first].name} has {len(texts[first])}"
                  for lang, rows in texts.items() if len(rows) != len(texts[first])]
    if mismatches:
        raise AlignmentError("XNLI-style files differ in length: " + "; ".join(mismatches))
    return {lang: [whitespace_sentence(text, lang=lang, sent_id=str(k), source=found[lang].name, line=k + 1)
                   for k, text in enumerate(rows, 1)] for lang, rows in texts.items()}


def _header(line: str, path: Path, lenient: bool, repairs: Repairs) -> list[str]:
    """The language names of a TSV header line, checked like a CoNLL-U column (no whitespace around them)."""
    names = line.split("\t")
    for k, name in enumerate(names):
        if name != name.strip():
            if not lenient:
                raise FileFormatError(
                    f"{path}:1: whitespace around the language name {name!r} in the header "
                    "(a lenient reading removes it)"
                )
            names[k] = name.strip()
            repairs.add("whitespace around a language name", 1)
    if "" in names or len(set(names)) != len(names):
        raise FileFormatError(f"{path}:1: the header must name distinct languages, got {names}")
    return names


def _read_lines(path: Path, lenient: bool, repairs: Repairs | None = None) -> list[str]:
    """All lines of a text file (:func:`~crossling.data.textfile.read_lines`); an empty file is an error."""
    lines = list(read_lines(path, lenient=lenient, repairs=repairs))
    if not lines:
        raise FileFormatError(f"{path}:1: the file is empty (no segments)")
    return lines

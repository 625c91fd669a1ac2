"""A strict, streaming CoNLL-U reader (plain or gzip-compressed).

The format is the one of Universal Dependencies (https://universaldependencies.org/format.html): sentences
are blocks of lines separated by a blank line; a block is ``# key = value`` comment lines followed by token
lines of 10 tab-separated columns ID FORM LEMMA UPOS XPOS FEATS HEAD DEPREL DEPS MISC.

Three kinds of token lines:

- a syntactic word, ID an integer; the words of a sentence are numbered 1..n consecutively;
- a multiword-token range ``a-b`` (a < b), placed just before word ``a``, with only FORM and MISC filled:
  kept as :class:`~crossling.data.records.MultiwordToken` (the surface form), its words stay the words;
- an empty node ``i.j`` (enhanced dependencies), placed after word ``i`` with j = 1, 2, ... : validated and
  counted (:func:`count_conllu`), but not a word, so not kept in :class:`~crossling.data.records.Sentence`.

Every violation raises :class:`ConlluError` naming ``file:line`` and the fault; nothing is dropped or repaired.
Tolerated, because they lose nothing: a missing blank line at the end of the file, several blank lines between
sentences, CRLF line ends and an absent ``# sent_id`` (see :func:`read_conllu`).
"""

from __future__ import annotations

import gzip
import io
import os
import re
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple, TextIO

from crossling.data.records import MultiwordToken, Sentence, Word
from crossling.exceptions import ConlluError

__all__ = ["ConlluCounts", "read_conllu", "count_conllu", "infer_lang", "open_text"]

_COLUMNS = ("ID", "FORM", "LEMMA", "UPOS", "XPOS", "FEATS", "HEAD", "DEPREL", "DEPS", "MISC")
# Integers are looked up rather than parsed: it is faster than int(), and it rejects what int() would wrongly
# accept in an ID or HEAD column ("+1", " 1", "01", "١").
_INT = {str(i): i for i in range(10_000)}
_LARGE_INT = re.compile(r"[1-9][0-9]*")
_LANG_PREFIX = re.compile(r"[a-z]{2,3}")


class ConlluCounts(NamedTuple):
    """What a CoNLL-U file holds, counted the way the UD data manifest counts it.

    Attributes
    ----------
    sentences : int
        Sentences (blocks with at least one token line).
    words : int
        Syntactic words (lines with an integer ID), over all sentences.
    multiword_tokens : int
        Multiword-token range lines (``3-4``); their words are counted in ``words``, not here.
    empty_nodes : int
        Empty-node lines (``5.1``) of enhanced dependencies; not words.
    words_with_feats : int
        Words whose FEATS column is not ``_``.
    """

    sentences: int
    words: int
    multiword_tokens: int
    empty_nodes: int
    words_with_feats: int


def infer_lang(path: str | os.PathLike) -> str:
    """The language code a UD file name starts with: ``en_pud.conllu.gz`` -> ``"en"``.

    Only the file name is read, never the file.

    Parameters
    ----------
    path : path-like
        A UD file, named ``<iso>_<treebank>...`` (``en_pud.conllu.gz``, ``de_gsd-ud-train.conllu``).

    Returns
    -------
    str
        The 2 or 3 lower-case letters before the first ``_`` of the file name.

    Raises
    ------
    ValueError
        If the name does not start with 2-3 lower-case letters followed by ``_``.
    """
    prefix, sep, _ = Path(path).name.partition("_")
    if not sep or not _LANG_PREFIX.fullmatch(prefix):
        raise ValueError(
            f"cannot infer the language from the file name {Path(path).name!r} (expected '<iso>_...', "
            "as in 'en_pud.conllu.gz'); pass lang= explicitly"
        )
    return prefix


@contextmanager
def open_text(path: str | os.PathLike, *, encoding: str = "utf-8") -> Iterator[TextIO]:
    """Open a text file for reading, gunzipping it when it starts with the gzip magic bytes.

    Lines are split at ``\\n`` only (no newline translation), so line numbers agree with ``wc -l`` and a stray
    ``\\r`` inside a line is kept as data instead of silently starting a new line.

    Parameters
    ----------
    path : path-like
        The file; gzip compression is detected from its first two bytes (``1f 8b``), not from its name.
    encoding : str, default "utf-8"
        Text encoding (``"utf-8-sig"`` also drops a byte-order mark).

    Yields
    ------
    TextIO
        The open text stream, closed when the ``with`` block ends. Decoding errors
        (:class:`UnicodeDecodeError`) and a corrupt gzip stream (:class:`gzip.BadGzipFile`, :class:`EOFError`,
        :class:`zlib.error`) surface while reading it.

    Raises
    ------
    FileNotFoundError
        If there is no file at ``path`` (raised by :func:`open` on entering the ``with`` block).
    """
    path = Path(path)
    with open(path, "rb") as raw:
        is_gzip = raw.read(2) == b"\x1f\x8b"
    if is_gzip:
        stream: TextIO = io.TextIOWrapper(gzip.open(path, "rb"), encoding=encoding, newline="\n")
    else:
        stream = open(path, encoding=encoding, newline="\n")
    with stream:
        yield stream


def read_conllu(path: str | os.PathLike, *, lang: str | None = None) -> Iterator[Sentence]:
    """Stream the sentences of a CoNLL-U file (plain or ``.gz``), validating every line.

    Parameters
    ----------
    path : path-like
        The file; gzip compression is detected from its first bytes, not its name.
    lang : str, optional
        ISO 639-1 code stored in every sentence. Default: inferred from the file name prefix
        (``en_pud.conllu.gz`` -> ``"en"``, see :func:`infer_lang`).

    Returns
    -------
    iterator of Sentence
        A lazy iterator: the file is read, and validated, as the sentences are consumed. ``words`` are the
        syntactic words (FEATS parsed into a dict, HEAD an int or None for ``_``); ``multiword`` the
        multiword-token ranges; ``comments`` every ``# key = value`` line (a comment without ``=`` maps its
        whole text to ``""``); ``text`` the ``# text`` comment or None; ``source`` the file
        name; ``line`` the sentence's first line. ``sent_id`` is the ``# sent_id`` comment, or, when a
        sentence has none, ``"<file name>:<k>"`` with k the 1-based position of the sentence in the file,
        which is unique and stable for a given file.

    Raises
    ------
    ValueError
        At the call, if ``lang`` is not given and cannot be inferred from the file name.
    FileNotFoundError
        At the call, if there is no file at ``path``.
    ConlluError
        While iterating, on the first malformed line, with ``file:line`` and the fault: a token line without exactly 10
        tab-separated columns or with an empty column; IDs that are not 1..n consecutively; a bad multiword
        range (not ``a-b`` with a < b starting at the next word, overlapping, or reaching past the last word,
        or with columns other than FORM and MISC filled); a bad empty node ID; a FEATS item that is not
        ``Name=Value`` or repeats a name; a HEAD that is not a non-negative integer or ``_``, or points past
        the last word; a comment after the token lines of its sentence; a repeated comment key in one
        sentence; a repeated ``sent_id`` in the file; a comment block without token lines; invalid UTF-8; a
        truncated or corrupt gzip stream (naming the last line read); CoNLL-U Plus columns other than the
        standard ten.
    """
    path = Path(path)
    lang = infer_lang(path) if lang is None else lang
    if not path.is_file():
        raise FileNotFoundError(f"CoNLL-U file {path} does not exist")
    return (sentence for sentence, _ in _parse(path, lang))


def count_conllu(path: str | os.PathLike) -> ConlluCounts:
    """Count sentences, words, multiword tokens, empty nodes and words with FEATS, validating the file.

    The file goes through the parser of :func:`read_conllu` (same validation, same :class:`ConlluError`
    faults), but no language is needed, so its name need not start with a language code.

    Parameters
    ----------
    path : path-like
        A CoNLL-U file, plain or gzip-compressed (detected from its first bytes).

    Returns
    -------
    ConlluCounts
        The counts over the whole file.

    Raises
    ------
    FileNotFoundError
        If there is no file at ``path``.
    ConlluError
        On the first malformed line, as for :func:`read_conllu`.
    """
    sentences = words = multiword = empty = with_feats = 0
    for sentence, n_empty in _parse(Path(path), ""):
        sentences += 1
        words += len(sentence.words)
        multiword += len(sentence.multiword)
        empty += n_empty
        with_feats += sum(1 for w in sentence.words if w.feats)
    return ConlluCounts(sentences, words, multiword, empty, with_feats)


def _parse(path: Path, lang: str) -> Iterator[tuple[Sentence, int]]:
    """Yield (sentence, number of its empty nodes); the one parser behind every public reader.

    The word line, nine lines in ten, is handled inline with local variables only: this loop is the whole
    cost of reading a treebank.
    """
    name = path.name
    int_of = _INT.get
    feats_cache: dict[str, dict[str, str]] = {}  # each distinct FEATS is validated once; words get copies
    seen_ids: dict[str, int] = {}
    n_sentences = 0
    lineno = 0

    def fail(at: int, message: str) -> ConlluError:
        return ConlluError(f"{path}:{at}: {message}")

    def emit(at: int) -> Sentence:
        nonlocal n_sentences
        n = len(words)
        if range_last > n:
            raise fail(at, f"multiword range reaches word {range_last} but the sentence has {n} words")
        if max_head > n:
            raise fail(max_head_line, f"HEAD {max_head} points past the last word ({n})")
        n_sentences += 1
        sent_id = comments.get("sent_id") or f"{name}:{n_sentences}"
        if sent_id in seen_ids:
            raise fail(start, f"sent_id {sent_id!r} repeated (first at line {seen_ids[sent_id]})")
        seen_ids[sent_id] = start
        return Sentence(lang, sent_id, words, comments.get("text"), comments, multiword, name, start)

    try:
        with open_text(path) as stream:
            comments: dict[str, str] = {}
            words: list[Word] = []
            multiword: list[MultiwordToken] = []
            start = range_last = n_empty = max_head = max_head_line = 0
            empty_after = empty_index = -1
            append = words.append
            for lineno, line in enumerate(_lines(stream), 1):
                if not line:
                    if words:
                        yield emit(lineno), n_empty
                    elif comments:
                        raise fail(lineno, "sentence has comment lines but no token lines")
                    comments, words, multiword = {}, [], []
                    append = words.append
                    start = range_last = n_empty = max_head = max_head_line = 0
                    empty_after = empty_index = -1
                    continue
                if not start:
                    start = lineno
                if line[0] == "#":
                    if words or multiword or n_empty:
                        raise fail(lineno, f"comment after the token lines of the sentence: {line!r}")
                    key, value = _comment(line)
                    if key in comments:
                        raise fail(lineno, f"comment key {key!r} repeated in one sentence")
                    if key == "global.columns" and value.split() != list(_COLUMNS):
                        raise fail(lineno, f"CoNLL-U Plus columns {value!r} are not supported (only the standard 10)")
                    comments[key] = value
                    continue
                cols = line.split("\t")
                if len(cols) != 10:
                    raise fail(lineno, f"expected 10 tab-separated columns, found {len(cols)}: {line!r}")
                if "" in cols:
                    raise fail(lineno, f"empty {_COLUMNS[cols.index('')]} column (use '_'): {line!r}")
                tid = cols[0]
                k = int_of(tid)
                if k is None:
                    if "-" in tid:
                        token = _range(cols, len(words), range_last)
                        if isinstance(token, str):
                            raise fail(lineno, token)
                        multiword.append(token)
                        range_last = token.last
                        continue
                    if "." in tid:
                        node = _empty_node(tid, len(words), empty_after, empty_index)
                        if isinstance(node, str):
                            raise fail(lineno, node)
                        empty_after, empty_index = node
                        n_empty += 1
                        continue
                    k = _large_int(tid)
                    if k is None:
                        raise fail(lineno, f"invalid ID {tid!r}")
                if k != len(words) + 1:
                    expected = len(words) + 1
                    raise fail(lineno, f"bad ID sequence: ID {tid} follows word {expected - 1} (expected {expected})")
                feats_s = cols[5]
                if feats_s == "_":
                    feats: dict[str, str] = {}
                else:
                    feats = feats_cache.get(feats_s)  # type: ignore[assignment]
                    if feats is None:
                        feats = _feats(feats_s)  # type: ignore[assignment]
                        if isinstance(feats, str):
                            raise fail(lineno, feats)
                        feats_cache[feats_s] = feats
                    feats = feats.copy()
                head_s = cols[6]
                head = int_of(head_s)
                if head is None and head_s != "_":
                    head = _large_int(head_s)
                    if head is None:
                        raise fail(lineno, f"HEAD must be a non-negative integer or '_', not {head_s!r}")
                if head is not None and head > max_head:
                    max_head, max_head_line = head, lineno
                append(Word(k, cols[1], cols[2], cols[3], cols[4], feats, head, cols[7], cols[8], cols[9]))
            if words:
                yield emit(lineno + 1), n_empty
            elif comments:
                raise fail(lineno, "file ends with comment lines but no token lines")
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise ConlluError(f"{path}:{lineno}: truncated or corrupt gzip stream after line {lineno} ({exc})") from exc
    except UnicodeDecodeError as exc:
        raise ConlluError(f"{path}:{lineno + 1}: invalid UTF-8 at or after this line ({exc.reason})") from exc


def _lines(stream: TextIO, chunk_size: int = 1 << 16) -> Iterator[str]:
    """The lines of ``stream`` without their ``\\n`` or ``\\r\\n`` ends, read in large chunks.

    Splitting 64 KiB at a time in C is cheaper than iterating the text stream line by line, and memory
    stays bounded by the chunk size.
    """
    carry = ""
    while chunk := stream.read(chunk_size):
        lines = (carry + chunk).split("\n")
        carry = lines.pop()
        if "\r" in chunk or carry.endswith("\r"):
            lines = [line[:-1] if line.endswith("\r") else line for line in lines]
        yield from lines
    if carry:
        yield carry[:-1] if carry.endswith("\r") else carry


def _comment(line: str) -> tuple[str, str]:
    """Split ``# key = value`` into its stripped key and value; a comment without ``=`` has value ""."""
    key, eq, value = line[1:].partition("=")
    return key.strip(), value.strip() if eq else ""


def _feats(feats: str) -> dict[str, str] | str:
    """Parse FEATS ``A=1|B=2``; return the dict, or the error message (the caller knows the line)."""
    parsed = {}
    for item in feats.split("|"):
        key, eq, value = item.partition("=")
        if not eq or not key or not value:
            return f"broken FEATS item {item!r} (expected Name=Value) in {feats!r}"
        if key in parsed:
            return f"feature {key!r} repeated in FEATS {feats!r}"
        parsed[key] = value
    return parsed


def _range(cols: list[str], n_words: int, range_last: int) -> MultiwordToken | str:
    """Validate a multiword-token line ``a-b``; return the token, or the error message."""
    first_s, _, last_s = cols[0].partition("-")
    first = _INT.get(first_s) or _large_int(first_s)
    last = _INT.get(last_s) or _large_int(last_s)
    if not first or not last or first >= last:
        return f"bad multiword range {cols[0]!r} (expected a-b with 0 < a < b)"
    if first != n_words + 1 or first <= range_last:
        return (
            f"multiword range {cols[0]} must start at the next word ({n_words + 1}) "
            f"and not overlap the previous range (which ends at {range_last})"
        )
    if any(c != "_" for c in cols[2:9]):
        return f"multiword range {cols[0]} may fill only FORM and MISC, not {cols[2:9]!r}"
    return MultiwordToken(first, last, cols[1], cols[9])


def _empty_node(tid: str, n_words: int, empty_after: int, empty_index: int) -> tuple[int, int] | str:
    """Validate an empty-node ID ``i.j`` (after word i, j = 1, 2, ...); return (i, j), or the error message."""
    after_s, _, index_s = tid.partition(".")
    after, index = _INT.get(after_s), _INT.get(index_s)
    if after is None or not index:
        return f"invalid empty node ID {tid!r} (expected i.j with j >= 1)"
    expected = empty_index + 1 if after == empty_after else 1
    if after != n_words or index != expected:
        return f"bad empty node ID {tid}: expected {n_words}.{expected} after word {n_words}"
    return after, index


def _large_int(text: str) -> int | None:
    """Parse an integer too large for the lookup table, rejecting signs, spaces and leading zeros."""
    return int(text) if text.isascii() and _LARGE_INT.fullmatch(text) else None

"""A strict, streaming CoNLL-U reader (plain or gzip-compressed), as strict as UD's validator on the format.

The format is the one of Universal Dependencies (https://universaldependencies.org/format.html): sentences
are blocks of lines separated by a blank line; a block is ``# key = value`` comment lines followed by token
lines of 10 tab-separated columns ID FORM LEMMA UPOS XPOS FEATS HEAD DEPREL DEPS MISC.

Three kinds of token lines:

- a syntactic word, ID an integer; the words of a sentence are numbered 1..n consecutively;
- a multiword-token range ``a-b`` (a < b), placed just before word ``a``, with only FORM and MISC filled (and
  FEATS ``Typo=Yes`` for a misspelt token): kept as :class:`~crossling.data.records.MultiwordToken` (the
  surface form), its words stay the words;
- an empty node ``i.j`` (enhanced dependencies), placed after word ``i`` and before a multiword range that
  starts after it, with j = 1, 2, ...: validated and counted (:func:`count_conllu`), but not a word, so not
  kept in :class:`~crossling.data.records.Sentence`; its columns other than ID are checked for whitespace only.

What is checked, the rules of UD's validator at levels 1 and 2 that concern the format (tree shape, the
``# text`` against the forms and the DEPS column's syntax are not checked):

- the file: UTF-8 in Unicode NFC, not empty, gzip intact (:mod:`crossling.data.textfile`);
- lines: 10 columns, none empty; no whitespace at the start or end of a column, nor two whitespace
  characters in a row; none at all in ID, UPOS, XPOS, FEATS, HEAD, DEPREL and DEPS (FORM, LEMMA and MISC may
  hold single spaces); no carriage return inside a line; a blank line is empty;
- IDs, multiword ranges and empty nodes in sequence and in place; HEAD an integer within the sentence or
  ``_``;
- UPOS one of the 17 universal tags (or ``_``, not annotated); DEPREL a universal relation with an optional
  subtype, lower case (``obl:tmod``), or ``_``;
- FEATS ``Name=Value|...``: names a capital letter then letters or digits, with an optional ``[layer]``
  (``Number[psor]``), values a capital letter or digit then letters or digits, items sorted by name and the
  values of one name sorted and distinct (``Case=Acc,Nom``), each name once;
- comments before the token lines of their sentence; one ``sent_id`` and one ``text`` per sentence, each
  ``sent_id`` once in the file. Other comments may repeat (their values are kept, joined by a newline).

Strict by default: every violation raises :class:`~crossling.exceptions.ConlluError` with
``file:line: what is wrong``, at the first faulty line of the file; nothing is dropped or repaired.
Tolerated in both readings, because they lose nothing: a byte-order mark at the start, CRLF line ends, a
missing blank line at the end of the file, several blank lines between sentences and an absent
``# sent_id``. ``lenient=True`` (``--lenient``) also reads files with faults that can be repaired without a
guess, and counts each repair in one :class:`~crossling.exceptions.DataLossWarning` per file:

=====================================================  ============================================
fault                                                  repair of the lenient reading
=====================================================  ============================================
whitespace at the start or end of a column             removed
two or more whitespace characters in a row             kept as the first of them (FORM, LEMMA, MISC)
a line of only whitespace                              read as a blank line
text not in Unicode NFC; a byte-order mark further on  normalised to NFC; removed
FEATS items or the values of a feature not sorted      sorted
a value repeated in a feature (``Case=Acc,Acc``)       kept once
=====================================================  ============================================

Everything else (an unknown UPOS, a FEATS or DEPREL that breaks the syntax, whitespace inside a tag, invalid
UTF-8, misplaced IDs...) is an error in both readings: repairing it would mean guessing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from crossling.data.records import MultiwordToken, Sentence, Word
from crossling.data.textfile import Repairs, read_blocks
from crossling.exceptions import ConlluError

__all__ = ["ConlluCounts", "read_conllu", "count_conllu", "infer_lang"]

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


_UPOS = frozenset("ADJ ADP ADV AUX CCONJ DET INTJ NOUN NUM PART PRON PROPN PUNCT SCONJ SYM VERB X".split())
_UPOS_LIST = " ".join(sorted(_UPOS))
_DEPREL = re.compile(r"[a-z]+(:[a-z]+)?")
_FEATURE_NAME = re.compile(r"[A-Z][A-Za-z0-9]*(\[[a-z0-9]+\])?")
_FEATURE_VALUE = re.compile(r"[A-Z0-9][A-Za-z0-9]*")
_UNIQUE_COMMENTS = ("sent_id", "text")
_SPACE = re.compile(r"\s")
_NOT_TAB_SPACE = re.compile(r"[^\S\t]")
_SPACE_RUN = re.compile(r"(\s)\s+")
_SPACES_ALLOWED = frozenset((1, 2, 9))  # FORM, LEMMA, MISC may hold single whitespace characters
_MWT_FEATS = {"_": {}, "Typo=Yes": {"Typo": "Yes"}}


def read_conllu(path: str | os.PathLike, *, lang: str | None = None, lenient: bool = False) -> Iterator[Sentence]:
    """Stream the sentences of a CoNLL-U file (plain or ``.gz``), validating every line.

    Parameters
    ----------
    path : path-like
        The file; gzip compression is detected from its first bytes, not its name.
    lang : str, optional
        ISO 639-1 code stored in every sentence. Default: inferred from the file name prefix
        (``en_pud.conllu.gz`` -> ``"en"``, see :func:`infer_lang`).
    lenient : bool, default False
        Repair the faults listed in the module docstring (whitespace, NFC, unsorted FEATS) instead of raising,
        with one :class:`~crossling.exceptions.DataLossWarning` per file that counts the repairs.

    Returns
    -------
    iterator of Sentence
        A lazy iterator: the file is read, and validated, as the sentences are consumed. ``words`` are the
        syntactic words (FEATS parsed into a dict, HEAD an int or None for ``_``); ``multiword`` the
        multiword-token ranges; ``comments`` every ``# key = value`` line (a comment without ``=`` maps its
        whole text to ``""``; the values of a repeated key are joined by ``"\\n"``); ``text`` the ``# text``
        comment or None; ``source`` the file name; ``line`` the sentence's first line. ``sent_id`` is the
        ``# sent_id`` comment, or, when a sentence has none, ``"<file name>:<k>"`` with k the 1-based position
        of the sentence in the file, which is unique and stable for a given file.

    Raises
    ------
    ValueError
        At the call, if ``lang`` is not given and cannot be inferred from the file name.
    FileNotFoundError
        At the call, if there is no file at ``path``.
    ConlluError
        While iterating, at the first line that breaks a rule of the module docstring, as
        ``file:line: what is wrong``: columns (count, empty, whitespace), IDs, multiword ranges and empty
        nodes out of sequence or place, HEAD, UPOS, DEPREL, FEATS, comments (after the token lines, a second
        ``sent_id`` or ``text``, a ``sent_id`` repeated in the file, comments without token lines), CoNLL-U
        Plus columns other than the standard ten, invalid UTF-8, text not in NFC, a truncated or corrupt gzip
        stream (naming the last line read), and a file without sentences.
    """
    path = Path(path)
    lang = infer_lang(path) if lang is None else lang
    if not path.is_file():
        raise FileNotFoundError(f"CoNLL-U file {path} does not exist")
    return (sentence for sentence, _ in _parse(path, lang, lenient))


def count_conllu(path: str | os.PathLike, *, lenient: bool = False) -> ConlluCounts:
    """Count sentences, words, multiword tokens, empty nodes and words with FEATS, validating the file.

    The file goes through the parser of :func:`read_conllu` (same validation, same :class:`ConlluError`
    faults), but no language is needed, so its name need not start with a language code.

    Parameters
    ----------
    path : path-like
        A CoNLL-U file, plain or gzip-compressed (detected from its first bytes).
    lenient : bool, default False
        Repair what :func:`read_conllu` repairs when lenient (the counts do not change).

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
    for sentence, n_empty in _parse(Path(path), "", lenient):
        sentences += 1
        words += len(sentence.words)
        multiword += len(sentence.multiword)
        empty += n_empty
        with_feats += sum(1 for w in sentence.words if w.feats)
    return ConlluCounts(sentences, words, multiword, empty, with_feats)


def _parse(path: Path, lang: str, lenient: bool) -> Iterator[tuple[Sentence, int]]:
    """Yield (sentence, number of its empty nodes); the one parser behind every public reader.

    The word line, nine lines in ten, is handled inline with local variables only, and each distinct FEATS,
    UPOS and DEPREL is validated once: this loop is the whole cost of reading a treebank.
    """
    name = path.name
    int_of = _INT.get
    feats_cache: dict[str, dict[str, str]] = {}  # valid FEATS -> parsed; words get copies
    deprels = {"_"}  # DEPRELs seen valid
    upos_tags = _UPOS | {"_"}
    repairs = Repairs(path)
    seen_ids: dict[str, int] = {}
    n_sentences = lineno = 0

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

    comments: dict[str, str] = {}
    words: list[Word] = []
    multiword: list[MultiwordToken] = []
    start = range_first = range_last = n_empty = max_head = max_head_line = 0
    empty_after = empty_index = -1
    append = words.append
    for block in read_blocks(path, lenient=lenient, repairs=repairs, error=ConlluError):
        other_whitespace = block.other_whitespace
        for lineno, line in enumerate(block.lines, block.first_line):
            if not line or line.isspace():
                if line:
                    if not lenient:
                        raise fail(lineno, f"a line of only whitespace {line!r} (a blank line must be empty)")
                    repairs.add("line of only whitespace", lineno)
                if words:
                    yield emit(lineno), n_empty
                elif comments:
                    raise fail(lineno, "sentence has comment lines but no token lines")
                comments, words, multiword = {}, [], []
                append = words.append
                start = range_first = range_last = n_empty = max_head = max_head_line = 0
                empty_after = empty_index = -1
                continue
            if not start:
                start = lineno
            if line[0] == "#":
                if words or multiword or n_empty:
                    raise fail(lineno, f"comment after the token lines of the sentence: {line!r}")
                key, value = _comment(line)
                if key in comments:
                    if key in _UNIQUE_COMMENTS:
                        raise fail(lineno, f"comment key {key!r} repeated in one sentence (one {key} per sentence)")
                    comments[key] += "\n" + value
                    continue
                if key == "global.columns" and value.split() != list(_COLUMNS):
                    raise fail(lineno, f"CoNLL-U Plus columns {value!r} are not supported (only the standard 10)")
                comments[key] = value
                continue
            cols = line.split("\t")
            if len(cols) != 10:
                raise fail(lineno, f"expected 10 tab-separated columns, found {len(cols)}: {line!r}")
            # Only a line with whitespace other than its tabs goes to the column by column check; the block knows
            # whether anything but a space needs looking for.
            if " " in line or other_whitespace and _NOT_TAB_SPACE.search(line):
                fault, repaired = _whitespace(cols, lenient)
                if fault:
                    raise fail(lineno, fault)
                if repaired:
                    repairs.add("whitespace at the ends of a column or repeated", lineno)
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
                    range_first, range_last = token.first, token.last
                    continue
                if "." in tid:
                    node = _empty_node(tid, len(words), empty_after, empty_index, range_first, range_last)
                    if isinstance(node, str):
                        raise fail(lineno, node)
                    empty_after, empty_index = node
                    n_empty += 1
                    continue
                k = _large_int(tid)
                if k is None:
                    raise fail(lineno, f"invalid ID {tid!r}" + _BOM_HINT * tid.startswith("\ufeff"))
            if k != len(words) + 1:
                expected = len(words) + 1
                raise fail(lineno, f"bad ID sequence: ID {tid} follows word {expected - 1} (expected {expected})")
            upos = cols[3]
            if upos not in upos_tags:
                raise fail(lineno, f"UPOS {upos!r} is not one of the 17 universal tags ({_UPOS_LIST}) or '_'")
            deprel = cols[7]
            if deprel not in deprels:
                if not _DEPREL.fullmatch(deprel):
                    raise fail(
                        lineno,
                        f"DEPREL {deprel!r} is not a universal relation with an optional subtype in lower-case letters "
                        "(as in 'nsubj' or 'obl:tmod') or '_'",
                    )
                deprels.add(deprel)
            feats_s = cols[5]
            if feats_s == "_":
                feats: dict[str, str] = {}
            else:
                feats = feats_cache.get(feats_s)  # type: ignore[assignment]
                if feats is None:
                    parsed = _feats(feats_s, lenient)
                    if isinstance(parsed, str):
                        raise fail(lineno, parsed)
                    feats, repaired = parsed
                    if repaired:
                        repairs.add("FEATS not sorted or with a repeated value", lineno)
                    else:
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
            append(Word(k, cols[1], cols[2], upos, cols[4], feats, head, deprel, cols[8], cols[9]))
    if words:
        yield emit(lineno + 1), n_empty
    elif comments:
        raise fail(lineno, "file ends with comment lines but no token lines")
    if not n_sentences:
        raise fail(max(lineno, 1), f"no sentences: the file {'is empty' if not lineno else 'has only blank lines'}")
    repairs.warn()


_BOM_HINT = " (a byte-order mark, U+FEFF, at the start of the line: files joined with their byte-order marks?)"


def _whitespace(cols: list[str], lenient: bool) -> tuple[str | None, bool]:
    """Check the whitespace of a token line's columns; return (the fault or None, whether ``cols`` was repaired).

    A lenient reading strips each column, keeps one whitespace character of a run, and puts the result back
    into ``cols``; whitespace inside a column that may hold none stays a fault.
    """
    repaired = False
    for i, col in enumerate(cols):
        if not _SPACE.search(col):
            continue
        where = f"{_COLUMNS[i]} {col!r}"
        if "\r" in col:
            return f"carriage return inside {where} (line ends must be \\n or \\r\\n)", repaired
        if lenient:
            fixed = _SPACE_RUN.sub(r"\1", col.strip())
            if fixed != col:
                cols[i] = col = fixed
                repaired = True
            if i in _SPACES_ALLOWED or not _SPACE.search(col):
                continue
        elif col[0].isspace() or col[-1].isspace():
            side = "leading" if col[0].isspace() else "trailing"
            return f"{side} whitespace in {where} (a lenient reading removes it)", repaired
        elif _SPACE_RUN.search(col):
            return f"two whitespace characters in a row in {where} (a lenient reading keeps one)", repaired
        elif i in _SPACES_ALLOWED:
            continue
        return f"whitespace inside {where} (not allowed in ID, UPOS, XPOS, FEATS, HEAD, DEPREL and DEPS)", repaired
    return None, repaired


def _comment(line: str) -> tuple[str, str]:
    """Split ``# key = value`` into its stripped key and value; a comment without ``=`` has value ""."""
    key, eq, value = line[1:].partition("=")
    return key.strip(), value.strip() if eq else ""


def _feats(feats: str, lenient: bool) -> tuple[dict[str, str], bool] | str:
    """Parse and validate FEATS ``A=1|B=2``; return (the dict, whether it was repaired), or the error message.

    The rules are those of UD's validator (``feat-format``, ``unsorted-features``, ``repeated-feature``,
    ``unsorted-feature-values``, ``repeated-feature-value``): items sorted by their lower-cased text, values
    of one feature sorted by their lower-cased text and distinct.
    """
    parsed: dict[str, str] = {}
    repaired = False
    for item in feats.split("|"):
        key, eq, value = item.partition("=")
        if not eq or not key or not value:
            return f"broken FEATS item {item!r} (expected Name=Value) in {feats!r}"
        if "=" in value:
            return f"FEATS item {item!r} has more than one '=' in {feats!r}"
        if not _FEATURE_NAME.fullmatch(key):
            return (
                f"feature name {key!r} in {feats!r}: expected a capital letter, then letters or digits, and an "
                "optional [layer] in lower case (as in Number[psor])"
            )
        values = value.split(",")
        bad = next((v for v in values if not _FEATURE_VALUE.fullmatch(v)), None)
        if bad is not None:
            return (
                f"value {bad!r} of feature {key!r} in {feats!r}: expected a capital letter or digit, then letters "
                "or digits"
            )
        if key in parsed:
            return f"feature {key!r} repeated in FEATS {feats!r}"
        canonical = ",".join(sorted(dict.fromkeys(values), key=str.lower))
        if canonical != value:
            if not lenient:
                repeated = next((v for k, v in enumerate(values) if v in values[:k]), None)
                if repeated is not None:
                    return f"feature {key!r} repeats the value {repeated!r} in {feats!r} (a lenient reading keeps one)"
                return (
                    f"values of feature {key!r} are not sorted in {feats!r}: expected {canonical!r} "
                    "(a lenient reading sorts them)"
                )
            repaired = True
        parsed[key] = canonical
    ordered = sorted(parsed.items(), key=lambda kv: f"{kv[0]}={kv[1]}".lower())
    if list(parsed) != [key for key, _ in ordered]:
        if not lenient:
            expected = "|".join(f"{key}={value}" for key, value in ordered)
            return (
                f"FEATS items are not sorted by name (case-insensitively): {feats!r} should be {expected!r} "
                "(a lenient reading sorts them)"
            )
        parsed, repaired = dict(ordered), True
    return parsed, repaired


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
    feats = _MWT_FEATS.get(cols[5])
    if feats is None or any(c != "_" for i, c in enumerate(cols[2:9], 2) if i != 5):
        return f"multiword range {cols[0]} may fill only FORM and MISC (and FEATS with 'Typo=Yes'), not {cols[2:9]!r}"
    return MultiwordToken(first, last, cols[1], cols[9], dict(feats))


def _empty_node(
    tid: str, n_words: int, empty_after: int, empty_index: int, range_first: int, range_last: int
) -> tuple[int, int] | str:
    """Validate an empty-node ID ``i.j`` (after word i, j = 1, 2, ...); return (i, j), or the error message."""
    after_s, _, index_s = tid.partition(".")
    after, index = _INT.get(after_s), _INT.get(index_s)
    if after is None or not index:
        return f"invalid empty node ID {tid!r} (expected i.j with j >= 1)"
    expected = empty_index + 1 if after == empty_after else 1
    if after != n_words or index != expected:
        return f"bad empty node ID {tid}: expected {n_words}.{expected} after word {n_words}"
    if range_first > after:
        return (
            f"empty node {tid} comes after the multiword range {range_first}-{range_last}, which starts after "
            f"word {after}: it belongs before that range"
        )
    return after, index


def _large_int(text: str) -> int | None:
    """Parse an integer too large for the lookup table, rejecting signs, spaces and leading zeros."""
    return int(text) if text.isascii() and _LARGE_INT.fullmatch(text) else None

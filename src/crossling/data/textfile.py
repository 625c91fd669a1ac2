"""The lines of a text file, read the one way every reader of crossling reads them.

CoNLL-U and PUD (:mod:`crossling.data.conllu`, :mod:`crossling.data.pud`), parallel text and TSV
(:mod:`crossling.data.parallel`) and translation dictionaries (``TranslationDictionary.load``) all get their
lines from :func:`read_lines` (or, in blocks, :func:`read_blocks`), so what a file may hold below its own
format is decided here, once:

============================================  ==========================================  ====================
What the file holds                           strict reading (the default)                ``lenient=True``
============================================  ==========================================  ====================
gzip compression (first bytes ``1f 8b``)      read                                        read
a byte-order mark at the very start           dropped: it only names the encoding         dropped
a UTF-16 or UTF-32 byte-order mark            error: the file is not UTF-8                error
CRLF line ends; no line end after the last    read as LF line ends                        read
bytes that are not UTF-8                      error at their line                         error at their line
a truncated or corrupt gzip stream            error after the last line read              error
a byte-order mark (U+FEFF) further on         error (files joined with their BOMs?)       removed, counted
text not in Unicode NFC                       error naming the column and code points     normalised, counted
============================================  ==========================================  ====================

NFC is required because the same word in two normalisation forms is two strings: it would be counted as two
words, miss its dictionary entry and be split differently by a tokenizer; UD's validator requires it too.
What the lenient reading repairs is kept in a :class:`Repairs`, which the reader reports as one
:class:`~crossling.exceptions.DataLossWarning` per file (the original text is lost).

Lines are split at ``\\n`` only, so line numbers agree with ``wc -l``; other Unicode line breaks (U+2028,
U+0085, form feed) stay inside their line, where each reader's own rules judge them (``str.splitlines`` would
silently start new lines there). A ``\\r`` that does not end a line stays too.
"""

from __future__ import annotations

import gzip
import os
import re
import unicodedata
import warnings
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from crossling.exceptions import DataLossWarning, FileFormatError

__all__ = ["Block", "Repairs", "read_blocks", "read_lines"]

_BOM = b"\xef\xbb\xbf"
# The UTF-8 of every character for which str.isspace() is true, other than space, tab and line feed: seven
# control characters (CR among them), and sequences that start with one of four bytes.
_CONTROL_WHITESPACE = b"\x0b\x0c\r\x1c\x1d\x1e\x1f"
_MULTIBYTE_WHITESPACE = {
    0xC2: re.compile(rb"\xc2[\x85\xa0]"),
    0xE1: re.compile(rb"\xe1\x9a\x80"),
    0xE2: re.compile(rb"\xe2(?:\x80[\x80-\x8a\xa8\xa9\xaf]|\x81\x9f)"),
    0xE3: re.compile(rb"\xe3\x80\x80"),
}
_MULTIBYTE_LEADS = bytes(_MULTIBYTE_WHITESPACE)
_NOT_LEAD = bytes(b for b in range(256) if b not in _CONTROL_WHITESPACE and b not in _MULTIBYTE_WHITESPACE)
# Bytes read at a time: splitting and checking 64 KiB in C is much cheaper than line by line in Python.
_CHUNK_SIZE = 1 << 16


@dataclass
class Repairs:
    """What a lenient reading changed in one file: per kind of fault, how often, and the first line.

    Attributes
    ----------
    path : Path
        The file read.
    counts : dict of str to int
        Kind of fault (``"text not in Unicode NFC"``, ...) -> number of repairs (of lines, for the faults of
        a line; of fields, for the faults of a field).
    first_line : dict of str to int
        Kind of fault -> 1-based line of its first repair.
    """

    path: Path
    counts: dict[str, int] = field(default_factory=dict)
    first_line: dict[str, int] = field(default_factory=dict)

    def add(self, kind: str, line: int) -> None:
        """Count one repair of ``kind`` at ``line``.

        Parameters
        ----------
        kind : str
            What was wrong, as a noun phrase (it is printed as "3 x <kind>").
        line : int
            1-based line of the repair.
        """
        if kind not in self.counts:
            self.counts[kind] = 0
            self.first_line[kind] = line
        self.counts[kind] += 1

    def warn(self) -> None:
        """Issue one :class:`~crossling.exceptions.DataLossWarning` listing the repairs; nothing if there were none.

        The message names the file and, per kind in the order of their first line, the count and the first line,
        so the user can look at the original text.
        """
        if not self.counts:
            return
        kinds = "; ".join(
            f"{self.counts[kind]} x {kind} (first at line {self.first_line[kind]})"
            for kind in sorted(self.counts, key=self.first_line.__getitem__)
        )
        warnings.warn(
            f"{self.path}: the lenient reading changed the text: {kinds}; a strict reading refuses the file",
            DataLossWarning,
            stacklevel=3,
        )


class Block(NamedTuple):
    """Whole lines read at once, with what a reader that checks whitespace needs to know about them.

    Attributes
    ----------
    lines : list of str
        The lines, in order, without their line ends.
    first_line : int
        1-based number of the first of them in the file.
    other_whitespace : bool
        False when the only whitespace characters in ``lines`` are spaces and tabs, which a reader can then find
        with ``" " in line``; True when some line may hold another one (no-break space, U+2009, a stray
        ``\\r``, ... any character for which :meth:`str.isspace` is true).
    """

    lines: list[str]
    first_line: int
    other_whitespace: bool


def read_lines(
    path: str | os.PathLike,
    *,
    lenient: bool = False,
    repairs: Repairs | None = None,
    error: type[FileFormatError] = FileFormatError,
) -> Iterator[str]:
    """Yield the lines of a UTF-8 text file (plain or gzip-compressed), without their line ends.

    The lines of :func:`read_blocks`, one by one.

    Parameters
    ----------
    path : path-like
        The file; gzip compression is detected from its first two bytes, not its name.
    lenient : bool, default False
        Remove a byte-order mark found after the start of the file and normalise text to NFC instead of
        raising (see the module docstring).
    repairs : Repairs, optional
        Where a lenient reading counts what it changed; default: a new one, warned about at the end of the
        file. A caller that passes its own reports it itself (:meth:`Repairs.warn`), with its own repairs.
    error : type, default FileFormatError
        The exception raised for a fault (a subclass of :class:`~crossling.exceptions.FileFormatError`,
        such as :class:`~crossling.exceptions.ConlluError`).

    Yields
    ------
    str
        Each line, in order, without its ``\\n`` or ``\\r\\n``; the text after the last line end is a line
        when it is not empty. Every line before a fault is yielded before the fault is raised, so a reader
        reports the first fault of the file, whichever kind it is.

    Raises
    ------
    FileNotFoundError
        If there is no file at ``path`` (when iteration starts).
    FileFormatError
        As :func:`read_blocks`.
    """
    for block in read_blocks(path, lenient=lenient, repairs=repairs, error=error):
        yield from block.lines


def read_blocks(
    path: str | os.PathLike,
    *,
    lenient: bool = False,
    repairs: Repairs | None = None,
    error: type[FileFormatError] = FileFormatError,
) -> Iterator[Block]:
    """Yield the lines of a UTF-8 text file (plain or gzip-compressed) in blocks of about 64 KiB.

    Parameters
    ----------
    path : path-like
        The file; gzip compression is detected from its first two bytes, not its name.
    lenient : bool, default False
        Remove a byte-order mark found after the start of the file and normalise text to NFC instead of
        raising (see the module docstring).
    repairs : Repairs, optional
        Where a lenient reading counts what it changed; default: a new one, warned about at the end of the
        file. A caller that passes its own reports it itself (:meth:`Repairs.warn`), with its own repairs.
    error : type, default FileFormatError
        The exception raised for a fault (a subclass of :class:`~crossling.exceptions.FileFormatError`,
        such as :class:`~crossling.exceptions.ConlluError`).

    Yields
    ------
    Block
        Consecutive whole lines; a line is never split between blocks. The lines before a fault are yielded
        (as a last block) before the fault is raised.

    Raises
    ------
    FileNotFoundError
        If there is no file at ``path`` (when iteration starts).
    FileFormatError
        ``error("<path>:<line>: <fault>")`` for bytes that are not UTF-8 (a UTF-16 byte-order mark is named as
        such), a truncated or corrupt gzip stream (naming the last line read), and, unless ``lenient``, a
        byte-order mark after the start or text not in NFC.
    """
    path = Path(path)
    own_repairs = repairs is None
    repairs = Repairs(path) if repairs is None else repairs
    n_lines = 0
    with open(path, "rb") as raw:
        is_gzip = raw.read(2) == b"\x1f\x8b"
    with gzip.open(path, "rb") if is_gzip else open(path, "rb") as stream:
        carry = b""
        at_start = True  # the first bytes are not yet checked for a byte-order mark
        while True:
            try:
                chunk = stream.read(_CHUNK_SIZE)
            except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
                raise error(f"{path}:{n_lines}: truncated or corrupt gzip stream after line {n_lines} ({exc})") from exc
            data = carry + chunk
            if at_start and (len(data) >= len(_BOM) or b"\n" in data or not chunk):
                at_start = False
                if data.startswith(_BOM):
                    data = data[len(_BOM) :]
                elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
                    raise error(
                        f"{path}:1: the file starts with a UTF-16 byte-order mark ({data[:2].hex(' ')}): it is "
                        "UTF-16 or UTF-32, not UTF-8 (convert it, e.g. iconv -f UTF-16 -t UTF-8)"
                    )
            if chunk:
                # Only whole lines are decoded, so a character or a CRLF is never cut between two reads.
                cut = data.rfind(b"\n") + 1
                data, carry = data[:cut], data[cut:]
            elif data:
                data, carry = data + b"\n", b""  # the last line has no line end
            else:
                break
            if not data:
                continue
            if b"\r" in data:
                data = data.replace(b"\r\n", b"\n")
            lines, fault = _decode(data, n_lines, lenient, repairs)
            yield Block(lines, n_lines + 1, _other_whitespace(data))
            n_lines += len(lines)
            if fault:
                raise error(f"{path}:{n_lines + 1}: {fault}")
    if own_repairs:
        repairs.warn()


def _other_whitespace(data: bytes) -> bool:
    """Whether UTF-8 ``data`` holds a whitespace character other than space, tab and line feed.

    One pass in C keeps only the bytes such a character starts with; the exact sequences are searched for only
    when one of them is there.
    """
    leads = data.translate(None, _NOT_LEAD)
    if not leads:
        return False
    if leads.translate(None, _MULTIBYTE_LEADS):
        return True  # a control character
    return any(bytes((lead,)) in leads and pattern.search(data) for lead, pattern in _MULTIBYTE_WHITESPACE.items())


def _decode(data: bytes, n_before: int, lenient: bool, repairs: Repairs) -> tuple[list[str], str | None]:
    """Split whole lines of UTF-8 into text; return the good lines and the fault of the next one, if any."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        start = data.rfind(b"\n", 0, exc.start) + 1
        lines, fault = _decode(data[:start], n_before, lenient, repairs)
        if fault is None:
            bad = data[exc.start : exc.end]
            fault = f"invalid UTF-8 at byte {exc.start - start + 1} of the line ({exc.reason}: {bad!r})"
        return lines, fault
    lines = text.split("\n")
    lines.pop()  # the text ends with a line end
    # normalize() returns its argument at once when a quick check proves it NFC: faster than is_normalized().
    if _latin1(text) or ("\ufeff" not in text and unicodedata.normalize("NFC", text) == text):
        return lines, None
    for k, line in enumerate(lines):
        if "\ufeff" in line:
            if not lenient:
                column = line.index("\ufeff") + 1
                return lines[:k], (
                    f"byte-order mark (U+FEFF) at column {column}, not at the start of the file "
                    "(files joined with their byte-order marks?; a lenient reading removes it)"
                )
            line = lines[k] = line.replace("\ufeff", "")
            repairs.add("byte-order mark inside the file", n_before + k + 1)
        if not unicodedata.is_normalized("NFC", line):
            if not lenient:
                return lines[:k], _nfc_fault(line)
            lines[k] = unicodedata.normalize("NFC", line)
            repairs.add("text not in Unicode NFC", n_before + k + 1)
    return lines, None


def _latin1(text: str) -> bool:
    """Whether ``text`` is Latin-1 only, hence NFC: no character below U+0100 decomposes or composes (tested).

    Checking this first is cheap (the encoding is a copy when it succeeds) and saves the NFC check, a tenth of
    the reading time, on most blocks of Western European text.
    """
    if text.isascii():
        return True
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def _nfc_fault(line: str) -> str:
    """Name the first place where ``line`` differs from its NFC form, with the code points on both sides."""
    nfc = unicodedata.normalize("NFC", line)
    start = next((i for i, (a, b) in enumerate(zip(line, nfc)) if a != b), min(len(line), len(nfc)))
    end = start + 1
    while end < len(line) and unicodedata.combining(line[end]):
        end += 1
    found = line[start:end]
    return (
        f"text not in Unicode NFC at column {start + 1}: {ascii(found)} should be "
        f"{ascii(unicodedata.normalize('NFC', found))} (a lenient reading normalises it)"
    )

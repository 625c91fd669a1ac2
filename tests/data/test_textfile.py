"""The line reader under every reader: line ends, byte-order marks, UTF-8 faults at their line, NFC, chunk borders."""

from __future__ import annotations

import gzip
import re
import sys
import unicodedata
import warnings
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crossling.data import textfile
from crossling.data.textfile import Repairs, read_blocks, read_lines
from crossling.exceptions import ConlluError, DataLossWarning, FileFormatError


def lines_of(path, **kwargs):
    return list(read_lines(path, **kwargs))


def test_bom_crlf_and_missing_final_line_end(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(b"\xef\xbb\xbfone\r\ntwo\r\n\r\nthree")
    assert lines_of(path) == ["one", "two", "", "three"]
    path.write_bytes(gzip.compress(b"\xef\xbb\xbfone\ntwo\n"))
    assert lines_of(path) == ["one", "two"]
    # Other Unicode line breaks, and a CR that ends no line, stay inside their line (str.splitlines would split).
    path.write_bytes("a\u2028b\x0cc\x85d\re\n".encode())
    assert lines_of(path) == ["a\u2028b\x0cc\x85d\re"]
    path.write_bytes(b"")
    assert lines_of(path) == []
    path.write_bytes(b"\xef\xbb\xbf")
    assert lines_of(path) == []


@pytest.mark.parametrize("final_blank_line", [True, False])
def test_crlf_split_across_the_read_boundary(tmp_path, final_blank_line):
    """The reader reads 64 KiB at a time: a CR as the last byte of one read and its LF as the first of the next."""
    size = textfile._CHUNK_SIZE
    head = b"x" * (size - 1)  # line 1 ends with the CR at byte 65535 (0-based)
    tail = b"\r\n" + (b"last\r\n\r\n" if final_blank_line else b"last\r\n")
    path = tmp_path / "boundary.txt"
    path.write_bytes(head + tail)
    assert path.read_bytes()[size - 1 : size + 1] == b"\r\n"
    expected = ["x" * (size - 1), "last"] + ([""] if final_blank_line else [])
    assert lines_of(path) == expected
    # The file ends exactly at the boundary: the last read holds only the LF.
    path.write_bytes(b"y" * (size - 1) + b"\r\n")
    assert lines_of(path) == ["y" * (size - 1)]


@pytest.mark.parametrize(
    ("data", "line", "message"),
    [
        (b"ok\nok\nok\nbad \xe9 byte\nok\n", 4, "invalid UTF-8 at byte 5 of the line (invalid continuation byte"),
        (b"ok\n" * 5000 + b"\xff\n" + b"ok\n" * 10, 5001, "invalid UTF-8 at byte 1 of the line (invalid start byte"),
        (b"ok\ntruncated \xc3", 2, "invalid UTF-8 at byte 11 of the line"),
        (b"\xff\xfeo\x00k\x00", 1, "UTF-16 byte-order mark"),
        (b"ok\nbad\xef\xbb\xbfbom\n", 2, "byte-order mark (U+FEFF) at column 4, not at the start of the file"),
        ("ok\ncafe\u0301\n".encode(), 2, r"text not in Unicode NFC at column 4: 'e\u0301' should be '\xe9'"),
        ("\u212b\n".encode(), 1, r"text not in Unicode NFC at column 1: '\u212b' should be '\xc5'"),
    ],
    ids=["latin-1 byte line 4", "bad byte line 5001", "cut character at the end", "UTF-16", "BOM inside",
         "decomposed e-acute", "angstrom sign"],
)  # fmt: skip
def test_faults_name_their_line(tmp_path, data, line, message):
    for gz in (False, True):
        path = tmp_path / ("f.txt.gz" if gz else "f.txt")
        path.write_bytes(gzip.compress(data) if gz else data)
        with pytest.raises(FileFormatError, match=re.escape(message)) as info:
            lines_of(path)
        assert str(info.value).startswith(f"{path}:{line}: "), str(info.value)


def test_lines_before_a_fault_come_first_and_the_error_class_is_the_callers(tmp_path):
    path = tmp_path / "f.txt"
    path.write_bytes(b"a\nb\n\xff\n")
    got = []
    with pytest.raises(ConlluError, match=r"f\.txt:3: invalid UTF-8"):
        for line in read_lines(path, error=ConlluError):
            got.append(line)
    assert got == ["a", "b"]


def test_truncated_gzip_names_the_last_line_read(tmp_path):
    data = gzip.compress(b"".join(b"line %d\n" % k for k in range(200_000)))
    path = tmp_path / "cut.txt.gz"
    path.write_bytes(data[: len(data) // 2])
    got = []
    with pytest.raises(FileFormatError, match="truncated or corrupt gzip stream after line") as info:
        for line in read_lines(path):
            got.append(line)
    last = int(re.match(rf"{re.escape(str(path))}:(\d+): ", str(info.value)).group(1))
    assert last == len(got) > 0 and got[-1] == f"line {last - 1}"


def test_lenient_normalises_and_counts(tmp_path):
    path = tmp_path / "f.txt"
    path.write_bytes("cafe\u0301\nok\n\ufeffx\nnai\u0308ve\n".encode())
    with pytest.warns(DataLossWarning) as record:
        got = lines_of(path, lenient=True)
    assert got == ["caf\xe9", "ok", "x", "na\xefve"]
    (warning,) = record
    assert str(warning.message) == (
        f"{path}: the lenient reading changed the text: 2 x text not in Unicode NFC (first at line 1); "
        "1 x byte-order mark inside the file (first at line 3); a strict reading refuses the file"
    )
    # A caller's own Repairs collects the counts and the warning is the caller's to give.
    repairs = Repairs(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert lines_of(path, lenient=True, repairs=repairs) == got
    assert repairs.counts == {"text not in Unicode NFC": 2, "byte-order mark inside the file": 1}
    assert repairs.first_line == {"text not in Unicode NFC": 1, "byte-order mark inside the file": 3}


def test_other_whitespace_flag_knows_every_whitespace_character():
    """The byte patterns behind Block.other_whitespace against str.isspace over all of Unicode."""
    others = [chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace() and chr(c) not in " \t\n"]
    assert len(others) == 26
    for ch in others:
        assert textfile._other_whitespace(f"a{ch}b\n".encode()), hex(ord(ch))
    # Characters that share the lead bytes of those sequences but are not whitespace.
    for text in ("a b\tc\n", "“quoted” — dash\n", "non\xadbreak ©\n", "日本語。\n", "\u1e9e\u200b\u2060\n"):
        assert not textfile._other_whitespace(text.encode()), text


def test_latin1_text_is_always_nfc():
    """What the reader's shortcut relies on: no Latin-1 character, nor any pair of them, changes under NFC."""
    latin1 = "".join(map(chr, range(256)))
    assert textfile._latin1(latin1) and not textfile._latin1("\u0100")
    assert all(unicodedata.is_normalized("NFC", a + b) for a in latin1 for b in latin1)


def test_blocks_number_their_lines(tmp_path):
    path = tmp_path / "f.txt"
    path.write_bytes(b"".join(b"%d\n" % k for k in range(1, 30_001)))
    blocks = list(read_blocks(path))
    assert len(blocks) > 1 and blocks[0].first_line == 1
    for block, following in zip(blocks, blocks[1:]):
        assert following.first_line == block.first_line + len(block.lines)
        assert block.lines[0] == str(block.first_line)


# --- properties ------------------------------------------------------------------------------------------------

# Text without line breaks: any code point but LF, surrogates and unassigned ones, normalised to NFC.
_LINE = st.text(st.characters(blacklist_categories=("Cs", "Cn"), blacklist_characters="\n\ufeff")).map(
    lambda text: unicodedata.normalize("NFC", text).replace("\n", "")
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    lines=st.lists(_LINE.map(lambda line: line.replace("\r", "")), min_size=1, max_size=30),
    crlf=st.booleans(),
    final_end=st.booleans(),
    bom=st.booleans(),
    gz=st.booleans(),
    chunk=st.integers(1, 64),
)
def test_any_text_round_trips(tmp_path, lines, crlf, final_end, bom, gz, chunk):
    end = "\r\n" if crlf else "\n"
    text = end.join(lines) + (end if final_end else "")
    expected = lines[:-1] if not final_end and lines[-1] == "" else lines  # nothing after the last line end
    data = (b"\xef\xbb\xbf" if bom else b"") + text.encode()
    path = tmp_path / "round.txt"
    path.write_bytes(gzip.compress(data) if gz else data)
    with mock.patch.object(textfile, "_CHUNK_SIZE", chunk):
        assert lines_of(path) == expected


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    lines=st.lists(_LINE.map(lambda line: line.replace("\r", "")), min_size=1, max_size=30),
    data=st.data(),
    chunk=st.integers(1, 64),
)
def test_a_bad_byte_anywhere_is_reported_at_its_line(tmp_path, lines, data, chunk):
    k = data.draw(st.integers(0, len(lines) - 1), label="line")
    at = data.draw(st.integers(0, len(lines[k].encode())), label="byte")
    bad = data.draw(st.sampled_from([b"\xff", b"\xc3", b"\xe2\x82", b"\x80"]), label="bad bytes")
    encoded = [line.encode() for line in lines]
    encoded[k] = encoded[k][:at] + bad + encoded[k][at:]
    path = tmp_path / "bad.txt"
    path.write_bytes(b"\n".join(encoded) + b"\n")
    with mock.patch.object(textfile, "_CHUNK_SIZE", chunk), pytest.raises(FileFormatError) as info:
        lines_of(path)
    assert str(info.value).startswith(f"{path}:{k + 1}: invalid UTF-8"), str(info.value)

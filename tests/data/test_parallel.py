"""Parallel text readers: whitespace tokenisation, alignment checks, TSV."""

from __future__ import annotations

import gzip
import re
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crossling.data import read_parallel, read_parallel_tsv
from crossling.exceptions import AlignmentError, DataLossWarning, FileFormatError


def test_one_file_per_language(tmp_path):
    (tmp_path / "en.txt").write_text("The cat  sat.\n\nHello\tworld \n", encoding="utf-8")
    (tmp_path / "de.txt.gz").write_bytes(gzip.compress("Die Katze saß.\r\n\r\nHallo Welt".encode()))
    (tmp_path / "fr.txt").write_bytes("\ufeffLe chat\u00a0s'est assis.\n\nBonjour le monde\n".encode())
    result = read_parallel({"en": tmp_path / "en.txt", "de": tmp_path / "de.txt.gz", "fr": tmp_path / "fr.txt"})
    assert list(result) == ["en", "de", "fr"]
    en, de, fr = result.values()
    assert [s.forms for s in en] == [["The", "cat", "sat."], [], ["Hello", "world"]]
    assert [s.text for s in en] == ["The cat  sat.", "", "Hello\tworld "]
    assert [s.forms for s in de] == [["Die", "Katze", "saß."], [], ["Hallo", "Welt"]]
    # BOM dropped; a no-break space is whitespace for str.split().
    assert fr[0].forms == ["Le", "chat", "s'est", "assis."]
    assert [s.sent_id for s in fr] == ["1", "2", "3"] and [s.line for s in fr] == [1, 2, 3]
    assert [w.id for w in en[0].words] == [1, 2, 3] and en[0].words[0].lemma == "_" and en[0].words[0].head is None
    assert (en[0].lang, en[0].source) == ("en", "en.txt")


def test_different_lengths_name_both_files_and_counts(tmp_path):
    (tmp_path / "en.txt").write_text("a\nb\nc\n")
    (tmp_path / "de.txt").write_text("a\nb\n")
    (tmp_path / "fr.txt").write_text("a\nb\nc\n")
    with pytest.raises(AlignmentError) as info:
        read_parallel({"en": tmp_path / "en.txt", "de": tmp_path / "de.txt", "fr": tmp_path / "fr.txt"})
    message = str(info.value)
    assert f"{tmp_path / 'de.txt'} (de) has 2 segments but {tmp_path / 'en.txt'} (en) has 3" in message
    assert "fr.txt" not in message


def test_tsv_with_and_without_header(tmp_path):
    path = tmp_path / "bitext.tsv"
    path.write_text("en\tde\nthe cat\tdie Katze\nhello\tHallo\n")
    with_header = read_parallel_tsv(path)
    assert [s.forms for s in with_header["de"]] == [["die", "Katze"], ["Hallo"]]
    assert [s.sent_id for s in with_header["en"]] == ["2", "3"]
    without = read_parallel_tsv(path, ["a", "b"])
    assert [s.text for s in without["a"]] == ["en", "the cat", "hello"]


def test_tsv_wrong_column_count_names_file_and_line(tmp_path):
    path = tmp_path / "bad.tsv"
    path.write_text("en\tde\nthe cat\tdie Katze\nhello\n")
    with pytest.raises(ValueError, match=re.escape(f"{path}:3: expected 2 tab-separated columns (en, de), found 1")):
        read_parallel_tsv(path)
    with pytest.raises(ValueError, match="distinct"):
        read_parallel_tsv(path, ["en", "en"])


# --- the readers' file rules (crossling.data.textfile): faults at their line, the lenient reading ------------------


@pytest.mark.parametrize(
    ("data", "line", "message"),
    [
        (b"one\ntwo\nth\xe9e\n", 3, "invalid UTF-8 at byte 3 of the line"),
        ("one\ncafe\u0301\n".encode(), 2, "text not in Unicode NFC at column 4"),
        (b"one\n\xef\xbb\xbftwo\n", 2, "byte-order mark (U+FEFF) at column 1"),
        (b"", 1, "the file is empty (no segments)"),
        ("one\n".encode("utf-16"), 1, "the file starts with a UTF-16 byte-order mark"),
    ],
    ids=["invalid UTF-8", "not NFC", "BOM inside", "empty", "UTF-16"],
)
def test_text_file_faults_name_file_and_line(tmp_path, data, line, message):
    (tmp_path / "en.txt").write_text("a\nb\n")
    path = tmp_path / "de.txt"
    path.write_bytes(data)
    with pytest.raises(FileFormatError, match=re.escape(f"{path}:{line}: {message}")):
        read_parallel({"en": tmp_path / "en.txt", "de": path})


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("en \tde\na\tb\n", 1, "whitespace around the language name 'en ' in the header"),
        ("en\ten\na\tb\n", 1, "the header must name distinct languages, got ['en', 'en']"),
        ("en\t\na\tb\n", 1, "the header must name distinct languages, got ['en', '']"),
        ("en\tde\n", 1, "the file has a header but no segments"),
        ("en\tde\na\tb\ncafe\u0301\tc\n", 3, "text not in Unicode NFC"),
        ("en\tde\na\tb\nc\td\te\n", 3, "expected 2 tab-separated columns (en, de), found 3"),
    ],
    ids=["space in header", "repeated language", "empty language", "header only", "not NFC", "extra column"],
)
def test_tsv_faults_name_file_and_line(tmp_path, text, line, message):
    path = tmp_path / "bitext.tsv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(FileFormatError, match=re.escape(f"{path}:{line}: {message}")):
        read_parallel_tsv(path)


def test_lenient_reading_normalises_and_warns(tmp_path):
    (tmp_path / "en.txt").write_bytes("cafe\u0301 au lait\n\ufeffhello\n".encode())
    (tmp_path / "de.txt").write_text("Milchkaffee\nhallo\n")
    paths = {"en": tmp_path / "en.txt", "de": tmp_path / "de.txt"}
    with pytest.warns(DataLossWarning, match=r"en\.txt: the lenient reading changed the text: 1 x text not in Unicode "
                                             r"NFC \(first at line 1\); 1 x byte-order mark inside the file"):
        en = read_parallel(paths, lenient=True)["en"]
    assert [s.forms for s in en] == [["caf\xe9", "au", "lait"], ["hello"]]
    tsv = tmp_path / "bitext.tsv"
    tsv.write_text(" en\tde \ncafe\u0301\tKaffee\n", encoding="utf-8")
    with pytest.warns(DataLossWarning, match=r"2 x whitespace around a language name \(first at line 1\); 1 x text "
                                             r"not in Unicode NFC \(first at line 2\)"):
        result = read_parallel_tsv(tsv, lenient=True)
    assert list(result) == ["en", "de"] and result["en"][0].text == "caf\xe9"


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    segments=st.lists(
        st.tuples(*(st.text(st.characters(blacklist_categories=("Cs", "Cn"), blacklist_characters="\n\r\t\ufeff"))
                    .map(lambda t: unicodedata.normalize("NFC", t)) for _ in range(2))),
        min_size=1, max_size=20),
    crlf=st.booleans(),
)  # fmt: skip
def test_random_parallel_text_round_trips(tmp_path, segments, crlf):
    end = "\r\n" if crlf else "\n"
    paths = {}
    for k, lang in enumerate(("en", "de")):
        paths[lang] = tmp_path / f"{lang}.txt"
        paths[lang].write_bytes((end.join(s[k] for s in segments) + end).encode())
    result = read_parallel(paths)
    for k, lang in enumerate(("en", "de")):
        assert [s.text for s in result[lang]] == [s[k] for s in segments]
        assert [s.forms for s in result[lang]] == [s[k].split() for s in segments]
    tsv = tmp_path / "bitext.tsv"
    tsv.write_bytes(end.join(["en\tde", *("\t".join(s) for s in segments)]).encode())
    from_tsv = read_parallel_tsv(tsv)
    assert [[s.text for s in from_tsv[lang]] for lang in ("en", "de")] == [[s[k] for s in segments] for k in (0, 1)]


def _xnli(folder, rows):
    folder.mkdir(exist_ok=True)
    for lang, lines in rows.items():
        body = "".join(f"{premise}\t{hypo}\t{label}\n" for premise, hypo, label in lines)
        (folder / f"multinli.train.{lang}.tsv").write_text("premise\thypo\tlabel\n" + body, encoding="utf-8")


def test_xnli_style_files_give_the_hypotheses_row_by_row(tmp_path):
    from crossling.data import read_xnli
    from crossling.data.corpus import load_corpus

    _xnli(tmp_path / "x", {"en": [("A man sleeps .", "Nobody sleeps .", "contradiction"),
                                  ("It rains .", "It is wet .", "entailment"), ("Go .", "Stay .", "neutral")],
                           "de": [("Ein Mann schläft .", "Niemand schläft .", "contradiction"),
                                  ("Es regnet .", "Es ist nass .", "entailment"), ("Geh .", "Bleib .", "neutral")]})
    corpus = read_xnli(tmp_path / "x", ["en", "de"])
    assert [s.text for s in corpus["de"]] == ["Niemand schläft .", "Es ist nass .", "Bleib ."]
    assert [s.sent_id for s in corpus["en"]] == ["1", "2", "3"] and corpus["en"][0].line == 2
    assert corpus["en"][1].forms == ["It", "is", "wet", "."] and corpus["en"][0].source == "multinli.train.en.tsv"
    assert list(read_xnli(tmp_path / "x")) == ["de", "en"]  # every language found, in name order
    # through a corpus spec: the first N hypotheses (the paper's data shape), or another column
    first = load_corpus(f"xnli:{tmp_path / 'x'}", ["en", "de"], limit=2)
    assert [s.text for s in first["en"]] == ["Nobody sleeps .", "It is wet ."]
    premises = load_corpus(f"xnli:{tmp_path / 'x'}#premise", ["de"])
    assert premises["de"][2].text == "Geh ."


def test_xnli_style_errors_name_the_file(tmp_path):
    from crossling.data import read_xnli
    from crossling.data.corpus import check_parallel_spec, load_corpus
    from crossling.exceptions import CorpusSpecError

    _xnli(tmp_path / "x", {"en": [("a", "b", "c"), ("d", "e", "f")], "fr": [("a", "b", "c")]})
    with pytest.raises(AlignmentError, match="multinli.train.fr.tsv has 1 rows but multinli.train.en.tsv has 2"):
        read_xnli(tmp_path / "x")
    with pytest.raises(CorpusSpecError, match="no column 'sentence2'"):
        load_corpus(f"xnli:{tmp_path / 'x'}#sentence2", ["en"])
    with pytest.raises(CorpusSpecError, match="no TSV file for ja"):
        load_corpus(f"xnli:{tmp_path / 'x'}", ["ja"])
    check_parallel_spec(f"xnli:{tmp_path / 'x'}", "the similarity study")  # parallel: accepted


def test_a_tsv_with_a_column_per_language_is_a_corpus_spec(tmp_path):
    from crossling.data.corpus import load_corpus

    path = tmp_path / "xnli.15way.orig.tsv"
    path.write_text("en\tde\tfr\nthe cat\tdie Katze\tle chat\nhello\tHallo\tbonjour\n")
    corpus = load_corpus(f"tsv:{path}", ["fr", "en"], limit=1)
    assert list(corpus) == ["fr", "en"] and corpus["fr"][0].text == "le chat"

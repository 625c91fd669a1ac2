"""Parallel text readers: whitespace tokenisation, alignment checks, TSV."""

from __future__ import annotations

import gzip
import re

import pytest

from crossling.data import read_parallel, read_parallel_tsv
from crossling.exceptions import AlignmentError


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

"""The CoNLL-U reader: values on a hand-written file, every validation error, and all real UD files."""

from __future__ import annotations

import gzip
import json
import re
import unicodedata
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from unittest import mock

import conllu
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crossling.data import ConlluCounts, count_conllu, infer_lang, read_conllu, textfile
from crossling.exceptions import ConlluError, DataLossWarning

SAMPLE = """\
# newdoc id = d1
# sent_id = s1
# text = Du bist es.
# orig_file_sentence test001#1
1-2\tDu\t_\t_\t_\t_\t_\t_\t_\tSpaceAfter=No
1\tD\tde\tADP\tAPPR\t_\t3\tcase\t_\t_
2\tu\tle\tDET\tART\tDefinite=Def|PronType=Art\t3\tdet\t_\t_
3\tbist\tsein\tAUX\tVAFIN\tMood=Ind|Number=Sing|Person=2\t0\troot\t_\t_
3.1\tist\tsein\tAUX\t_\t_\t_\t_\t3:conj\t_
4\tes\tes\tPRON\tPPER\tCase=Acc,Nom\t3\tnsubj\t_\tSpaceAfter=No
5\t.\t.\tPUNCT\t$.\t_\t3\tpunct\t_\t_

1\tHallo\thallo\tINTJ\tITJ\t_\t_\troot\t_\t_

"""


def write(tmp_path: Path, text: str, name: str = "de_test.conllu", *, gz: bool = False) -> Path:
    path = tmp_path / name
    data = text.encode("utf-8")
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def test_reads_words_ranges_comments(tmp_path):
    path = write(tmp_path, SAMPLE)
    first, second = read_conllu(path)
    assert first.lang == "de" and first.sent_id == "s1" and first.text == "Du bist es."
    assert first.comments == {
        "newdoc id": "d1", "sent_id": "s1", "text": "Du bist es.", "orig_file_sentence test001#1": "",
    }  # fmt: skip
    assert first.forms == ["D", "u", "bist", "es", "."]
    assert [w.id for w in first.words] == [1, 2, 3, 4, 5]
    assert [w.head for w in first.words] == [3, 3, 0, 3, 3]
    assert first.words[1].feats == {"Definite": "Def", "PronType": "Art"}
    assert first.words[3].feats == {"Case": "Acc,Nom"}
    assert first.words[0].feats == {} and first.words[4].misc == "_"
    assert (first.words[2].lemma, first.words[2].upos, first.words[2].xpos) == ("sein", "AUX", "VAFIN")
    assert [(m.first, m.last, m.form, m.misc) for m in first.multiword] == [(1, 2, "Du", "SpaceAfter=No")]
    assert (first.source, first.line) == ("de_test.conllu", 1)
    # No sent_id: file name and 1-based position; HEAD "_" is None.
    assert second.sent_id == "de_test.conllu:2" and second.line == 13 and second.text is None
    assert second.words[0].head is None


def test_counts(tmp_path):
    assert count_conllu(write(tmp_path, SAMPLE)) == ConlluCounts(2, 6, 1, 1, 3)


def test_gzip_crlf_and_missing_final_blank_line_read_the_same(tmp_path):
    plain = list(read_conllu(write(tmp_path, SAMPLE)))
    variants = [
        write(tmp_path, SAMPLE, "de_a.conllu.gz", gz=True),
        write(tmp_path, SAMPLE.replace("\n", "\r\n"), "de_b.conllu"),
        write(tmp_path, SAMPLE.rstrip("\n"), "de_c.conllu"),
        write(tmp_path, SAMPLE.replace("\n\n1\tHallo", "\n\n\n\n1\tHallo"), "de_d.conllu"),
    ]
    for path in variants:
        got = list(read_conllu(path))
        assert [(s.sent_id.split(":")[-1], s.words, s.multiword, s.comments) for s in got] == [
            (s.sent_id.split(":")[-1], s.words, s.multiword, s.comments) for s in plain
        ], path.name


def test_lang_inferred_or_given(tmp_path):
    assert infer_lang("x/en_pud.conllu.gz") == "en" and infer_lang("fil_x.conllu") == "fil"
    path = write(tmp_path, SAMPLE, "sample.conllu")
    with pytest.raises(ValueError, match="pass lang="):
        read_conllu(path)
    with pytest.raises(FileNotFoundError, match="xx_missing.conllu"):
        read_conllu(tmp_path / "xx_missing.conllu")
    assert next(read_conllu(path, lang="de")).lang == "de"


def test_words_do_not_share_feats_dicts(tmp_path):
    text = "1\ta\ta\tNOUN\t_\tNumber=Sing\t0\troot\t_\t_\n2\tb\tb\tNOUN\t_\tNumber=Sing\t1\tdep\t_\t_\n"
    (sentence,) = read_conllu(write(tmp_path, text), lang="xx")
    sentence.words[0].feats["Number"] = "Plur"
    assert sentence.words[1].feats == {"Number": "Sing"}


W1 = "1\ta\ta\tNOUN\t_\t_\t0\troot\t_\t_"
W2 = "2\tb\tb\tNOUN\t_\t_\t1\tdep\t_\t_"

MALFORMED = [
    ("9 columns", f"# sent_id = 1\n{W1}\n2\tb\tb\tNOUN\t_\t_\t1\tdep\t_\n", 3,
     "expected 10 tab-separated columns, found 9"),
    ("bad id sequence", f"{W1}\n{W2.replace('2', '3', 1)}\n", 2, "bad ID sequence: ID 3 follows word 1"),
    ("id not starting at 1", W2 + "\n", 1, "bad ID sequence"),
    ("leading zero id", W1.replace("1", "01", 1) + "\n", 1, "invalid ID '01'"),
    ("broken FEATS pair", f"{W1}\n2\tb\tb\tNOUN\t_\tCase=Nom|Number\t1\tdep\t_\t_\n", 2, "broken FEATS item 'Number'"),
    ("FEATS without value", W1.replace("\t_\t0", "\tNumber=\t0") + "\n", 1, "broken FEATS item 'Number='"),
    ("repeated feature", W1.replace("\t_\t0", "\tCase=Nom|Case=Acc\t0") + "\n", 1, "feature 'Case' repeated"),
    ("non-integer HEAD", f"{W1}\n{W2.replace(chr(9) + '1' + chr(9), chr(9) + 'x' + chr(9))}\n", 2,
     "HEAD must be a non-negative integer"),
    ("negative HEAD", f"{W1}\n{W2.replace(chr(9) + '1' + chr(9), chr(9) + '-1' + chr(9))}\n", 2, "HEAD must be"),
    ("HEAD past the end", f"{W1}\n{W2.replace(chr(9) + '1' + chr(9), chr(9) + '7' + chr(9))}\n", 2,
     "HEAD 7 points past the last word (2)"),
    ("comment after tokens", f"{W1}\n# note = x\n{W2}\n", 2, "comment after the token lines"),
    ("reversed range", f"2-1\tab\t_\t_\t_\t_\t_\t_\t_\t_\n{W1}\n", 1, "bad multiword range '2-1'"),
    ("range not at next word", f"{W1}\n1-2\tab\t_\t_\t_\t_\t_\t_\t_\t_\n{W2}\n", 2, "must start at the next word (2)"),
    ("range past the end", f"1-3\tab\t_\t_\t_\t_\t_\t_\t_\t_\n{W1}\n{W2}\n\n", 4,
     "range reaches word 3 but the sentence has 2"),
    ("range with a lemma", f"1-2\tab\tx\t_\t_\t_\t_\t_\t_\t_\n{W1}\n", 1, "may fill only FORM and MISC"),
    ("empty node out of place", f"{W1}\n1.2\tx\t_\t_\t_\t_\t_\t_\t_\t_\n", 2, "bad empty node ID 1.2: expected 1.1"),
    ("empty node zero index", f"{W1}\n1.0\tx\t_\t_\t_\t_\t_\t_\t_\t_\n", 2, "invalid empty node ID '1.0'"),
    ("empty column", W1.replace("\troot", "\t") + "\n", 1, "empty DEPREL column"),
    ("repeated sent_id", f"# sent_id = a\n{W1}\n\n# sent_id = a\n{W1}\n", 4, "sent_id 'a' repeated (first at line 1)"),
    ("repeated comment key", f"# text = a\n# text = b\n{W1}\n", 2, "comment key 'text' repeated"),
    ("comments without tokens", f"# sent_id = a\n\n{W1}\n", 2, "comment lines but no token lines"),
    ("file ends in comments", f"{W1}\n\n# sent_id = b\n", 3, "file ends with comment lines"),
    ("CoNLL-U Plus", f"# global.columns = ID FORM UPOS\n{W1}\n", 1, "CoNLL-U Plus columns"),
    ("spaces instead of tabs", W1.replace("\t", "  ") + "\n", 1, "found 1"),
]  # fmt: skip




def word(id="1", form="a", lemma="a", upos="NOUN", xpos="_", feats="_", head="0", deprel="root", deps="_", misc="_"):
    """One token line; the defaults make a valid one-word sentence."""
    return "\t".join((id, form, lemma, upos, xpos, feats, head, deprel, deps, misc))


def one(**columns) -> str:
    """A file of one sentence: a valid first word, then a second word with ``columns`` changed."""
    second = {"id": "2", "form": "b", "lemma": "b", "head": "1", "deprel": "dep", **columns}
    return f"# sent_id = 1\n{W1}\n{word(**second)}\n"


MWT = "2-3\tbc\t_\t_\t_\t_\t_\t_\t_\t_"

# The format rules of UD's validator (levels 1 and 2) that the reader enforces, one or more cases per kind; in
# each, the fault is on line 3 unless said otherwise.
UD_RULES = [
    # whitespace
    ("trailing space in UPOS", one(upos="PUNCT "), 3, "trailing whitespace in UPOS 'PUNCT '"),
    ("leading space in UPOS", one(upos=" NOUN"), 3, "leading whitespace in UPOS ' NOUN'"),
    ("space inside XPOS", one(xpos="NN S"), 3, "whitespace inside XPOS 'NN S'"),
    ("space inside FEATS", one(feats="Case=Nom| Number=Sing"), 3, "whitespace inside FEATS 'Case=Nom| Number=Sing'"),
    ("space inside DEPREL", one(deprel="nsubj :pass"), 3, "whitespace inside DEPREL 'nsubj :pass'"),
    ("ideographic space inside DEPS", one(deps="1:\u3000dep"), 3, "whitespace inside DEPS '1:\\u3000dep'"),
    ("space after ID", one(id="2 "), 3, "trailing whitespace in ID '2 '"),
    ("space before HEAD", one(head=" 1"), 3, "leading whitespace in HEAD ' 1'"),
    ("leading space in FORM", one(form=" b"), 3, "leading whitespace in FORM ' b'"),
    ("trailing space in LEMMA", one(lemma="b "), 3, "trailing whitespace in LEMMA 'b '"),
    ("no-break space ending FORM", one(form="b\xa0"), 3, "trailing whitespace in FORM 'b\\xa0'"),
    ("two spaces inside FORM", one(form="b  c"), 3, "two whitespace characters in a row in FORM 'b  c'"),
    ("thin spaces inside MISC", one(misc="Gloss=a\u2009\u2009b"), 3, "two whitespace characters in a row in MISC"),
    ("carriage return inside MISC", one(misc="Space\rAfter=No"), 3, "carriage return inside MISC 'Space\\rAfter=No'"),
    ("line of spaces", f"{W1}\n  \n\n{W1}\n", 2, "a line of only whitespace '  ' (a blank line must be empty)"),
    ("line of a tab", f"{W1}\n\t\n", 2, "a line of only whitespace '\\t'"),
    # FEATS
    ("FEATS A=B=C", one(feats="Case=Nom=Acc"), 3, "FEATS item 'Case=Nom=Acc' has more than one '='"),
    ("lower-case feature name", one(feats="case=Nom"), 3, "feature name 'case' in 'case=Nom'"),
    ("lower-case feature value", one(feats="Case=nom"), 3, "value 'nom' of feature 'Case' in 'Case=nom'"),
    ("upper-case layer", one(feats="Number[Psor]=Sing"), 3, "feature name 'Number[Psor]'"),
    ("hyphen in a value", one(feats="Case=Nom-Acc"), 3, "value 'Nom-Acc' of feature 'Case'"),
    ("empty value in a list", one(feats="Case=Acc,"), 3, "value '' of feature 'Case'"),
    ("empty FEATS item", one(feats="Case=Nom||Number=Sing"), 3, "broken FEATS item '' (expected Name=Value)"),
    ("repeated value", one(feats="Case=Acc,Acc"), 3, "feature 'Case' repeats the value 'Acc' in 'Case=Acc,Acc'"),
    ("unsorted values", one(feats="Case=Nom,Acc"), 3,
     "values of feature 'Case' are not sorted in 'Case=Nom,Acc': expected 'Acc,Nom'"),
    ("unsorted items", one(feats="Number=Sing|Case=Nom"), 3,
     "FEATS items are not sorted by name (case-insensitively): 'Number=Sing|Case=Nom' should be "
     "'Case=Nom|Number=Sing'"),
    ("layer before its plain feature", one(feats="Number[psor]=Sing|Number=Plur"), 3,
     "should be 'Number=Plur|Number[psor]=Sing'"),
    # UPOS and DEPREL
    ("unknown UPOS", one(upos="NOUNS"), 3, "UPOS 'NOUNS' is not one of the 17 universal tags (ADJ ADP"),
    ("lower-case UPOS", one(upos="noun"), 3, "UPOS 'noun' is not one of the 17 universal tags"),
    ("UD v1 UPOS CONJ", one(upos="CONJ"), 3, "UPOS 'CONJ' is not one of the 17 universal tags"),
    ("capitalised DEPREL", one(deprel="Nsubj"), 3, "DEPREL 'Nsubj' is not a universal relation"),
    ("DEPREL with two subtypes", one(deprel="nmod:poss:x"), 3, "DEPREL 'nmod:poss:x' is not a universal relation"),
    ("digit in DEPREL", one(deprel="obl2"), 3, "DEPREL 'obl2' is not a universal relation"),
    # Unicode
    ("decomposed FORM", one(form="cafe\u0301"), 3, "text not in Unicode NFC at column 6: 'e\\u0301' should be '\\xe9'"),
    ("decomposed # text", f"# sent_id = 1\n# text = cafe\u0301\n{W1}\n", 2, "text not in Unicode NFC at column 13"),
    ("Angstrom sign in LEMMA", one(lemma="\u212b"), 3, "'\\u212b' should be '\\xc5'"),
    ("byte-order mark of a joined file", f"{W1}\n\n\ufeff# sent_id = 2\n{W1}\n", 3,
     "byte-order mark (U+FEFF) at column 1, not at the start of the file"),
    # multiword tokens and empty nodes
    ("empty node after a later range",
     f"{W1}\n{MWT}\n1.1\te\t_\t_\t_\t_\t_\t_\t_\t_\n{word('2', 'b', head='1', deprel='dep')}\n"
     f"{word('3', 'c', head='1', deprel='dep')}\n", 3,
     "empty node 1.1 comes after the multiword range 2-3, which starts after word 1: it belongs before that range"),
    ("range with FEATS Typo=No", "1-2\tab\t_\t_\t_\tTypo=No\t_\t_\t_\t_\n" + W1 + "\n" + W2 + "\n", 1,
     "may fill only FORM and MISC (and FEATS with 'Typo=Yes')"),
    ("range with Typo=Yes and a lemma", "1-2\tab\tab\t_\t_\tTypo=Yes\t_\t_\t_\t_\n" + W1 + "\n" + W2 + "\n", 1,
     "may fill only FORM and MISC"),
    # comments and files
    ("second sent_id in a sentence", f"# sent_id = a\n# sent_id = b\n{W1}\n", 2,
     "comment key 'sent_id' repeated in one sentence (one sent_id per sentence)"),
    ("empty file", "", 1, "no sentences: the file is empty"),
    ("blank lines only", "\n\n\n", 3, "no sentences: the file has only blank lines"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("what", "text", "line", "message"), MALFORMED + UD_RULES, ids=[m[0] for m in MALFORMED + UD_RULES]
)
def test_malformed_input_names_file_line_and_fault(tmp_path, what, text, line, message):
    path = write(tmp_path, text, "xx_bad.conllu")
    with pytest.raises(ConlluError, match=re.escape(message)) as info:
        list(read_conllu(path))
    assert str(info.value).startswith(f"{path}:{line}: "), str(info.value)
    assert isinstance(info.value, ValueError)


def test_truncated_gzip_names_file_and_last_line_read(tmp_path):
    block = "".join(f"# sent_id = {k}\n{W1}\n{W2}\n\n" for k in range(20_000))
    data = gzip.compress(block.encode())
    path = tmp_path / "xx_cut.conllu.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ConlluError, match="truncated or corrupt gzip stream") as info:
        list(read_conllu(path))
    last = int(re.match(rf"{re.escape(str(path))}:(\d+): ", str(info.value)).group(1))
    assert 0 < last < block.count("\n")
    # Every sentence before the reported line was read intact.
    sentences = []
    with pytest.raises(ConlluError):
        for s in read_conllu(path):
            sentences.append(s)
    assert sentences and sentences[-1].line < last and len(sentences) >= last // 4 - 1


def test_invalid_utf8_names_file(tmp_path):
    path = tmp_path / "xx_latin1.conllu"
    path.write_bytes(f"{W1}\n".replace("a\ta", "\xe9\ta").encode("latin-1"))
    with pytest.raises(ConlluError, match=rf"{re.escape(str(path))}:1: invalid UTF-8"):
        list(read_conllu(path))


# --- real data -------------------------------------------------------------------------------------------


def _manifest(data_dir: Path) -> list[dict]:
    manifest = json.loads((data_dir / "ud" / "MANIFEST.json").read_text())
    return [f for f in manifest["files"] if f["kind"] == "conllu"]


def test_all_ud_files_match_manifest_counts(data_dir):
    entries = _manifest(data_dir)
    assert len(entries) == 83
    for entry in entries:
        got = count_conllu(data_dir / "ud" / entry["path"])
        fields = ("sentences", "tokens", "multiword_tokens", "empty_nodes", "tokens_with_feats")
        expected = ConlluCounts(*(entry[f] for f in fields))
        assert got == expected, entry["path"]
        assert entry["sentences_with_sent_id"] == entry["sentences"]


# DEPS and MISC are compared as raw strings: conllu's parsers for them (a regex per DEPS) are a sixth of its
# time and test nothing we parse.
_RAW = {"deps": lambda cols, i: cols[i], "misc": lambda cols, i: cols[i]}


def _differences_from_conllu(path: Path) -> tuple[int, list]:
    """Compare our reader with the conllu library on one file: (words compared, differences)."""
    differences: list = []
    n = 0
    with gzip.open(path, "rt", encoding="utf-8") as stream:
        for ours, ref in zip(read_conllu(path), conllu.parse_incr(stream, field_parsers=_RAW), strict=True):
            ref_words = [t for t in ref if isinstance(t["id"], int)]
            ref_ranges = [t for t in ref if isinstance(t["id"], tuple) and t["id"][1] == "-"]
            got = [
                (w.id, w.form, w.lemma, w.upos, w.xpos, w.feats, w.head, w.deprel, w.deps, w.misc) for w in ours.words
            ]
            want = [
                (t["id"], t["form"], t["lemma"], t["upos"], t["xpos"] or "_", t["feats"] or {}, t["head"], t["deprel"],
                 t["deps"], t["misc"])
                for t in ref_words
            ]  # fmt: skip
            if got != want:
                differences.append((ours.sent_id, [(a, b) for a, b in zip(got, want) if a != b][:3]))
            ranges = [(t["id"][0], t["id"][2], t["form"], t["misc"]) for t in ref_ranges]
            if [(m.first, m.last, m.form, m.misc) for m in ours.multiword] != ranges:
                differences.append((ours.sent_id, "multiword"))
            # conllu keeps only comments with a value (and newdoc/newpar); everything it keeps we keep the same.
            kept = {k: v or None for k, v in ours.comments.items() if v or k in ("newdoc", "newpar")}
            if kept != dict(ref.metadata):
                differences.append((ours.sent_id, kept, dict(ref.metadata)))
            n += len(got)
    return n, differences


@pytest.mark.slow
def test_all_ud_files_equal_the_conllu_library(data_dir):
    paths = sorted((data_dir / "ud").glob("*/*.conllu.gz"))
    assert len(paths) == 83
    with ProcessPoolExecutor(max_workers=2) as pool:
        results = dict(zip(paths, pool.map(_differences_from_conllu, paths)))
    assert {p.name: d for p, (_, d) in results.items() if d} == {}
    assert sum(n for n, _ in results.values()) == 1_785_045


# --- UD's format rules: valid input that must read, faults at the right line, the lenient reading ----------------


def test_valid_input_that_ud_allows(tmp_path):
    text = "\n".join([
        "# sent_id = v1",
        "# note = first",
        "# note = second",
        "# bare comment",
        "# bare comment",
        W1,
        "1.1\te\t_\t_\t_\t_\t_\t_\t1:dep\t_",  # an empty node before the range that starts after it
        "2-3\tbc\t_\t_\t_\tTypo=Yes\t_\t_\t_\tSpaceAfter=No",  # the one feature UD allows on a multiword token
        word("2", "b c", "b c", feats="Number=Plur|Number[psor]=Sing", head="1", deprel="nmod:poss"),
        "2.1\tf\t_\t_\t_\t_\t_\t_\t2:dep\t_",  # an empty node inside a range
        word("3", "10\xa0000", "10\xa0000", "NUM", head="1", deprel="nummod", misc="Gloss=ten thousand"),
        "",
    ]) + "\n"  # fmt: skip
    (sentence,) = read_conllu(write(tmp_path, text))
    assert sentence.comments == {"sent_id": "v1", "note": "first\nsecond", "bare comment": "\n"}
    assert [(m.first, m.last, m.form, m.misc, m.feats) for m in sentence.multiword] == [
        (2, 3, "bc", "SpaceAfter=No", {"Typo": "Yes"})
    ]
    assert sentence.forms == ["a", "b c", "10\xa0000"]
    assert sentence.words[1].feats == {"Number": "Plur", "Number[psor]": "Sing"}
    assert sentence.words[2].misc == "Gloss=ten thousand"
    assert count_conllu(write(tmp_path, text)) == ConlluCounts(1, 3, 1, 2, 1)


def test_bom_at_the_start_is_dropped_and_utf16_is_named(tmp_path):
    plain = list(read_conllu(write(tmp_path, SAMPLE)))
    with_bom = tmp_path / "de_bom.conllu"
    with_bom.write_bytes(b"\xef\xbb\xbf" + SAMPLE.encode())
    assert [(s.words, s.comments) for s in read_conllu(with_bom)] == [(s.words, s.comments) for s in plain]
    utf16 = tmp_path / "de_utf16.conllu"
    utf16.write_bytes(SAMPLE.encode("utf-16"))
    with pytest.raises(ConlluError, match=re.escape(f"{utf16}:1: the file starts with a UTF-16 byte-order mark")):
        list(read_conllu(utf16))


@pytest.mark.parametrize("final_blank_line", [True, False])
def test_crlf_across_the_read_boundary(tmp_path, final_blank_line):
    """The CR of a line end is the last byte of one 64 KiB read and its LF the first of the next."""
    blocks = [f"# sent_id = s{k}\r\n{W1}\r\n{W2}\r\n\r\n" for k in range(textfile._CHUNK_SIZE // 40)]
    n = next(k for k in range(len(blocks)) if len("".join(blocks[: k + 1])) > textfile._CHUNK_SIZE - 200)
    body = "".join(blocks[:n])
    # Pad the MISC of the last word so that its CR falls on the last byte of the first read.
    last = f"# sent_id = last\r\n{W1}\r\n{W2[:-1]}"
    misc = "x" * (textfile._CHUNK_SIZE - 1 - len(body) - len(last))
    text = body + last + misc + "\r\n" + ("\r\n" if final_blank_line else "")
    path = write(tmp_path, text)
    assert path.read_bytes()[textfile._CHUNK_SIZE - 1 : textfile._CHUNK_SIZE + 1] == b"\r\n"
    sentences = list(read_conllu(path))
    assert len(sentences) == n + 1
    assert sentences[-1].words[-1].misc == misc and sentences[-2].words[-1].misc == "_"


def test_invalid_utf8_is_reported_at_its_line(tmp_path):
    lines = "".join(f"# sent_id = {k}\n# text = a b\n{W1}\n{W2}\n\n" for k in range(2000)).encode().split(b"\n")
    for line in (4, 5001):  # a word line, and a comment line some 100 KiB into the file
        bad = lines.copy()
        bad[line - 1] = bad[line - 1][:2] + b"\xe9" + bad[line - 1][2:]
        bad = b"\n".join(bad)
        for gz in (False, True):
            path = write(tmp_path, "", f"xx_{line}{'.gz' if gz else ''}.conllu")
            path.write_bytes(gzip.compress(bad) if gz else bad)
            with pytest.raises(ConlluError, match=re.escape(f"{path}:{line}: invalid UTF-8 at byte 3 of the line")):
                list(read_conllu(path))


def test_the_first_fault_of_the_file_is_the_one_reported(tmp_path):
    """A column fault on line 3 comes before a bad byte on line 4 and a non-NFC line 5, whatever their kinds."""
    data = f"{W1}\n{W2}\n{word('3', upos='NOUNS', head='1')}\n".encode() + b"\xff\n" + "e\u0301\n".encode()
    path = write(tmp_path, "", "xx_first.conllu")
    path.write_bytes(data)
    with pytest.raises(ConlluError, match=re.escape(f"{path}:3: UPOS 'NOUNS'")):
        list(read_conllu(path))
    path.write_bytes(data.replace(b"NOUNS", b"NOUN"))
    with pytest.raises(ConlluError, match=re.escape(f"{path}:4: invalid UTF-8")):
        list(read_conllu(path))


REPAIRABLE = "\n".join([
    "# sent_id = r1",
    "# text = cafe\u0301 b",
    word("1", " cafe\u0301", "cafe\u0301 ", "NOUN ", feats="Number=Sing|Case=Nom"),
    word("2", "b", "b  b", head="1", deprel="dep", feats="Case=Nom,Acc,Acc"),
    " \t ",
    "\ufeff# sent_id = r2",
    word(misc="SpaceAfter=No\u2009"),
]) + "\n"  # fmt: skip
REPAIRED = "\n".join([
    "# sent_id = r1",
    "# text = caf\xe9 b",
    word("1", "caf\xe9", "caf\xe9", "NOUN", feats="Case=Nom|Number=Sing"),
    word("2", "b", "b b", head="1", deprel="dep", feats="Case=Acc,Nom"),
    "",
    "# sent_id = r2",
    word(misc="SpaceAfter=No"),
]) + "\n"  # fmt: skip


def test_lenient_reading_repairs_and_counts(tmp_path):
    path = write(tmp_path, REPAIRABLE, "xx_lenient.conllu")
    with pytest.raises(ConlluError, match=re.escape(f"{path}:2: text not in Unicode NFC")):
        list(read_conllu(path))
    with pytest.warns(DataLossWarning) as record:
        got = list(read_conllu(path, lenient=True))
    want = list(read_conllu(write(tmp_path, REPAIRED, "xx_clean.conllu")))
    assert [(s.sent_id, s.text, s.words, s.comments) for s in got] == [
        (s.sent_id, s.text, s.words, s.comments) for s in want
    ]
    (warning,) = record
    assert str(warning.message) == (
        f"{path}: the lenient reading changed the text: 2 x text not in Unicode NFC (first at line 2); "
        "3 x whitespace at the ends of a column or repeated (first at line 3); "
        "2 x FEATS not sorted or with a repeated value (first at line 3); 1 x line of only whitespace "
        "(first at line 5); 1 x byte-order mark inside the file (first at line 6); "
        "a strict reading refuses the file"
    )
    with pytest.warns(DataLossWarning):
        assert count_conllu(path, lenient=True) == count_conllu(write(tmp_path, REPAIRED, "xx_clean.conllu"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (one(upos="NO UN"), "whitespace inside UPOS 'NO UN'"),
        (one(upos=" NOUNS "), "UPOS 'NOUNS' is not one of"),
        (one(feats="case=Nom"), "feature name 'case'"),
        (one(feats="Case=Nom|Case=Acc"), "feature 'Case' repeated"),
        (one(misc="a\rb"), "carriage return inside MISC"),
    ],
)
def test_lenient_reading_does_not_guess(tmp_path, text, message):
    path = write(tmp_path, text, "xx_guess.conllu")
    with pytest.raises(ConlluError, match=re.escape(f"{path}:3: {message}")):
        list(read_conllu(path, lenient=True))


# --- properties: random valid files round-trip, random corruptions name their line --------------------------------

_UPOS = sorted("ADJ ADP ADV AUX CCONJ DET INTJ NOUN NUM PART PRON PROPN PUNCT SCONJ SYM VERB X".split()) + ["_"]
# Letters of several scripts, digits and punctuation: all NFC and none whitespace.
_CHARS = st.sampled_from(list("abzAZ09.,;-'\"()éßøŁяЖשׁ中文日本ह्िअ한국ğİ#=|_:%"))
_TOKEN = st.text(_CHARS, min_size=1, max_size=6).map(lambda t: unicodedata.normalize("NFC", t)).filter(
    lambda t: unicodedata.is_normalized("NFC", t)
)
# A FORM or LEMMA: one or two tokens joined by a single space or no-break space (UD allows such forms).
_FORM = st.one_of(_TOKEN, st.tuples(_TOKEN, st.sampled_from([" ", "\xa0"]), _TOKEN).map("".join))
_FEATURES = {"Case": ["Acc", "Dat", "Nom"], "Number": ["Plur", "Sing"], "Number[psor]": ["Plur", "Sing"],
             "Person": ["1", "2", "3"], "PronType": ["Int", "Rel"], "Typo": ["Yes"]}  # fmt: skip


@st.composite
def _feats(draw) -> dict[str, str]:
    names = draw(st.lists(st.sampled_from(sorted(_FEATURES)), unique=True, max_size=3))
    feats = {}
    for name in sorted(names, key=lambda n: (n + "=").lower()):
        values = draw(st.lists(st.sampled_from(_FEATURES[name]), min_size=1, max_size=2, unique=True))
        feats[name] = ",".join(sorted(values, key=str.lower))
    return feats


@st.composite
def _sentence(draw, k: int) -> dict:
    n = draw(st.integers(1, 6))
    words = [
        {
            "form": draw(_FORM), "lemma": draw(st.one_of(st.just("_"), _FORM)), "upos": draw(st.sampled_from(_UPOS)),
            "xpos": draw(st.sampled_from(["_", "NN", "VVFIN", "$."])), "feats": draw(_feats()),
            "head": draw(st.one_of(st.none(), st.integers(0, n))),
            "deprel": draw(st.sampled_from(["_", "root", "nsubj", "obl:tmod", "nmod:poss"])),
            "deps": draw(st.sampled_from(["_", "0:root", "1:nsubj|2:obj"])),
            "misc": draw(st.sampled_from(["_", "SpaceAfter=No", "Gloss=a b", "Translit=ša"])),
        }
        for _ in range(n)
    ]  # fmt: skip
    # Multiword ranges over pairs of words, and empty nodes after words (placed before a range starting next).
    starts = sorted(draw(st.sets(st.integers(1, n - 1), max_size=2))) if n > 1 else []
    ranges, last = [], 0
    for first in starts:
        if first > last:
            ranges.append((first, first + 1, draw(_TOKEN), draw(st.sampled_from(["_", "SpaceAfter=No"])),
                           draw(st.sampled_from([{}, {"Typo": "Yes"}]))))  # fmt: skip
            last = first + 1
    empty = draw(st.lists(st.integers(0, n), max_size=2))
    comments = {"sent_id": f"s{k}"}
    if draw(st.booleans()):
        comments["text"] = " ".join(w["form"] for w in words)
    for key in draw(st.lists(st.sampled_from(["note", "newpar", "bare remark"]), max_size=3)):
        value = "" if key == "bare remark" else draw(_TOKEN)
        comments[key] = f"{comments[key]}\n{value}" if key in comments else value
    return {"words": words, "ranges": ranges, "empty": empty, "comments": comments}


def _conllu_lines(sentence: dict) -> list[tuple[str, str]]:
    """The lines of one sentence, each with its kind ("comment", "word", "range", "empty")."""
    lines = []
    for key, values in sentence["comments"].items():
        for value in values.split("\n"):
            lines.append(("comment", f"# {key}" if key == "bare remark" else f"# {key} = {value}"))
    ranges = {r[0]: r for r in sentence["ranges"]}
    n_empty = {i: sentence["empty"].count(i) for i in set(sentence["empty"])}
    for j in range(1, n_empty.get(0, 0) + 1):
        lines.append(("empty", f"0.{j}\te\t_\t_\t_\t_\t_\t_\t_\t_"))
    for i, w in enumerate(sentence["words"], 1):
        if i in ranges:
            first, last, form, misc, feats = ranges[i]
            lines.append(("range", f"{first}-{last}\t{form}\t_\t_\t_\t{'Typo=Yes' if feats else '_'}\t_\t_\t_\t{misc}"))
        feats = "|".join(f"{k}={v}" for k, v in w["feats"].items()) or "_"
        head = "_" if w["head"] is None else str(w["head"])
        lines.append(("word", "\t".join((str(i), w["form"], w["lemma"], w["upos"], w["xpos"], feats, head,
                                         w["deprel"], w["deps"], w["misc"]))))  # fmt: skip
        for j in range(1, n_empty.get(i, 0) + 1):
            lines.append(("empty", f"{i}.{j}\te\t_\t_\t_\t_\t_\t_\t1:dep\t_"))
    return lines


def _conllu_file(sentences: list[dict]) -> list[tuple[str, str]]:
    lines: list[tuple[str, str]] = []
    for sentence in sentences:
        lines += _conllu_lines(sentence) + [("blank", "")]
    return lines


_CORPUS = st.integers(1, 5).flatmap(lambda n: st.tuples(*(_sentence(k) for k in range(n))).map(list))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    sentences=_CORPUS, crlf=st.booleans(), final_blank=st.booleans(), bom=st.booleans(), gz=st.booleans(),
    chunk=st.sampled_from([1, 2, 3, 7, 64, 1 << 16]),
)  # fmt: skip
def test_random_valid_files_round_trip(tmp_path, sentences, crlf, final_blank, bom, gz, chunk):
    lines = [line for _, line in _conllu_file(sentences)]
    if not final_blank:
        lines = lines[:-1]
    end = "\r\n" if crlf else "\n"
    data = (b"\xef\xbb\xbf" if bom else b"") + (end.join(lines) + end).encode()
    path = tmp_path / "xx_round.conllu"
    path.write_bytes(gzip.compress(data) if gz else data)
    with mock.patch.object(textfile, "_CHUNK_SIZE", chunk):
        got = list(read_conllu(path))
    assert len(got) == len(sentences)
    for ours, want in zip(got, sentences):
        assert ours.comments == want["comments"] and ours.sent_id == want["comments"]["sent_id"]
        assert ours.text == want["comments"].get("text")
        assert [(w.id, w.form, w.lemma, w.upos, w.xpos, w.feats, w.head, w.deprel, w.deps, w.misc)
                for w in ours.words] == [
            (i, w["form"], w["lemma"], w["upos"], w["xpos"], w["feats"], w["head"], w["deprel"], w["deps"], w["misc"])
            for i, w in enumerate(want["words"], 1)]  # fmt: skip
        assert [(m.first, m.last, m.form, m.misc, m.feats) for m in ours.multiword] == want["ranges"]


# Corruptions of one word line, each a fault in every context: (name, change of the columns or of the bytes).
_CORRUPTIONS = {
    "unknown UPOS": lambda c: c.__setitem__(3, "NOUNS"),
    "space in UPOS": lambda c: c.__setitem__(3, c[3] + " "),
    "space in XPOS": lambda c: c.__setitem__(4, "N N"),
    "lower-case feature": lambda c: c.__setitem__(5, "case=Nom"),
    "FEATS A=B=C": lambda c: c.__setitem__(5, "Case=Nom=Acc"),
    "repeated value": lambda c: c.__setitem__(5, "Case=Acc,Acc"),
    "unsorted FEATS": lambda c: c.__setitem__(5, "Number=Sing|Case=Nom"),
    "bad DEPREL": lambda c: c.__setitem__(7, "Root"),
    "leading space in FORM": lambda c: c.__setitem__(1, " " + c[1]),
    "double space in LEMMA": lambda c: c.__setitem__(2, "a  b"),
    "non-NFC FORM": lambda c: c.__setitem__(1, "e\u0301"),
    "empty FORM": lambda c: c.__setitem__(1, ""),
    "negative HEAD": lambda c: c.__setitem__(6, "-1"),
    "ID out of sequence": lambda c: c.__setitem__(0, str(int(c[0]) + 7)),
    "CR in MISC": lambda c: c.__setitem__(9, "a\rb"),
    "column dropped": lambda c: c.pop(),
    "invalid UTF-8": None,
}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sentences=_CORPUS, data=st.data(), chunk=st.sampled_from([1, 5, 64, 1 << 16]))
def test_random_corruptions_name_their_line(tmp_path, sentences, data, chunk):
    lines = _conllu_file(sentences)
    targets = [k for k, (kind, _) in enumerate(lines) if kind == "word"]
    k = data.draw(st.sampled_from(targets), label="line")
    name = data.draw(st.sampled_from(sorted(_CORRUPTIONS)), label="corruption")
    encoded = [line.encode() for _, line in lines]
    if _CORRUPTIONS[name] is None:
        encoded[k] = encoded[k].replace(b"\t", b"\t\xff", 1)
    else:
        columns = lines[k][1].split("\t")
        _CORRUPTIONS[name](columns)
        encoded[k] = "\t".join(columns).encode()
    path = tmp_path / "xx_corrupt.conllu"
    path.write_bytes(b"\n".join(encoded) + b"\n")
    with mock.patch.object(textfile, "_CHUNK_SIZE", chunk), pytest.raises(ConlluError) as info:
        list(read_conllu(path))
    assert str(info.value).startswith(f"{path}:{k + 1}: "), (name, str(info.value))

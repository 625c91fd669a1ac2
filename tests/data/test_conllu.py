"""The CoNLL-U reader: values on a hand-written file, every validation error, and all real UD files."""

from __future__ import annotations

import gzip
import json
import re
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import conllu
import pytest

from crossling.data import ConlluCounts, count_conllu, infer_lang, read_conllu
from crossling.exceptions import ConlluError

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
    ("9 columns", f"# sent_id = 1\n{W1}\n2\tb\tb\tNOUN\t_\t_\t1\tdep\t_\n", 3, "expected 10 tab-separated columns, found 9"),
    ("bad id sequence", f"{W1}\n{W2.replace('2', '3', 1)}\n", 2, "bad ID sequence: ID 3 follows word 1"),
    ("id not starting at 1", W2 + "\n", 1, "bad ID sequence"),
    ("leading zero id", W1.replace("1", "01", 1) + "\n", 1, "invalid ID '01'"),
    ("broken FEATS pair", f"{W1}\n2\tb\tb\tNOUN\t_\tCase=Nom|Number\t1\tdep\t_\t_\n", 2, "broken FEATS item 'Number'"),
    ("FEATS without value", W1.replace("\t_\t0", "\tNumber=\t0") + "\n", 1, "broken FEATS item 'Number='"),
    ("repeated feature", W1.replace("\t_\t0", "\tCase=Nom|Case=Acc\t0") + "\n", 1, "feature 'Case' repeated"),
    ("non-integer HEAD", f"{W1}\n{W2.replace(chr(9) + '1' + chr(9), chr(9) + 'x' + chr(9))}\n", 2, "HEAD must be a non-negative integer"),
    ("negative HEAD", f"{W1}\n{W2.replace(chr(9) + '1' + chr(9), chr(9) + '-1' + chr(9))}\n", 2, "HEAD must be"),
    ("HEAD past the end", f"{W1}\n{W2.replace(chr(9) + '1' + chr(9), chr(9) + '7' + chr(9))}\n", 2, "HEAD 7 points past the last word (2)"),
    ("comment after tokens", f"{W1}\n# note = x\n{W2}\n", 2, "comment after the token lines"),
    ("reversed range", f"2-1\tab\t_\t_\t_\t_\t_\t_\t_\t_\n{W1}\n", 1, "bad multiword range '2-1'"),
    ("range not at next word", f"{W1}\n1-2\tab\t_\t_\t_\t_\t_\t_\t_\t_\n{W2}\n", 2, "must start at the next word (2)"),
    ("range past the end", f"1-3\tab\t_\t_\t_\t_\t_\t_\t_\t_\n{W1}\n{W2}\n\n", 4, "range reaches word 3 but the sentence has 2"),
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


@pytest.mark.parametrize(("what", "text", "line", "message"), MALFORMED, ids=[m[0] for m in MALFORMED])
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

"""Translation dictionaries: symmetrisation by hand, p(t|s) by hand, TSV round trip, eflomal recovery."""

from __future__ import annotations

import re
import unicodedata

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crossling.concepts import (
    TranslationDictionary,
    WordAlignment,
    align_words,
    build_dictionaries,
    lexical_translations,
    symmetrise,
)
from crossling.exceptions import DataLossWarning, FileFormatError


def test_intersection():
    fwd = {(0, 0), (1, 1), (2, 1)}
    rev = {(0, 0), (1, 1), (2, 2)}
    assert symmetrise(fwd, rev, 3, 3, method="intersection").tolist() == [[0, 0], [1, 1]]


def test_grow_diag_final_by_hand():
    # Intersection {(0,0), (2,2)}. grow-diag adds union points next to them whose source or target word
    # is unaligned: (1,1) (diagonal of both), then (3,2) next to (2,2) with source 3 unaligned.
    # (3,3)'s row 3 and column 3... column 3 is unaligned, (3,3) is a neighbour of (2,2) and of (3,2):
    # it is added too. (0,3) is in the union but not adjacent to the alignment; final() adds it only
    # if its source or target is still unaligned: target 3 is aligned by then, source 0 too -> not added.
    fwd = {(0, 0), (1, 1), (2, 2), (3, 2)}
    rev = {(0, 0), (2, 2), (3, 3), (0, 3)}
    got = symmetrise(fwd, rev, 4, 4, method="grow-diag-final")
    assert got.tolist() == [[0, 0], [1, 1], [2, 2], [3, 2], [3, 3]]


def test_final_adds_links_of_unaligned_words():
    # Intersection empty; no growth possible; final() adds forward links, then reverse links touching an
    # unaligned word.
    fwd = {(0, 1)}
    rev = {(1, 0), (0, 0)}
    got = symmetrise(fwd, rev, 2, 2, method="grow-diag-final")
    # final(fwd): (0,1). final(rev) in sorted order: (0,0): target 0 unaligned -> add; (1,0): source 1 -> add.
    assert got.tolist() == [[0, 0], [0, 1], [1, 0]]


@pytest.mark.parametrize("seed", range(5))
def test_grow_diag_final_lies_between_intersection_and_union(seed):
    rng = np.random.default_rng(seed)
    fwd = {(int(i), int(j)) for i, j in rng.integers(0, 8, (10, 2))}
    rev = {(int(i), int(j)) for i, j in rng.integers(0, 8, (10, 2))}
    gdf = {tuple(x) for x in symmetrise(fwd, rev, 8, 8).tolist()}
    assert fwd & rev <= gdf <= fwd | rev
    # Every word aligned by either direction ends up aligned.
    assert {i for i, _ in fwd | rev} == {i for i, _ in gdf} and {j for _, j in fwd | rev} == {j for _, j in gdf}


def test_symmetrise_rejects_out_of_range_links():
    with pytest.raises(ValueError, match="outside"):
        symmetrise({(0, 5)}, set(), 2, 2)
    with pytest.raises(ValueError, match="method"):
        symmetrise(set(), set(), 2, 2, method="union")


def small_alignment():
    source = (("the", "house"), ("the", "car"), ("a", "house"), ("the", "the"))
    target = (("das", "Haus"), ("das", "Auto"), ("ein", "Haus"), ("der", "die"))
    links = tuple(np.array(x) for x in ([[0, 0], [1, 1]], [[0, 0], [1, 1]], [[0, 0], [1, 1]], [[0, 0], [1, 1]]))
    return WordAlignment(source, target, links, "grow-diag-final", "test", {})


def test_lexical_translations_by_hand():
    d = lexical_translations(small_alignment(), source_lang="en", target_lang="de", n_best=2)
    # "the": das x2, der x1, die x1 -> p = 1/2, 1/4, 1/4; kept: das, then der (tie broken by form).
    table = d.table.set_index(["source", "target"])
    assert table.loc[("the", "das"), "prob"] == 0.5 and table.loc[("the", "das"), "count"] == 2
    assert d.translations("the") == ("das", "der")
    assert d.translations("house") == ("Haus",) and table.loc[("house", "Haus"), "prob"] == 1.0
    assert d.translations("xyz") == ()
    assert d.as_mapping(1)["the"] == ("das",)
    rev = lexical_translations(small_alignment(), source_lang="de", target_lang="en", reverse=True)
    assert rev.translations("das") == ("the",) and rev.translations("Haus") == ("house",)
    assert rev.translations("ein") == ("a",)
    # Probabilities of each source word sum to one before truncation.
    full = lexical_translations(small_alignment(), source_lang="en", target_lang="de", n_best=10)
    assert np.allclose(full.table.groupby("source")["prob"].sum(), 1.0)


def test_tsv_round_trip(tmp_path):
    d = lexical_translations(small_alignment(), source_lang="en", target_lang="de", n_best=3)
    path = d.save(tmp_path / "en-de.tsv")
    back = TranslationDictionary.load(path)
    assert (back.source_lang, back.target_lang, back.n_best) == ("en", "de", 3)
    pd.testing.assert_frame_equal(back.table, d.table)
    assert back.provenance["symmetrisation"] == "grow-diag-final"


def test_user_tsv_without_probabilities_uses_file_order(tmp_path):
    path = tmp_path / "user.tsv"
    path.write_text("source\ttarget\nhouse\tHaus\nhouse\tGebäude\ncar\tAuto\nhouse\tHeim\n", encoding="utf-8")
    d = TranslationDictionary.load(path, source_lang="en", target_lang="de", n_best=2)
    assert d.translations("house") == ("Haus", "Gebäude") and d.translations("car") == ("Auto",)
    assert np.isnan(d.table["prob"]).all() and (d.table["count"] == -1).all()


def test_user_tsv_with_probabilities_is_ranked(tmp_path):
    path = tmp_path / "user.tsv"
    path.write_text("house\tHeim\t0.1\nhouse\tHaus\t0.7\nhouse\tGebäude\t0.2\n", encoding="utf-8")
    d = TranslationDictionary.load(path, source_lang="en", target_lang="de")
    assert d.translations("house") == ("Haus", "Gebäude", "Heim")


@pytest.mark.parametrize(
    "text, message",
    [
        ("house\n", "2 to 4"),
        ("house\tHaus\tlots\n", "not a number"),
        ("house\tHaus\t1.5\n", "outside"),
        ("house\tHaus\t0.5\t-1\n", "negative"),
        ("\tHaus\n", "empty"),
        ("house\tHaus\nhouse\tHaus\n", "twice"),
    ],
)
def test_user_tsv_errors(tmp_path, text, message):
    path = tmp_path / "bad.tsv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        TranslationDictionary.load(path, source_lang="en", target_lang="de")


def test_tsv_needs_languages(tmp_path):
    path = tmp_path / "nolang.tsv"
    path.write_text("a\tb\n", encoding="utf-8")
    with pytest.raises(ValueError, match="source_lang"):
        TranslationDictionary.load(path)


def synthetic_parallel(n_sentences=400, n_words=25, seed=0):
    """Source sentences over s0..s{n-1}; targets translate s_i -> T_i, swap neighbours, add noise words."""
    rng = np.random.default_rng(seed)
    source, target = [], []
    for _ in range(n_sentences):
        words = list(rng.choice(n_words, rng.integers(4, 10), replace=False))
        trans = [f"T{w}" for w in words]
        for i in range(0, len(trans) - 1, 2):
            if rng.random() < 0.3:
                trans[i], trans[i + 1] = trans[i + 1], trans[i]
        if rng.random() < 0.5:
            trans.insert(int(rng.integers(0, len(trans) + 1)), f"noise{rng.integers(0, 3)}")
        source.append([f"s{w}" for w in words])
        target.append(trans)
    return source, target


def test_eflomal_recovers_planted_translations():
    pytest.importorskip("eflomal")
    source, target = synthetic_parallel()
    source.append([])  # an empty pair is kept without links, and counted
    target.append(["T1"])
    fwd, rev = build_dictionaries(source, target, source_lang="xx", target_lang="yy", n_best=10)
    for w in range(25):
        assert fwd.translations(f"s{w}")[0] == f"T{w}"
        assert rev.translations(f"T{w}")[0] == f"s{w}"
        assert fwd.table.set_index(["source", "target"]).loc[(f"s{w}", f"T{w}"), "prob"] > 0.9
    assert fwd.provenance["aligner_params"]["n_skipped_empty"] == 1
    assert fwd.provenance["aligner"].startswith("eflomal")
    assert (fwd.source_lang, fwd.target_lang, rev.source_lang, rev.target_lang) == ("xx", "yy", "yy", "xx")


def test_intersection_alignment_is_precise():
    pytest.importorskip("eflomal")
    source, target = synthetic_parallel(n_sentences=300, seed=1)
    al = align_words(source, target, symmetrisation="intersection")
    correct = total = 0
    for s, t, links in zip(al.source, al.target, al.links):
        for i, j in links:
            total += 1
            correct += t[j] == "T" + s[i][1:]
    assert total > 0.8 * sum(len(s) for s in source) and correct / total > 0.98


def test_align_words_rejects_bad_corpora():
    with pytest.raises(ValueError, match="1 source but 2 target"):
        align_words([["a"]], [["b"], ["c"]])
    with pytest.raises(ValueError, match="no sentence pair"):
        align_words([[]], [["b"]])
    with pytest.raises(ValueError, match="symmetrisation"):
        align_words([["a"]], [["b"]], symmetrisation="union")


# --- the TSV loader: what the file holds, line by line ------------------------------------------------------------


def _saved(tmp_path, rows, n_best=3):
    table = pd.DataFrame(rows, columns=["source", "target", "prob", "count"]).astype(
        {"source": object, "target": object, "prob": np.float64, "count": np.int64}
    )
    return TranslationDictionary("en", "de", table, n_best, {"note": "x"}).save(tmp_path / "d.tsv")


def test_words_that_look_like_comments_or_a_header_survive_a_round_trip(tmp_path):
    rows = [("#hashtag", "#Hashtag", 0.5, 2), ("#hashtag", "Stichwort", 0.5, 2), ("source", "target", 1.0, 1),
            ("# not a comment", "#", np.nan, -1)]  # fmt: skip
    back = TranslationDictionary.load(_saved(tmp_path, rows))
    assert back.table.values.tolist()[:3] == [list(r) for r in rows[:3]]
    assert back.translations("# not a comment") == ("#",) and len(back) == 3
    # In a user's file without a header, a first line that starts with '#' but has a tab is an entry too.
    path = tmp_path / "user.tsv"
    path.write_text("# a comment\n#tag\t#Tag\nhouse\tHaus\n", encoding="utf-8")
    assert TranslationDictionary.load(path, source_lang="en", target_lang="de").translations("#tag") == ("#Tag",)


def test_byte_order_mark_crlf_and_line_separators(tmp_path):
    path = tmp_path / "user.tsv"
    path.write_bytes("\ufeffsource\ttarget\r\nhouse\tHaus\r\na\u2028b\tc\r\n".encode())
    d = TranslationDictionary.load(path, source_lang="en", target_lang="de")
    # U+2028 is not a line end: the word keeps it (str.splitlines used to cut the line there).
    assert d.table["source"].tolist() == ["house", "a\u2028b"]


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("source\ttarget\nhouse\n", 2, "expected 2 to 4 tab-separated fields, got 1"),
        ("house\tHaus\tlots\n", 1, "probability 'lots' is not a number"),
        ("house\tHaus\t1.5\n", 1, "probability 1.5 is outside [0, 1]"),
        ("house\tHaus\t0.5\t-1\n", 1, "negative count -1"),
        ("house\tHaus\t0.5\t+3\n", 1, "count '+3' is not an integer"),
        ("\tHaus\n", 1, "empty source or target word"),
        ("house\tHaus\ncar\tAuto\nhouse\tHaus\n", 3, "the pair ('house', 'Haus') is listed twice (first at line 1)"),
        ("house \tHaus\n", 1, "whitespace around the source field 'house '"),
        ("house\tHaus\t 0.5\n", 1, "whitespace around the prob field ' 0.5'"),
        ("house\tHaus\n \t \n", 2, "a line of only whitespace"),
        ("house\tHaus\n#car\n", 2, "expected 2 to 4 tab-separated fields, got 1"),
        ("house\tHause\u0301\n", 1, "text not in Unicode NFC at column 11"),
        ("# n_best=many\nhouse\tHaus\n", 1, "n_best 'many' is not a positive integer"),
        ("# provenance={oops\nhouse\tHaus\n", 1, "the provenance comment is not JSON"),
        ("# source_lang=en\nsource\ttarget\n\n", 3, "no dictionary entries"),
        ("", 1, "no dictionary entries"),
    ],
    ids=["one field", "prob not a number", "prob above 1", "negative count", "signed count", "empty word",
         "pair twice", "space after a word", "space before prob", "whitespace line", "hash line after entries",
         "not NFC", "bad n_best", "bad provenance", "header only", "empty file"],
)  # fmt: skip
def test_loader_faults_name_file_and_line(tmp_path, text, line, message):
    path = tmp_path / "bad.tsv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(FileFormatError, match=re.escape(f"{path}:{line}: {message}")):
        TranslationDictionary.load(path, source_lang="en", target_lang="de")


def test_invalid_utf8_names_its_line(tmp_path):
    path = tmp_path / "bad.tsv"
    path.write_bytes(b"house\tHaus\ncar\tAut\xf6\n")
    with pytest.raises(FileFormatError, match=re.escape(f"{path}:2: invalid UTF-8")):
        TranslationDictionary.load(path, source_lang="en", target_lang="de")


def test_lenient_loader_strips_normalises_and_warns(tmp_path):
    path = tmp_path / "user.tsv"
    path.write_text(" house\tHaus \n  \ncafe\u0301\tKaffee\n", encoding="utf-8")
    with pytest.warns(DataLossWarning) as record:
        d = TranslationDictionary.load(path, source_lang="en", target_lang="de", lenient=True)
    assert d.table[["source", "target"]].values.tolist() == [["house", "Haus"], ["caf\xe9", "Kaffee"]]
    assert str(record[0].message) == (
        f"{path}: the lenient reading changed the text: 2 x whitespace around a field (first at line 1); "
        "1 x line of only whitespace (first at line 2); 1 x text not in Unicode NFC (first at line 3); "
        "a strict reading refuses the file"
    )


_WORD = st.text(
    st.characters(blacklist_categories=("Cs", "Cn"), blacklist_characters="\t\n\r\ufeff"), min_size=1, max_size=8
).map(lambda t: unicodedata.normalize("NFC", t)).filter(lambda t: t == t.strip() and t)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entries=st.dictionaries(_WORD, st.lists(st.tuples(_WORD, st.floats(0, 1), st.integers(0, 10**6)),
                                               min_size=1, max_size=3, unique_by=lambda e: e[0]),
                               min_size=1, max_size=6))  # fmt: skip
def test_any_dictionary_survives_save_and_load(tmp_path, entries):
    rows = [(s, t, p, c) for s, targets in entries.items() for t, p, c in sorted(targets, key=lambda e: -e[1])]
    path = _saved(tmp_path, rows, n_best=3)
    back = TranslationDictionary.load(path)
    assert back.table.values.tolist() == [list(r) for r in rows]
    assert (back.source_lang, back.target_lang, back.n_best, back.provenance["note"]) == ("en", "de", 3, "x")


def test_eflomal_lengths_cut_both_sides_to_the_same_share():
    from crossling.concepts.dictionary import EFLOMAL_MAX_TOKENS, _eflomal_lengths

    assert EFLOMAL_MAX_TOKENS == 1023
    assert _eflomal_lengths(1023, 900) == (1023, 900)  # fits: unchanged
    assert _eflomal_lengths(1100, 1000) == (1023, 1000 * 1023 // 1100)  # = (1023, 930)
    assert _eflomal_lengths(3, 5000) == (1, 1023)  # never below one token


def test_a_sentence_of_1024_tokens_or_more_is_cut_counted_and_still_aligned():
    """eflomal writes a sentence of 1024+ tokens as empty: the pair would silently get no link."""
    pytest.importorskip("eflomal")
    from crossling.exceptions import DataLossWarning

    source, target = synthetic_parallel(n_sentences=200, seed=2)
    rng = np.random.default_rng(0)
    words = [int(w) for w in rng.integers(0, 25, 1100)]
    source.append([f"s{w}" for w in words])
    target.append([f"T{w}" for w in words[:1050]])
    with pytest.warns(DataLossWarning, match=r"1 sentence pairs have a side longer than eflomal's 1023 tokens.*"
                                             r"77 source and 74 target tokens get no link"):
        al = align_words(source, target)
    assert (al.params["n_truncated_pairs"], al.params["n_source_tokens_cut"], al.params["n_target_tokens_cut"]) == (
        1, 1100 - 1023, 1050 - 1050 * 1023 // 1100)
    links = al.links[-1]
    assert len(links) > 900 and links[:, 0].max() < 1023 and links[:, 1].max() < 1050 * 1023 // 1100


def moses_table(tmp_path, text):
    path = tmp_path / "lex.f2e"
    path.write_text(text, encoding="utf-8")
    return path


def test_moses_lexical_table_by_hand(tmp_path):
    """lex.f2e lines are "e f w(e|f)": the dictionary f -> e ranks each f's translations by probability."""
    from crossling.concepts import load_moses_lexicon

    path = moses_table(tmp_path, "house Haus 0.7\nhome Haus 0.2\nbuilding Haus 0.1\nNULL Haus 0.05\n"
                                 "car Auto 0.9\nthe NULL 0.3\nautomobile Auto 0.9\n")
    d = load_moses_lexicon(path, source_lang="de", target_lang="en", n_best=2)
    assert d.translations("Haus") == ("house", "home")  # best two; NULL lines are left out
    assert d.translations("Auto") == ("automobile", "car")  # equal probabilities: by the target word
    assert d.table.set_index(["source", "target"]).loc[("Haus", "house"), "prob"] == 0.7
    assert (d.table["count"] == -1).all() and d.provenance["n_null_lines_skipped"] == 2
    swapped = load_moses_lexicon(path, source_lang="en", target_lang="de", columns="source-target")
    assert swapped.translations("house") == ("Haus",) and swapped.translations("car") == ("Auto",)


@pytest.mark.parametrize("text, message", [
    ("house Haus\n", "single spaces"),
    ("house\tHaus\t0.5\n", "single spaces"),
    ("house Haus lots\n", "not a number"),
    ("house Haus 1.5\n", "outside"),
    ("house Haus 0.5\nhouse Haus 0.4\n", "twice"),
    ("NULL Haus 0.5\n", "no word pair"),
])
def test_moses_table_errors(tmp_path, text, message):
    from crossling.concepts import load_moses_lexicon

    with pytest.raises(ValueError, match=message):
        load_moses_lexicon(moses_table(tmp_path, text), source_lang="de", target_lang="en")

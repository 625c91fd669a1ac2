"""Language metadata and properties: table and groups, character coverage, type-token ratio, data size."""

from __future__ import annotations

import gzip
import math
from collections import Counter

import conllu
import pytest

from crossling.data import (
    DIVERSE_SET,
    GERMANIC,
    LOW_RESOURCE_SET,
    RELATED_SETS,
    ROMANCE,
    SLAVIC,
    DataSize,
    Sentence,
    Word,
    char_counts,
    char_coverage,
    count_characters,
    coverage_size,
    data_size,
    language_properties,
    language_table,
    read_conllu,
    type_token_ratio,
)


def test_table_and_groups():
    table = language_table()
    assert list(table.columns) == ["language", "iso639_1", "family", "genus"]
    assert len(table) == 33 == table["iso639_1"].nunique()
    genus = dict(zip(table["iso639_1"], table["genus"]))
    for name, members in RELATED_SETS.items():
        assert set(members) == {code for code, g in genus.items() if g == name}, name
    assert (len(GERMANIC), len(ROMANCE), len(SLAVIC)) == (5, 7, 8)
    assert len(DIVERSE_SET) == 10 == len({genus[c] for c in DIVERSE_SET})
    assert set(LOW_RESOURCE_SET) <= set(genus)
    table.loc[0, "genus"] = "changed"
    assert language_table().loc[0, "genus"] != "changed"


def _sentence(text, lemmas=(), lang="xx"):
    words = [Word(i, f"f{i}", lemma, "X", "_", {}, 0, "dep", "_", "_") for i, lemma in enumerate(lemmas, 1)]
    return Sentence(lang, text or "-", words, text)


def test_char_coverage_known_answers():
    sentences = [_sentence("aaaa aaaaa\tb"), _sentence("c\n")]  # a: 9, b: 1, c: 1; whitespace not counted
    assert char_counts(sentences) == Counter({"a": 9, "b": 1, "c": 1})
    assert char_coverage(sentences, coverage=9 / 11) == 1
    assert char_coverage(sentences, coverage=0.82) == 2
    assert char_coverage(sentences, coverage=10 / 11) == 2
    assert char_coverage(sentences, coverage=1.0) == 3
    assert char_coverage(sentences) == 3
    # Without text, the forms joined by spaces are used.
    assert char_counts([Sentence("xx", "1", [Word(1, "ab", "_", "X", "_", {}, 0, "d", "_", "_")])]) == {"a": 1, "b": 1}
    with pytest.raises(ValueError, match="coverage"):
        char_coverage(sentences, coverage=0)
    with pytest.raises(ValueError, match="no characters"):
        char_coverage([_sentence(" ")])


def test_char_coverage_on_real_text_against_a_direct_count(data_dir):
    path = data_dir / "ud" / "pud" / "zh_pud.conllu.gz"
    with gzip.open(path, "rt", encoding="utf-8") as stream:
        texts = [tokens.metadata["text"] for tokens in conllu.parse_incr(stream)]
    counts = Counter(ch for text in texts for ch in text if not ch.isspace())
    total, running = sum(counts.values()), 0
    for k, (_, count) in enumerate(counts.most_common(), 1):
        running += count
        if running >= 0.999 * total:
            break
    sentences = list(read_conllu(path))
    assert char_coverage(sentences) == k > 1000
    assert data_size(sentences) == DataSize(1000, 21415, total)


def test_type_token_ratio_known_answer():
    sentences = [_sentence("x", ["a", "b", "a"]), _sentence("y", ["_", "c"])]
    with pytest.warns(UserWarning, match="1 of 5 words have no lemma"):
        assert type_token_ratio(sentences) == 3 / 4
    with pytest.warns(UserWarning, match="NaN"), pytest.warns(UserWarning, match="1 of 1 words"):
        assert math.isnan(type_token_ratio([_sentence("x", ["_"])]))


def test_type_token_ratio_of_forms_where_there_are_no_lemmas():
    words = [Word(i, form, "_", "_", "_", {}, None, "_", "_", "_") for i, form in enumerate(["a", "b", "a", "c"], 1)]
    raw = [Sentence("xx", "1", words, "a b a c")]
    assert type_token_ratio(raw, unit="forms") == 3 / 4
    with pytest.raises(ValueError, match="unit"):
        type_token_ratio(raw, unit="stems")
    table = language_properties({"xx": raw, "yy": [_sentence("y", ["a", "a", "b"])]})  # no warning: all or none
    assert table["type_token_ratio"].tolist() == [3 / 4, 2 / 3]
    assert table["type_token_unit"].tolist() == ["forms", "lemmas"]


def test_character_counts_of_raw_texts():
    counts = count_characters(["aab c", "a\tb", ""])
    assert counts == Counter({"a": 3, "b": 2, "c": 1})
    assert coverage_size(counts, coverage=0.5) == 1 and coverage_size(counts, coverage=5 / 6) == 2
    assert coverage_size(counts) == 3
    with pytest.raises(ValueError, match="no characters"):
        coverage_size(Counter())


def test_language_properties_agree_with_the_single_functions(data_dir):
    corpora = {code: list(read_conllu(data_dir / "ud" / "pud" / f"{code}_pud.conllu.gz")) for code in ("en", "th")}
    with pytest.warns(UserWarning, match="no lemma"):
        table = language_properties(corpora)
    assert table["iso639_1"].tolist() == ["en", "th"]
    assert table.loc[0, ["language", "family", "genus"]].tolist() == ["English", "Indo-European", "Germanic"]
    assert table.loc[1, ["language", "family", "genus"]].tolist() == ["", "", ""]  # Thai is not in the study table
    for row, sentences in zip(table.itertuples(), corpora.values()):
        size = data_size(sentences)
        assert (row.sentences, row.tokens, row.characters) == tuple(size)
        assert row.char_coverage == char_coverage(sentences)
        with pytest.warns(UserWarning):
            assert row.type_token_ratio == type_token_ratio(sentences)
    english = corpora["en"]
    lemmas = [w.lemma for s in english for w in s.words if not (w.lemma == "_" and w.form != "_")]
    assert table.loc[0, "type_token_ratio"] == len(set(lemmas)) / len(lemmas)
    assert table.loc[0, "lemmatised_tokens"] == len(lemmas) == 21179

"""UD -> UniMorph categories: known conversions, the table itself, and word indexing on real data."""

from __future__ import annotations

import gzip

import conllu
import pytest

from crossling.data import (
    UD_TO_UNIMORPH,
    UNIMORPH_CATEGORIES,
    UPOS_TO_UNIMORPH,
    Sentence,
    Word,
    read_conllu,
    unimorph_features,
    words_by_category,
)
from crossling.exceptions import CategorySkippedWarning


def test_the_seventeen_categories_and_the_table_stays_inside_them():
    assert len(UNIMORPH_CATEGORIES) == 17 == len(set(UNIMORPH_CATEGORIES))
    assert list(UNIMORPH_CATEGORIES) == sorted(UNIMORPH_CATEGORIES)
    dimensions = {dim for targets in UD_TO_UNIMORPH.values() for dim, _ in targets}
    assert dimensions | {"Part of Speech"} == set(UNIMORPH_CATEGORIES) - {"Possession"} | {"Possession"}
    assert set(UPOS_TO_UNIMORPH) == {
        "ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN", "SCONJ", "VERB"
    }  # fmt: skip


@pytest.mark.parametrize(
    ("upos", "feats", "expected"),
    [
        ("AUX", {"Mood": "Ind", "Number": "Sing", "Person": "3", "Tense": "Pres", "VerbForm": "Fin"},
         {"Part of Speech": "V", "Mood": "IND", "Number": "SG", "Person": "3", "Tense": "PRS", "Finiteness": "FIN"}),
        ("NOUN", {"Animacy": "Inan", "Case": "Loc", "Gender": "Masc", "Number": "Plur"},
         {"Part of Speech": "N", "Animacy": "INAN", "Case": "ESS", "Gender": "MASC", "Number": "PL"}),
        ("NOUN", {"Case": "Ine", "Number": "Sing", "Number[psor]": "Sing", "Person[psor]": "1"},
         {"Part of Speech": "N", "Case": "IN+ESS", "Number": "SG", "Possession": "PSS1S"}),
        ("PRON", {"Case": "Acc,Nom", "Gender": "Com", "PronType": "Prs"},
         {"Part of Speech": "PRO", "Case": "{ACC/NOM}", "Gender": "MASC+FEM"}),
        ("VERB", {"Tense": "Pqp", "Aspect": "Perf", "Voice": "Pass", "Polarity": "Neg"},
         {"Part of Speech": "V", "Tense": "PST", "Aspect": "PFV;PRF", "Voice": "PASS", "Polarity": "NEG"}),
        ("VERB", {"Tense": "Imp", "Reflex": "Yes", "VerbForm": "Part", "Polite": "Form"},
         {"Part of Speech": "V", "Aspect": "IPFV", "Valency": "REFL", "Politeness": "FORM"}),
        ("ADJ", {"Degree": "Pos", "Definite": "Cons"}, {"Part of Speech": "ADJ", "Possession": "PSSD"}),
        ("ADJ", {"Degree": "Sup", "Case": "Del"}, {"Part of Speech": "ADJ", "Comparison": "SPRL"}),
        ("NOUN", {"Number[psor]": "Plur,Sing", "Person[psor]": "3"},
         {"Part of Speech": "N", "Possession": "PSS3{P/S}"}),
        ("PUNCT", {}, {}),
        ("SCONJ", {"Voice": "Cau"}, {"Part of Speech": "CONJ", "Valency": "CAUS"}),
    ],
)  # fmt: skip
def test_known_conversions(upos, feats, expected):
    assert unimorph_features(upos, feats) == expected


def _word(i, upos, feats):
    return Word(i, f"w{i}", f"w{i}", upos, "_", feats, 0, "dep", "_", "_")


def test_words_by_category_indices_values_and_skips():
    sentences = [
        Sentence("xx", "1", [_word(1, "NOUN", {"Number": "Sing"}), _word(2, "PUNCT", {})]),
        Sentence(
            "xx", "2", [_word(1, "VERB", {"Number": "Plur", "Tense": "Past"}), _word(2, "NOUN", {"Number": "Sing"})]
        ),
    ]
    skip_message = r"language 'xx': 17 categories .* Number \(3\), Part of Speech \(3\)"
    with pytest.warns(CategorySkippedWarning, match=skip_message) as record:
        result = words_by_category(sentences, min_words=4)
    assert len(record) == 1
    assert list(result.categories) == []
    assert result.skipped["Number"] == "3 words carry it, fewer than min_words=4" and len(result.skipped) == 17
    with pytest.warns(CategorySkippedWarning, match="14 categories"):
        result = words_by_category(sentences, min_words=1)
    assert list(result.categories) == ["Number", "Part of Speech", "Tense"]
    number = result["Number"]
    assert number.sentence_index.tolist() == [0, 1, 1] and number.word_index.tolist() == [0, 0, 1]
    assert number.values.tolist() == ["SG", "PL", "SG"] and number.value_counts() == {"SG": 2, "PL": 1}
    assert result["Tense"].values.tolist() == ["PST"] and "Case" not in result
    assert (result.lang, result.n_sentences, result.n_words, result.min_words) == ("xx", 2, 4, 1)
    with pytest.raises(ValueError, match="one language"):
        words_by_category([sentences[0], Sentence("yy", "3", [])])
    with pytest.raises(ValueError, match="min_words"):
        words_by_category(sentences, min_words=0)


def test_real_treebank_against_a_direct_scan(data_dir):
    """Czech CAC test: who carries Case / Number / POS, recomputed from the raw file with the conllu library."""
    path = data_dir / "ud" / "treebanks" / "cs_cac-test.conllu.gz"
    sentences = list(read_conllu(path))
    with pytest.warns(CategorySkippedWarning, match="'cs'"):
        result = words_by_category(sentences)
    mapped_case = {value for (feature, value) in UD_TO_UNIMORPH if feature == "Case"}
    expected: dict[str, list[tuple[int, int]]] = {"Case": [], "Number": [], "Part of Speech": []}
    with gzip.open(path, "rt", encoding="utf-8") as stream:
        for s_index, tokens in enumerate(conllu.parse_incr(stream)):
            words = [t for t in tokens if isinstance(t["id"], int)]
            for w_index, token in enumerate(words):
                feats = token["feats"] or {}
                if any(v in mapped_case for v in feats.get("Case", "").split(",")):
                    expected["Case"].append((s_index, w_index))
                if set(feats.get("Number", "").split(",")) & {"Sing", "Plur", "Dual"}:
                    expected["Number"].append((s_index, w_index))
                if token["upos"] not in ("PUNCT", "SYM", "X"):
                    expected["Part of Speech"].append((s_index, w_index))
    for category, pairs in expected.items():
        got = result[category]
        assert list(zip(got.sentence_index.tolist(), got.word_index.tolist())) == pairs, category
    assert len(result["Case"]) > 5000
    # Czech has 7 cases; the seven UniMorph values (plus disjunctions) appear.
    assert {"NOM", "GEN", "DAT", "ACC", "VOC", "ESS", "INST"} <= set(result["Case"].value_counts())
    assert set(result.skipped) | set(result.categories) == set(UNIMORPH_CATEGORIES)
    assert {"ANIM", "INAN"} <= set(result["Animacy"].value_counts())

"""The study's input matrices: words per category, word alignment and the streaming cross-covariance.

Model-free: a hand-written pair of stores with words missing from either side, and real UD sentences for the
words of each category.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from crossling.data.corpus import load_corpus
from crossling.data.records import MultiwordToken, Sentence, Word
from crossling.data.unimorph import CategoryIndex, unimorph_features
from crossling.extraction.store import VectorStore
from crossling.factorization.crosscov import (
    ALL_WORDS,
    align_words,
    category_words,
    cross_covariances,
    surface_sentence,
)


@pytest.fixture(scope="module")
def sentences(data_dir):
    return {"en": load_corpus(f"ud:{data_dir / 'ud' / 'treebanks'}", ["en"], split="test")["en"][:50]}


def _write_store(path, meta: pd.DataFrame, layers: dict[int, np.ndarray]) -> VectorStore:
    path.mkdir(parents=True)
    meta.to_parquet(path / "meta.parquet", index=False)
    for layer, array in layers.items():
        np.save(path / f"layer_{layer:02d}.npy", array.astype(np.float32))
    dim = next(iter(layers.values())).shape[1]
    manifest = {"layers": sorted(layers), "n_rows": len(meta), "dim": dim, "key": path.name}
    (path / "manifest.json").write_text(json.dumps(manifest))
    return VectorStore(path)


def test_alignment_drops_words_missing_from_either_store(tmp_path):
    rng = np.random.default_rng(0)
    pairs = [(s, w) for s, n in enumerate([5, 3, 7, 4]) for w in range(n)]  # 19 words in 4 sentences
    e_pairs = [p for p in pairs if p != (2, 6)]  # E lost the last word of sentence 2 (truncation)
    c_pairs = [p for p in pairs if p not in {(0, 1), (3, 3)}]
    e = _write_store(tmp_path / "e", pd.DataFrame(e_pairs, columns=["sentence_index", "word_index"]),
                     {0: rng.normal(size=(len(e_pairs), 6))})
    c = _write_store(tmp_path / "c", pd.DataFrame(c_pairs, columns=["sentence_index", "word_index"]),
                     {0: rng.normal(size=(len(c_pairs), 4)) + 3.0})
    chosen = [(0, 0), (0, 1), (1, 2), (2, 0), (2, 6), (2, 3), (3, 0), (3, 3), (3, 1)]
    words = {"X": CategoryIndex("X", np.array([p[0] for p in chosen]), np.array([p[1] for p in chosen]),
                                np.array(["v"] * len(chosen))),
             "Y": CategoryIndex("Y", np.array([9]), np.array([0]), np.array(["v"]))}  # no such word
    aligned = align_words(words, e.meta, c.meta)
    kept = [p for p in sorted(chosen) if p in e_pairs and p in c_pairs]
    assert aligned.n_words("X") == len(kept) == 6 and aligned.n_labelled["X"] == 9 and aligned.n_words("Y") == 0
    Z = np.load(c.path / "layer_00.npy")[[c_pairs.index(p) for p in kept]].astype(np.float64)
    Y = np.load(e.path / "layer_00.npy")[[e_pairs.index(p) for p in kept]].astype(np.float64)
    expected = (Z - Z.mean(0)).T @ (Y - Y.mean(0)) / len(kept)
    for chunk_size in (1, 2, 5, 1000):
        omega = cross_covariances(c.vectors(0), e.vectors(0), aligned, categories=["X"], chunk_size=chunk_size)["X"]
        assert omega.shape == (4, 6)
        np.testing.assert_allclose(omega, expected, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="no aligned words"):
        cross_covariances(c.vectors(0), e.vectors(0), aligned)
    with pytest.raises(ValueError, match="chunk_size"):
        cross_covariances(c.vectors(0), e.vectors(0), aligned, categories=["X"], chunk_size=0)
    sentence_meta = pd.DataFrame({"sentence_index": [0, 1], "word_index": [-1, -1]})
    with pytest.raises(ValueError, match="word-level"):
        align_words(words, sentence_meta, c.meta)


def test_category_words_all_words_lists_every_word(sentences):
    found = category_words(sentences["en"], ["Tense", ALL_WORDS, "Politeness"], all_words="every")
    assert list(found) == ["Tense", ALL_WORDS]  # nobody carries Politeness in these sentences
    every = found[ALL_WORDS]
    assert len(every) == sum(len(s.words) for s in sentences["en"])
    assert (every.sentence_index[5], every.word_index[5]) == (0, 5)
    tense = {(i, j) for i, s in enumerate(sentences["en"]) for j, w in enumerate(s.words)
             if "Tense" in unimorph_features(w.upos, w.feats)}
    assert set(zip(found["Tense"].sentence_index, found["Tense"].word_index)) == tense


def test_all_words_are_the_part_of_speech_bearing_words(sentences):
    # Zhao, Ziser and Cohen (2023): "All words" is every word with a part of speech, i.e. not PUNCT, SYM or X.
    found = category_words(sentences["en"], [ALL_WORDS])[ALL_WORDS]
    expected = [(i, j) for i, s in enumerate(sentences["en"]) for j, w in enumerate(s.words)
                if w.upos not in {"PUNCT", "SYM", "X"}]
    assert list(zip(found.sentence_index, found.word_index)) == expected
    every = sum(len(s.words) for s in sentences["en"])
    assert 0 < every - len(found) < every / 4  # punctuation and symbols are a tenth to a fifth of UD tokens
    assert not set(found.values) & {"PUNCT", "SYM", "X"}
    # Raw text has no UPOS: a word written with punctuation and symbols only is left out
    raw = [Sentence("xx", "1", [Word(i, form, "_", "_", "_", {}, None, "_", "_", "_")
                                for i, form in enumerate(["Hallo", ",", "«", "x2", "—", "%", "e.g."], 1)])]
    assert category_words(raw, [ALL_WORDS])[ALL_WORDS].word_index.tolist() == [0, 3, 6]
    with pytest.raises(ValueError, match="all_words"):
        category_words(raw, [ALL_WORDS], all_words="most")


def _word(i, form, upos, feats=None):
    return Word(i, form, form, upos, "_", feats or {}, 0, "dep", "_", "_")


def test_surface_tokens_hold_the_categories_of_their_words():
    # Spanish "Vino del mar al puerto": "del" = de + el, "al" = a + el (CoNLL-U ranges 2-3 and 5-6).
    words = [_word(1, "Vino", "VERB", {"Tense": "Past", "Number": "Sing"}), _word(2, "de", "ADP"),
             _word(3, "el", "DET", {"Number": "Sing", "Definite": "Def"}), _word(4, "mar", "NOUN", {"Number": "Sing"}),
             _word(5, "a", "ADP"), _word(6, "el", "DET", {"Number": "Sing", "Definite": "Def"}),
             _word(7, "puerto", "NOUN", {"Number": "Sing"})]
    sentence = Sentence("es", "1", words, "Vino del mar al puerto",
                        multiword=[MultiwordToken(2, 3, "del"), MultiwordToken(5, 6, "al")])
    surface, token_of = surface_sentence(sentence)
    assert surface.forms == ["Vino", "del", "mar", "al", "puerto"] and [w.id for w in surface.words] == [1, 2, 3, 4, 5]
    assert token_of.tolist() == [0, 1, 1, 2, 3, 3, 4] and surface.multiword == []
    by_words = category_words([sentence], ["Number", ALL_WORDS])
    assert by_words["Number"].word_index.tolist() == [0, 2, 3, 5, 6]  # syntactic words: "el" twice
    by_tokens = category_words([sentence], ["Number", ALL_WORDS], multiword="surface")
    assert by_tokens["Number"].word_index.tolist() == [0, 1, 2, 3, 4]  # the tokens "del" and "al" carry Number
    assert by_tokens[ALL_WORDS].word_index.tolist() == [0, 1, 2, 3, 4]  # "del" counts once, not twice
    assert by_tokens[ALL_WORDS].values.tolist() == ["VERB", "ADP", "NOUN", "ADP", "NOUN"]  # its first word's
    plain = Sentence("en", "2", words[:1])
    assert surface_sentence(plain)[0] is plain

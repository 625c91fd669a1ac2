"""Nothing disappears without being counted: every word, sentence or paragraph a run leaves out is in its
manifest's ``skipped`` list with its reason and count, so kept + counted = what the corpus had.

Where loss can happen and where it is counted: a word truncation cuts (wholly or in part) or that has no token
(the store's manifest, and each run's ``skipped``); a sentence longer than ``max_length`` (its vector reads only
its first tokens); a blank line of a parallel text file (it has no sentence vector: the unit is dropped from
every language); LibreOffice Help paragraphs left untranslated or missing in another language
(tests/data/test_lohelp.py); sentences without words or text in the factorization study.
"""

from __future__ import annotations

import json

import pytest
from tiny_models import build_tiny

from crossling.data.corpus import Corpus, drop_blank
from crossling.data.parallel import whitespace_sentence
from crossling.exceptions import DataLossWarning
from crossling.extraction.run import ExtractConfig, run_extract
from crossling.factorization.run import study_sentences
from crossling.models import load_model
from crossling.similarity.run import SimilarityConfig, run_similarity

EN = ["the cat sees the dog", "a very small house stands near the old tree", "", "birds fly", "   "]
DE = ["die katze sieht den hund", "ein sehr kleines haus steht nahe dem alten baum", "", "vögel fliegen", "  "]


@pytest.fixture
def corpus(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    for lang, lines in (("en", EN * 4), ("de", DE * 4)):
        (folder / f"{lang}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_tiny("xlmr", tmp_path_factory.mktemp("xlmr") / "m")


def test_words_cut_by_truncation_are_counted_by_the_extraction_run(tiny, corpus, tmp_path):
    config = ExtractConfig(model=str(tiny), corpus=f"text:{corpus}", level="word", max_length=6, out=tmp_path / "out")
    with pytest.warns(DataLossWarning, match="cut by it"):
        stores = run_extract(config, progress=False)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    for lang, lines in (("en", EN * 4), ("de", DE * 4)):
        words = sum(len(line.split()) for line in lines)
        counted = sum(e["count"] for e in manifest["skipped"] if e["store"] == lang)
        assert counted > 0 and stores[lang].n_rows + counted == words
    assert {e["what"] for e in manifest["skipped"]} == {"word"}
    reasons = {e["reason"] for e in manifest["skipped"]}
    assert reasons == {"cut by truncation at 6 tokens, wholly or in part: no vector"}


def test_blank_and_truncated_sentences_are_counted_by_a_study(tiny, corpus, tmp_path):
    config = SimilarityConfig(model=str(tiny), corpus=f"text:{corpus}", indices=["cka"], max_length=5,
                              store_dir=tmp_path / "stores", out=tmp_path / "out")
    with pytest.warns(DataLossWarning):
        run = run_similarity(config, progress=False)
    assert run.result.n == 12  # 20 lines, 8 of them blank
    blank = {e["language"]: e["count"] for e in run.manifest["skipped"] if e["what"] == "sentence"}
    assert blank == {"en": 8, "de": 8}
    tokenizer = load_model(tiny).tokenizer
    for lang, lines in (("en", EN * 4), ("de", DE * 4)):
        long = sum(len(tokenizer(line)["input_ids"]) > 5 for line in lines if line.strip())
        tails = [e["count"] for e in run.manifest["skipped"] if e["what"] == "sentence tail" and e["store"] == lang]
        assert tails == [long] and long > 0


def test_sentences_without_words_are_counted_by_the_factorization_study(corpus):
    sentences = study_sentences(f"text:{corpus}", ["en", "de"])
    assert [len(sentences[lang]) for lang in ("en", "de")] == [12, 12]
    assert sentences.skipped == [{"what": "sentence", "reason": "no words and no text", "language": lang, "count": 8}
                                 for lang in ("en", "de")]


def test_drop_blank_keeps_units_aligned_and_counts_them():
    def sentences(lang, texts):
        return [whitespace_sentence(t, lang=lang, sent_id=str(k)) for k, t in enumerate(texts, 1)]

    corpus = Corpus({"en": sentences("en", ["a b", "", "c", " "]), "de": sentences("de", ["x y", "z", "", "w"])},
                    [{"what": "paragraph", "reason": "earlier", "language": "en", "count": 2}])
    aligned = drop_blank(corpus, aligned=True)
    assert [s.sent_id for s in aligned["en"]] == [s.sent_id for s in aligned["de"]] == ["1"]
    assert aligned.skipped[0]["reason"] == "earlier"
    assert [(e["language"], e["count"]) for e in aligned.skipped[1:]] == [("en", 3), ("de", 3)]
    each = drop_blank(corpus, aligned=False)
    assert [s.sent_id for s in each["en"]] == ["1", "3"] and [s.sent_id for s in each["de"]] == ["1", "2", "4"]
    assert [(e["language"], e["count"], e["reason"]) for e in each.skipped[1:]] == [
        ("en", 2, "blank: no words and no text"), ("de", 1, "blank: no words and no text")]

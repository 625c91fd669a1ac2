"""The texts: read through corpus specs each language on its own, deduplicated, split and sampled."""

from __future__ import annotations

import pytest

from crossling.data.languages import count_characters, coverage_size
from crossling.data.lohelp import read_lohelp
from crossling.data.romanize import CONVENTION
from crossling.exceptions import ConfigError, CorpusSpecError
from crossling.models.pretrain import PretrainConfig, corpus_texts, prepare_corpus, read_texts

from .pretrain_data import synthetic

CONLLU = """# sent_id = {lang}-{split}-1
# text = {word} world
1\t{word}\t_\tINTJ\t_\t_\t0\troot\t_\t_
2\tworld\t_\tNOUN\t_\t_\t1\tvocative\t_\t_

# sent_id = {lang}-{split}-2
1\tGood\t_\tADJ\t_\t_\t2\tamod\t_\t_
2\tbye\t_\tNOUN\t_\t_\t0\troot\t_\tSpaceAfter=No
3\t!\t_\tPUNCT\t_\t_\t2\tpunct\t_\t_

"""


def test_prepare_corpus_split_and_sampling():
    texts = {"a": [f"a {i}" for i in range(300)] + ["a 0", "  a   1 "], "b": [f"b {i}" for i in range(120)]}
    corpus = prepare_corpus(texts, validation_items=20, seed=0, low_resource=["a"])
    assert corpus.record["duplicates_removed"] == {"a": 2, "b": 0}
    assert {k: len(v) for k, v in corpus.validation.items()} == {"a": 20, "b": 20}
    assert not set(corpus.validation["a"]) & set(corpus.train["a"])
    assert len(corpus.train["b"]) == 100 and len(corpus.train["a"]) == 10  # equal, then 10% of a
    with pytest.raises(ValueError, match="fewer than twice"):
        prepare_corpus({"a": ["x", "y"]}, validation_items=2)
    with pytest.raises(ConfigError, match="sampling: size=500 exceeds the smallest language"):
        prepare_corpus(texts, validation_items=20, sample_size=500)


def test_prepare_corpus_romanizes():
    pytest.importorskip("pypinyin")
    texts = {"zh": [f"中国 {i}" for i in range(10)]}
    corpus = prepare_corpus(texts, validation_items=2, romanize=["zh"], seed=0)
    assert all(t.startswith("zhongguo ") for t in corpus.train["zh"] + corpus.validation["zh"])
    # a sentence without spaces is segmented first: words separated by a space, as the analysis feeds them
    corpus = prepare_corpus({"zh": [f"我们学习中文{i}" for i in range(10)]}, validation_items=2, romanize=["zh"])
    assert all(t.startswith("women xuexi zhongwen ") for t in corpus.train["zh"])
    assert corpus.record["romanized"] == ["zh"] and corpus.record["romanization"] == CONVENTION


def test_prepare_corpus_records_the_characters_of_the_training_texts():
    # en: 100 texts "ab<i>"; after 20 held out, 80 are sampled; counted with repeats, as the models see them
    texts = {"en": [f"ab{i:03d}" for i in range(100)], "de": [f"xyz{i:03d}" for i in range(100)]}
    corpus = prepare_corpus(texts, validation_items=20, sampling="temperature", sample_size=400, seed=0)
    record = corpus.record["characters"]
    for lang in ("en", "de"):
        counts = count_characters(corpus.train[lang])
        assert record[lang] == {"characters": sum(counts.values()), "distinct": len(counts), "coverage": 0.999,
                                "distinct_at_coverage": coverage_size(counts, coverage=0.999)}
    assert record["en"]["characters"] == 5 * len(corpus.train["en"])


def test_text_folder_languages_are_read_on_their_own(tmp_path):
    # Monolingual texts of different lengths (a parallel reading would refuse them), with blank lines.
    folder = tmp_path / "texts"
    folder.mkdir()
    lines = {"xx": synthetic("x", 30, 0) + ["", "   "], "yy": ["  y  first  "] + synthetic("y", 45, 1)}
    for lang, items in lines.items():
        (folder / f"{lang}.txt").write_text("\n".join(items) + "\n", encoding="utf-8")
    config = PretrainConfig(corpus=f"text:{folder}", languages=["yy", "xx"], out=tmp_path / "out")
    corpus, texts = read_texts(config)
    assert list(corpus) == ["yy", "xx"] and [len(corpus[lang]) for lang in corpus] == [46, 32]
    assert texts["yy"][0] == "  y  first  " and [len(texts[lang]) for lang in texts] == [46, 30]
    # The reader of one text file per language before corpus specs kept the stripped non-blank lines; the
    # preparation (whitespace runs become one space) makes the same corpus of both.
    before = {}
    for lang in ("yy", "xx"):
        with open(folder / f"{lang}.txt", encoding="utf-8") as fh:
            before[lang] = [line.strip() for line in fh if line.strip()]
    assert prepare_corpus(texts, validation_items=5, seed=3) == prepare_corpus(before, validation_items=5, seed=3)
    with pytest.raises(CorpusSpecError, match="no zz.txt"):
        read_texts(config.model_copy(update={"languages": ["xx", "zz"]}))


def test_ud_folder_reads_the_train_files_and_falls_back_to_forms(tmp_path):
    for lang, word in (("xx", "Hello"), ("yy", "Hej")):
        for split in ("train", "test"):
            (tmp_path / f"{lang}_toy-{split}.conllu").write_text(CONLLU.format(lang=lang, split=split, word=word))
    config = PretrainConfig(corpus=f"ud:{tmp_path}", languages=["xx", "yy"], out=tmp_path / "out")
    corpus, texts = read_texts(config)
    assert [s.sent_id for s in corpus["xx"]] == ["xx-train-1", "xx-train-2"]  # test files stay unseen
    # the # text where there is one; the word forms joined by spaces where a sentence has none
    assert texts == {"xx": ["Hello world", "Good bye !"], "yy": ["Hej world", "Good bye !"]}
    _, every_split = read_texts(config.model_copy(update={"split": "all"}))
    assert len(every_split["xx"]) == 4


def test_corpus_texts_drop_blank_texts_only():
    corpus = {"xx": [_sentence("a b", ["a", "b"]), _sentence(None, ["c", "d"]), _sentence(" ", []),
                     _sentence("", ["e"]), _sentence("a b", ["a", "b"])]}
    # an empty # text is a text (blank, so left out), not a missing one; duplicates are prepare_corpus's job
    assert corpus_texts(corpus) == {"xx": ["a b", "c d", "a b"]}


def _sentence(text, forms):
    from crossling.data.parallel import whitespace_sentence

    sentence = whitespace_sentence(" ".join(forms), lang="xx", sent_id="1")
    sentence.text = text
    return sentence


def test_lohelp_is_read_per_language(monkeypatch, tmp_path):
    calls = []

    def fake(languages, cache_dir=None, *, parallel=True):
        calls.append((languages, cache_dir, parallel))
        return {lang: [] for lang in languages}

    monkeypatch.setattr("crossling.data.lohelp.read_lohelp", fake)
    read_texts(PretrainConfig(corpus="lohelp:", languages=["de", "ru"], out=tmp_path))
    read_texts(PretrainConfig(corpus=f"lohelp:{tmp_path}", languages=["de"], out=tmp_path))
    assert calls == [(["de", "ru"], None, False), (["de"], str(tmp_path), False)]


@pytest.mark.slow
def test_lohelp_texts_are_every_translated_paragraph(tmp_path):
    corpus, texts = read_texts(PretrainConfig(languages=["de", "fi"], out=tmp_path))
    loose = read_lohelp(["de", "fi"], parallel=False)
    aligned = read_lohelp(["de", "fi"])
    for lang in ("de", "fi"):
        assert texts[lang] == [s.text for s in loose[lang]]
        assert len(texts[lang]) > len(aligned[lang])  # not only the paragraphs both languages have

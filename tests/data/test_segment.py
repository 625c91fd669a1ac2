"""crossling.data.segment: words of raw text, segmented for Chinese and Japanese, refused where impossible."""

from __future__ import annotations

import pytest

from crossling.data.conllu import read_conllu
from crossling.data.parallel import whitespace_sentence
from crossling.data.segment import SEGMENTED, UNSEGMENTED, require_segmentation, segment_words, segmenter_record
from crossling.exceptions import ConfigError


def test_whitespace_languages_are_split_at_whitespace():
    assert segment_words("  Das  ist\tein Test. ", "de") == ["Das", "ist", "ein", "Test."]
    assert segment_words("   ", "en") == []


def test_chinese_and_japanese_are_segmented_into_words():
    # Known answers: jieba's precise mode and UniDic short units; a text without spaces is not one "word".
    assert segment_words("我们在北京大学学习中文。", "zh") == ["我们", "在", "北京大学", "学习", "中文", "。"]
    japanese = ["私", "は", "日本", "語", "を", "勉強", "し", "ます", "。"]
    assert segment_words("私は日本語を勉強します。", "ja") == japanese
    # spaces still separate words (Latin inside CJK text) and never become words
    assert segment_words("用 iPhone 拍照", "zh") == ["用", "iPhone", "拍照"]
    assert set(SEGMENTED) == {"zh", "ja"}


def test_segmented_words_follow_the_ud_word_unit(data_dir):
    # The Japanese segmenter gives UniDic short units, the word unit of UD Japanese: on PUD sentences it finds
    # most UD words (the two disagree on some compounds and inflections, so not all).
    sentences = list(read_conllu(data_dir / "ud" / "pud" / "ja_pud.conllu.gz"))[:50]
    ud = sum(len(s.words) for s in sentences)
    segmented = sum(len(segment_words(s.text, "ja")) for s in sentences)
    assert 0.8 < segmented / ud < 1.25
    whitespace = sum(len(s.text.split()) for s in sentences)
    assert whitespace < ud / 10  # what splitting at whitespace counted


def test_raw_text_sentences_use_the_segmenter():
    sentence = whitespace_sentence("我们学习中文", lang="zh", sent_id="1")
    assert sentence.forms == ["我们", "学习", "中文"] and [w.id for w in sentence.words] == [1, 2, 3]
    assert sentence.text == "我们学习中文"


def test_languages_without_a_segmenter_are_refused_where_words_are_counted():
    assert "th" in UNSEGMENTED
    assert segment_words("ภาษาไทย ง่าย", "th") == ["ภาษาไทย", "ง่าย"]  # readable, e.g. for sentence vectors
    with pytest.raises(ConfigError, match=r"\['th'\] are written without spaces"):
        require_segmentation(["en", "th"], what="the factorization of text:x")
    require_segmentation(["en", "zh", "ja"], what="x")
    assert segmenter_record("en") == {"method": "whitespace (str.split)"}
    record = segmenter_record("ja")
    assert "UniDic" in record["method"] and record["versions"]["fugashi"] and record["versions"]["unidic-lite"]

"""crossling.data.romanize: pinyin and Hepburn word by word, alignment kept."""

from __future__ import annotations

import pytest

from crossling.data.romanize import CONVENTION, romanize_text, romanize_words


def test_chinese_pinyin_without_tones_per_word():
    words = ["中国人", "喜欢", "长城", "，", "iPhone", "2023年"]
    # 长 in 长城 is read cháng (long), not zhǎng: lazy_pinyin uses phrase readings.
    assert romanize_words(words, "zh") == ["zhongguoren", "xihuan", "changcheng", "，", "iPhone", "2023nian"]


def test_japanese_hepburn_per_word():
    words = ["日本語", "を", "勉強", "します", "東京", "ABC"]
    assert romanize_words(words, "ja") == ["nihongo", "wo", "benkyou", "shimasu", "toukyou", "ABC"]


@pytest.mark.parametrize("lang", ["zh", "ja"])
def test_alignment_is_kept(lang):
    words = ["中国", "人", "。", "x"] * 5
    out = romanize_words(words, lang)
    assert len(out) == len(words) and all(out)
    assert out == [romanize_words([w], lang)[0] for w in words]  # each word converted on its own


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="'ko'"):
        romanize_words(["한국어"], "ko")
    with pytest.raises(ValueError, match="sequence of words"):
        romanize_words("中国人", "zh")
    with pytest.raises(ValueError, match="word 1"):
        romanize_words(["中国", ""], "zh")


def test_text_is_romanised_as_the_analysis_romanises_words():
    # Pre-training and analysis see the same text: the words (segmented), each romanised with its syllables
    # joined, separated by one space; not the whole sentence's syllables run together with no boundary.
    text = "中国人喜欢长城。"  # jieba: 中国 / 人 / 喜欢 / 长城 / 。
    assert romanize_text(text, "zh") == "zhongguo ren xihuan changcheng 。"
    assert romanize_text(text, "zh") == " ".join(romanize_words(["中国", "人", "喜欢", "长城", "。"], "zh"))
    assert romanize_text("日本語を勉強します", "ja") == "nippon go wo benkyou shi masu"  # 日本 / 語 / を / ...
    assert romanize_text("  ", "zh") == ""
    assert CONVENTION["within a word"].startswith("syllables joined") and "one space" in CONVENTION["between words"]
    with pytest.raises(ValueError, match="'ko'"):
        romanize_text("한국어", "ko")

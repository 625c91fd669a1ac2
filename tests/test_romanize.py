"""crossling.data.romanize: pinyin and Hepburn word by word, alignment kept."""

from __future__ import annotations

import pytest

from crossling.data.romanize import romanize_words


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

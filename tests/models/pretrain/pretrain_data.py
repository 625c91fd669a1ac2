"""Texts and sizes shared by the pre-training tests."""

from __future__ import annotations

import numpy as np

from crossling.models.pretrain import ModelSize, pack_blocks

SENTENCES = {
    "en": ["The quick brown fox jumps over the lazy dog.", "Multilingual models represent languages layer by layer.",
           "Click the button to open the dialog.", "Select a cell and choose Format - Cells."],
    "de": ["Der schnelle braune Fuchs springt über den faulen Hund.", "Klicken Sie auf die Schaltfläche.",
           "Wählen Sie eine Zelle und dann Format - Zellen.", "Mehrsprachige Modelle stellen Sprachen dar."],
    "ru": ["Быстрая коричневая лиса прыгает через ленивую собаку.", "Нажмите кнопку, чтобы открыть диалог.",
           "Выберите ячейку и затем Формат - Ячейки.", "Многоязычные модели представляют языки."],
}
MICRO = ModelSize(layers=2, hidden=64, heads=2, ffn=128, max_length=32)
SYLLABLES = ["ba", "ko", "mi", "tu", "re", "sa", "lo", "ne", "di", "fu", "pa", "ze"]


def synthetic(prefix: str, n: int, seed: int) -> list[str]:
    """Texts of one 'language': a two-syllable word repeated 6..15 times. Context predicts a masked
    token almost surely; the unigram distribution (about 24 pieces) does not."""
    rng = np.random.default_rng(seed)
    words = [prefix + a + b for a in SYLLABLES for b in SYLLABLES]
    return [" ".join([words[rng.integers(len(words))]] * int(rng.integers(6, 16))) for _ in range(n)]


def blocks(tokenizer, texts):
    """``texts`` tokenised without special tokens and packed into MICRO blocks."""
    return pack_blocks([tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts], MICRO.max_length)


def text_dir(tmp_path, n=120):
    """A ``text:`` corpus folder: xx.txt and yy.txt of ``n`` synthetic texts each."""
    folder = tmp_path / "texts"
    folder.mkdir()
    for i, lang in enumerate(("xx", "yy")):
        (folder / f"{lang}.txt").write_text("\n".join(synthetic(lang[0], n, i)), encoding="utf-8")
    return folder

"""The shared tokenizer: XLM-R's special tokens, reloading, and text that round-trips."""

from __future__ import annotations

from transformers import AutoTokenizer

from .pretrain_data import SENTENCES


def test_tokenizer_special_tokens_and_reload(tokenizer, tmp_path):
    assert [tokenizer.convert_tokens_to_ids(t) for t in ("<s>", "<pad>", "</s>", "<unk>")] == [0, 1, 2, 3]
    assert tokenizer.mask_token == "<mask>" and tokenizer.mask_token_id == len(tokenizer) - 1
    assert type(tokenizer).__name__ == "XLMRobertaTokenizer" and tokenizer.is_fast
    assert tokenizer.model_max_length == 32
    tokenizer.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path)
    text = "Klicken Sie auf Format - Zellen."
    assert again(text)["input_ids"] == tokenizer(text)["input_ids"]
    ids = tokenizer(text)["input_ids"]
    assert ids[0] == 0 and ids[-1] == 2
    assert tokenizer(["Klicken", "Sie"], is_split_into_words=True).word_ids()[1] == 0


def test_tokenizer_round_trips_text(tokenizer):
    for sentences in SENTENCES.values():
        for text in sentences:
            ids = tokenizer(text)["input_ids"]
            assert 3 not in ids  # no <unk> for seen characters
            assert tokenizer.decode(ids, skip_special_tokens=True) == text
    # Whitespace runs collapse to one space (SentencePiece behaviour).
    messy = "Klicken   Sie\tauf"
    assert tokenizer.decode(tokenizer(messy)["input_ids"], skip_special_tokens=True) == "Klicken Sie auf"

"""Extraction: word and sentence vectors equal a direct per-sentence computation; batching is invisible."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_models import KINDS, build_tiny

from crossling.exceptions import DataLossWarning
from crossling.extraction.extract import ExtractionOptions, encode, sentence_vectors, word_vectors
from crossling.models import load_model
from crossling.models.loading import quiet_transformers

SENTENCES = [
    ["The", "quick", "brown", "fox", "jumps", "."],
    ["Der", "Fuchs"],
    ["Быстрая", "коричневая", "лиса", "прыгает", "через", "ленивую", "собаку", "."],
    ["Nopea", "kettu"],
    ["Le", "renard", "brun", "rapide", "saute", "par-dessus", "le", "chien", "."],
]


@pytest.fixture(scope="module", params=KINDS)
def tiny(request, tmp_path_factory):
    return load_model(build_tiny(request.param, tmp_path_factory.mktemp(request.param)))


def _states(lm, ids, stack="encoder", shift=False):
    """All hidden states of one unpadded input, computed directly from the model."""
    input_ids = torch.tensor([ids])
    with torch.no_grad():
        if lm.kind == "encoder-decoder":
            if stack == "encoder":
                hidden = lm.model.encoder(input_ids=input_ids, output_hidden_states=True).hidden_states
            else:
                dec = lm.model._shift_right(input_ids) if shift else input_ids
                hidden = lm.model(input_ids=input_ids, decoder_input_ids=dec,
                                  output_hidden_states=True).decoder_hidden_states
        else:
            hidden = lm.model(input_ids=input_ids, output_hidden_states=True).hidden_states
    return np.stack([h[0].numpy() for h in hidden])  # (L, T, d)


def _special_frame(tok):
    """The special tokens the tokenizer puts before and after the content of one sequence."""
    inner = tok("x", add_special_tokens=False)["input_ids"]
    outer = tok("x")["input_ids"]
    s = next(s for s in range(len(outer)) if outer[s:s + len(inner)] == inner)
    return outer[:s], outer[s + len(inner):]


def _direct_words(lm, words, pooling, **kw):
    """Each word's pieces tokenised on their own, laid side by side between the special tokens."""
    tok = lm.word_tokenizer
    pieces = [tok(w, add_special_tokens=False)["input_ids"] for w in words]
    content = [i for p in pieces for i in p]
    prefix, suffix = _special_frame(tok)
    states = _states(lm, prefix + content + suffix, **kw)
    start = len(prefix)
    out, pos = [], start
    for p in pieces:
        span = states[:, pos:pos + len(p)]
        out.append({"mean": span.mean(1), "first": span[:, 0], "last": span[:, -1]}[pooling])
        pos += len(p)
    return np.stack(out, axis=1)


@pytest.mark.parametrize("pooling", ["mean", "first", "last"])
def test_word_vectors_equal_direct_computation(tiny, pooling):
    got = word_vectors(tiny, SENTENCES, pooling=pooling, batch_size=3, progress=False)
    expected = np.concatenate([_direct_words(tiny, s, pooling) for s in SENTENCES], axis=1)
    assert got.vectors.shape == (tiny.n_hidden_states, sum(map(len, SENTENCES)), tiny.hidden_size)
    assert got.vectors.dtype == np.float32
    np.testing.assert_allclose(got.vectors, expected, atol=1e-5, rtol=0)
    np.testing.assert_array_equal(got.sentence_index, np.repeat(np.arange(5), [len(s) for s in SENTENCES]))
    np.testing.assert_array_equal(got.word_index, np.concatenate([np.arange(len(s)) for s in SENTENCES]))


def test_batched_equals_one_at_a_time(tiny):
    batched = word_vectors(tiny, SENTENCES, batch_size=5, progress=False).vectors
    single = word_vectors(tiny, SENTENCES, batch_size=1, progress=False).vectors
    np.testing.assert_allclose(batched, single, atol=1e-5, rtol=0)
    texts = [" ".join(s) for s in SENTENCES]
    np.testing.assert_allclose(sentence_vectors(tiny, texts, batch_size=4, progress=False),
                               sentence_vectors(tiny, texts, batch_size=1, progress=False), atol=1e-5, rtol=0)


@pytest.mark.parametrize("pooling", ["mean", "first", "last"])
def test_sentence_pooling_equals_direct_computation(tiny, pooling):
    texts = [" ".join(s) for s in SENTENCES]
    got = sentence_vectors(tiny, texts, pooling=pooling, layers=(0, -1), progress=False)
    for i, text in enumerate(texts):
        enc = tiny.tokenizer(text, return_special_tokens_mask=True)
        states = _states(tiny, enc["input_ids"])[[0, -1]]
        keep = np.array(enc["special_tokens_mask"]) == 0
        expected = {"mean": states[:, keep].mean(1), "first": states[:, 0], "last": states[:, -1]}[pooling]
        np.testing.assert_allclose(got[:, i], expected, atol=1e-5, rtol=0)


def test_mean_over_the_attention_mask_pools_special_tokens_too(tiny):
    """Del and Fishel's code: masked mean of every token the attention mask covers, special tokens included."""
    texts = [" ".join(s) for s in SENTENCES]
    got = sentence_vectors(tiny, texts, pooling="mean", include_special=True, max_length=8, progress=False)
    for i, text in enumerate(texts):
        ids = tiny.tokenizer(text, truncation=True, max_length=8)["input_ids"]
        np.testing.assert_allclose(got[:, i], _states(tiny, ids).mean(1), atol=1e-5, rtol=0)


@pytest.mark.parametrize("shift", [False, True])
def test_t5_decoder_states(tmp_path, shift):
    lm = load_model(build_tiny("t5", tmp_path / "t5"))
    got = word_vectors(lm, SENTENCES, stack="decoder", decoder_shift=shift, progress=False).vectors
    expected = np.concatenate([_direct_words(lm, s, "mean", stack="decoder", shift=shift) for s in SENTENCES], axis=1)
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)
    encoder = word_vectors(lm, SENTENCES, progress=False).vectors
    assert not np.allclose(got, encoder)


def test_t5_source_conditioned_decoder_states(tmp_path):
    """The encoder reads the source text, the decoder the target words shifted right (teacher forcing)."""
    lm = load_model(build_tiny("t5", tmp_path / "t5"))
    targets, sources = SENTENCES[:2], [" ".join(SENTENCES[2]), " ".join(SENTENCES[4])]
    got = word_vectors(lm, targets, stack="decoder", decoder_shift=True, progress=False, sources=sources).vectors
    expected = []
    for words, source in zip(targets, sources):
        tok = lm.word_tokenizer
        pieces = [tok(w, add_special_tokens=False)["input_ids"] for w in words]
        prefix, suffix = _special_frame(tok)
        ids = torch.tensor([prefix + [i for p in pieces for i in p] + suffix])
        with torch.no_grad():
            hidden = lm.model(input_ids=torch.tensor([lm.tokenizer(source)["input_ids"]]),
                              decoder_input_ids=lm.model._shift_right(ids), output_hidden_states=True)
        states = np.stack([h[0].numpy() for h in hidden.decoder_hidden_states])
        pos = len(prefix)
        for p in pieces:
            expected.append(states[:, pos:pos + len(p)].mean(1))
            pos += len(p)
    np.testing.assert_allclose(got, np.stack(expected, axis=1), atol=1e-5, rtol=0)
    # Another source changes every decoder state but the embedding output; a later target word changes none
    # of the earlier ones (the decoder is causal).
    other = word_vectors(lm, targets, stack="decoder", decoder_shift=True, progress=False,
                         sources=sources[::-1]).vectors
    assert np.allclose(got[0], other[0]) and not np.allclose(got[1:], other[1:])
    longer = word_vectors(lm, [targets[0] + ["lazy"]], stack="decoder", decoder_shift=True, progress=False,
                          sources=sources[:1]).vectors
    np.testing.assert_allclose(longer[:, : len(targets[0])], got[:, : len(targets[0])], atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="encoder-decoder"):
        word_vectors(lm, targets, progress=False, sources=sources)  # the encoder stack reads no other text
    with pytest.raises(ValueError, match="1 sources for 2 inputs"):
        word_vectors(lm, targets, stack="decoder", progress=False, sources=sources[:1])


def test_truncation_warns_and_records(tmp_path):
    lm = load_model(build_tiny("xlmr", tmp_path / "x"))
    long_sentence = ["word"] * 100
    opts = ExtractionOptions(level="word", max_length=20)
    with pytest.warns(UserWarning, match="truncated"):
        enc = encode(lm, [long_sentence, ["short"]], opts)
    assert enc.stats.n_truncated == 1
    assert enc.stats.n_words_dropped == 100 - enc.rows_per_item("word")[0]
    assert max(len(e.input_ids) for e in enc.items) == 20


def test_layer_selection_and_errors(tiny):
    last = sentence_vectors(tiny, ["a b c"], layers=(-1,), progress=False)
    full = sentence_vectors(tiny, ["a b c"], progress=False)
    np.testing.assert_allclose(last[0], full[-1], atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="out of range"):
        sentence_vectors(tiny, ["a"], layers=(99,), progress=False)
    with pytest.raises(TypeError, match="lists of words"):
        word_vectors(tiny, ["not a word list"], progress=False)


def test_missing_model_is_a_clear_error(tmp_path, monkeypatch):
    from crossling.exceptions import ModelLoadError

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="not a local folder"):
        load_model("no-such-org/no-such-model")


def _cut_inside_a_word(lm, words):
    """A max_length that truncation reaches in the middle of a word, that word, and the words without a token."""
    with quiet_transformers():
        wids = lm.word_tokenizer(words, is_split_into_words=True).word_ids(0)
    n_special = sum(w is None for w in wids)
    content = [w for w in wids if w is not None]
    empty = set(range(len(words))) - set(content)
    for t in range(1, len(content)):
        if content[t] == content[t - 1] and content[t] >= 4:  # some words before it are kept
            return t + n_special, content[t], empty
    raise AssertionError(f"no word of {words} has two pieces")


@pytest.mark.parametrize("pooling", ["mean", "first", "last"])
def test_a_word_cut_by_truncation_is_dropped_and_counted(tiny, pooling):
    words = ["Quizzically", "zebras", "juxtapose", "\u200b", "wolfhounds", "overhead", "."] * 2
    max_length, cut, empty = _cut_inside_a_word(tiny, words)
    with pytest.warns(DataLossWarning, match=r"words cut by it \(wholly or in part\) have no vector"):
        enc = encode(tiny, [words], ExtractionOptions(level="word", max_length=max_length, pooling=pooling))
    kept = sorted({w for w in enc.items[0].word_ids if w is not None})
    # Every word before the cut keeps all its pieces; the word cut in the middle and all after it are gone.
    assert kept == [w for w in range(cut) if w not in empty] and len(kept) >= 3 and cut not in kept
    assert enc.stats.n_words_empty == len(empty)
    assert enc.stats.n_words_truncated == len([w for w in range(cut, len(words)) if w not in empty])
    assert enc.stats.n_words_dropped == len(words) - len(kept)
    # The vectors of the words kept are those of the truncated input, pooled over each word's whole pieces.
    batch = word_vectors(tiny, [words], max_length=max_length, pooling=pooling, progress=False)
    assert list(batch.word_index) == kept
    states = _states(tiny, enc.items[0].input_ids)
    for row, w in enumerate(kept):
        pos = [t for t, x in enumerate(enc.items[0].word_ids) if x == w]
        pick = {"mean": states[:, pos].mean(1), "first": states[:, pos[0]], "last": states[:, pos[-1]]}[pooling]
        np.testing.assert_allclose(batch.vectors[:, row], pick, atol=1e-5, rtol=0)

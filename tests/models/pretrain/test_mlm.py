"""Masked-language modelling: packing, BERT's masking, the unigram baseline and bias, the models."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
import torch
from transformers import AutoModel, AutoTokenizer, RobertaForMaskedLM, XLMRobertaForMaskedLM

from crossling.models.pretrain import (
    IGNORE,
    build_model,
    init_unigram_bias,
    mask_tokens,
    mlm_loss,
    pack_blocks,
    unigram_cross_entropy,
)

from .pretrain_data import MICRO, SENTENCES, blocks


def test_pack_blocks_known_answer():
    packed = pack_blocks([[5, 6], [7], [8, 9, 10]], block_length=4)
    # stream: 5 6 </s> 7 </s> 8 9 10 </s> -> pieces of 3 after <s>, last padded
    assert packed.tolist() == [[0, 5, 6, 2], [0, 7, 2, 8], [0, 9, 10, 2]]
    packed = pack_blocks([[5, 6, 7]], block_length=4)
    assert packed.tolist() == [[0, 5, 6, 7], [0, 2, 1, 1]]
    assert packed.dtype == np.int32
    with pytest.raises(ValueError, match="at least 2"):
        pack_blocks([[5]], block_length=1)


def test_mask_tokens_80_10_10():
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(4, 999, (400, 250))
    ids[:, 0], ids[:, -1], ids[:, -20:-1] = 0, 2, 1  # <s>, </s>, padding
    inputs, labels = mask_tokens(ids, mask_id=999, probability=0.15, generator=gen)
    ordinary = (ids > 2)
    selected = labels != IGNORE
    n = int(ordinary.sum())
    assert not selected[~ordinary].any()  # specials never selected
    assert (labels[selected] == ids[selected]).all()
    assert (inputs[~selected] == ids[~selected]).all()
    rate = selected.sum().item() / n
    assert abs(rate - 0.15) < 4 * math.sqrt(0.15 * 0.85 / n)
    k = int(selected.sum())
    masked = (inputs[selected] == 999).sum().item() / k
    kept = (inputs[selected] == ids[selected]).sum().item() / k
    random = 1 - masked - kept
    sd = math.sqrt(0.1 * 0.9 / k)
    assert abs(masked - 0.8) < 4 * math.sqrt(0.16 / k)
    # A random replacement equals the original with probability 1/996: counted as "kept".
    assert abs(kept - (0.1 + 0.1 / 996)) < 4 * sd and abs(random - 0.1 * 995 / 996) < 4 * sd
    assert inputs[selected].max() <= 999 and inputs[selected].min() >= 3


def test_unigram_cross_entropy_matches_counting():
    vocab = 12  # ids 3..10 ordinary, 11 = <mask>
    train = np.array([[0, 4, 4, 5, 2], [0, 4, 6, 1, 1], [0, 3, 10, 2, 1]])
    targets = np.array([4, 5, 7, 4])
    counts = Counter(int(t) for t in train.ravel() if t not in (0, 1, 2, 11))
    n_ordinary = vocab - 4
    expected = -np.mean([math.log((counts[t] + 1) / (sum(counts.values()) + n_ordinary)) for t in targets])
    assert unigram_cross_entropy(train, targets, vocab) == pytest.approx(expected, rel=1e-12)
    # Known answer: uniform counts give log(V_ordinary).
    uniform = np.arange(3, 11).reshape(1, -1)
    assert unigram_cross_entropy(uniform, np.array([3, 9]), vocab) == pytest.approx(math.log(8))
    with pytest.raises(ValueError, match="special"):
        unigram_cross_entropy(train, np.array([2]), vocab)


def test_unigram_bias_starts_training_at_the_baseline(tokenizer):
    train = blocks(tokenizer, [t for s in SENTENCES.values() for t in s] * 3)
    val = blocks(tokenizer, [t for s in SENTENCES.values() for t in s])
    vocab = len(tokenizer)
    model = build_model("roberta", MICRO, vocab, seed=0)
    # Independent counting: the bias of an ordinary id is log((c + 1) / (N + V)) over the V ordinary ids.
    ordinary = [int(t) for t in train.ravel() if t not in (0, 1, 2, vocab - 1)]
    counts = Counter(ordinary)
    init_unigram_bias(model, train)
    bias = model.lm_head.bias.detach().double().numpy()
    for v in (3, 10, max(counts, key=counts.get)):
        assert bias[v] == pytest.approx(math.log((counts[v] + 1) / (len(ordinary) + vocab - 4)), rel=1e-6)
    assert bias[vocab - 1] == pytest.approx(bias[3:vocab - 1].min())  # specials: the smallest ordinary value
    # Known answer: with small initial weights the untrained model's held-out loss is the unigram baseline
    # (up to the small h.e term), far below log V where an untrained model otherwise starts.
    inputs, labels = mask_tokens(torch.from_numpy(val), mask_id=vocab - 1, generator=torch.Generator().manual_seed(0))
    baseline = unigram_cross_entropy(train, labels[labels != IGNORE].numpy(), vocab)
    model.eval()
    with torch.no_grad():
        loss = float(mlm_loss(model, inputs, labels))
        fresh = build_model("roberta", MICRO, vocab, seed=0).eval()
        fresh_loss = float(mlm_loss(fresh, inputs, labels))
    assert abs(loss - baseline) < 0.1
    assert fresh_loss == pytest.approx(math.log(vocab), abs=0.3) and fresh_loss > baseline + 0.5


def test_mlm_loss_is_the_cross_entropy_of_the_selected_tokens(tokenizer):
    # Independent computation: the Hugging Face head on every position, then the mean over the selected ones.
    model = build_model("xlm-roberta", MICRO, len(tokenizer), seed=3).eval()
    val = torch.from_numpy(blocks(tokenizer, SENTENCES["de"]))
    inputs, labels = mask_tokens(val, mask_id=len(tokenizer) - 1, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        logits = model(input_ids=inputs, attention_mask=(inputs != 1).long()).logits
        expected = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))
        assert float(mlm_loss(model, inputs, labels)) == pytest.approx(float(expected), rel=1e-5)
        n = int((labels != IGNORE).sum())
        assert float(mlm_loss(model, inputs, labels, reduction="sum")) == pytest.approx(n * float(expected), rel=1e-5)


def test_presets_and_models_load_as_hf_folders(tokenizer, tmp_path):
    multi = build_model("xlm-roberta", MICRO, len(tokenizer), seed=0)
    mono = build_model("roberta", MICRO, len(tokenizer), seed=0)
    assert isinstance(multi, XLMRobertaForMaskedLM) and isinstance(mono, RobertaForMaskedLM)
    assert multi.config.max_position_embeddings == 34 and multi.config.pad_token_id == 1
    multi.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    base = AutoModel.from_pretrained(tmp_path)
    batch = AutoTokenizer.from_pretrained(tmp_path)(["Klicken Sie"], return_tensors="pt")
    out = base(**batch, output_hidden_states=True)
    assert len(out.hidden_states) == MICRO.layers + 1 and out.hidden_states[0].shape[-1] == MICRO.hidden
    torch.testing.assert_close(base.embeddings.word_embeddings.weight,
                               multi.base_model.embeddings.word_embeddings.weight)
    with pytest.raises(ValueError, match="unknown architecture"):
        build_model("bert", MICRO, len(tokenizer), seed=0)

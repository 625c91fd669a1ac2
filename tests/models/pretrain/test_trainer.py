"""Training one model: exact resume after a kill, and learning beyond the unigram baseline."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from crossling.models.pretrain import TrainOptions, build_model, prepare_corpus, train_mlm, train_tokenizer

from .pretrain_data import MICRO, SENTENCES, blocks, synthetic


def test_resume_after_kill_equals_uninterrupted(tokenizer, tmp_path):
    train = {lang: blocks(tokenizer, s * 6) for lang, s in SENTENCES.items()}
    val = {lang: blocks(tokenizer, s) for lang, s in SENTENCES.items()}
    options = TrainOptions(batch_size=4, lr=1e-3, max_steps=12, eval_every=3, checkpoint_every=4, patience=50, seed=5)

    def run(folder, progress=None):
        model = build_model("xlm-roberta", MICRO, len(tokenizer), seed=5)
        return train_mlm(model, tokenizer, train, val, folder, options=options, progress=progress)

    whole = run(tmp_path / "whole")

    class Killed(Exception):
        pass

    def kill_at_7(event):
        if event.step == 7:
            raise Killed

    with pytest.raises(Killed):
        run(tmp_path / "resumed", kill_at_7)
    assert (tmp_path / "resumed.ckpt" / "state.pt").is_file() and not (tmp_path / "resumed").exists()
    resumed = run(tmp_path / "resumed")
    assert resumed.steps == whole.steps == 12 and resumed.best_step == whole.best_step
    a = load_file(tmp_path / "whole" / "model.safetensors")
    b = load_file(tmp_path / "resumed" / "model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-6)
    assert resumed.val_loss == pytest.approx(whole.val_loss, abs=1e-6)
    record = json.loads((tmp_path / "resumed" / "training_record.json").read_text())
    assert record["sessions"] == 2 and not (tmp_path / "resumed.ckpt").exists()
    assert [v["step"] for v in record["val_curve"]] == [3, 6, 9, 12]
    # A finished folder is returned as it is.
    assert run(tmp_path / "whole").val_loss == whole.val_loss


def test_train_mlm_refuses_what_does_not_fit(tokenizer, tmp_path):
    train = {"en": blocks(tokenizer, SENTENCES["en"])}
    model = build_model("roberta", MICRO, len(tokenizer) + 1, seed=0)
    with pytest.raises(ValueError, match="model vocabulary"):
        train_mlm(model, tokenizer, train, train, tmp_path / "m")
    model = build_model("roberta", MICRO, len(tokenizer), seed=0)
    with pytest.raises(ValueError, match="validation languages"):
        train_mlm(model, tokenizer, train, {"de": train["en"]}, tmp_path / "m")


@pytest.mark.slow
def test_tiny_model_beats_unigram_baseline(tmp_path):
    texts = {"xx": synthetic("", 900, 0), "yy": synthetic("ж", 900, 1)}
    corpus = prepare_corpus(texts, validation_items=100, seed=0)
    tok = train_tokenizer(corpus.train, vocab_size=300, max_length=MICRO.max_length, out_dir=tmp_path / "tok")
    train = {lang: blocks(tok, t) for lang, t in corpus.train.items()}
    val = {lang: blocks(tok, t) for lang, t in corpus.validation.items()}
    model = build_model("xlm-roberta", MICRO, len(tok), seed=0)
    options = TrainOptions(batch_size=16, lr=3e-3, max_steps=300, eval_every=50, checkpoint_every=300, patience=3)
    result = train_mlm(model, tok, train, val, tmp_path / "m", options=options)
    for lang in texts:
        assert result.unigram_loss[lang] > 2.5  # about log(24) pieces
        assert result.val_loss[lang] < result.unigram_loss[lang] - 1.0

"""Fixtures of the pre-training tests (helpers live in pretrain_data.py)."""

from __future__ import annotations

import pytest
import torch

from crossling.models.pretrain import train_tokenizer

from .pretrain_data import SENTENCES


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # The test machine is shared: one thread per process avoids oversubscribed spinning.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    texts = {lang: s * 5 for lang, s in SENTENCES.items()}
    return train_tokenizer(texts, vocab_size=250, max_length=32, out_dir=tmp_path_factory.mktemp("tok") / "t")

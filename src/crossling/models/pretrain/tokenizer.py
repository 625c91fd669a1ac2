"""The shared vocabulary: one SentencePiece-unigram tokenizer trained on every language, saved as XLM-R's.

The multilingual model and every monolingual control use the same vocabulary (Zhao, Ziser and Cohen 2023), so
that differences between them come from multilinguality, not from how the text was cut into pieces.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Mapping, Sequence

from crossling._utils.io import staged_folder

if TYPE_CHECKING:  # transformers loads inside the function, so `crossling --help` stays fast
    from transformers import PreTrainedTokenizerBase

__all__ = ["BOS", "EOS", "PAD", "SPECIAL_TOKENS", "UNK", "train_tokenizer"]

SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>")  # ids 0..3 as in XLM-R; <mask> is appended last
BOS, PAD, EOS, UNK = range(4)


def train_tokenizer(
    texts: Mapping[str, Sequence[str]],
    *,
    vocab_size: int,
    max_length: int,
    out_dir: str | os.PathLike,
) -> PreTrainedTokenizerBase:
    """Train one SentencePiece-unigram vocabulary on all languages and save it as an XLM-R tokenizer.

    Special tokens follow XLM-R: ``<s>`` = 0, ``<pad>`` = 1, ``</s>`` = 2, ``<unk>`` = 3, ``<mask>`` last
    (id ``vocab_size``); pre-tokenisation splits on whitespace and marks word starts with ``▁``
    (Metaspace), as ``XLMRobertaTokenizerFast`` does. There is no Unicode normaliser: when a
    ``tokenizer.json`` is reloaded, Hugging Face's XLM-R class keeps only a SentencePiece *precompiled*
    normaliser, so a ``tokenizers`` NFKC normaliser would silently disappear and training and later use
    would tokenise differently.

    Parameters
    ----------
    texts : mapping of str to sequence of str
        Training texts per language (all are used together).
    vocab_size : int
        Pieces including the four special tokens; ``<mask>`` comes on top.
    max_length : int
        ``model_max_length`` of the saved tokenizer (tokens including ``<s>``/``</s>``).
    out_dir : path
        Folder to write (``tokenizer.json``, ``tokenizer_config.json``); it appears whole or not at all.

    Returns
    -------
    transformers.PreTrainedTokenizerBase
        The tokenizer as :func:`transformers.AutoTokenizer.from_pretrained` loads it from ``out_dir``.

    Raises
    ------
    RuntimeError
        When the reloaded tokenizer does not have XLM-R's special-token ids or does not put ``<mask>`` last.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import AutoTokenizer, XLMRobertaTokenizerFast

    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")]
    )
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    trainer = trainers.UnigramTrainer(
        vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS), unk_token="<unk>", show_progress=False
    )
    tok.train_from_iterator((t for items in texts.values() for t in items), trainer)
    tok.add_special_tokens(["<mask>"])
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", BOS), ("</s>", EOS)]
    )
    fast = XLMRobertaTokenizerFast(tokenizer_object=tok, model_max_length=max_length)
    with staged_folder(out_dir) as tmp:
        fast.save_pretrained(tmp)
    loaded = AutoTokenizer.from_pretrained(out_dir)
    if [loaded.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS] != [BOS, PAD, EOS, UNK]:
        raise RuntimeError("the reloaded tokenizer does not have XLM-R's special-token ids 0..3")
    if loaded.mask_token_id != len(loaded) - 1:
        raise RuntimeError("the reloaded tokenizer does not put <mask> last")
    return loaded

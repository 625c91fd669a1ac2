"""Masked-language modelling: the models, their input blocks, BERT's masking, the loss and its unigram baseline.

Every model is a RoBERTa-family encoder with a language-modelling head; it reads fixed-length blocks of packed
text (:func:`pack_blocks`) in which 15% of the tokens are selected for prediction (:func:`mask_tokens`), and is
scored by the cross-entropy of the selected tokens (:func:`mlm_loss`). A model that uses context beats the
unigram baseline (:func:`unigram_cross_entropy`), the loss of always guessing the corpus's token frequencies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Sequence

import numpy as np

from crossling.models.pretrain.tokenizer import BOS, EOS, PAD, UNK

if TYPE_CHECKING:  # torch and transformers load inside the functions, so `crossling --help` stays fast
    import torch
    from transformers import PreTrainedModel

    from crossling.models.pretrain.config import ModelSize

__all__ = ["IGNORE", "Architecture", "build_model", "init_unigram_bias", "mask_tokens", "mlm_loss", "pack_blocks",
           "unigram_cross_entropy", "unigram_log_probs"]

IGNORE = -100  # label of unmasked positions (ignored by the loss, as in Hugging Face)
Architecture = Literal["xlm-roberta", "roberta"]


def build_model(architecture: Architecture, size: ModelSize, vocab_size: int, *, seed: int) -> PreTrainedModel:
    """A freshly initialised masked-language model.

    ``"xlm-roberta"`` gives :class:`~transformers.XLMRobertaForMaskedLM` (the multilingual model),
    ``"roberta"`` :class:`~transformers.RobertaForMaskedLM` (a monolingual control); the two share the
    architecture, as in the study, and differ in their config's ``model_type``. Dropout 0.1, GELU,
    layer-norm eps 1e-5 and tied input/output embeddings as in XLM-R.

    Parameters
    ----------
    architecture : {"xlm-roberta", "roberta"}
    size : ModelSize
        Layers, hidden size, heads, feed-forward width and block length
        (:class:`~crossling.models.pretrain.config.ModelSize`).
    vocab_size : int
        Rows of the embedding matrix: the tokenizer's length, ``<mask>`` included.
    seed : int
        Seed of torch's global generator before the weights are drawn.

    Returns
    -------
    transformers.PreTrainedModel

    Raises
    ------
    ValueError
        For another architecture.
    """
    import torch
    from transformers import RobertaConfig, RobertaForMaskedLM, XLMRobertaConfig, XLMRobertaForMaskedLM

    kwargs = dict(
        vocab_size=vocab_size, hidden_size=size.hidden, num_hidden_layers=size.layers,
        num_attention_heads=size.heads, intermediate_size=size.ffn, max_position_embeddings=size.max_length + 2,
        type_vocab_size=1, layer_norm_eps=1e-5, pad_token_id=PAD, bos_token_id=BOS, eos_token_id=EOS,
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    if architecture == "xlm-roberta":
        return XLMRobertaForMaskedLM(XLMRobertaConfig(**kwargs))
    if architecture == "roberta":
        return RobertaForMaskedLM(RobertaConfig(**kwargs))
    raise ValueError(f"unknown architecture {architecture!r}: expected 'xlm-roberta' or 'roberta'")


def pack_blocks(token_ids: Sequence[Sequence[int]], block_length: int) -> np.ndarray:
    """Pack tokenised texts into fixed-length blocks (RoBERTa's FULL-SENTENCES format).

    The texts are concatenated, each followed by ``</s>``, and cut into pieces of ``block_length - 1``
    tokens; each block is ``<s>`` + piece. The last block is padded with ``<pad>``.

    Parameters
    ----------
    token_ids : sequence of sequence of int
        The token ids of each text, without special tokens.
    block_length : int
        Tokens per block, ``<s>`` included; at least 2.

    Returns
    -------
    ndarray of int32, shape (n_blocks, block_length)

    Raises
    ------
    ValueError
        When ``block_length`` is below 2.
    """
    if block_length < 2:
        raise ValueError(f"block_length must be at least 2, got {block_length}")
    stream = np.fromiter((i for ids in token_ids for i in (*ids, EOS)), dtype=np.int32)
    if stream.size == 0:
        return np.empty((0, block_length), dtype=np.int32)
    piece = block_length - 1
    n = -(-stream.size // piece)
    blocks = np.full((n, block_length), PAD, dtype=np.int32)
    blocks[:, 0] = BOS
    padded = np.full(n * piece, PAD, dtype=np.int32)
    padded[: stream.size] = stream
    blocks[:, 1:] = padded.reshape(n, piece)
    return blocks


def mask_tokens(
    input_ids: torch.Tensor,
    *,
    mask_id: int,
    probability: float = 0.15,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masking: select each ordinary token with ``probability``; of the selected, 80% become
    ``<mask>``, 10% a uniformly random ordinary token, 10% stay unchanged (Devlin et al. 2019).

    Special tokens (``<s>``, ``<pad>``, ``</s>``) are never selected; ``<unk>`` is an ordinary target.
    Random replacements are drawn from the ordinary ids ``3 .. mask_id - 1`` (``<mask>`` is the last id).

    Parameters
    ----------
    input_ids : Tensor of int, shape (n_blocks, block_length)
    mask_id : int
        Id of ``<mask>``, the last id of the vocabulary.
    probability : float, default 0.15
        Chance that an ordinary token is selected.
    generator : torch.Generator
        Source of every random draw (three per position: selection, action, replacement).

    Returns
    -------
    inputs : LongTensor, same shape as ``input_ids``
    labels : LongTensor
        The original id at selected positions, -100 elsewhere.
    """
    import torch

    ids = input_ids.long()
    ordinary = (ids != BOS) & (ids != PAD) & (ids != EOS)
    u = torch.rand(ids.shape, generator=generator)
    selected = ordinary & (u < probability)
    action = torch.rand(ids.shape, generator=generator)
    random_ids = torch.randint(UNK, mask_id, ids.shape, generator=generator)  # ordinary ids: 3..mask_id-1
    inputs = torch.where(selected & (action < 0.8), mask_id, ids)
    inputs = torch.where(selected & (action >= 0.8) & (action < 0.9), random_ids, inputs)
    labels = torch.where(selected, ids, IGNORE)
    return inputs, labels


def mlm_loss(model: PreTrainedModel, inputs: torch.Tensor, labels: torch.Tensor,
             reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy (nats) of the selected tokens under ``model``.

    The output layer runs on the selected positions only (15%): on a large vocabulary it would cost as much
    as the encoder if applied to every position, as the Hugging Face head does.

    Parameters
    ----------
    model : transformers.PreTrainedModel
        A ``*ForMaskedLM`` with ``base_model`` and ``lm_head`` (RoBERTa family).
    inputs : LongTensor, shape (n_blocks, block_length)
        Masked input ids (:func:`mask_tokens`); ``<pad>`` positions are not attended to.
    labels : LongTensor, same shape
        Target ids at the selected positions, -100 elsewhere.
    reduction : {"mean", "sum"}, default "mean"
        Over the selected positions.

    Returns
    -------
    Tensor
        A scalar, float32.
    """
    import torch.nn.functional as F

    hidden = model.base_model(input_ids=inputs, attention_mask=(inputs != PAD).long()).last_hidden_state
    selected = labels != IGNORE
    logits = model.lm_head(hidden[selected])
    return F.cross_entropy(logits.float(), labels[selected], reduction=reduction)


def unigram_log_probs(train_blocks: np.ndarray, vocab_size: int) -> np.ndarray:
    """Log of the add-one-smoothed unigram distribution of the ordinary tokens in ``train_blocks``.

    ``p(v) = (c_v + 1) / (N + V)`` over the ``V`` ordinary ids (all but ``<s>``, ``<pad>``, ``</s>`` and
    ``<mask>``), ``c_v`` the count of ``v`` among the ``N`` ordinary training tokens; special ids get
    ``-inf`` (they are never targets).

    Parameters
    ----------
    train_blocks : ndarray of int, shape (n_blocks, block_length)
    vocab_size : int
        The tokenizer's length; ``<mask>`` is id ``vocab_size - 1``.

    Returns
    -------
    ndarray of float64, shape (vocab_size,)
    """
    counts = np.bincount(np.asarray(train_blocks).ravel(), minlength=vocab_size).astype(np.float64)
    ordinary = np.ones(vocab_size, dtype=bool)
    ordinary[[BOS, PAD, EOS, vocab_size - 1]] = False
    counts[~ordinary] = 0.0
    with np.errstate(divide="ignore"):
        return np.log((counts + ordinary) / (counts.sum() + ordinary.sum()))


def unigram_cross_entropy(train_blocks: np.ndarray, targets: np.ndarray, vocab_size: int) -> float:
    """The loss of a model that ignores context: ``-mean_t log p(target_t)`` under :func:`unigram_log_probs`.

    Parameters
    ----------
    train_blocks : ndarray of int, shape (n_blocks, block_length)
        The tokens the unigram distribution is counted on.
    targets : ndarray of int
        The ids to predict (the selected tokens of held-out blocks).
    vocab_size : int
        The tokenizer's length.

    Returns
    -------
    float
        Nats per target.

    Raises
    ------
    ValueError
        For no targets, or targets that are special tokens.
    """
    targets = np.asarray(targets)
    if targets.size == 0:
        raise ValueError("no targets")
    log_p = unigram_log_probs(train_blocks, vocab_size)
    if not np.isfinite(log_p[targets]).all():
        raise ValueError("targets include special tokens")
    return float(-log_p[targets].mean())


def init_unigram_bias(model: PreTrainedModel, train_blocks: np.ndarray) -> None:
    """Set the output bias of ``model`` to the log unigram frequencies of ``train_blocks``.

    With small initial weights the logits are then about ``log p(v)``, so training starts at the
    unigram baseline instead of at ``log V`` and spends its steps on context rather than on learning
    the frequency table, which on a large vocabulary takes thousands of steps (Karpathy 2019, "A recipe
    for training neural networks": "initialize the final layer bias" to the data's distribution).
    Special ids, never targets, get the smallest ordinary value.

    Parameters
    ----------
    model : transformers.PreTrainedModel
        A ``*ForMaskedLM`` whose ``lm_head.bias`` has ``config.vocab_size`` entries.
    train_blocks : ndarray of int, shape (n_blocks, block_length)
        The model's training tokens.
    """
    import torch

    log_p = unigram_log_probs(train_blocks, model.config.vocab_size)
    log_p[~np.isfinite(log_p)] = log_p[np.isfinite(log_p)].min()
    with torch.no_grad():
        model.lm_head.bias.copy_(torch.from_numpy(log_p).to(model.lm_head.bias.dtype))

"""Batched extraction of word and sentence representations from every layer in one forward pass.

One forward pass per batch gives all hidden states (the embedding output and every layer); the ones asked
for are pooled to words or sentences on the fly and handed on batch by batch, so the caller can stream them
into :class:`crossling.Moments` or a :class:`crossling.extraction.store.VectorStore` without holding the corpus.

Word level (pre-tokenised input such as UD words): the words go through the tokenizer as
``is_split_into_words`` input and every sub-word is assigned to its word through the tokenizer's
``word_ids`` (never by re-tokenising word by word, which changes SentencePiece and BPE segmentations).
A word is pooled over its sub-words by ``mean`` (default), ``first`` or ``last``.

Sentence level: ``mean`` over the non-special tokens (default), the ``first`` token (e.g. [CLS]) or the
``last`` real token (the natural summary of a causal model).

Inputs are sorted by length before batching, so little compute goes to padding; batches are yielded in
that (deterministic) order with the indices of their sentences, and :func:`word_vectors` /
:func:`sentence_vectors` put them back in corpus order. Inputs longer than the model accepts are truncated
with a warning. At word level a word that truncation cuts, wholly or in part, gets no vector: pooling the
pieces that survived would give the vector of another string (with ``pooling="last"``, of a piece that is not
the word's last). The counts of truncated inputs and of words lost, by cause, are in :class:`ExtractionStats`
and in every store's manifest.

Encoder-decoder models (T5, mT5): ``stack="encoder"`` (default) gives the encoder's hidden states.
``stack="decoder"`` runs the decoder on the same tokens (teacher forcing) and gives its states; with
``decoder_shift=False`` (default) the decoder reads the tokens themselves, so the state at position t has
read token t, as in a causal model; with ``decoder_shift=True`` it reads them shifted right by one
(``decoder_start_token_id`` first), as in training, so the state at position t has read the tokens before
t and is the one that predicts token t. By default the encoder reads the same tokens as the decoder; with
``sources`` (:func:`encode`) it reads another text per input instead, e.g. the parallel sentence in the
source language of a translation model, so the decoder states are those of translating that sentence into
the input (teacher forcing, source-conditioned).
"""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from typing import Iterator, Literal, Sequence

import numpy as np
import torch

from crossling._utils.progress import progress_bar
from crossling.config import resolve_layers
from crossling.exceptions import DataLossWarning
from crossling.models.loading import LoadedModel, quiet_transformers

__all__ = [
    "ExtractionOptions",
    "ExtractionStats",
    "Batch",
    "encode",
    "iter_batches",
    "iter_word_batches",
    "iter_sentence_batches",
    "word_vectors",
    "sentence_vectors",
]

Level = Literal["word", "sentence"]
Pooling = Literal["mean", "first", "last"]


@dataclass(frozen=True)
class ExtractionOptions:
    """What an extraction computes; part of every cache key and provenance record.

    Parameters
    ----------
    level : {"word", "sentence"}, default "sentence"
        One vector per word of pre-tokenised input, or one per sentence.
    pooling : {"mean", "first", "last"}, default "mean"
        Word level: over a word's sub-words. Sentence level: mean over non-special tokens, first token,
        or last real token.
    layers : tuple of int, optional
        Indices into the hidden states (0 = embedding output; negative counts from the end). Default: all.
    batch_size : int, default 32
        Inputs per forward pass (at least 1).
    max_length : int, optional
        Longest input in tokens, special tokens included; longer inputs are truncated. Default (or 0):
        what the model accepts; a larger value is capped at it.
    include_special : bool, default False
        Sentence mean pooling over special tokens too.
    stack : {"encoder", "decoder"}, default "encoder"
        Which stack of an encoder-decoder model.
    decoder_shift : bool, default False
        Decoder reads the tokens shifted right by one (see the module docstring).
    prefix : str, default ""
        Text put before every input (E5 models expect ``"passage: "``). At word level its words go first
        and belong to no word of the sentence: they condition the context but get no vector.

    Raises
    ------
    ValueError
        If ``level``, ``pooling`` or ``stack`` is not one of its values, or ``batch_size`` < 1.
    """

    level: Level = "sentence"
    pooling: Pooling = "mean"
    layers: tuple[int, ...] | None = None
    batch_size: int = 32
    max_length: int | None = None
    include_special: bool = False
    stack: Literal["encoder", "decoder"] = "encoder"
    decoder_shift: bool = False
    prefix: str = ""

    def __post_init__(self) -> None:
        if self.level not in ("word", "sentence"):
            raise ValueError(f"level must be 'word' or 'sentence', got {self.level!r}")
        if self.pooling not in ("mean", "first", "last"):
            raise ValueError(f"pooling must be 'mean', 'first' or 'last', got {self.pooling!r}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {self.batch_size}")
        if self.stack not in ("encoder", "decoder"):
            raise ValueError(f"stack must be 'encoder' or 'decoder', got {self.stack!r}")

    def applied(self, lm: LoadedModel) -> ExtractionOptions:
        """These options as they apply to ``lm``: ``layers`` resolved, ``max_length`` capped at the model's.

        Two option sets that extract the same vectors from ``lm`` (every layer by default or listed; no limit
        or the model's own) become equal, so they share a cache key.

        Parameters
        ----------
        lm : LoadedModel

        Returns
        -------
        ExtractionOptions
            With ``layers`` a tuple of non-negative hidden-state indices and ``max_length`` an int.

        Raises
        ------
        ConfigError
            If a layer is not a hidden state of ``lm``, or is selected twice.
        """
        return replace(self, layers=tuple(resolve_layers(self.layers, range(lm.n_hidden_states))),
                       max_length=min(self.max_length or lm.max_length, lm.max_length))

    def as_dict(self) -> dict:
        """The options as a plain dict, for cache keys and provenance records.

        Returns
        -------
        dict of str to object
            Field name -> value, every field (``layers`` as given: a tuple or None).
        """
        return asdict(self)


@dataclass
class ExtractionStats:
    """What happened to the inputs: how many were truncated and how many words were lost, and why.

    :func:`encode` fills the input counts; :func:`iter_batches` adds the token counts of every batch it runs.

    Attributes
    ----------
    n_inputs : int, default 0
        Inputs (sentences) encoded.
    n_truncated : int, default 0
        Inputs longer than the maximum length, truncated.
    n_words_truncated : int, default 0
        Word level: words that truncation cut, wholly or in part (a word whose last sub-words were cut is
        dropped, not pooled over the pieces left); 0 at sentence level.
    n_words_empty : int, default 0
        Word level: words the tokenizer maps to no token (a zero-width character); 0 at sentence level.
    n_words_dropped : int, default 0
        Word level: words without a vector, ``n_words_truncated + n_words_empty``.
    n_tokens : int, default 0
        Tokens (special tokens included, padding not) run through the model so far.
    n_padding : int, default 0
        Padding positions run through the model so far (the cost of batching inputs of unequal length).
    """

    n_inputs: int = 0
    n_truncated: int = 0
    n_words_truncated: int = 0
    n_words_empty: int = 0
    n_words_dropped: int = 0
    n_tokens: int = 0
    n_padding: int = 0


@dataclass
class _Encoded:
    input_ids: list[int]
    word_ids: list[int | None]
    special: list[bool]
    source_ids: list[int] | None = None  # what the encoder reads when the decoder is source-conditioned


@dataclass
class Batch:
    """Representations of one batch.

    Attributes
    ----------
    vectors : ndarray, shape (n_layers, rows, d), float32
        One row per word (word level) or per sentence (sentence level).
    sentence_index : ndarray of int, shape (rows,)
        Position of each row's sentence in the input.
    word_index : ndarray of int, shape (rows,)
        Position of each row's word in its sentence (-1 at sentence level).
    """

    vectors: np.ndarray
    sentence_index: np.ndarray
    word_index: np.ndarray


@dataclass
class EncodedCorpus:
    """Tokenised inputs plus the layer indices and stats of an extraction."""

    items: list[_Encoded]
    layers: tuple[int, ...]
    stats: ExtractionStats = field(default_factory=ExtractionStats)

    def rows_per_item(self, level: Level) -> np.ndarray:
        """How many output rows each input gives: its kept words, or 1 per sentence."""
        if level == "sentence":
            return np.ones(len(self.items), dtype=np.int64)
        return np.array([len({w for w in e.word_ids if w is not None}) for e in self.items], dtype=np.int64)


def encode(
    lm: LoadedModel,
    inputs: Sequence[str] | Sequence[Sequence[str]],
    options: ExtractionOptions,
    *,
    sources: Sequence[str] | Sequence[Sequence[str]] | None = None,
) -> EncodedCorpus:
    """Tokenise every input once; truncate over-long ones with a warning.

    Parameters
    ----------
    lm : LoadedModel
        The model whose tokenizer is used (its word tokenizer at word level) and whose hidden states the
        layers are resolved against.
    inputs : sequence of str, or sequence of sequence of str
        Sentence level: texts, or word lists joined with spaces. Word level: word lists (e.g.
        ``Sentence.forms``); strings are refused.
    options : ExtractionOptions
        The level, layers, maximum length and prefix used.
    sources : sequence of str, or sequence of sequence of str, optional
        Decoder stack of an encoder-decoder model only: per input, the text the encoder reads (word lists
        are joined with spaces; no prefix), so the decoder states are conditioned on it. Default: the
        encoder reads the input itself.

    Returns
    -------
    EncodedCorpus
        One tokenised item per input, in input order (token ids, each token's word index or None, its
        special-token flag), the resolved non-negative layer indices and the :class:`ExtractionStats` so far.

    Raises
    ------
    ConfigError
        If a layer of ``options.layers`` is not a hidden state of the model, or is selected twice.
    TypeError
        At word level, if an input is a string rather than a list of words.
    ValueError
        At sentence level, if an input has no tokens besides the special ones (an empty text); when
        ``sources`` are given for another stack or model kind, or not one per input.

    Warns
    -----
    DataLossWarning
        When inputs or sources are truncated (with the number of words it cut, at word level: a word that lost
        any of its sub-words is dropped), or words map to no token.
    """
    applied = options.applied(lm)
    layers, max_length = applied.layers, applied.max_length
    word_level = options.level == "word"
    tokenizer = lm.word_tokenizer if word_level else lm.tokenizer
    prefix_words = options.prefix.split() if word_level else []
    if word_level:
        if any(isinstance(words, str) for words in inputs):
            raise TypeError("word-level extraction takes lists of words, not strings")
        batch = [prefix_words + list(words) for words in inputs]
    else:
        batch = [options.prefix + text if isinstance(text, str) else options.prefix + " ".join(text) for text in inputs]
    stats = ExtractionStats(n_inputs=len(batch))
    items: list[_Encoded] = []
    if not batch:
        return EncodedCorpus(items, layers, stats)
    kwargs = dict(is_split_into_words=word_level, return_special_tokens_mask=True)
    with quiet_transformers():  # over-long inputs are truncated below, counted and warned about once
        full = tokenizer(batch, truncation=False, **kwargs)
    for i in range(len(batch)):
        ids, wids, enc, index = full["input_ids"][i], full.word_ids(i), full, i
        with_tokens = {w for w in wids if w is not None and w >= len(prefix_words)}
        if len(ids) > max_length:
            stats.n_truncated += 1
            enc = tokenizer([batch[i]], truncation=True, max_length=max_length, **kwargs)
            ids, index = enc["input_ids"][0], 0
            wids = _whole_words(wids, enc.word_ids(0))
        special = [bool(s) for s in enc["special_tokens_mask"][index]]
        if prefix_words:  # the prefix's tokens belong to no word of the input
            wids = [None if w is None or w < len(prefix_words) else w - len(prefix_words) for w in wids]
        if word_level:
            kept = len({w for w in wids if w is not None})
            stats.n_words_empty += len(batch[i]) - len(prefix_words) - len(with_tokens)
            stats.n_words_truncated += len(with_tokens) - kept
        elif all(special):
            raise ValueError(f"input {i} is empty: it has no tokens besides the special ones")
        items.append(_Encoded(list(ids), list(wids), special))
    stats.n_words_dropped = stats.n_words_truncated + stats.n_words_empty
    if sources is not None:
        _add_sources(lm, items, sources, options, max_length)
    if stats.n_truncated:
        warnings.warn(
            f"{stats.n_truncated} of {len(batch)} inputs are longer than {max_length} tokens and were truncated"
            + (f"; {stats.n_words_truncated} words cut by it (wholly or in part) have no vector" if word_level else ""),
            DataLossWarning,
            stacklevel=2,
        )
    if stats.n_words_empty:
        warnings.warn(f"{stats.n_words_empty} words produced no tokens and have no vector", DataLossWarning,
                      stacklevel=2)
    return EncodedCorpus(items, layers, stats)


def _whole_words(full: Sequence[int | None], truncated: Sequence[int | None]) -> list[int | None]:
    """The truncated encoding's word ids with every word that lost a sub-word to truncation set to None.

    A word cut in the middle would be pooled over the pieces that survived (``pooling="last"``: a piece
    that is not its last), a vector of another word than the one written; it is dropped instead and
    counted with the words truncation removed whole.
    """
    pieces = Counter(w for w in full if w is not None)
    left = Counter(w for w in truncated if w is not None)
    return [None if w is None or left[w] < pieces[w] else w for w in truncated]


def _add_sources(lm: LoadedModel, items: list[_Encoded], sources, options: ExtractionOptions, max_length: int) -> None:
    """Tokenise the encoder's texts of a source-conditioned decoder extraction onto ``items``."""
    if lm.kind != "encoder-decoder" or options.stack != "decoder":
        raise ValueError("sources condition the decoder of an encoder-decoder model: use stack='decoder' with one")
    if len(sources) != len(items):
        raise ValueError(f"got {len(sources)} sources for {len(items)} inputs")
    texts = [text if isinstance(text, str) else " ".join(text) for text in sources]
    with quiet_transformers():
        full = lm.tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]
        whole = lm.tokenizer(texts, truncation=False)["input_ids"]
    cut = sum(len(a) < len(b) for a, b in zip(full, whole))
    if cut:
        warnings.warn(f"{cut} of {len(texts)} source texts are longer than {max_length} tokens and were truncated",
                      DataLossWarning, stacklevel=3)
    for item, ids in zip(items, full):
        item.source_ids = list(ids)


def _hidden_states(lm: LoadedModel, input_ids: torch.Tensor, attention: torch.Tensor, options: ExtractionOptions,
                   source: tuple[torch.Tensor, torch.Tensor] | None = None):
    model = lm.model
    if lm.kind == "encoder-decoder":
        if options.stack == "encoder":
            encoder = model.get_encoder()
            return encoder(input_ids=input_ids, attention_mask=attention, output_hidden_states=True).hidden_states
        decoder_ids = model._shift_right(input_ids) if options.decoder_shift else input_ids
        encoder_ids, encoder_attention = source if source is not None else (input_ids, attention)
        out = model(input_ids=encoder_ids, attention_mask=encoder_attention, decoder_input_ids=decoder_ids,
                    decoder_attention_mask=attention, output_hidden_states=True)
        return out.decoder_hidden_states
    return model(input_ids=input_ids, attention_mask=attention, output_hidden_states=True).hidden_states


def _pool(states: torch.Tensor, items: list[_Encoded], options: ExtractionOptions, lengths: torch.Tensor):
    """Pool (L, b, T, d) states to (L, rows, d) plus the rows' sentence-local word indices."""
    n_layers, b, T, d = states.shape
    if options.level == "sentence":
        if options.pooling == "first":
            return states[:, :, 0], None
        if options.pooling == "last":
            return states[:, torch.arange(b), lengths - 1], None
        mask = torch.zeros(b, T, dtype=states.dtype)
        for j, item in enumerate(items):
            keep = [not s or options.include_special for s in item.special]
            mask[j, : len(keep)] = torch.tensor(keep, dtype=states.dtype)
        summed = torch.einsum("lbtd,bt->lbd", states, mask)
        return summed / mask.sum(1)[None, :, None], None

    flat_rows, flat_pos, word_index = [], [], []
    row = 0
    for j, item in enumerate(items):
        seen: dict[int, int] = {}
        for t, w in enumerate(item.word_ids):
            if w is None:
                continue
            if w not in seen:
                seen[w] = row
                word_index.append(w)
                row += 1
            flat_rows.append(seen[w])
            flat_pos.append(j * T + t)
    flat = states.reshape(n_layers, b * T, d)
    rows_t = torch.tensor(flat_rows, dtype=torch.long)
    pos_t = torch.tensor(flat_pos, dtype=torch.long)
    if options.pooling == "mean":
        out = torch.zeros(n_layers, row, d, dtype=states.dtype)
        out.index_add_(1, rows_t, flat[:, pos_t])
        counts = torch.bincount(rows_t, minlength=row).to(states.dtype)
        return out / counts[None, :, None], word_index
    # first / last sub-word: the first or last position recorded for each row
    pick = torch.full((row,), -1, dtype=torch.long)
    order = range(len(flat_rows)) if options.pooling == "last" else reversed(range(len(flat_rows)))
    for k in order:
        pick[flat_rows[k]] = flat_pos[k]
    return flat[:, pick], word_index


def iter_batches(
    lm: LoadedModel,
    encoded: EncodedCorpus,
    options: ExtractionOptions,
    *,
    indices: Sequence[int] | None = None,
    progress: bool = True,
    desc: str = "extracting",
) -> Iterator[Batch]:
    """Run the model over encoded inputs, longest first, and yield pooled batches.

    Each batch is padded to its longest input and run once; the hidden states of ``encoded.layers`` are
    pooled (``options.level`` and ``options.pooling``) and moved to the CPU as float32. The token and padding
    counts of every batch are added to ``encoded.stats``.

    Parameters
    ----------
    lm : LoadedModel
        The model that ``encoded`` was tokenised for.
    encoded : EncodedCorpus
        From :func:`encode` with the same ``options``.
    options : ExtractionOptions
        Level, pooling, batch size, stack and decoder shift.
    indices : sequence of int, optional
        Only these inputs (positions in ``encoded.items``); default all.
    progress : bool, default True
        Show a progress bar of the batches.
    desc : str, default "extracting"
        Label of the progress bar.

    Yields
    ------
    Batch
        Up to ``options.batch_size`` inputs each, in decreasing token length: ``vectors`` of shape
        (n_layers, rows, d) float32 with the rows of one input together (words in sentence order), and each
        row's ``sentence_index`` (position in ``encoded.items``) and ``word_index``.
    """
    chosen = list(range(len(encoded.items))) if indices is None else list(indices)
    order = sorted(chosen, key=lambda i: -len(encoded.items[i].input_ids))
    pad = lm.word_tokenizer.pad_token_id if options.level == "word" else lm.tokenizer.pad_token_id
    layer_index = list(encoded.layers)
    batches = [order[k : k + options.batch_size] for k in range(0, len(order), options.batch_size)]
    bar = progress_bar(len(batches), desc, "batch", enabled=progress, leave=False)
    with torch.inference_mode():
        for batch_ids in batches:
            items = [encoded.items[i] for i in batch_ids]
            lengths = torch.tensor([len(e.input_ids) for e in items])
            T = int(lengths.max())
            input_ids, attention = _padded([e.input_ids for e in items], pad)
            encoded.stats.n_tokens += int(lengths.sum())
            encoded.stats.n_padding += len(items) * T - int(lengths.sum())
            source = None
            if items[0].source_ids is not None:
                source = _padded([e.source_ids for e in items], lm.tokenizer.pad_token_id)
                source = (source[0].to(lm.device), source[1].to(lm.device))
            hidden = _hidden_states(lm, input_ids.to(lm.device), attention.to(lm.device), options, source)
            states = torch.stack([hidden[i] for i in layer_index]).float().cpu()
            vectors, word_index = _pool(states, items, options, lengths)
            if word_index is None:
                sentence_index = np.asarray(batch_ids, dtype=np.int64)
                word_index_arr = np.full(len(batch_ids), -1, dtype=np.int64)
            else:
                counts = [len({w for w in e.word_ids if w is not None}) for e in items]
                sentence_index = np.repeat(np.asarray(batch_ids, dtype=np.int64), counts)
                word_index_arr = np.asarray(word_index, dtype=np.int64)
            bar.update()
            yield Batch(vectors.numpy().astype(np.float32, copy=False), sentence_index, word_index_arr)
    bar.close()


def _padded(sequences: list[list[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token id lists as a right-padded (b, T) tensor and its attention mask."""
    T = max(len(ids) for ids in sequences)
    ids = torch.full((len(sequences), T), pad, dtype=torch.long)
    attention = torch.zeros((len(sequences), T), dtype=torch.long)
    for j, seq in enumerate(sequences):
        ids[j, : len(seq)] = torch.tensor(seq)
        attention[j, : len(seq)] = 1
    return ids, attention


def iter_word_batches(
    lm: LoadedModel,
    token_lists: Sequence[Sequence[str]],
    *,
    progress: bool = True,
    sources: Sequence[str] | Sequence[Sequence[str]] | None = None,
    **options,
) -> Iterator[Batch]:
    """Word representations, batch by batch (longest sentences first).

    The inputs are tokenised at the call (so its errors and warnings come at once); the model runs as the
    batches are consumed.

    Parameters
    ----------
    lm : LoadedModel
        The model.
    token_lists : sequence of sequence of str
        Pre-tokenised sentences (e.g. ``Sentence.forms``).
    progress : bool, default True
        Show a progress bar of the batches.
    sources : sequence of str, or sequence of sequence of str, optional
        With ``stack="decoder"``: the text the encoder reads for each input (see :func:`encode`).
    **options
        :class:`ExtractionOptions` fields other than ``level`` (pooling, layers, batch_size, ...).

    Returns
    -------
    iterator of Batch
        As :func:`iter_batches`: one row per word that kept a token, ``sentence_index`` into ``token_lists``
        and ``word_index`` the 0-based position of the word in its list.

    Raises
    ------
    TypeError
        If an option is not a field of :class:`ExtractionOptions`, or an input is a string.
    ValueError
        If an option value is invalid (see :class:`ExtractionOptions`).
    ConfigError
        If a layer is not a hidden state of the model.
    """
    opts = ExtractionOptions(level="word", **options)
    return iter_batches(lm, encode(lm, token_lists, opts, sources=sources), opts, progress=progress)


def iter_sentence_batches(
    lm: LoadedModel, texts: Sequence[str] | Sequence[Sequence[str]], *, progress: bool = True, **options
) -> Iterator[Batch]:
    """Sentence representations, batch by batch (longest first).

    The inputs are tokenised at the call (so its errors and warnings come at once); the model runs as the
    batches are consumed.

    Parameters
    ----------
    lm : LoadedModel
        The model.
    texts : sequence of str, or sequence of sequence of str
        Sentences, as texts or as word lists (joined with spaces).
    progress : bool, default True
        Show a progress bar of the batches.
    **options
        :class:`ExtractionOptions` fields other than ``level`` (pooling, layers, batch_size, ...).

    Returns
    -------
    iterator of Batch
        As :func:`iter_batches`: one row per sentence, ``sentence_index`` into ``texts``, ``word_index`` -1.

    Raises
    ------
    TypeError
        If an option is not a field of :class:`ExtractionOptions`.
    ValueError
        If an option value is invalid (see :class:`ExtractionOptions`), or a text has no tokens besides the
        special ones.
    ConfigError
        If a layer is not a hidden state of the model.
    """
    opts = ExtractionOptions(level="sentence", **options)
    return iter_batches(lm, encode(lm, texts, opts), opts, progress=progress)


def _collect(batches: Iterator[Batch]) -> Batch:
    parts = list(batches)
    if not parts:
        raise ValueError("no inputs to extract")
    vectors = np.concatenate([b.vectors for b in parts], axis=1)
    sentence_index = np.concatenate([b.sentence_index for b in parts])
    word_index = np.concatenate([b.word_index for b in parts])
    order = np.lexsort((word_index, sentence_index))
    return Batch(vectors[:, order], sentence_index[order], word_index[order])


def word_vectors(lm: LoadedModel, token_lists: Sequence[Sequence[str]], *, progress: bool = True,
                 sources: Sequence[str] | Sequence[Sequence[str]] | None = None, **options) -> Batch:
    """Word representations of a (small) corpus in corpus order.

    All vectors are held in memory; for a large corpus stream :func:`iter_word_batches` instead.

    Parameters
    ----------
    lm : LoadedModel
        The model.
    token_lists : sequence of sequence of str
        Pre-tokenised sentences (e.g. ``Sentence.forms``).
    progress : bool, default True
        Show a progress bar of the batches.
    sources : sequence of str, or sequence of sequence of str, optional
        With ``stack="decoder"``: the text the encoder reads for each input (see :func:`encode`).
    **options
        :class:`ExtractionOptions` fields other than ``level`` (pooling, layers, batch_size, ...).

    Returns
    -------
    Batch
        ``vectors`` (n_layers, n_words, d) float32 ordered by (sentence, word), layers in the order of
        ``layers``, with ``sentence_index`` and ``word_index``. Words that lost all their tokens to
        truncation are absent.

    Raises
    ------
    ValueError
        If ``token_lists`` is empty, or an option value is invalid.
    TypeError
        If an option is not a field of :class:`ExtractionOptions`, or an input is a string.
    ConfigError
        If a layer is not a hidden state of the model.
    """
    return _collect(iter_word_batches(lm, token_lists, progress=progress, sources=sources, **options))


def sentence_vectors(
    lm: LoadedModel, texts: Sequence[str] | Sequence[Sequence[str]], *, progress: bool = True, **options
) -> np.ndarray:
    """Sentence representations in input order, shape (n_layers, n, d) float32.

    All vectors are held in memory; for a large corpus stream :func:`iter_sentence_batches` instead.

    Parameters
    ----------
    lm : LoadedModel
        The model.
    texts : sequence of str, or sequence of sequence of str
        Sentences, as texts or as word lists (joined with spaces).
    progress : bool, default True
        Show a progress bar of the batches.
    **options
        :class:`ExtractionOptions` fields other than ``level`` (pooling, layers, batch_size, ...).

    Returns
    -------
    ndarray of float32, shape (n_layers, n, d)
        Row i of each layer is ``texts[i]``; layers in the order of ``layers`` (default: every hidden state,
        0 = embedding output); d is the model's hidden size.

    Raises
    ------
    ValueError
        If ``texts`` is empty, a text has no tokens besides the special ones, or an option value is invalid.
    TypeError
        If an option is not a field of :class:`ExtractionOptions`.
    ConfigError
        If a layer is not a hidden state of the model.
    """
    return _collect(iter_sentence_batches(lm, texts, progress=progress, **options)).vectors

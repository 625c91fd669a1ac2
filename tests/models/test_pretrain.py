"""Pre-training: tokenizer, packing, masking, unigram baseline, models, exact resume, learning, experiment."""

from __future__ import annotations

import json
import math
from collections import Counter

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModel, AutoTokenizer, RobertaForMaskedLM, XLMRobertaForMaskedLM

from crossling.models import pretrain
from crossling.models.pretrain import (
    IGNORE,
    PRESETS,
    ModelSize,
    PretrainConfig,
    TrainOptions,
    build_model,
    init_unigram_bias,
    mask_tokens,
    pack_blocks,
    prepare_corpus,
    pretrain_command,
    pretrain_experiment,
    train_mlm,
    train_tokenizer,
    unigram_cross_entropy,
)

SENTENCES = {
    "en": ["The quick brown fox jumps over the lazy dog.", "Multilingual models represent languages layer by layer.",
           "Click the button to open the dialog.", "Select a cell and choose Format - Cells."],
    "de": ["Der schnelle braune Fuchs springt über den faulen Hund.", "Klicken Sie auf die Schaltfläche.",
           "Wählen Sie eine Zelle und dann Format - Zellen.", "Mehrsprachige Modelle stellen Sprachen dar."],
    "ru": ["Быстрая коричневая лиса прыгает через ленивую собаку.", "Нажмите кнопку, чтобы открыть диалог.",
           "Выберите ячейку и затем Формат - Ячейки.", "Многоязычные модели представляют языки."],
}
MICRO = ModelSize(layers=2, hidden=64, heads=2, ffn=128, max_length=32)
SYLLABLES = ["ba", "ko", "mi", "tu", "re", "sa", "lo", "ne", "di", "fu", "pa", "ze"]


def _synthetic(prefix: str, n: int, seed: int) -> list[str]:
    """Texts of one 'language': a two-syllable word repeated 6..15 times. Context predicts a masked
    token almost surely; the unigram distribution (about 24 pieces) does not."""
    rng = np.random.default_rng(seed)
    words = [prefix + a + b for a in SYLLABLES for b in SYLLABLES]
    return [" ".join([words[rng.integers(len(words))]] * int(rng.integers(6, 16))) for _ in range(n)]


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


def test_pack_blocks_known_answer():
    blocks = pack_blocks([[5, 6], [7], [8, 9, 10]], block_length=4)
    # stream: 5 6 </s> 7 </s> 8 9 10 </s> -> pieces of 3 after <s>, last padded
    assert blocks.tolist() == [[0, 5, 6, 2], [0, 7, 2, 8], [0, 9, 10, 2]]
    blocks = pack_blocks([[5, 6, 7]], block_length=4)
    assert blocks.tolist() == [[0, 5, 6, 7], [0, 2, 1, 1]]
    assert blocks.dtype == np.int32


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
    train = _blocks(tokenizer, [t for s in SENTENCES.values() for t in s] * 3)
    val = _blocks(tokenizer, [t for s in SENTENCES.values() for t in s])
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
        loss = float(pretrain._mlm_loss(model, inputs, labels))
        fresh = build_model("roberta", MICRO, vocab, seed=0).eval()
        fresh_loss = float(pretrain._mlm_loss(fresh, inputs, labels))
    assert abs(loss - baseline) < 0.1
    assert fresh_loss == pytest.approx(math.log(vocab), abs=0.3) and fresh_loss > baseline + 0.5


def test_preset_training_defaults(tmp_path):
    assert PRESETS["mini"] == ModelSize(2, 64, 2, 256, 64)
    assert PretrainConfig(languages=["en"], out=tmp_path, size="mini").lr == 3e-3
    tiny = PretrainConfig(languages=["en"], out=tmp_path)
    assert (tiny.size, tiny.lr, tiny.vocab_size, tiny.unigram_bias) == ("tiny", 2e-3, 8000, True)
    base = PretrainConfig(languages=["en"], out=tmp_path, size="base")
    assert (base.lr, base.vocab_size) == (1e-4, 16000)  # the study's settings
    explicit = PretrainConfig(languages=["en"], out=tmp_path, size="base", lr=3e-4, vocab_size=500)
    assert (explicit.lr, explicit.vocab_size) == (3e-4, 500)
    assert explicit.train_options().lr == 3e-4 and explicit.train_options().unigram_bias


def test_presets_and_models_load_as_hf_folders(tokenizer, tmp_path):
    assert PRESETS["tiny"] == ModelSize(4, 128, 2, 512, 128)
    assert PRESETS["base"] == ModelSize(12, 768, 12, 3072, 512)
    with pytest.raises(ValueError, match="divisible"):
        ModelSize(2, 30, 4, 64, 32)
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


def _blocks(tokenizer, texts):
    return pack_blocks([tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts], MICRO.max_length)


def test_resume_after_kill_equals_uninterrupted(tokenizer, tmp_path):
    train = {lang: _blocks(tokenizer, s * 6) for lang, s in SENTENCES.items()}
    val = {lang: _blocks(tokenizer, s) for lang, s in SENTENCES.items()}
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


@pytest.mark.slow
def test_tiny_model_beats_unigram_baseline(tmp_path):
    texts = {"xx": _synthetic("", 900, 0), "yy": _synthetic("ж", 900, 1)}
    corpus = prepare_corpus(texts, validation_items=100, seed=0)
    tok = train_tokenizer(corpus.train, vocab_size=300, max_length=MICRO.max_length, out_dir=tmp_path / "tok")
    train = {lang: _blocks(tok, t) for lang, t in corpus.train.items()}
    val = {lang: _blocks(tok, t) for lang, t in corpus.validation.items()}
    model = build_model("xlm-roberta", MICRO, len(tok), seed=0)
    options = TrainOptions(batch_size=16, lr=3e-3, max_steps=300, eval_every=50, checkpoint_every=300, patience=3)
    result = train_mlm(model, tok, train, val, tmp_path / "m", options=options)
    for lang in texts:
        assert result.unigram_loss[lang] > 2.5  # about log(24) pieces
        assert result.val_loss[lang] < result.unigram_loss[lang] - 1.0


def test_prepare_corpus_split_and_sampling():
    texts = {"a": [f"a {i}" for i in range(300)] + ["a 0", "  a   1 "], "b": [f"b {i}" for i in range(120)]}
    corpus = prepare_corpus(texts, validation_items=20, seed=0, low_resource=["a"])
    assert corpus.record["duplicates_removed"] == {"a": 2, "b": 0}
    assert {k: len(v) for k, v in corpus.validation.items()} == {"a": 20, "b": 20}
    assert not set(corpus.validation["a"]) & set(corpus.train["a"])
    assert len(corpus.train["b"]) == 100 and len(corpus.train["a"]) == 10  # equal, then 10% of a
    with pytest.raises(ValueError, match="fewer than twice"):
        prepare_corpus({"a": ["x", "y"]}, validation_items=2)


def test_prepare_corpus_romanizes():
    pytest.importorskip("pypinyin")
    texts = {"zh": [f"中国 {i}" for i in range(10)]}
    corpus = prepare_corpus(texts, validation_items=2, romanize=["zh"], seed=0)
    assert all(t.startswith("zhongguo ") for t in corpus.train["zh"] + corpus.validation["zh"])


def test_pretrain_experiment_end_to_end(tmp_path, monkeypatch):
    files = {}
    for i, lang in enumerate(("xx", "yy")):
        files[lang] = tmp_path / f"{lang}.txt"
        files[lang].write_text("\n".join(_synthetic(lang[0], 120, i)), encoding="utf-8")
    config = PretrainConfig(
        languages=["xx", "yy"], out=tmp_path / "exp", source="text", text_files=files, validation_items=10,
        vocab_size=200, layers=2, hidden=32, heads=2, ffn=64, max_length=32, batch_size=8, max_steps=4,
        eval_every=2, checkpoint_every=2, seed=1, multilingual_steps=6,
    )
    result = pretrain_experiment(config)
    assert set(result.models) == {"multilingual", "mono-xx", "mono-yy"}
    assert result.models["multilingual"].languages == ["xx", "yy"]
    kinds = {}
    for name, m in result.models.items():
        folder = tmp_path / "exp" / name
        assert pretrain._sha256(folder / "tokenizer.json") == result.tokenizer_sha256  # one shared vocabulary
        kinds[name] = json.loads((folder / "config.json").read_text())["model_type"]
        record = json.loads((folder / "training_record.json").read_text())
        assert record["experiment"]["config"]["seed"] == 1 and record["versions"]["torch"] == torch.__version__
        steps = 6 if name == "multilingual" else 4  # the multilingual model has its own step budget
        assert record["steps"] == steps and record["tokens_per_second"] > 0 and record["wall_seconds"] > 0
        assert set(record["val_loss"]) == set(m.languages) and m.unigram_loss.keys() == m.val_loss.keys()
        assert record["data"]["train_blocks"] and record["train_curve"][-1]["step"] == steps
    assert kinds == {"multilingual": "xlm-roberta", "mono-xx": "roberta", "mono-yy": "roberta"}
    # Same held-out masked positions and same training tokens for a language in E and in its control.
    for lang in ("xx", "yy"):
        assert result.models["multilingual"].unigram_loss[lang] == result.models[f"mono-{lang}"].unigram_loss[lang]
    from crossling.models import load_model

    lm = load_model(tmp_path / "exp" / "mono-xx")
    assert lm.n_hidden_states == 3 and lm.hidden_size == 32
    table = result.table()
    assert len(table) == 4 and set(table["model"]) == set(result.models)
    # The report section: the table as written, the learning curves, the experiment record as provenance.
    exp = tmp_path / "exp"
    pd.testing.assert_frame_equal(pd.read_parquet(exp / "training.parquet"), table)
    section = json.loads((exp / "report.json").read_text())
    assert section["provenance"] == "experiment.json" and section["tables"][0]["file"] == "training.parquet"
    assert (exp / section["figures"][0]["file"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    gap = table["val_loss"] - table["unigram_loss"]
    e, c = gap[table["model"] == "multilingual"], gap[table["model"] != "multilingual"]
    assert f"E {e.min():+.2f} to {e.max():+.2f}; controls {c.min():+.2f} to {c.max():+.2f}." in section["summary"]
    assert result.tokenizer_sha256[:12] in section["summary"]

    # Running again resumes: nothing is retrained.
    monkeypatch.setattr(pretrain, "train_mlm", lambda *a, **k: pytest.fail("retrained a finished model"))
    again = pretrain_experiment(config)
    assert again.models["mono-yy"].val_loss == result.models["mono-yy"].val_loss
    with pytest.raises(ValueError, match="different configuration"):
        pretrain_experiment(config.model_copy(update={"seed": 2}))


def test_config_validation(tmp_path):
    with pytest.raises(ValueError, match="text_files"):
        PretrainConfig(languages=["en"], out=tmp_path, source="text")
    with pytest.raises(ValueError, match="low_resource"):
        PretrainConfig(languages=["en"], out=tmp_path, low_resource=["de"])
    with pytest.raises(ValueError, match="divisible"):
        PretrainConfig(languages=["en"], out=tmp_path, hidden=100, heads=3)
    config = PretrainConfig(languages=["en"], out=tmp_path, size="tiny", layers=2)
    assert config.model_size() == ModelSize(2, 128, 2, 512, 128)


def _text_dir(tmp_path, n=120):
    folder = tmp_path / "texts"
    folder.mkdir()
    for i, lang in enumerate(("xx", "yy")):
        (folder / f"{lang}.txt").write_text("\n".join(_synthetic(lang[0], n, i)), encoding="utf-8")
    return folder


def test_command_line_trains_and_resumes(tmp_path):
    import typer
    import yaml
    from typer.testing import CliRunner

    app = typer.Typer()
    app.command("pretrain")(pretrain_command)
    app.command("other")(lambda: None)
    folder = _text_dir(tmp_path)
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(
        {"validation_items": 10, "heads": 2, "ffn": 64, "checkpoint_every": 2, "batch_size": 8, "max_steps": 50}))
    args = ["pretrain", "--config", str(tmp_path / "run.yaml"), "--languages", "xx,yy", "--source", "text",
            "--text-dir", str(folder), "--size", "mini", "--layers", "2", "--hidden", "32", "--max-length", "32",
            "--vocab-size", "200", "--max-steps", "4", "--eval-every", "2", "--seed", "1", "--threads", "1",
            "--out", str(tmp_path / "exp")]
    runner = CliRunner()
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    config = yaml.safe_load((tmp_path / "exp" / "config.yaml").read_text())
    assert config["max_steps"] == 4 and config["validation_items"] == 10 and config["lr"] == 3e-3  # flag > YAML
    assert config["text_files"] == {lang: str(folder / f"{lang}.txt") for lang in ("xx", "yy")}
    table = [line for line in first.output.splitlines() if line.split()[:1] in (["multilingual"], ["mono-xx"])]
    assert len(table) == 3  # E for xx and yy, C_xx for xx
    record = json.loads((tmp_path / "exp" / "mono-yy" / "training_record.json").read_text())
    assert record["steps"] == 4 and record["options"]["unigram_bias"] is True
    assert record["model_config"]["hidden_size"] == 32 and record["model_config"]["max_position_embeddings"] == 34
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and "resuming" in again.output and "3 of 3 models finished" in again.output


@pytest.mark.slow
def test_worker_processes_train_the_same_models(tmp_path):
    folder = _text_dir(tmp_path, 80)
    config = PretrainConfig(
        languages=["xx", "yy"], out=tmp_path / "one", source="text",
        text_files={lang: folder / f"{lang}.txt" for lang in ("xx", "yy")}, validation_items=10, vocab_size=150,
        layers=1, hidden=32, heads=2, ffn=64, max_length=32, batch_size=8, max_steps=3, eval_every=3, seed=4,
    )
    events = []
    serial = pretrain_experiment(config)
    parallel = pretrain_experiment(config.model_copy(update={"out": tmp_path / "two", "workers": 2}),
                                   progress=events.append)
    assert list(parallel.models) == ["multilingual", "mono-xx", "mono-yy"]
    for name in serial.models:
        a = load_file(tmp_path / "one" / name / "model.safetensors")
        b = load_file(tmp_path / "two" / name / "model.safetensors")
        for key in a:
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
        assert parallel.models[name].val_loss == serial.models[name].val_loss
    assert {(e.model, e.step) for e in events} >= {("mono-yy", 3), ("multilingual", 1)}

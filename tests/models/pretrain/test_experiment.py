"""The experiment: one tokenizer, E and its controls, the report section, the manifest, resuming, workers."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
import yaml
from safetensors.torch import load_file

from crossling._utils.provenance import MANIFEST_KEYS, sha256_file
from crossling.data.corpus import corpus_record, load_corpus
from crossling.exceptions import ConfigError
from crossling.models.pretrain import PretrainConfig, pretrain_experiment

from .pretrain_data import text_dir


def _config(tmp_path, **changes):
    settings = dict(
        languages=["xx", "yy"], out=tmp_path / "exp", corpus=f"text:{text_dir(tmp_path)}", validation_items=10,
        vocab_size=200, layers=2, hidden=32, heads=2, ffn=64, max_length=32, batch_size=8, max_steps=4,
        eval_every=2, checkpoint_every=2, seed=1, multilingual_steps=6,
    )
    return PretrainConfig(**{**settings, **changes})


def test_pretrain_experiment_end_to_end(tmp_path, monkeypatch):
    config = _config(tmp_path)
    result = pretrain_experiment(config)
    assert set(result.models) == {"multilingual", "mono-xx", "mono-yy"}
    assert result.models["multilingual"].languages == ["xx", "yy"]
    kinds = {}
    for name, m in result.models.items():
        folder = tmp_path / "exp" / name
        assert sha256_file(folder / "tokenizer.json") == result.tokenizer_sha256  # one shared vocabulary
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
    # The report section: the table as written, the learning curves, the manifest as provenance.
    exp = tmp_path / "exp"
    pd.testing.assert_frame_equal(pd.read_parquet(exp / "training.parquet"), table)
    section = json.loads((exp / "report.json").read_text())
    assert section["provenance"] == "manifest.json" and section["tables"][0]["file"] == "training.parquet"
    assert (exp / section["figures"][0]["file"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    gap = table["val_loss"] - table["unigram_loss"]
    e, c = gap[table["model"] == "multilingual"], gap[table["model"] != "multilingual"]
    assert f"E {e.min():+.2f} to {e.max():+.2f}; controls {c.min():+.2f} to {c.max():+.2f}." in section["summary"]
    assert result.tokenizer_sha256[:12] in section["summary"]

    # Running again resumes: nothing is retrained.
    monkeypatch.setattr("crossling.models.pretrain.experiment.train_mlm",
                        lambda *a, **k: pytest.fail("retrained a finished model"))
    again = pretrain_experiment(config)
    assert again.models["mono-yy"].val_loss == result.models["mono-yy"].val_loss
    with pytest.raises(ValueError, match="different configuration"):
        pretrain_experiment(config.model_copy(update={"seed": 2}))
    # Threads, processes and the folder's name do not change what is trained.
    pretrain_experiment(config.model_copy(update={"threads": 1, "workers": 2}))


def test_manifest_says_what_made_the_models(tmp_path):
    config = _config(tmp_path, max_steps=2, multilingual_steps=None, eval_every=1)
    result = pretrain_experiment(config)
    manifest = json.loads((tmp_path / "exp" / "manifest.json").read_text())
    assert manifest == json.loads(json.dumps(result.manifest))
    assert set(MANIFEST_KEYS) <= set(manifest) and manifest["command"] == "crossling pretrain"
    assert manifest["config"] == config.model_dump(mode="json")
    # the corpus as read: the same record as every other command gives of these files
    read = load_corpus(config.corpus, ["xx", "yy"], split="train", parallel=False)
    assert manifest["corpus"] == {**corpus_record(config.corpus, read, split="train"), "parallel": False}
    assert manifest["corpus"]["sentences"] == {"xx": 120, "yy": 120} and manifest["corpus"]["parallel"] is False
    assert manifest["preparation"] == result.data
    assert manifest["preparation"]["validation_texts"] == {"xx": 10, "yy": 10}
    assert manifest["seeds"]["masking"] == 1 and set(manifest["seeds"]["validation_masks"]) == {"xx", "yy"}
    assert manifest["tokenizer"] == {"path": "tokenizer", "sha256": result.tokenizer_sha256,
                                     "vocab_size": json.loads((tmp_path / "exp" / "multilingual" / "config.json")
                                                              .read_text())["vocab_size"]}
    assert manifest["model_size"] == {"layers": 2, "hidden": 32, "heads": 2, "ffn": 64, "max_length": 32}
    for name, model in result.models.items():
        entry = manifest["trained_models"][name]
        assert entry["val_loss"] == model.val_loss and entry["unigram_loss"] == model.unigram_loss
        assert entry["below_unigram"] == {lang: model.unigram_loss[lang] - model.val_loss[lang]
                                          for lang in model.languages}
        assert entry["steps"] == 2 and entry["path"] == name
    duplicates = {item["language"]: item["count"] for item in manifest["skipped"] if item["reason"].startswith("dup")}
    assert duplicates == {lang: n for lang, n in result.data["duplicates_removed"].items() if n}
    stages = set(manifest["seconds"])
    assert {"reading the corpus", "tokenizer", "training", "report", "total"} <= stages


def test_a_corpus_error_leaves_the_folder_free(tmp_path):
    config = _config(tmp_path, validation_items=100)  # 120 texts cannot hold out 100
    with pytest.raises(ConfigError, match="fewer than twice validation_items=100"):
        pretrain_experiment(config)
    assert not (tmp_path / "exp" / "config.yaml").exists()
    folder = tmp_path / "exp"
    folder.mkdir(exist_ok=True)
    old = {**config.model_dump(mode="json"), "source": "text"}  # written by the version with source/text_files
    (folder / "config.yaml").write_text(yaml.safe_dump(old))
    with pytest.raises(ConfigError, match="this version cannot read"):
        pretrain_experiment(config)


@pytest.mark.slow
def test_worker_processes_train_the_same_models(tmp_path):
    folder = text_dir(tmp_path, 80)
    config = PretrainConfig(
        languages=["xx", "yy"], out=tmp_path / "one", corpus=f"text:{folder}", validation_items=10,
        vocab_size=150, layers=1, hidden=32, heads=2, ffn=64, max_length=32, batch_size=8, max_steps=3,
        eval_every=3, seed=4,
    )
    events = []
    serial = pretrain_experiment(config)
    # the same vocabulary for both (SentencePiece training is not bit-reproducible across processes)
    import shutil

    shutil.copytree(tmp_path / "one" / "tokenizer", tmp_path / "two" / "tokenizer")
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

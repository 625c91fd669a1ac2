"""``crossling pretrain``: flags and YAML into PretrainConfig, training, the printed summary, resuming."""

from __future__ import annotations

import json

import yaml
from typer.testing import CliRunner

from crossling.cli import app
from models.pretrain.pretrain_data import text_dir


def test_command_line_trains_and_resumes(tmp_path):
    folder = text_dir(tmp_path)
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(
        {"validation_items": 10, "heads": 2, "ffn": 64, "checkpoint_every": 2, "batch_size": 8, "max_steps": 50}))
    args = ["pretrain", "--config", str(tmp_path / "run.yaml"), "--languages", "xx,yy", "--corpus", f"text:{folder}",
            "--size", "mini", "--layers", "2", "--hidden", "32", "--max-length", "32", "--vocab-size", "200",
            "--max-steps", "4", "--eval-every", "2", "--seed", "1", "--threads", "1", "--out", str(tmp_path / "exp")]
    runner = CliRunner()
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    config = yaml.safe_load((tmp_path / "exp" / "config.yaml").read_text())
    assert config["max_steps"] == 4 and config["validation_items"] == 10 and config["lr"] == 3e-3  # flag > YAML
    assert config["corpus"] == f"text:{folder}" and config["languages"] == ["xx", "yy"]
    table = [line for line in first.output.splitlines() if line.split()[:1] in (["multilingual"], ["mono-xx"])]
    assert len(table) == 3  # E for xx and yy, C_xx for xx
    assert "mono-yy: 4/4 step (100%)" in first.output  # progress as lines, off a terminal
    record = json.loads((tmp_path / "exp" / "mono-yy" / "training_record.json").read_text())
    assert record["steps"] == 4 and record["options"]["unigram_bias"] is True
    assert record["model_config"]["hidden_size"] == 32 and record["model_config"]["max_position_embeddings"] == 34
    manifest = json.loads((tmp_path / "exp" / "manifest.json").read_text())
    assert manifest["command"] == "crossling pretrain" and set(manifest["trained_models"]) == {
        "multilingual", "mono-xx", "mono-yy"}
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and "resuming" in again.output and "3 of 3 models finished" in again.output


def test_user_errors_are_one_line(tmp_path):
    runner = CliRunner()
    missing = runner.invoke(app, ["pretrain", "--out", str(tmp_path / "exp")])
    assert missing.exit_code == 2 and "--languages is required" in missing.output
    folder = text_dir(tmp_path)
    absent = runner.invoke(app, ["pretrain", "--corpus", f"text:{folder}", "--languages", "xx,zz",
                                 "--out", str(tmp_path / "exp")])
    assert absent.exit_code == 2 and "no zz.txt" in absent.output
    assert not (tmp_path / "exp" / "config.yaml").exists()  # so the corrected command starts afresh


def test_flags_and_yaml_reach_the_config(tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr("crossling.models.pretrain.experiment.pretrain_experiment",
                        lambda config, **kwargs: seen.append(config) or _stop())
    (tmp_path / "texts").mkdir()
    (tmp_path / "run.yaml").write_text(yaml.safe_dump({"corpus": "text:texts", "romanize": ["zh"], "limit": 9}))
    result = CliRunner().invoke(app, ["pretrain", "--config", str(tmp_path / "run.yaml"), "--languages", "zh, ja",
                                      "--low-resource", "ja", "--no-multilingual", "--out", str(tmp_path / "exp")])
    assert isinstance(result.exception, _Stop), result.output
    config = seen[0]
    assert config.corpus == f"text:{tmp_path / 'texts'}" and config.split == "train" and config.limit == 9
    assert (config.languages, config.romanize, config.low_resource) == (["zh", "ja"], ["zh"], ["ja"])
    assert not config.multilingual and config.monolingual


class _Stop(Exception):
    """Stops the command right after it resolved its configuration."""


def _stop():
    raise _Stop

"""PretrainConfig: presets, their training defaults, validation, and the corpus options of every command."""

from __future__ import annotations

import pytest
import yaml
from pydantic import ValidationError

from crossling.config import CorpusOptions
from crossling.models.pretrain import PRESETS, ModelSize, PretrainConfig


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


def test_presets():
    assert PRESETS["tiny"] == ModelSize(4, 128, 2, 512, 128)
    assert PRESETS["base"] == ModelSize(12, 768, 12, 3072, 512)
    with pytest.raises(ValueError, match="divisible"):
        ModelSize(2, 30, 4, 64, 32)
    with pytest.raises(ValueError, match="too short"):
        ModelSize(2, 32, 4, 64, 7)


def test_config_validation(tmp_path):
    with pytest.raises(ValidationError, match="languages"):
        PretrainConfig(out=tmp_path)  # no default: every language gets a control
    with pytest.raises(ValueError, match="low_resource"):
        PretrainConfig(languages=["en"], out=tmp_path, low_resource=["de"])
    with pytest.raises(ValueError, match="divisible"):
        PretrainConfig(languages=["en"], out=tmp_path, hidden=100, heads=3)
    with pytest.raises(ValueError, match="nothing to train"):
        PretrainConfig(languages=["en"], out=tmp_path, multilingual=False, monolingual=False)
    config = PretrainConfig(languages=["en"], out=tmp_path, size="tiny", layers=2)
    assert config.model_size() == ModelSize(2, 128, 2, 512, 128)


def test_corpus_is_a_spec_like_every_command(tmp_path):
    assert issubclass(PretrainConfig, CorpusOptions)
    config = PretrainConfig(languages="de, ru", out=tmp_path, romanize="ru", low_resource="de,")
    # lohelp is the default corpus; UD folders are read for their train files unless told otherwise
    assert (config.corpus, config.split, config.limit) == ("lohelp:", "train", None)
    assert (config.languages, config.romanize, config.low_resource) == (["de", "ru"], ["ru"], ["de"])
    (tmp_path / "texts").mkdir()
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({"corpus": "text:texts", "languages": ["xx", "yy"], "out": "exp"}))
    from_file = PretrainConfig.resolve(path)  # relative locations are read against the YAML's folder
    assert from_file.corpus == f"text:{tmp_path / 'texts'}" and from_file.out == tmp_path / "exp"
    with pytest.raises(ValidationError, match="Extra inputs"):
        PretrainConfig(languages=["en"], out=tmp_path, source="text")  # the old keys are gone


def test_model_plan_and_train_options(tmp_path):
    config = PretrainConfig(languages=["de", "ru"], out=tmp_path, max_steps=7, multilingual_steps=11)
    assert config.model_plan() == [("multilingual", "xlm-roberta", ["de", "ru"]), ("mono-de", "roberta", ["de"]),
                                   ("mono-ru", "roberta", ["ru"])]
    assert config.train_options(multilingual=True).max_steps == 11 and config.train_options().max_steps == 7
    controls = PretrainConfig(languages=["de"], out=tmp_path, multilingual=False)
    assert [name for name, _, _ in controls.model_plan()] == ["mono-de"]

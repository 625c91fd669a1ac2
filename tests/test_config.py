"""The shared configuration pieces: the comma-list parsers, ModelOptions, and every study config using them."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError
from typer.testing import CliRunner

from crossling.cli import app
from crossling.concepts.run import ConceptsConfig
from crossling.config import ModelOptions, parse_layers, resolve_layers, split_commas
from crossling.extraction.run import ExtractConfig
from crossling.factorization import FactorizationConfig
from crossling.similarity.run import SimilarityConfig
from crossling.similarity.study import IndexOptions

BAD_LAYERS = "layers must be 'all' or comma-separated integers"


def _required(cls) -> dict:
    """The fields each config cannot do without."""
    if cls is FactorizationConfig:
        return {"experimental": "e", "control": {"en": "c_en", "de": "c_de"}, "corpus": "text:x", "out": "o"}
    return {"model": "m", "corpus": "pud:x", "out": "o"}


CONFIGS = [ExtractConfig, SimilarityConfig, ConceptsConfig, FactorizationConfig]


@pytest.mark.parametrize("value, expected", [
    (None, None), ("all", None), (" ALL ", None), ("0,3, 12", [0, 3, 12]), ("1,,2", [1, 2]), ("-1", [-1]),
    (" 4 ,", [4]), ([5, 1], [5, 1]),
])
def test_parse_layers(value, expected):
    assert parse_layers(value) == expected


@pytest.mark.parametrize("bad", ["x", "1,two", "", " , ", "1.5"])
def test_parse_layers_names_the_bad_value(bad):
    with pytest.raises(ValueError, match=f"^{BAD_LAYERS}, got {bad!r}$"):
        parse_layers(bad)


@pytest.mark.parametrize("layers, available, expected", [
    (None, range(5), [0, 1, 2, 3, 4]),
    ([0, -1], range(13), [0, 12]),
    ([4, 2], range(5), [4, 2]),
    ([-1, 3], [0, 3, 6], [6, 3]),
])
def test_resolve_layers(layers, available, expected):
    assert resolve_layers(layers, available) == expected


@pytest.mark.parametrize("layers, available, message", [
    ([7], range(5), r"layers \[7\] out of range: the hidden states available are 0..4"),
    ([-6], range(5), r"layers \[-6\] out of range"),
    ([1], [0, 3, 6], r"layers \[1\] out of range: the hidden states available are 0..6"),
    ([2, -3], range(5), r"layers \[2, -3\] select a hidden state twice"),
])
def test_resolve_layers_rejects_what_does_not_exist(layers, available, message):
    with pytest.raises(ValueError, match=message):
        resolve_layers(layers, available)


def test_resolve_layers_names_the_option():
    with pytest.raises(ValueError, match=r"^heatmap_layers \[9\]"):
        resolve_layers([9], range(3), what="heatmap_layers")


@pytest.mark.parametrize("value, expected", [
    ("en, de", ["en", "de"]), ("en,,de,", ["en", "de"]), ("", []), (" fr ", ["fr"]), (["en", "de"], ["en", "de"]),
    (None, None),
])
def test_split_commas(value, expected):
    assert split_commas(value) == expected


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
def test_layers_and_languages_from_yaml_and_keywords(cls, tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({**_required(cls), "layers": "1,2", "languages": "en, de"}))
    from_file = cls.resolve(path)
    from_keywords = cls(**_required(cls), layers="1,2", languages="en, de")
    for config in (from_file, from_keywords):
        assert config.layers == [1, 2] and config.languages == ["en", "de"]
    # a flag overrides the file; "all" and a blank item are read the same everywhere
    assert cls.resolve(path, layers="all").layers is None
    assert cls.resolve(path, layers="0,,3", languages="de").layers == [0, 3]
    assert cls.resolve(path, languages="de").languages == ["de"]
    # YAML lists work as before, and the written configuration reads back to the same settings
    listed = tmp_path / "listed.yaml"
    listed.write_text(yaml.safe_dump({**_required(cls), "layers": [0, -1], "languages": ["en", "de"]}))
    config = cls.resolve(listed)
    assert config.layers == [0, -1] and config.languages == ["en", "de"]
    assert cls.resolve(config.write(tmp_path / "out")) == config


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
def test_bad_layers_are_a_clear_error(cls):
    with pytest.raises(ValidationError, match=f"{BAD_LAYERS}, got 'x'"):
        cls(**_required(cls), layers="x")


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
def test_model_options_are_shared(cls):
    assert issubclass(cls, ModelOptions)
    config = cls(**_required(cls))
    assert (config.batch_size, config.max_length, config.device, config.dtype, config.revision,
            config.trust_remote_code) == (32, None, "cpu", None, None, False)
    custom = cls(**_required(cls), batch_size=4, max_length=64, device="cuda", dtype="bfloat16", revision="v1",
                 trust_remote_code=True)
    assert (custom.batch_size, custom.max_length, custom.dtype, custom.revision) == (4, 64, "bfloat16", "v1")
    for bad, match in (({"batch_size": 0}, "greater than or equal to 1"),
                       ({"max_length": 1}, "greater than or equal to 2"),
                       ({"devise": "cpu"}, "Extra inputs")):
        with pytest.raises(ValidationError, match=match):
            cls(**_required(cls), **bad)
    config.batch_size = 8  # assignment is validated, not frozen
    with pytest.raises(ValidationError):
        config.batch_size = -1


def test_load_model_passes_the_settings(monkeypatch):
    import crossling.models

    calls = []
    monkeypatch.setattr(crossling.models, "load_model", lambda name, **kwargs: calls.append((name, kwargs)) or name)
    options = ModelOptions(device="cuda", dtype="float16", revision="abc", trust_remote_code=True)
    assert options.load_model("m1") == "m1"
    assert options.load_model("m2", revision=None) == "m2"
    assert calls == [("m1", dict(revision="abc", device="cuda", dtype="float16", trust_remote_code=True)),
                     ("m2", dict(revision=None, device="cuda", dtype="float16", trust_remote_code=True))]


def test_similarity_index_options_are_one_declaration(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({**_required(SimilarityConfig), "ridge": 0.1, "metric": "euclidean",
                                    "indices": "anc, cka"}))
    config = SimilarityConfig.resolve(path, svcca_dims=20)
    assert config.index_options() == IndexOptions(ridge=0.1, metric="euclidean", svcca_dims=20)
    assert config.indices == ["anc", "cka"]
    assert IndexOptions().model_dump() == dict(anc_absolute=True, ridge=None, svcca_variance=0.99, svcca_dims=None,
                                               rbf_sigma=0.8, metric="cosine", cca_summary="mean",
                                               pwcca_weights="morcos", matching_direction="x_to_y",
                                               matching_ties="share")
    with pytest.raises(ValidationError, match="frozen"):
        IndexOptions().ridge = 1.0
    with pytest.raises(ValidationError, match="cosine"):
        SimilarityConfig(**_required(SimilarityConfig), metric="manhattan")


class _Captured(Exception):
    """Stops a command right after it resolved its configuration."""


@pytest.mark.parametrize("command, target, extra", [
    ("extract", "crossling.cli.extract.run_extract", ["--model", "m", "--corpus", "pud:x"]),
    ("similarity", "crossling.cli.similarity.run_similarity", ["--model", "m", "--corpus", "pud:x"]),
    ("concepts", "crossling.cli.concepts.run_concepts", ["--model", "m", "--corpus", "pud:x"]),
    ("parafac2", "crossling.cli.factorization.run_factorization",
     ["--experimental", "e", "--control", "en=a", "--control", "de=b", "--corpus", "text:x"]),
], ids=["extract", "similarity", "concepts", "parafac2"])
def test_shared_flags_reach_the_config(command, target, extra, tmp_path, monkeypatch):
    seen = []

    def capture(config, **kwargs):
        seen.append(config)
        raise _Captured

    monkeypatch.setattr(target, capture)
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({"out": str(tmp_path / "out"), "batch_size": 16, "layers": [0]}))
    result = CliRunner().invoke(app, [command, *extra, "--languages", "en, de", "--layers", "1,,2", "--limit", "5",
                                      "--device", "meta", "--config", str(path)])
    assert isinstance(result.exception, _Captured), result.output
    config = seen[0]
    assert (config.languages, config.layers, config.limit, config.device) == (["en", "de"], [1, 2], 5, "meta")
    assert config.batch_size == 16  # from the file, no flag given
    result = CliRunner().invoke(app, [command, *extra, "--layers", "x", "--config", str(path)])
    assert result.exit_code == 2 and BAD_LAYERS in result.output


def test_relative_paths_in_a_yaml_file_are_read_against_its_folder(tmp_path, monkeypatch):
    project = tmp_path / "project"
    (project / "models" / "mine").mkdir(parents=True)
    (project / "run.yaml").write_text(yaml.safe_dump({
        "model": "models/mine", "corpus": "pud:data/pud", "out": "runs/x", "store_dir": "../stores"}))
    monkeypatch.chdir(tmp_path)  # somewhere else: the file's folder decides, not the working directory
    config = SimilarityConfig.resolve(project / "run.yaml")
    assert config.model == str(project / "models" / "mine")
    assert config.corpus == f"pud:{project / 'data' / 'pud'}"
    assert config.out == project / "runs" / "x" and config.store_dir == project / ".." / "stores"
    hub = tmp_path / "hub.yaml"  # a hub id is not a folder there: it stays as written
    hub.write_text(yaml.safe_dump({"model": "intfloat/multilingual-e5-small", "corpus": "lohelp:", "out": "o"}))
    config = SimilarityConfig.resolve(hub, out="flag/out")  # flags stay relative to the working directory
    assert config.model == "intfloat/multilingual-e5-small" and config.corpus == "lohelp:"
    assert config.out == Path("flag/out")


@pytest.mark.parametrize("command", ["extract", "similarity"])
def test_lenient_flag_reaches_the_corpus_reader(command, tmp_path, monkeypatch):
    """--lenient (CorpusOptions.lenient) is a flag of every command with a corpus, and the run reads with it."""
    seen = []

    def capture(spec, languages=None, **kwargs):
        seen.append(kwargs)
        raise _Captured

    monkeypatch.setattr("crossling.data.corpus.load_corpus", capture)
    for flags, lenient in (([], False), (["--lenient"], True)):
        result = CliRunner().invoke(app, [command, "--model", "m", "--corpus", "pud:x", "--out", str(tmp_path / "o"),
                                          *flags])  # fmt: skip
        assert isinstance(result.exception, _Captured), result.output
        assert seen.pop()["lenient"] is lenient

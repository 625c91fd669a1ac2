"""The command line: extract from a YAML config and flags, on real PUD data and on plain text."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from tiny_models import build_tiny
from typer.testing import CliRunner

from crossling.cli import app
from crossling.data.corpus import corpus_name, load_corpus
from crossling.exceptions import CorpusSpecError
from crossling.extraction.run import ExtractConfig, run_extract
from crossling.extraction.store import VectorStore

runner = CliRunner()


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return build_tiny("xlmr", tmp_path_factory.mktemp("xlmr"))


def test_help_explains_every_command():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("extract", "models", "demo"):
        assert command in result.output
    result = runner.invoke(app, ["extract", "--help"])
    assert "--corpus" in result.output and "cache key" in result.output


def test_extract_from_yaml_with_flag_override(tmp_path, tiny_dir, data_dir):
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({
        "model": str(tiny_dir), "corpus": f"pud:{data_dir / 'ud' / 'pud'}", "languages": ["en", "is"],
        "level": "word", "layers": "0,2", "limit": 7, "out": str(tmp_path / "out")}))
    result = runner.invoke(app, ["extract", "--config", str(config), "--pooling", "first"])
    assert result.exit_code == 0, result.output
    resolved = yaml.safe_load((tmp_path / "out" / "config.yaml").read_text())
    assert resolved["pooling"] == "first" and resolved["layers"] == [0, 2] and resolved["limit"] == 7
    stores = {lang: VectorStore(tmp_path / "out" / name)
              for lang, name in json.loads((tmp_path / "out" / "stores.json").read_text()).items()}
    assert set(stores) == {"en", "is"}
    en, is_ = stores["en"].meta, stores["is"].meta
    # Icelandic is stored in a different order in its file; the reader aligns it by sent_id
    first = [frame.drop_duplicates("sentence_id")["sentence_id"].tolist() for frame in (en, is_)]
    assert first[0] == first[1]
    assert en["sentence_id"].nunique() == 7
    assert stores["en"].layers == [0, 2] and stores["en"].vectors(2).shape == (len(en), 32)


@pytest.mark.parametrize("spec, name", [
    ("lohelp:", "LibreOffice Help"), ("lohelp:/cache", "LibreOffice Help"), ("pud:/data/ud/pud", "Parallel UD (pud)"),
    ("text:corpora/wiki", "text (wiki)"), ("ud:treebanks/en_ewt-test.conllu", "UD (en_ewt-test.conllu)"),
])
def test_corpus_names_for_titles(spec, name):
    assert corpus_name(spec) == name


def test_text_corpus_and_errors(tmp_path, tiny_dir):
    (tmp_path / "en.txt").write_text("The quick fox .\nA lazy dog .\n")
    (tmp_path / "de.txt").write_text("Der schnelle Fuchs .\nEin fauler Hund .\n")
    corpus = load_corpus(f"text:{tmp_path}")
    assert set(corpus) == {"de", "en"} and [s.text for s in corpus["de"]][1] == "Ein fauler Hund ."
    cfg = ExtractConfig(model=str(tiny_dir), corpus=f"text:{tmp_path}", level="sentence", out=tmp_path / "out")
    stores = run_extract(cfg, progress=False)
    assert stores["en"].vectors(0).shape == (2, 32) and np.isfinite(stores["de"].vectors(2)).all()
    with pytest.raises(CorpusSpecError, match="expected one of"):
        load_corpus("nonsense")
    with pytest.raises(CorpusSpecError, match="does not exist"):
        load_corpus(f"pud:{tmp_path / 'missing'}")
    with pytest.raises(CorpusSpecError, match="one language"):
        load_corpus(f"text:{tmp_path / 'en.txt'}")
    with pytest.raises(ValueError, match="Extra inputs|extra"):
        ExtractConfig.resolve(None, model="m", corpus="c", out="o", poolng="mean")

"""User errors at the command line: one line that names the problem, exit status 2, nothing left behind."""

from __future__ import annotations

import pytest
from tiny_models import build_tiny
from typer.testing import CliRunner

from crossling.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return build_tiny("bert", tmp_path_factory.mktemp("bert"))


def _bad(args: list[str], out, expected: str) -> str:
    result = runner.invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert expected in lines[0], lines[0]
    assert not out.exists() and not list(out.parent.glob(f".{out.name}*"))  # no result, no staging folder
    return lines[0]


def test_five_bad_inputs(tmp_path, tiny_dir, data_dir):
    pud = f"pud:{data_dir / 'ud' / 'pud'}"
    (tmp_path / "models").mkdir()
    out = tmp_path / "out"
    _bad(["similarity", "--model", str(tmp_path / "models" / "me5-smal"), "--corpus", pud], out,
         "me5-smal does not exist")
    _bad(["concepts", "--model", str(tiny_dir), "--corpus", pud, "--k", "0"], out, "k")
    _bad(["similarity", "--model", str(tiny_dir), "--corpus", "pdu:" + str(data_dir / "ud" / "pud")], out,
         "expected one of pud:..., ud:..., text:..., lohelp:...")
    _bad(["similarity", "--model", str(tiny_dir), "--corpus", pud, "--languages", "en,xx"], out, "has no xx")
    _bad(["similarity", "--model", str(tiny_dir), "--corpus", pud, "--languages", "en,de", "--layers", "0,13"], out,
         "layers [13] out of range: the hidden states available are 0..2")


def test_a_relative_model_path_whose_first_folder_exists_is_not_taken_for_a_hub_id(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").mkdir()
    result = runner.invoke(app, ["models", "inspect", "models/me5-smal"])
    assert result.exit_code == 2 and result.output.strip() == (
        "Error: model folder models/me5-smal does not exist (a hub id has the form org/name)")


def test_debug_shows_the_traceback(tmp_path):
    result = runner.invoke(app, ["--debug", "similarity", "--model", "m", "--corpus", "bogus:", "--out",
                                 str(tmp_path / "out")])
    assert result.exit_code != 0 and type(result.exception).__name__ == "CorpusSpecError"


def test_a_missing_required_option_names_the_flag_and_the_yaml_key(tmp_path):
    result = runner.invoke(app, ["similarity", "--corpus", "pud:x", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert result.output.strip() == "Error: --model is required (give the flag, or model: in the --config YAML file)"


def test_version_and_help():
    import crossling

    assert runner.invoke(app, ["--version"]).output.strip() == f"crossling {crossling.__version__}"
    text = runner.invoke(app, ["similarity", "--help"], env={"COLUMNS": "200"}).output
    for flag in ("--model", "--corpus", "--dtype", "--revision", "--trust-remote-code", "--shard-size", "--prefix",
                 "--store-dir", "--config"):
        assert flag in text
    assert "[required]" in text and "[default: 4096]" in text  # chunk size

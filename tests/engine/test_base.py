"""The engine front and the local engine: task order, merging, events, weights, options; no Ray needed."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from crossling.config import EngineOptions
from crossling.engine import LocalEngine, in_order, merge_all, open_engine
from crossling.exceptions import ConfigError
from crossling.moments import Moments

from . import ray_tasks


def test_in_order_puts_completion_order_back_in_task_order():
    assert list(in_order([(2, "c"), (0, "a"), (3, "d"), (1, "b")])) == ["a", "b", "c", "d"]
    with pytest.raises(ValueError, match="task 1 came twice"):
        list(in_order([(1, "b"), (1, "b")]))
    with pytest.raises(ValueError, match=r"tasks \[1\] never came"):
        list(in_order([(0, "a"), (2, "c")]))


def test_in_order_yields_each_result_as_soon_as_its_predecessors_came():
    seen = []

    def pairs():
        for pair in [(1, "b"), (0, "a"), (3, "d"), (2, "c")]:
            seen.append(pair[0])
            yield pair

    out = in_order(pairs())
    assert next(out) == "a" and seen == [1, 0]  # "a" before task 3 was even produced
    assert next(out) == "b" and seen == [1, 0]


def test_merge_all_of_chunk_moments_equals_one_pass_and_leaves_the_parts_alone():
    rng = np.random.default_rng(3)
    X, Y = rng.normal(size=(300, 5)), rng.normal(size=(300, 4))
    parts = [Moments.from_arrays(X[i:i + 70], Y[i:i + 70]) for i in range(0, 300, 70)]
    before = parts[0].sxy.copy()
    merged = merge_all(parts)
    whole = Moments.from_arrays(X, Y)
    assert merged.n == 300
    np.testing.assert_allclose(merged.sxy, whole.sxy, rtol=0, atol=1e-12)
    np.testing.assert_allclose(merged.sxx, whole.sxx, rtol=0, atol=1e-12)
    np.testing.assert_allclose(merged.mean_y, whole.mean_y, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(parts[0].sxy, before)
    with pytest.raises(ValueError, match="nothing to merge"):
        merge_all([])


def test_local_engine_runs_in_task_order_with_events_weights_and_a_record():
    engine = LocalEngine()
    assert engine.map(ray_tasks.square, range(5), desc="squares", progress=False) == [0, 1, 4, 9, 16]
    assert list(engine.imap(ray_tasks.square, [3, 1], desc="pairs", progress=False)) == [(0, 9), (1, 1)]
    events = []
    assert engine.map(ray_tasks.count_up, [2, 3], desc="events", events=events.append, progress=False) == [2, 3]
    assert events == [(2, 0), (2, 1), (3, 0), (3, 1), (3, 2)]
    with pytest.raises(ValueError, match="2 weights for 3 tasks"):
        engine.map(ray_tasks.square, [1, 2, 3], desc="w", weights=[1, 2], progress=False)
    with pytest.raises(ConfigError, match="task 7 refuses"):
        engine.map(ray_tasks.refuse, [7], desc="errors", progress=False)
    shared = engine.share(np.arange(6.0).reshape(2, 3))
    assert engine.map(ray_tasks.read_shared, [(shared, 1)], desc="shared", progress=False) == [12.0]
    record = engine.record()
    assert record["name"] == "local" and record["cpus"] >= 1
    assert [s["stage"] for s in record["stages"]][:3] == ["squares", "pairs", "events"]
    assert record["stages"][0]["tasks"] == 5


def test_an_iterator_of_tasks_needs_its_total_for_a_progress_display_and_is_pulled_lazily():
    engine = LocalEngine()
    with pytest.raises(ValueError, match="need total="):
        engine.map(ray_tasks.square, iter([1, 2]), desc="lazy", progress=True)
    assert engine.map(ray_tasks.square, iter([1, 2, 3]), desc="uncounted", progress=False) == [1, 4, 9]
    assert engine.stages[-1] == {"stage": "uncounted", "tasks": 3}  # counted as they came
    pulled = []

    def tasks():
        for x in range(5):
            pulled.append(x)
            yield x

    results = engine.imap(ray_tasks.square, tasks(), total=5, desc="lazy", progress=False)
    assert next(results) == (0, 0) and pulled == [0]
    assert [r for _, r in results] == [1, 4, 9, 16]


def test_local_pool_uses_the_drivers_state_or_builds_it_once():
    engine = LocalEngine()
    assert engine.map_with(ray_tasks.offset_state, ray_tasks.add_offset, [1, 2], desc="pool", state={"offset": 7},
                           progress=False) == [8, 9]
    built = []

    def setup():
        built.append(1)
        return {"offset": 100}

    assert engine.map_with(setup, ray_tasks.add_offset, [1, 2, 3], desc="pool", progress=False) == [101, 102, 103]
    assert built == [1]


def test_progress_counts_weights(capsys):
    LocalEngine().map(ray_tasks.square, [1, 2], desc="weighted", unit="sentence", weights=[10, 30])
    err = capsys.readouterr().err
    assert "weighted: 40/40 sentence (100%)" in err


def test_engine_options_default_to_local_and_check_values():
    assert isinstance(open_engine(None), LocalEngine)
    options = EngineOptions()
    assert options.engine == "local" and options.max_retries == 3
    with options.open_engine() as engine:
        assert isinstance(engine, LocalEngine)
    with pytest.raises(ValueError, match="engine"):
        EngineOptions(engine="spark")
    with pytest.raises(ValueError, match="gpus_per_actor"):
        EngineOptions(gpus_per_actor=0)


def test_ray_engine_without_ray_is_a_config_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now fails
    with pytest.raises(ConfigError, match=r"pip install 'crossling\[ray\]'"):
        open_engine(EngineOptions(engine="ray"))


@pytest.mark.parametrize("command", ["extract", "pretrain", "demo"])
def test_engine_flags_on_commands(command):
    from typer.testing import CliRunner

    from crossling.cli import app

    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code == 0
    for flag in ("--engine", "--ray-address", "--actors", "--cpus-per-task", "--gpus-per-actor", "--max-retries"):
        assert flag in result.output

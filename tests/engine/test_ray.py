"""The Ray engine on a real two-node cluster of this machine: the local engine's results, retries, pools, events."""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest

from crossling.engine import LocalEngine, merge_all
from crossling.exceptions import ConfigError

from . import ray_tasks

pytestmark = pytest.mark.slow


def test_tasks_give_the_local_results_and_the_record_names_both_nodes(ray_engine):
    tasks = list(range(15))
    assert ray_engine.map(ray_tasks.square, tasks, desc="squares", progress=False) == \
        LocalEngine().map(ray_tasks.square, tasks, desc="squares", progress=False)
    record = ray_engine.record()
    assert record["name"] == "ray" and record["address"] == ray_engine.address
    assert len(record["nodes"]) == 2 and all(node["resources"]["CPU"] == 1 for node in record["nodes"])
    assert record["resources"]["CPU"] == 2 and record["max_retries"] == 3
    assert {"stage": "squares", "tasks": 15} in record["stages"]


def test_moments_merged_on_the_driver_equal_the_local_engines_bit_for_bit(ray_engine):
    rng = np.random.default_rng(11)
    X, Y = rng.normal(size=(900, 6)), rng.normal(size=(900, 5))
    chunks = [(X[i:i + 100], Y[i:i + 100]) for i in range(0, 900, 100)]
    remote = merge_all(ray_engine.map(ray_tasks.moments_of, chunks, desc="moments", progress=False))
    local = merge_all(LocalEngine().map(ray_tasks.moments_of, chunks, desc="moments", progress=False))
    for name in ("mean_x", "mean_y", "sxx", "syy", "sxy"):
        np.testing.assert_array_equal(getattr(remote, name), getattr(local, name))
    whole = ray_tasks.moments_of((X, Y))
    np.testing.assert_allclose(remote.cov_xy(), whole.cov_xy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(remote.cov_xx(), whole.cov_xx(), rtol=0, atol=1e-12)


def test_a_task_error_reaches_the_driver_as_its_own_class_and_one_line(ray_engine):
    with pytest.raises(ConfigError) as caught:
        ray_engine.map(ray_tasks.refuse, [3], desc="errors", progress=False)
    assert str(caught.value) == "task 3 refuses"  # what the command line prints
    assert "ray_tasks.py" in caught.value.__notes__[0]  # the worker's traceback, for --debug


def test_warnings_of_remote_tasks_are_given_on_the_driver(ray_engine):
    from crossling.exceptions import DegenerateInputWarning

    with pytest.warns(DegenerateInputWarning) as caught:
        assert ray_engine.map(ray_tasks.warn_odd, range(4), desc="warnings", progress=False) == [0, 1, 2, 3]
    assert sorted(str(w.message) for w in caught) == ["task 1 is odd", "task 3 is odd"]
    with pytest.warns(DegenerateInputWarning, match="task 1 is odd"):
        ray_engine.map_with(ray_tasks.offset_state, ray_tasks.warn_odd_with_state, [1], desc="pool warnings",
                            progress=False)


def test_events_of_remote_tasks_reach_the_driver(ray_engine):
    events = []
    assert ray_engine.map(ray_tasks.count_up, [4, 2], desc="events", events=events.append, progress=False) == [4, 2]
    assert sorted(events) == [(2, 0), (2, 1), (4, 0), (4, 1), (4, 2), (4, 3)]


def test_an_iterator_of_tasks_is_pulled_only_as_tasks_can_start(ray_engine):
    pulled = []

    def tasks():  # a generator that makes each task's input (as the factorization makes its Omegas)
        for x in range(12):
            pulled.append(x)
            yield x

    results = ray_engine.imap(ray_tasks.square, tasks(), total=12, desc="lazy", progress=False)
    first = next(results)
    assert len(pulled) <= 2 * 2 + 1  # two in flight per CPU of the cluster, and the one that replaced the first
    assert sorted([first, *results]) == [(x, x * x) for x in range(12)]


def test_shared_inputs_are_read_by_the_tasks(ray_engine):
    matrix = np.arange(12.0).reshape(3, 4)
    shared = ray_engine.share(matrix)
    assert ray_engine.map(ray_tasks.read_shared, [(shared, i) for i in range(3)], desc="shared",
                          progress=False) == [6.0, 22.0, 38.0]


def test_an_actor_pool_builds_its_state_once_per_actor(ray_engine):
    results = ray_engine.map_with(ray_tasks.offset_state, ray_tasks.add_offset, range(20), desc="pool",
                                  progress=False)
    assert results == [x + 100 for x in range(20)]
    stage = ray_engine.stages[-1]
    assert stage["actors"] == 2 and stage["restarts"] == 0  # one per node: one CPU each


def test_a_gpu_pool_reserves_gpus_and_a_cluster_without_them_says_so(ray_engine):
    from crossling.exceptions import EngineError

    with pytest.raises(EngineError, match=r"no room for an actor of 1 CPUs and 1 GPUs \(no GPU node\?\)"):
        ray_engine.map_with(ray_tasks.offset_state, ray_tasks.add_offset, [1], desc="gpu pool", gpu=True,
                            progress=False)


def test_a_killed_worker_is_retried_and_the_results_are_those_of_an_undisturbed_run(ray_engine, tmp_path):
    """Task 0 waits with its pid written; the test kills that process mid-task; Ray runs the task again."""
    tasks = [(i, str(tmp_path)) for i in range(6)]
    out: dict = {}
    run = threading.Thread(target=lambda: out.update(
        results=ray_engine.map(ray_tasks.stall_first, tasks, desc="stalled", progress=False)))
    run.start()
    pid_file = tmp_path / "pid-0"
    deadline = time.monotonic() + 120
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    killed = int(pid_file.read_text())
    os.kill(killed, signal.SIGKILL)
    time.sleep(1.0)  # let Ray see the death before the retry may finish
    (tmp_path / "go").write_text("")
    run.join(timeout=180)
    assert not run.is_alive()
    assert out["results"] == [i * i for i in range(6)]
    assert int(pid_file.read_text()) != killed  # task 0 ran again, in another process

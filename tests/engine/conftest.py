"""A real two-node Ray cluster on this machine's loopback for the engine tests, and the driver's connection to it.

``.ci/run`` starts the cluster before the test command and names it in ``CROSSLING_RAY_ADDRESS``; without that
variable the first test that needs the cluster starts one (:class:`crossling.engine.LocalCluster`: a head and a
second node, one CPU each, stopped by pid when the session ends).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from . import ray_tasks


@pytest.fixture(scope="session")
def ray_address(tmp_path_factory) -> str:
    """The address of a running two-node cluster."""
    given = os.environ.get("CROSSLING_RAY_ADDRESS")
    if given:
        import ray  # noqa: F401  (a cluster named but no Ray to reach it is a broken set-up: fail, never skip)

        yield given
        return
    pytest.importorskip("ray")
    from crossling.engine import LocalCluster

    cluster = LocalCluster(2, state_dir=Path(tmp_path_factory.mktemp("ray")))
    cluster.start()
    try:
        yield cluster.address
    finally:
        import ray

        ray.shutdown()  # the driver first, so the nodes stop without a client attached
        cluster.stop()


@pytest.fixture(scope="session")
def ray_engine(ray_address):
    """The driver's connection (one for the session); configs with ``engine="ray"`` reuse it."""
    import ray

    from crossling.engine import RayEngine

    engine = RayEngine(ray_address)
    ray.cloudpickle.register_pickle_by_value(ray_tasks)  # the workers need not import the tests
    nodes = [node for node in ray.nodes() if node["Alive"]]
    assert len(nodes) == 2, f"the test cluster should have two nodes, it has {len(nodes)}"
    yield engine
    engine.close()

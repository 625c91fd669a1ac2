"""Where a run's work runs: in this process (the local engine, the default) or on a Ray cluster, with the same results.

A stage of a run is a function over independent tasks; an engine runs it and hands the results to the driver,
which writes them once or merges them exactly, in task order (:mod:`crossling.engine.base`):

- :class:`LocalEngine`: every task in this process, in order; needs nothing beyond crossling;
- :class:`RayEngine`: Ray tasks and actor pools on a cluster (``pip install 'crossling[ray]'``), retried when a
  worker dies (:mod:`crossling.engine.ray_engine`);
- :class:`LocalCluster`: a real multi-node Ray cluster on this machine's loopback, for trying the Ray engine,
  the tests and the benchmark (:mod:`crossling.engine.localcluster`).

A command gets its engine from its configuration's :class:`~crossling.config.EngineOptions` (``--engine``,
``--ray-address``, ...) through :func:`open_engine`, and writes :meth:`Engine.record` into its manifest. A stage
is wired in a few lines: a module-level function of one task (picklable inputs: store paths rather than open
stores, arrays rather than memory maps), the tasks, and the results back in task order::

    with config.open_engine() as engine:                      # run.py
        stores = extract_stores(lm, corpus, options, root, engine=engine)
        fits = in_order(engine.imap(fit_one, tasks, total=n, desc="PARAFAC2", unit="fit", cpus=2))
        moments = merge_all(in_order(engine.imap(chunk_moments, chunks, desc="moments")))
        provenance.record["engine"] = engine.record()
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crossling.engine.base import Engine, Shared, in_order, merge_all
from crossling.engine.local import LocalEngine

if TYPE_CHECKING:
    from crossling.config import EngineOptions
    from crossling.engine.localcluster import LocalCluster
    from crossling.engine.ray_engine import RayEngine

__all__ = ["Engine", "LocalCluster", "LocalEngine", "RayEngine", "Shared", "in_order", "merge_all", "open_engine"]


def open_engine(options: EngineOptions | None = None) -> Engine:
    """The engine a configuration asks for: local (the default, also for ``None``) or Ray.

    Parameters
    ----------
    options : EngineOptions, optional
        ``engine``, ``ray_address``, ``cpus_per_task``, ``gpus_per_actor``, ``actors``, ``max_retries``.

    Returns
    -------
    Engine
        Use it as a context manager (or call ``close()``): a Ray engine that connected disconnects at the end.

    Raises
    ------
    ConfigError
        When ``engine`` is ``ray`` and Ray is not installed.
    EngineError
        When the Ray cluster cannot be reached.
    """
    if options is None or options.engine == "local":
        return LocalEngine()
    from crossling.engine.ray_engine import RayEngine

    return RayEngine(options.ray_address, cpus_per_task=options.cpus_per_task, gpus_per_actor=options.gpus_per_actor,
                     actors=options.actors, max_retries=options.max_retries)


_LAZY = {"RayEngine": "ray_engine", "LocalCluster": "localcluster"}


def __getattr__(name: str):
    # Imported on use: the local engine needs no Ray, and `python -m crossling.engine.localcluster` runs its
    # module fresh.
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f"crossling.engine.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'crossling.engine' has no attribute {name!r}")

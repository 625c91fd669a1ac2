"""The Ray engine: the same tasks on a Ray cluster (``pip install 'crossling[ray]'``), retried when a worker dies.

- :meth:`~crossling.engine.Engine.imap`: one Ray task per task, ``cpus`` CPUs each, at most twice as many in
  flight as the cluster has room for (so inputs enter the object store as they are needed). A task whose worker
  process dies (killed, out of memory, its node lost) is run again, up to ``max_retries`` times; an error the
  task raises itself is not retried and reaches the driver as its own class (a ``ConfigError`` stays one).
- :meth:`~crossling.engine.Engine.imap_with`: a pool of actors, each building its state once (one model load
  per actor), ``gpus_per_actor`` GPUs each when the state lives on a GPU (Ray then shows the actor only its
  GPUs, so ``cuda`` is its GPU). Each actor has at most two tasks queued; an actor whose process dies is
  restarted (state built again) and its queued tasks run again, up to ``max_retries`` times.
- Events that tasks emit (progress) travel in batches, at most two a second per task, through a small actor
  the driver reads while it waits; the warnings a task gives (a degenerate input, a fit at its budget) come
  back with its result and are given again on the driver, where the caller's filters see them.

Results come back through Ray's object store to the driver, which alone writes them (a store shard, a
checkpointed result): a result is written once, by one process, however often its task ran.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

from crossling.engine.base import Engine, Shared, limit_threads
from crossling.exceptions import ConfigError, EngineError

__all__ = ["RayEngine"]

_QUEUED_PER_ACTOR = 2
_EVENT_SECONDS = 0.5
# Shared inputs a worker keeps deserialised: a task reads up to three (a CALIGN direction: two clusterings and a
# dictionary), and the next task often reads some of the same.
_SHARED_CACHE_SIZE = 4
_shared_cache: OrderedDict[str, Any] = OrderedDict()


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError("--engine ray needs Ray: pip install 'crossling[ray]'") from None
    return ray


class _RayShared(Shared):
    """A shared input kept once in the object store; each worker deserialises it once (a small cache)."""

    def __init__(self, ref: Any):
        self._ref = ref

    def get(self) -> Any:
        """The value, from this worker's cache or the object store.

        Returns
        -------
        object
        """
        import ray

        key = self._ref.hex()
        if key not in _shared_cache:
            _shared_cache[key] = ray.get(self._ref)
            while len(_shared_cache) > _SHARED_CACHE_SIZE:
                _shared_cache.popitem(last=False)
        _shared_cache.move_to_end(key)
        return _shared_cache[key]


class _Emitter:
    """``emit`` inside a Ray task: events buffered and sent to the driver's sink in batches."""

    def __init__(self, sink: Any):
        self.sink, self.buffer, self.sent = sink, [], time.monotonic()

    def __call__(self, event: Any) -> None:
        self.buffer.append(event)
        if time.monotonic() - self.sent >= _EVENT_SECONDS:
            self.flush(wait=False)

    def flush(self, *, wait: bool) -> None:
        if self.buffer:
            import ray

            sent = self.sink.put.remote(self.buffer)
            if wait:  # the last batch arrives before the task's result does
                ray.get(sent)
            self.buffer, self.sent = [], time.monotonic()


class _EventSink:
    """The actor that holds tasks' events until the driver collects them."""

    def __init__(self) -> None:
        self.events: list[Any] = []

    def put(self, events: list[Any]) -> None:
        self.events.extend(events)

    def drain(self) -> list[Any]:
        events, self.events = self.events, []
        return events


def _take(source: Iterator[tuple[int, Any]], count: int) -> list[tuple[int, Any]]:
    """Up to ``count`` more (index, task) pairs."""
    return [pair for _, pair in zip(range(count), source)]


def _caught(call: Callable[[], Any]) -> tuple[Any, list[tuple[str, type, str, int]]]:
    """``call()`` and the warnings it gave, for the driver to give again (a worker's warnings reach no caller)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = call()
    return result, [(str(w.message), w.category, w.filename, w.lineno) for w in caught]


def _run_task(fn: Callable[..., Any], task: Any, cpus: int, sink: Any) -> tuple[Any, list]:
    limit_threads(cpus)
    if sink is None:
        return _caught(lambda: fn(task))
    emit = _Emitter(sink)
    try:
        return _caught(lambda: fn(task, emit))
    finally:
        emit.flush(wait=True)


class _Holder:
    """An actor that builds a state once and runs tasks on it; a failed setup is raised by every task it gets."""

    def __init__(self, setup: Callable[[], Any], cpus: int):
        self.error: BaseException | None = None
        try:
            self.state = setup()
        except Exception as error:  # raised from run(), so the driver sees the error's own class
            self.error = error
        limit_threads(cpus)

    def run(self, fn: Callable[[Any, Any], Any], task: Any) -> tuple[int, tuple[Any, list]]:
        if self.error is not None:
            raise self.error
        return os.getpid(), _caught(lambda: fn(self.state, task))


class RayEngine(Engine):
    """Runs tasks on a Ray cluster: the one at ``address``, or one Ray starts on this machine.

    Parameters
    ----------
    address : str, optional
        The head's address: ``HOST:PORT`` (``ray start --head`` prints it), ``auto`` (the cluster this machine
        belongs to), or ``ray://HOST:10001`` (Ray Client, needs ``ray[client]``). Default: the ``RAY_ADDRESS``
        environment variable, else a Ray instance started on this machine for the run. A process already
        connected to Ray (``ray.init`` called before) is used as it is.
    cpus_per_task : int, default 1
        CPUs each task or actor reserves (and its torch threads) unless a stage asks for another number.
    gpus_per_actor : float, default 1.0
        GPUs each actor of a GPU stage reserves (a fraction shares a GPU between actors).
    actors : int, optional
        Actors of a stateful stage; default, and at most, as many as the cluster's resources hold at once.
    max_retries : int, default 3
        Times a task (or an actor) whose worker process died is run (restarted) again.

    Attributes
    ----------
    name : str
        ``"ray"``.
    address : str
        The address of the cluster connected to.
    stages : list of dict
        One entry per stage run: ``stage``, ``tasks``, and for an actor pool ``actors`` and ``restarts`` (actors
        whose process died and was replaced).

    Raises
    ------
    ConfigError
        When Ray is not installed.
    EngineError
        When the cluster cannot be reached.
    """

    name = "ray"

    def __init__(self, address: str | None = None, *, cpus_per_task: int = 1, gpus_per_actor: float = 1.0,
                 actors: int | None = None, max_retries: int = 3):
        super().__init__()
        self._ray = ray = _import_ray()
        self.cpus_per_task, self.gpus_per_actor, self.actors, self.max_retries = (
            cpus_per_task, gpus_per_actor, actors, max_retries)
        self._owner = not ray.is_initialized()
        if self._owner:
            try:
                ray.init(address=address, logging_level=logging.WARNING)
            except (ConnectionError, RuntimeError, ValueError) as error:
                raise EngineError(f"cannot connect to the Ray cluster at {address or 'RAY_ADDRESS / a new local one'}"
                                  f": {error}") from None
        self.address = ray.get_runtime_context().gcs_address

    # ------------------------------------------------------------------ resources
    def _room(self, cpus: int, gpus: float) -> int:
        """How many workers of ``cpus`` CPUs and ``gpus`` GPUs the cluster holds at once."""
        total = self._ray.cluster_resources()
        room = int(total.get("CPU", 0) // cpus) if cpus else 10**6
        if gpus:
            room = min(room, int(total.get("GPU", 0) // gpus))
        return room

    @staticmethod
    def _warn_again(caught: list[tuple[str, type, str, int]], registry: dict) -> None:
        """The warnings of a task, given on the driver (once per message and place within a stage, as "default")."""
        for message, category, filename, lineno in caught:
            warnings.warn_explicit(message, category, filename, lineno, registry=registry)

    def _get(self, ref: Any, what: str) -> Any:
        exceptions = self._ray.exceptions
        try:
            return self._ray.get(ref)
        except exceptions.RayTaskError as error:
            # The task's own error, as its own class and message (the CLI prints one line); the worker's
            # traceback rides along as a note for --debug.
            cause = error.cause
            if not isinstance(cause, Exception):
                raise
            cause.add_note(f"raised on a Ray worker: {error}")
            raise cause from None
        except (exceptions.RayActorError, exceptions.WorkerCrashedError, exceptions.ObjectLostError,
                exceptions.OutOfMemoryError, exceptions.NodeDiedError) as error:
            raise EngineError(f"{what}: a worker died more often than --max-retries {self.max_retries} allows "
                              f"({type(error).__name__}: {str(error).splitlines()[0]})") from None

    # ------------------------------------------------------------------ the engine
    def _imap(self, fn: Callable[..., Any], tasks: Iterator[Any], *, n: int | None, cpus: int | None,
              events: Callable[[Any], None] | None, stage: dict[str, Any]) -> Iterator[tuple[int, Any]]:
        if n == 0:
            return
        ray = self._ray
        cpus = cpus or self.cpus_per_task
        room = self._room(cpus, 0)
        if room < 1:
            raise EngineError(f"{stage['stage']}: no node of the cluster has {cpus} CPUs for a task")
        remote = ray.remote(_run_task).options(num_cpus=cpus, max_retries=self.max_retries, retry_exceptions=False)
        sink = ray.remote(_EventSink).options(num_cpus=0).remote() if events is not None else None
        source = enumerate(tasks)  # pulled as room frees: tasks (and their inputs) are made when they can run
        pending: dict[Any, int] = {}
        registry: dict = {}
        try:
            for index, task in _take(source, 2 * room):
                pending[remote.remote(fn, task, cpus, sink)] = index
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1, timeout=_EVENT_SECONDS if sink else None)
                if sink is not None:
                    self._deliver(sink, events)
                for ref in done:
                    index = pending.pop(ref)
                    result, caught = self._get(ref, stage["stage"])
                    self._warn_again(caught, registry)
                    for following, task in _take(source, 1):
                        pending[remote.remote(fn, task, cpus, sink)] = following
                    yield index, result
            if sink is not None:
                self._deliver(sink, events)
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)
            if sink is not None:
                ray.kill(sink)

    def _deliver(self, sink: Any, events: Callable[[Any], None]) -> None:
        for event in self._ray.get(sink.drain.remote()):
            events(event)

    def _imap_with(self, setup: Callable[[], Any], fn: Callable[[Any, Any], Any], tasks: Iterator[Any], *,
                   n: int | None, state: Any, actors: int | None, cpus: int | None, gpu: bool,
                   stage: dict[str, Any]) -> Iterator[tuple[int, Any]]:
        if n == 0:
            return
        ray = self._ray
        cpus = cpus or self.cpus_per_task
        gpus = self.gpus_per_actor if gpu else 0.0
        room = self._room(cpus, gpus)
        if room < 1:
            raise EngineError(f"{stage['stage']}: the cluster has no room for an actor of {cpus} CPUs"
                              + (f" and {gpus:g} GPUs (no GPU node?)" if gpus else ""))
        # Never more actors than fit at once: a pending actor would hold its queued tasks back.
        count = min(actors or self.actors or room, room, room if n is None else n)
        holder = ray.remote(_Holder).options(num_cpus=cpus, num_gpus=gpus, max_restarts=self.max_retries,
                                             max_task_retries=self.max_retries)
        pool = [holder.remote(setup, cpus) for _ in range(count)]
        stage.update(actors=count, restarts=0)
        pids: list[int | None] = [None] * count
        source = enumerate(tasks)
        pending: dict[Any, tuple[int, int]] = {}
        registry: dict = {}

        def give(slot: int, how_many: int) -> None:
            for index, task in _take(source, how_many):
                pending[pool[slot].run.remote(fn, task)] = (index, slot)

        try:
            for slot in range(count):
                give(slot, _QUEUED_PER_ACTOR)
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    index, slot = pending.pop(ref)
                    pid, (result, caught) = self._get(ref, stage["stage"])
                    self._warn_again(caught, registry)
                    if pids[slot] is not None and pids[slot] != pid:
                        stage["restarts"] += 1  # the actor's process died and a new one took over
                    pids[slot] = pid
                    give(slot, 1)
                    yield index, result
        finally:
            for actor in pool:
                ray.kill(actor, no_restart=True)

    def share(self, value: Any) -> Shared:
        """Put ``value`` into the cluster's object store once; each worker reads it once.

        Parameters
        ----------
        value : object
            Picklable.

        Returns
        -------
        Shared
        """
        return _RayShared(self._ray.put(value))

    def record(self) -> dict[str, Any]:
        """The cluster: address, Ray's version, every live node with its resources, the totals, the settings.

        Returns
        -------
        dict
            ``name, address, ray, nodes`` (each ``node_id`` (12 characters), ``address``, ``hostname``,
            ``resources``), ``resources`` (the cluster's CPU, GPU, memory and object store totals),
            ``cpus_per_task, gpus_per_actor, actors, max_retries, stages``.
        """
        ray = self._ray
        kept = ("CPU", "GPU", "memory", "object_store_memory")
        nodes = [{"node_id": node["NodeID"][:12], "address": node["NodeManagerAddress"],
                  "hostname": node["NodeManagerHostname"],
                  "resources": {key: node["Resources"][key] for key in kept if key in node["Resources"]}}
                 for node in ray.nodes() if node["Alive"]]
        totals = ray.cluster_resources()
        return {"name": self.name, "address": self.address, "ray": ray.__version__, "nodes": nodes,
                "resources": {key: totals[key] for key in kept if key in totals},
                "cpus_per_task": self.cpus_per_task, "gpus_per_actor": self.gpus_per_actor, "actors": self.actors,
                "max_retries": self.max_retries, "stages": list(self.stages)}

    def close(self) -> None:
        """Disconnect from the cluster if this engine connected (a connection made before is left open)."""
        if self._owner and self._ray.is_initialized():
            self._ray.shutdown()

"""What every engine offers: independent tasks mapped over, a pool of stateful workers, shared inputs, a record.

A stage of a study is a pure function over independent tasks (a shard of a corpus, a (category, layer) fit, a
language's clustering). An :class:`Engine` runs such a function over a list of tasks and hands the results back
to the driver, where they are written once (a store shard, a table row) or merged exactly
(:func:`merge_all` of :class:`~crossling.Moments`). Where the results come from does not change them: the
engines run the same function on the same task, and the driver puts results back in task order
(:func:`in_order`) before anything order-sensitive (a floating-point merge) happens.

Two kinds of work:

- :meth:`Engine.imap` / :meth:`Engine.map`: ``fn(task)`` for each task, each run on its own (a Ray task on a
  cluster, retried when its worker dies);
- :meth:`Engine.imap_with` / :meth:`Engine.map_with`: ``fn(state, task)`` where ``state`` is built once per
  worker by ``setup()`` and kept (a loaded model: one load per worker, not per task).

Both show one progress display per call on the driver (tasks, or ``weights`` units such as sentences, done out
of the total) and note the call in :meth:`Engine.record`, which a run puts into its manifest's ``engine`` key.
"""

from __future__ import annotations

import copy
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence, Sized
from typing import Any, TypeVar

from crossling._utils.progress import progress_bar

__all__ = ["Engine", "Shared", "in_order", "merge_all"]

T = TypeVar("T")


class Shared:
    """An input many tasks read, handed to the engine once (:meth:`Engine.share`) instead of with every task.

    Parameters
    ----------
    value : object
        The input itself (the local engine's handle holds it; a cluster's holds a reference to a stored copy).
    """

    def __init__(self, value: Any):
        self._value = value

    def get(self) -> Any:
        """The shared value, as the task sees it.

        Returns
        -------
        object
        """
        return self._value


def in_order(pairs: Iterable[tuple[int, T]]) -> Iterator[T]:
    """Results given in completion order, ``(task index, result)``, yielded in task order as soon as they can be.

    Parameters
    ----------
    pairs : iterable of (int, object)
        Each task index 0..n-1 once (what :meth:`Engine.imap` yields).

    Yields
    ------
    object
        The result of task 0, then of task 1, ...: a result waits only for those of the tasks before it.

    Raises
    ------
    ValueError
        If an index comes twice, or the pairs end with an index missing.
    """
    waiting: dict[int, T] = {}
    following = 0
    for index, result in pairs:
        if index < following or index in waiting:
            raise ValueError(f"task {index} came twice")
        waiting[index] = result
        while following in waiting:
            yield waiting.pop(following)
            following += 1
    if waiting:
        raise ValueError(f"tasks {sorted(set(range(following, max(waiting))) - set(waiting))} never came")


def merge_all(parts: Iterable[T]) -> T:
    """Fold mergeable results (anything with ``merge(other) -> self``, e.g. :class:`~crossling.Moments`) in order.

    The fold is ``parts[0].merge(parts[1]).merge(parts[2]) ...``: the same parts in the same order give the same
    bits whichever engine computed them, so a run merges them in task order (:func:`in_order`), never in
    completion order.

    Parameters
    ----------
    parts : iterable of mergeable
        Consumed once; not modified (the fold starts from a copy of the first part, since results that come
        from a cluster's object store are read-only).

    Returns
    -------
    mergeable
        A new object holding every part.

    Raises
    ------
    ValueError
        If ``parts`` is empty.
    """
    iterator = iter(parts)
    try:
        total = copy.deepcopy(next(iterator))
    except StopIteration:
        raise ValueError("nothing to merge") from None
    for part in iterator:
        total = total.merge(part)
    return total


def _count(tasks: Iterable[Any], total: int | None, progress: bool) -> int | None:
    """The number of tasks: their length, else ``total``, else None (only without a progress display)."""
    if isinstance(tasks, Sized):
        return len(tasks)
    if total is None and progress:
        raise ValueError("tasks without a length (an iterator) need total=, the number of tasks, for a progress "
                         "display")
    return total


def limit_threads(cpus: int) -> None:
    """Make torch (when loaded) and the BLAS behind numpy use ``cpus`` threads: a worker reserves that many cores.

    Parameters
    ----------
    cpus : int
    """
    from threadpoolctl import threadpool_limits

    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(cpus)
    threadpool_limits(limits=cpus, user_api="blas")  # kept for the worker's life: the next task sets its own


class Engine(ABC):
    """Runs a stage's tasks and hands their results to the driver; subclasses say where the tasks run.

    Attributes
    ----------
    name : str
        ``"local"`` or ``"ray"``.
    stages : list of dict
        One entry per call: ``stage`` (its description), ``tasks``, and what the engine adds (actors, restarts).
    """

    name: str = ""

    def __init__(self) -> None:
        self.stages: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ what subclasses provide
    @abstractmethod
    def _imap(self, fn: Callable[..., Any], tasks: Iterator[Any], *, n: int | None, cpus: int | None,
              events: Callable[[Any], None] | None, stage: dict[str, Any]) -> Iterator[tuple[int, Any]]:
        """``(index, fn(task))`` for the ``n`` tasks (None: unknown), in completion order (``fn(task, emit)`` with
        ``events``)."""

    @abstractmethod
    def _imap_with(self, setup: Callable[[], Any], fn: Callable[[Any, Any], Any], tasks: Iterator[Any], *,
                   n: int | None, state: Any, actors: int | None, cpus: int | None, gpu: bool,
                   stage: dict[str, Any]) -> Iterator[tuple[int, Any]]:
        """``(index, fn(state, task))`` for the ``n`` tasks (None: unknown) in completion order, ``state = setup()``
        per worker."""

    @abstractmethod
    def share(self, value: Any) -> Shared:
        """Hand an input that many tasks read to the engine once.

        Parameters
        ----------
        value : object
            Picklable.

        Returns
        -------
        Shared
            Pass it inside tasks; a task reads the value with ``get()``.
        """

    @abstractmethod
    def record(self) -> dict[str, Any]:
        """Where the run ran, for the manifest's ``engine`` key.

        Returns
        -------
        dict
            At least ``name`` and ``stages`` (:attr:`stages`).
        """

    def close(self) -> None:
        """Release what the engine holds (nothing for the local engine)."""

    # ------------------------------------------------------------------ the shared front
    def imap(self, fn: Callable[..., Any], tasks: Iterable[Any], *, desc: str, unit: str = "task",
             progress: bool = True, weights: Sequence[int] | None = None, total: int | None = None,
             cpus: int | None = None, events: Callable[[Any], None] | None = None) -> Iterator[tuple[int, Any]]:
        """Run ``fn(task)`` for every task; yield each result with its task's index as it comes.

        Parameters
        ----------
        fn : callable
            A module-level (picklable) function with no side effect the driver relies on; it must give the same
            result each time it runs on the same task (a task whose worker dies is run again).
        tasks : iterable
            Picklable inputs, one per task. An iterator (a generator that computes each task's input) is pulled
            only as tasks can start, so the inputs waiting in memory are those of the tasks about to run.
        desc : str
            The stage, for the progress display and :attr:`stages`.
        unit : str, default "task"
            What the progress display counts.
        progress : bool, default True
            Show a progress display on the driver.
        weights : sequence of int, optional
            Units of each task (e.g. its sentences); default 1 each.
        total : int, optional
            The number of tasks, for ``tasks`` without a length (an iterator); needed only for a progress
            display (without one, the stage's record counts the tasks as they come).
        cpus : int, optional
            Cores each task reserves and its torch and BLAS threads; default the engine's.
        events : callable, optional
            Called on the driver with every event a task emits: ``fn`` is then called as ``fn(task, emit)``.

        Yields
        ------
        (int, object)
            The index of a task in ``tasks`` and its result, in completion order (task order for the local engine).

        Raises
        ------
        ValueError
            If ``weights`` does not have one entry per task, or ``tasks`` has no length, ``total`` is not given
            and ``progress`` is on.
        """
        n, stage = self._stage(desc, tasks, total, progress)
        pairs = self._imap(fn, iter(tasks), n=n, cpus=cpus, events=events, stage=stage)
        yield from self._progress(pairs, n, stage, desc=desc, unit=unit, progress=progress, weights=weights)

    def map(self, fn: Callable[..., Any], tasks: Iterable[Any], **options: Any) -> list[Any]:
        """:meth:`imap`, collected in task order.

        Parameters
        ----------
        fn : callable
        tasks : iterable
        **options
            ``desc`` (required), ``unit``, ``progress``, ``weights``, ``total``, ``cpus``, ``events`` as in
            :meth:`imap`.

        Returns
        -------
        list
            ``fn(task)`` for each task, in the order of ``tasks``.
        """
        return list(in_order(self.imap(fn, tasks, **options)))

    def imap_with(self, setup: Callable[[], Any], fn: Callable[[Any, Any], Any], tasks: Iterable[Any], *, desc: str,
                  state: Any = None, actors: int | None = None, cpus: int | None = None, gpu: bool = False,
                  unit: str = "task", progress: bool = True, weights: Sequence[int] | None = None,
                  total: int | None = None) -> Iterator[tuple[int, Any]]:
        """Run ``fn(state, task)`` for every task, where each worker builds ``state = setup()`` once and keeps it.

        Parameters
        ----------
        setup : callable
            Picklable, no arguments; builds the state (loads a model). Called once per worker, and again when a
            worker that died is replaced.
        fn : callable
            Module-level, as for :meth:`imap`, taking the state and a task.
        tasks : iterable
            Picklable inputs (an iterator is pulled as tasks can start).
        desc : str
            The stage.
        state : object, optional
            A state already built on the driver: the local engine uses it instead of calling ``setup``.
        actors : int, optional
            Workers (each with its own state); default the engine's, else as many as the resources allow; never
            more than there are tasks.
        cpus : int, optional
            Cores each worker reserves and its torch and BLAS threads; default the engine's.
        gpu : bool, default False
            The state lives on a GPU: each worker reserves the engine's GPUs per actor.
        unit, progress, weights, total
            As for :meth:`imap`.

        Yields
        ------
        (int, object)
            Task index and result, in completion order.

        Raises
        ------
        ValueError
            If ``weights`` does not have one entry per task, or ``tasks`` has no length, ``total`` is not given
            and ``progress`` is on.
        """
        n, stage = self._stage(desc, tasks, total, progress)
        pairs = self._imap_with(setup, fn, iter(tasks), n=n, state=state, actors=actors, cpus=cpus, gpu=gpu,
                                stage=stage)
        yield from self._progress(pairs, n, stage, desc=desc, unit=unit, progress=progress, weights=weights)

    def map_with(self, setup: Callable[[], Any], fn: Callable[[Any, Any], Any], tasks: Iterable[Any],
                 **options: Any) -> list[Any]:
        """:meth:`imap_with`, collected in task order.

        Parameters
        ----------
        setup : callable
        fn : callable
        tasks : iterable
        **options
            As for :meth:`imap_with` (``desc`` required).

        Returns
        -------
        list
            ``fn(state, task)`` for each task, in the order of ``tasks``.
        """
        return list(in_order(self.imap_with(setup, fn, tasks, **options)))

    def _stage(self, desc: str, tasks: Iterable[Any], total: int | None, progress: bool
               ) -> tuple[int | None, dict[str, Any]]:
        """The number of tasks and the stage's entry in :attr:`stages`, added to it."""
        n = _count(tasks, total, progress)
        stage: dict[str, Any] = {"stage": desc, "tasks": n}
        self.stages.append(stage)
        return n, stage

    @staticmethod
    def _progress(pairs: Iterator[tuple[int, Any]], n: int | None, stage: dict[str, Any], *, desc: str, unit: str,
                  progress: bool, weights: Sequence[int] | None) -> Iterator[tuple[int, Any]]:
        if weights is not None and len(weights) != n:
            raise ValueError(f"{len(weights)} weights for {n} tasks")
        bar = progress_bar((n or 0) if weights is None else int(sum(weights)), desc, unit, enabled=progress)
        done = 0
        try:
            for index, result in pairs:
                bar.update(1 if weights is None else int(weights[index]))
                done += 1
                yield index, result
            if n is None:
                stage["tasks"] = done
        finally:
            pairs.close()  # a stopped consumer stops the tasks still running
            bar.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""The local engine: every task in this process, one after the other, in task order (what crossling always did)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

from crossling.engine.base import Engine, Shared

__all__ = ["LocalEngine"]


class LocalEngine(Engine):
    """Runs every task in the calling process, in task order; needs nothing beyond crossling.

    A stateful stage uses the state the driver already built (``state``), so a model loaded by the run is not
    loaded again; ``cpus`` and ``gpu`` reserve nothing here (the process's own thread settings apply).

    Attributes
    ----------
    name : str
        ``"local"``.
    stages : list of dict
        One entry per stage run: ``stage`` and ``tasks``.
    """

    name = "local"

    def _imap(self, fn: Callable[..., Any], tasks: Iterator[Any], *, n: int | None, cpus: int | None,
              events: Callable[[Any], None] | None, stage: dict[str, Any]) -> Iterator[tuple[int, Any]]:
        for index, task in enumerate(tasks):
            yield index, (fn(task) if events is None else fn(task, events))

    def _imap_with(self, setup: Callable[[], Any], fn: Callable[[Any, Any], Any], tasks: Iterator[Any], *,
                   n: int | None, state: Any, actors: int | None, cpus: int | None, gpu: bool,
                   stage: dict[str, Any]) -> Iterator[tuple[int, Any]]:
        for index, task in enumerate(tasks):
            if state is None:  # built for the first task: a stage without tasks loads nothing
                state = setup()
            yield index, fn(state, task)

    def share(self, value: Any) -> Shared:
        """Wrap ``value`` (in one process there is nothing to copy).

        Parameters
        ----------
        value : object

        Returns
        -------
        Shared
        """
        return Shared(value)

    def record(self) -> dict[str, Any]:
        """``name`` ("local"), ``cpus`` (the machine's cores) and ``stages``.

        Returns
        -------
        dict
        """
        return {"name": self.name, "cpus": os.cpu_count(), "stages": list(self.stages)}

"""Functions the engine tests run as tasks, on the driver (local engine) and on Ray workers.

The tests register this module with Ray's pickler by value, so the workers need not import it.
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

from crossling.exceptions import ConfigError, DegenerateInputWarning
from crossling.moments import Moments


def square(x: int) -> int:
    return x * x


def refuse(x: int) -> int:
    raise ConfigError(f"task {x} refuses")


def warn_odd(x: int) -> int:
    if x % 2:
        warnings.warn(f"task {x} is odd", DegenerateInputWarning, stacklevel=2)
    return x


def warn_odd_with_state(state: dict, x: int) -> int:
    return warn_odd(x)


def moments_of(task) -> Moments:
    X, Y = task
    return Moments.from_arrays(X, Y)


def read_shared(task) -> float:
    shared, row = task
    return float(shared.get()[row].sum())


def count_up(n: int, emit) -> int:
    for i in range(n):
        emit((n, i))
    return n


def offset_state() -> dict:
    return {"offset": 100, "pid": os.getpid()}


def add_offset(state: dict, x: int) -> int:
    return x + state["offset"]


def stall_first(task) -> int:
    """Task 0 records its process id, then waits for ``go`` (the test kills it meanwhile); the rest just answer."""
    index, folder = task
    Path(folder, f"pid-{index}").write_text(str(os.getpid()))
    deadline = time.monotonic() + 120
    while index == 0 and not Path(folder, "go").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return index * index

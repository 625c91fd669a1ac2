"""Progress of long work: a bar on a terminal, plain lines in a log.

tqdm draws bars with carriage returns, which a log file (CI, ``nohup``, a cluster job) shows as one
growing line, or, with tqdm's default of disabling itself off a terminal, not at all until the end. So
:func:`progress_bar` gives tqdm on a terminal and, elsewhere, an object with the same ``update`` /
``close`` methods that prints one line per tenth of the work (and at least every 30 s).
"""

from __future__ import annotations

import sys
import time
from typing import Any

from tqdm.auto import tqdm

__all__ = ["LineProgress", "progress_bar"]


class LineProgress:
    """Progress as plain lines on standard error: ``desc: done/total unit (pct%), elapsed``.

    Parameters
    ----------
    total : int
    desc : str
    unit : str
    initial : int, default 0
        Work already done (a resumed run).
    every : float, default 30.0
        Also print when this many seconds passed since the last line.
    """

    def __init__(self, total: int, desc: str, unit: str, *, initial: int = 0, every: float = 30.0):
        self.total, self.desc, self.unit, self.n, self.every = int(total), desc, unit, int(initial), every
        self._start = self._last = time.monotonic()
        self._next_tenth = self._tenth() + 1
        self._print()

    def _tenth(self) -> int:
        return 10 * self.n // self.total if self.total else 10

    def _print(self) -> None:
        pct = f" ({100 * self.n // self.total}%)" if self.total else ""
        print(f"{self.desc}: {self.n}/{self.total} {self.unit}{pct}, {time.monotonic() - self._start:.0f} s",
              file=sys.stderr, flush=True)
        self._last = time.monotonic()

    def update(self, n: int = 1) -> None:
        """Record ``n`` more units done; print a line at each tenth of the total or after ``every`` seconds.

        Parameters
        ----------
        n : int, default 1
        """
        self.n += n
        if self._tenth() >= self._next_tenth or time.monotonic() - self._last >= self.every:
            self._next_tenth = self._tenth() + 1
            self._print()

    def set_postfix_str(self, text: str) -> None:
        """Ignored (tqdm's status text has no place in a log line).

        Parameters
        ----------
        text : str
        """

    def close(self) -> None:
        """Print the final line unless the last one already said it all."""
        if self._next_tenth <= 10:
            self._print()


def progress_bar(total: int, desc: str, unit: str, *, enabled: bool = True, initial: int = 0,
                 leave: bool = True) -> Any:
    """A progress display for ``total`` units of work.

    Parameters
    ----------
    total : int
    desc : str
        What is being done ("extracting en").
    unit : str
        What one unit is ("sentence", "fit").
    enabled : bool, default True
        False shows nothing (tqdm disabled).
    initial : int, default 0
        Units already done (a resumed run).
    leave : bool, default True
        Keep the finished bar on a terminal.

    Returns
    -------
    tqdm or LineProgress
        Either way with ``update(n)``, ``set_postfix_str(text)`` and ``close()``.
    """
    if not enabled:
        return tqdm(total=total, disable=True)
    if sys.stderr.isatty():
        return tqdm(total=total, desc=desc, unit=unit, initial=initial, leave=leave)
    return LineProgress(total, desc, unit, initial=initial)

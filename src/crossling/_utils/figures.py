"""What every figure of crossling shares: an Agg canvas without pyplot state, and an atomic PNG write.

Figures are drawn with the object-oriented Matplotlib API, so drawing never touches a global backend or
figure registry (safe in threads, notebooks and servers), and written through a temporary file so that an
interrupted run leaves no half-written image.
"""

from __future__ import annotations

import os
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from crossling._utils.io import atomic_path

__all__ = ["DPI", "new_figure", "save_figure"]

DPI = 150


def new_figure(width: float, height: float) -> Figure:
    """A figure of ``width`` x ``height`` inches on its own Agg canvas, with constrained layout.

    Parameters
    ----------
    width, height : float
        Size in inches (at :data:`DPI` dots per inch when saved).

    Returns
    -------
    matplotlib.figure.Figure
    """
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def save_figure(figure: Figure, path: str | os.PathLike, *, svg: bool = False) -> Path:
    """Write ``figure`` to ``path`` (which must end in .png) atomically, and an SVG beside it when asked.

    Parameters
    ----------
    figure : matplotlib.figure.Figure
    path : path-like
        Ends in ``.png``.
    svg : bool, default False
        Also write ``path`` with the suffix ``.svg``.

    Returns
    -------
    Path
        The PNG's path.

    Raises
    ------
    ValueError
        When ``path`` does not end in ``.png``.
    """
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"figures are written as PNG: the path must end in .png, got {path}")
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=DPI)
    if svg:
        with atomic_path(path.with_suffix(".svg")) as tmp:
            figure.savefig(tmp, format="svg")
    return path

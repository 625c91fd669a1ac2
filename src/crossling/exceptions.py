"""Warnings shared by every analysis (kept import-light: the indices import it on their hot path)."""

from __future__ import annotations

__all__ = ["DegenerateInputWarning"]


class DegenerateInputWarning(RuntimeWarning):
    """A statistic was undefined for the data given (too few values, constant input); it is NaN."""

"""Checks shared by the concept measures: thresholds are real numbers in range, counts integers, names known."""

from __future__ import annotations

import math
import numbers

__all__ = ["REL_TOL", "check_choice", "check_count", "check_fraction"]

#: A fraction exactly at a threshold must count as reaching it, but binary floating point can put the
#: product a hair above the integer it stands for (0.56 * 25 == 14.000000000000002); compare with this slack.
REL_TOL = 1e-9


def check_fraction(name: str, value: object, *, allow_zero: bool = False) -> float:
    """Return ``value`` as a float after checking it is a real number in (0, 1] (or [0, 1]).

    Parameters
    ----------
    name : str
        The option's name, for the message.
    value : object
    allow_zero : bool, default False
        Accept 0 (the interval [0, 1]).

    Returns
    -------
    float

    Raises
    ------
    TypeError
        When ``value`` is not a real number (a bool or a string is not).
    ValueError
        When it is outside the interval or not finite.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number (a fraction such as 0.8), got {type(value).__name__} {value!r}")
    value = float(value)
    low_ok = value >= 0.0 if allow_zero else value > 0.0
    if not (math.isfinite(value) and low_ok and value <= 1.0):
        interval = "[0, 1]" if allow_zero else "(0, 1]"
        raise ValueError(f"{name} must be a fraction in {interval} (e.g. 0.8 for 80%), got {value}")
    return value


def check_count(name: str, value: object, *, minimum: int) -> int:
    """Return ``value`` as an int after checking it is an integer >= ``minimum``.

    Parameters
    ----------
    name : str
        The option's name, for the message.
    value : object
    minimum : int

    Returns
    -------
    int

    Raises
    ------
    ValueError
        When ``value`` is not an integer (a bool is not) or is below ``minimum``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_choice(name: str, value: object, choices: tuple[str, ...]) -> str:
    """Return ``value`` after checking it is one of ``choices``.

    Parameters
    ----------
    name : str
        The option's name, for the message.
    value : object
    choices : tuple of str

    Returns
    -------
    str

    Raises
    ------
    ValueError
        When ``value`` is not one of ``choices``.
    """
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value  # type: ignore[return-value]

"""COLAP: how many latent concepts of a jointly clustered multilingual token set mix languages.

Mousi, Durrani, Dalvi et al. (2024), section 3: the tokens of several languages are clustered
together; with p_l(C) the share of language l in concept C, the concept *overlaps* when at least two
languages each make up at least theta_O of it:

    #{l : p_l(C) >= theta_O} >= 2,        COLAP = 100 * #{overlapping C} / #{non-empty C}.

``by="tokens"`` (default, as the released script counts): p_l(C) = tokens of l in C / tokens in C.
``by="types"``: p_l(C) = distinct forms of l in C / distinct (language, form) pairs in C, so one form
written alike in two languages (a name, a number) is a type of each. The comparison is inclusive up to
a relative slack of 1e-9 (the released script used a strict inequality).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from crossling._utils.validation import REL_TOL, check_choice, check_count, check_fraction
from crossling.exceptions import DegenerateInputWarning

__all__ = ["COUNT_UNITS", "ColapResult", "colap"]

COUNT_UNITS = ("tokens", "types")


@dataclass(frozen=True)
class ColapResult:
    """COLAP of one joint clustering.

    Attributes
    ----------
    languages : tuple of str
        Column order of ``proportions``.
    colap_percent : float
        Percentage (0-100) of non-empty concepts that overlap.
    n_overlapping, n_concepts : int
        Overlapping concepts, and non-empty concepts (the denominator).
    overlapping : ndarray of shape (k,), bool
    proportions : ndarray of shape (k, n_languages), float64
        p_l(C); NaN rows for empty concepts.
    params : dict
        theta_o, by, min_languages.
    """

    languages: tuple[str, ...]
    colap_percent: float
    n_overlapping: int
    n_concepts: int
    overlapping: np.ndarray
    proportions: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)


def colap(
    labels: Sequence[int] | np.ndarray,
    languages: Sequence[str] | np.ndarray,
    *,
    forms: Sequence[str] | np.ndarray | None = None,
    k: int | None = None,
    theta_o: float = 0.3,
    by: str = "tokens",
    min_languages: int = 2,
    language_order: Sequence[str] | None = None,
) -> ColapResult:
    """COLAP of a joint clustering of several languages' tokens.

    Parameters
    ----------
    labels : array of shape (n,), int
        Concept of each token (e.g. ``Concepts.labels``).
    languages : array of shape (n,), str
        Language of each token.
    forms : array of shape (n,), str, optional
        Word form of each token; required when ``by="types"``.
    k : int, optional
        Number of concepts (default: ``max(labels) + 1``); concepts without tokens are not counted.
    theta_o : float, default 0.3
        Minimum share of a language in an overlapping concept.
    by : {"tokens", "types"}, default "tokens"
    min_languages : int, default 2
        How many languages must reach ``theta_o``.
    language_order : sequence of str, optional
        Column order of the proportions (default: order of first appearance); must cover every language.

    Returns
    -------
    ColapResult

    Raises
    ------
    ValueError
        For a threshold out of range, labels that are not non-negative integers, arrays of different
        lengths, ``k`` below the largest label, languages missing from ``language_order``, or
        ``by="types"`` without forms.
    TypeError
        For a threshold that is not a number.
    """
    theta_o = check_fraction("theta_o", theta_o)
    by = check_choice("by", by, COUNT_UNITS)
    min_languages = check_count("min_languages", min_languages, minimum=1)
    labels = np.asarray(labels)
    langs = np.asarray(languages, dtype=object)
    if labels.ndim != 1 or labels.size == 0:
        raise ValueError("labels must be a non-empty 1-D array of concept ids")
    if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0:
        raise ValueError("labels must be non-negative integers")
    if langs.shape != labels.shape:
        raise ValueError(f"got {labels.size} labels but {langs.size} languages")
    k = int(labels.max()) + 1 if k is None else check_count("k", k, minimum=int(labels.max()) + 1)
    order = tuple(pd.unique(langs)) if language_order is None else tuple(language_order)
    lang_codes = pd.Index(order).get_indexer(langs).astype(np.int64)
    if (lang_codes < 0).any():
        missing = sorted(set(langs[lang_codes < 0]))
        raise ValueError(f"languages {missing} are not in language_order {order}")
    if len(order) < min_languages:
        warnings.warn(
            f"COLAP needs {min_languages} languages to reach theta_o but the tokens have {len(order)}: "
            "no concept can overlap",
            DegenerateInputWarning,
            stacklevel=2,
        )

    cells = labels.astype(np.int64) * len(order) + lang_codes
    if by == "types":
        if forms is None:
            raise ValueError("by='types' needs the word forms of the tokens (forms=...)")
        form_codes, _ = pd.factorize(np.asarray(forms, dtype=object))
        if form_codes.shape != labels.shape:
            raise ValueError(f"got {labels.size} labels but {form_codes.size} forms")
        cells = np.unique(np.stack([cells, form_codes], axis=1), axis=0)[:, 0]
    counts = np.bincount(cells, minlength=k * len(order)).reshape(k, len(order)).astype(np.float64)
    totals = counts.sum(axis=1)
    nonempty = totals > 0
    proportions = np.full_like(counts, np.nan)
    proportions[nonempty] = counts[nonempty] / totals[nonempty, None]
    reaching = (proportions >= theta_o * (1 - REL_TOL)).sum(axis=1)
    overlapping = nonempty & (reaching >= min_languages)
    n_concepts = int(nonempty.sum())
    n_overlapping = int(overlapping.sum())
    params = {"theta_o": theta_o, "by": by, "min_languages": min_languages, "k": k}
    return ColapResult(
        order, 100.0 * n_overlapping / n_concepts, n_overlapping, n_concepts, overlapping, proportions, params
    )

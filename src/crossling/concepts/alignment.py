"""CALIGN: how many latent concepts of one language have a translation-equivalent concept in another.

Mousi, Durrani, Dalvi et al. (2024), "Exploring Alignment in Shared Cross-lingual Spaces", section 3.
A source concept C_s (its *types* are the distinct word forms in the cluster) is aligned to a target
concept C_t when

1. C_s has more than five types (``min_types=6``; inclusive: 6 or more);
2. at least theta_A of C_s's types have one of their N best translations among C_t's types:

       |{u in C_s : T_N(u) ∩ C_t != ∅}|  >=  theta_A |C_s|        (theta_A = 0.8, inclusive);

3. the sizes (numbers of types) agree within a tolerance tau = 0.4.

    CALIGN(s -> t) = 100 * #{eligible C_s aligned to at least one C_t} / #{eligible C_s}.

The paper's text leaves readings open; each is an option, with its default:

- which concepts the "more than five types" rule applies to (``eligibility``): ``"source"`` (default, as
  the released ``alignClusters.py``, which tests only the source cluster) or ``"both"`` (a target concept
  with five or fewer types cannot be aligned to either);
- the size rule (``size_rule``), with a = |C_s| and b = |C_t|: ``"symmetric"`` (default, "sizes do not
  differ by more than 40%" measured against the larger concept): |a - b| <= tau max(a, b);
  ``"smaller"`` (measured against the smaller concept): |a - b| <= tau min(a, b); ``"one-sided"`` (the
  source may be at most 40% smaller than the target, a larger source is not bounded): a >= (1 - tau) b;
  ``"script"`` (the released script's ``len(C_s) / len(C_t) > size_threshold`` with size_threshold =
  tau): a >= tau b;
- the denominator: over the eligible source concepts (``calign_percent``, default) or over all K source
  concepts (``calign_k_percent``); both are always reported.

Every comparison is "at least"/"at most", inclusive, up to a relative slack of 1e-9 that absorbs binary
floating point (the released script used strict inequalities). All K_s x K_t concept pairs are scored at
once with sparse products: with A (K_s x V_s) the source type-to-concept incidence, D (V_s x V_t) the
N-best translation incidence and B (V_t x K_t) the target incidence, ``M = A · [D · B > 0]`` counts, for
every pair, the source types with a translation in the target concept; only the non-zeros of M can satisfy
rule 2.

The translations of a word must be ordered, best first: a set of translations has no order, so cutting it
to the N best would keep an arbitrary N of them; it is refused (:func:`translation_mapping`).
"""

from __future__ import annotations

import warnings
from collections.abc import Collection, Mapping, Sequence, Set
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from crossling._utils.validation import REL_TOL, check_choice, check_count, check_fraction
from crossling.concepts.dictionary import TranslationDictionary
from crossling.exceptions import DegenerateInputWarning

__all__ = ["ELIGIBILITY", "SIZE_RULES", "CalignResult", "calign", "translation_mapping"]

SIZE_RULES = ("symmetric", "smaller", "one-sided", "script")
ELIGIBILITY = ("source", "both")


@dataclass(frozen=True)
class CalignResult:
    """CALIGN of one direction, source -> target.

    Attributes
    ----------
    source_lang, target_lang : str or None
    calign_percent : float
        Percentage (0-100) of eligible source concepts aligned to at least one target concept (NaN, with a
        warning, when no source concept is eligible).
    calign_k_percent : float
        Percentage (0-100) of all K_s source concepts (eligible or not) aligned to a target concept.
    n_aligned, n_eligible, n_source_concepts, n_target_concepts : int
    pairs : ndarray of shape (m, 2), int64
        Every aligned (source concept, target concept) pair, sorted.
    matched : ndarray of shape (m,), int64
        For each pair, how many source types have a translation in the target concept.
    best_target : ndarray of shape (K_s,), int64
        Per source concept, its aligned target with the most matched types (ties: closest size, then
        lowest id); -1 when it is not aligned.
    eligible : ndarray of shape (K_s,), bool
        Which source concepts have ``min_types`` or more types.
    params : dict
        theta_a, n_best, size_tolerance, size_rule, min_types, eligibility.
    """

    source_lang: str | None
    target_lang: str | None
    calign_percent: float
    calign_k_percent: float
    n_aligned: int
    n_eligible: int
    n_source_concepts: int
    n_target_concepts: int
    pairs: np.ndarray
    matched: np.ndarray
    best_target: np.ndarray
    eligible: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)


def calign(
    source_types: Sequence[Collection[str]],
    target_types: Sequence[Collection[str]],
    dictionary: TranslationDictionary | Mapping[str, Sequence[str]],
    *,
    theta_a: float = 0.8,
    n_best: int = 10,
    size_tolerance: float = 0.4,
    size_rule: str = "symmetric",
    min_types: int = 6,
    eligibility: str = "source",
    source_lang: str | None = None,
    target_lang: str | None = None,
) -> CalignResult:
    """CALIGN(s -> t) of two sets of concepts under a translation dictionary.

    Parameters
    ----------
    source_types, target_types : sequence of collections of str
        The types of each concept (index = concept id), e.g. ``Concepts.types(language)``.
    dictionary : TranslationDictionary or mapping of str to sequence of str
        Translations of source forms into target forms, best first (a list or tuple; sets are refused).
    theta_a : float, default 0.8
        Fraction of a source concept's types that must have a translation in the target concept.
    n_best : int, default 10
        Translations per source word taken from the dictionary (the paper's N).
    size_tolerance : float, default 0.4
        tau of the size rule (see the module docstring).
    size_rule : {"symmetric", "smaller", "one-sided", "script"}, default "symmetric"
        Reading of the size rule (see the module docstring).
    min_types : int, default 6
        A source concept needs at least this many types to be eligible ("more than 5").
    eligibility : {"source", "both"}, default "source"
        Whether ``min_types`` applies to the source concept only, or to the target concept as well.
    source_lang, target_lang : str, optional
        Recorded in the result; checked against a :class:`TranslationDictionary`'s languages.

    Returns
    -------
    CalignResult

    Raises
    ------
    ValueError
        For a threshold out of range, an unknown ``size_rule`` or ``eligibility``, no concepts, or a
        dictionary of other languages (see :func:`translation_mapping`).
    TypeError
        For a threshold that is not a number, a concept given as a string, or translations given as a set.

    Warns
    -----
    DegenerateInputWarning
        When no source concept is eligible (CALIGN over eligible concepts is then NaN).
    """
    theta_a = check_fraction("theta_a", theta_a)
    size_tolerance = check_fraction("size_tolerance", size_tolerance, allow_zero=True)
    size_rule = check_choice("size_rule", size_rule, SIZE_RULES)
    eligibility = check_choice("eligibility", eligibility, ELIGIBILITY)
    min_types = check_count("min_types", min_types, minimum=1)
    n_best = check_count("n_best", n_best, minimum=1)
    translations = translation_mapping(dictionary, n_best, source_lang, target_lang)

    A, src_vocab = _incidence(source_types)
    B, tgt_vocab = _incidence(target_types)
    D = _translation_incidence(src_vocab, tgt_vocab, translations)
    H = (D @ B.T).tocsr()
    H.data[:] = 1  # a type counts once however many of its translations fall in the concept
    M = (A @ H).tocoo()

    size_s = np.asarray(A.sum(axis=1)).ravel().astype(np.int64)
    size_t = np.asarray(B.sum(axis=1)).ravel().astype(np.int64)
    i, j, m = M.row.astype(np.int64), M.col.astype(np.int64), M.data.astype(np.int64)
    a, b = size_s[i], size_t[j]
    ok = (a >= min_types) & (m >= theta_a * a * (1 - REL_TOL))
    if eligibility == "both":
        ok &= b >= min_types
    if size_rule == "symmetric":
        ok &= np.abs(a - b) <= size_tolerance * np.maximum(a, b) * (1 + REL_TOL)
    elif size_rule == "smaller":
        ok &= np.abs(a - b) <= size_tolerance * np.minimum(a, b) * (1 + REL_TOL)
    elif size_rule == "one-sided":
        ok &= a >= (1 - size_tolerance) * b * (1 - REL_TOL)
    else:
        ok &= a >= size_tolerance * b * (1 - REL_TOL)
    i, j, m = i[ok], j[ok], m[ok]
    order = np.lexsort((j, i))
    pairs, matched = np.stack([i[order], j[order]], axis=1).reshape(-1, 2), m[order]

    best = np.full(len(size_s), -1, dtype=np.int64)
    # Sort so that, per source concept, the preferred target comes last in its group.
    pref = np.lexsort((-j, -np.abs(size_s[i] - size_t[j]), m, i))
    last = np.r_[i[pref][1:] != i[pref][:-1], True] if pref.size else np.zeros(0, dtype=bool)
    best[i[pref][last]] = j[pref][last]

    eligible = size_s >= min_types
    n_eligible = int(eligible.sum())
    n_aligned = int(np.unique(pairs[:, 0]).size)
    if n_eligible == 0:
        warnings.warn(
            f"CALIGN {source_lang}->{target_lang}: no source concept has {min_types} or more types; CALIGN is NaN",
            DegenerateInputWarning,
            stacklevel=2,
        )
        value = float("nan")
    else:
        value = 100.0 * n_aligned / n_eligible
    params = {
        "theta_a": theta_a,
        "n_best": n_best,
        "size_tolerance": size_tolerance,
        "size_rule": size_rule,
        "min_types": min_types,
        "eligibility": eligibility,
    }
    return CalignResult(source_lang, target_lang, value, 100.0 * n_aligned / len(size_s), n_aligned, n_eligible,
                        len(size_s), len(size_t), pairs, matched, best, eligible, params)


def translation_mapping(
    dictionary: TranslationDictionary | Mapping[str, Sequence[str]],
    n_best: int,
    source_lang: str | None = None,
    target_lang: str | None = None,
) -> dict[str, Sequence[str]]:
    """Source word -> its first ``n_best`` translations, from a dictionary object or a plain mapping.

    Parameters
    ----------
    dictionary : TranslationDictionary or mapping of str to sequence of str
        Translations, best first.
    n_best : int
        Translations kept per word.
    source_lang, target_lang : str, optional
        The direction expected; a :class:`TranslationDictionary` must translate ``source_lang`` into
        ``target_lang`` (when given).

    Returns
    -------
    dict of str to sequence of str

    Raises
    ------
    ValueError
        When a dictionary's languages are not the ones given, or it kept fewer than ``n_best``
        translations per word.
    TypeError
        When ``dictionary`` is neither, or a word's translations are a string, or a set (unordered: which
        N are the best would be arbitrary), rather than a list or tuple, best first.
    """
    if isinstance(dictionary, TranslationDictionary):
        sides = (("source", source_lang, dictionary.source_lang), ("target", target_lang, dictionary.target_lang))
        for side, given, own in sides:
            if given is not None and given != own:
                raise ValueError(f"{side} language is {given!r} but the dictionary's {side} is {own!r}")
        if n_best > dictionary.n_best:
            raise ValueError(
                f"n_best={n_best} but the dictionary kept only {dictionary.n_best} translations per word; "
                "rebuild or reload it with a larger n_best"
            )
        return dictionary.as_mapping(n_best)
    if not isinstance(dictionary, Mapping):
        raise TypeError(f"dictionary must be a TranslationDictionary or a mapping, got {type(dictionary).__name__}")
    out = {}
    for word, targets in dictionary.items():
        if isinstance(targets, str):
            raise TypeError(f"translations of {word!r} must be a sequence of words, got the string {targets!r}")
        if isinstance(targets, (Set, Mapping)) or not isinstance(targets, (Sequence, np.ndarray)):
            raise TypeError(
                f"translations of {word!r} are a {type(targets).__name__}, which has no order: the {n_best} best "
                "cannot be told apart from the rest; give a list or tuple, best first")
        out[word] = list(targets)[:n_best]
    return out


def _incidence(concept_types: Sequence[Collection[str]]) -> tuple[sp.csr_matrix, dict[str, int]]:
    """Binary concept-by-type matrix (K x V) and the type index."""
    if isinstance(concept_types, (str, bytes)) or len(concept_types) == 0:
        raise ValueError("need a non-empty sequence of concepts, each a collection of word types")
    vocab: dict[str, int] = {}
    rows, cols = [], []
    for k, types in enumerate(concept_types):
        if isinstance(types, str):
            raise TypeError(f"concept {k} must be a collection of word types, got the string {types!r}")
        for word in set(types):
            rows.append(k)
            cols.append(vocab.setdefault(word, len(vocab)))
    data = np.ones(len(rows), dtype=np.int64)
    return sp.csr_matrix((data, (rows, cols)), shape=(len(concept_types), len(vocab))), vocab


def _translation_incidence(
    src_vocab: dict[str, int], tgt_vocab: dict[str, int], translations: Mapping[str, Sequence[str]]
) -> sp.csr_matrix:
    """Binary V_s x V_t matrix: entry (u, v) = 1 when v is one of u's kept translations."""
    rows, cols = [], []
    for word, u in src_vocab.items():
        for target in set(translations.get(word, ())):
            v = tgt_vocab.get(target)
            if v is not None:
                rows.append(u)
                cols.append(v)
    data = np.ones(len(rows), dtype=np.int64)
    return sp.csr_matrix((data, (rows, cols)), shape=(len(src_vocab), len(tgt_vocab)))

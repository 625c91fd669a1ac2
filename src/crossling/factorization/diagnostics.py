"""Is a PARAFAC2 fit trustworthy? Degeneracy, core consistency, settling and agreement between starts.

A PARAFAC2 fit may have no minimum to converge to. Then two components diverge: their signatures grow with
every iteration while the components cancel each other, so that the error creeps down and the signatures
measure the iteration budget (Krijnen, Dijkstra and Stegeman 2008). Or the fit has several minima, and the
signatures depend on the start. :func:`diagnose` measures both on a finished fit, from quantities that do not
depend on the rank or the scale of the data:

- **triple congruence** of a component pair r, r' (Harshman and Lundy 1984): the product of the cosines
  between their columns in the three modes, ``cos(u_r, u_r') cos(v_r, v_r') cos(s_r, s_r')``, where the first
  is the same for every slice (Harshman's constraint ``U_l^T U_l = B^T B``). Diverging components have a
  triple congruence tending to -1; :data:`DEGENERATE_CONGRUENCE` is the flag's threshold;
- **core consistency** (Bro and Kiers 2003) on the projected tensor ``T_l = P_l^T Omega_l`` (the
  PARAFAC2 form of Kamstrup-Nielsen, Johnsen and Bro 2013): how far the least-squares Tucker core of the data
  on the fitted components is from the identity core of the PARAFAC2 model, in percent (100: no interaction
  between components; near 0 or negative: more components than the data support). Defined for a rank of at
  most the number of slices; reported, not flagged;
- **signature growth**: the relative change of the mean signature over the last tenth of the iterations
  (:data:`GROWTH_FRACTION`, ``Parafac2Result.signature_trace``); above :data:`GROWTH_TOLERANCE` in size the
  signatures still depend on the budget. A last tenth, not a fixed number of iterations: a fit that met its
  tolerance after 12 iterations is judged on its last step, not on its start, and diverging components,
  whose signatures grow like a power of the iteration count, change by about as much in the last tenth of
  100 iterations as in that of 1000;
- **agreement across starts** that reached the best fit (a final sum of squared residuals within
  :data:`START_SSE_TOLERANCE` of the kept start's; a start stuck at a worse fit is a failed start, not a
  second answer): how many did, the lowest Spearman correlation between the kept start's ranking of the
  slices (languages) by average signature and another's, and the largest range of a slice's average
  signature over them relative to the kept start's mean. One start alone at the best fit (of several), a
  correlation below :data:`START_SPEARMAN` or a range above :data:`START_SPREAD` say that the signatures
  depend on the start.

The thresholds separate the fits of issue 13's problem (10 slices of 64 x 64, built like the study's) and of
planted models (tests/factorization/test_diagnostics.py). Fitted as the original study did (no constraint, SVD
start, 100 iterations), the issue's problem has a pair of components at triple congruence -0.62 at rank 8
(-0.82 after 1000 iterations) and -0.46 at rank 64 (-0.54 after 300), and its mean signature grows by 6-7%
over the last tenth of 100 iterations; with orthonormal V the triple congruences are 0 and the growth below
0.06%. Planted models with 5% noise, fitted without constraint: congruences above -0.11, growth below 0.12%,
the starts at the best fit agree (Spearman >= 0.96). With 30% noise two of four such fits diverge (-0.59; or
-0.46 with the starts 25% apart), which the flags report. On the demo's trained models (8 languages, width 128,
rank 32) the default fits settle and their starts rank the languages alike (Spearman 1.0 in the demo run of
issue 18, >= 0.98 before it), but starts that reach the same error put a language's average signature 2.1-5.9%
of the level apart (up to 7.5% with the line search), which the spread flags.

References: R. A. Harshman and M. E. Lundy (1984), The PARAFAC model for three-way factor analysis and
multidimensional scaling, in H. G. Law et al. (eds.), Research Methods for Multimode Data Analysis, 122-215;
Krijnen, Dijkstra and Stegeman, Bro and Kiers, Kamstrup-Nielsen et al.: see :func:`core_consistency` and
:func:`crossling.factorization.parafac2.parafac2`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from crossling.exceptions import DegenerateInputWarning
from crossling.factorization.parafac2 import Parafac2Result

__all__ = [
    "DEGENERATE_CONGRUENCE",
    "GROWTH_FRACTION",
    "GROWTH_TOLERANCE",
    "START_SPEARMAN",
    "START_SPREAD",
    "START_SSE_TOLERANCE",
    "FitDiagnostics",
    "core_consistency",
    "diagnose",
    "diagnostics_sentence",
    "diagnostics_summary",
    "growth_window",
    "signature_growth",
    "start_agreement",
    "triple_congruences",
]

#: A pair of components whose triple congruence is below this is flagged as diverging.
DEGENERATE_CONGRUENCE = -0.5
#: The last fraction of the iterations over which :func:`signature_growth` measures the change of the mean
#: signature (at least one iteration).
GROWTH_FRACTION = 0.1
#: A mean signature that changed by more than this fraction over the last :data:`GROWTH_FRACTION` of the
#: iterations has not settled.
GROWTH_TOLERANCE = 5e-3
#: A start whose final sum of squared residuals is within this fraction of the kept start's reached the best fit.
START_SSE_TOLERANCE = 0.01
# Relative errors below this are an exact fit: starts that all fit exactly reached the same fit, however their
# last bits of rounding compare.
_EXACT_ERROR = 1e-4
#: Starts at the best fit whose language ranking correlates below this with the kept start's disagree (Spearman).
START_SPEARMAN = 0.95
#: Starts at the best fit whose average signatures range over more than this fraction of the kept start's mean
#: disagree.
START_SPREAD = 0.02


@dataclass(frozen=True)
class FitDiagnostics:
    """How far a PARAFAC2 fit can be trusted (see the module docstring for each measure).

    Attributes
    ----------
    min_congruence : float
        The most negative triple congruence of a pair of components (NaN for rank 1).
    congruence_pair : tuple of int
        The components (columns of ``S``) of that pair; empty for rank 1.
    core_consistency : float
        Core consistency in percent; NaN when the rank exceeds the number of slices or no slices were given.
    signature_growth : float
        Relative change of the mean signature over the last :data:`GROWTH_FRACTION` of the iterations
        (signed; NaN for one iteration).
    starts_at_best : int
        Starts that reached the best fit (within :data:`START_SSE_TOLERANCE`), the kept one included.
    start_spearman : float
        Lowest Spearman correlation between the kept start's ranking of the slices by average signature
        and that of another start at the best fit; NaN when no other start reached it.
    start_spread : float
        Largest range over the starts at the best fit of a slice's average signature, over the kept
        start's mean average signature; 0 when no other start reached it.
    degenerate : bool
        ``min_congruence < DEGENERATE_CONGRUENCE``: diverging components.
    growing : bool
        ``|signature_growth| > GROWTH_TOLERANCE``: the signatures still change at the end of the budget.
    starts_disagree : bool
        Of several starts, one alone reached the best fit, or those that did disagree
        (``start_spearman < START_SPEARMAN`` or ``start_spread > START_SPREAD``).
    unstable : bool
        ``growing or starts_disagree``.
    problems : tuple of str
        One sentence per problem found: what was measured and what to do.
    """

    min_congruence: float
    congruence_pair: tuple[int, ...]
    core_consistency: float
    signature_growth: float
    starts_at_best: int
    start_spearman: float
    start_spread: float
    degenerate: bool
    growing: bool
    starts_disagree: bool
    unstable: bool
    problems: tuple[str, ...]

    def as_row(self) -> dict[str, object]:
        """The diagnostics as the columns of a table row (the pair as "r,r'", the problems joined by "; ").

        Returns
        -------
        dict of str to object
        """
        row = asdict(self)
        row["congruence_pair"] = ",".join(map(str, self.congruence_pair))
        row["problems"] = "; ".join(self.problems)
        return row


def triple_congruences(result: Parafac2Result) -> np.ndarray:
    """The triple congruence of every pair of components of a fit.

    Parameters
    ----------
    result : Parafac2Result

    Returns
    -------
    ndarray, shape (k, k)
        ``cos(u_r, u_r') cos(v_r, v_r') cos(s_r, s_r')``; the first factor is read from ``U[0]`` (the same
        for every slice by Harshman's constraint). 1 on the diagonal; NaN for a component with a zero column.
    """
    cosines = []
    for factor in (result.U[0], result.V, result.S):
        norms = np.linalg.norm(factor, axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            unit = factor / norms
        cosines.append(unit.T @ unit)
    return cosines[0] * cosines[1] * cosines[2]


def core_consistency(matrices: Sequence[np.ndarray], result: Parafac2Result) -> float:
    """Core consistency (Bro and Kiers 2003) of a PARAFAC2 fit, on its projected tensor.

    The least-squares Tucker core of the projected slices ``T_l = P_l^T Omega_l`` on the fitted factors
    (S, B, V) is ``G = T x1 S^+ x2 B^+ x3 V^+``; as ``B^+ P_l^T = U_l^+`` (``U_l = P_l B`` with orthonormal
    ``P_l``), its frontal slices are ``G_p = sum_l (S^+)_(p,l) U_l^+ Omega_l (V^+)^T`` and no projection is
    needed. The PARAFAC2 model is the identity core I (k x k x k) on these factors, and

        CC = 100 (1 - ||G - I||_F^2 / k).

    Parameters
    ----------
    matrices : sequence of ndarray (d_l, d)
        The slices the fit was computed from (on the input scale; divided by ``result.slice_norms`` here
        when the fit normalised them).
    result : Parafac2Result

    Returns
    -------
    float
        In percent: 100 for data that follow the model exactly, near 0 or below when the components
        interact (too many components). NaN, with a :class:`~crossling.exceptions.DegenerateInputWarning`,
        when ``S`` or a ``U_l`` is rank-deficient (a collapsed component).

    Raises
    ------
    ValueError
        When the rank exceeds the number of slices (``S^+`` is then no left inverse and the core is not
        determined) or the slices do not match the fit.

    References
    ----------
    R. Bro and H. A. L. Kiers (2003), A new efficient method for determining the number of components in
    PARAFAC models. J. Chemometrics 17: 274-286.
    J. Kamstrup-Nielsen, L. G. Johnsen and R. Bro (2013), Core consistency diagnostic in PARAFAC2.
    J. Chemometrics 27: 99-105.
    """
    n_slices, rank = result.S.shape
    if rank > n_slices:
        raise ValueError(f"core consistency needs rank ({rank}) <= the number of slices ({n_slices}): the Tucker "
                         "core is not determined otherwise")
    if len(matrices) != n_slices or any(np.shape(m) != (u.shape[0], result.V.shape[0])
                                        for m, u in zip(matrices, result.U)):
        raise ValueError("the slices do not match the fit (their number or shapes differ)")
    factors = [result.S, result.V, *result.U]
    if any(np.linalg.matrix_rank(f) < rank for f in factors):
        warnings.warn("core consistency is undefined: a fitted factor is rank-deficient (a collapsed component)",
                      DegenerateInputWarning, stacklevel=2)
        return float("nan")
    scale = result.slice_norms if result.normalize_slices else np.ones(n_slices)
    v_pinv_t = np.linalg.pinv(result.V).T
    projected = np.stack([np.linalg.pinv(u) @ (np.asarray(m, dtype=np.float64) / n) @ v_pinv_t
                          for m, u, n in zip(matrices, result.U, scale)])
    core = np.tensordot(np.linalg.pinv(result.S), projected, axes=1)  # (k, k, k)
    identity = np.zeros((rank,) * 3)
    identity[np.arange(rank), np.arange(rank), np.arange(rank)] = 1.0
    return float(100.0 * (1.0 - np.sum((core - identity) ** 2) / rank))


def growth_window(n_iter: int) -> int:
    """The iterations over which :func:`signature_growth` looks back: the last tenth, at least one.

    Parameters
    ----------
    n_iter : int

    Returns
    -------
    int
        ``max(1, round(GROWTH_FRACTION * n_iter))``.
    """
    return max(1, round(GROWTH_FRACTION * n_iter))


def signature_growth(trace: np.ndarray) -> float:
    """Relative change of the mean signature over the last tenth of the iterations of a fit.

    Parameters
    ----------
    trace : ndarray, shape (n_iter,)
        The mean signature after each iteration (``Parafac2Result.signature_trace``).

    Returns
    -------
    float
        ``(trace[-1] - trace[-1 - w]) / |trace[-1 - w]|`` with ``w =`` :func:`growth_window` ``(n_iter)``;
        NaN for a fit of one iteration or a zero mean signature.
    """
    trace = np.asarray(trace, dtype=np.float64)
    w = growth_window(trace.size)
    if trace.size <= w or trace[-1 - w] == 0:
        return float("nan")
    return float((trace[-1] - trace[-1 - w]) / abs(trace[-1 - w]))


def start_agreement(start_signatures: np.ndarray, start_errors: np.ndarray, best_start: int
                    ) -> tuple[int, float, float]:
    """How well the starts that reached the best fit agree on the average signatures.

    Parameters
    ----------
    start_signatures : ndarray, shape (n_starts, L)
        Average signature of every slice in every start (``Parafac2Result.start_signatures``).
    start_errors : ndarray, shape (n_starts,)
        Final relative error of every start (``Parafac2Result.start_errors``).
    best_start : int
        The kept start (the lowest error).

    Returns
    -------
    starts_at_best : int
        Starts whose final sum of squared residuals is at most ``(1 + START_SSE_TOLERANCE)`` times the kept
        start's, the kept one included (times that of a relative error of 1e-4 when the kept start's is
        lower: an exact fit).
    spearman : float
        Lowest Spearman correlation between the kept start's average signatures and those of another start
        at the best fit (NaN when there is none, or when a start gives every slice the same value).
    spread : float
        ``max_l (max_s - min_s) / mean_l(kept start)`` over the starts s at the best fit: the largest range
        of a slice's average signature, relative to the kept start's level (0 when there is one start).
    """
    values = np.asarray(start_signatures, dtype=np.float64)
    sse = np.asarray(start_errors, dtype=np.float64) ** 2
    at_best = np.flatnonzero(sse <= max(sse[best_start], _EXACT_ERROR**2) * (1 + START_SSE_TOLERANCE))
    best = values[best_start]
    with warnings.catch_warnings():
        # A constant row has no ranking: spearmanr warns and gives NaN, which is the answer.
        warnings.simplefilter("ignore")
        rhos = [float(spearmanr(best, values[i])[0]) for i in at_best if i != best_start]
    spearman = float(np.min(rhos)) if rhos else float("nan")
    chosen = values[at_best]
    level = abs(best.mean())
    spread = float(np.max(chosen.max(axis=0) - chosen.min(axis=0)) / level) if level > 0 else float("nan")
    return int(at_best.size), spearman, spread


def diagnose(result: Parafac2Result, matrices: Sequence[np.ndarray] | None = None) -> FitDiagnostics:
    """Every diagnostic of a fit, the flags, and what to do about each problem.

    Parameters
    ----------
    result : Parafac2Result
    matrices : sequence of ndarray (d_l, d), optional
        The slices of the fit, for the core consistency (NaN without them, or when the rank exceeds the
        number of slices).

    Returns
    -------
    FitDiagnostics
    """
    n_slices, rank = result.S.shape
    congruences = triple_congruences(result)
    off = np.where(np.eye(rank, dtype=bool) | np.isnan(congruences), np.inf, congruences)
    if np.isfinite(off).any():
        flat = int(np.argmin(off))
        pair = tuple(sorted(divmod(flat, rank)))
        min_congruence = float(congruences[pair])
    else:
        pair, min_congruence = (), float("nan")
    consistency = float("nan")
    if matrices is not None and rank <= n_slices:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DegenerateInputWarning)  # a collapsed component is warned of already
            consistency = core_consistency(matrices, result)
    growth = signature_growth(result.signature_trace)
    n_starts = result.start_errors.size
    at_best, spearman, spread = start_agreement(result.start_signatures, result.start_errors, result.best_start)

    # With one start alone at the best fit there is nothing to compare: Spearman NaN, spread 0.
    alone = bool(n_starts > 1 and at_best == 1)
    disagree = bool(spearman < START_SPEARMAN or spread > START_SPREAD)
    growing = bool(abs(growth) > GROWTH_TOLERANCE)
    found = FitDiagnostics(
        min_congruence=min_congruence, congruence_pair=pair, core_consistency=consistency, signature_growth=growth,
        starts_at_best=at_best, start_spearman=spearman, start_spread=spread,
        degenerate=bool(min_congruence < DEGENERATE_CONGRUENCE), growing=growing, starts_disagree=alone or disagree,
        unstable=growing or alone or disagree, problems=())
    return replace(found, problems=_problems(found, result))


def _problems(found: FitDiagnostics, result: Parafac2Result) -> tuple[str, ...]:
    """One sentence per flag: what was measured, what it means, and what to do (which depends on whether V was
    constrained: only an unconstrained fit can diverge)."""
    problems = []
    if found.degenerate:
        a, b = found.congruence_pair
        problems.append(f"components {a} and {b} diverge (triple congruence {found.min_congruence:.2f}): their "
                        "signatures grow with every iteration while they cancel, so the signatures measure the "
                        "iteration budget; fit with orthonormal V (the study's default) or a lower rank")
    if found.growing:
        remedy = "raise n_iter_max" if result.orthonormal_v else "fit with orthonormal V, or raise n_iter_max"
        problems.append(f"the mean signature changed by {found.signature_growth:+.2%} over the last "
                        f"{growth_window(result.n_iter)} of {result.n_iter} iterations: it depends on the iteration "
                        f"budget; {remedy}")
    if found.starts_disagree and found.starts_at_best == 1:
        problems.append(f"only 1 of {result.start_errors.size} starts reached the best fit: another run may find "
                        "another one; add starts")
    elif found.starts_disagree:
        remedy = ("add starts (the best fit is kept) and read smaller differences as ties" if result.orthonormal_v
                  else "fit with orthonormal V, or add starts")
        problems.append(f"the {found.starts_at_best} starts at the best fit give a language average signatures up to "
                        f"{found.start_spread:.1%} of the level apart (Spearman {found.start_spearman:.2f} between "
                        f"their language rankings): differences between languages smaller than that depend on the "
                        f"start; {remedy}")
    return tuple(problems)


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def diagnostics_summary(fits: pd.DataFrame) -> dict[str, object]:
    """The diagnostics of a study's fits for its manifest: the flagged fits and the extremes of each measure.

    Parameters
    ----------
    fits : DataFrame
        One row per fit with ``category``, ``layer`` and the columns of :meth:`FitDiagnostics.as_row`.

    Returns
    -------
    dict
        ``degenerate``, ``growing`` and ``starts_disagree``: [category, layer] of the flagged fits; ``min_congruence``,
        ``max_abs_signature_growth``, ``min_start_spearman``, ``max_start_spread``, ``min_core_consistency``
        over the fits (None where undefined for every fit).
    """
    def keys(mask: pd.Series) -> list[list[object]]:
        return [[row.category, int(row.layer)] for row in fits[mask].itertuples()]

    return {
        "degenerate": keys(fits["degenerate"]), "growing": keys(fits["growing"]),
        "starts_disagree": keys(fits["starts_disagree"]),
        "min_congruence": _finite(fits["min_congruence"].min()),
        "max_abs_signature_growth": _finite(fits["signature_growth"].abs().max()),
        "min_start_spearman": _finite(fits["start_spearman"].min()),
        "max_start_spread": _finite(fits["start_spread"].max()),
        "min_core_consistency": _finite(fits["core_consistency"].min()),
    }


def diagnostics_sentence(fits: pd.DataFrame) -> str:
    """What the diagnostics say about a study's fits, in a sentence or two for its report.

    Parameters
    ----------
    fits : DataFrame
        As for :func:`diagnostics_summary`.

    Returns
    -------
    str
    """
    def names(mask: pd.Series) -> str:
        flagged = fits[mask]
        shown = ", ".join(f"{row.category} layer {row.layer}" for row in flagged.head(10).itertuples())
        return shown + (", ..." if len(flagged) > 10 else "")

    budget = fits["degenerate"] | fits["growing"]
    spread = fits["start_spread"].max()
    spearman = fits["start_spearman"].min()
    agreement = f", lowest Spearman {spearman:.2f} between their language rankings" if np.isfinite(spearman) else ""
    if not (budget | fits["starts_disagree"]).any():
        return (f"All {len(fits)} PARAFAC2 fits pass the diagnostics: no diverging components (lowest triple "
                f"congruence {fits['min_congruence'].min():.2f}), signatures settled (largest change over the last "
                f"tenth of the iterations {fits['signature_growth'].abs().max():.2%}), starts at the best fit in "
                f"agreement (a language's average signatures at most {spread:.1%} of the level apart{agreement}).")
    sentences = []
    if budget.any():
        sentences.append(
            f"{int(budget.sum())} of {len(fits)} PARAFAC2 fits have diverging components "
            f"({int(fits['degenerate'].sum())}) or signatures still changing at the end of the budget "
            f"({int(fits['growing'].sum())}): {names(budget)}. "
            "Their signatures measure the solver as much as the languages, and so do the levels, trends and trees "
            f"built on them. The first: {fits[budget].iloc[0]['problems']}.")
    disagree = fits["starts_disagree"]
    if disagree.any():
        sentences.append(
            f"In {int(disagree.sum())} of {len(fits)} fits ({names(disagree)}) the starts disagree: a language's "
            f"average signature differs by up to {fits.loc[disagree, 'start_spread'].max():.1%} of the level between "
            f"starts that reach the best fit{agreement}, so smaller differences between languages are not resolved.")
    return " ".join(sentences)

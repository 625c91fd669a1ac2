"""Language signatures: one PARAFAC2 over the languages' Omegas, and its signatures as a tidy table.

The study fits ``Omega_l ~ U_l diag(s_l) V^T`` jointly over the languages l of one (category, layer), with
non-negative signatures (:func:`crossling.factorization.parafac2.parafac2`). Row s_l of S is the language's
*signature*; its mean over the k components is the *average signature*, the intensity with which the
language's control-model space is reflected in the multilingual model.

The default fit, and why
------------------------
Criterion: the average signatures must not depend on how the fit was computed, i.e. change by less than 2%
between budgets of 100, 300 and 1000 iterations, and rank the languages alike (Spearman >= 0.95) from any of
5 starts, at a cost the study can pay. The original study's fit (TensorLy, full rank, no constraint on B or V,
100 iterations) meets neither: without a constraint the best fit need not exist, and then two components
diverge, their signatures growing with every iteration while they cancel (Krijnen, Dijkstra and Stegeman
2008). ``benchmarks/parafac2_identifiability.py`` compares the candidates of issue 13 on slices built like the
study's (:func:`~crossling.factorization.parafac2.random_covariance_slices`):

===========================  ==================  ===================  ==========  ==========  =====================
candidate (rank)             mean signature,     largest change of a  Spearman,   rel. error  diagnostics
                             100/300/1000 it.    language, budgets    5 starts
===========================  ==================  ===================  ==========  ==========  =====================
*10 slices of 64 x 64 (issue 13's problem, seed 0)*
original (64, full)          16.7 / 26.3 / 41.3  59%                  (4 diverge) 0.111       degenerate, unstable
ridge 1e-4 on S, B, V (64)   3.33 / 3.14 / 3.16  8.4%                 0.55        0.112       -
ridge 1e-3 on S, B, V (64)   1.64 / 1.64 / 1.64  1.0%                 0.64        0.163       -
rank auto (core cons.): 3    4.87 / 4.87 / 4.87  0.0%                 0.84        0.883       -
**orthonormal V** (64)       2.15 / 2.16 / 2.16  0.2%                 0.94        0.171       -
original (8)                 14.6 / 23.9 / 63.1  169%                 0.66        0.720       degenerate, unstable
**orthonormal V** (8)        4.38 / 4.38 / 4.38  0.0%                 0.99        0.721       -
*8 slices of 128 x 128 (the demo's languages and width, seed 1)*
original (32)                24.2 / 47.5 / 91.3  97%                  (3 diverge) 0.514       degenerate, unstable
ridge 1e-3 on S, B, V (32)   3.63 / 3.63 / 3.63  0.1%                 0.86        0.517       -
rank auto (core cons.): 2    4.98 / 4.98 / 4.98  0.0%                 0.98        0.959       -
**orthonormal V** (32)       3.73 / 3.73 / 3.73  0.1%                 0.98        0.517       -
===========================  ==================  ===================  ==========  ==========  =====================

"original": no constraint, tolerance 1e-8 and Bro's line search, as TensorLy (random starts that diverged until
their factors overflowed are left out of the Spearman correlation); the other candidates run the default
acceleration, momentum (issue 18; the table of issue 13, with the line search, had the same verdicts); "rank
auto": the largest rank of at most the number of slices whose fit keeps a core consistency of 50% (Bro and Kiers
2003). A ridge small enough to leave the fit alone (1e-4) does not stop the drift; one large enough to stop it
(1e-3) shrinks the signatures and leaves random starts in minima where components died, so the starts disagree.
Choosing the rank by core consistency gives 2 or 3 components explaining 8-22% of the sum of squares, a rank
that differs between fits (so average signatures over different numbers of components), and needs a fit per
candidate rank; it cannot go beyond the number of languages, where the core is not determined. Only the
orthonormal V keeps the signatures still on every problem and its starts close: on the full-rank problem they
end in different minima (errors 0.17074 to 0.17080, average levels within 0.25%) that rank the languages alike
at Spearman 0.94, just below the criterion's 0.95. Which minimum a random start reaches depends on its path: over
seeds 0-4 of the random starts the lowest Spearman was 0.94 to 0.99 with momentum and 0.95 to 0.98 with the line
search (median 0.976 both), which is why every fit reports its starts' agreement.

So the default constrains V, the factor shared by all languages, to orthonormal columns
(``orthonormal_v=True``): Krijnen, Dijkstra and Stegeman (2008) prove that the CP criterion attains its minimum
when one factor is column-wise orthonormal, and with V^T V = I a language's signature has the norm of its
fitted slice, ``||s_l||_2 = ||U_l diag(s_l) V^T||_F <= ||Omega_l||_F``, so it cannot diverge. The model is
still PARAFAC2 (each language its own U_l, with Harshman's constraint), with its components orthogonal in
the multilingual model's space; its error is higher than the diverging fit's by what the divergence buys.
The fit keeps the study's full rank, the SVD start and non-negative signatures, runs :data:`N_STARTS`
starts (the best is kept, their agreement reported by :mod:`crossling.factorization.diagnostics`) and stops
at the tolerance :data:`~crossling.factorization.parafac2.TOL` within the budget
:data:`~crossling.factorization.parafac2.N_ITER_MAX`.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from crossling.factorization.parafac2 import (
    N_INNER,
    N_ITER_MAX,
    TOL,
    Parafac2Result,
    Parafac2Start,
    parafac2,
    parafac2_start,
)

__all__ = ["N_STARTS", "fit_signature_start", "fit_signatures", "signature_table"]

#: Starts of the study's fits unless asked otherwise: the SVD start and two random ones.
N_STARTS = 3


def fit_signatures(
    omegas: Mapping[str, np.ndarray],
    *,
    rank: int,
    orthonormal_v: bool = True,
    init: str = "svd",
    n_iter_max: int = N_ITER_MAX,
    tol: float = TOL,
    acceleration: str = "momentum",
    n_inner: int = N_INNER,
    n_starts: int = N_STARTS,
    seed: int | None = 0,
    normalize_slices: bool = False,
    backend: str = "numpy",
    device: str | None = None,
    dtype: str = "float64",
    starts: Sequence[Parafac2Start] | None = None,
) -> Parafac2Result:
    """One PARAFAC2 over the languages' Omegas with non-negative signatures; by default the well-posed fit.

    Parameters
    ----------
    omegas : mapping of str to ndarray (d_l, d)
        Language -> Omega_l. Row l of the result's ``S`` belongs to the l-th language of the mapping; use
        :func:`signature_table` to turn it into rows named by language.
    rank : int
        k, at most every d_l and d.
    orthonormal_v : bool, default True
        V with orthonormal columns (the module docstring says why); False is the original study's fit.
    init : {"svd", "random"}, default "svd"
    n_iter_max : int, default :data:`~crossling.factorization.parafac2.N_ITER_MAX` (1000)
    tol : float, default :data:`~crossling.factorization.parafac2.TOL` (1e-6)
    acceleration : {"momentum", "linesearch", "none"}, default "momentum"
    n_inner : int, default :data:`~crossling.factorization.parafac2.N_INNER` (5)
    n_starts : int, default :data:`N_STARTS` (3)
    seed : int or None, default 0
    normalize_slices : bool, default False
    backend : {"numpy", "torch"}, default "numpy"
    device : str, optional
    dtype : {"float64", "float32"}, default "float64"
    starts : sequence of Parafac2Start, optional
        As :func:`crossling.factorization.parafac2.parafac2` (``starts``: the fit's starts computed elsewhere, by
        :func:`fit_signature_start`).

    Returns
    -------
    Parafac2Result

    Raises
    ------
    ValueError
        For fewer than 2 languages (and whatever :func:`~crossling.factorization.parafac2.parafac2` rejects).
    FloatingPointError
        Without ``orthonormal_v``, when every start diverged until its factors overflowed.

    Warns
    -----
    ConvergenceWarning
        When the fit stopped at ``n_iter_max`` before meeting ``tol``.
    """
    return parafac2(_slices(omegas), rank, init=init, nonnegative=True, orthonormal_v=orthonormal_v,
                    n_iter_max=n_iter_max, tol=tol, acceleration=acceleration, n_inner=n_inner, n_starts=n_starts,
                    seed=seed, normalize_slices=normalize_slices, backend=backend, device=device, dtype=dtype,
                    starts=starts)


def fit_signature_start(omegas: Mapping[str, np.ndarray], index: int, **options: Any) -> Parafac2Start:
    """Start number ``index`` of ``fit_signatures(omegas, **options)``, computed on its own.

    A cluster runs the starts of a fit as tasks of their own and hands them to
    ``fit_signatures(omegas, starts=..., **options)``, whose result is then the one it would have computed itself
    (:func:`crossling.factorization.parafac2.parafac2_start`).

    Parameters
    ----------
    omegas : mapping of str to ndarray (d_l, d)
        As :func:`fit_signatures`.
    index : int
        The start, 0 <= index < ``n_starts``.
    **options
        Keyword arguments of :func:`fit_signatures` (``rank`` required; not ``starts``).

    Returns
    -------
    Parafac2Start
        Without its polar factors.

    Raises
    ------
    ValueError
        For fewer than 2 languages, an ``index`` outside the starts, and what PARAFAC2 rejects.
    TypeError
        For an option :func:`fit_signatures` does not take, ``starts``, or no ``rank``.
    """
    if "starts" in options:
        raise TypeError("fit_signature_start computes a start: it takes no starts")
    arguments = inspect.signature(fit_signatures).bind(omegas, **options)
    arguments.apply_defaults()
    chosen = dict(arguments.arguments)
    del chosen["omegas"], chosen["starts"]
    return parafac2_start(_slices(omegas), chosen.pop("rank"), index, nonnegative=True, **chosen)


def _slices(omegas: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    """The Omegas in the mapping's order, after checking there are enough languages for a joint fit."""
    if len(omegas) < 2:
        raise ValueError(f"a joint factorization needs at least 2 languages, got {list(omegas)}")
    return list(omegas.values())


def signature_table(languages: Sequence[str], S: np.ndarray, **keys: Any) -> pd.DataFrame:
    """Tidy signatures: one row per (language, component), the ``keys`` (e.g. category, layer) in front.

    Parameters
    ----------
    languages : sequence of str, length L
        The language of each row of ``S``.
    S : ndarray, shape (L, k)
    **keys
        Constant columns, e.g. ``category="Case", layer=3``.

    Returns
    -------
    DataFrame
        Columns ``*keys, language, component, value``; languages in the order given, components 0..k-1.

    Raises
    ------
    ValueError
        When ``S`` is not 2-D with one row per language.
    """
    S = np.asarray(S)
    if S.ndim != 2 or S.shape[0] != len(languages):
        raise ValueError(f"S has shape {S.shape} for {len(languages)} languages")
    L, k = S.shape
    table = pd.DataFrame({"language": np.repeat(np.array(languages, dtype=object), k),
                          "component": np.tile(np.arange(k), L), "value": S.ravel()})
    for i, (name, value) in enumerate(keys.items()):
        table.insert(i, name, value)
    return table

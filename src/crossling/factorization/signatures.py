"""Language signatures: one PARAFAC2 over the languages' Omegas, and its signatures as a tidy table.

The study fits ``Omega_l ~ U_l diag(s_l) V^T`` jointly over the languages l of one (category, layer), with
non-negative signatures and the SVD initialisation (:func:`crossling.factorization.parafac2.parafac2`). Row
s_l of S is the language's *signature*; its mean over the k components is the *average signature*, the
intensity with which the language's control-model space is reflected in the multilingual model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from crossling.factorization.parafac2 import N_ITER_MAX, TOL, Parafac2Result, parafac2

__all__ = ["fit_signatures", "signature_table"]


def fit_signatures(
    omegas: Mapping[str, np.ndarray],
    *,
    rank: int,
    n_iter_max: int = N_ITER_MAX,
    tol: float = TOL,
    n_starts: int = 1,
    seed: int | None = 0,
    normalize_slices: bool = False,
) -> Parafac2Result:
    """One PARAFAC2 over the languages' Omegas: non-negative signatures, SVD initialisation.

    Parameters
    ----------
    omegas : mapping of str to ndarray (d_l, d)
        Language -> Omega_l. Row l of the result's ``S`` belongs to the l-th language of the mapping; use
        :func:`signature_table` to turn it into rows named by language.
    rank : int
        k, at most every d_l and d.
    n_iter_max : int, default :data:`~crossling.factorization.parafac2.N_ITER_MAX` (100, the study's)
    tol : float, default :data:`~crossling.factorization.parafac2.TOL`
    n_starts : int, default 1
    seed : int or None, default 0
    normalize_slices : bool, default False
        As :func:`crossling.factorization.parafac2.parafac2`.

    Returns
    -------
    Parafac2Result

    Raises
    ------
    ValueError
        For fewer than 2 languages (and whatever :func:`~crossling.factorization.parafac2.parafac2` rejects).

    Warns
    -----
    ConvergenceWarning
        When the fit stopped at ``n_iter_max`` before meeting ``tol``.
    """
    if len(omegas) < 2:
        raise ValueError(f"a joint factorization needs at least 2 languages, got {list(omegas)}")
    return parafac2(list(omegas.values()), rank, init="svd", nonnegative=True, n_iter_max=n_iter_max, tol=tol,
                    n_starts=n_starts, seed=seed, normalize_slices=normalize_slices)


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

"""Average neuron-wise correlation (ANC) of Del and Fishel (2022)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from crossling.similarity._common import (
    ScalarResult,
    as_pair,
    constant_neurons,
    degenerate,
    moments_of,
    resolve,
    single_layer,
)

__all__ = ["ANCResult", "anc"]

@dataclass(frozen=True, eq=False)
class ANCResult(ScalarResult):
    """Average neuron-wise correlation.

    Attributes
    ----------
    value : float
        Mean over the non-constant neurons of ``|r_i|`` (``absolute=True``) or of ``r_i``; NaN when every
        neuron was excluded.
    per_neuron : ndarray, shape (p,)
        The signed Pearson correlation ``r_i`` of neuron i in X with neuron i in Y; NaN for excluded neurons.
    n_excluded : int
        Neurons left out because they are constant in X or in Y (their correlation is undefined).
    absolute : bool
        Whether ``value`` averages ``|r_i|`` (True) or the signed ``r_i``.
    n : int
        Number of paired rows.
    """

    per_neuron: np.ndarray
    n_excluded: int
    absolute: bool
    n: int


def _anc(sxx_d, syy_d, sxy_d, mean_x, mean_y, n: int, absolute: bool) -> ANCResult:
    """ANC from the diagonals of the centred sums (one source of truth for both input paths)."""
    constant = constant_neurons(sxx_d / n, mean_x) | constant_neurons(syy_d / n, mean_y)
    r = np.full(sxx_d.shape, np.nan)
    ok = ~constant
    r[ok] = np.clip(sxy_d[ok] / np.sqrt(sxx_d[ok] * syy_d[ok]), -1.0, 1.0)
    n_excluded = int(constant.sum())
    if n_excluded == len(r):
        degenerate(f"ANC: all {n_excluded} neurons are constant in X or Y; ANC is NaN")
        value = np.nan
    else:
        if n_excluded:
            degenerate(f"ANC: {n_excluded} of {len(r)} neurons are constant in X or Y and were excluded")
        value = float(np.mean(np.abs(r[ok]) if absolute else r[ok]))
    return ANCResult(value=value, per_neuron=r, n_excluded=n_excluded, absolute=absolute, n=int(n))


def anc(X_or_moments: Any, Y: Any = None, *, absolute: bool = True) -> ANCResult:
    r"""Average neuron-wise correlation of paired representations (a similarity in [0, 1]).

    .. math::

        \mathrm{ANC}(X, Y) = \frac{1}{p} \sum_{i=1}^{p} |r_i|, \qquad
        r_i = \frac{S^{xy}_{ii}}{\sqrt{S^{xx}_{ii} S^{yy}_{ii}}},

    the Pearson correlation of neuron i of X with neuron i of Y over the n paired items (Del and Fishel,
    2022, "Cross-lingual Similarity of Multilingual Representations Revisited", AACL). Neurons of one
    model are aligned a priori, so p == q is required. ANC is not invariant to permuting or rotating the
    neurons of one side, unlike CKA and CCA.

    Parameters
    ----------
    X_or_moments : array_like (n, p), or Moments / RowNormMoments
        The first representation, or the moments of one layer of the pair (then ``Y`` must be omitted);
        for a multi-layer Moments use :func:`~crossling.similarity.per_layer`.
    Y : array_like (n, p), optional
        The second representation, rows paired with X.
    absolute : bool, default True
        Average ``|r_i|``; ``False`` averages the signed ``r_i`` (the authors' code reports both).

    Returns
    -------
    ANCResult
        ``value`` (in [0, 1], or [-1, 1] with ``absolute=False``), the per-neuron correlations and the number
        of excluded (constant) neurons.

    Raises
    ------
    TypeError
        If ``X_or_moments`` is statistics with a layer axis (use :func:`~crossling.similarity.per_layer`),
        statistics and ``Y`` are both given, or an array is given without ``Y``.
    ValueError
        If p != q; if the arrays are not 2-D, their row counts differ, there are fewer than 2 paired rows
        (arrays or statistics), or a value is NaN or Inf.

    Warns
    -----
    DegenerateInputWarning
        When neurons are constant in X or in Y and are excluded (the value is NaN when all are).

    Notes
    -----
    A neuron that is constant in X or in Y has no correlation; it is excluded from the mean, counted in
    ``n_excluded`` and a :class:`~crossling.exceptions.DegenerateInputWarning` is issued. So the mean is over
    the non-constant neurons, not all p. A neuron counts as constant when its standard deviation is at most
    1e-12 times the magnitude of its mean (so exactly 0 for a neuron of mean 0).
    """
    stats = resolve(X_or_moments, Y)
    if stats is None:
        X, Y = as_pair(X_or_moments, Y, same_width=True)
        mx, my = X.mean(0), Y.mean(0)
        Xc, Yc = X - mx, Y - my
        return _anc(
            np.einsum("ij,ij->j", Xc, Xc), np.einsum("ij,ij->j", Yc, Yc), np.einsum("ij,ij->j", Xc, Yc),
            mx, my, len(X), absolute,
        )

    def one(s) -> ANCResult:
        m = moments_of(s)
        if m.p != m.q:
            raise ValueError(f"ANC needs p == q (aligned neurons), got p={m.p}, q={m.q}")
        return _anc(np.diagonal(m.sxx), np.diagonal(m.syy), np.diagonal(m.sxy), m.mean_x, m.mean_y, m.n, absolute)

    return single_layer(stats, one)

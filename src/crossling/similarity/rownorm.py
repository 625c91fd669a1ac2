"""Second moments plus the row-norm statistics that the debiased linear CKA needs, streamed and merged.

The debiased HSIC of Song et al. (2012) with linear kernels K = Xc Xc^T and L = Yc Yc^T is not a function
of second moments alone: besides ``Sxy``, ``tr Sxx`` and ``tr Syy`` it needs the fourth-order sum

    sum_i a_i b_i,   a_i = ||x_i - mean_x||^2,  b_i = ||y_i - mean_y||^2

(and ``sum a_i^2``, ``sum b_i^2`` for the normalisation). :class:`RowNormMoments` keeps these three scalars
next to a :class:`crossling.Moments`, centred at the running mean like the moments themselves, so batches
fold in and shards merge exactly. Moving the centre by ``d`` changes the sums by terms in the gradient-like
vectors ``sum_i a_i (x_i - mean_x)`` etc., which are therefore kept too (four vectors of widths p, q).
Memory stays O(p^2 + q^2 + pq).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from crossling.moments import Moments

__all__ = ["RowNormMoments"]

_STATS = ("saa", "sab", "sbb", "au", "av", "bu", "bv")


def _matvec(S: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.einsum("...ij,...j->...i", S, v)


def _dot(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.einsum("...i,...i->...", u, v)


def _trace(S: np.ndarray) -> np.ndarray:
    return np.trace(S, axis1=-2, axis2=-1)


class RowNormMoments:
    """Streaming :class:`~crossling.Moments` plus the row-norm sums of debiased linear CKA.

    Parameters
    ----------
    p : int
        Width of X.
    q : int, optional
        Width of Y (defaults to ``p``).
    n_layers : int, optional
        Keep statistics for several layers at once (a leading layer axis, as in :class:`Moments`).

    Attributes
    ----------
    moments : Moments
        The second moments (``n``, means, ``sxx``, ``syy``, ``sxy``); every moments-based index accepts a
        :class:`RowNormMoments` in place of a :class:`Moments`.
    saa, sab, sbb : float or ndarray (n_layers,)
        ``sum_i a_i^2``, ``sum_i a_i b_i``, ``sum_i b_i^2`` with ``a_i = ||x_i - mean_x||^2`` and
        ``b_i = ||y_i - mean_y||^2``.
    au, bu : ndarray (p,) or (n_layers, p)
        ``sum_i a_i (x_i - mean_x)`` and ``sum_i b_i (x_i - mean_x)``.
    av, bv : ndarray (q,) or (n_layers, q)
        ``sum_i a_i (y_i - mean_y)`` and ``sum_i b_i (y_i - mean_y)``.

    Raises
    ------
    ValueError
        If ``p`` or ``q`` is below 1, or ``n_layers`` is given and below 1.

    Notes
    -----
    Shifting the centre of X by ``dx`` and of Y by ``dy`` (``u_i -> u_i - dx``, ``v_i -> v_i - dy``, with
    ``sum u_i = sum v_i = 0`` for the old centre) gives, for ``f`` the squared norm on one side (vectors
    ``u``, shift ``dP``) and ``g`` on the other (vectors ``w``, shift ``dQ``), ``S_PQ = sum u w^T``:

        sum f'g' = sum f g - 2 (sum f w).dQ - 2 (sum g u).dP + |dQ|^2 tr S_PP + |dP|^2 tr S_QQ
                   + 4 dP^T S_PQ dQ + n |dP|^2 |dQ|^2
        sum f' w' = sum f w - tr(S_PP) dQ - 2 S_PQ^T dP - n |dP|^2 dQ

    Merging two parts moves each to the merged mean with these formulas and adds them.
    """

    def __init__(self, p: int, q: int | None = None, *, n_layers: int | None = None):
        self.moments = Moments(p, q, n_layers=n_layers)
        lead = () if n_layers is None else (int(n_layers),)
        p, q = self.moments.p, self.moments.q
        self.saa, self.sab, self.sbb = np.zeros(lead), np.zeros(lead), np.zeros(lead)
        self.au, self.bu = np.zeros(lead + (p,)), np.zeros(lead + (p,))
        self.av, self.bv = np.zeros(lead + (q,)), np.zeros(lead + (q,))

    @property
    def n(self) -> int:
        """Number of rows (items) seen."""
        return self.moments.n

    @classmethod
    def from_arrays(cls, X: Any, Y: Any) -> "RowNormMoments":
        """Statistics of full arrays X (n, p) and Y (n, q) (or (n_layers, n, width)) in one batch.

        Parameters
        ----------
        X : array_like, shape (n, p) or (n_layers, n, p)
            The first representation; a 3-D array gives multi-layer statistics.
        Y : array_like, shape (n, q) or (n_layers, n, q)
            The second representation, rows paired with X.

        Returns
        -------
        RowNormMoments
            New statistics of all n rows.

        Raises
        ------
        ValueError
            If the shapes do not pair up, or X or Y contains NaN or Inf (as :meth:`Moments.update`).
        """
        X, Y = np.asarray(X), np.asarray(Y)
        n_layers = X.shape[0] if X.ndim == 3 else None
        return cls(X.shape[-1], Y.shape[-1], n_layers=n_layers).update(X, Y)

    def update(self, X: Any, Y: Any) -> "RowNormMoments":
        """Fold a batch of paired rows into the statistics (in place).

        Parameters
        ----------
        X : array_like, shape (b, p), or (n_layers, b, p) when ``n_layers`` is set
            A batch of b rows of the first representation (b may be 0).
        Y : array_like, shape (b, q), or (n_layers, b, q)
            The paired rows of the second representation (required, even when it is X).

        Returns
        -------
        RowNormMoments
            ``self``, updated, so calls chain.

        Raises
        ------
        ValueError
            If the shapes do not fit these statistics or pair up, or X or Y contains NaN or Inf (as
            :meth:`Moments.update`). The statistics are then unchanged.
        """
        part = RowNormMoments(self.moments.p, self.moments.q, n_layers=self.moments.n_layers)
        part.moments.update(X, Y)
        if part.n == 0:
            return self
        Xc = np.asarray(X, dtype=np.float64) - part.moments.mean_x[..., None, :]
        Yc = np.asarray(Y, dtype=np.float64) - part.moments.mean_y[..., None, :]
        a = np.einsum("...ij,...ij->...i", Xc, Xc)
        b = np.einsum("...ij,...ij->...i", Yc, Yc)
        part.saa, part.sab, part.sbb = _dot(a, a), _dot(a, b), _dot(b, b)
        part.au = np.einsum("...i,...ij->...j", a, Xc)
        part.bu = np.einsum("...i,...ij->...j", b, Xc)
        part.av = np.einsum("...i,...ij->...j", a, Yc)
        part.bv = np.einsum("...i,...ij->...j", b, Yc)
        return self.merge(part)

    def _shifted(self, dx: np.ndarray, dy: np.ndarray) -> dict[str, np.ndarray]:
        """This part's sums re-centred at ``mean + d`` (the formulas of the class notes)."""
        m, n = self.moments, self.n
        tx, ty = _trace(m.sxx), _trace(m.syy)
        nx, ny = _dot(dx, dx), _dot(dy, dy)

        def scalar(s, fw, gu, dP, dQ, trP, trQ, SPQ, nP, nQ):
            return (s - 2 * _dot(fw, dQ) - 2 * _dot(gu, dP) + nQ * trP + nP * trQ
                    + 4 * _dot(dP, _matvec(SPQ, dQ)) + n * nP * nQ)

        def vector(fw, trP, SPQ_T_dP, dQ, nP):
            return fw - trP[..., None] * dQ - 2 * SPQ_T_dP - n * nP[..., None] * dQ

        return {
            "saa": scalar(self.saa, self.au, self.au, dx, dx, tx, tx, m.sxx, nx, nx),
            "sab": scalar(self.sab, self.av, self.bu, dx, dy, tx, ty, m.sxy, nx, ny),
            "sbb": scalar(self.sbb, self.bv, self.bv, dy, dy, ty, ty, m.syy, ny, ny),
            "au": vector(self.au, tx, _matvec(m.sxx, dx), dx, nx),
            "av": vector(self.av, tx, _matvec(np.swapaxes(m.sxy, -1, -2), dx), dy, nx),
            "bu": vector(self.bu, ty, _matvec(m.sxy, dy), dx, ny),
            "bv": vector(self.bv, ty, _matvec(m.syy, dy), dy, ny),
        }

    def merge(self, other: "RowNormMoments") -> "RowNormMoments":
        """Merge the statistics of another, disjoint set of rows into these (in place, exact).

        Both parts are re-centred at the merged means with the formulas of the class notes, then added.

        Parameters
        ----------
        other : RowNormMoments
            Statistics of other rows, with the same widths and layer axis; not modified.

        Returns
        -------
        RowNormMoments
            ``self``, now the statistics of both sets of rows.

        Raises
        ------
        ValueError
            If ``other`` has different widths or a different layer axis.
        """
        mine_shape = (self.moments.p, self.moments.q, self.moments.n_layers)
        if (other.moments.p, other.moments.q, other.moments.n_layers) != mine_shape:
            raise ValueError(f"cannot merge {other!r} into {self!r}: widths or layers differ")
        if other.n == 0:
            return self
        if self.n == 0:
            self.moments.merge(other.moments)
            for name in _STATS:
                setattr(self, name, np.array(getattr(other, name), dtype=np.float64, copy=True))
            return self
        n = self.n + other.n
        dx = other.moments.mean_x - self.moments.mean_x
        dy = other.moments.mean_y - self.moments.mean_y
        mine = self._shifted(dx * (other.n / n), dy * (other.n / n))
        theirs = other._shifted(-dx * (self.n / n), -dy * (self.n / n))
        self.moments.merge(other.moments)
        for name in _STATS:
            setattr(self, name, mine[name] + theirs[name])
        return self

    def layer(self, index: int) -> "RowNormMoments":
        """The statistics of one layer (views, not copies).

        Parameters
        ----------
        index : int
            Position on the layer axis, 0 <= index < n_layers (negative counts from the end).

        Returns
        -------
        RowNormMoments
            Single-layer statistics (no layer axis) whose arrays are views into these.

        Raises
        ------
        ValueError
            If these statistics have no layer axis.
        IndexError
            If ``index`` is out of range.
        """
        one = RowNormMoments(self.moments.p, self.moments.q)
        one.moments = self.moments.layer(index)
        for name in _STATS:
            setattr(one, name, getattr(self, name)[index])
        return one

    def __repr__(self) -> str:
        m = self.moments
        layers = "" if m.n_layers is None else f", n_layers={m.n_layers}"
        return f"RowNormMoments(p={m.p}, q={m.q}{layers}, n={m.n})"

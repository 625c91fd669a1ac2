"""Streaming, mergeable second-moment statistics of paired representations.

For paired representations ``X`` (n x p) and ``Y`` (n x q) of the same n items, :class:`Moments` keeps
only

    n,  mean_x,  mean_y,  Sxx = sum_i (x_i - mx)(x_i - mx)^T,  Syy,  Sxy = sum_i (x_i - mx)(y_i - my)^T

in float64. Batches are folded in and two partial results are merged exactly with the pairwise update of
Chan, Golub and LeVeque (1979, "Updating formulae and a pairwise algorithm for computing sample
variances"): for parts a and b with ``delta = mean_b - mean_a``,

    n = n_a + n_b,   mean = mean_a + delta * n_b / n,
    Sxy = Sxy_a + Sxy_b + (n_a n_b / n) * delta_x delta_y^T.

Memory is O(p^2 + q^2 + pq) whatever n is, so one pass over a corpus of any size gives every index that is a
function of second moments (cross-covariance, ANC, linear CKA, CCA, SVCCA, PWCCA), and shards computed on
different machines merge into the same numbers as one pass.

Several layers are handled at once by a leading layer axis: ``Moments(p, q, n_layers=13)`` accepts
``X`` of shape (13, n, p) and keeps ``Sxx`` of shape (13, p, p).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from crossling._utils.io import atomic_path

__all__ = ["Moments"]


class Moments:
    """Streaming second moments of paired representations X (n x p) and Y (n x q).

    Parameters
    ----------
    p : int
        Width of X (number of neurons of the first representation).
    q : int, optional
        Width of Y. Defaults to ``p``.
    n_layers : int, optional
        If given, statistics are kept for that many layers at once and every array gains a leading
        layer axis: ``update`` then takes X of shape (n_layers, n, p) and Y of shape (n_layers, n, q).

    Attributes
    ----------
    p, q : int
        Widths of X and Y.
    n_layers : int or None
        Length of the leading layer axis, or None for one layer without that axis.
    n : int
        Number of rows (items) seen.
    mean_x : ndarray, shape (p,) or (n_layers, p)
        Mean of the rows of X.
    mean_y : ndarray, shape (q,) or (n_layers, q)
        Mean of the rows of Y.
    sxx, syy, sxy : ndarray
        Centred sums of products, shapes (p, p), (q, q), (p, q) (with a leading layer axis when
        ``n_layers`` is set). All float64.

    Raises
    ------
    ValueError
        If ``p`` or ``q`` is below 1, or ``n_layers`` is given and below 1.

    Notes
    -----
    The covariance accessors use the population convention (divide by n, not n - 1), which is what
    the joint-factorization study's Omega = Z^T Y / m and the similarity indices expect; the
    unbiased estimate is ``cov * n / (n - 1)``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X, Y = rng.normal(size=(100, 3)), rng.normal(size=(100, 2))
    >>> m = Moments(3, 2)
    >>> m.update(X[:60], Y[:60]).update(X[60:], Y[60:]).n
    100
    >>> np.allclose(m.cov_xy(), (X - X.mean(0)).T @ (Y - Y.mean(0)) / 100)
    True
    """

    def __init__(self, p: int, q: int | None = None, *, n_layers: int | None = None):
        q = p if q is None else q
        if p < 1 or q < 1:
            raise ValueError(f"Moments needs positive widths, got p={p}, q={q}")
        if n_layers is not None and n_layers < 1:
            raise ValueError(f"n_layers must be positive, got {n_layers}")
        self.p, self.q, self.n_layers = int(p), int(q), n_layers
        lead = () if n_layers is None else (int(n_layers),)
        self.n = 0
        self.mean_x = np.zeros(lead + (self.p,))
        self.mean_y = np.zeros(lead + (self.q,))
        self.sxx = np.zeros(lead + (self.p, self.p))
        self.syy = np.zeros(lead + (self.q, self.q))
        self.sxy = np.zeros(lead + (self.p, self.q))

    # ------------------------------------------------------------------ building
    @classmethod
    def from_arrays(cls, X: Any, Y: Any | None = None) -> "Moments":
        """Moments of full arrays in one batch.

        Parameters
        ----------
        X : array_like, shape (n, p) or (n_layers, n, p)
            The first representation; a 3-D array gives multi-layer moments.
        Y : array_like, shape (n, q) or (n_layers, n, q), optional
            The second representation, rows paired with X. Defaults to X (auto-moments).

        Returns
        -------
        Moments
            New statistics of all n rows (``n_layers`` set when X is 3-D).

        Raises
        ------
        ValueError
            If the shapes do not pair up (different numbers of rows or layers, Y not of X's dimensionality),
            or X or Y contains NaN or Inf.
        """
        X = np.asarray(X)
        Y = X if Y is None else np.asarray(Y)
        if X.ndim == 3:
            m = cls(X.shape[2], Y.shape[-1], n_layers=X.shape[0])
        else:
            m = cls(X.shape[-1], Y.shape[-1])
        return m.update(X, Y)

    def _check_batch(self, X: Any, Y: Any) -> tuple[np.ndarray, np.ndarray]:
        same = Y is None or Y is X
        X = np.asarray(X, dtype=np.float64)
        Y = X if same else np.asarray(Y, dtype=np.float64)
        want = 2 if self.n_layers is None else 3
        if X.ndim != want or Y.ndim != want:
            shape = "(n, width)" if self.n_layers is None else "(n_layers, n, width)"
            raise ValueError(f"expected X and Y of shape {shape}, got {X.shape} and {Y.shape}")
        if X.shape[-1] != self.p or Y.shape[-1] != self.q:
            raise ValueError(f"widths {X.shape[-1]} and {Y.shape[-1]} do not match Moments({self.p}, {self.q})")
        if X.shape[-2] != Y.shape[-2]:
            raise ValueError(f"X has {X.shape[-2]} rows but Y has {Y.shape[-2]}: rows must be paired")
        if self.n_layers is not None and (X.shape[0] != self.n_layers or Y.shape[0] != self.n_layers):
            raise ValueError(f"expected {self.n_layers} layers, got {X.shape[0]} and {Y.shape[0]}")
        if not (np.isfinite(X).all() and np.isfinite(Y).all()):
            raise ValueError("X or Y contains NaN or Inf")
        return X, Y

    def update(self, X: Any, Y: Any | None = None) -> "Moments":
        """Fold a batch of paired rows into the statistics (in place).

        Parameters
        ----------
        X : array_like, shape (b, p), or (n_layers, b, p) when ``n_layers`` is set
            A batch of b rows of the first representation (b may be 0).
        Y : array_like, shape (b, q), or (n_layers, b, q), optional
            The paired rows of the second representation; defaults to X (only when p == q).

        Returns
        -------
        Moments
            ``self``, updated, so calls chain.

        Raises
        ------
        ValueError
            If X or Y is not 2-D (3-D with a layer axis), their widths are not (p, q), their row or layer
            counts differ, or they contain NaN or Inf. The statistics are then unchanged.
        """
        X, Y = self._check_batch(X, Y)
        b = X.shape[-2]
        if b == 0:
            return self
        part = Moments(self.p, self.q, n_layers=self.n_layers)
        part.n = b
        part.mean_x = X.mean(axis=-2)
        Xc = X - part.mean_x[..., None, :]
        XcT = np.swapaxes(Xc, -1, -2)
        part.sxx = XcT @ Xc
        if Y is X:  # auto-moments: one product serves all three sums
            part.mean_y, part.syy, part.sxy = part.mean_x, part.sxx, part.sxx
        else:
            part.mean_y = Y.mean(axis=-2)
            Yc = Y - part.mean_y[..., None, :]
            part.syy = np.swapaxes(Yc, -1, -2) @ Yc
            part.sxy = XcT @ Yc
        return self.merge(part)

    def merge(self, other: "Moments") -> "Moments":
        """Merge the statistics of another, disjoint set of rows into these (in place, exact).

        Uses the pairwise update of Chan, Golub and LeVeque (1979) given in the module docstring.

        Parameters
        ----------
        other : Moments
            Statistics of other rows, with the same ``p``, ``q`` and ``n_layers``; not modified.

        Returns
        -------
        Moments
            ``self``, now the statistics of both sets of rows.

        Raises
        ------
        ValueError
            If ``other`` has different widths or a different layer axis.
        """
        if (other.p, other.q, other.n_layers) != (self.p, self.q, self.n_layers):
            raise ValueError(
                f"cannot merge Moments(p={other.p}, q={other.q}, n_layers={other.n_layers}) into "
                f"Moments(p={self.p}, q={self.q}, n_layers={self.n_layers})"
            )
        if other.n == 0:
            return self
        if self.n == 0:
            self.n = other.n
            for name in ("mean_x", "mean_y", "sxx", "syy", "sxy"):
                setattr(self, name, np.array(getattr(other, name), dtype=np.float64, copy=True))
            return self
        n = self.n + other.n
        dx = other.mean_x - self.mean_x
        dy = other.mean_y - self.mean_y
        w = self.n * other.n / n
        self.sxx += other.sxx + w * dx[..., :, None] * dx[..., None, :]
        self.syy += other.syy + w * dy[..., :, None] * dy[..., None, :]
        self.sxy += other.sxy + w * dx[..., :, None] * dy[..., None, :]
        self.mean_x += dx * (other.n / n)
        self.mean_y += dy * (other.n / n)
        self.n = n
        return self

    # ------------------------------------------------------------------ reading
    def _population(self, s: np.ndarray) -> np.ndarray:
        if self.n == 0:
            raise ValueError("no rows have been added to these Moments")
        return s / self.n

    def cov_xx(self) -> np.ndarray:
        """Covariance of X, Sxx / n (population convention).

        Returns
        -------
        ndarray of float64, shape (p, p) or (n_layers, p, p)
            A new array; entry (i, j) is the covariance of neurons i and j of X.

        Raises
        ------
        ValueError
            If no rows have been added.
        """
        return self._population(self.sxx)

    def cov_yy(self) -> np.ndarray:
        """Covariance of Y, Syy / n (population convention).

        Returns
        -------
        ndarray of float64, shape (q, q) or (n_layers, q, q)
            A new array; entry (i, j) is the covariance of neurons i and j of Y.

        Raises
        ------
        ValueError
            If no rows have been added.
        """
        return self._population(self.syy)

    def cov_xy(self) -> np.ndarray:
        """Cross-covariance of X and Y, Sxy / n (population convention).

        Returns
        -------
        ndarray of float64, shape (p, q) or (n_layers, p, q)
            A new array; entry (i, j) is the covariance of neuron i of X with neuron j of Y.

        Raises
        ------
        ValueError
            If no rows have been added.
        """
        return self._population(self.sxy)

    def layer(self, index: int) -> "Moments":
        """The statistics of one layer, as a single-layer :class:`Moments` (a view, not a copy).

        Parameters
        ----------
        index : int
            Position on the layer axis, 0 <= index < n_layers (negative counts from the end).

        Returns
        -------
        Moments
            Without a layer axis, with the same ``n``; its arrays are views into these, not copies.

        Raises
        ------
        ValueError
            If these moments have no layer axis.
        IndexError
            If ``index`` is out of range.
        """
        if self.n_layers is None:
            raise ValueError("these Moments have no layer axis")
        one = Moments(self.p, self.q)
        one.n = self.n
        for name in ("mean_x", "mean_y", "sxx", "syy", "sxy"):
            setattr(one, name, getattr(self, name)[index])
        return one

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike) -> Path:
        """Write the statistics to ``path`` (.npz) atomically: a temporary file, then a rename.

        Parameters
        ----------
        path : path-like
            Target file, written as given (no ``.npz`` suffix is added); missing folders are created.

        Returns
        -------
        Path
            ``path``.
        """
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(
                fh,
                n=self.n, p=self.p, q=self.q,
                n_layers=-1 if self.n_layers is None else self.n_layers,
                mean_x=self.mean_x, mean_y=self.mean_y, sxx=self.sxx, syy=self.syy, sxy=self.sxy,
            )
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Moments":
        """Read statistics written by :meth:`save`.

        Parameters
        ----------
        path : path-like
            A file written by :meth:`save`.

        Returns
        -------
        Moments
            New statistics equal to the saved ones (arrays in float64).
        """
        with np.load(path, allow_pickle=False) as z:
            n_layers = int(z["n_layers"])
            m = cls(int(z["p"]), int(z["q"]), n_layers=None if n_layers < 0 else n_layers)
            m.n = int(z["n"])
            for name in ("mean_x", "mean_y", "sxx", "syy", "sxy"):
                setattr(m, name, z[name].astype(np.float64))
        return m

    def __repr__(self) -> str:
        layers = "" if self.n_layers is None else f", n_layers={self.n_layers}"
        return f"Moments(p={self.p}, q={self.q}{layers}, n={self.n})"

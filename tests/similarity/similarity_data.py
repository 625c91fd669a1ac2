"""Test data for the similarity indices: paired data with planted shared structure, textbook references."""

from __future__ import annotations

import numpy as np


def make_pair(n: int, p: int, q: int, *, shared: int = 3, noise: float = 0.7, seed: int = 0, offset: float = 5.0):
    """X (n, p) and Y (n, q) sharing a ``shared``-dimensional latent, with a non-zero mean."""
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(n, shared))
    X = Z @ rng.normal(size=(shared, p)) + noise * rng.normal(size=(n, p)) + offset
    Y = Z @ rng.normal(size=(shared, q)) + noise * rng.normal(size=(n, q)) - offset
    return X, Y


def orthogonal(d: int, seed: int) -> np.ndarray:
    Q, R = np.linalg.qr(np.random.default_rng(seed).normal(size=(d, d)))
    return Q * np.sign(np.diag(R))


def centred(A):
    return A - A.mean(0)


def canonical_correlations_qr(X, Y):
    """Björck and Golub (1973): the singular values of Qx^T Qy for orthonormal bases of the centred data.

    Also returns the left singular vectors and Qx, for building canonical variates.
    """
    Qx, _ = np.linalg.qr(centred(X))
    Qy, _ = np.linalg.qr(centred(Y))
    U, s, Vt = np.linalg.svd(Qx.T @ Qy, full_matrices=False)
    return s, U, Vt.T, Qx, Qy

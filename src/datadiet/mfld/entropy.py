"""Kozachenko–Leonenko k-nearest-neighbour estimate of differential entropy H(μ) = −∫ μ log μ.

MFLD minimizes F(μ) + λ·Ent(μ) with Ent(μ) = ∫ μ log μ = −H(μ); the particles are (approximately) draws
from μ, so H is estimated from them without a density.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import InputError

_BLOCK_ELEMENTS = 1 << 22  # distance block size (floats) for large particle sets


def knn_entropy(X, k: int = 1) -> float:
    """H ≈ ψ(N) − ψ(k) + log V_p + (p/N) Σ_i log ε_i, ε_i = distance from X_i to its k-th neighbour.

    Parameters
    ----------
    X : array of shape (N, p), N > k
        Samples (particles) of a distribution on R^p.
    k : int, default=1
        Neighbour order; larger k lowers the variance and raises the bias.

    Notes
    -----
    Kozachenko & Leonenko (1987); Kraskov, Stögbauer, Grassberger (2004), eq. (20). V_p = π^{p/2}/Γ(p/2+1)
    is the volume of the unit ball. O(N² p) time in blocks of rows; exact duplicates get ε clipped to
    the smallest positive float (an estimate of −∞ is useless to a log).
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise InputError(f"knn_entropy: X must have shape (N, p); got shape {X.shape}")
    N, p = X.shape
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise InputError(f"knn_entropy: k={k!r} must be a positive integer")
    if N <= k:
        raise InputError(f"knn_entropy: need more than k={k} samples; got N={N}")
    if not np.isfinite(X).all():
        raise InputError("knn_entropy: X contains NaN or infinite values")
    eps = _kth_neighbour_distance(X, k)
    log_eps = np.log(np.maximum(eps, np.finfo(np.float64).tiny))
    log_vp = 0.5 * p * math.log(math.pi) - math.lgamma(0.5 * p + 1)
    return float(_digamma_int(N) - _digamma_int(k) + log_vp + p * log_eps.mean())


def _kth_neighbour_distance(X: np.ndarray, k: int) -> np.ndarray:
    """Euclidean distance of each row to its k-th nearest other row, shape (N,)."""
    N = X.shape[0]
    sq = np.einsum("ij,ij->i", X, X)
    out = np.empty(N)
    rows = max(1, _BLOCK_ELEMENTS // N)
    for s in range(0, N, rows):
        e = min(N, s + rows)
        D = sq[s:e, None] + sq[None, :] - 2.0 * (X[s:e] @ X.T)
        D[np.arange(e - s), np.arange(s, e)] = np.inf  # not its own neighbour
        out[s:e] = np.partition(D, k - 1, axis=1)[:, k - 1]
    return np.sqrt(np.maximum(out, 0.0))


def _digamma_int(m: int) -> float:
    """ψ(m) for a positive integer: −γ + Σ_{j<m} 1/j (exact, no scipy needed)."""
    return -0.5772156649015329 + float(np.sum(1.0 / np.arange(1, m))) if m > 1 else -0.5772156649015329


def gaussian_entropy(cov) -> float:
    """Closed form H(N(m, Σ)) = ½ log det(2πe Σ), the test oracle for :func:`knn_entropy`."""
    cov = np.atleast_2d(np.asarray(cov, dtype=np.float64))
    sign, logdet = np.linalg.slogdet(2 * math.pi * math.e * cov)
    if sign <= 0:
        raise InputError("gaussian_entropy: covariance must be positive definite")
    return 0.5 * float(logdet)

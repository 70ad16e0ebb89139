"""Probabilists' Hermite polynomials He_k and Gaussian expectations by Gauss–Hermite quadrature.

He_k are orthogonal under N(0, 1) with E[He_j He_k] = k! δ_jk, so He_k/√(k!) is an orthonormal basis
of L²(N(0, 1)): the information exponent of a target is the lowest k with a nonzero coefficient.
"""

from __future__ import annotations

import itertools
import math
from typing import Callable

import numpy as np
from numpy.polynomial import hermite_e


def hermite(k: int, z):
    """He_k(z) by the three-term recurrence He_{k+1} = z He_k − k He_{k−1}."""
    if k < 0:
        raise ValueError(f"Hermite degree must be >= 0, got {k}")
    z = np.asarray(z, dtype=float)
    prev, cur = np.ones_like(z), z
    if k == 0:
        return prev
    for j in range(1, k):
        prev, cur = cur, z * cur - j * prev
    return cur


def hermite_normalized(k: int, z):
    """He_k(z)/√(k!): unit variance under N(0, 1)."""
    return hermite(k, z) / math.sqrt(math.factorial(k))


def gauss_hermite(order: int, dim: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Nodes (order**dim, dim) and weights summing to 1 for E_{z~N(0, I_dim)}[f(z)] by a tensor rule.

    Exact for polynomials of degree < 2·order in each coordinate.
    """
    x, w = hermite_e.hermegauss(order)
    w = w / w.sum()
    nodes = np.array(list(itertools.product(x, repeat=dim)))
    weights = np.prod(np.array(list(itertools.product(w, repeat=dim))), axis=1)
    return nodes, weights


def gaussian_expectation(fn: Callable[[np.ndarray], np.ndarray], dim: int = 1, order: int = 40) -> np.ndarray:
    """E_{z~N(0, I_dim)}[fn(z)] for fn mapping (m, dim) -> (m,) or (m, ...), by quadrature."""
    nodes, weights = gauss_hermite(order, dim)
    values = np.asarray(fn(nodes), dtype=float)
    return np.tensordot(weights, values, axes=(0, 0))

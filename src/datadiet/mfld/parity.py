"""k-sparse parity on the hypercube: y = Π_{i∈S} u_i for u uniform on {±1}^d, |S| = k (optionally rotated).

The MFLD parity paper (Suzuki, Wu, Oko, Nitanda, NeurIPS 2023) feeds z = u/√d ∈ {±1/√d}^d (``scale`` =
1/√d, the default); Barak et al. (2022) feed u itself (``scale=1``). The rotated variant feeds z = Q u/√d
for a fixed random orthogonal Q: the label is still a k-parity, now along k unknown directions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import InputError


@dataclass(frozen=True)
class SparseParity:
    """A k-sparse parity task: support S (k coordinates of u), input scale, optional rotation Q (d, d)."""

    d: int
    k: int
    support: tuple[int, ...]
    scale: float
    rotation: np.ndarray | None = None

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(Z, y): Z of shape (n, d) (float64), y in {−1, +1} of shape (n,)."""
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise InputError(f"sample: n={n!r} must be a positive integer")
        U = rng.choice(np.array([-1.0, 1.0]), size=(n, self.d))
        y = np.prod(U[:, list(self.support)], axis=1)
        Z = U * self.scale
        if self.rotation is not None:
            Z = Z @ self.rotation.T
        return Z, y

    def relevant_directions(self) -> np.ndarray:
        """Orthonormal rows (k, d) spanning the directions the label depends on (e_S, or Q e_S)."""
        E = np.eye(self.d)[list(self.support)]
        return E if self.rotation is None else E @ self.rotation.T


def sparse_parity(d: int, k: int, *, seed: int = 0, scale: float | None = None, rotated: bool = False,
                  random_support: bool = False) -> SparseParity:
    """Build the task: S = {0..k−1} (or a random k-subset with ``random_support``), Q random orthogonal if rotated.

    ``seed`` fixes S and Q (not the samples: :meth:`SparseParity.sample` takes its own generator).
    """
    for name, v in (("d", d), ("k", k)):
        if not isinstance(v, (int, np.integer)) or v < 1:
            raise InputError(f"--{name} {v!r} must be a positive integer")
    if k > d:
        raise InputError(f"--k {k} must not exceed --d {d}")
    if scale is None:
        scale = 1.0 / math.sqrt(d)
    if not scale > 0:
        raise InputError(f"scale={scale} must be positive")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7]))
    support = tuple(sorted(int(i) for i in rng.choice(d, size=k, replace=False))) if random_support \
        else tuple(range(k))
    Q = None
    if rotated:
        A = rng.standard_normal((d, d))
        Q, R = np.linalg.qr(A)
        Q = Q * np.sign(np.diag(R))[None, :]  # Haar-distributed orthogonal matrix
    return SparseParity(d=int(d), k=int(k), support=support, scale=float(scale), rotation=Q)


def hidden_progress(W: np.ndarray, directions: np.ndarray) -> float:
    """Share of first-layer weight mass on the relevant directions: ‖W Pᵀ‖_F² / ‖W‖_F², in [0, 1].

    At a rotation-invariant init this is ≈ k/d; Barak et al. (2022) show it grows during the loss plateau.
    """
    W = np.asarray(W, dtype=np.float64)
    total = float(np.sum(W * W))
    return float(np.sum((W @ np.asarray(directions).T) ** 2)) / total if total > 0 else 0.0

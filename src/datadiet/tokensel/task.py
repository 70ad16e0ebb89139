"""Synthetic token-selection tasks of Takakura & Suzuki (ICML 2023): the output depends on a token the input picks.

Single output:  X = (x_1..x_L), x_i ~ N(0, I_D);  j*(X) = argmax_i x_{i,0} (the winner's feature 0 is raised by
``gap`` so the choice is well separated at every L);  y = f(x_{j*}) + noise, with decaying feature importance
    f(z) = c sum_{k=1}^{D-1} k^{-alpha} sin(omega z_k),   c normalizing Var f(z) = 1.
Sequence to sequence:  y_i = g(x_i, x_{pi(i)}) = f(x_{pi(i)}) + 0.5 tanh(x_{i,1}), with pi(i) the token j != i whose
feature 0 is closest to x_{i,1} (each position picks its own partner from the input).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import InputError


@dataclass(frozen=True)
class TokenTask:
    """Task parameters; ``f`` and ``jstar`` are the ground truth used by oracles and tests."""

    D: int = 8  # token dimension (feature 0 selects, features 1..D-1 carry the signal)
    alpha: float = 1.0  # importance decay k^{-alpha} over features
    omega: float = 1.5  # frequency of the per-feature nonlinearity
    gap: float = 1.0  # added to the winner's feature 0
    noise: float = 0.1  # label noise std

    def __post_init__(self):
        if self.D < 2:
            raise InputError(f"token dimension D={self.D} must be at least 2 (one selecting feature + signal)")
        if self.alpha < 0 or self.omega <= 0 or self.gap < 0 or self.noise < 0:
            raise InputError(f"need alpha >= 0, omega > 0, gap >= 0, noise >= 0; got {self}")

    def weights(self) -> np.ndarray:
        """c k^{-alpha} for k = 1..D-1, normalized so Var f = 1 (Var sin(omega z) = (1 - e^{-2 omega^2}) / 2)."""
        a = np.arange(1, self.D, dtype=np.float64) ** (-self.alpha)
        var1 = (1 - math.exp(-2 * self.omega**2)) / 2
        return a / math.sqrt(var1 * float(a @ a))

    def f(self, z):
        """f(z) for tokens z (..., D) (numpy or torch): sum_k w_k sin(omega z_k)."""
        w = self.weights()
        try:
            import torch

            if isinstance(z, torch.Tensor):
                return torch.sin(self.omega * z[..., 1:]) @ torch.as_tensor(w, dtype=z.dtype, device=z.device)
        except ImportError:  # pragma: no cover
            pass
        return np.sin(self.omega * np.asarray(z)[..., 1:]) @ w

    def sample(self, n: int, L: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(X (n, L, D) float32, y (n,) float32, jstar (n,) int64)."""
        if n < 1 or L < 1:
            raise InputError(f"need n >= 1 and L >= 1; got n={n}, L={L}")
        X = rng.standard_normal((n, L, self.D))
        j = np.argmax(X[:, :, 0], axis=1)
        X[np.arange(n), j, 0] += self.gap
        y = self.f(X[np.arange(n), j]) + self.noise * rng.standard_normal(n)
        return X.astype(np.float32), y.astype(np.float32), j.astype(np.int64)

    def sample_seq2seq(self, n: int, L: int, rng: np.random.Generator):
        """(X (n, L, D), Y (n, L), pi (n, L)): y_i = f(x_{pi(i)}) + 0.5 tanh(x_{i,1}) + noise."""
        if n < 1 or L < 2:
            raise InputError(f"seq2seq needs n >= 1 and L >= 2; got n={n}, L={L}")
        X = rng.standard_normal((n, L, self.D))
        dist = np.abs(X[:, None, :, 0] - X[:, :, None, 1])  # (n, i, j): |x_{j,0} - x_{i,1}|
        dist[:, np.arange(L), np.arange(L)] = np.inf
        pi = np.argmin(dist, axis=2)
        partner = np.take_along_axis(X, pi[:, :, None], axis=1)
        Y = self.f(partner) + 0.5 * np.tanh(X[:, :, 1]) + self.noise * rng.standard_normal((n, L))
        return X.astype(np.float32), Y.astype(np.float32), pi.astype(np.int64)

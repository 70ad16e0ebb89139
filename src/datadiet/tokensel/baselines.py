"""Baselines that see the sequence as one flat vector of L*D numbers: an MLP and RBF kernel ridge."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..errors import InputError


class FlatMLP(nn.Module):
    """MLP on vec(X) in R^{L D}: has to learn j*(X) position by position, so it needs more data as L grows."""

    def __init__(self, L: int, D: int, width: int = 256, depth: int = 2):
        super().__init__()
        layers: list[nn.Module] = []
        fan = L * D
        for _ in range(depth):
            layers += [nn.Linear(fan, width), nn.GELU()]
            fan = width
        layers.append(nn.Linear(fan, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.net(X.reshape(X.shape[0], -1)).squeeze(-1)


def kernel_ridge(Xtr: np.ndarray, ytr: np.ndarray, Xte: np.ndarray, alphas=(1e-2, 1e-1, 1.0),
                 val_frac: float = 0.2, seed: int = 0) -> np.ndarray:
    """RBF kernel ridge on flattened sequences, gamma = 1 / (2 L D) (the median |x - x'|^2 is ~ 2 L D);
    ridge alpha chosen on a held-out split, then refit on all training data. Returns predictions on Xte."""
    from sklearn.kernel_ridge import KernelRidge

    A = np.asarray(Xtr, dtype=np.float64).reshape(len(Xtr), -1)
    B = np.asarray(Xte, dtype=np.float64).reshape(len(Xte), -1)
    y = np.asarray(ytr, dtype=np.float64)
    if A.shape[0] != y.shape[0] or A.shape[0] < 5:
        raise InputError(f"kernel ridge needs >= 5 training rows matching y; got {A.shape[0]} and {y.shape[0]}")
    gamma = 1.0 / (2 * A.shape[1])
    perm = np.random.default_rng(np.random.SeedSequence([seed, 3])).permutation(A.shape[0])
    nv = max(1, int(val_frac * A.shape[0]))
    va, tr = perm[:nv], perm[nv:]
    errs = []
    for a in alphas:
        m = KernelRidge(alpha=a, kernel="rbf", gamma=gamma).fit(A[tr], y[tr])
        errs.append(float(np.mean((m.predict(A[va]) - y[va]) ** 2)))
    best = alphas[int(np.argmin(errs))]
    return KernelRidge(alpha=best, kernel="rbf", gamma=gamma).fit(A, y).predict(B)

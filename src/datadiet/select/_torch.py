"""Torch state for the farthest-first engine: the same scores as the numpy state, on CPU or CUDA."""

from __future__ import annotations

import numpy as np

from ..errors import MissingDependencyError
from .maxmin import _BLOCK_ELEMENTS


class TorchState:
    """Mirror of ``maxmin._NumpyState`` on a torch device (see there for the score convention)."""

    def __init__(self, X: np.ndarray, metric: str, device: str | None = None):
        try:
            import torch
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise MissingDependencyError("torch", "torch", "backend='torch'") from exc
        self.torch = torch
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        self.X = torch.from_numpy(X).to(self.device)
        self.cosine = metric == "cosine"
        n = X.shape[0]
        self.sqnorm = None if self.cosine else (self.X * self.X).sum(dim=1)
        self.score = torch.full((n,), float("inf"), dtype=self.X.dtype, device=self.device)
        self._zero = -1.0 if self.cosine else 0.0

    def _dist(self, score: float) -> float:
        if score == float("inf"):
            return float("inf")
        return max(0.0, 1.0 + score) if self.cosine else float(np.sqrt(max(0.0, score)))

    def add(self, c: int) -> None:
        buf = self.X @ self.X[c]
        if self.cosine:
            buf.neg_()
        else:
            buf.mul_(-2).add_(self.sqnorm).add_(self.sqnorm[c])
        self.torch.minimum(self.score, buf, out=self.score)

    def add_many(self, centers: np.ndarray) -> None:
        idx = self.torch.as_tensor(centers, device=self.device)
        C = self.X[idx]
        rows = max(1, _BLOCK_ELEMENTS // max(1, len(centers)))
        for s in range(0, self.X.shape[0], rows):
            block = self.X[s : s + rows] @ C.T
            if self.cosine:
                best = -block.max(dim=1).values
            else:
                best = (self.sqnorm[s : s + rows, None] + self.sqnorm[idx][None, :] - 2 * block).min(dim=1).values
            self.score[s : s + rows] = self.torch.minimum(self.score[s : s + rows], best)

    def set_zero(self, idx) -> None:
        idx = self.torch.as_tensor(np.atleast_1d(idx), device=self.device)
        self.score[idx] = self.score[idx].clamp(max=self._zero)

    def exclude(self, i: int) -> None:
        self.score[i] = float("-inf")

    def distance_of(self, i: int) -> float:
        return self._dist(float(self.score[i]))

    def farthest(self) -> tuple[int, float]:
        # torch.argmax returns the first maximal index, as numpy does: ties go to the lowest index
        i = int(self.torch.argmax(self.score))
        return i, self._dist(float(self.score[i]))

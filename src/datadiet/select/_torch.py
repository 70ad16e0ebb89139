"""Torch state for the farthest-first engine: the same scores as the numpy state, on CPU or CUDA.

One large set keeps the device busy: each step is a single matrix-vector product over all n
rows (row blocks only when the rows are stored in float16/bfloat16, upcast block by block so
the accumulation is float32), an in-place running minimum and one argmax/threshold pass.
Half-precision storage halves the bytes read per step; the candidates near the top are
re-checked exactly (see _certify), so the selection is unchanged.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError, MissingDependencyError
from ._certify import score_tau
from .maxmin import _BLOCK_ELEMENTS

PRECISIONS = ("float32", "float16", "bfloat16")
_HALF_BLOCK = 1 << 16  # rows upcast per block in half-precision storage


class TorchState:
    """Mirror of ``maxmin._NumpyState`` on a torch device (see there for the score convention)."""

    def __init__(self, X: np.ndarray, metric: str, device: str | None = None, precision: str = "float32"):
        try:
            import torch
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise MissingDependencyError("torch", "torch", "backend='torch'") from exc
        if precision not in PRECISIONS:
            raise InputError(f"precision={precision!r} is not supported; use one of: {', '.join(PRECISIONS)}")
        self.torch = torch
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        self.precision = precision
        X32 = torch.from_numpy(X)
        self.half = precision != "float32"
        self.X = X32.to(self.device, dtype=getattr(torch, precision)) if self.half else X32.to(self.device)
        self.Xc = X  # float32 host rows: the centers are exact even when the stored rows are not
        self.cosine = metric == "cosine"
        n = X.shape[0]
        sq = np.einsum("ij,ij->i", X, X, dtype=np.float64)
        self.tau = score_tau(X.shape[1], float(sq.max()), float(sq.min()), metric, precision)
        self.sqnorm = None if self.cosine else torch.from_numpy(sq.astype(np.float32)).to(self.device)
        self.score = torch.full((n,), float("inf"), dtype=torch.float32, device=self.device)
        self._buf = torch.empty((n,), dtype=torch.float32, device=self.device)
        self._zero = -1.0 if self.cosine else 0.0

    def _dist(self, score: float) -> float:
        if score == float("inf"):
            return float("inf")
        return max(0.0, 1.0 + score) if self.cosine else float(np.sqrt(max(0.0, score)))

    def _matvec(self, c: int):
        v = self.torch.from_numpy(self.Xc[c]).to(self.device)
        if not self.half:
            return self.torch.mv(self.X, v, out=self._buf)
        for s in range(0, self.X.shape[0], _HALF_BLOCK):
            self.torch.mv(self.X[s : s + _HALF_BLOCK].float(), v, out=self._buf[s : s + _HALF_BLOCK])
        return self._buf

    def add(self, c: int) -> None:
        buf = self._matvec(c)
        if self.cosine:
            buf.neg_()
        else:
            buf.mul_(-2).add_(self.sqnorm).add_(self.sqnorm[c])
        self.torch.minimum(self.score, buf, out=self.score)

    def add_many(self, centers: np.ndarray) -> None:
        idx = self.torch.as_tensor(centers, device=self.device)
        C = self.torch.from_numpy(self.Xc[centers]).to(self.device)
        rows = max(1, _BLOCK_ELEMENTS // max(1, len(centers)))
        for s in range(0, self.X.shape[0], rows):
            block = self.X[s : s + rows].float() @ C.T
            if self.cosine:
                best = -block.max(dim=1).values
            else:
                best = (self.sqnorm[s : s + rows, None] + self.sqnorm[idx][None, :] - 2 * block).min(dim=1).values
            self.score[s : s + rows] = self.torch.minimum(self.score[s : s + rows], best)

    def set_zero(self, idx, owner=None) -> None:
        idx = self.torch.as_tensor(np.atleast_1d(idx), device=self.device)
        self.score[idx] = self.score[idx].clamp(max=self._zero)

    def exclude(self, i: int) -> None:
        self.score[i] = float("-inf")

    def distance_of(self, i: int) -> float:
        return self._dist(float(self.score[i]))

    def score_of(self, i: int) -> float:
        return float(self.score[i])

    def farthest(self) -> tuple[int, float]:
        # torch.argmax returns the first maximal index, as numpy does: ties go to the lowest index
        i = int(self.torch.argmax(self.score))
        return i, self._dist(float(self.score[i]))

    def candidates(self) -> np.ndarray:
        """Rows within 2*tau of the top score: the only ones that can be the exact farthest."""
        top = float(self.score.max())
        lo = top - 2 * self.tau if np.isfinite(top) else top
        return self.torch.nonzero(self.score >= lo).flatten().cpu().numpy()

    def snapshot(self) -> dict:
        return {"score": self.score.cpu().numpy()}

    def restore(self, snap: dict) -> None:
        self.score.copy_(self.torch.from_numpy(np.asarray(snap["score"], dtype=np.float32)))

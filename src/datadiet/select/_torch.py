"""Torch state for the farthest-first engine: the plain scan on CPU or CUDA.

One large set keeps the device busy: each pick is a single matrix-vector product over all n rows
(row blocks only when the rows are stored in float16/bfloat16, upcast block by block so the
accumulation is in the working precision), an in-place running minimum and one threshold pass.
Half-precision storage halves the bytes read per pick; its rounding is part of the scan bound
(``scores.scan_tau``), and the band is certified exactly on the host like every engine's.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError, MissingDependencyError
from . import scores
from .points import Points

_HALF_BLOCK = 1 << 16  # rows upcast per block in half-precision storage


class TorchState:
    """The engine state protocol of ``maxmin.greedy`` (see plain.PlainState) on a torch device."""

    labels = None

    def __init__(self, P: Points, device: str | None = None, precision: str = "float32"):
        try:
            import torch
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise MissingDependencyError("torch", "torch", "backend='torch'") from exc
        self.torch = torch
        self.device = torch.device(device if device is not None else ("cuda" if torch.cuda.is_available() else "cpu"))
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise InputError(f"device={device!r}: no CUDA device is available here; use device='cpu'")
        self.work = getattr(torch, P.dtype.name)  # float32 or float64
        self.half = precision != "float32"
        if self.half and P.dtype != np.float32:
            raise InputError(f"precision={precision!r} stores float32 working rows; drop dtype=float64")
        host = torch.from_numpy(P.rows)  # shares memory with the working rows
        self.X = host.to(self.device, dtype=getattr(torch, precision) if self.half else self.work)
        n, d = P.rows.shape
        # TF32 tensor cores round matmul operands to 10 bits where allowed: part of the bound, not ignored
        tf32 = self.device.type == "cuda" and P.dtype == np.float32 and (
            torch.backends.cuda.matmul.allow_tf32 or torch.get_float32_matmul_precision() != "highest")
        self.tau = scores.scan_tau(d, float(P.sqnorm.max()), P.dtype, precision, tf32=tf32)
        self.q = torch.from_numpy(P.sqnorm.astype(P.dtype)).to(self.device)
        self.score = torch.full((n,), float("inf"), dtype=self.work, device=self.device)
        self._buf = torch.empty((n,), dtype=self.work, device=self.device)
        self._host = P.rows

    def _matvec(self, v: np.ndarray):
        v = self.torch.from_numpy(np.ascontiguousarray(v)).to(self.device)
        if not self.half:
            return self.torch.mv(self.X, v, out=self._buf)
        for s in range(0, self.X.shape[0], _HALF_BLOCK):
            self.torch.mv(self.X[s : s + _HALF_BLOCK].to(self.work), v, out=self._buf[s : s + _HALF_BLOCK])
        return self._buf

    def add(self, v: np.ndarray, qv: float) -> None:
        buf = self._matvec(v)
        buf.mul_(-2).add_(self.q).add_(float(np.asarray(qv, dtype=self._host.dtype)))
        self.torch.minimum(self.score, buf, out=self.score)

    def add_many(self, C: np.ndarray, qc: np.ndarray) -> None:
        Ct = self.torch.from_numpy(np.ascontiguousarray(C)).to(self.device)
        qct = self.torch.from_numpy(qc.astype(self._host.dtype)).to(self.device)
        rows = max(1, (1 << 20) // max(1, C.shape[0]))
        for s in range(0, self.X.shape[0], rows):
            B = self.X[s : s + rows].to(self.work) @ Ct.T
            B.mul_(-2).add_(self.q[s : s + rows, None]).add_(qct[None, :])
            self.score[s : s + rows] = self.torch.minimum(self.score[s : s + rows], B.min(dim=1).values)

    def exclude(self, pos) -> None:
        idx = self.torch.as_tensor(np.atleast_1d(np.asarray(pos, dtype=np.int64)), device=self.device)
        self.score[idx] = float("-inf")

    def top(self) -> float:
        return float(self.score.max()) if self.score.numel() else float("-inf")

    def band(self, lo: float) -> np.ndarray:
        return self.torch.nonzero(self.score >= lo).flatten().cpu().numpy()

    def rows(self, pos: np.ndarray) -> np.ndarray:
        return self._host[pos]

    def position(self, i: int) -> int:
        return i

    def snapshot(self) -> dict:
        return {"score": self.score.cpu().numpy()}

    def restore(self, snap: dict) -> None:
        self.score.copy_(self.torch.from_numpy(np.asarray(snap["score"], dtype=self._host.dtype)))

    def finish(self) -> None:
        pass

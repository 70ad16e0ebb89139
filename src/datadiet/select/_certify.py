"""Certified argmax: every engine path returns the exact-arithmetic farthest point.

A working-precision score s~ (float32, or float16/bfloat16 storage) is within tau of the
exact score s of the same rows (rigorous floating-point bound, below). Every point whose s~
is below max(s~) - 2*tau is provably not the farthest; the few left in that band are
re-scored in float64 against all chosen centers, ties going to the lowest index. So the
pruned, half-precision, torch, sharded and resumed paths all pick the same indices.
"""

from __future__ import annotations

import math

import numpy as np

U32 = 2.0**-24
UNIT_ROUNDOFF = {"float32": 0.0, "float16": 2.0**-11, "bfloat16": 2.0**-8}
# Absolute error of storing a tiny value (subnormal spacing / 2); bfloat16 shares float32's range.
SUBNORMAL = {"float32": 0.0, "float16": 2.0**-25, "bfloat16": 0.0}


def score_tau(d: int, sqnorm_max: float, sqnorm_min: float, metric: str, precision: str = "float32") -> float:
    """Bound on |score~ - score| for one center, score = -x.c (cosine) or |x-c|^2 (euclidean).

    Dot product of length d in float32 (any summation order, FMA or not):
    |fl(x.c) - x.c| <= gamma_d sum|x_i c_i|, gamma_d = d u / (1 - d u), u = 2^-24 (Higham, Thm 3.5);
    storing x in half precision adds u_h sum|x_i c_i| + sub * sum|c_i|; sum|x_i c_i| <= M = max |x|^2.
    Under cosine the bound also covers |x|^2 != 1 after float32 normalization (distance 0 <-> score -1).
    """
    M = float(sqnorm_max)
    uh, sub = UNIT_ROUNDOFF[precision], SUBNORMAL[precision]
    gamma = (d + 2) * U32 / (1 - (d + 2) * U32)
    dot = (uh + gamma * (1 + uh)) * M + sub * math.sqrt(d * M)
    if metric == "cosine":
        tau = dot + 2 * U32 + max(abs(M - 1.0), abs(1.0 - float(sqnorm_min)))
    else:
        tau = 2 * dot + 8 * U32 * 4 * M
    return 1.01 * tau + 1e-12


class Certifier:
    """Exact (float64) scores of candidate rows against every chosen center, kept incrementally."""

    def __init__(self, X: np.ndarray, metric: str, capacity: int = 64):
        self.X = X
        self.cosine = metric == "cosine"
        self.C = np.empty((max(1, capacity), X.shape[1]), dtype=np.float64)
        self.m = 0
        self._keys: set[bytes] = set()
        self._exact: dict[int, float] = {}
        self._upto: dict[int, int] = {}
        self.clamp = -1.0 if self.cosine else 0.0

    def add_vector(self, v: np.ndarray) -> None:
        if self.m == self.C.shape[0]:
            self.C = np.concatenate([self.C, np.empty_like(self.C)])
        self.C[self.m] = v
        self.m += 1
        self._keys.add(_key(v))

    def is_copy_of_chosen(self, row: np.ndarray) -> bool:
        """Bit-identical to a chosen center: its distance is exactly 0 by convention."""
        return _key(row) in self._keys

    def scores(self, cand: np.ndarray, rows: np.ndarray, ids: np.ndarray | None = None) -> np.ndarray:
        """float64 score of each candidate (cosine: -max x.c, euclidean: min |x-c|^2), copies -> clamp.

        Lazy: a row's exact score is kept with the number of centers it covers, so a point that
        stays near the top is only compared with the centers added since its last check.
        """
        if self.m == 0:
            return np.full(rows.shape[0], np.inf)
        ids = cand if ids is None else ids  # stable row ids for the cache (rows may be re-sorted)
        upto = np.array([self._upto.get(int(i), 0) for i in ids], dtype=np.int64)
        best = np.array([self._exact.get(int(i), np.inf) for i in ids])
        lo = int(upto.min())
        if lo < self.m:
            P = np.asarray(rows, dtype=np.float64)
            C = self.C[lo : self.m]
            G = (C @ P.T).T  # matrix-vector shaped: faster than P @ C.T for a few rows
            if self.cosine:
                S = -G
            else:
                S = np.einsum("ij,ij->i", P, P)[:, None] + np.einsum("ij,ij->i", C, C)[None, :] - 2 * G
            S[np.arange(self.m - lo)[None, :] < (upto - lo)[:, None]] = np.inf  # already covered
            best = np.minimum(best, S.min(axis=1))
            for i, b in zip(ids.tolist(), best.tolist()):
                self._exact[i], self._upto[i] = b, self.m
        out = best.copy()
        first: dict[bytes, float] = {}
        for j in range(rows.shape[0]):
            key = _key(rows[j])
            if key in self._keys:
                out[j] = min(out[j], self.clamp)
            # bit-identical rows tie exactly (BLAS may round them differently): one score per row value
            out[j] = first.setdefault(key, out[j])
        return out

    def pick(self, cand: np.ndarray, rows: np.ndarray, labels: np.ndarray | None = None) -> tuple[int, float]:
        """(index, exact score) of the best candidate; ties to the lowest label (default: index)."""
        if cand.size == 1:
            return int(cand[0]), float("nan")
        s = self.scores(cand, rows, labels)
        best = s.max()
        if labels is None:
            return int(cand[s == best].min()), float(best)
        tied = np.flatnonzero(s == best)
        return int(cand[tied[np.argmin(labels[tied])]]), float(best)

    def distance(self, score: float, row: np.ndarray) -> float:
        if self.is_copy_of_chosen(row):
            return 0.0
        if score == np.inf:
            return np.inf
        return max(0.0, 1.0 + score) if self.cosine else float(np.sqrt(max(0.0, score)))


def _key(row: np.ndarray) -> bytes:
    return (np.asarray(row, dtype=np.float32) + np.float32(0)).tobytes()  # -0.0 == 0.0

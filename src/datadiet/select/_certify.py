"""Certified argmax: every engine path returns the exact-arithmetic farthest point.

A working-precision score s~ (float32, or float16/bfloat16 storage) is within tau of the
exact score s of the same rows (rigorous floating-point bound, below). Every point whose s~
is below max(s~) - 2*tau is provably not the farthest; the few left in that band get their
exact score against all chosen centers, correctly rounded to float64, ties going to the lowest
index. The value depends on the row and the centers alone (not on the batch, the BLAS kernel or
the rank), so the pruned, half-precision, torch, sharded and resumed paths all pick the same indices.
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
    """Exact scores of candidate rows against every chosen center, kept incrementally.

    A score is the correctly rounded float64 value of the exact-arithmetic one (see exact_score),
    so it depends on the row and the centers only: never on which rows share a batch, on the
    BLAS kernel, or on the rank that computes it. Exact ties between distinct rows (common in
    count-like embeddings) therefore stay ties, and go to the lowest index on every path.
    """

    def __init__(self, X: np.ndarray, metric: str, capacity: int = 64):
        self.X = X
        self.cosine = metric == "cosine"
        # centers in the rows' own precision (they are rows): the prefilter product reads half the
        # bytes of float64 on float32 rows, and exact_score still sees their exact values
        self.C = np.empty((max(1, capacity), X.shape[1]), dtype=X.dtype)
        self._unit = 2.0**-24 if X.dtype == np.float32 else 2.0**-53
        self.Csq = np.empty(self.C.shape[0])
        self.m = 0
        self._keys: set[bytes] = set()
        # per row id: its exact score against the first _upto[id] centers (fixed size, no growth)
        self._best = np.full(X.shape[0], np.inf)
        self._upto = np.zeros(X.shape[0], dtype=np.int64)
        self.clamp = -1.0 if self.cosine else 0.0

    def add_vector(self, v: np.ndarray) -> None:
        if self.m == self.C.shape[0]:
            self.C = np.concatenate([self.C, np.empty_like(self.C)])
            self.Csq = np.concatenate([self.Csq, np.empty_like(self.Csq)])
        self.C[self.m] = v
        c = self.C[self.m].astype(np.float64)
        self.Csq[self.m] = c @ c
        self.m += 1
        self._keys.add(_key(v))

    def is_copy_of_chosen(self, row: np.ndarray) -> bool:
        """Bit-identical to a chosen center: its distance is exactly 0 by convention."""
        return _key(row) in self._keys

    def scores(self, cand: np.ndarray, rows: np.ndarray, ids: np.ndarray | None = None) -> np.ndarray:
        """Exact score of each candidate (cosine: -max x.c, euclidean: min |x-c|^2), copies -> clamp.

        Lazy: a row's exact score is kept with the number of centers it covers, so a point that
        stays near the top is only compared with the centers added since its last check.
        """
        if self.m == 0:
            return np.full(rows.shape[0], np.inf)
        ids = cand if ids is None else ids  # stable row ids for the cache (rows may be re-sorted)
        best, upto = self._best[ids], self._upto[ids]
        for lo in np.unique(upto[upto < self.m]).tolist():  # one product per cache age
            g = np.flatnonzero(upto == lo)
            best[g] = self._extend(np.asarray(rows)[g], lo, best[g])
        self._best[ids], self._upto[ids] = best, self.m
        # a copy of a chosen center scores exactly -|x|^2 (cosine) or 0: only such rows need the key test
        low = best <= (-(1 - 1e-9) * np.einsum("ij,ij->i", rows, rows, dtype=np.float64) if self.cosine else 0.0)
        for j in np.flatnonzero(low).tolist():
            if _key(rows[j]) in self._keys:
                best[j] = min(best[j], self.clamp)
        return best

    def _extend(self, rows: np.ndarray, lo: int, best: np.ndarray) -> np.ndarray:
        """min(best, exact scores against centers lo..m-1): BLAS finds the few centers that can
        attain the minimum, exact_score settles them."""
        C = self.C[lo : self.m]
        P = np.asarray(rows, dtype=C.dtype)
        # matrix-vector shaped (faster than P @ C.T for a few rows), accumulated in the rows' precision
        S = (C @ P.T).T.astype(np.float64)
        psq = np.einsum("ij,ij->i", P, P, dtype=np.float64)
        S *= -1 if self.cosine else -2
        if not self.cosine:
            S += psq[:, None] + self.Csq[None, lo : self.m]
        # |S - exact| <= err for every pair (dot product: gamma_d sum|x_i c_i|, Higham Thm 3.5; the
        # (d + 4) also covers the float64 sums of the euclidean form and exact_score's rounding), so
        # only centers within 2 err of the row's minimum can attain it
        M = max(float(psq.max()), float(self.Csq[lo : self.m].max()))
        err = product_error(C.shape[1], self._unit, M if self.cosine else 4 * M)
        near = S <= np.minimum(best, S.min(axis=1))[:, None] + 2 * err
        out = best.copy()
        for r, c in zip(*np.nonzero(near)):
            out[r] = min(out[r], exact_score(rows[r], self.C[lo + c], self.cosine))
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


def product_error(d: int, unit: float, scale: float) -> float:
    """Bound on |computed - exact| for a score built from one length-d dot product in precision
    `unit` (2^-24 float32, 2^-53 float64) plus a few float64 sums: gamma_{d+4} * scale, with
    scale >= sum|x_i c_i| (M for -x.c, 4 M for |x|^2 + |c|^2 - 2 x.c; Higham, Thm 3.5)."""
    nu = (d + 4) * unit
    return 1.01 * nu / (1 - nu) * scale


def exact_score(row: np.ndarray, center: np.ndarray, cosine: bool) -> float:
    """-x.c or |x|^2 + |c|^2 - 2 x.c, correctly rounded to float64.

    Rows and centers are float32 values, so every product x_i c_i (48 significant bits) is
    exact in float64, and math.fsum adds them with one final rounding. (float64 rows, from
    maxmin(dtype=np.float64): the products round, but the value still depends on x and c alone.)
    """
    x = np.asarray(row, dtype=np.float64)
    c = np.asarray(center, dtype=np.float64)
    if cosine:
        return -math.fsum((x * c).tolist())
    return math.fsum(np.concatenate([x * x, c * c, -2 * x * c]).tolist())


def _key(row: np.ndarray) -> bytes:
    return (np.asarray(row, dtype=np.float32) + np.float32(0)).tobytes()  # -0.0 == 0.0

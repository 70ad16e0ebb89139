"""The plain scan: every row's score against a new center by one matrix-vector product per pick.

Bound by memory bandwidth (all of X is read once per pick); the default below
``params.PRUNE_FROM`` rows, where one pass costs less than the pruned engine's bookkeeping. There it
reads a transposed copy of the rows (see ``_TRANSPOSE_BYTES``): memory is two copies of X, not one.
"""

from __future__ import annotations

import numpy as np

from . import params, scores
from .points import Points

# Rows per block when a step needs a (rows x centers) matrix: bounds extra memory to ~4 MB.
_BLOCK_ELEMENTS = 1 << 20
# Below params.PRUNE_FROM rows (where the plain scan is the default) and up to this many bytes, the
# scan reads a transposed copy of the rows (d x n): OpenBLAS's v @ X^T kernel (contiguous n-long
# axpys) measured 1.4-2.2x faster than X @ v at 11k-49k rows and 64-384 dimensions. Larger inputs keep
# the one working copy (memory O(n d) with a small constant matters more there).
_TRANSPOSE_BYTES = 256 << 20
# Bands up to this many rows are found by argmax passes (one pass per row, then one more).
_NARROW = 6


class PlainState:
    """score[i] = scan score of row i against its nearest chosen center (-inf: out of the running).

    Implements the engine state protocol used by ``maxmin.greedy``: add / add_many / exclude /
    top / band / rows / position / snapshot / restore, with ``tau`` the scan error bound. It also
    keeps each row's nearest center (``assign``, its index in the order of the centers) and its
    second-smallest scan score: where that is more than 2 tau above the smallest, no other center
    can be the exact nearest one, and the row's exact score needs one refined pair (``nearest_of``)
    instead of a pass over every center. That costs three passes over n scores per pick (the rows a
    new center comes nearest to are found once and updated by index), which saves far more than it
    costs once k is a fair share of n.
    """

    def __init__(self, P: Points, track: bool = True):
        self.X = P.rows
        self.track = track
        n, d = self.X.shape
        self.labels = None  # rows are never re-sorted: position == row index
        dt = self.X.dtype
        self._rows_ro = self.X.view()
        self._rows_ro.flags.writeable = False
        self.q = P.sqnorm.astype(dt)
        # cosine: unit rows, |x|^2 within delta of 1, so the score is kept as -x.c (one product per
        # pick, no additions): |x - c|^2 = 2 + 2 score up to 2 delta. tau is in the score's own units.
        self.unit = P.metric == "cosine"
        self._factor = dt.type(-1 if self.unit else -2)  # -(x.c) or -2 x.c: both scalings are exact
        self.XT = None  # the transposed rows, pre-scaled by the factor, where they are worth a copy
        if n < params.PRUNE_FROM and self.X.nbytes <= _TRANSPOSE_BYTES:
            self.XT = np.array(self.X.T, order="C")  # a copy even where X.T is contiguous (n or d = 1)
            self.XT *= self._factor
        if self.unit:
            delta = float(np.abs(P.sqnorm - 1).max(initial=0.0)) * (1 + 1e-9) + 4 * scores.gamma(d, scores.U64)
            self.tau = scores.unit_scan_tau(d, delta, dt)
        else:
            self.tau = scores.scan_tau(d, float(P.sqnorm.max(initial=0.0)), dt)
        self.score = np.full(n, np.inf, dtype=dt)
        self.second = np.full(n, np.inf, dtype=dt)
        self.assign = np.full(n, -1, dtype=np.int32)
        self.m = 0  # centers applied
        self._buf = np.empty(n, dtype=dt)

    def add(self, v: np.ndarray, qv: float) -> None:
        if self.XT is None:
            buf = np.matmul(self.X, self._factor * v, out=self._buf)
        else:
            buf = np.matmul(v, self.XT, out=self._buf)
        if not self.unit:
            buf += self.q
            buf += self.X.dtype.type(qv)
        score = self.score
        if not self.track:
            np.minimum(score, buf, out=score)
        else:  # three passes: the rows the new center comes nearest to are few after the first picks
            closer = (buf < score).nonzero()[0]
            second = self.second
            np.minimum(second, buf, out=second)  # second smallest of the union...
            second[closer] = score[closer]  # ...is the old smallest where the new center is nearer
            self.assign[closer] = self.m
            score[closer] = buf[closer]
        self.m += 1

    def add_many(self, C: np.ndarray, qc: np.ndarray) -> None:
        """Several centers at once (an existing subset): one block product instead of k scans."""
        qc = qc.astype(self.X.dtype)
        rows = max(1, _BLOCK_ELEMENTS // max(1, C.shape[0]))
        for s in range(0, self.X.shape[0], rows):
            B = self.X[s : s + rows] @ C.T
            if self.unit:
                np.negative(B, out=B)
            else:
                B *= -2
                B += self.q[s : s + rows, None]
                B += qc[None, :]
            arg = B.argmin(axis=1)
            two = np.partition(B, 1, axis=1)[:, :2] if C.shape[0] > 1 else np.concatenate(
                [B, np.full_like(B, np.inf)], axis=1)
            sl = slice(s, s + rows)
            old = self.score[sl]
            self.second[sl] = np.minimum(np.minimum(self.second[sl], two[:, 1]), np.maximum(old, two[:, 0]))
            lower = two[:, 0] < old
            self.assign[sl][lower] = self.m + arg[lower]
            self.score[sl] = np.minimum(old, two[:, 0])
        self.m += C.shape[0]

    def nearest_of(self, i: int) -> int:
        """Row i's nearest center (index in the centers' order) where it is the only one that can be the
        exact nearest, else -1 (always -1 without tracking). Scalar operations: this runs once per pick."""
        if not self.track:
            return -1
        return int(self.assign[i]) if float(self.second[i]) > float(self.score[i]) + 2 * self.tau else -1

    def band_of_top(self, two_tau: float) -> list[int]:
        """Rows whose scan score is within two_tau of the top (the top row alone, most picks). Narrow
        bands are found by repeated argmax passes, which cost less than a threshold pass."""
        score = self.score
        if not score.size:
            return []
        i = int(score.argmax())
        top = float(score[i])
        if top == -np.inf:
            return []
        lo = top - two_tau if top < np.inf else top
        band, kept = [i], [top]
        score[i] = -np.inf
        while len(band) < _NARROW:
            j = int(score.argmax())
            s = float(score[j])
            if s < lo:
                break
            band.append(j)
            kept.append(s)
            score[j] = -np.inf
        for j, s in zip(band, kept):
            score[j] = s
        if len(band) == _NARROW:  # a wide band: one threshold pass
            band = np.flatnonzero(score >= lo).tolist()
        return band

    def exclude(self, pos) -> None:
        self.score[pos] = -np.inf

    def top(self) -> float:
        return float(self.score.max()) if self.score.size else -np.inf

    def band(self, lo: float) -> np.ndarray:
        return np.flatnonzero(self.score >= lo)

    def rows(self, pos) -> np.ndarray:
        return self.X[pos]

    def row(self, i: int) -> np.ndarray:
        """Row i's working vector (a read-only view: the rows never change while the state lives)."""
        return self._rows_ro[i]

    def position(self, i: int) -> int:
        return i

    def snapshot(self) -> dict:
        return {"score": self.score, "second": self.second, "assign": self.assign, "m": np.int64(self.m)}

    def restore(self, snap: dict) -> None:
        self.score[:] = snap["score"]
        self.second[:] = snap["second"]
        self.assign[:] = snap["assign"]
        self.m = int(snap["m"])

    def finish(self) -> None:
        pass

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
    """score[j] = scan score of the j-th row in the running against its nearest chosen center.

    Implements the engine state protocol used by ``maxmin.greedy``: add / add_many / exclude /
    top / band / rows / position / snapshot / restore, with ``tau`` the scan error bound. It also
    keeps each row's nearest center (``assign``, its index in the order of the centers) and its
    second-smallest scan score: where that is more than 2 tau above the smallest, no other center
    can be the exact nearest one, and the row's exact score needs one refined pair (``nearest_of``)
    instead of a pass over every center. That costs three passes over the scores per pick (the rows a
    new center comes nearest to are found once and updated by index), which saves far more than it
    costs once k is a fair share of n.

    Where the scan reads a transposed copy of the rows (below ``params.PRUNE_FROM`` rows), that copy
    and the per-row arrays hold only the rows still in the running: ``live[j]`` is the row index of
    slot j, ``slot[i]`` row i's slot (-1 once dropped). Chosen rows and waiting copies are dropped
    whenever they are a 32nd of the slots (in place, moving as many columns as were dropped: about one
    scan's cost), so a scan reads ~25% fewer rows on average at k = n/2. Positions seen by the loop
    stay row indices (``labels`` is None); slot order carries no meaning (ties go by row index).
    """

    def __init__(self, P: Points, track: bool = True):
        self.X = P.rows
        self.track = track
        n, d = self.X.shape
        self.n = n
        self.labels = None  # positions are row indices
        dt = self.X.dtype
        self._rows_ro = self.X.view()
        self._rows_ro.flags.writeable = False
        self.q = P.sqnorm.astype(dt)
        # cosine: unit rows, |x|^2 within delta of 1, so the score is kept as -x.c (one product per
        # pick, no additions): |x - c|^2 = 2 + 2 score up to 2 delta. tau is in the score's own units.
        self.unit = P.metric == "cosine"
        self._factor = dt.type(-1 if self.unit else -2)  # -(x.c) or -2 x.c: both scalings are exact
        self.compacts = n < params.PRUNE_FROM and self.X.nbytes <= _TRANSPOSE_BYTES
        if self.unit:
            delta = float(np.abs(P.sqnorm - 1).max(initial=0.0)) * (1 + 1e-9) + 4 * scores.gamma(d, scores.U64)
            self.tau = scores.unit_scan_tau(d, delta, dt)
        else:
            self.tau = scores.scan_tau(d, float(P.sqnorm.max(initial=0.0)), dt)
        self.m = 0  # centers applied
        self._arrays(np.arange(n), np.full(n, np.inf, dtype=dt), np.full(n, np.inf, dtype=dt),
                     np.full(n, -1, dtype=np.int32))

    def _arrays(self, live: np.ndarray, score, second, assign) -> None:
        """Hold the slots `live` (row indices) with their scores; build the transposed copy of their rows
        where the scan reads one."""
        self.live, self.score, self.second, self.assign = live, score, second, assign
        self.slot = np.full(self.n, -1, dtype=np.int64)
        self.slot[live] = np.arange(live.size)
        self.dead = 0  # slots out of the running (score -inf) since the last compaction
        self.q_live = self.q[live].copy() if self.compacts else self.q
        self._buf = np.empty(live.size, dtype=self.X.dtype)
        self.XT = None  # the transposed rows, pre-scaled by the factor, where they are worth a copy
        if self.compacts:
            XT = np.empty((self.X.shape[1], live.size), dtype=self.X.dtype)
            for s in range(0, live.size, 4096):  # gathered in blocks: no temporary of the whole matrix
                XT[:, s : s + 4096] = self.X[live[s : s + 4096]].T
            XT *= self._factor
            self.XT = XT

    def _compact(self) -> None:
        """Drop the slots out of the running: the live slots past the new end fill the holes before it
        (slot order carries no meaning: ties are settled on row indices), so the cost is one pass over
        the scores plus moving as many columns as were dropped; the arrays become views of their first
        columns."""
        m = self.score.size
        dead = np.flatnonzero(self.score == -np.inf)
        end = m - dead.size
        holes = dead[dead < end]
        movers = end + np.flatnonzero(self.score[end:] > -np.inf)
        self.slot[self.live[dead]] = -1
        for a in (self.score, self.second, self.assign, self.live, self.q_live):
            a[holes] = a[movers]
        self.XT[:, holes] = self.XT[:, movers]
        self.slot[self.live[holes]] = holes
        self.score, self.second, self.assign = self.score[:end], self.second[:end], self.assign[:end]
        self.live, self.q_live, self._buf = self.live[:end], self.q_live[:end], self._buf[:end]
        self.XT = self.XT[:, :end]
        self.dead = 0

    def add(self, v: np.ndarray, qv: float) -> None:
        if self.XT is None:
            buf = np.matmul(self.X, self._factor * v, out=self._buf)
        else:
            buf = np.matmul(v, self.XT, out=self._buf)
        if not self.unit:
            buf += self.q_live
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
        for s in range(0, self.live.size, rows):
            sl = slice(s, s + rows)
            if self.XT is not None:  # the copy is pre-scaled by the factor (exactly: -1 or -2)
                B = self.XT[:, sl].T @ C.T
            else:
                B = self.X[sl] @ C.T
                B *= self._factor
            if not self.unit:
                B += self.q_live[sl, None]
                B += qc[None, :]
            arg = B.argmin(axis=1)
            two = np.partition(B, 1, axis=1)[:, :2] if C.shape[0] > 1 else np.concatenate(
                [B, np.full_like(B, np.inf)], axis=1)
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
        j = self.slot[i]
        return int(self.assign[j]) if float(self.second[j]) > float(self.score[j]) + 2 * self.tau else -1

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
            return self.live[score >= lo].tolist()
        live = self.live
        return [int(live[j]) for j in band]

    def exclude(self, pos) -> None:
        """Take rows (indices) out of the running."""
        if isinstance(pos, (int, np.integer)):  # one row: the pick loop's call
            j = int(self.slot[pos])
            if j < 0:
                return
            self.score[j] = -np.inf
            self.dead += 1
        else:
            j = self.slot[pos]
            j = j[j >= 0]
            self.score[j] = -np.inf
            self.dead += j.size
        if self.compacts and self.dead * 32 >= self.live.size and self.live.size >= 256:
            self._compact()

    def top(self) -> float:
        return float(self.score.max()) if self.score.size else -np.inf

    def band(self, lo: float) -> np.ndarray:
        """Rows (ascending) with scan score >= lo."""
        return np.sort(self.live[self.score >= lo])

    def rows(self, pos) -> np.ndarray:
        return self.X[pos]

    def row(self, i: int) -> np.ndarray:
        """Row i's working vector (a read-only view: the rows never change while the state lives)."""
        return self._rows_ro[i]

    def position(self, i: int) -> int:
        return i

    def snapshot(self) -> dict:
        """Per row of X (dropped rows: score -inf), so a checkpoint does not depend on when rows were dropped."""
        full = {"score": np.full(self.n, -np.inf, dtype=self.score.dtype),
                "second": np.full(self.n, np.inf, dtype=self.second.dtype),
                "assign": np.full(self.n, -1, dtype=np.int32)}
        for key, arr in full.items():
            arr[self.live] = getattr(self, key)
        return dict(full, m=np.int64(self.m))

    def restore(self, snap: dict) -> None:
        score = np.asarray(snap["score"], dtype=self.score.dtype)
        live = np.flatnonzero(score > -np.inf) if self.compacts else np.arange(self.n)
        self._arrays(live, score[live].copy(), np.asarray(snap["second"], dtype=self.second.dtype)[live].copy(),
                     np.asarray(snap["assign"], dtype=np.int32)[live].copy())
        self.m = int(snap["m"])

    def finish(self) -> None:
        pass

"""Farthest-first with triangle-inequality pruning (cells of nearest centers).

Each point x keeps its nearest chosen center s(x) (its cell) and its scan score (within tau of
|x - s|^2, see ``scores.scan_tau``). A cell's radius R_s = sqrt(cmax_s + tau) bounds |x - s| for its
points (cmax_s: the cell's largest score). When a center c arrives, a cell with |s - c| >= 2 R_s
cannot change: every x in it has |x - c| >= |s - c| - |x - s| >= R_s >= |x - s|, so c is nowhere its
nearest center and its exact score stays what it was. Only the other cells are read. Cell maxima give
the top score in O(#cells) instead of O(n); the picks are certified like every engine's (``certify``).
Scores are squared chords |x - c|^2 of working rows under both metrics (unit rows under cosine).
"""

from __future__ import annotations

import numpy as np

from . import scores
from .points import Points

_BLOCK = 64  # rows per block: the unit read when any of its points must be re-scored
# Cell counts at which the rows are re-sorted by cell, so a cell's points share blocks.
_REORDER_AT = (32, 256, 2048)


class PrunedState:
    """The engine state protocol of ``maxmin.greedy`` (see plain.PlainState), with cells.

    Rows of ``P.rows`` are re-sorted in place by cell while it runs (``labels`` maps positions to row
    indices); ``finish`` puts them back in their original order.
    """

    def __init__(self, P: Points):
        X = self.X = P.rows
        n, d = X.shape
        self.sqnorm = P.sqnorm.astype(X.dtype)  # permuted with the rows
        self.M = float(P.sqnorm.max())
        self.tau = scores.scan_tau(d, self.M, X.dtype)
        self.score = np.full(n, np.inf, dtype=X.dtype)
        self.assign = np.zeros(n, dtype=np.int32)
        # cell 0: the points before any center (radius inf, never skipped)
        self.members: list[np.ndarray] = [np.arange(n, dtype=np.int64)]
        # centers in working precision: the center-to-center product is read every pick, at half
        # the bytes of float64; its error is bounded below (_center_err) and taken off before a skip
        self.C = np.zeros((64, d), dtype=X.dtype)
        self.Csq = np.zeros(64)
        # |s - c|^2 from a product in the working precision is within this of the exact value
        self._center_err = 1.01 * (2 * scores.gamma(d, scores.unit_of(X.dtype)) * self.M
                                   + 4 * (scores.gamma(d, scores.U64) + 4 * scores.U64) * self.M)
        self.cmax = np.full(64, -np.inf)
        self.cmax[0] = np.inf
        self.nfull = n // _BLOCK
        self._mark = np.zeros(self.nfull + 1, dtype=bool)
        self._pos = np.zeros(self.nfull + 1, dtype=np.int64)
        self.labels = np.arange(n, dtype=np.int64)  # original index of each (re-sorted) row
        self._inverse = None  # row index -> position, rebuilt after a re-sort
        self._sorted_at = 0
        self.examined = 0  # points whose score had to be recomputed (pruning statistics)
        self.computed = 0  # rows read, whole blocks
        self.steps = 0

    # --- cells -----------------------------------------------------------------------------
    def _new_cell(self, v: np.ndarray, qv: float, members: np.ndarray, cmax: float) -> int:
        j = len(self.members)
        if j == self.C.shape[0]:
            self.C = np.concatenate([self.C, np.zeros_like(self.C)])
            self.Csq = np.concatenate([self.Csq, np.zeros_like(self.Csq)])
            self.cmax = np.concatenate([self.cmax, np.full(self.cmax.size, -np.inf)])
        self.C[j], self.Csq[j], self.cmax[j] = v, qv, cmax
        self.members.append(members)
        return j

    def _radius(self, cmax: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return np.sqrt(np.maximum(cmax + self.tau, 0.0))

    def _values(self, idx: np.ndarray, xc: np.ndarray, qc: float) -> np.ndarray:
        """Scan scores of the rows idx against center xc, read in whole blocks."""
        blk = idx // _BLOCK
        self._mark[blk] = True
        ids = np.flatnonzero(self._mark)
        self._mark[ids] = False
        self._pos[ids] = np.arange(ids.size)
        if ids.size * _BLOCK * 2 > self.X.shape[0]:  # little to skip: one streaming pass is cheaper
            out = np.matmul(self.X, xc)[idx]
            self.computed += self.X.shape[0]
            return self._finish(out, idx, qc)
        bv = np.empty(ids.size * _BLOCK, dtype=self.X.dtype)
        full = ids[ids < self.nfull]
        # rows are sorted by cell, so the blocks to read come in runs: one product per run, no copy
        cuts = np.flatnonzero(np.diff(full) != 1) + 1
        starts = np.concatenate(([0], cuts)).tolist()
        ends = np.concatenate((cuts, [full.size])).tolist()
        for a, b in zip(starts, ends):
            if a == b:
                continue
            lo = int(full[a]) * _BLOCK
            np.matmul(self.X[lo : lo + (b - a) * _BLOCK], xc, out=bv[a * _BLOCK : b * _BLOCK])
        if full.size < ids.size:  # the last, partial block
            tail = self.X[self.nfull * _BLOCK :]
            np.matmul(tail, xc, out=bv[full.size * _BLOCK : full.size * _BLOCK + tail.shape[0]])
        out = bv[self._pos[blk] * _BLOCK + idx % _BLOCK]
        self.computed += ids.size * _BLOCK
        return self._finish(out, idx, qc)

    def _finish(self, out: np.ndarray, idx: np.ndarray, qc: float) -> np.ndarray:
        """Dot products -> scan scores, formed as the plain engine forms them (same bound)."""
        out *= -2
        out += self.sqnorm[idx]
        out += self.X.dtype.type(qc)
        self.examined += idx.size
        return out

    def _reorder(self) -> None:
        """Sort rows by cell (in place, O(d) extra memory) so later cells are read in few blocks."""
        perm = np.argsort(self.assign, kind="stable")
        inv = np.empty_like(perm)
        inv[perm] = np.arange(perm.size)
        self._permute(perm)
        self.members = [inv[m] for m in self.members]

    def _permute(self, perm: np.ndarray) -> None:
        """Row i becomes row perm[i] of X and of every per-row array."""
        _permute_rows(self.X, perm)
        self.score[:] = self.score[perm]
        self.assign[:] = self.assign[perm]
        self.labels[:] = self.labels[perm]
        self.sqnorm[:] = self.sqnorm[perm]
        self._inverse = None

    # --- engine interface (see maxmin.greedy) ------------------------------------------------
    def add(self, v: np.ndarray, qv: float) -> None:
        nc = len(self.members)
        # |s - c|^2 from products in the working precision, lowered by their error bound: a lower
        # bound on the true center distance, so a skipped cell is one the new center cannot reach
        D2 = self.Csq[:nc] + qv - 2 * (self.C[:nc] @ v).astype(np.float64)
        D = np.sqrt(np.maximum(D2 - self._center_err, 0.0))
        alive = self.cmax[:nc] > -np.inf
        skip = D >= 2 * self._radius(self.cmax[:nc])
        skip[0] = False
        U = np.flatnonzero(alive & ~skip)
        lists = [self.members[u] for u in U]
        lens = np.array([a.size for a in lists], dtype=np.int64)
        idx = np.concatenate(lists) if lists else np.empty(0, dtype=np.int64)
        vals = self._values(idx, v, qv)
        old = self.score[idx]
        better = vals < old
        moved = idx[better]
        self.score[moved] = vals[better]
        j = self._new_cell(v, qv, moved, float(vals[better].max()) if moved.size else -np.inf)
        self.assign[moved] = j
        keep = ~better
        seg = np.repeat(np.arange(U.size), lens)[keep]
        kept, kept_s = idx[keep], old[keep]
        counts = np.bincount(seg, minlength=U.size)
        for u, part in zip(U, np.split(kept, np.cumsum(counts)[:-1])):
            self.members[u] = part
        cm = np.full(U.size, -np.inf)
        nz = np.flatnonzero(counts)
        if nz.size:
            starts = np.concatenate(([0], np.cumsum(counts)[:-1]))[nz]
            cm[nz] = np.maximum.reduceat(kept_s, starts)
        self.cmax[U] = cm
        self.steps += 1

    def exclude(self, pos) -> None:
        """Take rows out of the running (a chosen row, or copies waiting for their vector)."""
        pos = np.atleast_1d(np.asarray(pos, dtype=np.int64))
        cells = np.unique(self.assign[pos])
        self.score[pos] = -np.inf
        for j in cells.tolist():
            m = self.members[j]
            m = m[self.score[m] > -np.inf]
            self.members[j] = m
            self.cmax[j] = (np.inf if j == 0 else self.score[m].max()) if m.size else -np.inf
        if len(self.members) in _REORDER_AT and self._sorted_at != len(self.members):
            self._sorted_at = len(self.members)
            self._reorder()  # after the pick is fully recorded: positions change here only

    def top(self) -> float:
        nc = len(self.members)
        top = float(self.cmax[:nc].max())
        if top == np.inf:  # cell 0 (no center yet) has no tracked maximum
            m0 = self.members[0]
            return float(self.score[m0].max()) if m0.size else float(self.cmax[1:nc].max(initial=-np.inf))
        return top

    def band(self, lo: float) -> np.ndarray:
        """Positions with scan score >= lo, in increasing row index."""
        nc = len(self.members)
        cells = np.flatnonzero(self.cmax[:nc] >= lo)
        if cells.size == 0:
            return np.empty(0, dtype=np.int64)
        idx = np.concatenate([self.members[u] for u in cells])
        idx = idx[self.score[idx] >= lo]
        return idx[np.argsort(self.labels[idx], kind="stable")]

    def rows(self, pos: np.ndarray) -> np.ndarray:
        return self.X[pos]

    def position(self, i: int) -> int:
        if self._inverse is None:
            self._inverse = np.empty_like(self.labels)
            self._inverse[self.labels] = np.arange(self.labels.size)
        return int(self._inverse[i])

    def finish(self) -> None:
        """Put the rows back in their original order (the Points object is shared)."""
        self._permute(np.argsort(self.labels, kind="stable"))

    # --- checkpoints -------------------------------------------------------------------------
    def snapshot(self) -> dict:
        nc = len(self.members)
        return {"score": self.score, "assign": self.assign, "C": self.C[:nc], "Csq": self.Csq[:nc],
                "labels": self.labels, "examined": np.int64(self.examined), "computed": np.int64(self.computed),
                "steps": np.int64(self.steps)}

    def restore(self, snap: dict) -> None:
        self._permute(np.asarray(snap["labels"], dtype=np.int64))  # rows come in original order
        self.score[:] = snap["score"]
        self.assign[:] = snap["assign"]
        C, Csq = snap["C"], snap["Csq"]
        self.members = [np.empty(0, dtype=np.int64)]
        self.cmax[:] = -np.inf
        live = np.flatnonzero(self.score > -np.inf)
        order = live[np.argsort(self.assign[live], kind="stable")]
        bounds = np.searchsorted(self.assign[order], np.arange(len(C) + 1))
        self.members[0] = order[bounds[0] : bounds[1]]
        self.cmax[0] = np.inf if self.members[0].size else -np.inf
        for j in range(1, len(C)):
            part = order[bounds[j] : bounds[j + 1]]
            self._new_cell(C[j], float(Csq[j]), part, float(self.score[part].max()) if part.size else -np.inf)
        self.examined, self.computed, self.steps = int(snap["examined"]), int(snap["computed"]), int(snap["steps"])
        self._sorted_at = max([c for c in _REORDER_AT if c <= len(self.members)], default=0)


def _permute_rows(X: np.ndarray, perm: np.ndarray) -> None:
    """X[:] = X[perm] in place by following cycles (one row of scratch instead of a copy of X)."""
    seen = np.zeros(perm.size, dtype=bool)
    seen[perm == np.arange(perm.size)] = True
    tmp = np.empty(X.shape[1], dtype=X.dtype)
    for s in np.flatnonzero(~seen).tolist():
        if seen[s]:
            continue
        tmp[:] = X[s]
        j = s
        while True:
            seen[j] = True
            p = int(perm[j])
            if p == s:
                X[j] = tmp
                break
            X[j] = X[p]
            j = p

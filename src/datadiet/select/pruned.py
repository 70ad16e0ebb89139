"""Exact farthest-first with triangle-inequality pruning (cells of nearest centers).

Each point x keeps its nearest chosen center s(x) (its cell) and score~ (float32, see
_certify). A cell's radius R_s bounds |x - s| for its points (from the cell's largest score).
When a center c arrives, a cell with |s - c| >= 2 R_s + sqrt(G) cannot change: every x in it
has |x - c| >= |x - s| + sqrt(G), and G covers the float32 error of both scores, so the plain
update min(score, score(x, c)) would leave it unchanged too. Only the other cells are read.
Cell maxima give the argmax in O(#cells) instead of O(n). On unit vectors |x - c| is the chord
sqrt(2 - 2 cos), a metric that orders points as cosine distance does.
"""

from __future__ import annotations

import numpy as np

from ._certify import product_error, score_tau

_BLOCK = 64  # rows per block: the unit read when any of its points must be re-scored
# Cell counts at which the rows are re-sorted by cell, so a cell's points share blocks.
_REORDER_AT = (32, 256, 2048)


class PrunedState:
    def __init__(self, X: np.ndarray, metric: str):
        self.X = X
        n, d = X.shape
        self.cosine = metric == "cosine"
        sq = np.einsum("ij,ij->i", X, X, dtype=np.float64)
        self.sqnorm = None if self.cosine else sq.astype(X.dtype)
        self.M = float(sq.max())
        self.tau = score_tau(d, self.M, float(sq.min()), metric)
        # |x-c|^2 - |x-s|^2 must exceed G (in squared-distance units) for a skip to be exact
        self.G = (4 * self.tau + 2 * (self.M - float(sq.min()))) if self.cosine else 2 * self.tau
        self.score = np.full(n, np.inf, dtype=X.dtype)
        self.assign = np.zeros(n, dtype=np.int32)
        # cell 0: the points before any center (radius inf, never skipped)
        self.members: list[np.ndarray] = [np.arange(n, dtype=np.int64)]
        self.center = [-1]
        # centers in working precision: the center-to-center product is read every pick, at half
        # the bytes of float64; its error is bounded below (_center_err) and taken off before a skip
        self.C = np.zeros((64, d), dtype=X.dtype)
        self.Csq = np.zeros(64)
        self._center_err = product_error(d, 2.0**-24, 4 * self.M)
        self.cmax = np.full(64, -np.inf)
        self.cmax[0] = np.inf
        self.nfull = n // _BLOCK
        self._mark = np.zeros(self.nfull + 1, dtype=bool)
        self._pos = np.zeros(self.nfull + 1, dtype=np.int64)
        self.labels = np.arange(n, dtype=np.int64)  # original index of each (re-sorted) row
        self._sorted_at = 0
        self.examined = 0  # points whose score had to be recomputed (pruning statistics)
        self.computed = 0  # rows read, whole blocks
        self.steps = 0

    # --- cells -----------------------------------------------------------------------------
    def _new_cell(self, c: int, members: np.ndarray, cmax: float) -> int:
        j = len(self.members)
        if j == self.C.shape[0]:
            self.C = np.concatenate([self.C, np.zeros_like(self.C)])
            self.Csq = np.concatenate([self.Csq, np.zeros_like(self.Csq)])
            self.cmax = np.concatenate([self.cmax, np.full(self.cmax.size, -np.inf)])
        v = self.X[c].astype(np.float64)
        self.C[j], self.Csq[j], self.cmax[j] = self.X[c], v @ v, cmax
        self.members.append(members)
        self.center.append(c)
        return j

    def _radius(self, cmax: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            r2 = 2 * self.M + 2 * (cmax + self.tau) if self.cosine else cmax + self.tau
        return np.sqrt(np.maximum(r2, 0.0))

    def _values(self, idx: np.ndarray, c: int) -> np.ndarray:
        """score(x, c) for x in idx, same float32 formula as the plain engine, read in whole blocks."""
        xc = self.X[c].copy()
        blk = idx // _BLOCK
        self._mark[blk] = True
        ids = np.flatnonzero(self._mark)
        self._mark[ids] = False
        self._pos[ids] = np.arange(ids.size)
        if ids.size * _BLOCK * 2 > self.X.shape[0]:  # little to skip: one streaming pass is cheaper
            out = np.matmul(self.X, xc)[idx]
            self.computed += self.X.shape[0]
            return self._finish(out, idx, c)
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
        return self._finish(out, idx, c)

    def _finish(self, out: np.ndarray, idx: np.ndarray, c: int) -> np.ndarray:
        """Dot products -> scores, as the plain engine forms them."""
        if self.cosine:
            np.negative(out, out=out)
        else:
            out *= -2
            out += self.sqnorm[idx]
            out += self.sqnorm[c]
        self.examined += idx.size
        return out

    def _reorder(self) -> None:
        """Sort rows by cell (in place, O(d) extra memory) so later cells are read in few blocks."""
        perm = np.argsort(self.assign, kind="stable")
        inv = np.empty_like(perm)
        inv[perm] = np.arange(perm.size)
        self._permute(perm)
        self.members = [inv[m] for m in self.members]
        self.center = [int(inv[c]) if c >= 0 else -1 for c in self.center]

    def _permute(self, perm: np.ndarray) -> None:
        """Row i becomes row perm[i] of X and of every per-row array."""
        _permute_rows(self.X, perm)
        self.score[:] = self.score[perm]
        self.assign[:] = self.assign[perm]
        self.labels[:] = self.labels[perm]
        if self.sqnorm is not None:
            self.sqnorm[:] = self.sqnorm[perm]

    # --- engine interface --------------------------------------------------------------------
    def add(self, c: int) -> None:
        nc = len(self.members)
        v = self.X[c].astype(np.float64)
        # |s - c|^2 in float32 products, lowered by their error bound: a lower bound on the true distance
        D2 = self.Csq[:nc] + v @ v - 2 * (self.C[:nc] @ self.X[c]).astype(np.float64)
        D = np.sqrt(np.maximum(D2 - self._center_err, 0.0))
        alive = self.cmax[:nc] > -np.inf
        R = self._radius(self.cmax[:nc])
        skip = D >= 2 * R + np.sqrt(self.G)
        skip[0] = False
        U = np.flatnonzero(alive & ~skip)
        lists = [self.members[u] for u in U]
        lens = np.array([a.size for a in lists], dtype=np.int64)
        idx = np.concatenate(lists) if lists else np.empty(0, dtype=np.int64)
        vals = self._values(idx, c)
        old = self.score[idx]
        better = vals < old
        moved = idx[better]
        self.score[moved] = vals[better]
        j = self._new_cell(c, moved, float(vals[better].max()) if moved.size else -np.inf)
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

    def exclude(self, i: int) -> None:
        j = int(self.assign[i])
        m = self.members[j]
        self.members[j] = m[m != i]
        self.score[i] = -np.inf
        self.cmax[j] = self.score[self.members[j]].max() if self.members[j].size else -np.inf
        if len(self.members) in _REORDER_AT and self._sorted_at != len(self.members):
            self._sorted_at = len(self.members)
            self._reorder()  # after the pick is fully recorded: positions change here only

    def candidates(self) -> np.ndarray:
        nc = len(self.members)
        top = self.cmax[:nc].max()
        lo = top - 2 * self.tau if np.isfinite(top) else top
        cells = np.flatnonzero(self.cmax[:nc] >= lo)
        idx = np.concatenate([self.members[u] for u in cells])
        return np.sort(idx[self.score[idx] >= lo])

    def score_of(self, i: int) -> float:
        return float(self.score[i])

    # --- checkpoints -------------------------------------------------------------------------
    def snapshot(self) -> dict:
        return {"score": self.score, "assign": self.assign, "center": np.asarray(self.center, dtype=np.int64),
                "labels": self.labels, "examined": np.int64(self.examined), "computed": np.int64(self.computed),
                "steps": np.int64(self.steps)}

    def restore(self, snap: dict) -> None:
        self._permute(np.asarray(snap["labels"], dtype=np.int64))  # rows come in original order
        self.score[:] = snap["score"]
        self.assign[:] = snap["assign"]
        centers = snap["center"]
        self.members = [np.empty(0, dtype=np.int64)]
        self.center = [-1]
        self.cmax[:] = -np.inf
        live = np.flatnonzero(np.isfinite(self.score) | (self.score == np.inf))
        live = live[self.score[live] > -np.inf]
        order = live[np.argsort(self.assign[live], kind="stable")]
        bounds = np.searchsorted(self.assign[order], np.arange(len(centers) + 1))
        self.members[0] = order[bounds[0] : bounds[1]]
        self.cmax[0] = np.inf if self.members[0].size else -np.inf
        for j in range(1, len(centers)):
            part = order[bounds[j] : bounds[j + 1]]
            self._new_cell(int(centers[j]), part, float(self.score[part].max()) if part.size else -np.inf)
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

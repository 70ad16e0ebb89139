"""Certified picks: the exact-arithmetic farthest row among an engine's band of candidates.

An engine's scan score is within tau of the exact one (``scores.scan_tau``), so the exact argmax is
among the rows scanned within 2 tau of the top: the *band*. Usually the band is one row and that is
the pick. Otherwise each band row gets its refined float64 score against every chosen center (kept
per row with the number of centers it covers, so a row that stays near the top is only compared with
new centers); the rows whose refined scores cannot be told apart by their error bound are compared
exactly in integers, and exact ties go to the lowest index. No decision rests on rounding, so every
engine, batch, BLAS kernel, CPU and rank makes the same picks.
"""

from __future__ import annotations

import numpy as np

from . import scores


class Certifier:
    """Chosen centers and, per row id, the refined score against the first ``upto[id]`` of them."""

    def __init__(self, dtype, d: int, n_ids: int, capacity: int = 64):
        self.C = np.empty((max(1, capacity), d), dtype=dtype)
        self.qc = np.empty(self.C.shape[0])
        self.m = 0
        self._val = np.full(n_ids, np.inf)
        self._upto = np.zeros(n_ids, dtype=np.int64)
        self.eps = scores.refine_eps(d)
        self.abs = scores.refine_abs(d, dtype)

    def add_center(self, v: np.ndarray, q: float) -> None:
        if self.m == self.C.shape[0]:
            self.C = np.concatenate([self.C, np.empty_like(self.C)])
            self.qc = np.concatenate([self.qc, np.empty_like(self.qc)])
        self.C[self.m], self.qc[self.m] = v, q
        self.m += 1

    def values(self, ids: np.ndarray, rows: np.ndarray, q: np.ndarray) -> np.ndarray:
        """Refined score of each row against every center (relative error <= eps, + abs)."""
        val, upto = self._val[ids], self._upto[ids]
        for lo in np.unique(upto[upto < self.m]).tolist():  # one prefilter product per cache age
            g = np.flatnonzero(upto == lo)
            fresh = scores.nearest(rows[g], q[g], self.C[lo : self.m], self.qc[lo : self.m])
            val[g] = np.minimum(val[g], fresh)
        self._val[ids], self._upto[ids] = val, self.m
        return val

    def best(self, ids: np.ndarray, rows: np.ndarray, q: np.ndarray, labels: np.ndarray,
             values: np.ndarray | None = None) -> tuple[int, float]:
        """(position in ids, refined score) of the exact farthest row; ties to the lowest label.
        `values`: the rows' refined scores where the caller has them already."""
        v = self.values(ids, rows, q) if values is None else values
        c = contenders(v, self.eps, self.abs)
        if c.size == 1:
            return int(c[0]), float(v[c[0]])
        if self.abs == 0 and v[c[0]] == 0:  # float32 rows: a refined 0 is an exact 0, all tie
            j = c[np.argmin(labels[c])]
            return int(j), 0.0
        exact = [self.exact(rows[j], q[j]) for j in c.tolist()]
        top = max(exact)
        tied = c[[e == top for e in exact]]
        j = tied[np.argmin(labels[tied])]
        return int(j), float(v[j])

    def exact(self, row: np.ndarray, q: float) -> int:
        """The row's exact score against all centers (an integer, see scores.exact_value)."""
        _, cand = scores.nearest(row[None], np.array([q]), self.C[: self.m], self.qc[: self.m], candidates=True)
        return min(scores.exact_value(row, self.C[c]) for c in cand[0].tolist())


def _clear_best(v: np.ndarray, eps: float, absb: float) -> int | None:
    """The position of the one value that beats every other by more than the refine bound, else None
    (then ``Certifier.best`` decides, exactly). Plain Python: bands hold a handful of rows."""
    vals = v.tolist()
    top = max(vals)
    lower = top * (1 - eps) - absb
    ahead = [j for j, x in enumerate(vals) if x * (1 + eps) + absb >= lower]
    return ahead[0] if len(ahead) == 1 else None


def contenders(v: np.ndarray, eps: float, absb: float) -> np.ndarray:
    """Positions whose refined value may be the exact maximum (upper bound >= the best lower bound)."""
    top = v.max()
    if top == np.inf:
        return np.flatnonzero(v == np.inf)
    lower = top * (1 - eps) - absb
    return np.flatnonzero(v * (1 + eps) + absb >= lower)


def trace(rows: np.ndarray, q: np.ndarray, picks: np.ndarray, prior: np.ndarray,
          hints: list[tuple[float | None, int]] | None = None) -> np.ndarray:
    """Refined score of each pick against everything chosen before it (inf for a first point).

    hints[j] = (value, center) from the pick loop: the refined value itself where it was computed
    already, else the index (in prior + picks order) of the only center that can be the nearest
    one, else (None, -1): those picks are scored against every earlier center.
    """
    order = np.concatenate([prior, picks]).astype(np.int64)
    C, qc = rows[order], q[order]
    if hints is None:
        return trace_of(C, qc, prior.size)
    out = np.full(picks.size, np.nan)
    known = np.array([v is not None for v, _ in hints], dtype=bool)
    out[known] = [v for v, _ in hints if v is not None]
    center = np.array([c for _, c in hints], dtype=np.int64)
    one = ~known & (center >= 0)
    if one.any():
        out[one] = scores.refine(rows[picks[one]], C[center[one]])
    rest = np.flatnonzero(~known & ~one)
    if rest.size:
        out[rest] = scores.nearest(rows[picks[rest]], q[picks[rest]], C, qc, limit=prior.size + rest)
    return out


def trace_of(C: np.ndarray, qc: np.ndarray, n_prior: int) -> np.ndarray:
    """trace() from the chosen vectors themselves, in order (the first n_prior are the prior subset)."""
    limit = n_prior + np.arange(C.shape[0] - n_prior)
    return scores.nearest(C[n_prior:], qc[n_prior:], C, qc, limit=limit)


class Picker:
    """The single-process argmax of ``maxmin.greedy``: band from the engine, certified here.

    After each pick, ``hint(state, i)`` gives what the trace needs of row i: (refined value or None,
    the only center that can be its nearest or -1).
    """

    def __init__(self, sqnorm: np.ndarray, tau: float, dtype, d: int, capacity: int):
        self.cert = Certifier(dtype, d, sqnorm.size, capacity)
        self.q = sqnorm
        self.tau = tau
        self._last: tuple[int, float | None] = (-1, None)

    def add_center(self, v: np.ndarray, qv: float) -> None:
        self.cert.add_center(v, qv)

    def pick(self, state) -> int | None:
        """The row index of the exact farthest row in the running (ties: lowest index), None if none."""
        if hasattr(state, "band_of_top"):
            return self._pick_tracked(state)
        top = state.top()
        if top == -np.inf:
            return None
        band = state.band(top - 2 * self.tau if top < np.inf else top)
        return self._settle(state, band, None)

    def _pick_tracked(self, state) -> int | None:
        """pick() on a state whose rows keep their nearest center (plain.PlainState: position = row
        index). Scalar Python for the usual band of one to a few rows: numpy calls on tiny arrays cost more."""
        band = state.band_of_top(2 * self.tau)
        if not band:
            return None
        if len(band) == 1 or self.cert.m == 0:
            return min(band)
        near = [state.nearest_of(p) for p in band]
        rows = state.rows(band)
        if -1 not in near:  # one refined pair per row
            values = scores.refine(rows, self.cert.C[near])
            j = _clear_best(values, self.cert.eps, self.cert.abs)
            if j is not None:  # the common case: one row is ahead by more than the refine bound
                self._last = (band[j], float(values[j]))
                return band[j]
        else:  # a pair where the nearest center is clear, a pass over the centers elsewhere
            ids, a = np.array(band), np.array(near)
            one = a >= 0
            values = np.empty(ids.size)
            values[one] = scores.refine(rows[one], self.cert.C[a[one]])
            values[~one] = self.cert.values(ids[~one], rows[~one], self.q[ids[~one]])
        return self._settle(state, np.array(band), values)

    def _settle(self, state, band: np.ndarray, values: np.ndarray | None) -> int:
        """The exact farthest row of a band (positions); `values`: their refined scores, if known."""
        ids = band if state.labels is None else state.labels[band]
        if band.size == 1 or self.cert.m == 0:
            return int(ids.min())
        rows = state.rows(band)
        j, v = self.cert.best(ids, rows, self.q[ids], ids, values)
        self._last = (int(ids[j]), v)
        return int(ids[j])

    def hint(self, state, i: int) -> tuple[float | None, int]:
        if self._last[0] == i:
            return self._last[1], -1
        if hasattr(state, "nearest_of"):
            return None, state.nearest_of(state.position(i))
        return None, -1

    def covering(self, state) -> float:
        """Refined score of the farthest row in the running (0 when none is left: all are chosen or copies)."""
        i = self.pick(state)
        if i is None:
            return 0.0
        value, center = self.hint(state, i)
        if value is not None:
            return value
        pos = np.array([state.position(i)])
        if center >= 0:
            return float(scores.refine(state.rows(pos), self.cert.C[[center]])[0])
        return float(self.cert.values(np.array([i]), state.rows(pos), self.q[[i]])[0])

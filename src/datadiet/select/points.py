"""The working rows of a selection: validated once, converted once, shared by engine, metrics and plot.

Every exactness statement of ``select`` is about these rows (``Points.rows``), not about the input:

- ``metric="euclidean"``: W = RN(X * 2^-s), the input rounded to the working precision after one global
  power-of-two scaling s that brings max|X| into [0.5, 1). Distances are |w - c| * 2^s, in input units.
- ``metric="cosine"``: W_i = RN(x_i / |x_i|), each coordinate of the unit vector *correctly rounded*
  to the working precision. Distances are |w - c|^2 / 2 (= 1 - cos up to that rounding): zero exactly
  for bit-identical rows, and a function of the direction alone, so multiplying a row by any positive
  factor that keeps it exact leaves W, and the selection, unchanged.
- ``-0.0`` is stored as ``0.0``, so bit-identical rows are exactly the rows at distance 0.

The working precision is float32, or float64 for float64 input (``dtype=None``) or on request.
Overflow cannot happen: scaling is by powers of two, and squares of rows with max|w| < 1 are finite.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from ..errors import InputError
from . import params

# Rows converted per block: bounds the float64 scratch (about ten arrays of 4 MB) whatever n is.
_BLOCK_ELEMENTS = 1 << 18


@dataclass(eq=False)
class Points:
    """Working rows with what every consumer needs of them, each computed once.

    rows : ndarray of shape (n, d), float32 or float64, C-contiguous (the engine may re-sort it in
        place while it runs and restores the order before it returns).
    metric : {"cosine", "euclidean"}
    scale_exp : int
        Euclidean distances are |w - c| * 2**scale_exp (0 under cosine).
    """

    rows: np.ndarray
    metric: str
    scale_exp: int = 0
    _sqnorm: np.ndarray | None = field(default=None, repr=False)

    @property
    def n(self) -> int:
        return int(self.rows.shape[0])

    @property
    def d(self) -> int:
        return int(self.rows.shape[1])

    @property
    def dtype(self) -> np.dtype:
        return self.rows.dtype

    @cached_property
    def sqnorm(self) -> np.ndarray:
        """|w|^2 per row in float64 (relative error <= gamma_d in float64)."""
        if self._sqnorm is not None:
            return self._sqnorm
        out = np.empty(self.n)
        step = max(1, _BLOCK_ELEMENTS // max(1, self.d))
        for s in range(0, self.n, step):
            B = self.rows[s : s + step]
            out[s : s + step] = np.einsum("ij,ij->i", B, B, dtype=np.float64)
        return out

    @cached_property
    def duplicates(self) -> "Duplicates":
        return Duplicates.of(self.rows)

    def distance(self, chord_sq):
        """Squared chord |w - c|^2 (float or array, float64) -> the metric's distance."""
        v = np.asarray(chord_sq, dtype=np.float64)
        out = 0.5 * v if self.metric == "cosine" else np.ldexp(np.sqrt(np.maximum(v, 0.0)), self.scale_exp)
        return float(out) if out.ndim == 0 else out


def as_points(X, metric: str = "cosine", dtype=None, name: str = "X", *, amax: float | None = None,
              check: bool = True) -> Points:
    """Validate X and build its working rows (see the module docstring); X itself is never modified.

    Raises InputError naming the first bad row (0-based): NaN/inf anywhere first, then an all-zero
    row under cosine (it has no direction). Accepts any real array: float16/32/64, integers,
    non-contiguous views and memory-mapped files (read block by block). `amax`: the largest |x| of
    the whole data when X is one shard of it (euclidean scaling is global); `check=False` when the
    rows were checked already (collectively, for a shard).
    """
    if isinstance(X, Points):
        if X.metric != params.METRIC.check(metric):
            raise InputError(f"{name} holds {X.metric} points; build them again for metric={metric!r}")
        return X
    params.METRIC.check(metric)
    X = _as_array(X, name)
    work = params.working_dtype(dtype, X.dtype)
    n, d = X.shape
    step = max(1, _BLOCK_ELEMENTS // d)
    if check:
        _check_values(X, metric, name, step)
    W = np.empty((n, d), dtype=work)
    if metric == "cosine":
        for s in range(0, n, step):
            unit_rows(X[s : s + step], work, out=W[s : s + step])
        scale = 0
    else:
        if amax is None:
            amax = max_abs(X)
        scale = math.frexp(amax)[1] if amax > 0 else 0
        factor = 2.0**-scale
        direct = X.dtype == work and abs(scale) < 100  # a power of two: exact (or correctly rounded)
        for s in range(0, n, step):
            if direct:
                np.multiply(X[s : s + step], work.type(factor), out=W[s : s + step])
            else:
                W[s : s + step] = np.ldexp(np.asarray(X[s : s + step], dtype=np.float64), -scale)
    W += work.type(0)  # -0.0 -> 0.0: bit-identical rows are then exactly the rows at distance 0
    return Points(W, metric, scale)


def max_abs(X: np.ndarray) -> float:
    """max |x| over X, block by block (0 for an empty array)."""
    step = max(1, _BLOCK_ELEMENTS // max(1, X.shape[1]))
    return max((float(np.abs(X[s : s + step]).max()) for s in range(0, X.shape[0], step)), default=0.0)


def _as_array(X, name: str) -> np.ndarray:
    if isinstance(X, (list, tuple)) and X and isinstance(X[0], str):
        raise InputError(f"{name} holds strings; embed texts first, e.g. datadiet.select.select_texts(texts, k)")
    X = X if isinstance(X, np.ndarray) else np.asarray(X)
    if X.ndim != 2:
        raise InputError(f"{name} must be a 2-D array of shape (n_samples, n_features), got shape {X.shape}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise InputError(f"{name} is empty (shape {X.shape}); give at least one row and one column")
    if (problem := not_real_message(X, name)) is not None:
        raise InputError(problem)
    return X


def not_real_message(X: np.ndarray, name: str = "X") -> str | None:
    if not np.issubdtype(X.dtype, np.number) or np.issubdtype(X.dtype, np.complexfloating):
        return f"{name} must hold real numbers, got dtype {X.dtype}"
    return None


def nonfinite_row_message(row: int, name: str = "X") -> str:
    return f"row {row} of {name} holds NaN or inf; remove or fix that row"


def zero_row_message(row: int, name: str = "X") -> str:
    return (f"row {row} of {name} is an all-zero vector, which has no cosine direction; "
            "drop it or use metric='euclidean'")


def first_bad_rows(X: np.ndarray, metric: str, step: int) -> tuple[int | None, int | None]:
    """(first row holding NaN/inf, first all-zero row under cosine), scanning X block by block."""
    bad = zero = None
    floating = np.issubdtype(X.dtype, np.floating)
    for s in range(0, X.shape[0], step):
        B = np.asarray(X[s : s + step])
        if bad is None and floating:
            finite = np.isfinite(B).all(axis=1)
            if not finite.all():
                bad = s + int(np.argmin(finite))
        if zero is None and metric == "cosine":
            nz = B.any(axis=1)
            if not nz.all():
                zero = s + int(np.argmin(nz))
    return bad, zero


def _check_values(X: np.ndarray, metric: str, name: str, step: int) -> None:
    bad, zero = first_bad_rows(X, metric, step)
    if bad is not None:
        raise InputError(nonfinite_row_message(bad, name))
    if zero is not None:
        raise InputError(zero_row_message(zero, name))


# --- correctly rounded unit vectors ---------------------------------------------------------------

U64 = 2.0**-53
_SPLIT = 134217729.0  # 2^27 + 1 (Dekker)


def unit_rows(B, dtype, out: np.ndarray | None = None) -> np.ndarray:
    """RN_dtype(x / |x|) for every coordinate of every (non-zero) row of B, correctly rounded.

    A float64 estimate with a rigorous error bound settles almost every coordinate; the few within
    that bound of a rounding midpoint (about 1e-6 of them for float32) are settled exactly in integer
    arithmetic. float32: the estimate is x * (1 / sqrt(sum x^2)) in float64 (relative error
    <= (d/2 + 5) u); float64: y / |y| in double-double arithmetic (relative error < (d^2 + d + 16) u^2).
    Written into `out` (shape of B) when given.
    """
    dtype = np.dtype(dtype)
    B = np.asarray(B)
    d = B.shape[1]
    out = np.empty(B.shape, dtype=dtype) if out is None else out
    narrow = np.issubdtype(B.dtype, np.floating) and B.dtype.itemsize <= 4
    # float16/32 rows: their squares neither over- nor underflow in float64. Wider or integer rows are
    # scaled by a power of two per row first (max |y| in [0.5, 1)), which leaves x / |x| unchanged.
    X = B if narrow else np.ldexp(B.astype(np.float64), -np.frexp(np.abs(B).max(axis=1).astype(np.float64))[1][:, None])
    if dtype == np.float32:
        q = X * (1.0 / np.sqrt(np.einsum("ij,ij->i", X, X, dtype=np.float64)))[:, None]
        np.copyto(out, q, casting="same_kind")
        uncertain = _uncertain32(q, (d / 2 + 5) * U64 * 1.01, out)
    else:
        q_hi, q_lo = _unit_dd(np.asarray(X, dtype=np.float64))
        out[...], uncertain = _round64(q_hi, q_lo, 1.1 * (d * d + d + 16) * U64 * U64)  # see _unit_dd
        if not narrow:  # a coordinate far below the row's largest loses bits in the steps above
            uncertain[((X != 0) & (np.abs(X) < 2.0**-400)).any(axis=1)] = True
    if uncertain.any():
        for r in np.flatnonzero(uncertain.any(axis=1)).tolist():
            cols = np.flatnonzero(uncertain[r]).tolist()
            out[r, cols] = _exact_unit(np.asarray(B[r], dtype=np.float64), cols, dtype)
    return out


def _two_prod(a, b):
    """a * b = p + e exactly (Dekker; no FMA needed), for |a|, |b| <= 2^996 and no underflow."""
    p = a * b
    t = _SPLIT * a
    ah = t - (t - a)
    al = a - ah
    t = _SPLIT * b
    bh = t - (t - b)
    bl = b - bh
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


def _two_sum(a, b):
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def _unit_dd(Y: np.ndarray):
    """y / |y| as a double-double (hi, lo), row-wise, for max |y| in [0.5, 1).

    Relative error <= (d^2 + d + 16) u^2: the squares are exact (Dekker), their sum keeps its
    rounding errors (TwoSum) in a float64 tail whose own rounding is <= 2d^2 u^2 S, and the square
    root and quotient add a few u^2 each.
    """
    p, e = _two_prod(Y, Y)
    sh = np.zeros(Y.shape[0])
    sl = np.zeros(Y.shape[0])
    for j in range(Y.shape[1]):  # sequential: every term is >= 0, so the sum is well conditioned
        sh, err = _two_sum(sh, p[:, j])
        sl += err + e[:, j]
    sh, sl = _two_sum(sh, sl)
    rh = np.sqrt(sh)
    pp, ee = _two_prod(rh, rh)
    rl = ((sh - pp) - ee + sl) / (2 * rh)
    qh = Y / rh[:, None]
    pp, ee = _two_prod(qh, np.broadcast_to(rh[:, None], qh.shape))
    ql = (((Y - pp) - ee) - qh * rl[:, None]) / rh[:, None]
    return qh, ql


def _uncertain32(q: np.ndarray, rel_tol: float, f: np.ndarray) -> np.ndarray:
    """Where RN32 of the float64 estimate q (relative error <= rel_tol; f = RN32(q)) may not be RN32 of
    the exact value. float32 keeps the top 24 of float64's 53 significand bits; the 29 dropped bits L
    decide the rounding and L = 2^28 is the midpoint: uncertain where |L - 2^28| <= the error in units
    of q's last place (unsigned arithmetic wraps the rest far away). q is overwritten."""
    slack = int(rel_tol * 2.0**53) + 2
    low = q.view(np.uint64)
    np.bitwise_and(low, np.uint64((1 << 29) - 1), out=low)
    low -= np.uint64((1 << 28) - slack)
    uncertain = low <= np.uint64(2 * slack)
    tiny = np.abs(f) < np.float32(2.0**-126)  # below float32's normal range the rule differs: exact path
    if tiny.any():
        uncertain |= tiny & (low != np.uint64(-((1 << 28) - slack) % (1 << 64)))  # q = 0 is exact
    return uncertain


def _round64(q_hi: np.ndarray, q_lo: np.ndarray, rel_tol: float):
    """RN64(q_hi + q_lo), known to within rel_tol * |q|, and where that error could change it."""
    f, g = _two_sum(q_hi, q_lo)  # f = RN(q_hi + q_lo), g the exact rest
    half = 0.5 * np.spacing(np.abs(f))
    tol = rel_tol * np.abs(f)
    uncertain = np.abs(np.abs(g) - half) <= tol
    pow2 = (f.view(np.uint64) & np.uint64((1 << 52) - 1)) == 0  # below a power of two the gap halves
    uncertain |= pow2 & (np.abs(g) >= 0.5 * half - tol)
    uncertain |= (np.abs(f) < 2.0**-1000) & (f != 0)
    return f, uncertain


def _exact_unit(x: np.ndarray, cols: list[int], dtype: np.dtype) -> list:
    """The correctly rounded x[j] / |x| for j in cols, in integer arithmetic (ties to even)."""
    ints, _ = exact_ints(x)
    S = sum(v * v for v in ints)
    out = []
    for j in cols:
        a = abs(ints[j])
        if a == 0:
            out.append(dtype.type(0))
            continue
        # a start within a few ulps of the answer, from the leading bits of a and S
        sa, sb = max(0, a.bit_length() - 60), max(0, S.bit_length() - 120) & ~1
        f = dtype.type(math.ldexp((a >> sa) / math.sqrt(S >> sb), sa - sb // 2))
        while True:  # walk to the correctly rounded value, comparing q = a / sqrt(S) with midpoints
            hi = np.nextafter(f, dtype.type(np.inf))
            c = _cmp_quotient(a, S, f, hi)
            if c > 0 or (c == 0 and _odd(f, dtype)):
                f = hi
                continue
            lo = np.nextafter(f, dtype.type(0))
            c = _cmp_quotient(a, S, lo, f) if lo != f else 1
            if c < 0 or (c == 0 and _odd(f, dtype)):
                f = lo
                continue
            break
        out.append(f if ints[j] > 0 else -f)
    return out


def _cmp_quotient(a: int, S: int, lo, hi) -> int:
    """sign(a / sqrt(S) - m) exactly, m the midpoint of the adjacent floats lo < hi."""
    n1, d1 = float(lo).as_integer_ratio()
    n2, d2 = float(hi).as_integer_ratio()
    num, den = n1 * d2 + n2 * d1, 2 * d1 * d2
    lhs, rhs = a * a * den * den, num * num * S  # a^2 / S against m^2
    return (lhs > rhs) - (lhs < rhs)


def _odd(f, dtype: np.dtype) -> bool:
    bits = np.array([f], dtype=dtype).view(np.uint32 if dtype == np.float32 else np.uint64)[0]
    return bool(bits & 1)


def exact_ints(v) -> tuple[list[int], int]:
    """Python ints N_j and one exponent E with v_j = N_j * 2^E exactly (v float16/32/64 or ints)."""
    pairs = [float(x).as_integer_ratio() for x in np.asarray(v, dtype=np.float64).tolist()]
    shift = max(den.bit_length() - 1 for _, den in pairs)
    return [num << (shift - (den.bit_length() - 1)) for num, den in pairs], -shift


# --- bit-identical rows -----------------------------------------------------------------------------

def row_keys(A: np.ndarray, which: int = 0) -> np.ndarray:
    """A 64-bit key per row from its bits, in exact (wrapping) integer arithmetic: equal rows get equal
    keys on every machine and wherever the row sits (a float projection could round it differently
    by position). `which` selects an independent second key (two make a 128-bit digest)."""
    A = np.asarray(A)
    n, d = A.shape
    uint = {2: np.uint16, 4: np.uint32, 8: np.uint64}[A.dtype.itemsize]
    mult = _multipliers(which, d)
    keys = np.empty(n, dtype=np.uint64)
    step = max(1, (1 << 16) // d)  # small blocks: fresh large temporaries cost page faults
    for s in range(0, n, step):
        bits = np.ascontiguousarray(A[s : s + step]).view(uint).astype(np.uint64)
        keys[s : s + step] = (bits * mult).sum(axis=1, dtype=np.uint64)
    return keys


@functools.lru_cache(maxsize=16)
def _multipliers(which: int, d: int) -> np.ndarray:
    """Odd 64-bit multipliers, fixed per (which, d) on every machine: splitmix64 of (which, j) in
    wrapping uint64 arithmetic (no random generator to import or seed)."""
    with np.errstate(over="ignore"):
        z = np.uint64(0x9E3779B97F4A7C15) * (np.arange(1, d + 1, dtype=np.uint64) + np.uint64(which << 32))
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return (z ^ (z >> np.uint64(31))) | np.uint64(1)


def row_digests(A: np.ndarray) -> np.ndarray:
    """(n, 2) uint64: two independent row keys, a 128-bit digest to match rows across processes."""
    return np.stack([row_keys(A, 0), row_keys(A, 1)], axis=1) if len(A) else np.empty((0, 2), np.uint64)


@dataclass(eq=False)
class Duplicates:
    """Groups of bit-identical rows: ``rep[i]`` is the lowest index of a row equal to row i."""

    rep: np.ndarray

    @classmethod
    def of(cls, A: np.ndarray) -> "Duplicates":
        n = A.shape[0]
        rep = np.arange(n)
        if n < 2:
            return cls(rep)
        keys = row_keys(A)
        order = np.argsort(keys, kind="stable")  # equal keys: ascending index, so a run starts lowest
        sk = keys[order]
        start = np.concatenate(([True], sk[1:] != sk[:-1]))
        first = order[np.maximum.accumulate(np.where(start, np.arange(n), 0))]  # each row's run head
        later = np.flatnonzero(~start)
        rows, heads = order[later], first[later]
        same = (A[rows] == A[heads]).all(axis=1)  # equal keys are candidates: compare the rows
        rep[rows[same]] = heads[same]
        for h in ([] if same.all() else sorted(set(heads[~same].tolist()))):  # a key collision (rare): settle its run pairwise
            members = np.sort(order[first == h])
            rep[members] = members
            for j in range(members.size):
                i = members[j]
                if rep[i] != i:
                    continue
                rest = members[j + 1 :]
                rest = rest[rep[rest] == rest]
                rep[rest[(A[rest] == A[i]).all(axis=1)]] = i
        return cls(rep)

    @cached_property
    def shared(self) -> np.ndarray:
        """Per row: whether it has a bit-identical copy."""
        return np.bincount(self.rep, minlength=self.rep.size)[self.rep] > 1

    @cached_property
    def groups(self) -> dict[int, np.ndarray]:
        """Representative -> all members, ascending, of every group of two or more rows."""
        members = np.flatnonzero(self.shared)
        if members.size == 0:
            return {}
        members = members[np.argsort(self.rep[members], kind="stable")]
        cuts = np.flatnonzero(np.diff(self.rep[members])) + 1
        return {int(g[0]): g for g in np.split(members, cuts)}

    @property
    def distinct(self) -> int:
        return int(np.count_nonzero(self.rep == np.arange(self.rep.size)))

    def copies(self, i: int) -> np.ndarray:
        """Every row bit-identical to row i (itself included)."""
        g = self.groups.get(int(self.rep[i]))
        return np.array([i]) if g is None else g

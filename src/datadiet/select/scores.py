"""The one score of the selection, s(x, c) = |x - c|^2 of working rows, at three accuracies.

1. scan (engines, every row each pick): fl(fl(-2 fl(x.c) + |x|^2) + |c|^2) in the working precision,
   one matrix-vector product; ``scan_tau`` bounds its error for any summation order, FMA or not.
2. refined (few pairs): sum (x_i - c_i)^2 in float64, relative error <= ``refine_eps`` (the terms are
   non-negative, so the bound is relative to the value itself, however small it is).
3. exact (ties the refined value cannot settle): Python integers, ``exact_value``.

A pick is certified by narrowing tier by tier: every rigorous bound only decides what the next,
more accurate tier has to look at, so no decision ever rests on rounding.

Bounds follow Higham, *Accuracy and Stability of Numerical Algorithms*, Thm 3.5: a length-d dot
product in unit roundoff u is within gamma_d * sum |x_i c_i| of the exact value, gamma_d = d u / (1 - d u).
"""

from __future__ import annotations

import math

import numpy as np

U32 = 2.0**-24
U64 = 2.0**-53
# Unit roundoff and subnormal spacing / 2 of the row storage (torch backend's precision=)
STORAGE_UNIT = {"float32": 0.0, "float16": 2.0**-11, "bfloat16": 2.0**-8}
STORAGE_SUBNORMAL = {"float32": 0.0, "float16": 2.0**-25, "bfloat16": 0.0}
# Rows of a prefilter block times centers: bounds the scratch to ~8 MB of float64
_BLOCK_ELEMENTS = 1 << 20


def gamma(n: int, u: float) -> float:
    return n * u / (1 - n * u)


def unit_of(dtype) -> float:
    return U32 if np.dtype(dtype) == np.float32 else U64


def _underflow(dtype) -> float:
    """Absolute error of one product that lands in the subnormal range."""
    return 2.0**-150 if np.dtype(dtype) == np.float32 else 2.0**-1075


def scan_tau(d: int, M: float, dtype=np.float32, storage: str = "float32", tf32: bool = False) -> float:
    """Bound on |scan score - s(x, c)| for rows with |x|^2, |c|^2 <= M (one center; the running min
    over centers keeps it).

    dot: gamma_d sum|x_i c_i| <= gamma_d M; rows stored in half precision add u_h M + sub sqrt(d M);
    TF32 tensor cores round both operands to 10 bits (2 * 2^-11 M); subnormal products d * eta.
    The two additions of |x|^2 and |c|^2 (rounded to the working precision) add <= 10 u M.
    """
    u = unit_of(dtype)
    uh, sub = STORAGE_UNIT[storage], STORAGE_SUBNORMAL[storage]
    dot = gamma(d, u) * (1 + uh) * M + uh * M + sub * math.sqrt(d * M) + d * _underflow(dtype)
    if tf32:
        dot += 2 * 2.0**-11 * M
    return 1.01 * (2 * dot + 10 * u * M) + 1e-300


def unit_scan_tau(d: int, delta: float, dtype=np.float32) -> float:
    """Bound on |(-fl(x.c)) - (s(x, c) - 2) / 2| for rows with | |x|^2 - 1 | <= delta: the score the
    plain engine keeps under cosine, in its own units (half a squared chord)."""
    return 1.01 * (gamma(d, unit_of(dtype)) * (1 + delta) + delta + d * _underflow(dtype)) + 1e-300


def refine_eps(d: int) -> float:
    """Relative bound of ``refine``: each difference, square and addition rounds once in float64."""
    return 1.01 * gamma(d + 2, U64)


def refine_abs(d: int, dtype) -> float:
    """Absolute part of refine's bound: float64 squares of differences below 2^-511 underflow. Rows
    of float32 values differ by at least 2^-149 when they differ at all, so theirs is zero."""
    return 0.0 if np.dtype(dtype) == np.float32 else d * 2.0**-1074


def refine(R: np.ndarray, C: np.ndarray) -> np.ndarray:
    """s(r_j, c_j) for paired rows, float64, relative error <= refine_eps(d) (+ refine_abs)."""
    D = np.asarray(R, dtype=np.float64) - np.asarray(C, dtype=np.float64)
    return np.einsum("ij,ij->i", D, D)


def prefilter(A: np.ndarray, qa: np.ndarray, B: np.ndarray, qb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """T[j, i] ~ |b_j|^2 - 2 a_i.b_j for every row b_j of B and a_i of A (one product and two
    operations in the working precision; s(a_i, b_j) = |a_i|^2 + T[j, i]), and per row of A a bound
    err[i] >= |T[j, i] + |a_i|^2 - s(a_i, b_j)| for every j.

    The product: 2 gamma_d |a||b|; the operations and |b|^2's rounding: 4 u (|b|^2 + |a||b|);
    subnormal products: 2 d eta. |b| is taken at its largest for every pair of a row.
    """
    T = B @ A.T
    T *= -2
    T += qb.astype(A.dtype)[:, None]
    u, d = unit_of(A.dtype), A.shape[1]
    ra, rb = np.sqrt(qa), float(np.sqrt(qb.max()))
    err = 1.01 * (2 * gamma(d, u) * ra * rb + 4 * u * (rb * rb + ra * rb) + 2 * d * _underflow(A.dtype)) + 1e-300
    return T, err


def nearest(A: np.ndarray, qa: np.ndarray, B: np.ndarray, qb: np.ndarray, *, limit: np.ndarray | None = None,
            skip: np.ndarray | None = None, candidates: bool = False):
    """For each row of A, its refined score against the nearest row of B (inf where none counts).

    limit[r]: only rows B[:limit[r]] count for row r (the selection trace); skip[r]: a column of B
    that does not count for row r (the row itself, for nearest *other* point). The prefilter keeps
    only the pairs that can attain a row's minimum, and those are refined in float64.
    With ``candidates=True`` also returns, per row, the columns whose refined score is within the
    refine bound of the minimum (where an exact comparison would have to look).
    """
    n, m = A.shape[0], B.shape[0]
    out = np.full(n, np.inf)
    cand: list[np.ndarray] = [np.empty(0, dtype=np.int64)] * n if candidates else []
    if m == 0 or n == 0:
        return (out, cand) if candidates else out
    eps, absb = refine_eps(A.shape[1]), refine_abs(A.shape[1], A.dtype)
    rows = max(1, _BLOCK_ELEMENTS // m)
    for s in range(0, n, rows):
        e = min(s + rows, n)
        cols = m if limit is None else int(limit[s:e].max())  # later rows of B count for no row here
        if cols == 0:
            continue
        T, err = prefilter(A[s:e], qa[s:e], B[:cols], qb[:cols])
        if limit is not None:
            T[np.arange(cols)[:, None] >= limit[None, s:e]] = np.inf
        if skip is not None:
            r = np.arange(s, e)
            ok = skip[r] >= 0
            T[skip[r[ok]], np.flatnonzero(ok)] = np.inf
        thresh = T.min(axis=0) + 2 * err  # a pair can attain its row's minimum only below this
        thresh[thresh == np.inf] = -np.inf  # a row with no pair that counts
        cc, rr = np.nonzero(T <= thresh.astype(T.dtype)[None, :])
        if rr.size == 0:
            continue
        v = refine(A[s + rr], B[cc])
        np.minimum.at(out, s + rr, v)
        if candidates:
            close = v <= out[s + rr] * (1 + eps) / (1 - eps) + 2 * absb
            order = np.argsort(rr[close], kind="stable")
            r_close, c_close = rr[close][order], cc[close][order]
            cuts = np.flatnonzero(np.diff(r_close)) + 1
            for part_r, part_c in zip(np.split(r_close, cuts), np.split(c_close, cuts)):
                if part_r.size:
                    cand[s + int(part_r[0])] = part_c
    return (out, cand) if candidates else out


def exact_value(x: np.ndarray, c: np.ndarray) -> int:
    """s(x, c) exactly, as an integer: |x - c|^2 * 2^(2F) with F = 149 (float32 rows) or 1074
    (float64), so that every working value is an integer multiple of 2^-F."""
    F = 149 if np.asarray(x).dtype == np.float32 else 1074
    a, b = _scaled_ints(x, F), _scaled_ints(c, F)
    return sum((p - q) * (p - q) for p, q in zip(a, b))


def _scaled_ints(v: np.ndarray, F: int) -> list[int]:
    out = []
    for x in np.asarray(v, dtype=np.float64).tolist():
        num, den = x.as_integer_ratio()
        out.append(num << (F - (den.bit_length() - 1)))
    return out

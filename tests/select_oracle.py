"""An independent oracle of greedy farthest-first on the working rows, for the select tests.

It shares no code with datadiet: the working rows are rebuilt from their definition (README, "How
selection works") with Python's decimal module and numpy's IEEE conversions, distances are exact
integers, and the greedy loop recomputes every distance at every step. Slow by design: keep
n * k * d small.
"""

from __future__ import annotations

import math
from decimal import Decimal, localcontext

import numpy as np


def working_rows(X, metric: str, dtype) -> tuple[list[list[int]], int, np.ndarray]:
    """(integer rows N, exponent E, float rows W) with W = N * 2^E exactly.

    cosine: each coordinate of x / |x| correctly rounded to `dtype` (80-digit decimal, ties to even);
    euclidean: X * 2^-s rounded to `dtype`, s the exponent of max |X| (max |W| in [0.5, 1))."""
    X = np.asarray(X, dtype=np.float64)
    dt = np.dtype(dtype)
    if metric == "cosine":
        W = np.array([[_round_unit(x, j, dt) for j in range(len(x))] for x in X.tolist()], dtype=dt)
    else:
        amax = float(np.abs(X).max())
        s = math.frexp(amax)[1] if amax > 0 else 0
        W = np.array([[dt.type(math.ldexp(v, -s)) for v in row] for row in X.tolist()], dtype=dt)
    W = W + dt.type(0)
    E = -1074 if dt == np.float64 else -149
    N = [[_to_int(v, E) for v in row] for row in W.astype(np.float64).tolist()]
    return N, E, W


def _to_int(v: float, E: int) -> int:
    num, den = v.as_integer_ratio()
    return num * (2 ** (-E)) // den


def _round_unit(x: list[float], j: int, dt: np.dtype):
    with localcontext() as ctx:
        ctx.prec = 80
        norm = sum(Decimal(v) * Decimal(v) for v in x).sqrt()
        q = Decimal(x[j]) / norm
        f = dt.type(float(q))
        best, best_err = None, None
        for cand in (np.nextafter(f, dt.type(-np.inf)), f, np.nextafter(f, dt.type(np.inf))):
            err = abs(Decimal(float(cand)) - q)
            even = not (np.array([cand], dtype=dt).view(np.uint32 if dt == np.float32 else np.uint64)[0] & 1)
            if best is None or err < best_err or (err == best_err and even):
                best, best_err = cand, err
        return best


def farthest_first(N: list[list[int]], k: int, start: int | None, prior=()) -> tuple[list[int], list[int | None]]:
    """Picks and their exact squared distances (integers, scale 2^(2E)) to the points before them."""
    n = len(N)

    def sq(a, b):
        return sum((p - q) * (p - q) for p, q in zip(N[a], N[b]))

    dist: list[int | None] = [None] * n  # exact squared distance to the nearest chosen point

    def choose(c):
        for i in range(n):
            s = sq(i, c)
            dist[i] = s if dist[i] is None else min(dist[i], s)

    chosen = set(prior)
    for c in prior:
        choose(c)
    picks, trace = [], []
    for step in range(k):
        if step == 0 and start is not None:
            i = start
        else:
            free = [i for i in range(n) if i not in chosen]
            i = max(free, key=lambda r: (dist[r], -r))  # the largest distance, then the lowest index
        picks.append(i)
        trace.append(dist[i])
        chosen.add(i)
        choose(i)
    return picks, trace


def distance(value: int | None, E: int, metric: str, scale: int) -> float:
    """An exact squared chord (scale 2^(2E)) -> the metric's distance, as a float."""
    if value is None:
        return math.inf
    chord_sq = value * (Decimal(2) ** (2 * E))
    if metric == "cosine":
        return float(chord_sq / 2)
    with localcontext() as ctx:
        ctx.prec = 60
        return float(chord_sq.sqrt() * Decimal(2) ** scale)


def oracle(X, k: int, metric: str, dtype, start: int | None = None, prior=()) -> tuple[list[int], list[float]]:
    N, E, _ = working_rows(X, metric, dtype)
    scale = 0
    if metric == "euclidean":
        amax = float(np.abs(np.asarray(X, dtype=np.float64)).max())
        scale = math.frexp(amax)[1] if amax > 0 else 0
    picks, trace = farthest_first(N, k, start, prior)
    return picks, [distance(v, E, metric, scale) for v in trace]

"""Shared input checks for the selection engine and the metrics: one conversion point for arrays."""

from __future__ import annotations

import numpy as np

from ..errors import InputError

METRICS = ("cosine", "euclidean")


def check_metric(metric: str) -> str:
    if metric not in METRICS:
        raise InputError(f"metric={metric!r} is not supported; use one of: {', '.join(METRICS)}")
    return metric


# The row checks' messages, shared by as_points and the collective check of a sharded run
# (select.distributed.check_shard), so both name a bad row the same way.
def not_real_message(X: np.ndarray, name: str = "X") -> str | None:
    if not np.issubdtype(X.dtype, np.number) or np.issubdtype(X.dtype, np.complexfloating):
        return f"{name} must hold real numbers, got dtype {X.dtype}"
    return None


def nonfinite_row_message(row: int, name: str = "X") -> str:
    return f"row {row} of {name} holds NaN or inf; remove or fix that row"


def zero_row_message(row: int, name: str = "X") -> str:
    return (f"row {row} of {name} is an all-zero vector, which has no cosine direction; "
            "drop it or use metric='euclidean'")


def as_points(X, metric: str, dtype=np.float32, name: str = "X", center: bool = False) -> np.ndarray:
    """Validate X and return it C-contiguous in `dtype`, rows L2-normalized under cosine.

    Raises InputError naming the first bad row (0-based): NaN/inf anywhere, or an all-zero
    row under cosine (it has no direction).
    """
    check_metric(metric)
    X = np.asarray(X)
    if X.ndim != 2:
        raise InputError(f"{name} must be a 2-D array of shape (n_samples, n_features), got shape {X.shape}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise InputError(f"{name} is empty (shape {X.shape}); give at least one row and one column")
    if (problem := not_real_message(X, name)) is not None:
        raise InputError(problem)
    X = np.ascontiguousarray(X, dtype=dtype)
    finite = np.isfinite(X).all(axis=1)
    if not finite.all():
        raise InputError(nonfinite_row_message(int(np.flatnonzero(~finite)[0]), name))
    if metric == "cosine":
        norms = np.linalg.norm(X, axis=1)
        if (norms == 0).any():
            raise InputError(zero_row_message(int(np.flatnonzero(norms == 0)[0]), name))
        X = X / norms[:, None].astype(dtype)
    elif center:
        # Euclidean distances ignore a shift; removing the mean shrinks |x|^2 and with it the
        # cancellation error of |x|^2 + |c|^2 - 2 x.c in float32.
        X = X - X.mean(axis=0, dtype=np.float64).astype(dtype)
    return X


def duplicate_representatives(X: np.ndarray) -> np.ndarray:
    """For each row, the smallest index of a bit-identical row (itself if unique).

    Floating-point distance formulas give ~1e-7 instead of 0 for identical rows; the engine
    and the metrics use this map to make the distance between duplicates exactly 0.
    O(n*d + n log n) time, O(n) extra memory: each row's bit pattern is hashed with wrapping
    integer arithmetic (exact, so the key cannot depend on where BLAS puts a row, as a float
    projection could), then runs of equal keys are verified exactly.
    """
    n, d = X.shape
    rep = np.arange(n)
    uint = np.uint32 if X.dtype.itemsize == 4 else np.uint64
    mult = np.random.default_rng(12345).integers(1, 2**62, size=d, dtype=np.uint64) | np.uint64(1)
    keys = np.empty(n, dtype=np.uint64)
    rows = max(1, (1 << 20) // d)  # blocks of ~8 MB of uint64
    for s in range(0, n, rows):
        block = X[s : s + rows] + X.dtype.type(0)  # -0.0 -> 0.0: equal values, equal bits
        bits = np.ascontiguousarray(block).view(uint).astype(np.uint64)
        keys[s : s + rows] = (bits * mult).sum(axis=1, dtype=np.uint64)
    order = np.argsort(keys, kind="stable")
    sk = keys[order]
    bounds = np.flatnonzero(sk[1:] != sk[:-1]) + 1
    starts = np.concatenate(([0], bounds))
    lengths = np.diff(np.concatenate((starts, [n])))
    for s, length in zip(starts[lengths > 1], lengths[lengths > 1]):
        # equal keys are only candidates: group the run's rows by exact equality
        members = np.sort(order[s : s + length])
        for a in range(members.size):
            i = members[a]
            if rep[i] != i:
                continue
            later = members[a + 1 :]
            later = later[rep[later] == later]
            rep[later[(X[later] == X[i]).all(axis=1)]] = i
    return rep


def duplicate_groups(rep: np.ndarray) -> dict[int, np.ndarray]:
    """Map representative index -> all member indices, only for groups of two or more rows."""
    dup = np.flatnonzero(rep != np.arange(rep.size))
    if dup.size == 0:
        return {}
    members = np.flatnonzero(np.isin(rep, rep[dup]))
    keys = rep[members]
    order = np.argsort(keys, kind="stable")
    members, keys = members[order], keys[order]
    cuts = np.flatnonzero(np.diff(keys)) + 1
    return {int(g[0]): g for g in np.split(members, cuts)}

"""Uniformity metrics of a subset (arXiv 2506.24120 notation).

- h_min: the smallest pairwise distance between selected points (larger = more uniform).
- covering_radius: the fill distance h_max, the largest distance from any dataset point to its
  nearest selected point (smaller = better coverage).
- mean_nn_distance: the mean distance from each selected point to its nearest other selected point.

Distances are those of ``maxmin`` on the same working rows (``points``), refined in float64 to a
relative error below 1e-12 (``scores.nearest``), so ``metrics.h_min(X, res.indices)`` equals the
minimum of ``res.distances`` to that accuracy. Rows are processed in blocks: memory stays O(n*d),
never n x n or n x k. Bit-identical rows are at distance exactly 0.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from . import scores
from .points import Points, as_points


def h_min(X, indices, metric: str = "cosine", dtype=None) -> float:
    """Smallest pairwise distance among X[indices] (inf for fewer than two points)."""
    P = as_points(X, metric, dtype)
    nn = _nn_within(P, _check_indices(indices, P.n))
    return float(nn.min()) if nn.size else float("inf")


def mean_nn_distance(X, indices, metric: str = "cosine", dtype=None) -> float:
    """Mean over selected points of the distance to their nearest other selected point."""
    P = as_points(X, metric, dtype)
    nn = _nn_within(P, _check_indices(indices, P.n))
    return float(nn.mean()) if nn.size else float("inf")


def covering_radius(X, indices, metric: str = "cosine", dtype=None) -> float:
    """Fill distance h_max: max over all rows of X of the distance to the nearest selected row."""
    P = as_points(X, metric, dtype)
    return _covering(P, _check_indices(indices, P.n))


def summary(X, indices, metric: str = "cosine", dtype=None) -> dict[str, float]:
    """All three metrics at once, sharing the points and the within-subset pass."""
    P = as_points(X, metric, dtype)
    idx = _check_indices(indices, P.n)
    nn = _nn_within(P, idx)
    return {
        "h_min": float(nn.min()) if nn.size else float("inf"),
        "covering_radius": _covering(P, idx),
        "mean_nn_distance": float(nn.mean()) if nn.size else float("inf"),
    }


def distinct_rows(X, metric: str = "cosine", dtype=None) -> int:
    """Number of distinct working rows (after normalization under cosine): h_min is 0 once k exceeds it."""
    return as_points(X, metric, dtype).duplicates.distinct


def _check_indices(indices, n: int) -> np.ndarray:
    idx = np.asarray(indices)
    if idx.ndim != 1 or (idx.size and not np.issubdtype(idx.dtype, np.integer)):
        raise InputError("indices must be a 1-D sequence of integer row indices")
    if idx.size == 0:
        raise InputError("indices is empty; a subset needs at least one point")
    if ((idx < 0) | (idx >= n)).any():
        bad = int(idx[(idx < 0) | (idx >= n)][0])
        raise InputError(f"index {bad} is out of range for {n} rows")
    return idx.astype(np.int64)


def _nn_within(P: Points, idx: np.ndarray) -> np.ndarray:
    """Distance from each selected point to its nearest *other* selected point."""
    if idx.size < 2:
        return np.empty(0)
    S, q = P.rows[idx], P.sqnorm[idx]
    v = scores.nearest(S, q, S, q, skip=np.arange(idx.size))
    return P.distance(v)


def _covering(P: Points, idx: np.ndarray) -> float:
    v = scores.nearest(P.rows, P.sqnorm, P.rows[idx], P.sqnorm[idx])
    return float(P.distance(v.max()))

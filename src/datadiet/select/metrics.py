"""Uniformity metrics of a subset (arXiv 2506.24120 notation).

- h_min: the smallest pairwise distance between selected points (larger = more uniform).
- covering_radius: the fill distance h_max, the largest distance from any dataset point to its
  nearest selected point (smaller = better coverage).
- mean_nn_distance: the mean distance from each selected point to its nearest other selected point.

All are computed in float64, in row blocks, so memory stays O(n*d) (a block of the distance
matrix is at most ~4 MB; never n x n or n x k). Bit-identical rows are at distance exactly 0.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ._common import as_points, duplicate_representatives

_BLOCK_ELEMENTS = 1 << 20


def h_min(X, indices, metric: str = "cosine") -> float:
    """Smallest pairwise distance among X[indices] (inf for fewer than two points)."""
    nn = _nn_within(X, indices, metric)
    return float(nn.min()) if nn.size else float("inf")


def mean_nn_distance(X, indices, metric: str = "cosine") -> float:
    """Mean over selected points of the distance to their nearest other selected point."""
    nn = _nn_within(X, indices, metric)
    return float(nn.mean()) if nn.size else float("inf")


def covering_radius(X, indices, metric: str = "cosine") -> float:
    """Fill distance h_max: max over all rows of X of the distance to the nearest selected row."""
    P = as_points(X, metric, dtype=np.float64)
    idx = _check_indices(indices, P.shape[0])
    rep = duplicate_representatives(P)
    nearest = _nearest_distance(P, P[idx], metric)
    nearest[np.isin(rep, rep[idx])] = 0.0  # copies of a selected row are covered exactly
    return float(nearest.max())


def summary(X, indices, metric: str = "cosine") -> dict[str, float]:
    """All three metrics at once, sharing the conversion and the within-subset pass."""
    P = as_points(X, metric, dtype=np.float64)
    idx = _check_indices(indices, P.shape[0])
    rep = duplicate_representatives(P)
    nn = _nn_within_points(P, idx, rep, metric)
    nearest = _nearest_distance(P, P[idx], metric)
    nearest[np.isin(rep, rep[idx])] = 0.0
    return {
        "h_min": float(nn.min()) if nn.size else float("inf"),
        "covering_radius": float(nearest.max()),
        "mean_nn_distance": float(nn.mean()) if nn.size else float("inf"),
    }


def distinct_rows(X, metric: str = "cosine") -> int:
    """Number of distinct rows (after normalization under cosine): h_min is 0 once k exceeds it."""
    P = as_points(X, metric, dtype=np.float32)
    rep = duplicate_representatives(P)
    return int(np.count_nonzero(rep == np.arange(rep.size)))


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


def _nn_within(X, indices, metric: str) -> np.ndarray:
    P = as_points(X, metric, dtype=np.float64)
    idx = _check_indices(indices, P.shape[0])
    return _nn_within_points(P, idx, duplicate_representatives(P), metric)


def _nn_within_points(P: np.ndarray, idx: np.ndarray, rep: np.ndarray, metric: str) -> np.ndarray:
    """Distance from each selected point to its nearest *other* selected point."""
    S = P[idx]
    m = S.shape[0]
    if m < 2:
        return np.empty(0)
    sq = None if metric == "cosine" else np.einsum("ij,ij->i", S, S)
    out = np.empty(m)
    rows = max(1, _BLOCK_ELEMENTS // m)
    for s in range(0, m, rows):
        D = _distances(S[s : s + rows], S, metric, sq[s : s + rows] if sq is not None else None, sq)
        r = np.arange(s, min(s + rows, m))
        D[r - s, r] = np.inf  # a point is not its own neighbour
        out[s : s + rows] = D.min(axis=1)
    # a selected row with a bit-identical copy elsewhere in the subset has a neighbour at 0
    srep = rep[idx]
    _, inverse, counts = np.unique(srep, return_inverse=True, return_counts=True)
    out[counts[inverse] > 1] = 0.0
    return out


def _nearest_distance(P: np.ndarray, S: np.ndarray, metric: str) -> np.ndarray:
    """For every row of P, the distance to its nearest row of S."""
    m = S.shape[0]
    sq_s = None if metric == "cosine" else np.einsum("ij,ij->i", S, S)
    out = np.empty(P.shape[0])
    rows = max(1, _BLOCK_ELEMENTS // m)
    for s in range(0, P.shape[0], rows):
        B = P[s : s + rows]
        sq_b = None if sq_s is None else np.einsum("ij,ij->i", B, B)
        out[s : s + rows] = _distances(B, S, metric, sq_b, sq_s).min(axis=1)
    return out


def _distances(A: np.ndarray, B: np.ndarray, metric: str, sq_a=None, sq_b=None) -> np.ndarray:
    """Dense distance block between rows of A and rows of B (float64)."""
    G = A @ B.T
    if metric == "cosine":
        return np.clip(1.0 - G, 0.0, 2.0)
    D2 = sq_a[:, None] + sq_b[None, :] - 2.0 * G
    return np.sqrt(np.maximum(D2, 0.0))

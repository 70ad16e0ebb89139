"""The metrics of ``select`` (metrics.summary, metrics.distinct_rows, the plot's PCA) over row shards.

Each torchrun rank holds rows [lo, hi) of ``distributed.shard_bounds(n, world, rank)``; no rank
ever holds all n x d. What crosses ranks: the k selected (and k random) rows, gathered to every
rank; one float per rank for the covering radius (all-reduce MAX); a 128-bit digest per distinct
row and two PCA coordinates per row, gathered to rank 0.

The numbers are bit-identical to the single-process ones under the same BLAS thread count
(torchrun sets OMP_NUM_THREADS=1): a BLAS product's rounding depends on the block's height, so
each rank computes its nearest distances inside the same row blocks as ``metrics.summary``,
zero-padding the rows of a block that another rank holds (a row's result never depends on the
values of the other rows). Duplicates keep metrics.py's meaning: bit-identical rows are at
distance 0, copies of a selected row are covered exactly. Rows equal across two shards are
recognized by a blake2b-128 digest of their bytes (chance of a false match ~ n^2 / 2^129).

The functions taking `dist` are collective: every rank calls them, in the same order.
"""

from __future__ import annotations

import numpy as np

from . import metrics
from ._common import as_points, duplicate_representatives
from .distributed import row_digests, shard_bounds, shard_owner


def points(X, metric: str, dtype=np.float64) -> np.ndarray:
    """``as_points`` of a shard (row-wise, so equal to the same rows of the full conversion); empty stays empty."""
    X = np.asarray(X)
    if X.shape[0] == 0:
        return np.empty((0, X.shape[1]), dtype=dtype)
    return as_points(X, metric, dtype=dtype)


def gather_rows(dist, P: np.ndarray, n: int, indices) -> np.ndarray:
    """Rows `indices` (global) of the sharded matrix, in that order, on every rank, bits unchanged."""
    import torch

    world, rank = dist.get_world_size(), dist.get_rank()
    idx = np.asarray(indices, dtype=np.int64)
    owner = shard_owner(idx, n, world)
    counts = np.bincount(owner, minlength=world)
    lo = shard_bounds(n, world, rank)[0]
    mine = np.zeros((counts.max(), P.shape[1]))  # all_gather needs one shape on every rank
    mine[: counts[rank]] = P[idx[owner == rank] - lo]
    parts = [torch.empty(mine.shape, dtype=torch.float64) for _ in range(world)]
    dist.all_gather(parts, torch.from_numpy(mine))
    S = np.empty((idx.size, P.shape[1]))
    for r in range(world):
        S[owner == r] = parts[r].numpy()[: counts[r]]
    return S


def summary(dist, P: np.ndarray, n: int, indices, metric: str) -> dict[str, float] | None:
    """``metrics.summary`` of the sharded points P (float64, from ``points``) on rank 0, None elsewhere."""
    import torch

    S = gather_rows(dist, P, n, indices)
    lo = shard_bounds(n, dist.get_world_size(), dist.get_rank())[0]
    radius = torch.tensor([nearest_max(P, lo, n, S, metric)], dtype=torch.float64)
    dist.all_reduce(radius, op=dist.ReduceOp.MAX)
    if dist.get_rank() != 0:
        return None
    # h_min and mean NN need only S; the bit-identical groups among S are the same as metrics.py's
    # (groups of equal rows), and S has the shape of metrics.py's P[idx], so the blocks match.
    nn = metrics._nn_within_points(S, np.arange(S.shape[0]), duplicate_representatives(S), metric)
    return {
        "h_min": float(nn.min()) if nn.size else float("inf"),
        "covering_radius": float(radius[0]),
        "mean_nn_distance": float(nn.mean()) if nn.size else float("inf"),
    }


def nearest_max(P: np.ndarray, lo: int, n: int, S: np.ndarray, metric: str) -> float:
    """Largest distance from a row of the shard (rows lo.. of n) to its nearest row of S; -inf if empty.

    Computed in metrics.summary's row blocks (height metrics._BLOCK_ELEMENTS // k, from row 0), a
    block that starts or ends on another rank zero-padded, so each distance has the same bits.
    """
    hi = lo + P.shape[0]
    if hi == lo:
        return float("-inf")
    height = max(1, metrics._BLOCK_ELEMENTS // S.shape[0])
    nearest = np.empty(P.shape[0])
    for s in range(lo - lo % height, hi, height):
        e = min(s + height, n)
        a, b = max(s, lo), min(e, hi)  # the rows of block [s, e) held here
        if (a, b) == (s, e):
            block = P[s - lo : e - lo]
        else:
            block = np.zeros((e - s, P.shape[1]))
            block[a - s : b - s] = P[a - lo : b - lo]
        nearest[a - lo : b - lo] = metrics._nearest_distance(block, S, metric)[a - s : b - s]
    nearest[copies_of(P, S)] = 0.0  # copies of a selected row are covered exactly
    return float(nearest.max())


def copies_of(P: np.ndarray, S: np.ndarray) -> np.ndarray:
    """Mask of the rows of P equal (==, so -0.0 == 0.0) to some row of S."""
    kp, ks = _row_keys(P), _row_keys(S)
    order = np.argsort(ks, kind="stable")
    sk = ks[order]
    first = np.searchsorted(sk, kp)
    last = np.searchsorted(sk, kp, side="right")
    out = np.zeros(P.shape[0], dtype=bool)
    for j in np.flatnonzero(last > first):  # equal keys are only candidates: compare the rows
        out[j] = (S[order[first[j] : last[j]]] == P[j]).all(axis=1).any()
    return out


def distinct_rows(dist, X: np.ndarray, metric: str) -> int | None:
    """``metrics.distinct_rows`` of the sharded rows X on rank 0, None elsewhere."""
    P = points(X, metric, dtype=np.float32)  # as metrics.distinct_rows converts
    rep = duplicate_representatives(P) if P.shape[0] else np.empty(0, dtype=np.int64)
    digests = row_digests(P[rep == np.arange(rep.size)])  # exact within the shard; digests across shards
    parts = [None] * dist.get_world_size() if dist.get_rank() == 0 else None
    dist.gather_object(digests, parts, dst=0)
    if parts is None:
        return None
    return int(np.unique(np.concatenate(parts), axis=0).shape[0])


def pca_2d(dist, X: np.ndarray, n: int, metric: str) -> np.ndarray | None:
    """``plot.pca_2d(as_points(X))`` of the sharded rows, all n projections on rank 0, None elsewhere.

    Mean and d x d covariance are all-reduced; only two coordinates per row travel.
    """
    import torch

    P = points(X, metric, dtype=np.float32)  # as plot_selection converts
    total = torch.from_numpy(P.sum(axis=0, dtype=np.float64))
    dist.all_reduce(total)
    mean = total.numpy() / n
    cov = np.zeros((P.shape[1], P.shape[1]))
    for s in range(0, P.shape[0], 65536):
        B = P[s : s + 65536].astype(np.float64) - mean
        cov += B.T @ B
    cov_t = torch.from_numpy(cov)
    dist.all_reduce(cov_t)
    _, vecs = np.linalg.eigh(cov_t.numpy())
    axes = vecs[:, ::-1][:, :2]
    axes *= np.sign(axes[np.abs(axes).argmax(axis=0), [0, 1]])  # plot.pca_2d's sign convention
    parts = [None] * dist.get_world_size() if dist.get_rank() == 0 else None
    dist.gather_object((P - mean) @ axes, parts, dst=0)
    return None if parts is None else np.concatenate(parts)


def _row_keys(A: np.ndarray) -> np.ndarray:
    """64-bit key per row of a float64 array: equal rows (-0.0 == 0.0) get equal keys."""
    mult = np.random.default_rng(2024).integers(1, 2**62, size=A.shape[1], dtype=np.uint64) | np.uint64(1)
    keys = np.empty(A.shape[0], dtype=np.uint64)
    step = max(1, (1 << 20) // max(1, A.shape[1]))
    for s in range(0, A.shape[0], step):
        bits = np.ascontiguousarray(A[s : s + step] + 0.0).view(np.uint64)  # + 0.0 turns -0.0 into 0.0
        keys[s : s + step] = (bits * mult).sum(axis=1, dtype=np.uint64)
    return keys

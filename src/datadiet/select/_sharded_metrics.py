"""The metrics of ``select`` (metrics.summary, distinct rows, the plot's PCA) over row shards.

Each torchrun rank holds the working rows [lo, hi) of ``distributed.shard_bounds(n, world, rank)``;
no rank ever holds all n x d. What crosses ranks: the k selected (and k random) rows, gathered to
every rank; one float per rank for the covering radius (all-reduce MAX); the d x d PCA covariance
(all-reduce) and two PCA coordinates per row, gathered to rank 0. Distances are the refined ones of
``metrics`` (float64, relative error < 1e-12), so the numbers equal the single-process ones to that
accuracy. The functions taking `dist` are collective: every rank calls them, in the same order.
"""

from __future__ import annotations

import numpy as np

from . import metrics, scores
from .distributed import shard_bounds, shard_owner
from .plot import pca_2d as _pca_2d
from .points import Points


def gather_rows(dist, P: Points, n: int, indices) -> tuple[np.ndarray, np.ndarray]:
    """Working rows `indices` (global) of the sharded points, in that order, on every rank, with
    their |x|^2; bits unchanged."""
    import torch

    world, rank = dist.get_world_size(), dist.get_rank()
    idx = np.asarray(indices, dtype=np.int64)
    owner = shard_owner(idx, n, world)
    counts = np.bincount(owner, minlength=world)
    lo = shard_bounds(n, world, rank)[0]
    mine = np.zeros((counts.max(), P.d))  # all_gather needs one shape on every rank
    mine[: counts[rank]] = P.rows[idx[owner == rank] - lo]
    parts = [torch.empty(mine.shape, dtype=torch.float64) for _ in range(world)]
    dist.all_gather(parts, torch.from_numpy(mine))
    S = np.empty((idx.size, P.d), dtype=P.dtype)
    for r in range(world):
        S[owner == r] = parts[r].numpy()[: counts[r]]
    return S, np.einsum("ij,ij->i", S, S, dtype=np.float64)


def summary(dist, P: Points, n: int, indices) -> dict[str, float] | None:
    """``metrics.summary`` of the sharded points on rank 0, None elsewhere."""
    import torch

    S, qs = gather_rows(dist, P, n, indices)
    near = scores.nearest(P.rows, P.sqnorm, S, qs) if P.n else np.empty(0)
    radius = torch.tensor([near.max() if near.size else -np.inf], dtype=torch.float64)
    dist.all_reduce(radius, op=dist.ReduceOp.MAX)
    if dist.get_rank() != 0:
        return None
    sub = Points(S, P.metric, P.scale_exp, qs)
    nn = metrics._nn_within(sub, np.arange(S.shape[0]))
    return {
        "h_min": float(nn.min()) if nn.size else float("inf"),
        "covering_radius": float(P.distance(float(radius[0]))),
        "mean_nn_distance": float(nn.mean()) if nn.size else float("inf"),
    }


def pca_2d(dist, P: Points) -> np.ndarray | None:
    """``plot.pca_2d`` of the sharded working rows: all n projections on rank 0, None elsewhere."""
    import torch

    def allreduce(a: np.ndarray, count: int):
        t = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64))
        c = torch.tensor([float(count)], dtype=torch.float64)
        dist.all_reduce(t)
        dist.all_reduce(c)
        return t.numpy(), int(c[0])

    coords = _pca_2d(P.rows, allreduce)
    parts = [None] * dist.get_world_size() if dist.get_rank() == 0 else None
    dist.gather_object(coords, parts, dst=0)
    return None if parts is None else np.concatenate(parts)

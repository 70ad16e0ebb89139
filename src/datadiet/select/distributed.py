"""Row-sharded farthest-first on torch.distributed (gloo on CPU, NCCL on GPU).

Rank r holds rows [lo_r, hi_r) and their scores. Per pick: all-reduce the largest score,
all-gather each rank's certified best (count in the band, exact score, global index), and
broadcast the chosen vector from its owner; every rank then updates its own shard. The picks
are those of the single-process engine (same certification, ties to the lowest global index).

    torchrun --nproc-per-node 2 -m datadiet.cli select emb.npy -k 1000 --distributed
"""

from __future__ import annotations

import os

import numpy as np

from ..errors import InputError, MissingDependencyError
from ._certify import Certifier, score_tau
from ._common import as_points, check_metric
from .maxmin import MaxMinResult, _check_k


def shard_bounds(n: int, world: int, rank: int) -> tuple[int, int]:
    """Contiguous, balanced row range of `rank` (the first n % world ranks get one row more)."""
    base, extra = divmod(n, world)
    lo = rank * base + min(rank, extra)
    return lo, lo + base + (rank < extra)


def init_from_env():
    """The torch.distributed module, the process group started from torchrun's environment if needed."""
    try:
        import torch
        import torch.distributed as dist
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependencyError("torch", "torch", "--distributed") from exc
    if not dist.is_initialized():
        if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
            raise InputError("--distributed needs a torchrun launch, e.g. "
                             "torchrun --nproc-per-node 2 -m datadiet.cli select ... --distributed")
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return dist


class _ShardState:
    """Scores of one shard: score = -x.c (cosine) or |x-c|^2 (euclidean), float32."""

    def __init__(self, X: np.ndarray, metric: str, tau: float):
        self.X, self.cosine, self.tau = X, metric == "cosine", tau
        self.sqnorm = None if self.cosine else np.einsum("ij,ij->i", X, X)
        self.score = np.full(X.shape[0], np.inf, dtype=X.dtype)
        self._buf = np.empty(X.shape[0], dtype=X.dtype)

    def add_vec(self, v: np.ndarray) -> None:
        buf = np.matmul(self.X, v, out=self._buf)
        if self.cosine:
            np.negative(buf, out=buf)
        else:
            buf *= -2
            buf += self.sqnorm
            buf += np.float32(v @ v)
        np.minimum(self.score, buf, out=self.score)

    def top(self) -> float:
        return float(self.score.max()) if self.score.size else -np.inf

    def band(self, top: float) -> np.ndarray:
        lo = top - 2 * self.tau if np.isfinite(top) else top
        return np.flatnonzero(self.score >= lo)


def maxmin_distributed(X, k: int, metric: str = "cosine", start: int | None = None, seed: int = 0,
                       *, progress=None) -> MaxMinResult:
    """Farthest-first over all ranks; X is the full array (a memmap is fine), each rank reads its shard."""
    import torch

    dist = init_from_env()
    check_metric(metric)
    world, rank = dist.get_world_size(), dist.get_rank()
    n = int(np.shape(X)[0])
    k = _check_k(k, n)
    if start is None:
        start = int(np.random.default_rng(seed).integers(n))
    elif not 0 <= int(start) < n:
        raise InputError(f"start={start} is out of range; choose a row index in 0..{n - 1}")
    lo, hi = shard_bounds(n, world, rank)
    Xs = as_points(np.asarray(X[lo:hi]), metric)
    if metric == "euclidean":  # subtract the global mean, as the single-process engine does
        total = torch.from_numpy(Xs.sum(axis=0, dtype=np.float64))
        dist.all_reduce(total)
        Xs = Xs - (total.numpy() / n).astype(np.float32)
    sq = np.einsum("ij,ij->i", Xs, Xs, dtype=np.float64)
    bounds = torch.tensor([sq.max() if sq.size else -np.inf, -(sq.min() if sq.size else np.inf)], dtype=torch.float64)
    dist.all_reduce(bounds, op=dist.ReduceOp.MAX)
    tau = score_tau(Xs.shape[1], float(bounds[0]), -float(bounds[1]), metric)
    state = _ShardState(Xs, metric, tau)
    cert = Certifier(Xs, metric, capacity=k)
    indices = np.empty(k, dtype=np.int64)
    distances = np.empty(k, dtype=np.float64)
    every = max(1, k // 200)
    for step in range(k):
        if step == 0:
            i = start
        else:
            top = torch.tensor([state.top()], dtype=torch.float64)
            dist.all_reduce(top, op=dist.ReduceOp.MAX)
            cand = state.band(float(top[0]))
            mine = torch.tensor([0.0, -np.inf, np.inf], dtype=torch.float64)
            if cand.size:
                s = cert.scores(cand, Xs[cand])
                best = np.flatnonzero(s == s.max())[0]  # cand is sorted: lowest index among ties
                mine = torch.tensor([cand.size, s[best], lo + cand[best]], dtype=torch.float64)
            allc = [torch.empty(3, dtype=torch.float64) for _ in range(world)]
            dist.all_gather(allc, mine)
            table = torch.stack(allc).numpy()
            if table[:, 0].sum() == 1:
                i = int(table[table[:, 0] == 1, 2][0])
            else:
                live = table[table[:, 0] > 0]
                tied = live[live[:, 1] == live[:, 1].max()]
                i = int(tied[:, 2].min())
        owner = next(r for r in range(world) if shard_bounds(n, world, r)[0] <= i < shard_bounds(n, world, r)[1])
        payload = torch.empty(Xs.shape[1] + 1, dtype=torch.float64)
        if rank == owner:
            payload[:-1] = torch.from_numpy(Xs[i - lo].astype(np.float64))
            payload[-1] = float(state.score[i - lo])
        dist.broadcast(payload, src=owner)
        v = payload[:-1].numpy().astype(np.float32)
        indices[step], distances[step] = i, cert.distance(float(payload[-1]), v)
        if step + 1 < k:
            state.add_vec(v)
            if rank == owner:
                state.score[i - lo] = -np.inf
            cert.add_vector(v)
        if progress is not None and ((step + 1) % every == 0 or step + 1 == k):
            progress(step + 1)
    return MaxMinResult(indices, distances)

"""Row-sharded farthest-first on torch.distributed (gloo on CPU, NCCL on GPU).

Rank r holds rows [lo_r, hi_r) of ``shard_bounds(n, world, r)`` as working rows (the euclidean
scale is all-reduced, so they are the single-process rows) and scans them with ``plain.PlainState``.
The pick loop is ``maxmin.greedy``; its argmax here is collective (``CollectivePicker``): all-reduce
the top scan score, count the band over the ranks, and where more than one row is in it, compare
each rank's certified best by refined score and, if they cannot be told apart, by exact integer
score. So the picks are exactly the single-process ones (ties to the lowest global index), for any
number of ranks. The chosen vector is broadcast from its owner.

``maxmin_shard`` takes a rank's rows already in memory (what ``datadiet select --distributed``
embeds per rank); ``maxmin_distributed`` slices them from a full array or memmap. Input checks
are collective: every rank raises the same error, naming the first bad row globally, so no
rank is left waiting in a collective.

    torchrun --nproc-per-node 2 -m -- datadiet.cli select emb.npy -k 1000 --distributed

(`--` ends torchrun's own options: without it torchrun reads datadiet's --start as an
abbreviation of its --start-method and stops with "ambiguous option".)
"""

from __future__ import annotations

import math
import os

import numpy as np

from ..errors import DatadietError, InputError, MissingDependencyError
from . import params, scores
from .certify import Certifier, contenders, trace_of
from .maxmin import MaxMinResult, greedy
from .plain import PlainState
from .points import (Duplicates, Points, as_points, first_bad_rows, max_abs, nonfinite_row_message,
                     not_real_message, row_digests, zero_row_message)


def shard_bounds(n: int, world: int, rank: int) -> tuple[int, int]:
    """Contiguous, balanced row range of `rank` (the first n % world ranks get one row more)."""
    base, extra = divmod(n, world)
    lo = rank * base + min(rank, extra)
    return lo, lo + base + (rank < extra)


def shard_owner(indices, n: int, world: int) -> np.ndarray:
    """Rank holding each global row index under `shard_bounds` (empty shards hold none)."""
    ends = np.array([shard_bounds(n, world, r)[1] for r in range(world)])
    return np.searchsorted(ends, np.asarray(indices), side="right")


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
                             "torchrun --nproc-per-node 2 -m -- datadiet.cli select ... --distributed")
        # The rows live in host memory and every collective here sends CPU tensors or objects,
        # which NCCL cannot carry: with a GPU, CPU tensors go through gloo and CUDA ones through NCCL.
        dist.init_process_group("cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo")
    return dist


def gather_all(dist, obj) -> list:
    """Every rank's small picklable `obj`, in rank order, on every rank."""
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def run_together(dist, step):
    """``step()`` on every rank; if it raised a DatadietError anywhere, every rank raises it.

    A bad input seen by one rank only (a row of its shard) would otherwise leave the others
    waiting in their next collective. The lowest failing rank's message wins: shards are
    contiguous, so that is the error a single process would have met first.
    """
    try:
        result, error = step(), None
    except DatadietError as exc:
        result, error = None, exc
    messages = gather_all(dist, None if error is None else str(error))
    first = next((m for m in messages if m is not None), None)
    if first is None:
        return result
    if error is not None and str(error) == first:
        raise error
    raise InputError(first)


def check_shard(dist, X, lo: int, hi: int, metric: str) -> None:
    """Collective version of ``as_points``'s row checks, with global row numbers.

    Like the single-process check, a NaN/inf row anywhere is reported before an all-zero row.
    """
    X = np.asarray(X)
    problem = width = bad_row = zero_row = None
    if X.ndim != 2 or X.shape[0] != hi - lo:
        problem = (f"rank {dist.get_rank()} must hold rows {lo}..{hi - 1} as a 2-D array of {hi - lo} rows "
                   f"(its shard_bounds), got shape {X.shape}")
    elif (problem := not_real_message(X)) is None:
        width = X.shape[1]
        bad, zero = first_bad_rows(X, metric, max(1, (1 << 20) // max(1, width)))
        bad_row = None if bad is None else lo + bad
        zero_row = None if zero is None else lo + zero
    reports = gather_all(dist, (problem, width, bad_row, zero_row))
    problems = [r[0] for r in reports if r[0] is not None]
    if problems:
        raise InputError(problems[0])
    widths = [r[1] for r in reports]
    if len(set(widths)) > 1:
        raise InputError(f"the ranks hold rows of different widths {widths}; every shard needs the same columns")
    bad = [r[2] for r in reports if r[2] is not None]
    if bad:
        raise InputError(nonfinite_row_message(min(bad)))
    zero = [r[3] for r in reports if r[3] is not None]
    if zero:
        raise InputError(zero_row_message(min(zero)))


def global_duplicates(dist, W: np.ndarray, lo: int, n: int) -> Duplicates:
    """Groups of bit-identical working rows over all ranks (global indices), from 128-bit digests:
    n x 16 bytes gathered, never n x d; a false match has probability ~ n^2 / 2^129."""
    digests = np.concatenate(gather_all(dist, row_digests(W)))
    _, first, inverse = np.unique(digests, axis=0, return_index=True, return_inverse=True)
    return Duplicates(first[inverse.reshape(-1)].astype(np.int64))


class CollectivePicker:
    """``certify.Picker`` over all ranks: every rank returns the same global row index."""

    def __init__(self, dist, sqnorm: np.ndarray, tau: float, dtype, d: int, lo: int, capacity: int):
        import torch

        self.dist, self.torch, self.lo, self.tau = dist, torch, lo, tau
        self.cert = Certifier(dtype, d, sqnorm.size, capacity)
        self.q = sqnorm

    def add_center(self, v: np.ndarray, qv: float) -> None:
        self.cert.add_center(v, qv)

    def hint(self, state, i: int) -> tuple[None, int]:
        return None, -1  # the trace is computed from the chosen vectors at the end

    def _max(self, x: float) -> float:
        t = self.torch.tensor([x], dtype=self.torch.float64)
        self.dist.all_reduce(t, op=self.dist.ReduceOp.MAX)
        return float(t[0])

    def pick(self, state) -> int | None:
        top = self._max(state.top())
        if top == -np.inf:
            return None
        band = state.band(top - 2 * self.tau if top < np.inf else top)
        counts = gather_all(self.dist, (int(band.size), self.lo + int(band[0]) if band.size else -1))
        if sum(c for c, _ in counts) == 1 or self.cert.m == 0:
            return min(i for c, i in counts if c)
        best = None
        if band.size:
            j, v = self.cert.best(band, state.rows(band), self.q[band], band)
            best = (v, self.lo + int(band[j]), int(band[j]))
        bests = [b for b in gather_all(self.dist, None if best is None else best[:2]) if b is not None]
        values = np.array([v for v, _ in bests])
        c = contenders(values, self.cert.eps, self.cert.abs)
        if c.size == 1:
            return bests[int(c[0])][1]
        mine = None  # the contenders' exact scores (integers): each from the rank that holds the row
        if best is not None and best[1] in {bests[int(j)][1] for j in c}:
            mine = (self.cert.exact(state.rows(np.array([best[2]]))[0], self.q[best[2]]), best[1])
        exact = [e for e in gather_all(self.dist, mine) if e is not None]
        top_exact = max(e for e, _ in exact)
        return min(i for e, i in exact if e == top_exact)

    def covering(self, state) -> float:
        i = self.pick(state)
        if i is None:
            return 0.0
        value = None
        if 0 <= i - self.lo < state.n:
            p = i - self.lo
            value = float(self.cert.values(np.array([p]), state.rows(np.array([p])), self.q[[p]])[0])
        return next(v for v in gather_all(self.dist, value) if v is not None)


def maxmin_distributed(X, k: int, metric: str = "cosine", start: int | None = None, seed: int = 0,
                       *, progress=None) -> MaxMinResult:
    """Farthest-first over all ranks; X is the full array (a memmap is fine), each rank reads its shard."""
    dist = init_from_env()
    n = int(np.shape(X)[0])
    lo, hi = shard_bounds(n, dist.get_world_size(), dist.get_rank())
    return maxmin_shard(X[lo:hi], n, k, metric=metric, start=start, seed=seed, progress=progress)


def shard_points(dist, local_rows, lo: int, hi: int, metric: str, dtype=np.float32) -> Points:
    """The working rows of this rank's shard, equal to the same rows of the single-process ``as_points``
    (checked collectively first; the euclidean scale comes from the global max |x|)."""
    rows = np.asarray(local_rows)
    check_shard(dist, rows, lo, hi, metric)
    amax = None
    if metric == "euclidean":
        import torch

        t = torch.tensor([max_abs(rows) if rows.size else 0.0], dtype=torch.float64)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        amax = float(t[0])
    if hi == lo:  # no rows here, but the same scale as every other rank (distances are reported here too)
        scale = math.frexp(amax)[1] if amax else 0
        return Points(np.empty((0, rows.shape[1]), dtype=dtype), metric, scale)
    return as_points(rows, metric, dtype=dtype, amax=amax, check=False)


def maxmin_shard(local_rows, n: int, k: int, metric: str = "cosine", start: int | None = None, seed: int = 0,
                 *, progress=None, return_points: bool = False):
    """Farthest-first over all ranks, each holding only its own rows.

    Parameters
    ----------
    local_rows : array of shape (hi - lo, d)
        Rows [lo, hi) = ``shard_bounds(n, world, rank)`` of the (never assembled) n x d matrix.
    n : int
        Number of rows over all ranks.

    Every rank returns the same MaxMinResult (global row indices), equal to
    ``maxmin(X, k, metric, start, seed, dtype=np.float32)`` on the assembled matrix; with
    `return_points`, also this rank's working rows (``points.Points``) for the metrics.

    Notes
    -----
    Per rank: O((hi - lo) * d) for the rows and O(n) for the 16-byte row digests that find
    copies across ranks; per pick, a few small collectives and one d-vector broadcast.
    """
    import torch

    dist = init_from_env()
    params.METRIC.check(metric)
    world, rank = dist.get_world_size(), dist.get_rank()
    k = params.check_k(k, n)
    start = params.check_start(start, n)
    if start is None:
        start = int(np.random.default_rng(params.check_seed(seed)).integers(n))
    lo, hi = shard_bounds(n, world, rank)
    P = shard_points(dist, local_rows, lo, hi, metric)
    M = torch.tensor([float(P.sqnorm.max()) if P.n else 0.0], dtype=torch.float64)
    dist.all_reduce(M, op=dist.ReduceOp.MAX)
    state = PlainState(P)
    state.tau = scores.scan_tau(P.d, float(M[0]), P.dtype)  # one band for all ranks
    picker = CollectivePicker(dist, P.sqnorm, state.tau, P.dtype, P.d, lo, k + 1)
    owners = [shard_bounds(n, world, r) for r in range(world)]
    chosen: list[tuple[np.ndarray, float]] = []

    def vector(i: int):
        owner = next(r for r, (a, b) in enumerate(owners) if a <= i < b)
        payload = torch.zeros(P.d + 1, dtype=torch.float64)
        if rank == owner:
            payload[:-1] = torch.from_numpy(P.rows[i - lo].astype(np.float64))
            payload[-1] = float(P.sqnorm[i - lo])
        dist.broadcast(payload, src=owner)
        v = payload[:-1].numpy().astype(P.dtype)
        chosen.append((v, float(payload[-1])))
        return v, float(payload[-1])

    def local(rows) -> np.ndarray:
        rows = np.atleast_1d(np.asarray(rows))
        return rows[(rows >= lo) & (rows < hi)] - lo

    dup = global_duplicates(dist, P.rows, lo, n)
    indices, covering, _ = greedy(n, dup, state, picker, k, start, np.empty(0, dtype=np.int64), vector=vector,
                                  local=local, progress=progress)
    C = np.stack([v for v, _ in chosen])
    distances = P.distance(trace_of(C, np.array([q for _, q in chosen]), 0))
    res = MaxMinResult(indices, np.atleast_1d(distances), P.distance(covering))
    return (res, P) if return_points else res

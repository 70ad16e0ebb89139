"""Row-sharded farthest-first on torch.distributed (gloo on CPU, NCCL on GPU).

Rank r holds rows [lo_r, hi_r) of ``shard_bounds(n, world, r)`` and their scores. Per pick:
all-reduce the largest score, all-gather each rank's certified best (count in the band, exact
score, global index), and broadcast the chosen vector from its owner; every rank then updates
its own shard. The picks are those of the certified single-process engine (ties to the lowest
global index): the euclidean centering mean is summed in numpy's row order (relayed over the
ranks), and a row with a bit-identical copy at a lower index on any rank waits until that
vector is chosen, since two ranks' float64 scores of equal rows can differ in the last bit.

``maxmin_shard`` takes a rank's rows already in memory (what ``datadiet select --distributed``
embeds per rank); ``maxmin_distributed`` slices them from a full array or memmap. Input checks
are collective: every rank raises the same error, naming the first bad row globally, so no
rank is left waiting in a collective.

    torchrun --nproc-per-node 2 -m -- datadiet.cli select emb.npy -k 1000 --distributed

(`--` ends torchrun's own options: without it torchrun reads datadiet's --start as an
abbreviation of its --start-method and stops with "ambiguous option".)
"""

from __future__ import annotations

import hashlib
import os

import numpy as np

from ..errors import DatadietError, InputError, MissingDependencyError
from ._certify import Certifier, _key, score_tau
from ._common import as_points, check_metric, nonfinite_row_message, not_real_message, zero_row_message
from .maxmin import LoopTail, MaxMinResult, _check_k


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
        finite = np.isfinite(X).all(axis=1)
        bad_row = lo + int(np.argmin(finite)) if not finite.all() else None
        zero = ~X.any(axis=1) if metric == "cosine" else np.zeros(0, dtype=bool)
        zero_row = lo + int(np.argmax(zero)) if zero.any() else None
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


def global_mean(dist, Xs: np.ndarray, n: int) -> np.ndarray:
    """``X.mean(axis=0, dtype=np.float64)`` of the sharded X, with the single-process bits.

    numpy sums axis 0 row after row, and float addition is not associative: a sum of per-shard
    sums can differ in the last bit, which shifts the centered float32 rows and can flip a
    near-tie pick. So the running sum is relayed: rank r continues rank r-1's sum over its rows.
    Rank 0 always holds rows (shard_bounds gives the extra rows to the first ranks).
    """
    import torch

    world, rank = dist.get_world_size(), dist.get_rank()
    acc = None
    if rank > 0:
        buf = torch.empty(Xs.shape[1], dtype=torch.float64)
        dist.recv(buf, src=rank - 1)
        acc = buf.numpy()
    acc = continue_sum(acc, Xs)
    total = torch.from_numpy(np.ascontiguousarray(acc, dtype=np.float64))
    if rank + 1 < world:
        dist.send(total, dst=rank + 1)
    dist.broadcast(total, src=world - 1)
    return total.numpy() / n


def continue_sum(acc: np.ndarray | None, X: np.ndarray, block: int = 4096) -> np.ndarray:
    """float64 column sums of X added row by row onto `acc` (None: start at X's first row), as numpy's
    axis-0 reduction orders them; blocks of rows bound the float64 copy."""
    for s in range(0, X.shape[0], block):
        B = X[s : s + block].astype(np.float64)
        acc = np.add.reduce(B, axis=0) if acc is None else np.add.reduce(np.vstack([acc[None], B]), axis=0)
    return acc


class _ShardState:
    """Scores of one shard: score = -x.c (cosine) or |x-c|^2 (euclidean), float32.

    `hidden` rows have a bit-identical copy at a lower global index: they tie with it exactly, and
    the single-process engine picks the lower index, but scores computed on two ranks can differ in
    the last bit. So a hidden row stays out of the running (score -inf, its real score kept aside)
    until its vector is chosen, when it becomes a copy of a chosen point, at distance exactly 0.
    """

    def __init__(self, X: np.ndarray, metric: str, tau: float, hidden: np.ndarray):
        self.X, self.cosine, self.tau = X, metric == "cosine", tau
        self.sqnorm = None if self.cosine else np.einsum("ij,ij->i", X, X)
        self.score = np.full(X.shape[0], np.inf, dtype=X.dtype)
        self._buf = np.empty(X.shape[0], dtype=X.dtype)
        self.hidden = hidden
        self.score[hidden] = -np.inf
        self._aside = np.full(hidden.size, np.inf, dtype=X.dtype)
        self._waiting: dict[bytes, list[int]] = {}
        for pos, row in enumerate(hidden.tolist()):
            self._waiting.setdefault(_key(X[row]), []).append(pos)

    def add_vec(self, v: np.ndarray) -> None:
        buf = np.matmul(self.X, v, out=self._buf)
        if self.cosine:
            np.negative(buf, out=buf)
        else:
            buf *= -2
            buf += self.sqnorm
            buf += np.float32(v @ v)
        np.minimum(self.score, buf, out=self.score)
        np.minimum(self._aside, buf[self.hidden], out=self._aside)

    def reveal_copies(self, v: np.ndarray) -> None:
        """Hidden rows equal to the chosen vector v join the running (call after add_vec(v))."""
        for pos in self._waiting.pop(_key(v), []):
            self.score[self.hidden[pos]] = self._aside[pos]

    def score_of(self, row: int) -> float:
        """The row's score, also while it is hidden (the start row may be a hidden copy)."""
        if self.score[row] == -np.inf:
            pos = np.flatnonzero(self.hidden == row)
            if pos.size:
                return float(self._aside[pos[0]])
        return float(self.score[row])

    def top(self) -> float:
        return float(self.score.max()) if self.score.size else -np.inf

    def band(self, top: float) -> np.ndarray:
        lo = top - 2 * self.tau if np.isfinite(top) else top
        return np.flatnonzero(self.score >= lo)


def hidden_copies(dist, Xs: np.ndarray, lo: int) -> np.ndarray:
    """Local rows with a bit-identical row (-0.0 == 0.0) at a lower global index, on any rank.

    Rows are matched across ranks by a blake2b-128 digest (n x 16 bytes gathered, never n x d);
    a false match has probability ~ n^2 / 2^129.
    """
    parts = gather_all(dist, row_digests(Xs))
    digests = np.concatenate(parts)
    _, first, inverse = np.unique(digests, axis=0, return_index=True, return_inverse=True)
    rep = first[inverse.reshape(-1)]
    local = np.arange(lo, lo + Xs.shape[0])
    return np.flatnonzero(rep[lo : lo + Xs.shape[0]] != local)


def row_digests(A: np.ndarray) -> np.ndarray:
    """(n, 2) uint64: a blake2b-128 digest of each row's bytes, -0.0 written as 0.0."""
    A = np.ascontiguousarray(A)
    zero = A.dtype.type(0)
    raw = b"".join(hashlib.blake2b((row + zero).tobytes(), digest_size=16).digest() for row in A)
    return np.frombuffer(raw, dtype=np.uint64).reshape(-1, 2)


def maxmin_distributed(X, k: int, metric: str = "cosine", start: int | None = None, seed: int = 0,
                       *, progress=None) -> MaxMinResult:
    """Farthest-first over all ranks; X is the full array (a memmap is fine), each rank reads its shard."""
    dist = init_from_env()
    n = int(np.shape(X)[0])
    lo, hi = shard_bounds(n, dist.get_world_size(), dist.get_rank())
    return maxmin_shard(X[lo:hi], n, k, metric=metric, start=start, seed=seed, progress=progress)


def maxmin_shard(local_rows, n: int, k: int, metric: str = "cosine", start: int | None = None, seed: int = 0,
                 *, progress=None) -> MaxMinResult:
    """Farthest-first over all ranks, each holding only its own rows.

    Parameters
    ----------
    local_rows : array of shape (hi - lo, d)
        Rows [lo, hi) = ``shard_bounds(n, world, rank)`` of the (never assembled) n x d matrix.
    n : int
        Number of rows over all ranks.

    Every rank returns the same MaxMinResult (global row indices): the picks of the certified
    single-process engines (``maxmin(X, k, backend="pruned")``), which the plain "numpy" scan
    matches except where float32 rounding decides a near-tie.

    Notes
    -----
    Per rank: O((hi - lo) * d) for the rows and O(n) for the 16-byte row digests that find
    copies across ranks; per pick, three small collectives and one d-vector broadcast.
    """
    import torch

    dist = init_from_env()
    check_metric(metric)
    world, rank = dist.get_world_size(), dist.get_rank()
    k = _check_k(k, n)
    if start is None:
        start = int(np.random.default_rng(seed).integers(n))
    elif not 0 <= int(start) < n:
        raise InputError(f"start={start} is out of range; choose a row index in 0..{n - 1}")
    lo, hi = shard_bounds(n, world, rank)
    rows = np.asarray(local_rows)
    check_shard(dist, rows, lo, hi, metric)
    Xs = as_points(rows, metric) if hi > lo else np.empty((0, rows.shape[1]), dtype=np.float32)
    if metric == "euclidean":  # subtract the global mean, as the single-process engine does
        Xs = Xs - global_mean(dist, Xs, n).astype(np.float32)
    sq = np.einsum("ij,ij->i", Xs, Xs, dtype=np.float64)
    bounds = torch.tensor([sq.max() if sq.size else -np.inf, -(sq.min() if sq.size else np.inf)], dtype=torch.float64)
    dist.all_reduce(bounds, op=dist.ReduceOp.MAX)
    tau = score_tau(Xs.shape[1], float(bounds[0]), -float(bounds[1]), metric)
    state = _ShardState(Xs, metric, tau, hidden_copies(dist, Xs, lo))
    cert = Certifier(Xs, metric, capacity=k)
    owners = [shard_bounds(n, world, r) for r in range(world)]
    indices = np.empty(k, dtype=np.int64)
    distances = np.empty(k, dtype=np.float64)
    tail = LoopTail(k, 0, progress)
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
        owner = next(r for r, (a, b) in enumerate(owners) if a <= i < b)
        payload = torch.empty(Xs.shape[1] + 1, dtype=torch.float64)
        if rank == owner:
            payload[:-1] = torch.from_numpy(Xs[i - lo].astype(np.float64))
            payload[-1] = state.score_of(i - lo)
        dist.broadcast(payload, src=owner)
        v = payload[:-1].numpy().astype(np.float32)
        indices[step], distances[step] = i, cert.distance(float(payload[-1]), v)
        if step + 1 < k:
            state.add_vec(v)
            state.reveal_copies(v)
            if rank == owner:
                state.score[i - lo] = -np.inf
            cert.add_vector(v)
        tail.picked(step)
    return MaxMinResult(indices, distances)

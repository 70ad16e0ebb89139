"""Greedy max-min (farthest-first) selection: the most uniform k-subset of a point set.

Wang, Gu, Shi et al., "Data Uniformity Improves Training Efficiency" (arXiv 2506.24120):
a subset with a larger minimum pairwise distance h_min trains faster. Farthest-first
traversal (Gonzalez 1985; "k-center greedy") adds, at every step, the point whose distance
to the chosen set is largest. It is a 2-approximation both of max-min dispersion (largest
h_min) and of k-center (smallest covering radius h_max).

    from datadiet.select import maxmin
    res = maxmin(X, k=1000)            # res.indices, res.distances
"""

from __future__ import annotations

import logging
from typing import Callable, NamedTuple, Sequence

import numpy as np

from ..errors import InputError
from ._common import as_points, duplicate_groups, duplicate_representatives

logger = logging.getLogger(__name__)

BACKENDS = ("auto", "numpy", "pruned", "torch")
PRECISIONS = ("float32", "float16", "bfloat16")
# Rows per block when a step needs a (rows x centers) matrix: bounds extra memory to ~4 MB.
_BLOCK_ELEMENTS = 1 << 20
# "auto" prunes from this many rows on (measured: README, "select at scale")
_PRUNE_FROM = 50_000


class MaxMinResult(NamedTuple):
    """Indices in selection order and the selection-distance trace.

    distances[i] is the distance from indices[i] to every point chosen before it (including
    `already_selected`); it is inf for the very first point of an empty set. Because each
    step picks the farthest point, distances[i] is also the covering radius h_max of the set
    before step i, and np.minimum.accumulate(distances)[i] is h_min of the first i+1 points.
    """

    indices: np.ndarray
    distances: np.ndarray

    @property
    def h_min_trace(self) -> np.ndarray:
        """h_min of every prefix (inf while the prefix has one point)."""
        return np.minimum.accumulate(self.distances)


def maxmin(
    X,
    k: int,
    metric: str = "cosine",
    start: int | None = None,
    seed: int = 0,
    *,
    already_selected: Sequence[int] | None = None,
    backend: str = "auto",
    device: str | None = None,
    dtype=np.float32,
    precision: str = "float32",
    checkpoint=None,
    checkpoint_every: float = 5.0,
    progress: Callable[[int], None] | None = None,
    stats: dict | None = None,
) -> MaxMinResult:
    """Select k rows of X by exact greedy farthest-first traversal.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Points (embeddings). Under ``metric="cosine"`` rows are L2-normalized first and the
        distance is 1 - cos; under ``"euclidean"`` it is the L2 distance.
    k : int
        Number of *new* points to select, 1 <= k <= n_samples - len(already_selected).
    metric : {"cosine", "euclidean"}, default="cosine"
    start : int or None, default=None
        First new point. None: the farthest point from `already_selected` if given, else a
        row drawn with `seed`.
    seed : int, default=0
        Seed of the random first point (the only random choice).
    already_selected : sequence of int, optional
        An existing subset to extend; its points count as chosen but are not returned.
    backend : {"auto", "numpy", "pruned", "torch"}, default="auto"
        "auto" uses torch when a CUDA device is available, else "pruned" from 50k rows on and
        "numpy" below (where one plain pass costs less than the pruning bookkeeping). "numpy" is the
        plain scan (one pass over all rows per pick, float32 ties as they fall); "pruned" skips
        cells that the triangle inequality proves unchanged (see ``pruned``); "torch" scans
        on CPU or CUDA. "pruned" and "torch" certify each pick (see ``_certify``): the index
        is the exact-arithmetic farthest point, so all of them return the same selection.
    device : str, optional
        Torch device ("cuda", "cpu"); default CUDA when available.
    dtype : numpy float dtype, default=np.float32
        Working precision (float64 for oracles).
    precision : {"float32", "float16", "bfloat16"}, default="float32"
        Storage of the rows on the torch backend; half precision reads half the bytes per
        pick and re-checks the candidates near the top exactly, so the selection is unchanged.
    checkpoint : path, optional
        Folder where the picks and the engine state are saved every `checkpoint_every`
        seconds; a rerun with the same folder resumes and returns the identical result.
    progress : callable(steps_done), optional
    stats : dict, optional
        Filled with the engine's counters: for "pruned", ``examined`` (point-center scores
        recomputed) and ``computed`` (rows read) out of ``steps * n``.

    Returns
    -------
    MaxMinResult
        ``indices`` (int64, shape (k,)) in selection order and ``distances`` (float64, shape (k,)).

    Notes
    -----
    Exact: each step takes the argmax of every point's distance to its nearest chosen point,
    ties broken to the lowest index; bit-identical rows are at distance exactly 0. Time
    O(k * n * d), memory O(n * d) (one working copy of X plus O(n) vectors; never n x n or
    k x n). Each step is one matrix-vector product, a running min and an argmax, so it is
    bound by memory bandwidth.
    """
    if backend not in BACKENDS:
        raise InputError(f"backend={backend!r} is not supported; use one of: {', '.join(BACKENDS)}")
    Xw = as_points(X, metric, dtype=dtype, center=True)
    n = Xw.shape[0]
    prior = _check_prior(already_selected, n)
    k = _check_k(k, n - prior.size)
    if start is not None:
        start = int(start)
        if not 0 <= start < n:
            raise InputError(f"start={start} is out of range; choose a row index in 0..{n - 1}")
        if start in set(prior.tolist()):
            raise InputError(f"start={start} is already in already_selected; pick another row")
    elif prior.size == 0:
        start = int(np.random.default_rng(seed).integers(n))

    if precision not in PRECISIONS:
        raise InputError(f"precision={precision!r} is not supported; use one of: {', '.join(PRECISIONS)}")
    if backend == "auto":
        # below ~50k rows a plain pass is a fraction of a millisecond: the cell bookkeeping costs more
        backend = "torch" if _cuda_available() else "pruned" if n >= _PRUNE_FROM else "numpy"
    if precision != "float32" and backend != "torch":
        raise InputError(f"precision={precision!r} needs backend='torch'; float32 is the only storage of "
                         f"backend={backend!r}")
    ckpt = None
    if checkpoint is not None:
        from .checkpoint import Checkpoint, fingerprint

        ckpt = Checkpoint(checkpoint, fingerprint(Xw, k=k, metric=metric, start=start, seed=seed,
                                                  prior=prior.tolist(), backend=backend,
                                                  precision=precision), every=checkpoint_every)
    if backend == "numpy":
        return _plain(Xw, k, metric, start, prior, ckpt, progress)
    return _certified(Xw, k, metric, start, prior, backend, device, precision, ckpt, progress, stats)


def _resume(ckpt, state, k: int):
    """(steps already done, indices, distances), restoring the state from `ckpt` if it holds one."""
    from .checkpoint import state_of

    indices = np.empty(k, dtype=np.int64)
    distances = np.empty(k, dtype=np.float64)
    data = ckpt.load() if ckpt is not None else None
    if data is None:
        return 0, indices, distances
    done = int(data["done"])
    indices[:done], distances[:done] = data["indices"], data["distances"]
    state.restore(state_of(data))
    logger.info("resumed from %s after %d of %d picks", ckpt.path, done, k)
    return done, indices, distances


def _plain(Xw, k, metric, start, prior, ckpt, progress) -> MaxMinResult:
    """The plain incremental scan: one matrix-vector product, min and argmax over all n per pick."""
    rep = duplicate_representatives(Xw)
    groups = duplicate_groups(rep)
    state = _NumpyState(Xw, metric)
    if prior.size:
        state.add_many(prior)
        for i in prior:
            _mark_chosen(state, rep, groups, int(i))
    done, indices, distances = _resume(ckpt, state, k)
    tail = LoopTail(k, done, progress, ckpt)
    for step in range(done, k):
        if step == 0 and start is not None:
            i, dist = start, state.distance_of(start)
        else:
            i, dist = state.farthest()
        indices[step], distances[step] = i, dist
        if step + 1 < k:  # the last point's update would only serve the next pick
            state.add(i)
            _mark_chosen(state, rep, groups, i)
            tail.updated(step, indices, distances, state)
        tail.picked(step)
    tail.finish(indices, distances, state)
    return MaxMinResult(indices, distances)


def _certified(Xw, k, metric, start, prior, backend, device, precision, ckpt, progress, stats=None) -> MaxMinResult:
    """Pruned or torch scan with certified picks (bit-identical rows at distance exactly 0)."""
    from ._certify import Certifier

    if backend == "torch":
        from ._torch import TorchState

        state = TorchState(Xw, metric, device, precision)
    else:
        from .pruned import PrunedState

        state = PrunedState(Xw, metric)
    if stats is not None:
        stats.update(state=state, n=Xw.shape[0])
    cert = Certifier(Xw, metric, capacity=prior.size + k)
    # the pruned state re-sorts rows by cell: `labels` maps positions to original indices
    labels = getattr(state, "labels", None)
    inverse = _Inverse(state)
    for i in prior:
        p = inverse(int(i))
        cert.add_vector(Xw[p])
        state.add(p)
        state.exclude(p)
    done, indices, distances = _resume(ckpt, state, k)
    inverse = _Inverse(state)
    for i in indices[:done]:
        cert.add_vector(Xw[inverse(int(i))])
    tail = LoopTail(k, done, progress, ckpt)
    for step in range(done, k):
        if step == 0 and start is not None:
            i = inverse(start)
        else:
            cand = state.candidates()
            lab = cand if labels is None else labels[cand]
            i = int(cand[np.argmin(lab)]) if cert.m == 0 else cert.pick(cand, Xw[cand], lab)[0]
        indices[step] = i if labels is None else labels[i]
        distances[step] = cert.distance(state.score_of(i), Xw[i])
        if step + 1 < k:
            cert.add_vector(Xw[i])
            state.add(i)
            state.exclude(i)  # may re-sort the rows (pruned): positions are stale after this
            tail.updated(step, indices, distances, state)
        tail.picked(step)
    tail.finish(indices, distances, state)
    if stats is not None:
        stats.pop("state")
        stats.update(steps=int(getattr(state, "steps", k)), examined=int(getattr(state, "examined", 0)),
                     computed=int(getattr(state, "computed", 0)))
    return MaxMinResult(indices, distances)


class LoopTail:
    """What every engine's pick loop does after a pick: checkpoint when due, report progress
    about 200 times, and save the finished run (so a rerun returns at once)."""

    def __init__(self, k: int, done: int, progress: Callable[[int], None] | None, ckpt=None):
        self.k, self.done, self.progress, self.ckpt = k, done, progress, ckpt
        self.every = max(1, k // 200)

    def updated(self, step: int, indices, distances, state) -> None:
        """Pick `step` is recorded and the state updated with it."""
        if self.ckpt is not None and self.ckpt.due():
            self.ckpt.save(step + 1, indices, distances, state.snapshot())

    def picked(self, step: int) -> None:
        if self.progress is not None and ((step + 1) % self.every == 0 or step + 1 == self.k):
            self.progress(step + 1)

    def finish(self, indices, distances, state) -> None:
        if self.ckpt is not None and self.done < self.k:
            self.ckpt.save(self.k, indices, distances, state.snapshot())


class _Inverse:
    """Original row index -> current position (identity when rows are never re-sorted)."""

    def __init__(self, state):
        self.state = state
        self._version = None
        self._inv = None

    def __call__(self, orig: int) -> int:
        labels = getattr(self.state, "labels", None)
        if labels is None:
            return orig
        version = self.state._sorted_at
        if self._version != version:
            self._inv = np.empty_like(labels)
            self._inv[labels] = np.arange(labels.size)
            self._version = version
        return int(self._inv[orig])


def _mark_chosen(state, rep: np.ndarray, groups: dict[int, np.ndarray], i: int) -> None:
    """Take i out of the running; its bit-identical copies are now at distance exactly 0."""
    group = groups.get(int(rep[i]))
    if group is not None:
        state.set_zero(group)
    state.exclude(i)


def _check_k(k, available: int) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise InputError(f"k must be an integer, got {k!r}")
    k = int(k)
    if k < 1:
        raise InputError(f"k={k} must be at least 1")
    if k > available:
        raise InputError(f"k={k} is larger than the number of rows available ({available}); choose k <= {available}")
    return k


def _check_prior(already_selected, n: int) -> np.ndarray:
    if already_selected is None:
        return np.empty(0, dtype=np.int64)
    prior = np.asarray(already_selected)
    if prior.size == 0:
        return np.empty(0, dtype=np.int64)
    if prior.ndim != 1 or not np.issubdtype(prior.dtype, np.integer):
        raise InputError("already_selected must be a 1-D sequence of integer row indices")
    bad = prior[(prior < 0) | (prior >= n)]
    if bad.size:
        raise InputError(f"already_selected holds {int(bad[0])}, out of range 0..{n - 1}")
    if np.unique(prior).size != prior.size:
        raise InputError("already_selected holds repeated indices; pass each row once")
    return prior.astype(np.int64)


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


class _NumpyState:
    """Per-point nearest-center score, kept so that argmax of `_score` is the farthest point.

    cosine: score = -max_c <x, c> (distance = 1 + score); euclidean: score = min_c |x - c|^2.
    Tracking similarity/squared distance saves the sqrt and the 1 - dot per element.
    """

    def __init__(self, X: np.ndarray, metric: str):
        self.X = X
        self.cosine = metric == "cosine"
        n = X.shape[0]
        self.sqnorm = None if self.cosine else np.einsum("ij,ij->i", X, X)
        self.score = np.full(n, np.inf, dtype=X.dtype)
        self._buf = np.empty(n, dtype=X.dtype)

    def _dist(self, score) -> float:
        s = float(score)
        if s == np.inf:
            return np.inf
        return max(0.0, 1.0 + s) if self.cosine else float(np.sqrt(max(0.0, s)))

    def add(self, c: int) -> None:
        buf = np.matmul(self.X, self.X[c], out=self._buf)
        if self.cosine:
            np.negative(buf, out=buf)
        else:  # |x|^2 + |c|^2 - 2 x.c
            buf *= -2
            buf += self.sqnorm
            buf += self.sqnorm[c]
        np.minimum(self.score, buf, out=self.score)

    def add_many(self, centers: np.ndarray) -> None:
        C = self.X[centers]
        rows = max(1, _BLOCK_ELEMENTS // max(1, centers.size))
        for s in range(0, self.X.shape[0], rows):
            block = self.X[s : s + rows] @ C.T
            if self.cosine:
                best = -block.max(axis=1)
            else:
                best = (self.sqnorm[s : s + rows, None] + self.sqnorm[centers][None, :] - 2 * block).min(axis=1)
            np.minimum(self.score[s : s + rows], best, out=self.score[s : s + rows])

    def snapshot(self) -> dict:
        return {"score": self.score}

    def restore(self, snap: dict) -> None:
        self.score[:] = snap["score"]

    def set_zero(self, idx) -> None:
        # min, not assignment: chosen points (-inf) must stay out of the running
        self.score[idx] = np.minimum(self.score[idx], -1.0 if self.cosine else 0.0)

    def exclude(self, i: int) -> None:
        self.score[i] = -np.inf

    def distance_of(self, i: int) -> float:
        return self._dist(self.score[i])

    def farthest(self) -> tuple[int, float]:
        i = int(np.argmax(self.score))  # first maximum: ties go to the lowest index
        return i, self._dist(self.score[i])

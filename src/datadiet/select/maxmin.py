"""Greedy max-min (farthest-first) selection: the most uniform k-subset of a point set.

Wang, Gu, Shi et al., "Data Uniformity Improves Training Efficiency" (arXiv 2506.24120):
a subset with a larger minimum pairwise distance h_min trains faster. Farthest-first
traversal (Gonzalez 1985; "k-center greedy") adds, at every step, the point whose distance
to the chosen set is largest. It is a 2-approximation both of max-min dispersion (largest
h_min) and of k-center (smallest covering radius h_max).

    from datadiet.select import maxmin
    res = maxmin(X, k=1000)            # res.indices, res.distances, res.covering_radius

Data flow: ``points.as_points`` (working rows, once) -> an engine state (plain | pruned | torch |
a torch.distributed shard) -> ``greedy`` (the one pick loop; its argmax is ``certify.Picker``, or a
collective one) -> ``certify.trace`` (the distances) -> ``metrics`` on the same points.
"""

from __future__ import annotations

import heapq
import logging
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from . import params
from .certify import Picker, trace
from .points import Points, as_points

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MaxMinResult:
    """Indices in selection order, the selection-distance trace and the final covering radius.

    distances[i] is the distance from indices[i] to every point chosen before it (including
    `already_selected`); it is inf for the very first point of an empty set. Because each step
    picks the farthest point, distances[i] is also the covering radius h_max of the set before
    step i, and np.minimum.accumulate(distances)[i] is h_min of the first i+1 points.
    covering_radius is h_max of the whole selection (with `already_selected`): the largest distance
    from any row to its nearest selected row.
    """

    indices: np.ndarray
    distances: np.ndarray
    covering_radius: float

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
    dtype=None,
    precision: str = "float32",
    checkpoint=None,
    checkpoint_every: float = 5.0,
    progress: Callable[[int], None] | None = None,
    stats: dict | None = None,
) -> MaxMinResult:
    """Select k rows of X by exact greedy farthest-first traversal.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features), or a ``Points`` from ``points.as_points``
        Points (embeddings): float16/32/64 or integers, any layout, a memory-mapped file.
    k : int
        Number of *new* points to select, 1 <= k <= n_samples - len(already_selected).
    metric : {"cosine", "euclidean"}, default="cosine"
        cosine: distance |x - c|^2 / 2 between the rows normalized to unit length (correctly
        rounded), which is 1 - cos up to that rounding; euclidean: |x - c|.
    start : int or None, default=None
        First new point. None: the farthest point from `already_selected` if given, else a
        row drawn with `seed`.
    seed : int, default=0
        Seed of the random first point (the only random choice).
    already_selected : sequence of int, optional
        An existing subset to extend; its points count as chosen but are not returned.
    backend : {"auto", "numpy", "pruned", "torch"}, default="auto"
        The engine that scans the rows; every one returns the same selection. "auto": "numpy"
        below 50,000 rows (one plain pass per pick), from there "torch" on a CUDA device, else
        "pruned" (skips cells that the triangle inequality proves unchanged) from 128 dimensions on
        and "numpy" below.
    device : str, optional
        Torch device ("cuda", "cpu") of backend="torch"; default CUDA when available.
    dtype : {None, np.float32, np.float64}, default=None
        Working precision: None keeps float64 input in float64 (float32 under a half `precision`)
        and converts anything else to float32.
    precision : {"float32", "float16", "bfloat16"}, default="float32"
        Storage of the rows on the torch backend (half the bytes per pick); the selection is unchanged.
    checkpoint : path, optional
        Folder where the picks and the engine state are saved every `checkpoint_every` seconds;
        a rerun with the same folder resumes and returns the identical result.
    progress : callable(steps_done), optional
    stats : dict, optional
        Filled with the engine's name and counters: for "pruned", ``examined`` (point-center
        scores recomputed) and ``computed`` (rows read) out of ``steps * n``.

    Returns
    -------
    MaxMinResult
        ``indices`` (int64, shape (k,)) in selection order, ``distances`` (float64, shape (k,),
        relative error below 1e-12) and ``covering_radius``.

    Notes
    -----
    Exact: each step takes the point whose distance to its nearest chosen point is largest in
    exact arithmetic of the working rows (``points``), ties to the lowest index; bit-identical
    rows are at distance exactly 0. An engine scans every row in its working precision; the rows
    within that scan's rigorous error bound of the top are settled in float64 and, where that
    cannot tell them apart, in integers (``certify``). So the result does not depend on the
    engine, the BLAS kernel, the CPU or the number of ranks. Time O(k * n * d), memory O(n * d):
    one working copy of X (two below 50,000 rows, where the plain scan reads a transposed one) plus
    O(n) vectors; never n x n or k x n.
    """
    engine = params.check_engine(backend, metric, precision, dtype, device, checkpoint=checkpoint)
    if dtype is None and precision != "float32":
        dtype = np.float32  # half-precision storage holds float32 working rows
    P = as_points(X, metric, dtype=dtype)
    n = P.n
    prior = params.check_prior(already_selected, n)
    k = params.check_k(k, n - prior.size)
    start = params.check_start(start, n, prior)
    seed = params.check_seed(seed)
    if start is None and prior.size == 0:
        start = int(np.random.default_rng(seed).integers(n))
    name = engine.resolve(n, P.d)
    ckpt = None
    if checkpoint is not None:
        from .checkpoint import Checkpoint, fingerprint

        ckpt = Checkpoint(checkpoint, fingerprint(P.rows, k=k, metric=metric, start=start, seed=seed,
                                                  prior=prior.tolist(), backend=name, precision=precision),
                          every=checkpoint_every)
    state = make_state(P, name, device, precision)
    picker = Picker(P.sqnorm, state.tau, P.dtype, P.d, prior.size + k + 1)

    row, sq = getattr(state, "row", None), P.sqnorm

    def vector(i: int):
        if row is not None:
            return row(i), float(sq[i])
        return state.rows(np.array([state.position(i)]))[0].copy(), float(sq[i])

    def local(rows):
        if state.labels is None or isinstance(rows, int):
            return rows if state.labels is None else state.position(rows)
        return np.array([state.position(int(i)) for i in rows], dtype=np.int64)

    try:
        indices, covering, hints = greedy(n, P.duplicates, state, picker, k, start, prior, vector=vector,
                                          local=local, ckpt=ckpt, progress=progress)
    finally:
        state.finish()
    if stats is not None:
        stats.update(engine=name, n=n, steps=int(getattr(state, "steps", k)),
                     examined=int(getattr(state, "examined", 0)), computed=int(getattr(state, "computed", 0)))
    distances = P.distance(trace(P.rows, P.sqnorm, indices, prior, hints))
    return MaxMinResult(indices, np.atleast_1d(distances), P.distance(covering))


def make_state(P: Points, name: str, device=None, precision: str = "float32"):
    if name == "torch":
        from ._torch import TorchState

        return TorchState(P, device, precision)
    if name == "pruned":
        from .pruned import PrunedState

        return PrunedState(P)
    from .plain import PlainState

    return PlainState(P)


def greedy(n: int, dup, state, picker, k: int, start: int | None, prior: np.ndarray, *, vector, local,
           ckpt=None, progress: Callable[[int], None] | None = None) -> tuple[np.ndarray, float, list]:
    """The pick loop every engine shares: k row indices, the covering radius after them (a score) and
    per pick the picker's hint for its trace value (see ``certify.trace``).

    The engine state protocol (plain.PlainState, pruned.PrunedState, _torch.TorchState):
    ``tau`` (its scan scores are within tau of the exact ones, in its own units), ``add(v, |v|^2)``
    (a new center), ``exclude(positions)``, ``top()`` and ``band(lo)`` (positions with scan score >= lo),
    ``rows(positions)``, ``labels`` (position -> row index, None when rows never move) and
    ``position(i)``, ``snapshot()``/``restore()`` (checkpoints), ``finish()``; optionally ``add_many``
    (an existing subset in one block product) and ``band_of_top``/``nearest_of`` (rows whose nearest
    center is the only one that can be the exact nearest: one refined pair instead of a pass).

    state: the engine (scan scores of the rows it holds); picker: the certified argmax over all rows
    (``certify.Picker``, or the collective one of ``distributed``), None once no row is left;
    vector(i) -> (row i's working vector, |v|^2); local(rows) -> the state's positions of those rows
    it holds. Rows with a bit-identical row at a lower index (``dup``) wait outside the running: the
    lower one ties with them exactly and wins. Once their vector is chosen they are copies at exact
    distance 0, picked (lowest index first) only when no row at a positive distance is left.
    """
    chosen = np.zeros(n, dtype=bool)
    pooled = np.zeros(n, dtype=bool)
    pool: list[int] = []  # heap of rows at exact distance 0: copies of a chosen vector
    hidden = np.flatnonzero(dup.rep != np.arange(n))
    if hidden.size:
        state.exclude(local(hidden))
    shared = dup.shared.tolist()  # a Python list: the loop looks up one row per pick
    add, add_center, exclude = state.add, picker.add_center, state.exclude  # the loop's hot calls

    def choose(i: int, apply: bool = True) -> None:
        if apply:
            v, qv = vector(i)
            add(v, qv)
            add_center(v, qv)
        chosen[i] = True
        if not shared[i]:  # a row without copies: the common case
            exclude(local(i))
            return
        group = dup.copies(i)
        wait = group[~chosen[group] & ~pooled[group]]
        pooled[wait] = True
        for j in wait.tolist():
            heapq.heappush(pool, j)
        state.exclude(local(group[(dup.rep[group] == group) | (group == i)]))  # those still running

    if prior.size > 1 and hasattr(state, "add_many"):  # one block product for an existing subset
        vecs = [vector(int(i)) for i in prior]
        state.add_many(np.stack([v for v, _ in vecs]), np.array([q for _, q in vecs]))
        for i, (v, qv) in zip(prior.tolist(), vecs):
            picker.add_center(v, qv)
            choose(i, apply=False)
    else:
        for i in prior.tolist():
            choose(i)
    indices = np.empty(k, dtype=np.int64)
    done = 0
    if ckpt is not None and (data := ckpt.load()) is not None:
        from .checkpoint import state_of

        done = int(data["done"])
        indices[:done] = data["indices"]
        state.restore(state_of(data))
        for i in indices[:done].tolist():
            v, qv = vector(i)
            picker.add_center(v, qv)
            choose(i, apply=False)
        logger.info("resumed from %s after %d of %d picks", ckpt.path, done, k)
    hints: list = [(None, -1)] * done  # resumed picks are scored in full
    tail = LoopTail(k, done, progress, ckpt)
    for step in range(done, k):
        i = start if step == 0 and start is not None else picker.pick(state)
        if i is None:
            i = _pop(pool, chosen)
            hints.append((0.0, -1))  # a copy of a chosen vector: exactly 0
        else:
            hints.append(picker.hint(state, i) if step or prior.size or done else (np.inf, -1))
        indices[step] = i
        choose(i)
        tail.updated(step, indices, state)
        tail.picked(step)
    tail.finish(indices, state)
    return indices, picker.covering(state), hints


def _pop(pool: list[int], chosen: np.ndarray) -> int:
    while chosen[pool[0]]:
        heapq.heappop(pool)
    return heapq.heappop(pool)


class LoopTail:
    """What the pick loop does after a pick: checkpoint when due, report progress about 200
    times, and save the finished run (so a rerun returns at once)."""

    def __init__(self, k: int, done: int, progress: Callable[[int], None] | None, ckpt=None):
        self.k, self.done, self.progress, self.ckpt = k, done, progress, ckpt
        self.every = max(1, k // 200)

    def updated(self, step: int, indices, state) -> None:
        """Pick `step` is recorded and the state updated with it."""
        if self.ckpt is not None and self.ckpt.due():
            self.ckpt.save(step + 1, indices, state.snapshot())

    def picked(self, step: int) -> None:
        if self.progress is not None and ((step + 1) % self.every == 0 or step + 1 == self.k):
            self.progress(step + 1)

    def finish(self, indices, state) -> None:
        if self.ckpt is not None and self.done < self.k:
            self.ckpt.save(self.k, indices, state.snapshot())

"""Online data mixing under ``torch.distributed`` data parallelism.

Two things keep every rank's mixer identical without ever sending the weights around:

1. **Same alignments.** Each rank measures alignments on its own probe data, then
   `allreduce_alignment` replaces them by the mean over ranks (``all_reduce`` SUM / world size,
   in float64). Every rank then applies the same deterministic `DGA.update` to the same numbers,
   so the weights stay bit-identical (for world size 2 the sum a0 + a1 is order-independent;
   for larger worlds the backend returns the same reduced value to every rank).
2. **Same domain draws, disjoint examples.** `DistributedDomainSampler` draws the *global* batch
   of ``batch_size * world_size`` slots from the shared seed on every rank (the same draw as a
   single-process `DomainSampler` with that global batch size) and rank r keeps positions
   ``r::world_size``. The slices are disjoint and their union is the global batch.

Typical loop (each rank)::

    sampler = DistributedDomainSampler(domain_indices, mixer, batch_size=8, seed=0)  # rank/world from dist
    for step, idx in enumerate(sampler):
        ...train on dataset[idx] with DDP...
        if mixer.due(step):
            a = compute_alignment(model, loss_fn, probe_batches, target_batch)   # local probe data
            mixer.update(allreduce_alignment(a))

``sync_mixer(mixer)`` broadcasts rank 0's mixer state once (e.g. after resuming from a checkpoint
that only rank 0 read). Everything is a no-op when ``torch.distributed`` is not initialized.
Rerun the check: ``pytest tests/test_mix_distributed.py`` (two gloo processes on localhost).
"""

from __future__ import annotations

import logging
from typing import Any, Mapping, Sequence

import numpy as np

from datadiet.errors import InputError
from datadiet.mix.base import Mixer
from datadiet.mix.sampler import DomainSampler

log = logging.getLogger(__name__)


def _dist():
    """The ``torch.distributed`` module when a process group is initialized, else None."""
    try:
        import torch.distributed as dist
    except ImportError:  # pragma: no cover - torch is a dependency of this module's sampler
        return None
    if dist.is_available() and dist.is_initialized():
        return dist
    return None


def rank_and_world(rank: int | None = None, world_size: int | None = None) -> tuple[int, int]:
    """(rank, world_size): the given values, else the initialized process group's, else (0, 1)."""
    dist = _dist()
    if world_size is None:
        world_size = dist.get_world_size() if dist is not None else 1
    if rank is None:
        rank = dist.get_rank() if dist is not None else 0
    if isinstance(world_size, bool) or not isinstance(world_size, (int, np.integer)) or world_size < 1:
        raise InputError(f"world_size must be an int >= 1, got {world_size!r}")
    if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) or not 0 <= rank < world_size:
        raise InputError(f"rank must be an int in [0, {world_size}), got {rank!r}")
    return int(rank), int(world_size)


def allreduce_alignment(a: Mapping[str, float] | Sequence[float] | np.ndarray) -> Any:
    """Mean of alignment scores over all ranks; returns the same type as given.

    Parameters
    ----------
    a : dict name -> float, or array of shape (k,)
        This rank's alignments. A dict must have the same keys in the same order on every rank.

    Returns
    -------
    dict name -> float, or float64 ndarray of shape (k,)
        a averaged over ranks (a copy of ``a`` as float64 when ``torch.distributed`` is not
        initialized). A NaN on any rank (a skipped, non-finite gradient) makes that entry NaN on
        every rank, so every rank's `DGA.update` skips it alike.

    Notes
    -----
    One ``all_reduce(SUM)`` of a float64 tensor of k entries, divided by the world size. With the
    NCCL backend the tensor goes through the current CUDA device; with gloo it stays on CPU.
    """
    is_map = isinstance(a, Mapping)
    keys = list(a) if is_map else None
    vec = np.array([float(a[k]) for k in keys], dtype=np.float64) if is_map else \
        np.array(a, dtype=np.float64).ravel()
    dist = _dist()
    if dist is not None and dist.get_world_size() > 1:
        vec = _allreduce_mean(dist, vec)
    if is_map:
        return {k: float(v) for k, v in zip(keys, vec)}
    return vec


def _allreduce_mean(dist: Any, vec: np.ndarray) -> np.ndarray:
    import torch
    t = torch.from_numpy(vec.copy())
    if dist.get_backend() == "nccl":
        t = t.to(torch.device("cuda", torch.cuda.current_device()))
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.cpu().numpy().astype(np.float64) / dist.get_world_size()


def sync_mixer(mixer: Mixer, src: int = 0) -> None:
    """Broadcast ``mixer.state_dict()`` from rank ``src`` and load it on the other ranks (no-op alone)."""
    dist = _dist()
    if dist is None or dist.get_world_size() == 1:
        return
    obj = [mixer.state_dict() if dist.get_rank() == src else None]
    dist.broadcast_object_list(obj, src=src)
    if dist.get_rank() != src:
        mixer.load_state_dict(obj[0])


class DistributedDomainSampler(DomainSampler):
    """`DomainSampler` whose ranks share the domain draws and split each global batch.

    Parameters
    ----------
    domain_indices, mixer, seed, include_mixer_state
        As in `DomainSampler`; must be the same on every rank.
    batch_size : int >= 1
        Per-rank batch size; the global batch has ``batch_size * world_size`` slots.
    rank, world_size : int, optional
        Default: from the initialized process group, else 0 and 1.

    Attributes
    ----------
    global_batch : list of int
        The whole global batch drawn last (the same on every rank).
    last_batch_domains : list of str
        Domains of this rank's slice.

    Notes
    -----
    Rank r's batch is ``global_batch[r::world_size]``, where the global batch is exactly what
    ``DomainSampler(domain_indices, mixer, batch_size * world_size, seed)`` yields. Every rank thus
    walks the same per-domain permutations (a little redundant work, O(global batch) per step) and
    needs the same weights; keep them equal with `allreduce_alignment`. ``state_dict`` is the
    global sampler's, so a checkpoint from any rank resumes every rank.
    """

    def __init__(self, domain_indices: Mapping[str, Sequence[int]], mixer: Mixer, batch_size: int, seed: int = 0,
                 *, rank: int | None = None, world_size: int | None = None, include_mixer_state: bool = True):
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise InputError(f"batch_size must be an int >= 1, got {batch_size!r}")
        self.rank, self.world_size = rank_and_world(rank, world_size)
        self.per_rank_batch_size = int(batch_size)
        super().__init__(domain_indices, mixer, self.per_rank_batch_size * self.world_size, seed,
                         include_mixer_state=include_mixer_state)
        self.global_batch: list[int] = []
        self.global_batch_domains: list[str] = []

    def next_batch(self) -> list[int]:
        """Draw the global batch with the current weights and return this rank's slice."""
        self.global_batch = super().next_batch()
        self.global_batch_domains = self.last_batch_domains
        self.last_batch_domains = self.global_batch_domains[self.rank::self.world_size]
        return self.global_batch[self.rank::self.world_size]

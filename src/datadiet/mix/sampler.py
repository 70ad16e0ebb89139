"""`DomainSampler`: batches of example indices drawn by a mixer's current domain weights.

For each batch the sampler reads ``mixer.weights()`` (so updates take effect on the next batch),
draws each slot's domain i ~ α, then takes the next example of domain i from a per-domain stream
that walks a fresh permutation every pass (epoch) of that domain. Resumable: ``state_dict()``
holds counters only (plus the mixer's state), because every random draw is derived from a seed
tuple: slot domains of batch b from ``SeedSequence([seed, k, b])`` and the permutation of domain d
in its epoch e from ``SeedSequence([seed, d, e])`` (d < k, so the two never collide).

Use with ``datadiet.lm.train(..., sampler=S)`` or ``DataLoader(ds, batch_sampler=S)``.
Rerun: ``python -c "from datadiet.mix import *; s=DomainSampler({'a':[0,1],'b':[2,3]}, Uniform(['a','b']), 4); print(next(iter(s)))"``
"""

from __future__ import annotations

import logging
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
from torch.utils.data import Sampler

from datadiet.errors import InputError
from datadiet.mix.base import Mixer

log = logging.getLogger(__name__)


class DomainSampler(Sampler):
    """Infinite batch sampler over domains weighted by ``mixer.weights()``.

    Parameters
    ----------
    domain_indices : dict name -> sequence of int
        Example indices (rows of the training set) of each domain; every domain of the mixer
        needs at least one, and no other names are allowed.
    mixer : Mixer
        Source of the weights; its ``domains`` order is the sampler's order.
    batch_size : int >= 1
    seed : int >= 0, default=0
    include_mixer_state : bool, default=True
        ``state_dict()`` also saves (and ``load_state_dict`` restores) the mixer's state, so a
        checkpoint that saves only the sampler resumes the weights too.

    Attributes
    ----------
    last_batch_domains : list of str
        Domain of each slot of the batch yielded last (empty before the first batch).
    batches_drawn : int
    """

    def __init__(self, domain_indices: Mapping[str, Sequence[int]], mixer: Mixer, batch_size: int, seed: int = 0,
                 *, include_mixer_state: bool = True):
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise InputError(f"batch_size must be an int >= 1, got {batch_size!r}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise InputError(f"seed must be an int >= 0, got {seed!r}")
        self.domains = list(mixer.domains)
        extra = [d for d in domain_indices if d not in self.domains]
        if extra:
            raise InputError(f"domain {extra[0]!r} has indices but is not one of the mixer's domains {self.domains}")
        self._indices: list[np.ndarray] = []
        for d in self.domains:
            if d not in domain_indices:
                raise InputError(f"domain {d!r} of the mixer has no entry in domain_indices")
            idx = np.asarray(domain_indices[d])
            if idx.size == 0:
                raise InputError(f"domain {d!r} is empty: it has no examples to sample")
            if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer):
                raise InputError(f"indices of domain {d!r} must be a flat sequence of ints, got dtype {idx.dtype}")
            if (idx < 0).any():
                raise InputError(f"domain {d!r} has a negative example index {int(idx[idx < 0][0])}")
            self._indices.append(idx.astype(np.int64))
        self.mixer, self.batch_size, self.seed = mixer, int(batch_size), int(seed)
        self.include_mixer_state = include_mixer_state
        k = len(self.domains)
        self._epoch = [0] * k
        self._pos = [0] * k
        self._perm: list[np.ndarray | None] = [None] * k
        self.batches_drawn = 0
        self.last_batch_domains: list[str] = []

    # -- drawing --------------------------------------------------------------------------
    def _weights(self) -> np.ndarray:
        w = np.asarray(self.mixer.weights(), dtype=np.float64)
        if w.shape != (len(self.domains),) or not np.isfinite(w).all() or (w < 0).any() or not w.sum() > 0:
            raise InputError(f"mixer returned invalid weights {w!r} for domains {self.domains}")
        return w / w.sum()

    def _next_example(self, d: int) -> int:
        if self._perm[d] is None:
            rng = np.random.default_rng(np.random.SeedSequence([self.seed, d, self._epoch[d]]))
            self._perm[d] = rng.permutation(self._indices[d].size)
        idx = int(self._indices[d][self._perm[d][self._pos[d]]])
        self._pos[d] += 1
        if self._pos[d] == self._indices[d].size:
            self._pos[d], self._perm[d] = 0, None
            self._epoch[d] += 1
        return idx

    def next_batch(self) -> list[int]:
        """Draw one batch with the mixer's current weights."""
        w = self._weights()
        k = len(self.domains)
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, k, self.batches_drawn]))
        slots = rng.choice(k, size=self.batch_size, p=w)
        batch = [self._next_example(int(d)) for d in slots]
        self.last_batch_domains = [self.domains[int(d)] for d in slots]
        self.batches_drawn += 1
        return batch

    def __iter__(self) -> Iterator[list[int]]:
        while True:
            yield self.next_batch()

    # -- state ----------------------------------------------------------------------------
    def state_dict(self) -> dict:
        st: dict[str, Any] = {"seed": self.seed, "batch_size": self.batch_size, "domains": list(self.domains),
                              "batches_drawn": self.batches_drawn, "epoch": list(self._epoch),
                              "pos": list(self._pos), "last_batch_domains": list(self.last_batch_domains)}
        if self.include_mixer_state:
            st["mixer"] = self.mixer.state_dict()
        return st

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if list(state["domains"]) != self.domains:
            raise InputError(f"sampler state domains {state['domains']} differ from {self.domains}")
        if int(state["seed"]) != self.seed or int(state["batch_size"]) != self.batch_size:
            log.warning("resuming DomainSampler with seed/batch_size %s/%s saved as %s/%s",
                        self.seed, self.batch_size, state["seed"], state["batch_size"])
        self.batches_drawn = int(state["batches_drawn"])
        self._epoch = [int(e) for e in state["epoch"]]
        self._pos = [int(p) for p in state["pos"]]
        for d, p in enumerate(self._pos):
            if not 0 <= p < self._indices[d].size:
                raise InputError(f"sampler state position {p} is out of range for domain {self.domains[d]!r}")
        self._perm = [None] * len(self.domains)
        self.last_batch_domains = list(state.get("last_batch_domains", []))
        if self.include_mixer_state and "mixer" in state:
            self.mixer.load_state_dict(state["mixer"])

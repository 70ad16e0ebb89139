"""Two gloo processes on localhost keep DGA weights identical and split each global batch.

Rerun: ``pytest tests/test_mix_distributed.py -q``.
"""
from __future__ import annotations

import pickle
import socket

import numpy as np
import pytest

torch = pytest.importorskip("torch")
dist = pytest.importorskip("torch.distributed")
mp = pytest.importorskip("torch.multiprocessing")

from datadiet.errors import InputError  # noqa: E402
from datadiet.mix import DGA, compute_alignment  # noqa: E402
from datadiet.mix.distributed import (DistributedDomainSampler, allreduce_alignment, rank_and_world,  # noqa: E402
                                      sync_mixer)
from datadiet.mix.sampler import DomainSampler  # noqa: E402

DOMAINS = ["a", "b", "c"]
INDICES = {"a": list(range(0, 100)), "b": list(range(100, 200)), "c": list(range(200, 300))}
STEPS, BS, WORLD, SEED = 5, 4, 2, 7

pytestmark = pytest.mark.skipif(not (dist.is_available() and dist.is_gloo_available()),
                                reason="torch.distributed with the gloo backend is not available")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _mixer() -> DGA:
    return DGA(DOMAINS, eta=50.0, ema=0.5, update_every=1)


def _loss(model, batch):
    x, y = batch
    return ((model(x).squeeze(-1) - y) ** 2).mean()


def _probe(rank: int, step: int, name: str):
    """Rank-local probe data: every rank sees different examples (different gradients)."""
    g = torch.Generator().manual_seed(1000 * rank + 10 * step + [*DOMAINS, "tgt"].index(name))
    shift = {"a": 1.0, "b": -1.0, "c": 0.0, "tgt": 0.8}[name]
    x = torch.randn(6, 4, generator=g, dtype=torch.float64)
    return x, x.sum(dim=1) * shift + 0.1 * torch.randn(6, generator=g, dtype=torch.float64)


def _worker(rank: int, world: int, port: int, out_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        torch.manual_seed(0)
        model = torch.nn.Linear(4, 1).double()
        mixer = _mixer()
        if rank == 1:  # a rank that starts out of sync is fixed by sync_mixer
            mixer.update([5.0, 0.0, 0.0])
        sync_mixer(mixer)
        sampler = DistributedDomainSampler(INDICES, mixer, batch_size=BS, seed=SEED)
        rec = {"local": [], "batches": [], "weights": []}
        for step in range(STEPS):
            rec["batches"].append(sampler.next_batch())
            a = compute_alignment(model, _loss, {d: _probe(rank, step, d) for d in DOMAINS}, _probe(rank, step, "tgt"))
            rec["local"].append(a)
            mixer.update(allreduce_alignment(a))
            rec["weights"].append(mixer.weights())
        rec["vec"] = allreduce_alignment(np.array([rank + 1.0, 2.0 * rank]))
        with open(f"{out_dir}/rank{rank}.pkl", "wb") as f:
            pickle.dump(rec, f)
    finally:
        dist.destroy_process_group()


def test_two_gloo_ranks_keep_identical_weights_and_split_batches(tmp_path):
    mp.spawn(_worker, args=(WORLD, _free_port(), str(tmp_path)), nprocs=WORLD, join=True)
    recs = [pickle.load(open(tmp_path / f"rank{r}.pkl", "rb")) for r in range(WORLD)]
    # the ranks really saw different gradients
    assert recs[0]["local"][0] != recs[1]["local"][0]
    # weights bit-identical across ranks at every step
    for w0, w1 in zip(recs[0]["weights"], recs[1]["weights"]):
        assert np.array_equal(w0, w1)
    # ... and equal to one process fed the averaged alignments, drawing the global batch
    ref = _mixer()
    ref_sampler = DomainSampler(INDICES, ref, batch_size=BS * WORLD, seed=SEED)
    for step in range(STEPS):
        glob = ref_sampler.next_batch()
        b0, b1 = recs[0]["batches"][step], recs[1]["batches"][step]
        assert len(b0) == len(b1) == BS
        assert not set(b0) & set(b1)
        assert sorted(b0 + b1) == sorted(glob)
        assert b0 == glob[0::2] and b1 == glob[1::2]
        a = {d: (recs[0]["local"][step][d] + recs[1]["local"][step][d]) / 2 for d in DOMAINS}
        ref.update(a)
        assert np.array_equal(ref.weights(), recs[0]["weights"][step])
    assert ref.weights().max() > 0.5  # the updates did something
    np.testing.assert_array_equal(recs[0]["vec"], [1.5, 1.0])
    np.testing.assert_array_equal(recs[1]["vec"], [1.5, 1.0])


def test_single_process_is_a_no_op():
    a = {"a": 1.5, "b": float("nan")}
    out = allreduce_alignment(a)
    assert out["a"] == 1.5 and np.isnan(out["b"])
    v = np.array([1.0, 2.0], dtype=np.float32)
    assert allreduce_alignment(v).dtype == np.float64
    assert rank_and_world() == (0, 1)
    m = _mixer()
    sync_mixer(m)  # no process group: nothing happens
    s = DistributedDomainSampler(INDICES, m, batch_size=3, seed=1, rank=1, world_size=2)
    ref = DomainSampler(INDICES, _mixer(), batch_size=6, seed=1)
    assert s.next_batch() == ref.next_batch()[1::2]
    assert len(s.global_batch) == 6 and len(s.last_batch_domains) == 3


@pytest.mark.parametrize("rank,world", [(2, 2), (-1, 2), (0, 0)])
def test_bad_rank_or_world(rank, world):
    with pytest.raises(InputError):
        DistributedDomainSampler(INDICES, _mixer(), batch_size=2, rank=rank, world_size=world)

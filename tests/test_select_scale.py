"""Every fast path of the max-min engine against the brute-force oracle: pruned, half precision
with exact re-check, torch, 2-rank gloo, and a run killed and resumed from its checkpoint."""

from __future__ import annotations

import os
import socket

import numpy as np
import pytest

from datadiet.errors import InputError
from datadiet.select import maxmin
from datadiet.select.distributed import shard_bounds

torch = pytest.importorskip("torch")


def oracle(X, k, metric, start, prior=()):
    """Textbook farthest-first in float64: every candidate against every chosen point, each step."""
    P = np.asarray(X, dtype=np.float64)
    if metric == "cosine":
        P = P / np.linalg.norm(P, axis=1, keepdims=True)
    chosen, picked = list(prior), []
    for step in range(k):
        if step == 0:
            i = start
        else:
            d = np.min([((P - P[c]) ** 2).sum(axis=1) for c in chosen], axis=0)
            d[chosen] = -np.inf
            i = int(np.argmax(d))
        chosen.append(i)
        picked.append(i)
    return np.array(picked)


def sphere_mixture(n, d, clusters, seed, spread=0.3):
    """Clustered unit vectors: a mixture of Gaussians around random directions, projected to the sphere."""
    rng = np.random.default_rng(seed)
    C = rng.standard_normal((clusters, d))
    C /= np.linalg.norm(C, axis=1, keepdims=True)
    X = C[rng.integers(clusters, size=n)] + spread / np.sqrt(d) * rng.standard_normal((n, d))
    return X / np.linalg.norm(X, axis=1, keepdims=True)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
@pytest.mark.parametrize("seed", [0, 1])
def test_pruned_matches_oracle_and_prunes(metric, seed):
    X = sphere_mixture(3000, 16, 12, seed)
    if metric == "euclidean":
        X = X * np.random.default_rng(seed).uniform(0.5, 3.0, size=(len(X), 1))
    from datadiet.select import pruned

    states = []
    orig = pruned.PrunedState.__init__

    def spy(self, *a, **kw):
        orig(self, *a, **kw)
        states.append(self)

    pruned.PrunedState.__init__ = spy
    try:
        res = maxmin(X, 120, metric=metric, backend="pruned", start=5)
    finally:
        pruned.PrunedState.__init__ = orig
    np.testing.assert_array_equal(res.indices, oracle(X, 120, metric, 5))
    plain = maxmin(X, 120, metric=metric, backend="numpy", start=5)
    np.testing.assert_allclose(res.distances[1:], plain.distances[1:], atol=1e-5)
    st = states[0]
    assert st.examined < 0.5 * st.steps * len(X)  # clustered data: most cells are skipped


def test_pruned_with_prior_and_duplicates_matches_plain():
    rng = np.random.default_rng(3)
    X = sphere_mixture(800, 8, 5, 3)
    X = np.concatenate([X, X[rng.integers(800, size=200)]])  # 200 bit-identical copies
    a = maxmin(X, 900, backend="pruned", already_selected=[1, 2, 3])
    b = maxmin(X, 900, backend="numpy", already_selected=[1, 2, 3])
    distinct = np.unique(X.astype(np.float32), axis=0).shape[0]
    # distinct rows first, in the oracle's order; after that every remaining point is at 0
    np.testing.assert_array_equal(a.indices[: distinct - 3], b.indices[: distinct - 3])
    assert np.all(a.distances[distinct - 3 :] == 0.0)
    assert np.all(b.distances[distinct - 3 :] == 0.0)


@pytest.mark.parametrize("precision", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_torch_and_half_precision_match_oracle(precision, metric):
    X = sphere_mixture(2000, 24, 10, 7) * (1 if metric == "cosine" else 4.0)
    res = maxmin(X, 80, metric=metric, backend="torch", device="cpu", precision=precision, start=0)
    np.testing.assert_array_equal(res.indices, oracle(X, 80, metric, 0))


def test_half_precision_needs_torch_backend():
    with pytest.raises(InputError, match="backend='torch'"):
        maxmin(np.eye(3), 2, backend="pruned", precision="float16")
    with pytest.raises(InputError, match="precision"):
        maxmin(np.eye(3), 2, backend="torch", precision="int8")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine (GPU path tested on CPU torch)")
@pytest.mark.parametrize("precision", ["float32", "float16"])
def test_cuda_matches_oracle(precision):
    X = sphere_mixture(20000, 64, 30, 11)
    res = maxmin(X, 150, backend="torch", device="cuda", precision=precision, start=0)
    np.testing.assert_array_equal(res.indices, oracle(X, 150, "cosine", 0))


class _Kill(Exception):
    pass


@pytest.mark.parametrize("backend", ["pruned", "numpy", "torch"])
def test_killed_run_resumes_to_identical_result(tmp_path, backend):
    X = sphere_mixture(1500, 12, 8, 5)
    full = maxmin(X, 100, backend=backend, seed=4)

    def killer(done):
        if done >= 60:
            raise _Kill

    with pytest.raises(_Kill):
        maxmin(X, 100, backend=backend, seed=4, checkpoint=tmp_path, checkpoint_every=0.0, progress=killer)
    assert (tmp_path / "maxmin-checkpoint.npz").exists()
    resumed = maxmin(X, 100, backend=backend, seed=4, checkpoint=tmp_path)
    np.testing.assert_array_equal(resumed.indices, full.indices)
    np.testing.assert_array_equal(resumed.distances, full.distances)
    with pytest.raises(InputError, match="different run"):
        maxmin(X, 100, backend=backend, seed=5, checkpoint=tmp_path)


def test_shard_bounds_cover_rows_once():
    for n, w in [(10, 3), (7, 2), (2, 4)]:
        b = [shard_bounds(n, w, r) for r in range(w)]
        assert b[0][0] == 0 and b[-1][1] == n and all(b[r][1] == b[r + 1][0] for r in range(w - 1))


def _rank_main(rank, world, port, path, out, metric):
    import torch.distributed as dist

    from datadiet.select.distributed import maxmin_distributed

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        X = np.load(path, mmap_mode="r")
        res = maxmin_distributed(X, 90, metric=metric, seed=2)
        np.save(os.path.join(out, f"rank{rank}.npy"), np.stack([res.indices, res.distances]))
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_two_gloo_ranks_match_one_process(tmp_path, metric):
    import torch.multiprocessing as mp

    X = sphere_mixture(1201, 10, 6, 9).astype(np.float32) * (1 if metric == "cosine" else 3)
    np.save(tmp_path / "X.npy", X)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_rank_main, args=(2, port, str(tmp_path / "X.npy"), str(tmp_path), metric), nprocs=2, join=True)
    single = maxmin(X, 90, metric=metric, seed=2)
    for r in range(2):
        got = np.load(tmp_path / f"rank{r}.npy")
        np.testing.assert_array_equal(got[0].astype(np.int64), single.indices)
        np.testing.assert_allclose(got[1][1:], single.distances[1:], atol=1e-5)
    np.testing.assert_array_equal(single.indices, oracle(X, 90, metric, single.indices[0]))

"""The farthest-first engine against a brute-force O(n*k^2) oracle, ties, duplicates and memory."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from datadiet.errors import InputError
from datadiet.select import maxmin, metrics


def _dist_to(P: np.ndarray, c: np.ndarray, metric: str) -> np.ndarray:
    """Direct-difference distances (a different formula from the engine's dot products)."""
    diff = P - c
    sq = np.einsum("ij,ij->i", diff, diff)
    return 0.5 * sq if metric == "cosine" else np.sqrt(sq)  # 1 - cos = |a - b|^2 / 2 on unit vectors


def oracle(X, k, metric, start=None, prior=()):
    """Textbook farthest-first: recompute every candidate's distance to every chosen point each step."""
    P = np.asarray(X, dtype=np.float64)
    if metric == "cosine":
        P = P / np.linalg.norm(P, axis=1, keepdims=True)
    chosen, picked, trace = list(prior), [], []
    for step in range(k):
        if chosen:
            d = np.min([_dist_to(P, P[c], metric) for c in chosen], axis=0)
        else:
            d = np.full(len(P), np.inf)
        if step == 0 and start is not None:
            i = start
        else:
            d_free = d.copy()
            d_free[chosen] = -np.inf
            i = int(np.argmax(d_free))  # first maximum = lowest index
        chosen.append(i)
        picked.append(i)
        trace.append(d[i])
    return np.array(picked), np.array(trace)


def assert_greedy(X, res, metric, tol, prior=(), start=None):
    """Replay the engine's picks: each must be within `tol` of the farthest free point.

    float32 rounding can swap two picks whose distances differ by ~1e-7; this accepts such
    near-ties while still failing any pick that is not (near-)farthest.
    """
    P = np.asarray(X, dtype=np.float64)
    if metric == "cosine":
        P = P / np.linalg.norm(P, axis=1, keepdims=True)
    d = np.full(len(P), np.inf)
    for c in prior:
        d = np.minimum(d, _dist_to(P, P[c], metric))
    chosen = list(prior)
    for step, (i, di) in enumerate(zip(res.indices, res.distances)):
        free = d.copy()
        free[chosen] = -np.inf
        if step == 0 and start is not None:
            assert i == start
        elif step > 0 or prior:
            assert d[i] >= free.max() - tol, (step, i, d[i], free.max())
        if step > 0 or prior:
            assert di == pytest.approx(d[i], abs=tol)
        chosen.append(i)
        d = np.minimum(d, _dist_to(P, P[i], metric))


def blobs(n, d, centers, seed, spread=0.05):
    rng = np.random.default_rng(seed)
    C = rng.standard_normal((centers, d))
    return C[rng.integers(centers, size=n)] + spread * rng.standard_normal((n, d))


DATA = {
    "gauss": lambda seed: np.random.default_rng(seed).standard_normal((300, 12)),
    "clustered": lambda seed: blobs(300, 12, 6, seed),
}


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
@pytest.mark.parametrize("kind", sorted(DATA))
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_oracle(metric, kind, seed, dtype):
    X = DATA[kind](seed)
    res = maxmin(X, 40, metric=metric, seed=seed, dtype=dtype)
    assert res.distances[0] == np.inf
    if dtype == np.float64:  # exact arithmetic up to 1e-15: the very same picks
        want_idx, want_d = oracle(X, 40, metric, start=int(res.indices[0]))
        np.testing.assert_array_equal(res.indices, want_idx)
        np.testing.assert_allclose(res.distances[1:], want_d[1:], rtol=1e-10)
    else:  # float32: the same picks up to near-ties
        assert_greedy(X, res, metric, tol=1e-5)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_start_and_already_selected_match_oracle(metric):
    X = blobs(400, 8, 5, seed=3)
    prior = [5, 17, 230]
    res = maxmin(X, 30, metric=metric, already_selected=prior, dtype=np.float64)
    want_idx, want_d = oracle(X, 30, metric, prior=prior)
    np.testing.assert_array_equal(res.indices, want_idx)
    np.testing.assert_allclose(res.distances, want_d, rtol=1e-5, atol=1e-6)
    assert not set(res.indices) & set(prior)

    res = maxmin(X, 30, metric=metric, start=99, already_selected=prior, dtype=np.float64)
    want_idx, want_d = oracle(X, 30, metric, start=99, prior=prior)
    np.testing.assert_array_equal(res.indices, want_idx)
    np.testing.assert_allclose(res.distances, want_d, rtol=1e-5, atol=1e-6)
    assert_greedy(X, maxmin(X, 30, metric=metric, start=99, already_selected=prior), metric, 1e-5, prior, start=99)


def test_extending_equals_one_long_run():
    X = blobs(500, 6, 4, seed=4)
    full = maxmin(X, 60, metric="euclidean", start=0)
    head = maxmin(X, 25, metric="euclidean", start=0)
    tail = maxmin(X, 35, metric="euclidean", already_selected=head.indices)
    np.testing.assert_array_equal(np.concatenate([head.indices, tail.indices]), full.indices)
    # the prefix enters through a block product, the long run through matrix-vector products:
    # float32 |x|^2 + |c|^2 - 2x.c agrees to ~1e-6 of the data's scale
    np.testing.assert_allclose(tail.distances, full.distances[25:], atol=2e-5)


def test_ties_break_to_lowest_index():
    # an integer grid: float32 arithmetic is exact, so many distances tie exactly
    g = np.stack(np.meshgrid(np.arange(7), np.arange(5), indexing="ij"), -1).reshape(-1, 2).astype(float)
    perm = np.random.default_rng(0).permutation(len(g))
    X = g[perm]
    res = maxmin(X, 20, metric="euclidean", start=0)
    want_idx, want_d = oracle(X, 20, "euclidean", start=0)
    np.testing.assert_array_equal(res.indices, want_idx)
    np.testing.assert_array_equal(res.distances, want_d)
    # signed basis vectors: cosine distances are exactly 0, 1 or 2
    E = np.concatenate([np.eye(5), -np.eye(5)])
    res = maxmin(E, 10, start=3)
    assert res.indices.tolist() == oracle(E, 10, "cosine", start=3)[0].tolist() == [3, 8, 0, 1, 2, 4, 5, 6, 7, 9]


def test_trace_is_prefix_covering_radius_and_h_min():
    X = blobs(250, 5, 3, seed=5)
    res = maxmin(X, 30, metric="cosine", seed=1)
    for i in (1, 2, 7, 29):
        # float32 engine vs float64 metrics: absolute error ~1e-7
        assert res.distances[i] == pytest.approx(metrics.covering_radius(X, res.indices[:i]), abs=1e-6)
        assert res.h_min_trace[i] == pytest.approx(metrics.h_min(X, res.indices[: i + 1]), abs=1e-6)


def test_duplicates_distinct_first_then_zero():
    rng = np.random.default_rng(6)
    base = rng.standard_normal((10, 4))
    X = base[rng.integers(10, size=60)]  # 60 rows, at most 10 distinct
    distinct = metrics.distinct_rows(X)
    res = maxmin(X, distinct + 3, seed=0)
    reps = {tuple(X[i]) for i in res.indices[:distinct]}
    assert len(reps) == distinct  # every distinct row before any copy
    assert np.all(res.distances[distinct:] == 0.0)  # exactly 0, not 1e-7
    assert metrics.h_min(X, res.indices) == 0.0
    assert len(set(res.indices.tolist())) == len(res.indices)  # never the same row twice
    # a duplicated row never raises h_min
    assert metrics.h_min(X, res.indices[:distinct]) > 0


def test_duplicates_found_anywhere_in_the_array():
    """Copies far apart (different BLAS blocks, remainder rows) and signed zeros are still copies."""
    from datadiet.select._common import duplicate_representatives

    X = np.random.default_rng(12).standard_normal((100_003, 7)).astype(np.float32)
    X[100_002] = X[0]
    X[50_001] = X[3]
    X[4, 2], X[5] = 0.0, X[4]
    X[5, 2] = -0.0
    rep = duplicate_representatives(X)
    assert rep[100_002] == 0 and rep[50_001] == 3 and rep[5] == 4
    assert np.count_nonzero(rep != np.arange(len(X))) == 3


def test_permuting_rows_permutes_selection():
    X = DATA["gauss"](7)
    perm = np.random.default_rng(8).permutation(len(X))
    a = maxmin(X, 30, start=11)
    b = maxmin(X[perm], 30, start=int(np.flatnonzero(perm == 11)[0]))
    np.testing.assert_array_equal(perm[b.indices], a.indices)


def test_seed_picks_start_deterministically():
    X = DATA["gauss"](9)
    assert np.array_equal(maxmin(X, 10, seed=4).indices, maxmin(X, 10, seed=4).indices)
    starts = {int(maxmin(X, 1, seed=s).indices[0]) for s in range(10)}
    assert len(starts) > 1


def test_memory_is_linear_in_n():
    n, d, k = 200_000, 32, 100
    X = np.random.default_rng(0).standard_normal((n, d)).astype(np.float32)
    for metric in ("cosine", "euclidean"):
        tracemalloc.start()
        maxmin(X, k, metric=metric, already_selected=np.arange(20))
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        # one working copy of X (26 MB) plus O(n) vectors and a bounded block;
        # an n x k float32 matrix alone would be 80 MB, n x n 160 GB
        assert peak < 2.5 * X.nbytes, (metric, peak)


def test_torch_backend_matches_numpy():
    pytest.importorskip("torch")
    for metric in ("cosine", "euclidean"):
        X = blobs(500, 16, 5, seed=10)
        a = maxmin(X, 60, metric=metric, backend="numpy", already_selected=[1, 2])
        b = maxmin(X, 60, metric=metric, backend="torch", device="cpu", already_selected=[1, 2])
        np.testing.assert_array_equal(a.indices, b.indices)
        np.testing.assert_allclose(a.distances, b.distances, atol=2e-5)
    Xd = np.repeat(np.random.default_rng(1).standard_normal((5, 3)), 3, axis=0)
    t = maxmin(Xd, 8, backend="torch", device="cpu", start=0)
    np.testing.assert_array_equal(t.indices, maxmin(Xd, 8, backend="numpy", start=0).indices)


@pytest.mark.skipif("not __import__('importlib').util.find_spec('torch')")
def test_cuda_backend_matches_numpy():
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA device on this machine")
    X = blobs(20_000, 64, 20, seed=11)
    a = maxmin(X, 200, backend="numpy")
    b = maxmin(X, 200, backend="torch", device="cuda")
    np.testing.assert_array_equal(a.indices, b.indices)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"k": 0}, "at least 1"),
        ({"k": 11}, "larger than the number of rows"),
        ({"k": 2.5}, "integer"),
        ({"k": 2, "start": 10}, "out of range"),
        ({"k": 2, "already_selected": [3, 3]}, "repeated"),
        ({"k": 2, "already_selected": [12]}, "out of range"),
        ({"k": 2, "start": 1, "already_selected": [1]}, "already"),
        ({"k": 10, "already_selected": [1]}, r"available \(9\)"),
        ({"k": 2, "metric": "manhattan"}, "not supported"),
        ({"k": 2, "backend": "jax"}, "not supported"),
    ],
)
def test_bad_arguments(kwargs, match):
    X = np.random.default_rng(0).standard_normal((10, 3))
    with pytest.raises(InputError, match=match):
        maxmin(X, **kwargs)


def test_bad_arrays():
    X = np.ones((5, 3))
    X[3, 1] = np.nan
    with pytest.raises(InputError, match="row 3 .*NaN"):
        maxmin(X, 2)
    Z = np.ones((5, 3))
    Z[2] = 0
    with pytest.raises(InputError, match="row 2 .*all-zero"):
        maxmin(Z, 2)
    assert maxmin(Z, 2, metric="euclidean").indices.size == 2  # fine without cosine

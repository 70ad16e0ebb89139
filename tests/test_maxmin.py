"""The farthest-first engine's behaviour: extending, duplicates, permutations, seeds, memory, bad input.

Exactness against an independent oracle, for every engine and input family: test_select_exact.py.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from datadiet.errors import InputError
from datadiet.select import maxmin, metrics


def blobs(n, d, centers, seed, spread=0.05):
    rng = np.random.default_rng(seed)
    C = rng.standard_normal((centers, d))
    return C[rng.integers(centers, size=n)] + spread * rng.standard_normal((n, d))


DATA = {
    "gauss": lambda seed: np.random.default_rng(seed).standard_normal((300, 12)),
    "clustered": lambda seed: blobs(300, 12, 6, seed),
}


def test_extending_equals_one_long_run():
    X = blobs(500, 6, 4, seed=4)
    full = maxmin(X, 60, metric="euclidean", start=0)
    head = maxmin(X, 25, metric="euclidean", start=0)
    tail = maxmin(X, 35, metric="euclidean", already_selected=head.indices)
    np.testing.assert_array_equal(np.concatenate([head.indices, tail.indices]), full.indices)
    # the prefix enters through a block product, the long run through matrix-vector products: the
    # distances are refined in float64 either way
    np.testing.assert_allclose(tail.distances, full.distances[25:], rtol=1e-12)
    assert tail.covering_radius == pytest.approx(full.covering_radius, rel=1e-12)


def test_trace_is_prefix_covering_radius_and_h_min():
    X = blobs(250, 5, 3, seed=5)
    res = maxmin(X, 30, metric="cosine", seed=1)
    for i in (1, 2, 7, 29):
        # the same working rows and float64-refined distances: equal to 1e-12
        assert res.distances[i] == pytest.approx(metrics.covering_radius(X, res.indices[:i]), rel=1e-12)
        assert res.h_min_trace[i] == pytest.approx(metrics.h_min(X, res.indices[: i + 1]), rel=1e-12)
    assert res.covering_radius == pytest.approx(metrics.covering_radius(X, res.indices), rel=1e-12)


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
    from datadiet.select.points import as_points

    X = np.random.default_rng(12).standard_normal((100_003, 7)).astype(np.float32)
    X[100_002] = X[0]
    X[50_001] = X[3]
    X[4, 2], X[5] = 0.0, X[4]
    X[5, 2] = -0.0
    rep = as_points(X, "euclidean").duplicates.rep
    assert rep[100_002] == 0 and rep[50_001] == 3 and rep[5] == 4
    assert np.count_nonzero(rep != np.arange(len(X))) == 3


def test_duplicate_groups_survive_key_collisions(monkeypatch):
    """Rows whose 64-bit keys collide are told apart by comparing them: with every key forced equal,
    the groups still match a brute-force scan (lowest equal index per row)."""
    from datadiet.select import points

    rng = np.random.default_rng(5)
    X = rng.integers(0, 3, size=(60, 2)).astype(np.float32)  # 9 distinct rows, many copies
    monkeypatch.setattr(points, "row_keys", lambda A, which=0: np.zeros(len(A), dtype=np.uint64))
    dup = points.Duplicates.of(X)
    brute = [next(j for j in range(len(X)) if (X[j] == X[i]).all()) for i in range(len(X))]
    assert dup.rep.tolist() == brute
    assert dup.shared.tolist() == [brute.count(r) > 1 for r in brute]
    assert {r: g.tolist() for r, g in dup.groups.items()} == {
        r: [i for i in range(len(X)) if brute[i] == r] for r in set(brute) if brute.count(r) > 1}


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


@pytest.mark.skipif("not __import__('importlib').util.find_spec('torch')")
def test_cuda_backend_matches_numpy():
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA device on this machine")
    X = blobs(20_000, 64, 20, seed=11)
    for dtype in (np.float32, np.float64):
        a = maxmin(X, 200, backend="numpy", dtype=dtype)
        b = maxmin(X, 200, backend="torch", device="cuda", dtype=dtype)
        np.testing.assert_array_equal(a.indices, b.indices)
        np.testing.assert_allclose(a.distances, b.distances, rtol=1e-12)


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
        ({"k": 2, "precision": "int8"}, "not supported"),
        ({"k": 2, "backend": "numpy", "precision": "float16"}, "needs backend='torch'"),
        ({"k": 2, "backend": "numpy", "device": "cuda"}, "torch device"),
        ({"k": 2, "dtype": np.float16}, "working precision"),
        ({"k": 2, "start": 1.5}, "integer"),
        ({"k": 2, "seed": -1}, "non-negative"),
    ],
)
def test_bad_arguments(kwargs, match):
    X = np.random.default_rng(0).standard_normal((10, 3))
    with pytest.raises(InputError, match=match):
        maxmin(X, **kwargs)


def test_bad_arrays():
    with pytest.raises(InputError, match="strings; embed texts first"):
        maxmin(["a text", "another"], 1)
    with pytest.raises(InputError, match="empty"):
        maxmin(np.zeros((5, 0)), 1)
    with pytest.raises(InputError, match="2-D"):
        maxmin(np.ones(5), 1)
    X = np.ones((5, 3))
    X[3, 1] = np.nan
    with pytest.raises(InputError, match="row 3 .*NaN"):
        maxmin(X, 2)
    Z = np.ones((5, 3))
    Z[2] = 0
    with pytest.raises(InputError, match="row 2 .*all-zero"):
        maxmin(Z, 2)
    assert maxmin(Z, 2, metric="euclidean").indices.size == 2  # fine without cosine

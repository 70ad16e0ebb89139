"""Uniformity metrics against a direct all-pairs computation, plus hand-computed toy cases."""

from __future__ import annotations

import numpy as np
import pytest

from datadiet.errors import InputError
from datadiet.select import metrics, random_subset


def all_pairs(X, metric):
    P = np.asarray(X, dtype=np.float64)
    if metric == "cosine":
        P = P / np.linalg.norm(P, axis=1, keepdims=True)
    D = np.sqrt(((P[:, None, :] - P[None, :, :]) ** 2).sum(-1))
    return D**2 / 2 if metric == "cosine" else D


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
@pytest.mark.parametrize("seed", [0, 1])
def test_against_direct_computation(metric, seed, monkeypatch):
    from datadiet.select import scores

    monkeypatch.setattr(scores, "_BLOCK_ELEMENTS", 500)  # force many blocks
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((120, 5)) + 3 * rng.integers(0, 2, size=(120, 1))
    idx = rng.choice(120, 25, replace=False)
    D = all_pairs(X, metric)
    sub = D[np.ix_(idx, idx)] + np.diag(np.full(len(idx), np.inf))
    want = {
        "h_min": sub.min(),
        "covering_radius": D[:, idx].min(axis=1).max(),
        "mean_nn_distance": sub.min(axis=1).mean(),
    }
    got = metrics.summary(X, idx, metric)
    for name, value in want.items():
        assert got[name] == pytest.approx(value, rel=1e-9, abs=1e-12), name
        assert getattr(metrics, name)(X, idx, metric) == pytest.approx(value, rel=1e-9, abs=1e-12)


def test_hand_computed_square():
    # unit square corners + its center; Euclidean
    X = np.array([[0, 0], [1, 0], [0, 1], [1, 1], [0.5, 0.5]], dtype=float)
    corners = [0, 1, 2, 3]
    assert metrics.h_min(X, corners, "euclidean") == pytest.approx(1.0)
    assert metrics.covering_radius(X, corners, "euclidean") == pytest.approx(np.sqrt(0.5))
    assert metrics.mean_nn_distance(X, corners, "euclidean") == pytest.approx(1.0)
    assert metrics.covering_radius(X, [4], "euclidean") == pytest.approx(np.sqrt(0.5))
    assert metrics.h_min(X, [4], "euclidean") == float("inf")  # one point: no pair
    # cosine: orthogonal axes are at distance 1, opposite at 2
    E = np.array([[1, 0], [0, 1], [-1, 0]], dtype=float)
    assert metrics.h_min(E, [0, 2], "cosine") == pytest.approx(2.0)
    assert metrics.h_min(E, [0, 1, 2], "cosine") == pytest.approx(1.0)
    assert metrics.covering_radius(E, [0], "cosine") == pytest.approx(2.0)


def test_duplicates_are_exactly_zero():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((30, 4)).astype(np.float32)
    X[7] = X[2]
    assert metrics.h_min(X, [2, 7, 11], "cosine") == 0.0
    assert metrics.h_min(X, [2, 2], "euclidean") == 0.0  # a repeated index is a zero-distance pair
    assert metrics.distinct_rows(X) == 29
    # duplicating a row never raises h_min; every row covered by its copy counts 0
    idx = list(range(30))
    assert metrics.covering_radius(X, idx, "cosine") == 0.0
    assert metrics.h_min(X, [2, 11, 20], "cosine") >= metrics.h_min(X, [2, 7, 11, 20], "cosine")


def test_memory_block_independent(monkeypatch):
    X = np.random.default_rng(4).standard_normal((300, 6))
    idx = np.arange(0, 300, 3)
    full = metrics.summary(X, idx)
    from datadiet.select import scores

    monkeypatch.setattr(scores, "_BLOCK_ELEMENTS", 7)
    assert metrics.summary(X, idx) == pytest.approx(full, rel=1e-12)


def test_random_subset():
    a = random_subset(100, 10, seed=5)
    assert len(set(a.tolist())) == 10 and a.min() >= 0 and a.max() < 100
    assert np.array_equal(a, random_subset(100, 10, seed=5))
    assert not np.array_equal(a, random_subset(100, 10, seed=6))
    with pytest.raises(InputError):
        random_subset(5, 6)


def test_bad_indices():
    X = np.ones((4, 2))
    with pytest.raises(InputError, match="out of range"):
        metrics.h_min(X, [0, 4])
    with pytest.raises(InputError, match="empty"):
        metrics.covering_radius(X, [])

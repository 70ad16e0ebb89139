"""The certifier's exact scores: correctly rounded, whatever the batch, the cache or the kernel."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from datadiet.select._certify import Certifier, exact_score


def rational_score(x, c, cosine):
    """The exact score in rational arithmetic, rounded once: the oracle."""
    xs = [Fraction(float(v)) for v in x]
    cs = [Fraction(float(v)) for v in c]
    dot = sum(a * b for a, b in zip(xs, cs))
    if cosine:
        return float(-dot)
    return float(sum(a * a for a in xs) + sum(b * b for b in cs) - 2 * dot)


@pytest.mark.parametrize("cosine", [True, False])
def test_exact_score_is_the_correctly_rounded_value(cosine):
    rng = np.random.default_rng(0)
    for _ in range(50):
        x, c = rng.standard_normal((2, 97)).astype(np.float32) * rng.uniform(0.1, 10, size=(2, 1)).astype(np.float32)
        assert exact_score(x, c, cosine) == rational_score(x, c, cosine)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_scores_do_not_depend_on_batch_or_cache(metric):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((300, 48)).astype(np.float32)
    centers = X[:40]
    cand = np.arange(40, 300)
    # one certifier sees every center first and scores all rows at once
    full = Certifier(X, metric, capacity=8)
    for v in centers:
        full.add_vector(v)
    want = full.scores(cand, X[cand])
    # another scores overlapping batches as the centers arrive, so rows reach the end through many cache ages
    lazy = Certifier(X, metric, capacity=8)
    for j, v in enumerate(centers):
        lazy.add_vector(v)
        pick = rng.choice(cand, size=rng.integers(1, 30), replace=False)
        lazy.scores(pick, X[pick])
    got = np.concatenate([lazy.scores(cand[i : i + 7], X[cand[i : i + 7]]) for i in range(0, cand.size, 7)])
    np.testing.assert_array_equal(got, want)  # bit for bit
    for i in rng.choice(cand.size, size=20, replace=False):
        oracle = min(rational_score(X[cand[i]], c, metric == "cosine") for c in centers)
        assert want[i] == oracle


def test_exact_ties_between_distinct_rows_stay_ties():
    """Permuted coordinates against a constant center tie in exact arithmetic; a float64 BLAS dot
    usually rounds them apart, the certifier must not, or the tie would go to whichever row won
    the rounding instead of the lowest index."""
    rng = np.random.default_rng(2)
    d = 64
    x = rng.standard_normal(d).astype(np.float32)
    rows = np.stack([x[rng.permutation(d)] for _ in range(200)])
    center = np.full(d, np.float32(0.125) + np.float32(1e-3), dtype=np.float32)
    for metric in ("cosine", "euclidean"):
        cert = Certifier(rows, metric)
        cert.add_vector(center)
        s = np.concatenate([cert.scores(np.arange(a, min(a + 13, 200)), rows[a : a + 13]) for a in range(0, 200, 13)])
        assert np.unique(s).size == 1
        order = np.arange(200)[::-1]  # the highest index is offered first: the tie still goes to 0
        assert cert.pick(order, rows[order])[0] == 0
    blas = rows.astype(np.float64) @ center.astype(np.float64)
    assert np.unique(blas).size > 1  # the test data do exercise rounding differences

"""The tiers of a certified pick and their bounds, each against exact rational arithmetic."""

from __future__ import annotations

from decimal import Decimal, localcontext
from fractions import Fraction

import numpy as np
import pytest

from datadiet.select import scores
from datadiet.select.certify import Certifier
from datadiet.select.plain import PlainState
from datadiet.select.points import as_points, unit_rows


def exact_sq(x, c) -> Fraction:
    return sum((Fraction(float(a)) - Fraction(float(b))) ** 2 for a, b in zip(x, c))


def nasty_rows(rng, n, d, dtype):
    """Unit-ish rows with cancellation: near-copies, offsets, wide magnitudes."""
    base = rng.standard_normal((n, d))
    base[: n // 3] = base[0] + 1e-6 * rng.standard_normal((n // 3, d))  # near-copies of row 0
    third = slice(n // 3, 2 * n // 3)
    base[third] *= 10.0 ** rng.uniform(-20, 0, size=(2 * n // 3 - n // 3, 1))  # tiny rows
    return as_points(base, "euclidean", dtype=dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_scan_score_is_within_tau_of_exact(dtype, metric):
    rng = np.random.default_rng(0)
    for d in (1, 7, 97):
        P = nasty_rows(rng, 60, d, dtype) if metric == "euclidean" else as_points(
            rng.standard_normal((60, d)) * 10.0 ** rng.uniform(-20, 20, size=(60, 1)), "cosine", dtype)
        state = PlainState(P)
        for c in (0, 1, 40, 59):
            state.score[:] = np.inf
            state.add(P.rows[c], P.sqnorm[c])
            for i in range(P.n):
                exact = exact_sq(P.rows[i], P.rows[c])
                if metric == "cosine":  # kept as -x.c, in units of half a squared chord, offset 2
                    exact = (exact - 2) / 2
                err = abs(Fraction(float(state.score[i])) - exact)
                assert err <= state.tau, (d, c, i, float(err), state.tau)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_refined_and_prefiltered_scores_keep_their_bounds(dtype):
    rng = np.random.default_rng(1)
    P = nasty_rows(rng, 50, 33, dtype)
    A, B = P.rows[:30], P.rows[30:]
    T, err = scores.prefilter(A, P.sqnorm[:30], B, P.sqnorm[30:])
    v = scores.nearest(A, P.sqnorm[:30], B, P.sqnorm[30:])
    eps, absb = scores.refine_eps(P.d), scores.refine_abs(P.d, dtype)
    for i in range(30):
        exact = [exact_sq(A[i], B[j]) for j in range(20)]
        for j in range(20):
            approx = Fraction(float(T[j, i])) + Fraction(float(P.sqnorm[i]))
            assert abs(approx - exact[j]) <= Fraction(float(err[i])) + Fraction(float(P.sqnorm[i])) * Fraction(2.0**-50)
        assert abs(Fraction(float(v[i])) - min(exact)) <= min(exact) * Fraction(eps) + Fraction(absb)
    for i, j in [(0, 1), (0, 5), (12, 40)]:
        assert scores.exact_value(P.rows[i], P.rows[j]) == exact_sq(P.rows[i], P.rows[j]) * 2 ** (
            2 * (149 if dtype == np.float32 else 1074))


def test_exact_ties_between_distinct_rows_stay_ties():
    """Permuted coordinates against a constant center tie in exact arithmetic; float64 products
    usually round them apart: the tie must still go to the lowest index, whatever order rows come in."""
    rng = np.random.default_rng(2)
    d = 64
    x = rng.standard_normal(d).astype(np.float32)
    rows = np.stack([x[rng.permutation(d)] for _ in range(200)])
    center = np.full(d, np.float32(0.125) + np.float32(1e-3), dtype=np.float32)
    q = np.einsum("ij,ij->i", rows, rows, dtype=np.float64)
    cert = Certifier(np.float32, d, 200)
    cert.add_center(center, float(center.astype(np.float64) @ center))
    order = np.arange(200)[::-1]  # the highest index is offered first: the tie still goes to 0
    j, _ = cert.best(order, rows[order], q[order], order)
    assert order[j] == 0
    exact = {scores.exact_value(r, center) for r in rows[:20]}
    assert len(exact) == 1
    blas = rows.astype(np.float64) @ center.astype(np.float64)
    assert np.unique(blas).size > 1  # the test data do exercise rounding differences


def test_refined_values_do_not_depend_on_batch_or_cache():
    rng = np.random.default_rng(3)
    P = as_points(rng.standard_normal((300, 48)).astype(np.float32), "cosine")
    centers = np.arange(40)
    cand = np.arange(40, 300)
    full = Certifier(P.dtype, P.d, P.n, capacity=8)
    for c in centers:
        full.add_center(P.rows[c], P.sqnorm[c])
    want = full.values(cand, P.rows[cand], P.sqnorm[cand])
    lazy = Certifier(P.dtype, P.d, P.n, capacity=8)
    for c in centers:  # overlapping batches as the centers arrive: rows reach the end through many cache ages
        lazy.add_center(P.rows[c], P.sqnorm[c])
        pick = rng.choice(cand, size=rng.integers(1, 30), replace=False)
        lazy.values(pick, P.rows[pick], P.sqnorm[pick])
    got = np.concatenate([lazy.values(cand[i : i + 7], P.rows[cand[i : i + 7]], P.sqnorm[cand[i : i + 7]])
                          for i in range(0, cand.size, 7)])
    np.testing.assert_allclose(got, want, rtol=2 * scores.refine_eps(P.d))
    for i in rng.choice(cand.size, size=15, replace=False):
        oracle = min(exact_sq(P.rows[cand[i]], P.rows[c]) for c in centers)
        assert abs(Fraction(float(want[i])) - oracle) <= oracle * Fraction(scores.refine_eps(P.d))


def correctly_rounded_unit(x, dtype):
    """RN(x_j / |x|) in 80-digit decimal arithmetic, ties to even (an independent oracle)."""
    dt = np.dtype(dtype)
    out = []
    with localcontext() as ctx:
        ctx.prec = 80
        norm = sum(Decimal(float(v)) ** 2 for v in x).sqrt()
        for v in x:
            q = Decimal(float(v)) / norm
            f = dt.type(float(q))
            cands = [np.nextafter(f, dt.type(-np.inf)), f, np.nextafter(f, dt.type(np.inf))]
            out.append(min(cands, key=lambda c: abs(Decimal(float(c)) - q)))
    return np.array(out, dtype=dt)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_unit_rows_are_correctly_rounded(dtype):
    rng = np.random.default_rng(4)
    rows = [rng.standard_normal(d) for d in (1, 2, 5, 64, 300)]
    rows += [np.ones(4), np.ones(3), np.array([3.0, 4.0]), np.array([1e300, 1e-300, -3.0]),
             np.array([1.0, 2.0**-60, 2.0**-30]), rng.standard_normal(10).astype(np.float32) * 1e30,
             np.array([2.0**24 + 1, 2.0**12, 5.0])]
    for x in rows:
        got = unit_rows(np.asarray(x, dtype=np.float64)[None], dtype)[0]
        np.testing.assert_array_equal(got, correctly_rounded_unit(x, dtype))
    # many random rows: the float64 estimate settles nearly all coordinates, the exact path the rest
    X = rng.standard_normal((2000, 16))
    got = unit_rows(X, dtype)
    for i in rng.choice(2000, 40, replace=False):
        np.testing.assert_array_equal(got[i], correctly_rounded_unit(X[i], dtype))

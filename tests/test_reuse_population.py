"""datadiet.reuse population error: exact at the orthonormal initialization, rotation-stable, and equal to Monte Carlo.

Oracles: scipy's adaptive dblquad (shares no code with the trapezoid rules), the closed-form second moment of
ReLU features at orthonormal neurons, and a direct Monte Carlo of ½(f(x) − y)² over fresh Gaussian inputs.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from datadiet.reuse import get_activation, get_target
from datadiet.reuse.hermite import gaussian_grid
from datadiet.reuse.twolayer import _NP, error_from_stats, gaussian_mean, pair_moments

integrate = pytest.importorskip("scipy.integrate")

AUTHORS = "tanh:he1+he3raw"  # tanh(z1 + z2³ − 3 z2), the authors' target (IdePHICS/benefit-reusing-batch)


def _gauss2(fn) -> float:
    """E over z ~ N(0, I_2) of fn(z1, z2) by adaptive quadrature on [−9, 9]²."""
    w = lambda z2, z1: fn(z1, z2) * math.exp(-(z1 * z1 + z2 * z2) / 2) / (2 * math.pi)  # noqa: E731
    return integrate.dblquad(w, -9, 9, -9, 9, epsabs=1e-12, epsrel=1e-12)[0]


def test_step0_error_of_the_authors_setting_is_exact():
    """Orthonormal ReLU neurons ⊥ the target, a = (1, −1)/√2: ½(E f² + E y²) with E f² = (1 − 1/π)/2."""
    Ey2 = _gauss2(lambda z1, z2: math.tanh(z1 + z2**3 - 3 * z2) ** 2)
    exact = 0.5 * (0.5 * (1 - 1 / math.pi) + Ey2)
    a = np.array([1.0, -1.0]) / math.sqrt(2)
    got = error_from_stats(np.eye(2), np.zeros((2, 2)), a, get_target(AUTHORS), get_activation("relu"))
    assert got == pytest.approx(exact, abs=1e-9)  # the eigh-rotated tensor rule gave 0.5004 here
    assert exact == pytest.approx(0.49159, abs=1e-5)  # the authors' 32 runs: 0.49167 ± 0.00063


def test_error_is_a_continuous_function_of_the_gram():
    """A 1e-10 perturbation of a degenerate Gram moves the error by O(1e-10), whatever eigenbasis it implies."""
    target, act = get_target(AUTHORS), get_activation("tanh")
    a = np.array([0.6, -0.8, 0.3])
    gram, cross = np.eye(3), np.zeros((3, 2))
    base = error_from_stats(gram, cross, a, target, act)
    rng = np.random.default_rng(0)
    for _ in range(3):
        E = rng.standard_normal((3, 3))
        assert error_from_stats(gram + 1e-10 * (E + E.T), cross, a, target, act) == pytest.approx(base, abs=1e-8)
    perm = [2, 0, 1]  # relabelling the neurons changes nothing
    assert error_from_stats(gram[perm][:, perm], cross[perm], a[perm], target, act) == pytest.approx(base, abs=1e-12)


@pytest.mark.parametrize("student", ["relu", "tanh", "erf"])
@pytest.mark.parametrize("target_name", [AUTHORS, "staircase"])
def test_error_matches_a_high_sample_monte_carlo(student, target_name):
    target, act = get_target(target_name), get_activation(student)
    rng = np.random.default_rng(1)
    p, k, d = 3, target.k, 6
    W = rng.standard_normal((p, d)) * 0.6
    W[:, :k] += 0.5 * rng.standard_normal((p, k))
    a = rng.standard_normal(p)
    got = error_from_stats(W @ W.T, W[:, :k], a, target, act)
    S = 400_000
    X = rng.standard_normal((S, d))
    loss = 0.5 * ((act.f(X @ W.T, _NP) @ a - target(X[:, :k])) ** 2)
    assert got == pytest.approx(loss.mean(), abs=4 * loss.std() / math.sqrt(S) + 1e-4)


def test_relu_and_erf_closed_forms_agree_with_quadrature():
    mu, tau = np.array([-1.3, 0.0, 0.7]), np.array([0.4, 1.1, 2.0])
    for name, f in (("relu", lambda x: max(x, 0.0)), ("erf", lambda x: math.erf(x / math.sqrt(2)))):
        act = get_activation(name)
        for m, t in zip(mu, tau):
            ref = integrate.quad(lambda x: f(m + t * x) * math.exp(-x * x / 2) / math.sqrt(2 * math.pi), -12, 12,
                                 points=[-m / t])[0]
            assert float(gaussian_mean(act, m, t)) == pytest.approx(ref, abs=1e-9)
        q1, q2, c = 1.7, 0.6, -0.5
        L = np.linalg.cholesky(np.array([[q1, c], [c, q2]]))
        ref = _gauss2(lambda u, v: f(L[0, 0] * u) * f(L[1, 0] * u + L[1, 1] * v))
        got = pair_moments(act, np.array([[q1, c], [c, q2]]))[0, 1]
        assert got == pytest.approx(ref, abs=1e-8)


def test_trapezoid_rule_is_exact_on_gaussian_moments():
    x, w = gaussian_grid(101)
    for j, moment in ((0, 1.0), (2, 1.0), (4, 3.0), (6, 15.0), (8, 105.0)):
        assert float(w @ x[:, 0] ** j) == pytest.approx(moment, rel=1e-11)  # the mass beyond ±8.5: 3e-12 for z⁸
    nodes, weights = gaussian_grid(get_target(AUTHORS).grid, 2)
    Ey2 = _gauss2(lambda z1, z2: math.tanh(z1 + z2**3 - 3 * z2) ** 2)
    assert float(weights @ get_target(AUTHORS)(nodes) ** 2) == pytest.approx(Ey2, abs=1e-9)

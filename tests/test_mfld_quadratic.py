"""The quadratic MFLD of mfld-discretization: linear neuron vs autograd, closed form vs a brute-force Lyapunov solve.

Oracle of the closed form: the full M·p-dimensional linear chain X ← A X + b + √(2λη) ξ, its stationary covariance
from scipy's discrete Lyapunov solver and its Gaussian entropy from the log-determinant of that covariance; no
exchangeability or eigen-decomposition of the data Gram is used there.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from datadiet.mfld import MFLDConfig, first_variation_grad, mfld, particle_objective, sparse_parity
from datadiet.mfld.quadratic import QuadraticMFLD

linalg = pytest.importorskip("scipy.linalg")


def _data(d=2, n=12, seed=0):
    return sparse_parity(d, 2).sample(n, np.random.default_rng(seed))


def test_linear_neuron_gradient_is_the_particle_objective_gradient():
    torch = pytest.importorskip("torch")
    Z, y = _data(d=3, n=9)
    X = np.random.default_rng(2).standard_normal((5, 5))
    R, lam, lam1 = 1.7, 0.3, 0.8
    Xt = torch.tensor(X, requires_grad=True)
    f = R * (torch.tensor(Z) @ Xt[:, :3].mean(0) + Xt[:, 3].mean())
    obj = (0.5 * (f - torch.tensor(y)) ** 2).mean() + lam * lam1 * (Xt * Xt).sum(1).mean()
    obj.backward()
    G = first_variation_grad(X, Z, y, R=R, lam=lam, lam1=lam1, loss="squared", neuron="linear")
    np.testing.assert_allclose(G, X.shape[0] * Xt.grad.numpy(), rtol=1e-12, atol=1e-12)
    assert particle_objective(X, Z, y, R=R, lam=lam, lam1=lam1, loss="squared", neuron="linear") == \
        pytest.approx(obj.item(), rel=1e-12)


def _brute_force_gap(q: QuadraticMFLD, Z, y, R, eta, M) -> float:
    """Stationary free energy per particle of the full linear chain, minus L(μ*), by a Lyapunov solve."""
    p = q.p
    n = Z.shape[0]
    Phi = np.hstack([Z, np.ones((n, 1)), np.zeros((n, 1))])
    B = R * R * Phi.T @ Phi / n
    # X (M·p,) ← X − η (a X + (1/M)(1 1ᵀ ⊗ B) X − 1 ⊗ c) + √(2λη) ξ
    A = np.eye(M * p) - eta * (q.a * np.eye(M * p) + np.kron(np.ones((M, M)) / M, B))
    S = linalg.solve_discrete_lyapunov(A, 2 * q.lam * eta * np.eye(M * p))
    mean = np.linalg.solve(np.eye(M * p) - A, eta * np.tile(q.c, M))
    Xs = mean.reshape(M, p)
    # E F(μ_X) for the quadratic F: F at the mean plus ½ tr of the Hessian of F(μ_X) in X times the covariance
    H = np.kron(np.ones((M, M)) / M**2, B) + np.eye(M * p) * q.a / M
    xbar = Xs.mean(0)
    EF = float(0.5 * np.mean((R * Phi @ xbar - y) ** 2) + 0.5 * q.a * np.mean(np.sum(Xs * Xs, 1))) \
        + 0.5 * float(np.trace(H @ S))
    H_joint = 0.5 * np.linalg.slogdet(2 * math.pi * math.e * S)[1]
    return EF - q.lam * H_joint / M - q.limit()


@pytest.mark.parametrize("eta, M", [(0.05, 3), (0.2, 4), (0.3, 2)])
def test_closed_form_stationary_gap_equals_the_brute_force_chain(eta, M):
    Z, y = _data()
    R, lam, lam1 = 1.5, 0.4, 0.7
    q = QuadraticMFLD.from_data(Z, y, R=R, lam=lam, lam1=lam1)
    assert q.exact_gap(eta, M) == pytest.approx(_brute_force_gap(q, Z, y, R, eta, M), abs=1e-10)


def test_limit_is_the_minimum_over_gaussians_and_the_gap_is_first_order_in_inv_m():
    Z, y = _data()
    q = QuadraticMFLD.from_data(Z, y, R=1.5, lam=0.4, lam1=0.7)

    def L_gauss(m, v):  # L(N(m, v I)) = F + λ Ent, in closed form
        return q.f_mean(m) + 0.5 * q.a * q.p * v - q.lam * 0.5 * q.p * math.log(2 * math.pi * math.e * v)

    rng = np.random.default_rng(0)
    for _ in range(20):
        m = q.m_star + 0.3 * rng.standard_normal(q.p)
        assert L_gauss(m, q.lam / q.a * math.exp(0.3 * rng.standard_normal())) > q.limit()
    assert L_gauss(q.m_star, q.lam / q.a) == pytest.approx(q.limit(), abs=1e-14)
    # η → 0 and M large: M · gap → (λ/2) Σ log(1 + β/a)
    assert 1e5 * q.exact_gap(1e-7, 10**5) == pytest.approx(q.first_order_inv_m_slope(), rel=1e-3)


def test_solver_measures_the_exact_gap_of_a_short_run():
    """MFLD with the linear neuron: the gap from its own log is the closed-form one (one seed, 3% + noise)."""
    Z, y = _data(d=2, n=12)
    R, lam, lam1, eta, M = 1.5, 0.5, 1.0, 0.05, 20
    q = QuadraticMFLD.from_data(Z, y, R=R, lam=lam, lam1=lam1)
    burn, steps = 300, 300 + 4000
    res = mfld(Z, y, MFLDConfig(particles=M, steps=steps, eta=eta, lam=lam, lam1=lam1, R=R, loss="squared",
                                neuron="linear", log_every=5, entropy_k=0, log_moments=True), seed=3)
    h = res.history
    keep = [i for i, s in enumerate(h["step"]) if s >= burn]
    gap = q.measured_gap([h["F"][i] for i in keep], [h["mean"][i] for i in keep], [h["spread"][i] for i in keep], M)
    exact = q.exact_gap(eta, M)
    assert exact > 0.01 and gap == pytest.approx(exact, rel=0.06)
    assert np.mean([h["spread"][i] for i in keep]) == pytest.approx(q.stationary(eta, M)["v"], rel=0.03)

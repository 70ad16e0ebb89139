"""A quadratic mean-field objective whose MFLD is solvable in closed form, for measuring discretization gaps.

With the linear neuron h_x(z) = R̄·(z·x1 + x2) (``MFLDConfig(neuron="linear")``, particles x ∈ R^p, p = d + 2) and
the squared loss, the solver's objective is

    F(μ) = (1/2n) Σ_i (R̄ φ_i·E_μ x − y_i)² + (a/2)·E_μ‖x‖²,    φ_i = (z_i, 1, 0),  a = 2 λ λ1,

a convex quadratic of the mean m = E_μ x plus a confining term, so with B = (R̄²/n) Σ φ_i φ_iᵀ, c = (R̄/n) Σ y_i φ_i:
  * the mean-field minimizer of L = F + λ·Ent is μ* = N(m*, v* I), m* = (B + aI)⁻¹c, v* = λ/a (δF/δμ is quadratic);
  * the M-particle chain X^j ← X^j − η∇(δF/δμ)(X^j) + √(2λη)ξ^j is linear-Gaussian: the mean X̄ follows
    X̄ ← X̄ − η((B + aI)X̄ − c) + √(2λη/M) ξ̄ and the deviations Y^j = X^j − X̄ follow Y ← (1 − ηa)Y + √(2λη)(ξ^j − ξ̄),
    so the stationary law is Gaussian with E X̄ = m*, Cov X̄ = Σ_k v̄_k u_k u_kᵀ, v̄_k = 2λη/(M(1 − (1 − η(a + β_k))²))
    over the eigenpairs (β_k, u_k) of B, and deviations of variance v_dev = 2λη/(1 − (1 − ηa)²) per coordinate;
  * its free energy per particle (the quantity of the discretization theorem: the M-particle objective with the
    joint entropy, Suzuki, Wu, Nitanda, NeurIPS 2023) is, for an exchangeable Gaussian law with those moments,
        E F(μ_X) − (λ/M) H = F_mean(m) + ½ tr((B + aI)C) + (a/2)(1 − 1/M) p v − (λ/M)[(M − 1)(p/2) log(2πe v)
                             + ½ log det(2πe M C)],
    with F_mean(m) = (1/2n) Σ_i (R̄ φ_i·m − y_i)² + (a/2)‖m‖², C = Cov X̄ and v the deviation variance.
The gap to L(μ*) is, to first order, (λ/2M) Σ_k log(1 + β_k/a) + O(η²) + O(η/M): linear in 1/M, and second order
in η because L is stationary at μ* (the theorem's O(η) is an upper bound that this case does not reach).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import InputError


@dataclass(frozen=True)
class QuadraticMFLD:
    """The closed form of MFLD with the linear neuron and the squared loss on data (Z, y)."""

    B: np.ndarray  # (p, p)
    c: np.ndarray  # (p,)
    const: float  # (1/2n) Σ y_i²
    a: float  # 2 λ λ1
    lam: float  # λ

    @classmethod
    def from_data(cls, Z, y, *, R: float, lam: float, lam1: float) -> "QuadraticMFLD":
        Z, y = np.asarray(Z, dtype=np.float64), np.asarray(y, dtype=np.float64).ravel()
        if not lam > 0 or not lam1 > 0:
            raise InputError(f"the quadratic MFLD needs lam > 0 and lam1 > 0, got {lam}, {lam1}")
        n, d = Z.shape
        Phi = np.hstack([Z, np.ones((n, 1)), np.zeros((n, 1))])
        return cls(B=R * R * Phi.T @ Phi / n, c=R * Phi.T @ y / n, const=float(y @ y) / (2 * n),
                   a=2.0 * lam * lam1, lam=float(lam))

    @property
    def p(self) -> int:
        return self.B.shape[0]

    @property
    def m_star(self) -> np.ndarray:
        return np.linalg.solve(self.B + self.a * np.eye(self.p), self.c)

    def f_mean(self, m) -> float:
        """F at a law with mean m and no spread: (1/2n)Σ(R̄φ·m − y)² + (a/2)‖m‖²."""
        m = np.asarray(m, dtype=np.float64)
        return float(0.5 * m @ self.B @ m - self.c @ m + self.const + 0.5 * self.a * m @ m)

    def limit(self) -> float:
        """L(μ*) = F(μ*) + λ Ent(μ*), μ* = N(m*, (λ/a) I)."""
        v = self.lam / self.a
        return self.f_mean(self.m_star) + 0.5 * self.a * self.p * v - self.lam * 0.5 * self.p * math.log(2 * math.pi * math.e * v)

    def free_energy(self, F_mean_value: float, C: np.ndarray, v: float, M: int) -> float:
        """E F − (λ/M) H of the exchangeable Gaussian M-particle law with Cov X̄ = C and deviation variance v.

        ``F_mean_value`` is E F(μ_X) (measured: the time average of the logged F; exact: see :meth:`stationary`).
        """
        sign, logdet = np.linalg.slogdet(2 * math.pi * math.e * M * np.asarray(C, dtype=np.float64))
        if sign <= 0 or not v > 0:
            raise InputError("the mean-mode covariance must be positive definite and the spread positive")
        H = (M - 1) * 0.5 * self.p * math.log(2 * math.pi * math.e * v) + 0.5 * logdet
        return F_mean_value - self.lam * H / M

    def stationary(self, eta: float, M: int) -> dict:
        """Exact stationary moments of the M-particle chain with step η: C = Cov X̄, v = deviation variance, E F."""
        beta, U = np.linalg.eigh(self.B)
        rate = eta * (self.a + beta)
        if np.any(np.abs(1 - rate) >= 1) or abs(1 - eta * self.a) >= 1:
            raise InputError(f"eta={eta} is unstable for this quadratic (need eta·(a + β_max) < 2)")
        vbar = 2 * self.lam * eta / (M * (1 - (1 - rate) ** 2))
        C = (U * vbar) @ U.T
        v = 2 * self.lam * eta / (1 - (1 - eta * self.a) ** 2)
        EF = self.f_mean(self.m_star) + 0.5 * float(np.sum((self.a + beta) * vbar)) \
            + 0.5 * self.a * (1 - 1 / M) * self.p * v
        return {"C": C, "v": v, "EF": EF}

    def exact_gap(self, eta: float, M: int) -> float:
        """(1/M)·(M-particle free energy) − L(μ*) at stationarity of the step-η chain, in closed form."""
        s = self.stationary(eta, M)
        return self.free_energy(s["EF"], s["C"], s["v"], M) - self.limit()

    def first_order_inv_m_slope(self) -> float:
        """(λ/2) Σ_k log(1 + β_k/a): the coefficient of 1/M in the gap as η → 0."""
        beta = np.clip(np.linalg.eigvalsh(self.B), 0, None)
        return 0.5 * self.lam * float(np.sum(np.log1p(beta / self.a)))

    def measured_gap(self, F_values, means, spreads, M: int) -> float:
        """The gap from a run's log after burn-in: time averages of F and the spread, and Cov X̄ about m*.

        Taking the mean-mode covariance about the known m* (not the sample mean) makes the time average of F
        equal F_mean(m*) + ½tr((B + aI)Ĉ) exactly, so estimation errors in Ĉ and the spread enter the gap only
        at second order (L is stationary at μ*).
        """
        X = np.asarray(means, dtype=np.float64) - self.m_star
        C = X.T @ X / len(X)
        return self.free_energy(float(np.mean(F_values)), C, float(np.mean(spreads)), M) - self.limit()

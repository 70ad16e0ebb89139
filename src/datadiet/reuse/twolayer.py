"""The student f(x) = Σ_j a_j σ(w_j·x): activations with σ', σ'', the squared-loss gradient, overlaps.

Arrays carry leading batch axes (seeds), so one call serves every simulated seed:
  W (..., p, d) first layer, a (..., p) second layer, X (..., n, d) inputs, y (..., n) labels.
Functions take the array namespace ``xp`` (numpy or torch) from :mod:`datadiet.reuse.backend`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import InputError
from .backend import NumpyOps
from .hermite import gaussian_grid
from .targets import converged_grid

_SQRT2 = math.sqrt(2.0)

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_NP = NumpyOps("float64")


@dataclass(frozen=True)
class Activation:
    """σ with its first and second derivatives, each a function (x, xp) -> array.

    The second derivative enters the Hessian of the loss, a·σ''(h)·(f − y): the DMFT response and
    the Newton-like part of the reuse mechanism need it for smooth σ such as tanh.
    """

    name: str
    f: Callable
    d1: Callable
    d2: Callable
    smooth: bool = True  # False: σ'' has a point mass (ReLU) that pointwise d2 misses
    gauss_mean: Callable | None = None  # (μ, τ) -> E σ(μ + τξ), ξ ~ N(0, 1), when a closed form exists
    gauss_moment: Callable | None = None  # (q1, q2, c) -> E σ(u)σ(v), Var u = q1, Var v = q2, Cov = c


def _relu(x, xp):
    return xp.maximum(x, 0 * x)


def _step(x, xp):
    return 0 * x + (x > 0)  # keeps x's dtype (a bool * 1.0 would promote float32 to float64)


def _tanh(x, xp):
    return xp.tanh(x)


def _tanh_d1(x, xp):
    t = xp.tanh(x)
    return 1 - t * t


def _tanh_d2(x, xp):
    t = xp.tanh(x)
    return -2 * t * (1 - t * t)


# erf(x/√2): the Gaussian CDF scaled to (−1, 1), so E[σ'(z)] has a closed form under N(0, 1)
def _erf(x, xp):
    return xp.erf(x / _SQRT2)


def _erf_d1(x, xp):
    return _SQRT_2_OVER_PI * xp.exp(-x * x / 2)


def _erf_d2(x, xp):
    return -x * _SQRT_2_OVER_PI * xp.exp(-x * x / 2)


ACTIVATIONS: dict[str, Activation] = {
    "relu": Activation("relu", _relu, _step, lambda x, xp: 0 * x, smooth=False,
                       gauss_mean=lambda mu, tau: _relu_mean(mu, tau), gauss_moment=lambda *q: _relu_moment(*q)),
    "tanh": Activation("tanh", _tanh, _tanh_d1, _tanh_d2),
    "erf": Activation("erf", _erf, _erf_d1, _erf_d2,
                      gauss_mean=lambda mu, tau: _erf_mean(mu, tau), gauss_moment=lambda *q: _erf_moment(*q)),
}


def get_activation(act: str | Activation | Callable) -> Activation:
    """A named activation, an Activation, or a user callable σ(x) (derivatives by central differences)."""
    if isinstance(act, Activation):
        return act
    if isinstance(act, str):
        if act not in ACTIVATIONS:
            raise InputError(f"unknown student activation {act!r}; choose one of {', '.join(ACTIVATIONS)} "
                             "or pass a callable")
        return ACTIVATIONS[act]
    if callable(act):
        return user_activation(act)
    raise InputError(f"student activation must be a name or a callable, got {type(act).__name__}")


def user_activation(fn: Callable, d1: Callable | None = None, d2: Callable | None = None,
                    name: str = "user", h: float = 1e-4) -> Activation:
    """Activation from σ(x) written with the backend's ops; missing derivatives by central differences."""
    f = lambda x, xp: fn(x)  # noqa: E731
    g1 = (lambda x, xp: d1(x)) if d1 else (lambda x, xp: (fn(x + h) - fn(x - h)) / (2 * h))
    g2 = (lambda x, xp: d2(x)) if d2 else (lambda x, xp: (fn(x + h) - 2 * fn(x) + fn(x - h)) / (h * h))
    return Activation(name, f, g1, g2)


def forward(W, a, X, act: Activation, xp):
    """Pre-activations h = X Wᵀ (..., n, p) and outputs f = σ(h)·a (..., n)."""
    h = xp.matmul(X, W.mT)
    return h, (act.f(h, xp) * a[..., None, :]).sum(-1)


def loss_and_grads(W, a, X, y, act: Activation, xp, *, second_layer: bool = False):
    """Mean squared loss L = (1/2n) Σ_μ (f(x_μ) − y_μ)² and its gradients.

    Returns (L (...,), dL/dW (..., p, d), dL/da (..., p) or None). The per-sample loss derivative
    r_μ = f_μ − y_μ gives dL/dW_j = (1/n) Σ_μ r_μ a_j σ'(h_μj) x_μ.
    """
    n = X.shape[-2]
    h, f = forward(W, a, X, act, xp)
    r = f - y
    loss = (r * r).mean(-1) / 2
    g = r[..., :, None] * act.d1(h, xp) * a[..., None, :]  # (..., n, p): ∂ℓ_μ/∂h_μj
    grad_W = xp.matmul(g.mT, X) / n
    grad_a = (r[..., :, None] * act.f(h, xp)).mean(-2) if second_layer else None
    return loss, grad_W, grad_a


def overlaps(W: np.ndarray, W_star: np.ndarray) -> np.ndarray:
    """Cosines M_jr = w_j·w*_r / ‖w_j‖ (..., p, k), for orthonormal teacher rows W* (k, d)."""
    W = np.asarray(W, dtype=np.float64)
    norms = np.linalg.norm(W, axis=-1, keepdims=True)
    return (W @ np.asarray(W_star, dtype=np.float64).T) / np.where(norms > 0, norms, 1.0)


def orthogonal_overlap(M: np.ndarray, learned: int = 1) -> np.ndarray:
    """‖part of w_j/‖w_j‖ in the target subspace orthogonal to the first ``learned`` directions‖ (..., p)."""
    return np.sqrt((np.asarray(M)[..., learned:] ** 2).sum(-1))


def population_error(W: np.ndarray, a: np.ndarray, target, act: Activation, *, samples: int = 20000,
                     seed: int = 0, noise: float = 0.0) -> np.ndarray:
    """Generalization error ½E[(f(x) − y)²] on fresh data, exactly in law, for teacher W* = e_1..e_k."""
    W = np.asarray(W, dtype=np.float64)
    return error_from_stats(W @ np.swapaxes(W, -1, -2), W[..., : target.k], a, target, act,
                            samples=samples, seed=seed, noise=noise)


def error_from_stats(gram: np.ndarray, cross: np.ndarray, a: np.ndarray, target, act: Activation, *,
                     samples: int = 20000, seed: int = 0, noise: float = 0.0) -> np.ndarray:
    """½E[(f − y)²] from the Gram Q = W Wᵀ (..., p, p) and the teacher overlaps M = W W*ᵀ (..., p, k).

    h = W x and z = W* x are jointly Gaussian, z ~ N(0, I_k) and h_j = M_j·z + τ_j ξ_j with
    τ_j² = Q_jj − ‖M_j‖², so the error splits into integrals of dimension ≤ max(2, k) in fixed coordinates:

        E[y²]      over z on the target's trapezoid rule (``target.grid`` points per axis);
        E[f y]     = Σ_j a_j E_z[y(z)·s_j(M_j·z)], s_j(μ) = E_ξ σ(μ + τ_j ξ), same rule in z;
        E[f²]      = Σ_jl a_j a_l E[σ(h_j)σ(h_l)], one 2-dim Gaussian per pair.

    The smoothed σ and the pair moments are closed forms for relu and erf and trapezoid rules otherwise.
    No eigenbasis enters, so the result is a continuous function of (Q, M): near-degenerate Grams (the
    orthonormal initialization) give the exact value, not a rotated tensor rule. Targets with k > 3 integrate
    z by Monte Carlo with ``samples`` draws from ``seed``. Label noise adds ½·noise².
    """
    gram, cross = np.asarray(gram, dtype=np.float64), np.asarray(cross, dtype=np.float64)
    a = np.asarray(a, dtype=np.float64)
    p, k = gram.shape[-1], cross.shape[-1]
    lead = np.broadcast_shapes(gram.shape[:-2], cross.shape[:-2], a.shape[:-1])
    gram = np.broadcast_to(gram, lead + (p, p)).reshape(-1, p, p)
    cross = np.broadcast_to(cross, lead + (p, k)).reshape(-1, p, k)
    a = np.broadcast_to(a, lead + (p,)).reshape(-1, p)
    nodes, weights = _target_rule(target, k, samples, seed)
    y = np.asarray(target(nodes), dtype=np.float64)
    wy = weights * y
    q = np.clip(np.diagonal(gram, axis1=-2, axis2=-1), 0, None)  # (L, p)
    tau = np.sqrt(np.clip(q - (cross * cross).sum(-1), 0, None))
    fy = np.empty(len(a))
    block = max(1, int(4e6 // max(1, p * len(weights))))  # bounded memory: (block, p, m) at a time
    for i in range(0, len(a), block):
        mu = cross[i:i + block] @ nodes.T  # (b, p, m)
        fy[i:i + block] = np.einsum("bp,bp->b", a[i:i + block], gaussian_mean(act, mu, tau[i:i + block, :, None]) @ wy)
    ff = np.einsum("bj,bjl,bl->b", a, pair_moments(act, gram), a)
    err = 0.5 * (ff - 2 * fy + float(weights @ (y * y))) + 0.5 * noise**2
    return err.reshape(lead)


_INNER = None  # the 1-dim trapezoid rule of the smoothed σ (built on first use)


def _inner_rule() -> tuple[np.ndarray, np.ndarray]:
    global _INNER
    if _INNER is None:
        x, w = gaussian_grid(81)
        _INNER = (x[:, 0], w)
    return _INNER


def _target_rule(target, k: int, samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes (m, k) and weights for E over z ~ N(0, I_k): the target's trapezoid grid, or Monte Carlo for k > 3."""
    points = getattr(target, "grid", None)
    if points is None and k <= 3:
        points = converged_grid(target, k)
    if points is not None:
        return gaussian_grid(points, k)
    return np.random.default_rng(seed).standard_normal((samples, k)), np.full(samples, 1.0 / samples)


def gaussian_mean(act: Activation, mu: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """E_ξ σ(μ + τ ξ), ξ ~ N(0, 1), broadcast over μ and τ ≥ 0: closed form when σ has one, else a trapezoid rule."""
    mu, tau = np.asarray(mu, dtype=np.float64), np.asarray(tau, dtype=np.float64)
    if act.gauss_mean is not None:
        return act.gauss_mean(mu, tau)
    x, w = _inner_rule()
    shape = np.broadcast_shapes(mu.shape, tau.shape)
    if math.prod(shape) * len(x) <= 2**22:  # small: one vectorized pass over the nodes
        return act.f(mu[..., None] + tau[..., None] * x, _NP) @ w
    out = np.zeros(shape)
    for xi, wi in zip(x, w):
        out += wi * act.f(mu + tau * xi, _NP)
    return out


def pair_moments(act: Activation, gram: np.ndarray) -> np.ndarray:
    """E[σ(h_j)σ(h_l)] (..., p, p) for h ~ N(0, gram): closed form when σ has one, else 1-dim rules per pair.

    Numerically, h_j = √Q_jj ξ and h_l | h_j is Gaussian (mean Q_jl/Q_jj·h_j, variance Q_ll − Q_jl²/Q_jj),
    so E[σ(h_j)σ(h_l)] = E_ξ[σ(√Q_jj ξ)·gaussian_mean(σ, ·, ·)]: a continuous function of the 2×2 block.
    """
    gram = np.asarray(gram, dtype=np.float64)
    q = np.clip(np.diagonal(gram, axis1=-2, axis2=-1), 0, None)
    qj, ql = q[..., :, None], q[..., None, :]
    if act.gauss_moment is not None:
        return act.gauss_moment(qj, ql, gram)
    x, w = _inner_rule()
    sj = np.sqrt(qj)
    safe = np.where(qj > 0, qj, 1.0)
    slope = np.where(qj > 0, gram / safe, 0.0)
    cond = np.sqrt(np.clip(ql - slope * gram, 0, None))
    out = np.zeros(gram.shape)
    for xi, wi in zip(x, w):
        hj = sj * xi
        out += wi * act.f(hj, _NP) * gaussian_mean(act, slope * hj, cond)
    return 0.5 * (out + np.swapaxes(out, -1, -2))


# closed forms under Gaussians (relu: Cho & Saul 2009 arc-cosine kernel; erf(x/√2): Williams 1997)

def _relu_mean(mu, tau):
    t = np.where(tau > 0, tau, 1.0)
    r = mu / t
    return np.where(tau > 0, mu * _special().ndtr(r) + t * np.exp(-0.5 * r * r) / math.sqrt(2 * math.pi),
                    np.maximum(mu, 0.0))


def _relu_moment(qj, ql, c):
    s = np.sqrt(qj * ql)
    rho = np.clip(np.where(s > 0, c / np.where(s > 0, s, 1.0), 0.0), -1.0, 1.0)
    theta = np.arccos(rho)
    return s / (2 * math.pi) * (np.sin(theta) + (math.pi - theta) * rho)


def _erf_mean(mu, tau):
    return _special().erf(mu / np.sqrt(2.0 * (1.0 + tau * tau)))


def _erf_moment(qj, ql, c):
    return (2 / math.pi) * np.arcsin(np.clip(c / np.sqrt((1 + qj) * (1 + ql)), -1.0, 1.0))


def _special():
    from scipy import special

    return special

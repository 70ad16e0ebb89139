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
from .hermite import gauss_hermite

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
    "relu": Activation("relu", _relu, _step, lambda x, xp: 0 * x, smooth=False),
    "tanh": Activation("tanh", _tanh, _tanh_d1, _tanh_d2),
    "erf": Activation("erf", _erf, _erf_d1, _erf_d2),
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
    """½E[(f − y)²] from the Gram W Wᵀ (..., p, p) and the teacher overlaps W W*ᵀ (..., p, k).

    (h, z) = (W x, W* x) is a (p + k)-dim Gaussian with covariance [[W Wᵀ, W W*ᵀ], [W* Wᵀ, I]], so the
    expectation is a low-dimensional integral whatever d is: Gauss–Hermite quadrature when p + k ≤ 4,
    else Monte Carlo with ``samples`` draws (common to every leading index).
    """
    gram, cross = np.asarray(gram, dtype=np.float64), np.asarray(cross, dtype=np.float64)
    a = np.asarray(a, dtype=np.float64)
    p, k = gram.shape[-1], cross.shape[-1]
    cov = np.zeros(gram.shape[:-2] + (p + k, p + k))
    cov[..., :p, :p] = gram
    cov[..., :p, p:] = cross
    cov[..., p:, :p] = np.swapaxes(cross, -1, -2)
    cov[..., p:, p:] = np.eye(k)
    # a PSD square root (the Gram of p + k vectors can be singular: eigh, not Cholesky)
    vals, vecs = np.linalg.eigh(cov)
    root = vecs * np.sqrt(np.clip(vals, 0, None))[..., None, :]
    if p + k <= 4:  # a tensor Gauss–Hermite rule: deterministic and exact for smooth integrands
        xi, weights = gauss_hermite({2: 60, 3: 24, 4: 12}[p + k], p + k)
    else:  # heavy-tailed integrands (He_k²) need many draws: the caller sets ``samples``
        xi = np.random.default_rng(seed).standard_normal((samples, p + k))
        weights = np.full(samples, 1.0 / samples)
    g = np.einsum("...ij,mj->...mi", root, xi)
    h, z = g[..., :p], g[..., p:]
    f = (act.f(h, _NP) * a[..., None, :]).sum(-1)
    return 0.5 * (((f - target(z)) ** 2) @ weights) + 0.5 * noise**2

"""The forward Ornstein-Uhlenbeck process dX = -X dt + sqrt(2) dB of Oko, Akiyama, Suzuki (ICML 2023).

X_t | X_0 = x ~ N(m_t x, sigma_t^2 I) with m_t = e^{-t}, sigma_t^2 = 1 - e^{-2t}; p_T -> N(0, I) as T grows.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import InputError


def m_t(t):
    """Mean factor m_t = exp(-t) (scalar or array)."""
    return np.exp(-np.asarray(t, dtype=np.float64)) if not np.isscalar(t) else math.exp(-t)


def sigma_t(t):
    """Noise std sigma_t = sqrt(1 - exp(-2t)) (scalar or array); -expm1 keeps small t accurate."""
    if np.isscalar(t):
        return math.sqrt(-math.expm1(-2.0 * t))
    return np.sqrt(-np.expm1(-2.0 * np.asarray(t, dtype=np.float64)))


def t_for_sigma(sigma: float) -> float:
    """The time t with sigma_t = sigma (0 < sigma < 1): t = -log(1 - sigma^2) / 2."""
    if not 0 < sigma < 1:
        raise InputError(f"sigma={sigma} must be in (0, 1)")
    return -0.5 * math.log1p(-sigma * sigma)


def forward_sample(x0: np.ndarray, t: float, rng: np.random.Generator) -> np.ndarray:
    """One draw of X_t given X_0 = x0 (rows), shape of x0."""
    x0 = np.asarray(x0, dtype=np.float64)
    if t < 0:
        raise InputError(f"t={t} must be >= 0")
    return m_t(t) * x0 + sigma_t(t) * rng.standard_normal(x0.shape)


def horizon(n: int) -> float:
    """T = log n (at least 3): the paper's horizon, where p_T is within ~1/n of N(0, I)."""
    return max(math.log(max(n, 2)), 3.0)


def early_stop_time(n: int, s: float, d: int, c: float = 1.0) -> float:
    """t0 with sigma_{t0} = c n^{-1/(2s+d)}, i.e. t0 ~ n^{-2/(2s+d)}: the paper's early-stopping time."""
    if n < 1 or s <= 0 or d < 1 or c <= 0:
        raise InputError(f"early_stop_time needs n >= 1, s > 0, d >= 1, c > 0; got {n}, {s}, {d}, {c}")
    return t_for_sigma(min(c * n ** (-1.0 / (2 * s + d)), 0.99))

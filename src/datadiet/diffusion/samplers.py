"""Reverse-time samplers from N(0, I) at time T down to the early-stopping time t0.

Reverse SDE  dY = (Y + 2 s(Y, t)) dtau + sqrt(2) dB,   probability-flow ODE  dY/dtau = Y + s(Y, t),  t = T - tau.
The SDE step integrates the linear part exactly (exponential integrator, s frozen over the step); the ODE uses
Heun's method. Steps are geometric in t, dense near t0 where the score changes fastest.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch

from ..errors import InputError

Score = Callable[[torch.Tensor, float], torch.Tensor]


def time_grid(T: float, t0: float, steps: int) -> np.ndarray:
    """Decreasing times T = t_0 > ... > t_steps = t0, geometric (log-uniform) spacing."""
    if not (T > t0 > 0) or steps < 1:
        raise InputError(f"need T > t0 > 0 and steps >= 1; got T={T}, t0={t0}, steps={steps}")
    return np.geomspace(T, t0, steps + 1)


def reverse_sde(score: Score, y: torch.Tensor, T: float, t0: float, steps: int,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """Run the reverse SDE from y ~ N(0, I) at time T to t0; returns Y at t0 (same shape as y).

    Step t -> t - dt:  Y <- e^{dt} Y + 2 (e^{dt} - 1) s(Y, t) + sqrt(e^{2 dt} - 1) Z.
    """
    ts = time_grid(T, t0, steps)
    y = y.clone()
    for a, b in zip(ts[:-1], ts[1:]):
        dt = float(a - b)
        s = score(y, float(a))
        z = torch.randn(y.shape, generator=generator, dtype=y.dtype).to(y.device)
        y = math.exp(dt) * y + 2.0 * math.expm1(dt) * s + math.sqrt(math.expm1(2 * dt)) * z
    return y


def probability_flow(score: Score, y: torch.Tensor, T: float, t0: float, steps: int) -> torch.Tensor:
    """Integrate the probability-flow ODE from T to t0 with Heun's method; deterministic given y."""
    ts = time_grid(T, t0, steps)
    y = y.clone()
    for a, b in zip(ts[:-1], ts[1:]):
        dt = float(a - b)
        k1 = y + score(y, float(a))
        y1 = y + dt * k1
        k2 = y1 + score(y1, float(b))
        y = y + 0.5 * dt * (k1 + k2)
    return y


def prior_quantiles(M: int, dtype=torch.float64, device=None) -> torch.Tensor:
    """The M mid-quantiles Phi^{-1}((k + 1/2)/M) of N(0, 1), shape (M, 1): a noise-free 1-D 'sample'."""
    u = (torch.arange(M, dtype=torch.float64) + 0.5) / M
    return (math.sqrt(2.0) * torch.erfinv(2 * u - 1)).to(dtype=dtype, device=device)[:, None]


def prior_noise(m: int, d: int, generator: torch.Generator, dtype=torch.float32, device=None) -> torch.Tensor:
    """m draws of N(0, I_d) from ``generator``."""
    return torch.randn((m, d), generator=generator, dtype=dtype).to(device)

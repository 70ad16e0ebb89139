"""Reverse-time samplers from N(0, I) at time T down to the early-stopping time t0.

Reverse SDE  dY = (Y + 2 s(Y, t)) dtau + sqrt(2) dB,   probability-flow ODE  dY/dtau = Y + s(Y, t),  t = T - tau.
``reverse_sde`` integrates the linear part exactly with s frozen over the step (exponential integrator);
``ancestral_sde`` takes the DDPM ancestral step (the Gaussian posterior of the forward process given Tweedie's
denoised point), which is exact in mean for any step size, so the long early steps near T do not inflate the
variance; ``reverse_sde_law`` propagates the *density* of the ancestral chain on a 1-D grid (no Monte Carlo) and
extrapolates two step sizes to the continuous-time law. The ODE uses Heun's method. Steps are geometric in t,
dense near t0 where the score changes fastest.
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


def _ancestral_coefficients(a: float, b: float) -> tuple[float, float, float, float]:
    """For the step t = a -> b < a: (c0, cy, var, m_a) with mean = c0 * x0_hat + cy * y and variance ``var``.

    Forward process between b and a: X_a = m_{a|b} X_b + sigma_{a|b} xi, m_{a|b} = e^{-(a-b)}; given X_0 = x0 the
    posterior of X_b is N((m_b sigma_{a|b}^2 x0 + m_{a|b} sigma_b^2 y) / sigma_a^2, sigma_{a|b}^2 sigma_b^2 / sigma_a^2).
    """
    ma, mb = math.exp(-a), math.exp(-b)
    sa2, sb2 = -math.expm1(-2 * a), -math.expm1(-2 * b)
    mab = ma / mb
    sab2 = -math.expm1(-2 * (a - b))
    return mb * sab2 / sa2, mab * sb2 / sa2, sab2 * sb2 / sa2, ma


def ancestral_sde(score: Score, y: torch.Tensor, T: float, t0: float, steps: int,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """Run the DDPM ancestral discretization of the reverse SDE from y ~ N(0, I) at T to t0 (shape of y).

    Step t = a -> b:  x0_hat = (y + sigma_a^2 s(y, a)) / m_a  (Tweedie),  Y <- N(c0 x0_hat + cy y, var I).
    With the true score the step's mean is exact for any step size (E[X_b | X_a] is linear in E[X_0 | X_a]); the
    variance misses c0^2 Var(X_0 | X_a), which is second order in the step, so the chain is first order overall.
    """
    ts = time_grid(T, t0, steps)
    y = y.clone()
    for a, b in zip(ts[:-1], ts[1:]):
        c0, cy, var, ma = _ancestral_coefficients(float(a), float(b))
        x0 = (y + (-math.expm1(-2 * float(a))) * score(y, float(a))) / ma
        z = torch.randn(y.shape, generator=generator, dtype=y.dtype).to(y.device)
        y = c0 * x0 + cy * y + math.sqrt(var) * z
    return y


def _push_and_blur(mass: np.ndarray, to: np.ndarray, g: np.ndarray, std: float) -> np.ndarray:
    """Masses moved to the points ``to`` (linear binning onto the equally spaced grid g), then convolved with
    N(0, std^2) by FFT; mass that lands outside g is dropped. Returns masses on g."""
    G, dx = g.size, float(g[1] - g[0])
    pos = (to - g[0]) / dx
    i = np.floor(pos).astype(np.int64)
    frac = pos - i
    ok = (i >= 0) & (i < G - 1)
    out = (np.bincount(i[ok], mass[ok] * (1 - frac[ok]), minlength=G)[:G]
           + np.bincount(i[ok] + 1, mass[ok] * frac[ok], minlength=G)[:G])
    size = 1 << int(math.ceil(math.log2(2 * G)))
    freq = np.fft.rfftfreq(size, d=dx) * 2 * math.pi
    out = np.fft.irfft(np.fft.rfft(out, size) * np.exp(-0.5 * (freq * std) ** 2), size)[:G]
    return np.clip(out, 0.0, None)


def _ancestral_law(score: Score, T: float, t0: float, steps: int, g: np.ndarray, points_per_sigma: float) -> np.ndarray:
    dx = float(g[1] - g[0])
    mass = np.exp(-0.5 * g * g) * dx / math.sqrt(2 * math.pi)  # N(0, 1) at T
    ts = time_grid(T, t0, steps)
    for a, b in zip(ts[:-1], ts[1:]):
        a, b = float(a), float(b)
        live = np.flatnonzero(mass > 1e-13 * mass.max())
        lo, hi = int(live[0]), int(live[-1]) + 1
        y = g[lo:hi]
        sa2 = -math.expm1(-2 * a)
        # the score of p_a varies on the scale sigma_a: evaluate it on a coarser subgrid and interpolate
        stride = max(1, int(math.sqrt(sa2) / points_per_sigma / dx))
        yc = y[::stride] if (y.size - 1) % stride == 0 else np.append(y[::stride], y[-1])
        with torch.no_grad():
            sc = score(torch.from_numpy(yc[:, None]).to(torch.float32), a).double().cpu().numpy()[:, 0]
        s = np.interp(y, yc, sc) if stride > 1 else sc
        c0, cy, var, ma = _ancestral_coefficients(a, b)
        mean = c0 * (y + sa2 * s) / ma + cy * y
        mass = _push_and_blur(mass[lo:hi], mean, g, math.sqrt(var))
    return mass / dx


def reverse_sde_law(score: Score, T: float, t0: float, steps: int, g: np.ndarray, *, extrapolate: bool = True,
                    points_per_sigma: float = 12.0) -> np.ndarray:
    """Density on the 1-D grid g of the reverse SDE's law at t0, started from N(0, 1) at T, without Monte Carlo.

    The ancestral chain's transition is Gaussian given y, so its law is propagated exactly on g (each grid
    mass moved to its mean by linear binning, then blurred by the step's noise via FFT). Its error is first
    order in the step, so with ``extrapolate`` (default) the laws for ``steps`` and ``steps // 2`` steps are
    combined as 2 q_steps - q_{steps/2} (Richardson), which estimates the continuous-time law: on a KDE score
    the TV to the exact law falls from 0.017 (64 steps) to 0.0013 (64/32 extrapolated) (tests check < 0.005).

    Notes: g must be equally spaced, cover the prior (e.g. [-5, 5]) and resolve the final noise, step
    sqrt(2 (t0 - t_last)) (a spacing of sigma_t0 / 20 or finer); the score is evaluated on a subgrid of about
    ``points_per_sigma`` points per sigma_t and interpolated (it varies on that scale). O(steps G log G).
    """
    g = np.asarray(g, dtype=np.float64)
    if g.ndim != 1 or g.size < 16:
        raise InputError(f"reverse_sde_law needs a 1-D grid of at least 16 points; got shape {g.shape}")
    if extrapolate and steps < 4:
        raise InputError(f"extrapolation needs steps >= 4 (it also runs steps // 2); got {steps}")
    q = _ancestral_law(score, T, t0, steps, g, points_per_sigma)
    if not extrapolate:
        return q
    q_half = _ancestral_law(score, T, t0, steps // 2, g, points_per_sigma)
    return np.clip(2.0 * q - q_half, 0.0, None)


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

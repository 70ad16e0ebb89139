"""Closed-form scores: of a Gaussian, and of the kernel-smoothed empirical distribution pushed through OU.

With data x_1..x_n smoothed by N(0, h^2 I), p_t = (1/n) sum_i N(m_t x_i, v_t I), v_t = m_t^2 h^2 + sigma_t^2, so

    grad log p_t(x) = sum_i w_i(x) (m_t x_i - x) / v_t,   w(x) = softmax_i(-|x - m_t x_i|^2 / (2 v_t)).

h = 0 is the unsmoothed empirical score, the exact minimizer of the empirical DSM loss over all functions: run to
t -> 0 it regenerates the training points (memorization); h > 0 or early stopping at t0 is what generalizes.
"""

from __future__ import annotations

import math

import torch

from ..errors import InputError
from .forward import m_t, sigma_t


def device() -> torch.device:
    """CUDA when available, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def mixture_score(x: torch.Tensor, means: torch.Tensor, var: float, block: int = 1 << 22) -> torch.Tensor:
    """Score of the equal-weight isotropic mixture (1/n) sum_i N(means_i, var I) at x (m, d) -> (m, d).

    Notes: O(m n d) work in row blocks of about ``block`` pairs (memory O(block)); softmax is max-shifted.
    """
    if x.ndim != 2 or means.ndim != 2 or x.shape[1] != means.shape[1]:
        raise InputError(f"x {tuple(x.shape)} and means {tuple(means.shape)} must be (m, d) and (n, d)")
    if not var > 0:
        raise InputError(f"mixture variance {var} must be > 0")
    out = torch.empty_like(x)
    msq = (means * means).sum(1)
    rows = max(1, block // max(means.shape[0], 1))
    for a in range(0, x.shape[0], rows):
        xb = x[a:a + rows]
        # -|x - mu|^2 / (2 var), dropping |x|^2 (constant per row, cancels in the softmax)
        logits = (xb @ means.T - 0.5 * msq[None, :]) / var
        w = torch.softmax(logits, dim=1)
        out[a:a + rows] = (w @ means - xb) / var
    return out


def empirical_score(x: torch.Tensor, t: float, data: torch.Tensor, h: float = 0.0) -> torch.Tensor:
    """grad log p_t(x) for the kernel-smoothed (bandwidth h >= 0) empirical distribution of ``data`` (n, d)."""
    if h < 0 or t < 0:
        raise InputError(f"need t >= 0 and h >= 0; got t={t}, h={h}")
    m, s = m_t(float(t)), sigma_t(float(t))
    var = m * m * h * h + s * s
    if var <= 0:
        raise InputError("t = 0 with h = 0: the empirical score is undefined (a sum of point masses)")
    return mixture_score(x, m * data, var)


def gaussian_score(x: torch.Tensor, t: float, mean: float | torch.Tensor, var: float | torch.Tensor) -> torch.Tensor:
    """Exact score of p_t when X_0 ~ N(mean, diag(var)): -(x - m_t mean) / (m_t^2 var + sigma_t^2)."""
    m, s = m_t(float(t)), sigma_t(float(t))
    return -(x - m * torch.as_tensor(mean, dtype=x.dtype)) / (m * m * torch.as_tensor(var, dtype=x.dtype) + s * s)


def mixture_log_density(x: torch.Tensor, means: torch.Tensor, var: float) -> torch.Tensor:
    """log (1/n) sum_i N(x; means_i, var I), shape (m,) (for checks and likelihoods)."""
    d = x.shape[1]
    sq = torch.cdist(x, means) ** 2
    return torch.logsumexp(-sq / (2 * var), dim=1) - math.log(means.shape[0]) - 0.5 * d * math.log(2 * math.pi * var)

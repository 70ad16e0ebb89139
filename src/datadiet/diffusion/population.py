"""Population score errors in 1-D, computed without Monte Carlo: where in t a score estimate loses accuracy.

For a known density p on [-1, 1], p_t = law of m_t X + sigma_t Z is the mixture of N(m_t y, sigma_t^2) over y ~ p,
evaluated by quadrature on a fine y-grid; its score s* = d/dx log p_t follows the same way. For any score s,

    err(t)   = E_{x ~ p_t} sigma_t^2 |s(x, t) - s*(x, t)|^2          (what the network gets wrong at time t)
    floor(t) = 1 - E_{x ~ p_t} sigma_t^2 |s*(x, t)|^2                 (the DSM loss of the true score)

and the population DSM loss with t log-uniform on [t0, T] is the log-t average of floor + err (the quantity a
held-out DSM loss estimates with noise). Girsanov: KL(p_t0 || law of the reverse SDE with s) is at most
int_{t0}^T E_{p_t} |s - s*|^2 dt = int err(t) / sigma_t^2 dt (+ the prior's KL at T), so ``girsanov`` weights err
by t / sigma_t^2 per unit of log t.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from ..errors import InputError
from .forward import m_t, sigma_t


def _mixture(xs: np.ndarray, centers: np.ndarray, weights: np.ndarray, var: float, block: int = 1 << 21):
    """(density, score) at xs of sum_j weights_j N(centers_j, var), in row blocks (memory O(block))."""
    dens = np.empty(xs.size)
    score = np.empty(xs.size)
    logw = np.log(weights)
    rows = max(1, block // max(centers.size, 1))
    for a in range(0, xs.size, rows):
        d = xs[a:a + rows, None] - centers[None, :]
        lw = -d * d / (2 * var) + logw[None, :]
        mx = lw.max(axis=1, keepdims=True)
        e = np.exp(lw - mx)
        se = e.sum(axis=1)
        dens[a:a + rows] = np.exp(mx[:, 0]) * se / math.sqrt(2 * math.pi * var)
        score[a:a + rows] = -(e * d).sum(axis=1) / se / var
    return dens, score


def score_error_profile(density, ts, score: Callable | None = None, data: np.ndarray | None = None,
                        points: int | None = None, quadrature: int = 8192) -> dict[str, list[float]]:
    """Per t in ``ts``: floor(t) and err(t) (see the module docstring) of ``score`` and of the closed-form
    empirical score of ``data`` (the unsmoothed empirical score, the exact minimizer of the empirical DSM loss).

    density : a 1-D density with ``pdf`` supported in [-1, 1]
    score   : callable (x (m, 1) float32 tensor, t float) -> (m, 1) tensor, or None
    data    : training points (n,) or (n, 1), or None
    Returns lists keyed "t", "floor", "err" (if score), "err_closed" (if data), "err_vs_closed" (if both).

    Notes: E_{p_t} is a trapezoid rule over equally spaced x spanning m_t [-1, 1] +- 7 sigma_t, ``points`` of them
    (default: a spacing of sigma_t / 6, between 256 and 8192 points: p_t is smooth on the scale sigma_t);
    p_t is a mixture over ``quadrature`` + 1 equally spaced y in [-1, 1]. O(points (quadrature + n)) per t.
    """
    import torch

    ts = [float(t) for t in np.atleast_1d(ts)]
    if not ts or min(ts) <= 0:
        raise InputError(f"score_error_profile needs times t > 0; got {ts}")
    y = np.linspace(-1.0, 1.0, quadrature + 1)
    py = density.pdf(y)
    keep = py > 0
    yk, wk = y[keep], py[keep] / py[keep].sum()
    x_data = None if data is None else np.asarray(data, dtype=np.float64).reshape(-1)
    out: dict[str, list[float]] = {"t": ts, "floor": []}
    if score is not None:
        out["err"] = []
    if x_data is not None:
        out["err_closed"] = []
    if score is not None and x_data is not None:
        out["err_vs_closed"] = []
    for t in ts:
        m, s = m_t(t), sigma_t(t)
        half = m + 7 * s
        k = points if points is not None else int(min(8192, max(256, math.ceil(12 * half / s))))
        xs = np.linspace(-half, half, k)
        pt, s_true = _mixture(xs, m * yk, wk, s * s)
        q = pt / pt.sum()  # quadrature weights of E_{p_t} on the equally spaced xs
        out["floor"].append(1.0 - float((q * s * s * s_true**2).sum()))
        s_net = s_emp = None
        if score is not None:
            with torch.no_grad():
                s_net = score(torch.from_numpy(xs[:, None]).to(torch.float32), t).double().cpu().numpy()[:, 0]
            out["err"].append(float((q * s * s * (s_net - s_true) ** 2).sum()))
        if x_data is not None:
            _, s_emp = _mixture(xs, m * x_data, np.full(x_data.size, 1.0 / x_data.size), s * s)
            out["err_closed"].append(float((q * s * s * (s_emp - s_true) ** 2).sum()))
        if s_net is not None and s_emp is not None:
            out["err_vs_closed"].append(float((q * s * s * (s_net - s_emp) ** 2).sum()))
    return out


def log_t_average(ts, values) -> float:
    """(1 / log(T / t0)) int values d(log t) by the trapezoid rule: the mean under t log-uniform on [t0, T]."""
    lt = np.log(np.asarray(ts, dtype=np.float64))
    v = np.asarray(values, dtype=np.float64)
    if lt.size < 2:
        raise InputError("log_t_average needs at least two times")
    return float(np.sum((v[1:] + v[:-1]) * np.diff(lt)) / 2 / (lt[-1] - lt[0]))


def girsanov(ts, err) -> float:
    """int_{t0}^T E_{p_t} |s - s*|^2 dt from err(t) = E sigma_t^2 |s - s*|^2 (trapezoid in log t)."""
    t = np.asarray(ts, dtype=np.float64)
    v = np.asarray(err, dtype=np.float64) * t / (-np.expm1(-2 * t))
    lt = np.log(t)
    return float(np.sum((v[1:] + v[:-1]) * np.diff(lt)) / 2)

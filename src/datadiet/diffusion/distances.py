"""Distances between an estimate and the truth: TV on a grid (1-D, 2-D), sliced Wasserstein (any d).

In 1-D the empirical measure already gets W1 ~ n^{-1/2}, so the rate is measured in TV = (1/2) int |p_hat - p|.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import InputError


def grid(lo: float = -1.5, hi: float = 1.5, points: int = 2**16) -> np.ndarray:
    """Equally spaced points on [lo, hi] (the default covers [-1, 1] plus mass that leaks out)."""
    if not hi > lo or points < 3:
        raise InputError(f"grid needs hi > lo and points >= 3; got [{lo}, {hi}], {points}")
    return np.linspace(lo, hi, points)


def tv_grid(p_hat: np.ndarray, p: np.ndarray, g: np.ndarray) -> float:
    """TV = (1/2) int |p_hat - p| by the trapezoid rule on the equally spaced grid g (densities on g)."""
    p_hat, p, g = (np.asarray(a, dtype=np.float64) for a in (p_hat, p, g))
    if not p_hat.shape == p.shape == g.shape:
        raise InputError(f"p_hat {p_hat.shape}, p {p.shape} and grid {g.shape} must have one shape")
    f = np.abs(p_hat - p)
    return 0.5 * float(np.sum((f[1:] + f[:-1]) * np.diff(g)) / 2)


def gaussian_mixture_on_grid(centers: np.ndarray, std: float, g: np.ndarray) -> np.ndarray:
    """(1/n) sum_i N(x; c_i, std^2) on an equally spaced grid, by linear binning + FFT convolution.

    Notes: O(G log G + n); binning error O(dx^2 / std^2) relative, so keep std >= a few grid steps (an
    std below the step is rendered as a spike of the right mass, i.e. TV to a smooth p tends to 1).
    """
    c = np.asarray(centers, dtype=np.float64).reshape(-1)
    G, dx = g.size, float(g[1] - g[0])
    pos = (c - g[0]) / dx
    i = np.floor(pos).astype(np.int64)
    frac = pos - i
    mass = np.zeros(G)
    ok = (i >= 0) & (i < G - 1)
    np.add.at(mass, i[ok], 1 - frac[ok])
    np.add.at(mass, i[ok] + 1, frac[ok])
    mass /= c.size
    if std < dx / 4:  # narrower than the grid resolves: point masses rendered on one cell
        return mass / dx
    size = 1 << int(math.ceil(math.log2(2 * G)))
    offs = np.fft.rfftfreq(size, d=dx) * 2 * math.pi
    kern_hat = np.exp(-0.5 * (offs * std) ** 2)  # Fourier transform of the Gaussian kernel
    dens = np.fft.irfft(np.fft.rfft(mass, size) * kern_hat, size)[:G]
    return np.clip(dens, 0, None) / dx


def density_from_quantiles(y: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Density on grid g of the law whose M quantiles (k + 1/2)/M are the points y (a 1-D monotone pushforward).

    The CDF is k/M-interpolated between sorted points; its slope on the grid is the density (piecewise constant,
    mass 1/M between consecutive points, the outer half-masses spread over the outer gaps)."""
    y = np.sort(np.asarray(y, dtype=np.float64).reshape(-1))
    M = y.size
    if M < 2:
        raise InputError("density_from_quantiles needs at least 2 points")
    levels = (np.arange(M) + 0.5) / M
    ext_y = np.concatenate([[y[0] - (y[1] - y[0])], y, [y[-1] + (y[-1] - y[-2])]])
    ext_l = np.concatenate([[0.0], levels, [1.0]])
    edges = np.concatenate([[g[0]], (g[1:] + g[:-1]) / 2, [g[-1]]])
    Fe = np.interp(edges, ext_y, ext_l, left=0.0, right=1.0)
    return np.diff(Fe) / np.diff(edges)


def tv_histogram(samples: np.ndarray, pdf, lo: float, hi: float, bins: int, sub: int = 8) -> float:
    """TV between the histogram of ``samples`` (m, d), d in {1, 2}, and pdf's bin masses on [lo, hi]^d.

    Bin masses of pdf use a sub x sub midpoint rule per bin; samples outside the box count as mass outside
    (where pdf is taken to be ~0). Monte Carlo floor ~ 0.4 sqrt(bins^d / m)."""
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] not in (1, 2):
        raise InputError(f"tv_histogram works in 1-D or 2-D; got samples of shape {x.shape}")
    d = x.shape[1]
    edges = np.linspace(lo, hi, bins + 1)
    counts, _ = np.histogramdd(x, bins=[edges] * d)
    q = counts / x.shape[0]
    w = (hi - lo) / (bins * sub)
    fine = lo + (np.arange(bins * sub) + 0.5) * w
    if d == 1:
        mass = pdf(fine[:, None]).reshape(bins, sub).sum(1) * w
    else:
        X, Y = np.meshgrid(fine, fine, indexing="ij")
        vals = pdf(np.stack([X.ravel(), Y.ravel()], axis=1)).reshape(bins, sub, bins, sub)
        mass = vals.sum(axis=(1, 3)) * w * w
    outside = max(0.0, 1.0 - q.sum())
    return 0.5 * float(np.abs(q - mass).sum() + outside + max(0.0, 1.0 - mass.sum()))


def _projections(d: int, projections: int, seed: int) -> np.ndarray:
    th = np.random.default_rng(np.random.SeedSequence([seed, 99])).standard_normal((d, projections))
    return th / np.linalg.norm(th, axis=0, keepdims=True)


def _projected_quantiles(a: np.ndarray, th: np.ndarray, levels: int) -> np.ndarray:
    u = (np.arange(levels) + 0.5) / levels
    return np.quantile(a @ th, u, axis=0, method="inverted_cdf")


def sliced_wasserstein(a: np.ndarray, b: np.ndarray, projections: int = 256, seed: int = 0,
                       levels: int = 1024) -> float:
    """SW_1(a, b) = E_theta W_1(theta.a, theta.b), theta uniform on S^{d-1} (``projections`` seeded draws).

    1-D W_1 = int_0^1 |F_a^{-1}(u) - F_b^{-1}(u)| du on ``levels`` mid-quantiles (any sample sizes)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise InputError(f"samples must be (m, d) with one d; got {a.shape} and {b.shape}")
    th = _projections(a.shape[1], projections, seed)
    return float(np.abs(_projected_quantiles(a, th, levels) - _projected_quantiles(b, th, levels)).mean())


class SlicedW1To:
    """``SlicedW1To(ref, ...)(a)`` == ``sliced_wasserstein(a, ref, ...)``, with the reference's projected
    quantiles computed once (they dominate the cost when one large reference is compared with many samples)."""

    def __init__(self, reference: np.ndarray, projections: int = 256, seed: int = 0, levels: int = 1024):
        ref = np.asarray(reference, dtype=np.float64)
        if ref.ndim != 2:
            raise InputError(f"reference samples must be (m, d); got {ref.shape}")
        self.d, self.levels = ref.shape[1], levels
        self.th = _projections(self.d, projections, seed)
        self.q = _projected_quantiles(ref, self.th, levels)

    def __call__(self, a: np.ndarray) -> float:
        a = np.asarray(a, dtype=np.float64)
        if a.ndim != 2 or a.shape[1] != self.d:
            raise InputError(f"samples must be (m, {self.d}); got {a.shape}")
        return float(np.abs(_projected_quantiles(a, self.th, self.levels) - self.q).mean())

"""Time-weighted denoising score matching (DSM) for a score network: an MLP, or a spline-feature network in 1-D.

Loss (Oko, Akiyama, Suzuki's empirical score-matching risk, in noise-prediction form):
    L(theta) = (1/n) sum_i E_{t ~ q, z} | sigma_t s_theta(m_t x_i + sigma_t z, t) + z |^2,
i.e. the risk int E |s_theta - grad log p_t(x_t | x_0)|^2 with weight lambda(t) ∝ sigma_t^2 q(t). The net predicts
eps_theta = -sigma_t s_theta, so the target is the noise z. q is log-uniform on [t_min, T], optionally mixed with a
log-uniform law on [t_min, small_t_span * t_min] (``small_t``): more draws, hence more weight, near small t, where
the score has the fine structure that decides the TV error. Every weighting has the same minimizer over all
functions (the empirical score); it only decides where a finite network spends its accuracy.

Each step takes ``batch`` data points with ``draws`` fresh (t, z) each. With ``val_frac`` > 0, training keeps the
weights with the best loss on a fixed held-out set (``val_draws`` fixed (t, z) per held-out point, the same
draws at every check, so checks compare paired losses) and stops after ``patience`` checks without improvement.

Networks: ``ScoreNet`` (MLP on x and a sinusoidal embedding of log t, any d) and ``SplineScoreNet`` (d = 1: the
MLP also sees order-1 B-spline (hat) features of x / m_t on dyadic knot grids from 1/2 down to a spacing h, a
first ReLU layer with fixed knots, the basis the theory's approximation uses; level l is damped by
exp(-sigma_t^2 / (2 m_t^2 h_l^2)), since p_t has no structure finer than sigma_t / m_t in x / m_t). With
``skip``, both add the score of the Gaussian with the data's mean and (diagonal or full) covariance C — exact as
t -> inf; with a full C, exact in the directions where the data has no variance — and scale the network's part by
m_t, so at large t only the Gaussian is left (EDM-style preconditioning, Karras et al. 2022); the MLP then sees
the input whitened by Sigma_t = m_t^2 C + sigma_t^2 I.
"""

from __future__ import annotations

import copy
import logging
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..errors import InputError
from .forward import horizon, sigma_t
from .score import device as default_device

log = logging.getLogger(__name__)


def _time_embedding(t: torch.Tensor, freqs: int) -> torch.Tensor:
    """Sin/cos features of log t at frequencies 2^k / 8, k < freqs, shape (m, 2 freqs)."""
    k = torch.arange(freqs, dtype=t.dtype, device=t.device)
    ang = torch.log(t)[:, None] * (2.0 ** k)[None, :] / 8.0
    return torch.cat([torch.sin(ang), torch.cos(ang)], dim=1)


def _mlp(fan_in: int, width: int, depth: int, d_out: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for _ in range(depth):
        layers += [nn.Linear(fan_in, width), nn.SiLU()]
        fan_in = width
    layers.append(nn.Linear(fan_in, d_out))
    return nn.Sequential(*layers)


class _Score(nn.Module):
    """Shared pieces: the Gaussian skip, the score from eps, the (m_t, sigma_t^2) of a time tensor."""

    def _init_skip(self, d: int, skip):
        """skip = None or (mean (d,), cov): cov (d,) a diagonal, or (d, d) a full covariance (eigendecomposed)."""
        self.skip = skip is not None
        mean, cov = (np.zeros(d), np.ones(d)) if skip is None else (np.asarray(skip[0], float), np.asarray(skip[1], float))
        if cov.shape == (d,):
            lam, U = cov, np.eye(d)
        elif cov.shape == (d, d):
            lam, U = np.linalg.eigh((cov + cov.T) / 2)
        else:
            raise InputError(f"skip=(mean, cov) needs mean ({d},) and cov ({d},) or ({d}, {d}); got {cov.shape}")
        if mean.shape != (d,) or not np.all(np.isfinite(lam)):
            raise InputError(f"skip=(mean, cov) needs a finite mean of shape ({d},)")
        self.register_buffer("skip_mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("skip_lam", torch.as_tensor(np.maximum(lam, 1e-8), dtype=torch.float32))
        self.register_buffer("skip_U", torch.as_tensor(U, dtype=torch.float32))

    @staticmethod
    def _m_s2(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.exp(-t)[:, None], -torch.expm1(-2 * t)[:, None]

    def _whiten(self, x, t, power: float):
        """U diag((m^2 lam + sigma^2)^-power) U^T (x - m mu): the Gaussian's whitening (power 1/2) or precision (1)."""
        m, s2 = self._m_s2(t)
        r = (x - m * self.skip_mean) @ self.skip_U
        return (r * (m * m * self.skip_lam + s2) ** (-power)) @ self.skip_U.T

    def _precondition(self, x, t, raw):
        """eps = raw (no skip) or sigma Sigma_t^{-1} (x - m mu) + m raw with Sigma_t = m^2 C + sigma^2 I: the data
        Gaussian's eps plus a residual that vanishes as t -> inf."""
        if not self.skip:
            return raw
        m, s2 = self._m_s2(t)
        return torch.sqrt(s2) * self._whiten(x, t, 1.0) + m * raw

    def _c_in(self, x, t):
        return self._whiten(x, t, 0.5) if self.skip else x

    def forward(self, x: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
        """The score s_theta(x, t) = -eps_theta(x, t) / sigma_t."""
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device).expand(x.shape[0])
        return -self.eps(x, t) / torch.sqrt(-torch.expm1(-2 * t))[:, None]


class ScoreNet(_Score):
    """s_theta(x, t) = -eps_theta(x, t) / sigma_t: an MLP on (x, sinusoidal embedding of log t), any d.

    skip : (mean (d,), cov (d,) or (d, d)) or None — add the Gaussian's eps and scale the MLP's part by m_t."""

    def __init__(self, d: int, width: int = 128, depth: int = 3, freqs: int = 8, skip=None):
        super().__init__()
        self.d, self.freqs = d, freqs
        self._init_skip(d, skip)
        self.mlp = _mlp(d + 2 * freqs, width, depth, d)

    def embed(self, t: torch.Tensor) -> torch.Tensor:
        return _time_embedding(t, self.freqs)

    def eps(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Noise prediction eps_theta(x, t), shape (m, d); t of shape (m,)."""
        raw = self.mlp(torch.cat([self._c_in(x, t), self.embed(t)], dim=1))
        return self._precondition(x, t, raw)


def spline_levels(h: float, coarsest: float = 0.5) -> list[float]:
    """Knot spacings coarsest, coarsest/2, ... while above 1.5 h, then h itself (consecutive ratios in [1.5, 3])."""
    if not 0 < h:
        raise InputError(f"spline knot spacing h={h} must be > 0")
    out, cur = [], coarsest
    while cur > 1.5 * h:
        out.append(cur)
        cur /= 2
    out.append(h)
    return out


class SplineScoreNet(_Score):
    """d = 1: eps_theta(x, t) = MLP(c_in x, hat features of x / m_t on knot grids down to spacing h, emb(log t)).

    Level l has knots every h_l on [lo, hi], ``features`` learned values per knot (linear interpolation between
    knots = a layer of hat units with fixed knots and learned output weights), damped by
    exp(-sigma_t^2 / (2 m_t^2 h_l^2)). The number of knots ~ (hi - lo) / h: with h ~ n^{-1/(2s+1)} this first
    layer's width grows like the theory's basis size N ~ n^{d/(2s+d)}.
    """

    def __init__(self, h: float, width: int = 64, depth: int = 2, features: int = 2, freqs: int = 8, skip=None,
                 lo: float = -2.5, hi: float = 2.5, coarsest: float = 0.5):
        super().__init__()
        if not hi > lo or features < 1:
            raise InputError(f"SplineScoreNet needs hi > lo and features >= 1; got [{lo}, {hi}], {features}")
        self.d, self.freqs, self.lo, self.hi = 1, freqs, lo, hi
        self.levels = spline_levels(h, coarsest)
        self._init_skip(1, skip)
        gen = torch.Generator().manual_seed(1234)
        self.tables = nn.ParameterList(
            [nn.Parameter(1e-2 * torch.randn(int(math.ceil((hi - lo) / hl)) + 2, features, generator=gen))
             for hl in self.levels])
        self.mlp = _mlp(1 + len(self.levels) * features + 2 * freqs, width, depth, 1)

    def knots(self) -> int:
        """Number of knots over all levels (the width of the hat-feature layer)."""
        return sum(tab.shape[0] for tab in self.tables)

    def eps(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if x.ndim != 2 or x.shape[1] != 1:
            raise InputError(f"SplineScoreNet is 1-D: x must have shape (m, 1); got {tuple(x.shape)}")
        m, s2 = self._m_s2(t)
        y = (x / m).clamp(self.lo, self.hi - 1e-6)
        feats = [self._c_in(x, t)]
        for hl, tab in zip(self.levels, self.tables):
            pos = (y - self.lo) / hl
            base = pos.floor()
            w = pos - base
            i = base.long().squeeze(1)
            f = tab[i] * (1 - w) + tab[i + 1] * w
            feats.append(f * torch.exp(-0.5 * s2 / (m * m * hl * hl)))
        feats.append(_time_embedding(t, self.freqs))
        return self._precondition(x, t, self.mlp(torch.cat(feats, dim=1)))


def dsm_loss(net: nn.Module, x0: torch.Tensor, t: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Mean of |eps_theta(m_t x0 + sigma_t z, t) - z|^2 = sigma_t^2 |s_theta - grad log p_t(x_t | x0)|^2."""
    m = torch.exp(-t)[:, None]
    sig = torch.sqrt(-torch.expm1(-2 * t))[:, None]
    return ((net.eps(m * x0 + sig * z, t) - z) ** 2).sum(1).mean()


def sample_times(m: int, t_min: float, T: float, generator: torch.Generator, dtype=torch.float32,
                 small_frac: float = 0.0, small_span: float = 30.0) -> torch.Tensor:
    """m times from q: log-uniform on [t_min, T], with probability ``small_frac`` log-uniform on
    [t_min, min(T, small_span * t_min)] instead."""
    u = torch.rand(m, generator=generator, dtype=dtype)
    hi = torch.full((m,), math.log(T), dtype=dtype)
    if small_frac > 0:
        pick = torch.rand(m, generator=generator, dtype=dtype) < small_frac
        hi = torch.where(pick, torch.full_like(hi, math.log(min(T, small_span * t_min))), hi)
    lo = math.log(t_min)
    return torch.exp(lo + u * (hi - lo))


ARCHS = ("mlp", "spline")
SKIPS = ("none", "diag", "full")


@dataclass(frozen=True)
class DSMConfig:
    """DSM training: Adam with warmup + cosine decay; minibatches of data points, ``draws`` fresh (t, z) each."""

    width: int = 128
    depth: int = 3
    steps: int = 3000
    batch: int = 512  # data points per step
    draws: int = 1  # (t, z) draws per data point per step
    lr: float = 2e-3
    warmup: float = 0.0  # fraction of the steps with a linear lr warmup
    t_min: float = 1e-3  # smallest training time (the early-stopping time t0 of the sampler is >= this)
    T: float | None = None  # default: log n
    small_t: float = 0.0  # fraction of the draws with t log-uniform on [t_min, small_t_span * t_min]
    small_t_span: float = 30.0
    val_frac: float = 0.1
    val_draws: int = 8  # fixed (t, z) draws per held-out point
    check_every: int = 100
    patience: int = 8
    arch: str = "mlp"  # "mlp" (ScoreNet) | "spline" (SplineScoreNet, d = 1)
    h: float | None = None  # spline: finest knot spacing (default sigma_{t_min})
    skip: str = "none"  # "none" | "diag" | "full": add the score of the Gaussian with the data's mean and
    # diagonal / full covariance, scale the network's part by m_t

    def __post_init__(self):
        if (self.width < 1 or self.depth < 1 or self.steps < 1 or self.batch < 1 or self.draws < 1
                or not self.lr > 0 or self.val_draws < 1):
            raise InputError(f"DSM config needs positive width, depth, steps, batch, draws, lr, val_draws; got {self}")
        if not 0 < self.t_min < 1 or not 0 <= self.val_frac < 1:
            raise InputError(f"need 0 < t_min < 1 and 0 <= val_frac < 1; got {self.t_min}, {self.val_frac}")
        if not 0 <= self.small_t <= 1 or not self.small_t_span > 1 or not 0 <= self.warmup < 1:
            raise InputError(f"need 0 <= small_t <= 1, small_t_span > 1, 0 <= warmup < 1; got {self}")
        if self.arch not in ARCHS:
            raise InputError(f"DSM arch {self.arch!r} is not one of {', '.join(ARCHS)}")
        if self.skip not in SKIPS:
            raise InputError(f"DSM skip {self.skip!r} is not one of {', '.join(SKIPS)}")
        if self.h is not None and not self.h > 0:
            raise InputError(f"spline knot spacing h={self.h} must be > 0")


def make_net(config: DSMConfig, d: int, data: np.ndarray | None = None) -> nn.Module:
    """The network ``config`` describes, for data of dimension d (the skip Gaussian is fitted to ``data``)."""
    skip = None
    if config.skip != "none":
        if data is None:
            raise InputError(f"skip={config.skip!r} needs the data (its mean and covariance)")
        data = np.asarray(data, dtype=np.float64)
        if config.skip == "diag" or d == 1:
            skip = (data.mean(axis=0), np.maximum(data.var(axis=0), 1e-6))
        else:
            skip = (data.mean(axis=0), np.cov(data, rowvar=False) + 1e-6 * np.eye(d))
    if config.arch == "spline":
        if d != 1:
            raise InputError(f"arch 'spline' is 1-D; the data has d={d}: use arch 'mlp'")
        h = config.h if config.h is not None else sigma_t(config.t_min)
        return SplineScoreNet(h, config.width, config.depth, skip=skip)
    return ScoreNet(d, config.width, config.depth, skip=skip)


def train_score_net(data: np.ndarray, config: DSMConfig = DSMConfig(), seed: int = 0,
                    device: torch.device | None = None) -> tuple[nn.Module, dict]:
    """Fit s_theta to ``data`` (n, d) by DSM; returns the net (the best held-out one when val_frac > 0) and a
    history dict {"step", "val", "train", "stopped_at", "best_val", "seconds"}."""
    import time

    x = np.asarray(data, dtype=np.float32)
    if x.ndim != 2 or x.shape[0] < 2 or not np.isfinite(x).all():
        raise InputError(f"DSM data must be a finite (n, d) array with n >= 2; got shape {x.shape}")
    tic = time.perf_counter()
    dev = device or default_device()
    n, d = x.shape
    T = config.T or horizon(n)
    g = torch.Generator().manual_seed(int(np.random.SeedSequence([seed, 41]).generate_state(1)[0]))
    torch.manual_seed(int(np.random.SeedSequence([seed, 42]).generate_state(1)[0]))
    perm = torch.randperm(n, generator=g)
    n_val = int(round(config.val_frac * n)) if config.val_frac > 0 and n >= 20 else 0
    X = torch.from_numpy(x)[perm]
    Xval, Xtr = X[:n_val].to(dev), X[n_val:].to(dev)
    net = make_net(config, d, Xtr.cpu().numpy().astype(np.float64)).to(dev)
    opt = torch.optim.Adam(net.parameters(), lr=config.lr)
    warm = int(config.warmup * config.steps)

    def lr_factor(k: int) -> float:  # k = number of steps taken
        if k < warm:
            return (k + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * (k - warm) / max(1, config.steps - warm)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor)
    draw = dict(small_frac=config.small_t, small_span=config.small_t_span)
    if n_val:  # fixed validation draws, the same at every check
        Vx = Xval.repeat(config.val_draws, 1)
        Vt = sample_times(Vx.shape[0], config.t_min, T, g, **draw).to(dev)
        Vz = torch.randn(Vx.shape, generator=g).to(dev)
    best, best_state, bad, hist = math.inf, None, 0, {"step": [], "val": [], "train": []}
    ntr = Xtr.shape[0]
    running, count, step = 0.0, 0, 0
    for step in range(1, config.steps + 1):
        idx = torch.randint(ntr, (min(config.batch, max(ntr, 1)),), generator=g).to(dev)
        xb = Xtr[idx].repeat(config.draws, 1)
        t = sample_times(xb.shape[0], config.t_min, T, g, **draw).to(dev)
        z = torch.randn(xb.shape, generator=g).to(dev)
        loss = dsm_loss(net, xb, t, z)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        running += float(loss.detach())
        count += 1
        if n_val and step % config.check_every == 0:
            with torch.no_grad():
                v = float(dsm_loss(net, Vx, Vt, Vz))
            hist["step"].append(step)
            hist["val"].append(v)
            hist["train"].append(running / count)
            running, count = 0.0, 0
            if v < best - 1e-4:
                best, best_state, bad = v, copy.deepcopy(net.state_dict()), 0
            else:
                bad += 1
                if bad >= config.patience:
                    log.info("DSM early stop at step %d (best val %.4f)", step, best)
                    break
    if best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    hist["stopped_at"] = step
    hist["best_val"] = best if math.isfinite(best) else None
    hist["seconds"] = time.perf_counter() - tic
    if not n_val:
        hist["train_last"] = running / max(count, 1)
    return net, hist

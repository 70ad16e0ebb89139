"""Time-weighted denoising score matching (DSM) for a small MLP score network.

Loss (Oko et al. eq. for the empirical score-matching risk, weight lambda(t) = sigma_t^2):
    L(theta) = (1/n) sum_i E_{t, z} | sigma_t s_theta(m_t x_i + sigma_t z, t) + z |^2,
t log-uniform on [t_min, T]. The net predicts eps_theta = -sigma_t s_theta, so the target is the noise z.
Training stops early when the held-out DSM loss (fixed t, z draws) has not improved for ``patience`` checks.
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
from .forward import horizon
from .score import device as default_device

log = logging.getLogger(__name__)


class ScoreNet(nn.Module):
    """s_theta(x, t) = -eps_theta(x, t) / sigma_t: an MLP on (x, sinusoidal embedding of log t)."""

    def __init__(self, d: int, width: int = 128, depth: int = 3, freqs: int = 8):
        super().__init__()
        self.d, self.freqs = d, freqs
        layers: list[nn.Module] = []
        fan_in = d + 2 * freqs
        for _ in range(depth):
            layers += [nn.Linear(fan_in, width), nn.SiLU()]
            fan_in = width
        layers.append(nn.Linear(fan_in, d))
        self.mlp = nn.Sequential(*layers)

    def embed(self, t: torch.Tensor) -> torch.Tensor:
        """Sin/cos features of log t at frequencies 2^k / 8, shape (m, 2 freqs)."""
        k = torch.arange(self.freqs, dtype=t.dtype, device=t.device)
        ang = torch.log(t)[:, None] * (2.0 ** k)[None, :] / 8.0
        return torch.cat([torch.sin(ang), torch.cos(ang)], dim=1)

    def eps(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Noise prediction eps_theta(x, t), shape (m, d); t of shape (m,)."""
        return self.mlp(torch.cat([x, self.embed(t)], dim=1))

    def forward(self, x: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
        """The score s_theta(x, t) = -eps_theta(x, t) / sigma_t."""
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device).expand(x.shape[0])
        sig = torch.sqrt(-torch.expm1(-2 * t))
        return -self.eps(x, t) / sig[:, None]


def dsm_loss(net: ScoreNet, x0: torch.Tensor, t: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Mean of |eps_theta(m_t x0 + sigma_t z, t) - z|^2 = sigma_t^2 |s_theta - grad log p_t(x_t | x0)|^2."""
    m = torch.exp(-t)[:, None]
    sig = torch.sqrt(-torch.expm1(-2 * t))[:, None]
    return ((net.eps(m * x0 + sig * z, t) - z) ** 2).sum(1).mean()


def sample_times(m: int, t_min: float, T: float, generator: torch.Generator, dtype=torch.float32) -> torch.Tensor:
    """m times log-uniform on [t_min, T]."""
    u = torch.rand(m, generator=generator, dtype=dtype)
    return torch.exp(math.log(t_min) + u * (math.log(T) - math.log(t_min)))


@dataclass(frozen=True)
class DSMConfig:
    """DSM training: Adam, minibatches of data points, each with fresh (t, z)."""

    width: int = 128
    depth: int = 3
    steps: int = 3000
    batch: int = 512
    lr: float = 2e-3
    t_min: float = 1e-3  # smallest training time (the early-stopping time t0 of the sampler is >= this)
    T: float | None = None  # default: log n
    val_frac: float = 0.1
    check_every: int = 100
    patience: int = 8

    def __post_init__(self):
        if self.width < 1 or self.depth < 1 or self.steps < 1 or self.batch < 1 or not self.lr > 0:
            raise InputError(f"DSM config needs positive width, depth, steps, batch, lr; got {self}")
        if not 0 < self.t_min < 1 or not 0 <= self.val_frac < 1:
            raise InputError(f"need 0 < t_min < 1 and 0 <= val_frac < 1; got {self.t_min}, {self.val_frac}")


def train_score_net(data: np.ndarray, config: DSMConfig = DSMConfig(), seed: int = 0,
                    device: torch.device | None = None) -> tuple[ScoreNet, dict]:
    """Fit s_theta to ``data`` (n, d) by DSM; returns the net with the best held-out loss and a history dict."""
    x = np.asarray(data, dtype=np.float32)
    if x.ndim != 2 or x.shape[0] < 2 or not np.isfinite(x).all():
        raise InputError(f"DSM data must be a finite (n, d) array with n >= 2; got shape {x.shape}")
    dev = device or default_device()
    n, d = x.shape
    T = config.T or horizon(n)
    g = torch.Generator().manual_seed(int(np.random.SeedSequence([seed, 41]).generate_state(1)[0]))
    torch.manual_seed(int(np.random.SeedSequence([seed, 42]).generate_state(1)[0]))
    perm = torch.randperm(n, generator=g)
    n_val = int(round(config.val_frac * n)) if config.val_frac > 0 and n >= 20 else 0
    X = torch.from_numpy(x)[perm]
    Xval, Xtr = X[:n_val].to(dev), X[n_val:].to(dev)
    net = ScoreNet(d, config.width, config.depth).to(dev)
    opt = torch.optim.Adam(net.parameters(), lr=config.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, config.steps)
    if n_val:  # fixed validation draws: 8 (t, z) per held-out point
        Vx = Xval.repeat(8, 1)
        Vt = sample_times(Vx.shape[0], config.t_min, T, g).to(dev)
        Vz = torch.randn(Vx.shape, generator=g).to(dev)
    best, best_state, bad, hist = math.inf, None, 0, {"step": [], "val": [], "train": []}
    ntr = Xtr.shape[0]
    running = 0.0
    for step in range(1, config.steps + 1):
        idx = torch.randint(ntr, (min(config.batch, max(ntr, 1)),), generator=g).to(dev)
        xb = Xtr[idx]
        t = sample_times(xb.shape[0], config.t_min, T, g).to(dev)
        z = torch.randn(xb.shape, generator=g).to(dev)
        loss = dsm_loss(net, xb, t, z)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        running += float(loss.detach())
        if n_val and step % config.check_every == 0:
            with torch.no_grad():
                v = float(dsm_loss(net, Vx, Vt, Vz))
            hist["step"].append(step)
            hist["val"].append(v)
            hist["train"].append(running / config.check_every)
            running = 0.0
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
    return net, hist

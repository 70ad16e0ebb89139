"""Plain SGD on a two-layer ReLU network for sparse parity, with the hidden-progress measure (Barak et al. 2022).

f(z) = Σ_j a_j relu(w_j·z + b_j), both layers trained by minibatch SGD on the hinge loss max(0, 1 − y f),
PyTorch-default (uniform ±1/√fan_in) init. Inputs are rescaled to unit mean squared coordinate (so ±1/√d and ±1
inputs train alike). Logged on a fixed evaluation set: loss, accuracy and the hidden progress
‖W Pᵀ‖²_F / ‖W‖²_F, the weight mass on the k relevant directions, which Barak, Edelman, Goel, Kakade, Malach,
Zhang ("Hidden progress in deep learning: SGD learns parities near the computational limit", NeurIPS 2022) show
rising during the loss plateau, before the sudden drop.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np

from ..errors import InputError, MissingDependencyError
from .parity import hidden_progress


@dataclass(frozen=True)
class ReluSGDConfig:
    """Defaults: Barak et al.'s setting at CPU size (width 256, batch 32, lr 0.1, hinge loss)."""

    width: int = 256
    lr: float = 0.1
    batch_size: int = 32
    steps: int = 2000
    weight_decay: float = 0.0
    log_every: int = 0  # 0: about 100 logs
    device: str | None = None

    def __post_init__(self):
        for name in ("width", "batch_size", "steps"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise InputError(f"{name}={v!r} must be a positive integer")
        if not self.lr > 0 or not self.weight_decay >= 0 or self.log_every < 0:
            raise InputError(f"need lr > 0, weight_decay >= 0, log_every >= 0; got {self.lr}, "
                             f"{self.weight_decay}, {self.log_every}")


def train_relu_sgd(config: ReluSGDConfig, *, seed: int = 0, data: tuple | None = None,
                   sampler: Callable[[int, np.random.Generator], tuple] | None = None,
                   eval_data: tuple, directions: np.ndarray | None = None) -> dict:
    """Train on a fixed set ``data=(Z, y)`` (minibatches drawn from it) or online from ``sampler(b, rng)``.

    Returns {"steps", "eval_loss", "eval_accuracy", "progress" and "relevant_mass" ‖W Pᵀ‖²_F
    (if ``directions`` (k, d) given),
    "accuracy" (final eval accuracy), "W" (final first layer, (width, d)), "config"}.
    """
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependencyError("torch", "mfld", "the SGD ReLU baseline") from exc
    if (data is None) == (sampler is None):
        raise InputError("give exactly one of data=(Z, y) or sampler=")
    Ze, ye = (np.asarray(a, np.float64) for a in eval_data)
    d = Ze.shape[1]
    scale = 1.0 / math.sqrt(float(np.mean(Ze * Ze)) or 1.0)
    device = torch.device(config.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    dt = torch.float32
    ss_init, ss_batch = np.random.SeedSequence([seed, 41]).spawn(2)
    g = torch.Generator().manual_seed(int(ss_init.generate_state(1)[0]))
    bound1, bound2 = 1.0 / math.sqrt(d), 1.0 / math.sqrt(config.width)
    W = ((torch.rand(config.width, d, generator=g) * 2 - 1) * bound1).to(device, dt).requires_grad_()
    b = ((torch.rand(config.width, generator=g) * 2 - 1) * bound1).to(device, dt).requires_grad_()
    a = ((torch.rand(config.width, generator=g) * 2 - 1) * bound2).to(device, dt).requires_grad_()
    params = [W, b, a]
    opt = torch.optim.SGD(params, lr=config.lr, weight_decay=config.weight_decay)
    rng = np.random.default_rng(ss_batch)
    if data is not None:
        Zt = torch.as_tensor(np.asarray(data[0], np.float64) * scale, dtype=dt, device=device)
        yt = torch.as_tensor(np.asarray(data[1], np.float64), dtype=dt, device=device)
    Zev = torch.as_tensor(Ze * scale, dtype=dt, device=device)
    yev = torch.as_tensor(ye, dtype=dt, device=device)

    def forward(Zb):
        return torch.relu(Zb @ W.T + b) @ a

    log_every = config.log_every or max(1, config.steps // 100)
    out: dict = {"steps": [], "eval_loss": [], "eval_accuracy": []}
    if directions is not None:
        out["progress"] = []
        out["relevant_mass"] = []

    def record(t):
        with torch.no_grad():
            f = forward(Zev)
            out["steps"].append(t)
            out["eval_loss"].append(float(torch.clamp(1 - yev * f, min=0).mean()))
            out["eval_accuracy"].append(float(((f >= 0).to(dt) * 2 - 1 == yev).to(dt).mean()))
            if directions is not None:
                Wn = W.detach().cpu().double().numpy()
                out["progress"].append(hidden_progress(Wn, directions))
                out["relevant_mass"].append(float(np.sum((Wn @ np.asarray(directions).T) ** 2)))

    threads = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(1)  # tiny matmuls: one thread is faster than several fighting over shared cores
    try:
        _loop(config, torch, rng, data, sampler, Zt if data is not None else None, yt if data is not None else None,
              forward, opt, record, log_every, scale, dt, device)
    finally:
        torch.set_num_threads(threads)
    record(config.steps)
    out["accuracy"] = out["eval_accuracy"][-1]
    out["W"] = W.detach().cpu().double().numpy()
    out["config"] = asdict(config)
    return out


def _loop(config, torch, rng, data, sampler, Zt, yt, forward, opt, record, log_every, scale, dt, device):
    for t in range(config.steps):
        if t % log_every == 0:
            record(t)
        if data is not None:
            idx = torch.as_tensor(rng.choice(Zt.shape[0], size=min(config.batch_size, Zt.shape[0]), replace=False),
                                  device=device)
            Zb, yb = Zt[idx], yt[idx]
        else:
            Zn, yn = sampler(config.batch_size, rng)
            Zb = torch.as_tensor(np.asarray(Zn) * scale, dtype=dt, device=device)
            yb = torch.as_tensor(np.asarray(yn), dtype=dt, device=device)
        loss = torch.clamp(1 - yb * forward(Zb), min=0).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

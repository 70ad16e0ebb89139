"""DIFF2 (Murata & Suzuki, ICML 2023) and DP-GD as plain functions: client messages, server step, a driver.

Round r (x_{-1} := x_0):
  r mod T = 0:  client p sends m_p = (1/n_p) Σ_i clip_{C1}(∇ℓ(x_r, z_i)) + N(0, σ1² I),  v_r = mean_p m_p
  otherwise:    m_p = (1/n_p) Σ_i clip_{C2}(∇ℓ(x_r, z_i) − ∇ℓ(x_{r−1}, z_i)) + N(0, σ2² I),
                v_r = v_{r−1} + mean_p m_p
  server:       x_{r+1} = x_r − η v_r                                    (the GD subroutine)
σ_k = z_k · 2C_k / n_p (replace-one sensitivity of the clipped mean). DP-GD is the case T = 1.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np
import torch

from ..errors import InputError
from . import accountant
from .problems import ClientData, Problem

log = logging.getLogger(__name__)


def clip_rows(G: torch.Tensor, C: float | None) -> torch.Tensor:
    """Scale each row g_i to g_i · min(1, C/‖g_i‖); C = None (or inf) leaves G unchanged."""
    if C is None or math.isinf(C):
        return G
    norms = torch.linalg.vector_norm(G, dim=1, keepdim=True)
    return G * torch.clamp(C / torch.clamp(norms, min=1e-300), max=1.0)


def noise_std(z: float, C: float | None, n: int) -> float:
    """σ = z · 2C/n: Gaussian std for noise multiplier z on a mean of n rows clipped to norm C."""
    if z == 0 or C is None or math.isinf(C):
        return 0.0 if z == 0 else float("inf")
    return z * 2.0 * C / n


def round_generator(seed: int, client: int, r: int) -> torch.Generator:
    """The noise generator of client p in round r: stateless, so a Flower client draws the same noise."""
    state = np.random.SeedSequence([int(seed), int(client), int(r), 88]).generate_state(2, dtype=np.uint64)
    return torch.Generator().manual_seed(int(state[0] % (2**63)))


def message_from_grads(G: torch.Tensor, C: float | None, z: float, gen: torch.Generator) -> torch.Tensor:
    """(1/n_p) Σ_i clip_C(g_i) + N(0, (z·2C/n_p)² I) for per-sample rows G of shape (n_p, d)."""
    m = clip_rows(G, C).mean(0)
    s = noise_std(z, C, G.shape[0])
    if s > 0:
        m = m + s * torch.randn(m.shape, generator=gen, dtype=m.dtype)
    return m


def client_message(problem: Problem, data: ClientData, x: torch.Tensor, x_prev: torch.Tensor | None,
                   C: float | None, z: float, gen: torch.Generator) -> torch.Tensor:
    """One client's DIFF2 message: clipped mean gradient (x_prev None) or gradient difference, plus noise."""
    G = problem.per_sample_grads(x, data)
    if x_prev is not None:
        G = G - problem.per_sample_grads(x_prev, data)
    return message_from_grads(G, C, z, gen)


def server_step(x: torch.Tensor, v_prev: torch.Tensor | None, messages: list[torch.Tensor], full: bool,
                lr: float) -> tuple[torch.Tensor, torch.Tensor]:
    """v_r = mean(messages) on a full round, v_{r−1} + mean(messages) otherwise; x_{r+1} = x_r − η v_r."""
    mean = torch.stack(messages).mean(0)
    v = mean if full or v_prev is None else v_prev + mean
    return x - lr * v, v


@dataclass(frozen=True)
class DPConfig:
    """Hyper-parameters of DIFF2 (period T ≥ 1) and DP-GD (T = 1); z is calibrated from (ε, δ) if epsilon set."""

    rounds: int = 100
    lr: float = 0.5
    period: int = 10          # T
    C1: float | None = 1.0    # clip of full gradients
    C2: float | None = 0.1    # clip of gradient differences
    epsilon: float | None = 1.0  # None: no noise (z = 0)
    delta: float = 1e-5
    accountant: str = "rdp"

    def validate(self) -> None:
        if self.rounds < 1:
            raise InputError(f"--rounds must be >= 1 (got {self.rounds})")
        if self.period < 1:
            raise InputError(f"period T must be >= 1 (got {self.period})")
        if not self.lr > 0:
            raise InputError(f"lr must be > 0 (got {self.lr})")
        for name, c in (("C1", self.C1), ("C2", self.C2)):
            if c is not None and not c > 0:
                raise InputError(f"{name} must be > 0 or None (got {c})")
        if self.epsilon is not None and (self.C1 is None or self.C2 is None):
            raise InputError("a private run (--epsilon) needs finite clipping C1 and C2")


@dataclass
class DPRun:
    """What a DIFF2/DP-GD run returns: final x, per-round ‖∇f(x_r)‖², ‖v_r − ∇f(x_r)‖², z and achieved ε."""

    x: torch.Tensor
    grad_norm_sq: list[float]
    estimator_err_sq: list[float]
    z: float
    epsilon: float | None
    test_accuracy: float
    v_history: list[torch.Tensor] = field(default_factory=list)


def run_diff2(problem: Problem, config: DPConfig, seed: int, *, keep_v: bool = False,
              on_round=None) -> DPRun:
    """Run DIFF2 (T = config.period) in process; with T = 1 this is DP-GD."""
    config.validate()
    z, z1, eps = noise_multipliers(config)
    x = problem.init(seed)
    G_prev, v = None, None
    gns, errs, vs = [], [], []
    for r in range(config.rounds):
        full = r % config.period == 0
        G = problem.per_sample_grads_all(x)
        D = G if full else G - G_prev
        msgs = [message_from_grads(D[p], config.C1 if full else config.C2, z1 if full else z,
                                   round_generator(seed, p, r)) for p in range(D.shape[0])]
        gf = G.mean(1).mean(0)
        x_next, v = server_step(x, v, msgs, full, config.lr)
        gns.append(float(gf @ gf))
        errs.append(float(((v - gf) ** 2).sum()))
        if keep_v:
            vs.append(v.clone())
        G_prev, x = G, x_next
        if on_round is not None:
            on_round(r)
    gf = problem.full_grad(x)
    gns.append(float(gf @ gf))
    return DPRun(x, gns, errs, z, eps, problem.test_accuracy(x), vs)


def noise_multipliers(config: DPConfig) -> tuple[float, float, float | None]:
    """(z for differences, z1 = √(C2/C1)·z for full gradients, achieved ε); zeros and None without --epsilon."""
    if config.epsilon is None:
        return 0.0, 0.0, None
    r1, r2 = accountant.release_counts(config.rounds, config.period)
    ratio = math.sqrt(config.C2 / config.C1) if r2 > 0 else 1.0
    z = accountant.calibrate(config.epsilon, config.delta, config.rounds, config.period, config.accountant,
                             ratio=ratio)
    eps = accountant.epsilon([(ratio * z, r1), (z, r2)], config.delta, config.accountant)
    return z, ratio * z, eps

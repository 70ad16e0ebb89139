"""DP-SGD via Opacus as the federated baseline of DIFF2: every client takes one private step per round.

Round r: the server sends x_r; client p draws a Poisson batch (rate q) of its n_p samples, and Opacus's
``DPOptimizer`` clips each per-sample gradient to C, adds N(0, (z·C)²) to their sum and divides by the
expected batch q·n_p; the client returns x_r − η·g̃_p and the server averages the returns, i.e.
x_{r+1} = x_r − η·mean_p g̃_p. Each client's samples are protected by its own Opacus accountant
(RDP over R Poisson-subsampled Gaussian steps, add/remove-one adjacency, Opacus's convention); z is
calibrated by Opacus to the target (ε, δ). Note the adjacency differs from DIFF2/DP-GD here, which
account replace-one with sensitivity 2C/n_p (a replace is an add and a remove).
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import InputError, MissingDependencyError
from .problems import Problem


@dataclass(frozen=True)
class DPSGDConfig:
    rounds: int = 100
    lr: float = 0.5
    C: float = 1.0
    sample_rate: float = 0.2   # q: expected batch q·n_p per client step
    epsilon: float = 1.0
    delta: float = 1e-5

    def validate(self) -> None:
        if self.rounds < 1:
            raise InputError(f"--rounds must be >= 1 (got {self.rounds})")
        if not 0.0 < self.sample_rate <= 1.0:
            raise InputError(f"sample_rate must be in (0, 1] (got {self.sample_rate})")
        if not self.C > 0 or not self.lr > 0:
            raise InputError(f"C and lr must be > 0 (got C={self.C}, lr={self.lr})")
        if not self.epsilon > 0:
            raise InputError(f"--epsilon must be > 0 (got {self.epsilon}); DP-SGD is private by definition")


class _PerSampleLoss(torch.nn.Module):
    """ℓ(x, z_i) for a batch, as one module holding the flat x: Opacus computes its per-sample gradients.

    The label rides in the last input column so the module has one batched input; the regularizer is part of
    every sample's loss (as in ``Problem.sample_loss``), so Opacus clips exactly the gradients DIFF2 clips.
    """

    def __init__(self, problem: Problem, x: torch.Tensor):
        super().__init__()
        self.problem = problem
        self.x = torch.nn.Parameter(x.clone())

    def forward(self, Z: torch.Tensor) -> torch.Tensor:
        X, y = Z[:, :-1], Z[:, -1].long()
        out = self.problem.logits(self.x, X)
        ce = torch.logsumexp(out, 1) - out.gather(1, y[:, None])[:, 0]
        reg = self.problem.lam * torch.sum(self.x * self.x / (1.0 + self.x * self.x))
        return ce + reg


@contextlib.contextmanager
def _quiet():
    """Silence advisory warnings that would print on every run and change no result: Opacus's "secure RNG
    off" (these are simulations), torch's "hook fires on outputs only" (the input needs no gradient) and the
    accountant's "optimal order is the largest alpha" (the bound is valid, only looser)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _opacus():
    try:
        import opacus
        from opacus.accountants.utils import get_noise_multiplier
    except ImportError:  # pragma: no cover - depends on the environment
        raise MissingDependencyError("opacus", "federated", "the DP-SGD baseline") from None
    return opacus, get_noise_multiplier


class _Client:
    """One client's Opacus state: its module, DP optimizer, Poisson loader and accountant."""

    def __init__(self, problem: Problem, p: int, x0: torch.Tensor, cfg: DPSGDConfig, z: float, seed: int):
        opacus, _ = _opacus()
        data = problem.clients[p]
        Z = torch.cat([data.X, data.y[:, None].to(data.X.dtype)], 1)
        n = Z.shape[0]
        batch = max(1, round(cfg.sample_rate * n))
        loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(Z), batch_size=batch)
        self.module = _PerSampleLoss(problem, x0)
        opt = torch.optim.SGD(self.module.parameters(), lr=cfg.lr)
        gen = torch.Generator().manual_seed(int(np.random.SeedSequence([seed, p, 51]).generate_state(1)[0]))
        with _quiet():
            self.engine = opacus.PrivacyEngine(accountant="rdp")
            self.module, self.opt, self.loader = self.engine.make_private(
                module=self.module, optimizer=opt, data_loader=loader, noise_multiplier=z,
                max_grad_norm=cfg.C, poisson_sampling=True, grad_sample_mode="functorch", noise_generator=gen)
        self.loader.batch_sampler.generator = gen  # Poisson draws from the same seeded stream as the noise
        self.sample_rate = self.loader.sample_rate

    def step(self, x: torch.Tensor) -> torch.Tensor:
        """One DP-SGD step from x on one Poisson batch; returns the new parameters."""
        with torch.no_grad():
            self.module._module.x.copy_(x)
        (Z,) = next(iter(self.loader))
        self.opt.zero_grad(set_to_none=True)
        if Z.shape[0]:
            with _quiet():
                self.module(Z).mean().backward()
        else:  # an empty Poisson batch still releases noise (and counts as a step for the accountant)
            self.module._module.x.grad_sample = torch.zeros((0,) + x.shape, dtype=x.dtype)
        self.opt.step()
        return self.module._module.x.detach().clone()


@dataclass
class DPSGDRun:
    x: torch.Tensor
    grad_norm_sq: list[float]
    z: float
    epsilon: float
    sample_rate: float
    test_accuracy: float


def run_dpsgd(problem: Problem, config: DPSGDConfig, seed: int, *, on_round=None) -> DPSGDRun:
    """Federated DP-SGD: R rounds of one Opacus step per client, server averaging; ε from Opacus's accountant."""
    config.validate()
    _, get_noise_multiplier = _opacus()
    n_min = min(len(c.y) for c in problem.clients)
    q = max(1, round(config.sample_rate * n_min)) / n_min
    with _quiet():
        z = get_noise_multiplier(target_epsilon=config.epsilon, target_delta=config.delta, sample_rate=q,
                                 steps=config.rounds, accountant="rdp", epsilon_tolerance=1e-3)
    x = problem.init(seed)
    clients = [_Client(problem, p, x, config, z, seed) for p in range(len(problem.clients))]
    gns = []
    for r in range(config.rounds):
        gf = problem.full_grad(x)
        gns.append(float(gf @ gf))
        x = torch.stack([c.step(x) for c in clients]).mean(0)
        if on_round is not None:
            on_round(r)
    gf = problem.full_grad(x)
    gns.append(float(gf @ gf))
    with _quiet():
        eps = max(c.engine.accountant.get_epsilon(config.delta) for c in clients)
    return DPSGDRun(x, gns, z, float(eps), max(c.sample_rate for c in clients), problem.test_accuracy(x))

"""Fit a torch regressor by Adam on MSE with a held-out split and early stopping (keeps the best weights)."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..errors import InputError


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclass(frozen=True)
class FitConfig:
    steps: int = 2000
    batch: int = 128
    lr: float = 2e-3
    weight_decay: float = 1e-4
    val_frac: float = 0.15
    check_every: int = 100
    patience: int = 6

    def __post_init__(self):
        if self.steps < 1 or self.batch < 1 or not self.lr > 0 or not 0 < self.val_frac < 1:
            raise InputError(f"fit config needs steps, batch, lr > 0 and 0 < val_frac < 1; got {self}")


def fit(model: nn.Module, X: np.ndarray, y: np.ndarray, config: FitConfig = FitConfig(), seed: int = 0,
        dev: torch.device | None = None) -> dict:
    """Train ``model`` in place on (X, y); returns {"steps", "best_val"}."""
    dev = dev or device()
    n = X.shape[0]
    if n != y.shape[0] or n < 4:
        raise InputError(f"need >= 4 rows with matching labels; got X {X.shape}, y {y.shape}")
    g = torch.Generator().manual_seed(int(np.random.SeedSequence([seed, 61]).generate_state(1)[0]))
    torch.manual_seed(int(np.random.SeedSequence([seed, 62]).generate_state(1)[0]))
    perm = torch.randperm(n, generator=g)
    nv = max(1, int(round(config.val_frac * n)))
    Xt, yt = torch.from_numpy(X)[perm].to(dev), torch.from_numpy(y)[perm].to(dev)
    Xv, yv, Xtr, ytr = Xt[:nv], yt[:nv], Xt[nv:], yt[nv:]
    model.to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, config.steps)
    best, best_state, bad, step = math.inf, None, 0, 0
    for step in range(1, config.steps + 1):
        model.train()
        idx = torch.randint(Xtr.shape[0], (min(config.batch, Xtr.shape[0]),), generator=g).to(dev)
        loss = ((model(Xtr[idx]) - ytr[idx]) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % config.check_every == 0 or step == config.steps:
            v = predict_mse(model, Xv, yv)
            if v < best - 1e-5:
                best, best_state, bad = v, copy.deepcopy(model.state_dict()), 0
            else:
                bad += 1
                if bad >= config.patience:
                    break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return {"steps": step, "best_val": best}


@torch.no_grad()
def predict(model: nn.Module, X, batch: int = 1024) -> np.ndarray:
    model.eval()
    dev = next(model.parameters()).device
    X = torch.as_tensor(X)
    return torch.cat([model(X[a:a + batch].to(dev)).cpu() for a in range(0, X.shape[0], batch)]).numpy()


def predict_mse(model: nn.Module, X, y) -> float:
    yp = predict(model, X)
    return float(np.mean((yp - np.asarray(torch.as_tensor(y).cpu())) ** 2))

"""diff2-utility: DIFF2 vs DP-GD at equal (ε, δ) on nonconvex federated problems (Murata & Suzuki, ICML 2023).

Setting: P clients; (a) multinomial logistic regression with the nonconvex regularizer λΣx²/(1+x²) on a
synthetic Gaussian mixture with n samples per client (n varies), (b) a tanh MLP on scikit-learn digits.
Both methods run R rounds of the GD subroutine with step η; DIFF2 sends a clipped full gradient (C1)
every T rounds and clipped gradient differences (C2) otherwise; noise multipliers are calibrated by
dp-accounting's RDP accountant to the same (ε, δ = 1e-5, replace-one). The DP-SGD baseline (Opacus: one
Poisson-sampled step per client per round, q = 0.2, clip C1) is calibrated by Opacus's accountant to the same
(ε, δ) under Opacus's add/remove-one adjacency, a weaker notion, so it is an optimistic baseline and the claim
is judged against DP-GD. Measured: final ‖∇f‖² and test accuracy.

Rerun:
    datadiet reproduce diff2-utility --seeds 3 --out results/diff2-utility
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .base import Verdict, pyplot, summarize

NAME = "diff2-utility"
CLAIM = ("At equal (ε, δ), DIFF2 reaches a smaller squared gradient norm ‖∇f‖² than DP-GD on nonconvex "
         "federated problems, and its advantage grows with the per-client sample size n.")


@dataclass(frozen=True)
class Config:
    clients: int = 10
    rounds: int = 30
    epsilons: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)
    ns: tuple[int, ...] = (100, 1000)      # per-client n for the synthetic logreg problem
    mlp: bool = True                       # also the MLP on digits (n fixed by the data)
    lr: float = 0.5
    period: int = 5                        # T
    C1: float = 1.0
    C2: float = 0.03
    delta: float = 1e-5
    dpsgd: bool = True                     # also the Opacus DP-SGD baseline
    dpsgd_sample_rate: float = 0.2


QUICK = Config(clients=3, rounds=8, epsilons=(1.0,), ns=(30, 120), mlp=False, period=4)


def _cases(config: Config):
    for n in config.ns:
        yield "logreg", "synthetic", n
    if config.mlp:
        yield "mlp", "digits", None


def run(config: Config, seed: int) -> dict:
    from ..federated.dp import DPConfig, run_diff2
    from ..federated.dpsgd import DPSGDConfig, run_dpsgd
    from ..federated.problems import make_problem

    out: dict = {}
    for prob_name, dataset, n in _cases(config):
        prob = make_problem(prob_name, dataset=dataset, n_clients=config.clients, n_per_client=n, seed=seed)
        tag = f"{prob_name}_n{n}" if n else prob_name
        for eps in config.epsilons:
            for method, T, c2 in (("diff2", config.period, config.C2), ("dpgd", 1, config.C1)):
                cfg = DPConfig(rounds=config.rounds, lr=config.lr, period=T, C1=config.C1, C2=c2, epsilon=eps,
                               delta=config.delta)
                r = run_diff2(prob, cfg, seed)
                out[f"{method}_{tag}_eps{eps}"] = {"grad_norm_sq": r.grad_norm_sq[-1],
                                                   "test_accuracy": r.test_accuracy, "epsilon": r.epsilon}
            if config.dpsgd:
                r = run_dpsgd(prob, DPSGDConfig(rounds=config.rounds, lr=config.lr, C=config.C1,
                                                sample_rate=config.dpsgd_sample_rate, epsilon=eps,
                                                delta=config.delta), seed)
                out[f"dpsgd_{tag}_eps{eps}"] = {"grad_norm_sq": r.grad_norm_sq[-1],
                                                "test_accuracy": r.test_accuracy, "epsilon": r.epsilon}
    return out


def check(config: Config, runs: list[dict], out_dir: Path) -> Verdict:
    metrics: dict[str, dict] = {}
    for key in runs[0]:
        for m in ("grad_norm_sq", "test_accuracy", "epsilon"):
            metrics[f"{key}_{m}"] = summarize([r[key][m] for r in runs])
    tags = [f"{p}_n{n}" if n else p for p, _, n in _cases(config)]
    wins, total, ratios = 0, 0, {}
    for tag in tags:
        for eps in config.epsilons:
            a = metrics[f"diff2_{tag}_eps{eps}_grad_norm_sq"]["mean"]
            b = metrics[f"dpgd_{tag}_eps{eps}_grad_norm_sq"]["mean"]
            wins += a < b
            total += 1
            ratios[f"{tag}_eps{eps}"] = b / a
    n_lo, n_hi = f"logreg_n{config.ns[0]}", f"logreg_n{config.ns[-1]}"
    grow = np.mean([ratios[f"{n_hi}_eps{e}"] for e in config.epsilons]) > np.mean(
        [ratios[f"{n_lo}_eps{e}"] for e in config.epsilons])
    held = wins == total and bool(grow)
    vs_dpsgd = sum(metrics[f"diff2_{t}_eps{e}_grad_norm_sq"]["mean"] < metrics[f"dpsgd_{t}_eps{e}_grad_norm_sq"]["mean"]
                   for t in tags for e in config.epsilons) if config.dpsgd else None
    rule = (f"mean ‖∇f‖²(DIFF2) < mean ‖∇f‖²(DP-GD) in every (problem, ε) [{wins}/{total}] and the mean ratio "
            f"DP-GD/DIFF2 at n={config.ns[-1]} > at n={config.ns[0]} [{bool(grow)}]")
    plt = pyplot()
    fig, axes = plt.subplots(1, len(tags), figsize=(4 * len(tags), 3.2), squeeze=False)
    for ax, tag in zip(axes[0], tags):
        for method in ("diff2", "dpgd") + (("dpsgd",) if config.dpsgd else ()):
            ys = [metrics[f"{method}_{tag}_eps{e}_grad_norm_sq"]["mean"] for e in config.epsilons]
            ax.plot(config.epsilons, ys, "o-", label=method)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(tag)
        ax.set_xlabel("ε")
        ax.set_ylabel("final ‖∇f‖²")
        ax.legend()
    fig.tight_layout()
    fig.savefig(Path(out_dir) / "federated_diff2_utility.png", dpi=80)
    plt.close(fig)
    return Verdict(held, rule, metrics, ["federated_diff2_utility.png"],
                   {"ratio_dpgd_over_diff2": ratios, "diff2_below_dpsgd_cells": vs_dpsgd, "cells": total})

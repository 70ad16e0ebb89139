"""reuse-staircase: z1 + z1·z2 is learned with or without reuse; fresh batches learn z1 faster.

A staircase target (Abbe et al. 2022) has a direction with information exponent 1 (z1) that, once
learned, opens the next (z2 enters through z1·z2). Both arms can climb it in O(1) steps with n = O(d):
reuse is not needed when the information exponent is already 1. Fresh batches bring fresh signal at
every step, so one-pass GD aligns with the easy direction faster; the reused batch overfits it
(Dandi et al. 2024, the staircase discussion). Student: p = 4 ReLU neurons, a_j = ±1/2 fixed (ReLU:
tanh's even σ' would make the z2 drift vanish without biases), η = 1, n = 4d.

Claim checks (pooled over simulations):
  * both arms learn the target: at the last step |cos| with z1 ≥ 0.4, overlap with the z2 direction
    (the part of w in the target subspace ⊥ z1) ≥ 0.3, and test error ≤ half its initial value;
  * one-pass is faster on the easy direction: at step ``early`` its |cos| with z1 exceeds multi-pass's
    by more than 3 combined s.e.

Rerun:
    datadiet reproduce reuse-staircase --seeds 1 --out results/reuse-staircase
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..reuse.simulate import SimConfig
from ._reuse_common import pooled, run_arm
from .base import Verdict, pyplot, summarize

NAME = "reuse-staircase"
CLAIM = ("A staircase target z1 + z1*z2 is learned by both multi-pass and one-pass GD with n = 4d; one-pass "
         "learns the easy direction z1 faster (arXiv 2402.03220).")
PAPER_RESULT = 'Staircase targets (z1 + z1·z2) are learned with n = O(d) samples by one-pass GD, and reusing the batch learns them too'
KEY_METRICS = ['z1_final_multi_d800', 'z2_final_multi_d800', 'z1_final_one_d800', 'z2_final_one_d800']
BUDGET_SECONDS = 65  # measured in `datadiet reproduce all` on 2026-12-02 (2 cores, quiet machine)
ARMS = ("multi", "one")


@dataclass(frozen=True)
class Config:
    """Defaults: d = 200 and 800, 40 steps, 16 simulations per seed (~1 min on 2 cores)."""

    ds: tuple[int, ...] = (200, 800)
    alpha: float = 4.0
    eta: float = 1.0
    steps: int = 40
    record_every: int = 5
    early: int = 5  # the step at which the easy direction is compared
    width: int = 4
    student: str = "relu"
    sims: int = 16


QUICK = Config(ds=(200,), steps=20, sims=8)


def run(config: Config, seed: int) -> dict:
    base = SimConfig(target="staircase", alpha=config.alpha, eta=config.eta, steps=config.steps,
                     record_every=config.record_every, width=config.width, student=config.student,
                     second_layer="signs")
    return {str(d): {arm: run_arm(replace(base, d=d, passes=arm), seed, config.sims) for arm in ARMS}
            for d in config.ds}


def check(config: Config, runs: list[dict], out_dir: Path) -> Verdict:
    metrics, failures = {}, []
    steps = runs[0][str(config.ds[0])]["multi"]["steps"]
    early = steps.index(config.early)
    for d in config.ds:
        for arm in ARMS:
            absval = pooled(runs, (str(d), arm), "abs")
            orth = pooled(runs, (str(d), arm), "orth")
            err = pooled(runs, (str(d), arm), "test_error")
            metrics[f"z1_final_{arm}_d{d}"] = summarize(absval[:, -1])
            metrics[f"z2_final_{arm}_d{d}"] = summarize(orth[:, -1])
            metrics[f"z1_early_{arm}_d{d}"] = summarize(absval[:, early])
            metrics[f"test_error_final_{arm}_d{d}"] = summarize(err[:, -1])
            metrics[f"test_error_init_{arm}_d{d}"] = summarize(err[:, 0])
            if metrics[f"z1_final_{arm}_d{d}"]["mean"] < 0.4 or metrics[f"z2_final_{arm}_d{d}"]["mean"] < 0.3:
                failures.append(f"{arm} d={d} did not learn both directions")
            if metrics[f"test_error_final_{arm}_d{d}"]["mean"] > 0.5 * metrics[f"test_error_init_{arm}_d{d}"]["mean"]:
                failures.append(f"{arm} d={d}: test error not halved")
        one, multi = metrics[f"z1_early_one_d{d}"], metrics[f"z1_early_multi_d{d}"]
        if not one["mean"] - multi["mean"] > 3 * math.hypot(one["sem"], multi["sem"]):
            failures.append(f"d={d}: one-pass not faster on z1 at step {config.early}")
    figure = _plot(config, runs, steps, out_dir)
    rule = (f"both arms at every d: final |cos z1| >= 0.4, z2-overlap >= 0.3, test error <= half of initial; "
            f"at step {config.early} one-pass |cos z1| > multi-pass by > 3 combined s.e.")
    return Verdict(held=not failures, rule=rule, metrics=metrics, figures=[figure], details={"failures": failures})


def _plot(config: Config, runs, steps, out_dir: Path) -> str:
    plt = pyplot()
    d = max(config.ds)
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
    for arm, color in (("multi", "C0"), ("one", "C1")):
        for ax, kind in zip(axes, ("abs", "orth", "test_error")):
            v = pooled(runs, (str(d), arm), kind)
            ax.errorbar(steps, v.mean(0), yerr=v.std(0, ddof=1) / np.sqrt(len(v)), marker="o", ms=3,
                        color=color, label=f"{arm}-pass")
    for ax, label in zip(axes, ("|cos(w, z1)|", "overlap with z2 (⊥ z1)", "test error")):
        ax.set_xlabel("step")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"staircase z1 + z1·z2, {config.width} ReLU neurons, d = {d}, n = {config.alpha:g}d", fontsize=10)
    fig.tight_layout()
    name = "reuse_staircase.png"
    fig.savefig(Path(out_dir) / name, dpi=110)
    plt.close(fig)
    return name

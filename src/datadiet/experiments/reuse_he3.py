"""reuse-he3: two GD steps on a reused batch learn He_3; fresh batches do not (arXiv 2402.03220).

Setting (Dandi et al. 2024, their Fig. 1 regime): target y = He_3(z)/√6 with z = w*·x, x ~ N(0, I_d);
student tanh(w·x), one neuron, a = 1 fixed, w uniform on the unit sphere; full-batch GD on the mean
squared loss with η = 2 on n = 4d samples. Multi-pass reuses the batch at every step, one-pass draws a
fresh one. He_3 has information exponent 3, so one-pass GD with n = O(d) cannot leave the 1/√d noise
floor; with reuse the first step writes each sample's label into its own pre-activation and the second
gradient, a nonlinear function of y, correlates with w* (generative exponent 1).

Claim checks (simulations pooled over seeds; the rule string states the margins):
  * step 2, multi-pass: signed overlap in [−0.30, −0.10] at every d and 4 s.e. from 0;
  * flat in d: the step-2 multi-pass overlaps differ across d by at most 0.06;
  * step 2, one-pass: |mean signed| within 3 s.e. + 0.03 of 0 at every d, and its |cos| falls with d:
    fitted slope of log|cos| on log d in [−0.75, −0.25] (noise floor ∝ 1/√d);
  * step 1: both arms within 3 s.e. + 0.03 of 0 at every d (both at noise level).

Rerun:
    datadiet reproduce reuse-he3 --seeds 1 --out results/reuse-he3
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..reuse.simulate import SimConfig
from ._reuse_common import pooled, run_arm
from .base import Verdict, pyplot, summarize

NAME = "reuse-he3"
CLAIM = ("Reusing a batch (multi-pass GD) learns a He_3 single-index target in two steps with n = 4d samples "
         "(overlap about -0.2, flat in d), while one-pass GD stays at the 1/sqrt(d) noise floor (arXiv 2402.03220).")
PAPER_RESULT = 'With n = O(d) samples, two GD steps on the same batch learn a He_3 single-index direction (overlap of order one), which one-pass GD with fresh batches of that size cannot (information exponent 3)'
KEY_METRICS = ['signed_step2_multi_d1600', 'abs_step2_one_d1600', 'multi_step2_spread_over_d', 'one_pass_abs_slope_log_d']
BUDGET_SECONDS = 90  # measured in `datadiet reproduce all` on 2026-12-02 (2 cores, quiet machine)
ARMS = ("multi", "one")


@dataclass(frozen=True)
class Config:
    """Defaults: the paper's regime, d up to 1600, 40 simulations per seed (~1 min on 2 cores)."""

    ds: tuple[int, ...] = (100, 200, 400, 800, 1600)
    alpha: float = 4.0
    eta: float = 2.0
    steps: int = 3
    student: str = "tanh"
    target: str = "he3"
    sims: int = 40  # simulations per experiment seed (vectorized)


QUICK = Config(ds=(100, 400), steps=2, sims=24)


def run(config: Config, seed: int) -> dict:
    base = SimConfig(target=config.target, alpha=config.alpha, eta=config.eta, steps=config.steps,
                     student=config.student)
    return {str(d): {arm: run_arm(replace(base, d=d, passes=arm), seed, config.sims) for arm in ARMS}
            for d in config.ds}


def check(config: Config, runs: list[dict], out_dir: Path) -> Verdict:
    metrics, failures = {}, []
    step2_multi = []
    for d in config.ds:
        for arm in ARMS:
            signed = pooled(runs, (str(d), arm), "signed")
            absval = pooled(runs, (str(d), arm), "abs")
            for step in (1, 2):
                metrics[f"signed_step{step}_{arm}_d{d}"] = summarize(signed[:, step])
            metrics[f"abs_step2_{arm}_d{d}"] = summarize(absval[:, 2])
            for step in (1,) if arm == "multi" else (1, 2):
                m = metrics[f"signed_step{step}_{arm}_d{d}"]
                if abs(m["mean"]) > 3 * m["sem"] + 0.03:
                    failures.append(f"{arm} step {step} d={d} not at noise level ({m['mean']:+.3f})")
        m = metrics[f"signed_step2_multi_d{d}"]
        step2_multi.append(m["mean"])
        if not (-0.30 <= m["mean"] <= -0.10 and abs(m["mean"]) > 4 * m["sem"]):
            failures.append(f"multi step 2 d={d}: {m['mean']:+.3f} ± {m['sem']:.3f} outside [-0.30, -0.10]")
    spread = max(step2_multi) - min(step2_multi)
    if spread > 0.06:
        failures.append(f"multi step 2 not flat in d (spread {spread:.3f})")
    one_abs = [metrics[f"abs_step2_one_d{d}"]["mean"] for d in config.ds]
    slope = float(np.polyfit(np.log(config.ds), np.log(one_abs), 1)[0])
    if not -0.75 <= slope <= -0.25:
        failures.append(f"one-pass |cos| slope in log d = {slope:.2f}, not about -1/2")
    metrics["multi_step2_spread_over_d"] = {"mean": spread, "sem": 0.0, "n": len(config.ds)}
    metrics["one_pass_abs_slope_log_d"] = {"mean": slope, "sem": 0.0, "n": len(config.ds)}
    figure = _plot(config, metrics, out_dir)
    rule = ("step-2 multi-pass signed overlap in [-0.30, -0.10] and > 4 s.e. from 0 at every d; spread over d "
            "<= 0.06; one-pass step 2 and both arms at step 1 within 3 s.e. + 0.03 of 0; one-pass |cos| "
            "slope in log d within [-0.75, -0.25]")
    return Verdict(held=not failures, rule=rule, metrics=metrics, figures=[figure],
                   details={"failures": failures})


def _plot(config: Config, metrics: dict, out_dir: Path) -> str:
    plt = pyplot()
    ds = np.array(config.ds, dtype=float)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for arm, color in (("multi", "C0"), ("one", "C1")):
        s = [metrics[f"signed_step2_{arm}_d{d}"] for d in config.ds]
        a = [metrics[f"abs_step2_{arm}_d{d}"] for d in config.ds]
        label = "multi-pass (reused batch)" if arm == "multi" else "one-pass (fresh batches)"
        axes[0].errorbar(ds, [x["mean"] for x in s], yerr=[x["sem"] for x in s], marker="o", color=color, label=label)
        axes[1].errorbar(ds, [x["mean"] for x in a], yerr=[x["sem"] for x in a], marker="o", color=color, label=label)
    axes[1].plot(ds, 1.5 / np.sqrt(ds), "k--", lw=0.8, label="1.5/√d")
    axes[0].axhline(0, color="0.6", lw=0.8)
    axes[0].set_ylabel("signed cos(w, w*) after step 2")
    axes[1].set_ylabel("|cos(w, w*)| after step 2")
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlabel("d")
        ax.grid(alpha=0.3)
    axes[1].set_yscale("log")
    axes[1].legend(fontsize=8)
    fig.suptitle(f"He3 target, tanh student, n = {config.alpha:g}d, η = {config.eta:g}", fontsize=10)
    fig.tight_layout()
    name = "reuse_he3_overlap_vs_d.png"
    fig.savefig(Path(out_dir) / name, dpi=110)
    plt.close(fig)
    return name

"""reuse-symmetric: reusing a batch does not help when the target is symmetric (arXiv 2402.03220).

Same setting as reuse-he3 (tanh student, one neuron, n = 4d, η = 2, three GD steps) on targets whose
label carries no first-order information about the direction: even He_2 and He_4 (y(−z) = y(z)), and
z1·z2·z3 (sign flips of two coordinates leave y unchanged). For these E[T(y) z] = 0 for every label
transform T (generative exponent 2), so the label written into a sample's pre-activation by the first
step cannot bias the second gradient toward w*: both arms stay at the noise level.

Claim checks, for every symmetric target, both arms, at the final step:
  * the overlap is at noise level: |cos| ≤ 3/√d at the largest d, and it falls with d
    (|cos|(d_max) / |cos|(d_min) ≤ 1.5·√(d_min/d_max));
  * control: He_3 multi-pass at the same sizes ends with |cos| ≥ 0.1 at every d.
The target library's exponents are reported too (He_2, He_4, z1z2z3: generative exponent 2).

Rerun:
    datadiet reproduce reuse-symmetric --seeds 1 --out results/reuse-symmetric
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..reuse.simulate import SimConfig
from ..reuse.targets import get_target
from ._reuse_common import pooled, run_arm
from .base import Verdict, pyplot, summarize

NAME = "reuse-symmetric"
CLAIM = ("For symmetric targets (He_2, He_4, z1*z2*z3) reusing the batch does not help: multi-pass and one-pass "
         "GD both stay at the 1/sqrt(d) noise level, unlike He_3 (arXiv 2402.03220).")
PAPER_RESULT = "Reusing the batch helps through the label's non-linear dependence; targets that are even along their direction (He_2, He_4) or z1·z2·z3 keep overlaps at the O(1/sqrt(d)) noise level within O(1) steps at n = O(d)"
KEY_METRICS = ['abs_final_he2_multi_d1600', 'abs_final_he4_multi_d1600', 'abs_final_z1z2z3_multi_d1600', 'abs_final_he3_multi_d1600']
BUDGET_SECONDS = 233  # measured in `datadiet reproduce all` on 2026-12-02 (2 cores, quiet machine)
ARMS = ("multi", "one")


@dataclass(frozen=True)
class Config:
    """Defaults: three symmetric targets and the He_3 control at d = 200 and 1600 (~3 min on 2 cores)."""

    targets: tuple[str, ...] = ("he2", "he4", "z1z2z3")
    control: str = "he3"
    ds: tuple[int, ...] = (200, 1600)
    alpha: float = 4.0
    eta: float = 2.0
    steps: int = 3
    student: str = "tanh"
    sims: int = 40  # 24 is too few to see the 1/√d fall between d = 200 and 800 reliably


QUICK = Config(targets=("he2", "z1z2z3"), ds=(100, 400), steps=2, sims=16)


def run(config: Config, seed: int) -> dict:
    out = {}
    for target in (*config.targets, config.control):
        base = SimConfig(target=target, alpha=config.alpha, eta=config.eta, steps=config.steps,
                         student=config.student)
        arms = ARMS if target != config.control else ("multi",)
        out[target] = {str(d): {arm: run_arm(replace(base, d=d, passes=arm), seed, config.sims) for arm in arms}
                       for d in config.ds}
    return out


def check(config: Config, runs: list[dict], out_dir: Path) -> Verdict:
    metrics, failures, exponents = {}, [], {}
    d_min, d_max = min(config.ds), max(config.ds)
    for target in config.targets:
        t = get_target(target)
        exponents[target] = {"information_exponent": t.information_exponent,
                             "generative_exponent": t.generative_exponent, "parity": t.parity}
        for arm in ARMS:
            finals = {}
            for d in config.ds:
                absval = pooled(runs, (target, str(d), arm), "abs")[:, -1]
                metrics[f"abs_final_{target}_{arm}_d{d}"] = summarize(absval)
                finals[d] = metrics[f"abs_final_{target}_{arm}_d{d}"]["mean"]
            if finals[d_max] > 3 / math.sqrt(d_max):
                failures.append(f"{target} {arm}: |cos| {finals[d_max]:.3f} > 3/sqrt({d_max})")
            if finals[d_max] / finals[d_min] > 1.5 * math.sqrt(d_min / d_max):
                failures.append(f"{target} {arm}: |cos| does not fall like 1/sqrt(d)")
    for d in config.ds:
        absval = pooled(runs, (config.control, str(d), "multi"), "abs")[:, -1]
        metrics[f"abs_final_{config.control}_multi_d{d}"] = summarize(absval)
        if metrics[f"abs_final_{config.control}_multi_d{d}"]["mean"] < 0.1:
            failures.append(f"control {config.control} multi-pass did not learn at d={d}")
    figure = _plot(config, metrics, out_dir)
    rule = ("for each symmetric target and arm, final |cos| <= 3/sqrt(d_max) and |cos|(d_max)/|cos|(d_min) <= "
            "1.5 sqrt(d_min/d_max); control He_3 multi-pass |cos| >= 0.1 at every d")
    return Verdict(held=not failures, rule=rule, metrics=metrics, figures=[figure],
                   details={"failures": failures, "exponents": exponents})


def _plot(config: Config, metrics: dict, out_dir: Path) -> str:
    plt = pyplot()
    ds = np.array(config.ds, dtype=float)
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for i, target in enumerate(config.targets):
        for arm, style in (("multi", "-"), ("one", ":")):
            m = [metrics[f"abs_final_{target}_{arm}_d{d}"] for d in config.ds]
            ax.errorbar(ds, [x["mean"] for x in m], yerr=[x["sem"] for x in m], marker="o", ls=style,
                        color=f"C{i}", label=f"{target} {arm}-pass")
    m = [metrics[f"abs_final_{config.control}_multi_d{d}"] for d in config.ds]
    ax.errorbar(ds, [x["mean"] for x in m], yerr=[x["sem"] for x in m], marker="s", color="k",
                label=f"{config.control} multi-pass (control)")
    ax.plot(ds, 1 / np.sqrt(ds), "k--", lw=0.8, label="1/√d")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("d")
    ax.set_ylabel(f"|cos(w, w*₁)| after step {config.steps}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    name = "reuse_symmetric.png"
    fig.savefig(Path(out_dir) / name, dpi=110)
    plt.close(fig)
    return name

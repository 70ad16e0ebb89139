"""reuse-dmft: the DMFT (d → ∞) overlaps agree with finite-d simulation (arXiv 2402.03220).

datadiet.reuse.solve_dmft integrates the dynamical mean-field equations of GD on n = α·d samples
(memory kernel, response, the σ'' Hessian term) by Monte Carlo over effective sample paths; the
simulator runs the actual d-dimensional GD over many seeds. Settings:
  he3-multi    He_3/√6, tanh, one neuron, α = 4, η = 2, multi-pass (the reuse effect);
  he3-one      the same, one-pass (DMFT: no memory, overlap stays 0);
  relu-p2      tanh(z1 + He_3(z2)/√6), two ReLU neurons with a = ±1/√2, α = 3, η = 0.6, multi-pass
               (a multi-index target, a non-smooth student, two directions).

Claim check: at every step and direction, |DMFT − simulation| of the signed overlap is within
3 combined standard errors (seeds for the simulation, Monte Carlo repeats for DMFT) + 0.01.

Rerun:
    datadiet reproduce reuse-dmft --seeds 1 --out results/reuse-dmft
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..reuse.dmft import solve_dmft
from ..reuse.simulate import SimConfig, simulate
from ._reuse_common import sim_seeds
from .base import Verdict, pyplot

NAME = "reuse-dmft"
CLAIM = ("The dynamical mean-field theory of multi-pass and one-pass GD predicts the overlaps of the finite-d "
         "simulation within error bars (arXiv 2402.03220).")

SETTINGS = {
    "he3-multi": dict(target="he3", student="tanh", width=1, alpha=4.0, eta=2.0, steps=4, passes="multi",
                      second_layer="ones"),
    "he3-one": dict(target="he3", student="tanh", width=1, alpha=4.0, eta=2.0, steps=4, passes="one",
                    second_layer="ones"),
    "relu-p2": dict(target="tanh:he1+he3", student="relu", width=2, alpha=3.0, eta=0.6, steps=6, passes="multi",
                    second_layer="signs"),
}


@dataclass(frozen=True)
class Config:
    """Defaults: d = 1600, 40 simulations, DMFT with 4 × 200k paths per setting (~1.5 min on 2 cores)."""

    settings: tuple[str, ...] = ("he3-multi", "he3-one", "relu-p2")
    d: int = 1600
    sims: int = 40
    paths: int = 200_000
    repeats: int = 4
    margin: float = 0.01  # finite-d allowance on top of 3 combined standard errors


QUICK = Config(settings=("he3-multi", "relu-p2"), d=400, sims=24, paths=50_000, repeats=3, margin=0.02)


def run(config: Config, seed: int) -> dict:
    out = {}
    for name in config.settings:
        s = SETTINGS[name]
        sim = simulate(SimConfig(d=config.d, **s), sim_seeds(seed, config.sims))
        dm = solve_dmft(s["target"], student=s["student"], alpha=s["alpha"], eta=s["eta"], steps=s["steps"],
                        passes=s["passes"], width=s["width"], second_layer=s["second_layer"],
                        paths=config.paths, repeats=config.repeats, seed=seed)
        k = sim.target.k
        out[name] = {
            "sim": {"signed": [sim.per_seed(r, "signed").tolist() for r in range(k)],
                    "test_error": sim.test_error.tolist()},
            "dmft": {"table": dm.table(), "test_error": dm.test_error.tolist()},
        }
    return out


def check(config: Config, runs: list[dict], out_dir: Path) -> Verdict:
    metrics, failures, curves = {}, [], {}
    for name in config.settings:
        k = len(runs[0][name]["sim"]["signed"])
        for r in range(k):
            suffix = "" if r == 0 else f"_{r + 1}"
            sims = np.concatenate([np.asarray(run[name]["sim"]["signed"][r]) for run in runs])  # (S, T+1)
            sim_mean = sims.mean(0)
            sim_sem = sims.std(0, ddof=1) / math.sqrt(len(sims))
            dm = np.array([[row[f"signed_mean{suffix}"] for row in run[name]["dmft"]["table"]] for run in runs])
            dm_sem = np.array([[row[f"signed_sem{suffix}"] for row in run[name]["dmft"]["table"]] for run in runs])
            dm_mean = dm.mean(0)
            dm_err = np.sqrt((dm_sem**2).sum(0)) / len(runs)
            gap = np.abs(dm_mean - sim_mean)
            tol = 3 * np.hypot(sim_sem, dm_err) + config.margin
            curves[f"{name}{suffix}"] = {"sim": sim_mean.tolist(), "sim_sem": sim_sem.tolist(),
                                         "dmft": dm_mean.tolist(), "dmft_sem": dm_err.tolist()}
            for t in range(1, len(gap)):
                metrics[f"gap_{name}{suffix}_step{t}"] = {"mean": float(gap[t]), "sem": float(tol[t] / 3), "n": len(sims)}
                if gap[t] > tol[t]:
                    failures.append(f"{name} direction {r + 1} step {t}: DMFT {dm_mean[t]:+.3f} vs simulation "
                                    f"{sim_mean[t]:+.3f} (tolerance {tol[t]:.3f})")
            metrics[f"dmft_{name}{suffix}_final"] = {"mean": float(dm_mean[-1]), "sem": float(dm_err[-1]), "n": len(runs)}
            metrics[f"sim_{name}{suffix}_final"] = {"mean": float(sim_mean[-1]), "sem": float(sim_sem[-1]),
                                                    "n": len(sims)}
    figure = _plot(curves, out_dir, config.d)
    rule = (f"|DMFT - simulation(d={config.d})| of the signed overlap <= 3 combined s.e. + {config.margin} at every "
            "step and direction of every setting")
    return Verdict(held=not failures, rule=rule, metrics=metrics, figures=[figure],
                   details={"failures": failures, "curves": curves})


def _plot(curves: dict, out_dir: Path, d: int) -> str:
    plt = pyplot()
    fig, axes = plt.subplots(1, len(curves), figsize=(3.3 * len(curves), 3.2), squeeze=False)
    for ax, (name, c) in zip(axes[0], curves.items()):
        steps = np.arange(len(c["sim"]))
        ax.errorbar(steps, c["sim"], yerr=c["sim_sem"], marker="o", ms=3, capsize=2, label=f"simulation d={d}")
        ax.errorbar(steps, c["dmft"], yerr=c["dmft_sem"], marker="x", ls="--", capsize=2, label="DMFT (d → ∞)")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("signed cos(w, w*)")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    name = "reuse_dmft_vs_simulation.png"
    fig.savefig(Path(out_dir) / name, dpi=110)
    plt.close(fig)
    return name

"""mfld-parity-sample-complexity: MFLD learns a 2-sparse parity from n ≈ C·d samples; kernels need ≈ d².

Suzuki, Wu, Oko, Nitanda ("Feature learning via mean-field Langevin dynamics: classifying sparse parities and
beyond", NeurIPS 2023): MFLD on the two-layer tanh network classifies the k-sparse parity on {±1/√d}^d with
n = O(d) samples, while any kernel method (the NTK included) needs n ≳ d^k. One cell per (d, n) of the grid:
MFLD (M particles, η, λ = lam_scale/d, steps = steps_per_d·d) and the best kernel method (kernel ridge / SVM,
RBF and degree-k polynomial kernels, NTK ridge; hyperparameters picked on the test set, optimistic for kernels).

Rerun:
    datadiet reproduce mfld-parity-sample-complexity --seeds 3 --out results/mfld-parity-sample-complexity
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from .base import Verdict, pyplot, summarize

NAME = "mfld-parity-sample-complexity"
CLAIM = ("MFLD classifies a 2-sparse parity on {±1/√d}^d from n = 10·d samples (accuracy ≥ 0.95), while the best "
         "kernel method's accuracy at n = 10·d falls as d grows (Suzuki, Wu, Oko, Nitanda, NeurIPS 2023).")


@dataclass(frozen=True)
class Config:
    """Defaults: a CPU-sized grid (3 seeds: about 3.5 min on 2 cores, measured). The paper uses M = 2000 and 5 trials."""

    k: int = 2
    ds: tuple[int, ...] = (10, 20, 40, 80)
    ns: tuple[int, ...] = (50, 100, 200, 400, 800)
    ratio: int = 10  # the claim's n = ratio · d; each ratio·d must be in ns
    particles: int = 300  # M
    steps_per_d: int = 20  # MFLD steps = steps_per_d · d (steps must grow with d)
    eta: float = 1.0
    lam_scale: float = 0.1  # λ = lam_scale / d
    n_test: int = 1000
    min_accuracy: float = 0.95
    margin: float = 0.05  # kernel(d_min) − kernel(d_max) must exceed margin + 2 sem

    def __post_init__(self):
        if not self.ds or not self.ns or len(self.ds) < 2:
            raise InputError(f"need at least two ds and one n; got ds={self.ds}, ns={self.ns}")
        missing = [self.ratio * d for d in self.ds if self.ratio * d not in self.ns]
        if missing:
            raise InputError(f"ns={self.ns} must contain ratio*d for every d in ds; missing {missing}")
        if min(self.ds) < self.k or self.particles < 1 or self.steps_per_d < 1 or self.n_test < 10:
            raise InputError("need ds >= k, particles >= 1, steps_per_d >= 1, n_test >= 10")


QUICK = Config(ds=(10, 40), ns=(100, 400), particles=150, steps_per_d=20, n_test=500)


def run(config: Config, seed: int) -> dict:
    """One seed: MFLD and kernel test accuracies at every (d, n) of the grid."""
    from ..mfld.baselines import KERNELS
    from ..mfld.harness import compare_on_parity

    cells = []
    for d in config.ds:
        for n in config.ns:
            acc = compare_on_parity(d, config.k, n, particles=config.particles, steps=config.steps_per_d * d,
                                    eta=config.eta, lam=config.lam_scale / d, seed=seed, n_test=config.n_test,
                                    baselines=KERNELS)
            cells.append({"d": d, "n": n, **acc})
    return {"cells": cells}


RULE = ("At n = ratio·d: held iff for every d the mean MFLD test accuracy >= min_accuracy, AND the best-kernel "
        "accuracy at the largest d is below that at the smallest d by more than margin + 2 sem (sem of the "
        "difference over seeds), AND MFLD beats the best kernel at the largest d.")


def check(config: Config, runs: list[dict], out_dir) -> Verdict:
    out = Path(out_dir)
    grid: dict[tuple[int, int], list[dict]] = {}
    for r in runs:
        for c in r["cells"]:
            grid.setdefault((c["d"], c["n"]), []).append(c)
    metrics: dict[str, dict] = {}
    for (d, n), cs in sorted(grid.items()):
        metrics[f"mfld_accuracy_d{d}_n{n}"] = summarize([c["mfld"] for c in cs])
        metrics[f"kernel_accuracy_d{d}_n{n}"] = summarize([c["kernel"] for c in cs])
    dmin, dmax = min(config.ds), max(config.ds)
    mfld_ok = {d: metrics[f"mfld_accuracy_d{d}_n{config.ratio * d}"]["mean"] >= config.min_accuracy
               for d in config.ds}
    lo = [c["kernel"] for c in grid[(dmin, config.ratio * dmin)]]
    hi = [c["kernel"] for c in grid[(dmax, config.ratio * dmax)]]
    drop = summarize([a - b for a, b in zip(lo, hi)])
    kernel_falls = drop["mean"] > config.margin + 2 * drop["sem"]
    beats = metrics[f"mfld_accuracy_d{dmax}_n{config.ratio * dmax}"]["mean"] > \
        metrics[f"kernel_accuracy_d{dmax}_n{config.ratio * dmax}"]["mean"]
    metrics["kernel_drop_at_ratio"] = drop
    held = all(mfld_ok.values()) and kernel_falls and beats
    figures = [_heatmap(config, metrics, out, len(runs))]
    return Verdict(held=held, rule=RULE, metrics=metrics, figures=figures,
                   details={"mfld_ok_at_ratio": {str(d): v for d, v in mfld_ok.items()},
                            "kernel_falls": kernel_falls, "mfld_beats_kernel_at_dmax": beats,
                            "per_kernel": _per_kernel(grid)})


def _per_kernel(grid) -> dict:
    from ..mfld.baselines import KERNELS

    return {f"d{d}_n{n}": {kname: float(np.mean([c[kname] for c in cs])) for kname in KERNELS}
            for (d, n), cs in sorted(grid.items())}


def _heatmap(config: Config, metrics: dict, out: Path, seeds: int) -> str:
    plt = pyplot()
    ds, ns = sorted(config.ds), sorted(config.ns)
    ld, ln = np.log2(ds), np.log2(ns)

    def edges(v):
        mid = (v[1:] + v[:-1]) / 2 if len(v) > 1 else np.array([])
        step = (v[1] - v[0]) if len(v) > 1 else 1.0
        return np.concatenate(([v[0] - step / 2], mid, [v[-1] + step / 2]))

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharey=True)
    for ax, key, title in ((axes[0], "mfld", "MFLD"), (axes[1], "kernel", "best kernel (oracle hyperparameters)")):
        A = np.array([[metrics[f"{key}_accuracy_d{d}_n{n}"]["mean"] for d in ds] for n in ns])
        mesh = ax.pcolormesh(edges(ld), edges(ln), A, vmin=0.5, vmax=1.0, cmap="viridis", shading="flat")
        for i, n in enumerate(ns):
            for j, d in enumerate(ds):
                ax.text(ld[j], ln[i], f"{A[i, j]:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if A[i, j] < 0.8 else "black")
        xs = np.linspace(edges(ld)[0], edges(ld)[-1], 50)
        ax.plot(xs, xs + math.log2(config.ratio), "w--", lw=1.5, label=f"n = {config.ratio}·d")
        ax.plot(xs, 2 * xs - 1, "r:", lw=1.5, label="n = d²/2")
        ax.set_ylim(edges(ln)[0], edges(ln)[-1])
        ax.set_xticks(ld, [str(d) for d in ds])
        ax.set_yticks(ln, [str(n) for n in ns])
        ax.set_xlabel("d")
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=7, loc="upper left")
    axes[0].set_ylabel("n (training samples)")
    fig.colorbar(mesh, ax=axes, label="test accuracy")
    fig.suptitle(f"{config.k}-sparse parity, mean over {seeds} seed(s); M={config.particles}", fontsize=10)
    name = "accuracy_heatmap.png"
    fig.savefig(out / name, dpi=100)
    plt.close(fig)
    return name

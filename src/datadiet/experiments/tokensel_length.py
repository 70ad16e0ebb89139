"""tokensel-length: a transformer's test error barely depends on the sequence length L; flat models' grows with L.

Paper: Takakura & Suzuki, "Approximation and Estimation Ability of Transformers for Sequence-to-Sequence Functions
with Infinite Dimensional Input" (ICML 2023). Claim (a theorem; the paper reports no experiment): when the target
depends on a few *input-dependent* important tokens (and on features of decaying importance), a transformer's
estimation rate does not depend on the input dimension, because attention selects the tokens; a model that sees
the flattened input pays for its dimension.

Our setting: ``TokenTask`` with D = 2 (feature 0 selects, feature 1 carries the signal), omega = 1, gap = 1,
noise std 0.1: y = f(x_{j*}) + noise, j* = argmax_i x_{i,0}, Var(y) ~ 1.01. At L = 2 the task is easy for a flat
model too (the flat baselines reach <= 0.2 Var(y)), so the experiment shows the flat baselines *degrade* as L grows
from 2 to 128 while the transformer does not. Models: an attention-pooling transformer (token-wise FFN, a learned
multi-head query, MLP readout, no self-attention layers), an MLP on the flattened L*D vector, RBF kernel ridge on
the flattened vector (alpha picked on a held-out split). Test MSE on 2000 fresh sequences; the pooling attention's
mass on j* measures token selection.

How it differs from the paper: the theory is about infinite-dimensional inputs and outputs (sequence to sequence,
anisotropic smoothness, a rate in n); we test its finite-L consequence (error vs L at fixed n) on a single-output
task with one selected token, with a small CPU-sized transformer at n = 2048; the paper's features of decaying
importance (D > 2) are available in ``TokenTask`` but the default uses one signal feature, where the flat models
can learn the short sequences (the issue that rebuilt this experiment measured MLP / kernel ridge MSE 0.54 / 0.66
already at L = 4 with D = 8, so there they could not be seen to degrade with L).

Rerun:
    datadiet tokensel run --seeds 3 --out results/tokensel-length
    datadiet reproduce run tokensel-length --seeds 3
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ._threads import one_blas_thread
from .base import Verdict, pyplot, summarize

NAME = "tokensel-length"
CLAIM = (
    "A transformer's test error on a task that depends on an input-selected token barely changes with the sequence "
    "length L, while flat baselines (MLP, kernel ridge) fail as L grows (Takakura & Suzuki, ICML 2023)."
)
PAPER = ("Takakura & Suzuki, Approximation and Estimation Ability of Transformers for Sequence-to-Sequence Functions "
         "with Infinite Dimensional Input (ICML 2023)")
PAPER_RESULT = ("theorem only: the transformer's estimation rate is free of the input dimension when a few input-"
                "selected tokens matter; no experiment reported")
KEY_METRICS = ("transformer_ratio_Lmax_Lmin", "best_baseline_mse_L*", "transformer_mse_L*")
SEEDS = 3
BUDGET_SECONDS = 78  # measured in `datadiet reproduce all` on 2026-12-02 (2 cores, quiet machine)
MODELS = ("transformer", "mlp", "krr")


@dataclass(frozen=True)
class Config:
    """Defaults: D = 2, omega = 1, L in {2, 8, 32, 128}, n = 2048 (``ns`` may hold several sizes)."""

    lengths: tuple[int, ...] = (2, 8, 32, 128)
    ns: tuple[int, ...] = (2048,)
    D: int = 2
    alpha: float = 1.0
    omega: float = 1.0
    gap: float = 1.0
    noise: float = 0.1
    n_test: int = 2000
    d_model: int = 16
    heads: int = 2
    ff: int = 32
    steps: int = 1000
    batch: int = 64
    lr: float = 3e-3
    mlp_width: int = 256
    krr: bool = True
    max_ratio: float = 2.0  # transformer MSE(L_max) / MSE(L_min) at the largest n must be below this
    margin: float = 0.5  # transformer MSE <= margin * best baseline MSE at every L >= 32, largest n
    baseline_start: float = 0.2  # best flat baseline MSE at L_min must be <= this x Var(y) (the task is learnable)
    baseline_end: float = 0.5  # ... and at L_max >= this x Var(y) (it degrades)

    def __post_init__(self):
        if not self.lengths or min(self.lengths) < 2 or sorted(set(self.lengths)) != list(self.lengths):
            raise InputError(f"--lengths {self.lengths} must be increasing sequence lengths >= 2")
        if not self.ns or min(self.ns) < 16 or sorted(set(self.ns)) != list(self.ns):
            raise InputError(f"--n-grid {self.ns} must be increasing sample sizes >= 16")
        if self.d_model % self.heads:
            raise InputError(f"d_model={self.d_model} must be a multiple of heads={self.heads}")


QUICK = Config(lengths=(2, 16), ns=(64, 128), n_test=200, d_model=8, heads=2, ff=16, steps=60, batch=32,
               mlp_width=32)


def run(config: Config, seed: int) -> dict:
    import torch

    torch.set_num_threads(1)  # the 2-core budget is shared; threads only add contention at these sizes
    with one_blas_thread():
        return _run(config, seed)


def _run(config: Config, seed: int) -> dict:
    import torch

    from ..tokensel import FitConfig, FlatMLP, TokenTask, TokenTransformer, fit, kernel_ridge, predict

    task = TokenTask(D=config.D, alpha=config.alpha, omega=config.omega, gap=config.gap, noise=config.noise)
    fc = FitConfig(steps=config.steps, batch=config.batch, lr=config.lr)
    cells = []
    attn_example = None
    for L in config.lengths:
        Xte, yte, jte = task.sample(config.n_test, L, np.random.default_rng(np.random.SeedSequence([seed, L, 0])))
        pool_X, pool_y, _ = task.sample(config.ns[-1], L, np.random.default_rng(np.random.SeedSequence([seed, L, 1])))
        for n in config.ns:
            X, y = pool_X[:n], pool_y[:n]  # nested training sets
            tr = TokenTransformer(config.D, config.d_model, config.heads, 0, config.ff)
            fit(tr, X, y, fc, seed=seed)
            mse_tr = float(np.mean((predict(tr, Xte) - yte) ** 2))
            a = tr.attention(torch.from_numpy(Xte)).cpu().numpy()  # (n_test, heads, L)
            mass = a[np.arange(config.n_test), :, jte].mean(0)  # per head
            mlp = FlatMLP(L, config.D, config.mlp_width)
            fit(mlp, X, y, fc, seed=seed)
            mse_mlp = float(np.mean((predict(mlp, Xte) - yte) ** 2))
            mse_krr = float(np.mean((kernel_ridge(X, y, Xte, seed=seed) - yte) ** 2)) if config.krr else None
            cells.append({"L": L, "n": n, "transformer": mse_tr, "mlp": mse_mlp, "krr": mse_krr,
                          "attn_on_jstar": float(mass.max()), "attn_on_jstar_heads": mass.tolist(),
                          "var_y": float(np.var(yte))})
            if n == config.ns[-1] and L == config.lengths[min(1, len(config.lengths) - 1)]:
                h = int(np.argmax(mass))
                attn_example = {"L": L, "attn": a[:12, h].tolist(), "jstar": jte[:12].tolist()}
    return {"cells": cells, "attn_example": attn_example}


RULE = (
    "At the largest n, means over seeds: held iff (1) the best flat baseline's MSE at L_min is <= baseline_start x "
    "Var(y) (the task is learnable by a flat model at short L) and at L_max >= baseline_end x Var(y), rising with L "
    "(each length's best-baseline MSE >= 0.9 x the previous one's): the flat models degrade; (2) the transformer's "
    "MSE(L_max) / MSE(L_min) <= max_ratio; (3) at every L >= 32 the transformer's MSE <= margin x the best flat "
    "baseline's; (4) its best pooling head puts mean attention >= 0.5 on j* at every L."
)


def check(config: Config, runs: list[dict], out_dir) -> Verdict:
    models = [mo for mo in MODELS if mo != "krr" or config.krr]
    flat = [mo for mo in models if mo != "transformer"]
    cell = {}
    for r in runs:
        for c in r["cells"]:
            cell.setdefault((c["L"], c["n"]), []).append(c)
    m: dict[str, dict] = {}
    nmax = config.ns[-1]
    for (L, n), cs in cell.items():
        for mo in models:
            m[f"{mo}_mse_L{L}_n{n}"] = summarize([c[mo] for c in cs])
        m[f"attn_on_jstar_L{L}_n{n}"] = summarize([c["attn_on_jstar"] for c in cs])
    var_y = float(np.mean([c["var_y"] for cs in cell.values() for c in cs]))
    for L in config.lengths:
        for mo in models:
            m[f"{mo}_mse_L{L}"] = m[f"{mo}_mse_L{L}_n{nmax}"]
        # per seed, the better of the flat models (each seed picks its own best)
        best = [min(c[mo] for mo in flat) for c in cell[(L, nmax)]]
        m[f"best_baseline_mse_L{L}"] = summarize(best)
    mean = {k: v["mean"] for k, v in m.items()}
    Lmin, Lmax = config.lengths[0], config.lengths[-1]
    ratio = mean[f"transformer_mse_L{Lmax}"] / mean[f"transformer_mse_L{Lmin}"]
    m["transformer_ratio_Lmax_Lmin"] = summarize([ratio])
    bb = [mean[f"best_baseline_mse_L{L}"] for L in config.lengths]
    m["best_baseline_ratio_Lmax_Lmin"] = summarize([bb[-1] / bb[0]])
    m["var_y"] = summarize([var_y])
    starts_good = bb[0] <= config.baseline_start * var_y
    ends_bad = bb[-1] >= config.baseline_end * var_y
    rises = all(b1 >= 0.9 * b0 for b0, b1 in zip(bb[:-1], bb[1:]))
    beats = {L: mean[f"transformer_mse_L{L}"] <= config.margin * mean[f"best_baseline_mse_L{L}"]
             for L in config.lengths if L >= 32}
    attends = {L: mean[f"attn_on_jstar_L{L}_n{nmax}"] >= 0.5 for L in config.lengths}
    held = (starts_good and ends_bad and rises and ratio <= config.max_ratio and all(beats.values())
            and all(attends.values()))
    details = {"baseline_starts_good": starts_good, "baseline_ends_bad": ends_bad, "baseline_rises_with_L": rises,
               "transformer_flat_in_L": ratio <= config.max_ratio,
               "transformer_beats_baselines": {str(k): v for k, v in beats.items()},
               "attends_to_jstar": {str(k): v for k, v in attends.items()}, "var_y": var_y}
    figures = _figures(config, runs, cell, models, Path(out_dir))
    return Verdict(held=held, rule=RULE, metrics=m, figures=figures, details=details)


_COLORS = {"transformer": "tab:blue", "mlp": "tab:orange", "krr": "tab:green"}


def _figures(config, runs, cell, models, out: Path) -> list[str]:
    plt = pyplot()
    out.mkdir(parents=True, exist_ok=True)
    nmax = config.ns[-1]
    var_y = float(np.mean([c["var_y"] for cs in cell.values() for c in cs]))
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for mo in models:
        vals = [[c[mo] for c in cell[(L, nmax)]] for L in config.lengths]
        mu = np.array([np.mean(v) for v in vals])
        se = np.array([np.std(v, ddof=1) / np.sqrt(len(v)) if len(v) > 1 else 0.0 for v in vals])
        ax.errorbar(config.lengths, mu, yerr=se, marker="o", capsize=3, color=_COLORS[mo], label=mo)
    ax.axhline(var_y, color="gray", ls="--", lw=1, label="Var(y) (trivial predictor)")
    ax.axhline(config.baseline_start * var_y, color="gray", ls=":", lw=1, label=f"{config.baseline_start:g} Var(y)")
    ax.axhline(config.noise**2, color="k", ls=":", lw=0.8, label="noise variance")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("sequence length L")
    ax.set_ylabel("test MSE")
    ax.set_title(f"test MSE vs L at n = {nmax} (mean ± sem, {len(runs)} seeds)", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "mse_vs_L.png", dpi=90)
    plt.close(fig)
    names = ["mse_vs_L.png"]
    if len(config.ns) > 1:  # test MSE vs n per L
        fig, axes = plt.subplots(1, len(models), figsize=(4.4 * len(models), 3.8), sharey=True, squeeze=False)
        cmap = plt.get_cmap("viridis")
        for ax, mo in zip(axes[0], models):
            for i, L in enumerate(config.lengths):
                ys = [np.mean([c[mo] for c in cell[(L, n)]]) for n in config.ns]
                ax.plot(config.ns, ys, marker="o", color=cmap(i / max(1, len(config.lengths) - 1)), label=f"L = {L}")
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xlabel("n")
            ax.set_title(mo)
        axes[0, 0].set_ylabel(f"test MSE (mean of {len(runs)} seeds; noise var {config.noise**2:g})")
        axes[0, 0].legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / "mse_vs_n.png", dpi=90)
        plt.close(fig)
        names.append("mse_vs_n.png")
    ex = runs[0].get("attn_example")
    if ex:
        A = np.asarray(ex["attn"])
        fig, ax = plt.subplots(figsize=(7, 3))
        ax.imshow(A, aspect="auto", cmap="magma")
        ax.scatter(ex["jstar"], np.arange(len(ex["jstar"])), marker="o", facecolors="none", edgecolors="cyan", s=40,
                   label="j*(X)")
        ax.set_xlabel("token position")
        ax.set_ylabel("test sequence")
        ax.set_title(f"pooling attention (best head), L = {ex['L']}, n = {config.ns[-1]}", fontsize=9)
        ax.legend(fontsize=7, loc="upper right")
        fig.tight_layout()
        fig.savefig(out / "attention.png", dpi=90)
        plt.close(fig)
        names.append("attention.png")
    return names

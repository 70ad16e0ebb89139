"""tokensel-length: a transformer's test error barely depends on the sequence length L; flat models' does.

Takakura & Suzuki, "Approximation and Estimation Ability of Transformers for Sequence-to-Sequence Functions with
Infinite Dimensional Input" (ICML 2023): when the target depends on a few input-dependent important tokens (and
features of decaying importance), a transformer's estimation error is nearly independent of the input dimension,
because attention selects the tokens. Setting: ``TokenTask`` (y = f(x_{j*}), j* = argmax_i x_{i,0}), L in
{8, 32, 128, 512}; models: an attention-pooling transformer (token-wise FFN, a learned multi-head query, MLP
readout), an MLP on the flattened sequence, RBF kernel ridge on the flattened sequence. Test MSE vs n; the pooling
attention's mass on j* measures token selection.

Rerun:
    datadiet tokensel run --seeds 3 --out results/tokensel-length
    datadiet reproduce run tokensel-length --seeds 3
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from .base import Verdict, pyplot, summarize

NAME = "tokensel-length"
CLAIM = (
    "A transformer's test error on a task that depends on an input-selected token barely changes with the sequence "
    "length L, while flat baselines (MLP, kernel ridge) fail as L grows (Takakura & Suzuki, ICML 2023)."
)
MODELS = ("transformer", "mlp", "krr")


@dataclass(frozen=True)
class Config:
    """Defaults: D = 8, L in {8, 32, 128, 512}, n in {256, 1024, 4096} (~5 min per seed on 2 shared cores)."""

    lengths: tuple[int, ...] = (8, 32, 128, 512)
    ns: tuple[int, ...] = (256, 1024, 4096)
    D: int = 8
    alpha: float = 1.0
    gap: float = 1.0
    noise: float = 0.1
    n_test: int = 2000
    d_model: int = 16
    heads: int = 2
    ff: int = 32
    steps: int = 1500
    batch: int = 64
    lr: float = 3e-3
    mlp_width: int = 256
    krr: bool = True
    max_ratio: float = 2.0  # transformer MSE(L_max) / MSE(L_min) at the largest n must be below this
    margin: float = 0.5  # transformer MSE <= margin * best baseline MSE at every L >= 32, largest n

    def __post_init__(self):
        if not self.lengths or min(self.lengths) < 2 or sorted(set(self.lengths)) != list(self.lengths):
            raise InputError(f"--lengths {self.lengths} must be increasing sequence lengths >= 2")
        if not self.ns or min(self.ns) < 16 or sorted(set(self.ns)) != list(self.ns):
            raise InputError(f"--n-grid {self.ns} must be increasing sample sizes >= 16")
        if self.d_model % self.heads:
            raise InputError(f"d_model={self.d_model} must be a multiple of heads={self.heads}")


QUICK = Config(lengths=(8, 16), ns=(64, 128), n_test=200, d_model=8, heads=2, ff=16, steps=60, batch=32,
               mlp_width=32)


def run(config: Config, seed: int) -> dict:
    import torch

    from ..tokensel import FitConfig, FlatMLP, TokenTask, TokenTransformer, fit, kernel_ridge, predict

    torch.set_num_threads(1)  # the 2-core budget is shared; threads only add contention at these sizes
    task = TokenTask(D=config.D, alpha=config.alpha, gap=config.gap, noise=config.noise)
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
    "At the largest n: held iff transformer MSE(L_max) / MSE(L_min) <= max_ratio (averaged over seeds), AND at every "
    "L >= 32 the transformer's mean MSE <= margin x the best flat baseline's, AND its best pooling head puts mean "
    "attention >= 0.5 on j* at every L."
)


def check(config: Config, runs: list[dict], out_dir) -> Verdict:
    models = [mo for mo in MODELS if mo != "krr" or config.krr]
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
    for L in config.lengths:
        for mo in models:
            m[f"{mo}_mse_L{L}"] = m[f"{mo}_mse_L{L}_n{nmax}"]
    mean = {k: v["mean"] for k, v in m.items()}
    Lmin, Lmax = config.lengths[0], config.lengths[-1]
    ratio = mean[f"transformer_mse_L{Lmax}"] / mean[f"transformer_mse_L{Lmin}"]
    m["transformer_ratio_Lmax_Lmin"] = summarize([ratio])
    beats = {L: mean[f"transformer_mse_L{L}"] <= config.margin * min(mean[f"{mo}_mse_L{L}"] for mo in models if mo != "transformer")
             for L in config.lengths if L >= 32}
    attends = {L: mean[f"attn_on_jstar_L{L}_n{nmax}"] >= 0.5 for L in config.lengths}
    held = ratio <= config.max_ratio and all(beats.values()) and all(attends.values())
    details = {"transformer_beats_baselines": {str(k): v for k, v in beats.items()},
               "attends_to_jstar": {str(k): v for k, v in attends.items()},
               "var_y": float(np.mean([c["var_y"] for cs in cell.values() for c in cs]))}
    figures = _figures(config, runs, cell, models, Path(out_dir))
    return Verdict(held=held, rule=RULE, metrics=m, figures=figures, details=details)


def _figures(config, runs, cell, models, out: Path) -> list[str]:
    plt = pyplot()
    out.mkdir(parents=True, exist_ok=True)
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
    names = ["mse_vs_n.png"]
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

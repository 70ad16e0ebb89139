"""parity-hidden-progress: SGD on a ReLU net learns a 3-parity after a loss plateau, with hidden progress.

Barak, Edelman, Goel, Kakade, Malach, Zhang ("Hidden progress in deep learning: SGD learns parities near the
computational limit", NeurIPS 2022): online SGD on a two-layer ReLU network for a k-sparse parity on {±1}^d shows
a long loss plateau and then a sudden drop, while a hidden measure, the weight mass on the k relevant
coordinates ‖W_S‖²/‖W‖², rises before the drop. Not MFLD, but the same task, kept in the mfld capability.

Per run (d, seed): L0 = median eval hinge loss of the first 5 logs; t_drop = first log with eval loss ≤ L0/2;
t_plat = last log before t_drop with eval loss ≥ 0.9·L0.

Rerun:
    datadiet reproduce parity-hidden-progress --seeds 3 --out results/parity-hidden-progress
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from .base import Verdict, pyplot, summarize

NAME = "parity-hidden-progress"
CLAIM = ("SGD on a two-layer ReLU net learns a 3-sparse parity after a loss plateau and a sudden drop, while the "
         "weight mass on the relevant coordinates rises during the plateau (Barak et al., NeurIPS 2022).")


PAPER_RESULT = 'SGD on two-layer ReLU networks learns (n, k)-sparse parities in about n^O(k) steps; the loss sits on a plateau and then drops suddenly while progress on the relevant coordinates accumulates hidden in the weights'
KEY_METRICS = ['final_accuracy_d50', 'progress_rise_d50', 'plateau_share_d50', 'share_ok']
BUDGET_SECONDS = 40  # measured in `datadiet reproduce all` on 2026-12-02 (2 cores, quiet machine)


@dataclass(frozen=True)
class Config:
    """Defaults: d = 20..50 (3 seeds: ~5 min on 2 cores)."""

    ds: tuple[int, ...] = (20, 30, 40, 50)
    k: int = 3
    width: int = 128
    lr: float = 0.1
    batch_size: int = 32
    weight_decay: float = 0.01
    steps_per_d2: float = 5.0  # steps = steps_per_d2 · d²  (the plateau grows like d^{k−1})
    logs: int = 100
    n_eval: int = 1000
    min_rise: float = 0.05  # progress(t_plat) >= (1 + min_rise) · progress(0)
    min_spearman: float = 0.7  # Spearman(step, progress) over logs in [t_plat/2, t_drop]
    min_share: float = 0.8  # share of runs that must satisfy every condition

    def __post_init__(self):
        if not self.ds or min(self.ds) < self.k + 1:
            raise InputError(f"ds={self.ds} must be non-empty and > k={self.k}")
        if self.steps_per_d2 <= 0 or self.logs < 10 or self.n_eval < 10:
            raise InputError("need steps_per_d2 > 0, logs >= 10, n_eval >= 10")


QUICK = Config(ds=(20,), steps_per_d2=3.0, logs=60, n_eval=500)


def run(config: Config, seed: int) -> dict:
    """One seed: eval loss, accuracy and hidden progress curves for every d (online SGD, fresh batches)."""
    from ..mfld.parity import sparse_parity
    from ..mfld.relu_sgd import ReluSGDConfig, train_relu_sgd

    runs = []
    for d in config.ds:
        task = sparse_parity(d, config.k, seed=seed, scale=1.0, random_support=True)
        Ze, ye = task.sample(config.n_eval, np.random.default_rng(np.random.SeedSequence([seed, d, 3])))
        steps = int(round(config.steps_per_d2 * d * d))
        cfg = ReluSGDConfig(width=config.width, lr=config.lr, batch_size=config.batch_size, steps=steps,
                            weight_decay=config.weight_decay, log_every=max(1, steps // config.logs))
        r = train_relu_sgd(cfg, seed=seed, sampler=task.sample, eval_data=(Ze, ye),
                           directions=task.relevant_directions())
        runs.append({"d": d, **{k: r[k] for k in ("steps", "eval_loss", "eval_accuracy", "progress", "accuracy")},
                     **analyze(r["steps"], r["eval_loss"], r["progress"], config)})
    return {"runs": runs}


def analyze(steps, loss, progress, config: Config) -> dict:
    """Plateau, drop and hidden-progress numbers of one curve (see the module docstring)."""
    steps, loss, progress = (np.asarray(v, float) for v in (steps, loss, progress))
    L0 = float(np.median(loss[:5]))
    below = np.flatnonzero(loss <= 0.5 * L0)
    if below.size == 0:
        return {"dropped": False, "t_drop": None, "t_plat": None, "plateau_share": 0.0, "rise": 0.0,
                "spearman": 0.0, "ok": False}
    i_drop = int(below[0])
    above = np.flatnonzero(loss[:i_drop] >= 0.9 * L0)
    i_plat = int(above[-1]) if above.size else 0
    t_drop, t_plat = float(steps[i_drop]), float(steps[i_plat])
    rise = float(progress[i_plat] / progress[0] - 1.0)
    window = (steps >= t_plat / 2) & (steps <= t_drop)
    rho = _spearman(steps[window], progress[window]) if window.sum() >= 3 else 0.0
    share = t_plat / t_drop if t_drop > 0 else 0.0
    ok = share >= 0.5 and rise >= config.min_rise and rho >= config.min_spearman
    return {"dropped": True, "t_drop": t_drop, "t_plat": t_plat, "plateau_share": share, "rise": rise,
            "spearman": rho, "ok": bool(ok)}


def _spearman(x, y) -> float:
    rx, ry = np.argsort(np.argsort(x)).astype(float), np.argsort(np.argsort(y)).astype(float)
    rx -= rx.mean()
    ry -= ry.mean()
    den = float(np.sqrt((rx @ rx) * (ry @ ry)))
    return float(rx @ ry) / den if den > 0 else 0.0


RULE = ("Per (d, seed): the eval loss drops to <= L0/2 (t_drop); it stays >= 0.9·L0 until t_plat >= t_drop/2 "
        "(plateau then sudden drop); hidden progress at t_plat is >= (1 + min_rise)·its initial value; and "
        "Spearman(step, progress) over [t_plat/2, t_drop] >= min_spearman. Held iff at least min_share of runs "
        "satisfy all four.")


def check(config: Config, runs: list[dict], out_dir) -> Verdict:
    out = Path(out_dir)
    flat = [r for seed_run in runs for r in seed_run["runs"]]
    metrics: dict[str, dict] = {"share_ok": summarize([float(r["ok"]) for r in flat])}
    for d in config.ds:
        rs = [r for r in flat if r["d"] == d]
        metrics[f"final_accuracy_d{d}"] = summarize([r["accuracy"] for r in rs])
        metrics[f"progress_rise_d{d}"] = summarize([r["rise"] for r in rs])
        metrics[f"plateau_share_d{d}"] = summarize([r["plateau_share"] for r in rs])
        drops = [r["t_drop"] for r in rs if r["t_drop"] is not None]
        if drops:
            metrics[f"t_drop_d{d}"] = summarize(drops)
    held = metrics["share_ok"]["mean"] >= config.min_share
    figures = [_plot(config, runs, out)]
    return Verdict(held=held, rule=RULE, metrics=metrics, figures=figures,
                   details={"per_run": [{k: r[k] for k in ("d", "t_drop", "t_plat", "rise", "spearman", "ok")}
                                        for r in flat]})


def _plot(config: Config, runs: list[dict], out: Path) -> str:
    plt = pyplot()
    fig, ax1 = plt.subplots(figsize=(7.5, 4.5))
    ax2 = ax1.twinx()
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(config.ds)))
    for r in runs[0]["runs"]:
        c = colors[list(config.ds).index(r["d"])]
        ax1.plot(r["steps"], r["eval_loss"], color=c, lw=1.5, label=f"loss, d={r['d']}")
        ax2.plot(r["steps"], r["progress"], color=c, lw=1.2, ls="--", label=f"progress, d={r['d']}")
        if r["t_drop"] is not None:
            ax1.axvline(r["t_drop"], color=c, lw=0.6, ls=":")
    ax1.set_xscale("log")
    ax1.set_xlabel("SGD step")
    ax1.set_ylabel("eval hinge loss (solid)")
    ax2.set_ylabel("hidden progress ‖W_S‖²/‖W‖² (dashed)")
    ax1.set_title(f"{config.k}-sparse parity, ReLU width {config.width}, seed 0 (dotted: t_drop)", fontsize=10)
    h1, l1 = ax1.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax1.legend(h1 + h2, l1 + l2, fontsize=7, loc="center left")
    fig.tight_layout()
    name = "hidden_progress.png"
    fig.savefig(out / name, dpi=100)
    plt.close(fig)
    return name

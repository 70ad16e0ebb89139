"""mfld-discretization: the objective MFLD settles at rises with the step size η and with 1/M.

Suzuki, Wu, Nitanda ("Convergence of mean-field Langevin dynamics: time and space discretization, stochastic
gradient, and variance reduction", NeurIPS 2023) bound the objective of the M-particle, step-η dynamics by
exp(−λαηt)·(initial gap) + O(η + 1/M): after convergence a floor remains that grows with η and 1/M.

Setting: 2-sparse parity, d = 5, n = 100, strong regularization (λ = 0.1, λ1 = 1) so the dynamics mixes in
time T = steps·η ≈ 40. Measured: the free energy L̂ = F(μ_X) − λ·Ĥ, averaged over the second half of the run,
with Ĥ the k-NN entropy of a fixed-size random subsample of entropy_m particles (the same size for every M,
so the estimator's bias does not depend on M). Sweeps: M at fixed η = eta0, and η at fixed M = m0; a
least-squares line L̂ = a + b·x (x = 1/M or η) gives slope b, intercept a (the extrapolated floor-free value)
and R². The "gap" plotted is L̂ − a.

Rerun:
    datadiet reproduce mfld-discretization --seeds 3 --out results/mfld-discretization
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from .base import Verdict, pyplot, summarize

NAME = "mfld-discretization"
CLAIM = ("After convergence, the MFLD objective sits above its limit by a floor that grows roughly linearly in "
         "the step size η and in 1/M (the O(η + 1/M) term of Suzuki, Wu, Nitanda, NeurIPS 2023).")


@dataclass(frozen=True)
class Config:
    """Defaults: ~2 min per seed on 2 cores."""

    d: int = 5
    k: int = 2
    n: int = 100
    lam: float = 0.1
    lam1: float = 1.0
    R: float = 15.0
    horizon: float = 40.0  # T = steps · η
    Ms: tuple[int, ...] = (25, 50, 100, 200, 400, 800)
    eta0: float = 0.05  # η of the M sweep
    etas: tuple[float, ...] = (0.025, 0.05, 0.1, 0.2, 0.4)
    m0: int = 400  # M of the η sweep
    entropy_m: int = 25  # particles in the entropy subsample (<= min Ms)
    logs: int = 100  # objective logs per run
    min_r2: float = 0.6

    def __post_init__(self):
        if len(self.Ms) < 3 or len(self.etas) < 3:
            raise InputError(f"need at least 3 Ms and 3 etas for a slope; got {self.Ms}, {self.etas}")
        if self.entropy_m > min(self.Ms) or self.entropy_m < 3:
            raise InputError(f"entropy_m={self.entropy_m} must be in [3, min(Ms)={min(self.Ms)}]")
        if self.horizon <= 0 or min(self.etas) <= 0 or self.eta0 <= 0 or self.lam <= 0:
            raise InputError("horizon, etas, eta0 and lam must be positive")


QUICK = Config(horizon=20.0, Ms=(20, 40, 80, 160), eta0=0.1, etas=(0.05, 0.1, 0.2, 0.4), m0=80, entropy_m=20,
               logs=60)


def _objective(config: Config, Z, y, M: int, eta: float, seed: int) -> dict:
    from ..mfld.solver import MFLDConfig, mfld

    steps = max(2, int(round(config.horizon / eta)))
    cfg = MFLDConfig(particles=M, steps=steps, eta=eta, lam=config.lam, lam1=config.lam1, R=config.R,
                     log_every=max(1, steps // config.logs), entropy_k=1, entropy_subsample=config.entropy_m)
    h = mfld(Z, y, cfg, seed=seed).history
    half = len(h["step"]) // 2
    return {"objective": float(np.mean(h["objective"][half:])), "F": float(np.mean(h["F"][half:])),
            "curve_t": [s * eta for s in h["step"]], "curve": h["objective"]}


def run(config: Config, seed: int) -> dict:
    """One seed: the time-averaged objective for each M (η = eta0) and each η (M = m0), same data."""
    from ..mfld.parity import sparse_parity

    task = sparse_parity(config.d, config.k, seed=seed)
    Z, y = task.sample(config.n, np.random.default_rng(np.random.SeedSequence([seed, 1])))
    by_m = [{"M": M, **_objective(config, Z, y, M, config.eta0, seed)} for M in config.Ms]
    by_eta = [{"eta": e, **_objective(config, Z, y, config.m0, e, seed)} for e in config.etas]
    return {"by_M": by_m, "by_eta": by_eta}


def fit_line(x, v) -> tuple[float, float, float]:
    """Least squares v ≈ a + b x: (slope b, intercept a, R²)."""
    x, v = np.asarray(x, float), np.asarray(v, float)
    b, a = np.polyfit(x, v, 1)
    resid = v - (a + b * x)
    tot = float(np.sum((v - v.mean()) ** 2))
    return float(b), float(a), (1.0 - float(resid @ resid) / tot) if tot > 0 else 0.0


RULE = ("Per seed, fit objective = a + b·x by least squares, x = 1/M (η fixed) and x = η (M fixed). Held iff for "
        "both sweeps the mean slope over seeds minus 2 sem is > 0 AND the R² of the line through the seed-mean "
        "objectives is >= min_r2.")


def check(config: Config, runs: list[dict], out_dir) -> Verdict:
    out = Path(out_dir)
    metrics: dict[str, dict] = {}
    details: dict = {}
    verdicts = []
    for sweep, key, xf in (("M", "by_M", lambda r: 1.0 / r["M"]), ("eta", "by_eta", lambda r: r["eta"])):
        slopes = [fit_line([xf(c) for c in r[key]], [c["objective"] for c in r[key]])[0] for r in runs]
        xs = [xf(c) for c in runs[0][key]]
        mean_obj = np.mean([[c["objective"] for c in r[key]] for r in runs], axis=0)
        b, a, r2 = fit_line(xs, mean_obj)
        metrics[f"slope_vs_{'inv_M' if sweep == 'M' else 'eta'}"] = summarize(slopes)
        metrics[f"r2_vs_{'inv_M' if sweep == 'M' else 'eta'}"] = summarize([r2])
        for c_i, x in enumerate(xs):
            label = f"M{runs[0][key][c_i]['M']}" if sweep == "M" else f"eta{runs[0][key][c_i]['eta']:g}"
            metrics[f"objective_{label}"] = summarize([r[key][c_i]["objective"] for r in runs])
        s = metrics[f"slope_vs_{'inv_M' if sweep == 'M' else 'eta'}"]
        ok = s["mean"] - 2 * s["sem"] > 0 and r2 >= config.min_r2
        verdicts.append(ok)
        details[sweep] = {"x": xs, "mean_objective": mean_obj.tolist(), "slope": b, "intercept": a, "r2": r2,
                          "held": bool(ok)}
    figures = [_plot(config, details, runs, out)]
    return Verdict(held=all(verdicts), rule=RULE, metrics=metrics, figures=figures, details=details)


def _plot(config: Config, details: dict, runs: list[dict], out: Path) -> str:
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    for ax, sweep, key, xl in ((axes[0], "M", "by_M", "1/M"), (axes[1], "eta", "by_eta", "η")):
        dt = details[sweep]
        xs = np.asarray(dt["x"])
        for r in runs:
            ax.plot(xs, np.asarray([c["objective"] for c in r[key]]) - dt["intercept"], "o", color="gray", alpha=0.4)
        ax.plot(xs, np.asarray(dt["mean_objective"]) - dt["intercept"], "ko", label="mean over seeds")
        grid = np.linspace(0, xs.max() * 1.05, 50)
        ax.plot(grid, dt["slope"] * grid, "r-", label=f"fit: slope {dt['slope']:.3g}, R² {dt['r2']:.2f}")
        ax.set_xlabel(xl)
        ax.set_ylabel("objective − fitted intercept")
        ax.set_title(f"floor vs {xl} ({'η' if sweep == 'M' else 'M'} = "
                     f"{config.eta0 if sweep == 'M' else config.m0:g})", fontsize=10)
        ax.legend(fontsize=8)
    ax = axes[2]
    for c in runs[0]["by_eta"]:
        ax.plot(c["curve_t"], c["curve"], label=f"η={c['eta']:g}", lw=1)
    ax.set_xlabel("time t = step·η")
    ax.set_ylabel("objective F − λĤ (seed 0)")
    ax.set_title(f"convergence, M = {config.m0}", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    name = "discretization.png"
    fig.savefig(out / name, dpi=100)
    plt.close(fig)
    return name

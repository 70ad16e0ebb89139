"""diffusion-rate: the diffusion estimator's TV error falls like n^{-s/(2s+d)}, the minimax rate.

Oko, Akiyama, Suzuki, "Diffusion Models are Minimax Optimal Distribution Estimators" (ICML 2023): with the OU
forward process, a score fitted by empirical denoising score matching and the reverse process stopped at
t0 ~ n^{-2/(2s+d)}, the generated law is within TV ~ n^{-s/(2s+d)} (up to logs) of a Besov-s density.

Setting (d = 1, densities with exact smoothness s, see ``datadiet.diffusion.densities``), per n on a geometric grid:
  smoothed   the closed-form kernel-smoothed empirical score (bandwidth h_n), reverse process run to t = 1e-6;
             its law is (1/n) sum_i N(m_t x_i, b_n^2), b_n^2 = m_t^2 h_n^2 + sigma_t^2, b_n = c n^{-1/(2s+d)}
             (the early-stopping scale of the theory); c is set once per seed from a KDE cross-validated on an
             independent pilot sample of the smallest n, so only the exponent comes from the theory.
  memorize   the unsmoothed empirical score (h = 0, the exact empirical-DSM minimizer) run to t = 1e-11: its law is
             the training set blurred by sigma = 4.5e-6, so TV stays near 1 (TV on a 2^20-point grid resolves it).
  kde        Gaussian KDE with a 5-fold likelihood-cross-validated bandwidth (the classical baseline).
  dsm        a small MLP score network trained by time-weighted DSM on t in [t0, log n] (t0: sigma_t0 = b_n),
             sampled by the probability-flow ODE from the N(0,1) quantiles (a 1-D flow is monotone, so the pushed
             quantiles give the generated density without Monte Carlo noise); run on the ``dsm_ns`` subset.
For smoothed/memorize the TV is of the exact terminal law of the reverse process (tests check that the SDE and ODE
samplers reproduce it); TV = (1/2) int |p_hat - p| on a fine grid against the known density.

Rerun:
    datadiet diffusion rate --seeds 5 --out results/diffusion-rate
    datadiet reproduce run diffusion-rate --seeds 5
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from .base import Verdict, pyplot, summarize

NAME = "diffusion-rate"
CLAIM = (
    "A diffusion model (score matching + early-stopped reverse process) estimates an s-smooth density in TV at "
    "the minimax rate n^{-s/(2s+d)} (Oko, Akiyama, Suzuki, ICML 2023)."
)
ESTIMATORS = ("smoothed", "memorize", "kde", "dsm")


@dataclass(frozen=True)
class Config:
    """Defaults: two smoothness levels, n = 2^8..2^14 (~4 min per seed on 2 shared cores, most of it the DSM nets)."""

    densities: tuple[str, ...] = ("lacunary-0.5", "lacunary-1.5")
    ns: tuple[int, ...] = (256, 512, 1024, 2048, 4096, 8192, 16384)
    dsm_ns: tuple[int, ...] = (256, 2048, 16384)  # n where the DSM network is trained (the costly part)
    tolerance: float = 0.1  # |slope - theory| allowed for the smoothed estimator
    grid_points: int = 2**16  # TV grid on [-1.5, 1.5]
    memorize_grid_points: int = 2**20
    t_stop: float = 1e-6  # smoothed: where the reverse process stops
    t_memorize: float = 1e-11  # memorize: where the reverse process stops
    dsm_steps: int = 2000
    dsm_batch: int = 1024
    dsm_width: int = 128
    dsm_depth: int = 3
    dsm_lr: float = 2e-3
    quantiles: int = 4096  # ODE trajectories (prior quantiles) per DSM density
    ode_steps: int = 64
    curve_points: int = 600  # stored density curves (largest n) for the figure

    def __post_init__(self):
        from ..diffusion import get_density

        if not self.densities:
            raise InputError("densities must name at least one density")
        for name in self.densities:
            if getattr(get_density(name), "d", 1) != 1:
                raise InputError(f"density {name!r} is not 1-D; diffusion-rate measures TV on a 1-D grid")
        if len(self.ns) < 2 or min(self.ns) < 16 or sorted(set(self.ns)) != list(self.ns):
            raise InputError(f"--n-grid {self.ns} needs >= 2 increasing sizes, each >= 16")
        if not set(self.dsm_ns) <= set(self.ns):
            raise InputError(f"dsm_ns {self.dsm_ns} must be a subset of the n grid {self.ns}")
        if not 0 < self.t_memorize < self.t_stop < 0.01:
            raise InputError(f"need 0 < t_memorize < t_stop < 0.01; got {self.t_memorize}, {self.t_stop}")


QUICK = Config(ns=(64, 128, 256), dsm_ns=(64, 256), grid_points=2**13, memorize_grid_points=2**16,
               t_memorize=1e-9, dsm_steps=100, dsm_batch=256, dsm_width=32, dsm_depth=2, quantiles=512,
               ode_steps=16, curve_points=200)


def theory_slope(s: float, d: int = 1) -> float:
    """-s / (2s + d): the exponent of the minimax TV rate."""
    return -s / (2 * s + d)


def fit_slope(ns, errs) -> float:
    """Least-squares slope of log err against log n."""
    x, y = np.log(np.asarray(ns, float)), np.log(np.asarray(errs, float))
    return float(np.polyfit(x, y, 1)[0])


def _rng(seed: int, name: str, *more: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(name.encode()), *more]))


def _dsm_tv(x, t0, config: Config, seed: int, g, pg):
    import torch

    from ..diffusion import (DSMConfig, density_from_quantiles, horizon, prior_quantiles, probability_flow,
                             train_score_net, tv_grid)

    cfg = DSMConfig(width=config.dsm_width, depth=config.dsm_depth, steps=config.dsm_steps, batch=config.dsm_batch,
                    lr=config.dsm_lr, t_min=t0)
    net, hist = train_score_net(x, cfg, seed=seed)
    dev = next(net.parameters()).device
    with torch.no_grad():
        y = probability_flow(lambda y, t: net(y, t), prior_quantiles(config.quantiles, torch.float32, dev),
                             horizon(x.shape[0]), t0, config.ode_steps)
    dens = density_from_quantiles(y.cpu().numpy(), g)
    return tv_grid(dens, pg, g), dens, hist["stopped_at"]


def run(config: Config, seed: int) -> dict:
    """One seed: TV of every estimator at every n, for every density."""
    import torch

    from ..diffusion import (gaussian_mixture_on_grid, get_density, grid, kde_cv_bandwidth, kde_on_grid, m_t,
                             sigma_t, t_for_sigma, tv_grid)

    torch.set_num_threads(1)  # the 2-core budget is shared; threads only add contention at these sizes
    g = grid(points=config.grid_points)
    gm = grid(points=config.memorize_grid_points)
    gcv = grid(points=2**14)
    out = {}
    for name in config.densities:
        p = get_density(name)
        s, d = p.s, 1
        pg, pgm = p.pdf(g), p.pdf(gm)
        n0 = config.ns[0]
        pilot = p.sample(n0, _rng(seed, name, 1))
        c = kde_cv_bandwidth(pilot, gcv, seed=seed) * n0 ** (1 / (2 * s + d))
        rows = {e: [] for e in ESTIMATORS}
        dsm_n, stopped, bands = [], [], []
        curves = {}
        for n in config.ns:
            x = p.sample(n, _rng(seed, name, 2, n))
            b = min(c * n ** (-1 / (2 * s + d)), 0.9)
            bands.append(b)
            ms = m_t(config.t_stop)
            law = gaussian_mixture_on_grid(ms * x, b, g)  # smoothed score, stopped at t_stop
            rows["smoothed"].append(tv_grid(law, pg, g))
            mm = m_t(config.t_memorize)
            rows["memorize"].append(tv_grid(gaussian_mixture_on_grid(mm * x, sigma_t(config.t_memorize), gm), pgm, gm))
            h = kde_cv_bandwidth(x, gcv, seed=seed)
            kde = kde_on_grid(x, h, g)
            rows["kde"].append(tv_grid(kde, pg, g))
            if n in config.dsm_ns:
                tv, dens, st = _dsm_tv(x, t_for_sigma(b), config, seed, g, pg)
                rows["dsm"].append(tv)
                dsm_n.append(n)
                stopped.append(st)
                if n == config.dsm_ns[-1]:
                    curves["dsm"] = dens
            if n == config.ns[-1]:
                curves.update(true=pg, smoothed=law, kde=kde)
        idx = np.linspace(0, g.size - 1, config.curve_points).round().astype(int)
        out[name] = {
            "s": s, "c": c, "ns": list(config.ns), "dsm_ns": dsm_n, "bandwidth": bands, "dsm_stopped_at": stopped,
            **{f"tv_{e}": v for e, v in rows.items()},
            "curve_x": g[idx].tolist(), **{f"curve_{k}": v[idx].tolist() for k, v in curves.items()},
        }
    return out


RULE = (
    "Per density, per seed, fit the slope of log TV vs log n. Held iff for every density the mean slope of the "
    "'smoothed' diffusion estimator is within `tolerance` of -s/(2s+d), AND the memorizing control stalls "
    "(mean TV at the largest n >= 0.5). The DSM network and the KDE are reported, not part of the rule."
)


def check(config: Config, runs: list[dict], out_dir) -> Verdict:
    out = Path(out_dir)
    m: dict[str, dict] = {}
    held = True
    details: dict = {"per_density": {}}
    for k, name in enumerate(config.densities):
        rs = [r[name] for r in runs]
        s = rs[0]["s"]
        th = theory_slope(s)
        m[f"theory_slope_{name}"] = summarize([th])
        per = {"theory_slope": th, "s": s}
        for e in ESTIMATORS:
            ns = rs[0]["dsm_ns"] if e == "dsm" else rs[0]["ns"]
            if len(ns) < 2:
                continue
            slopes = [fit_slope(ns, r[f"tv_{e}"]) for r in rs]
            m[f"slope_{e}_{name}"] = summarize(slopes)
            m[f"tv_{e}_{name}_n{ns[-1]}"] = summarize([r[f"tv_{e}"][-1] for r in rs])
            per[f"mean_tv_{e}"] = np.exp(np.mean([np.log(r[f"tv_{e}"]) for r in rs], axis=0)).tolist()
            per[f"ns_{e}"] = ns
        ok_slope = abs(m[f"slope_smoothed_{name}"]["mean"] - th) <= config.tolerance
        ok_mem = m[f"tv_memorize_{name}_n{rs[0]['ns'][-1]}"]["mean"] >= 0.5
        per.update(slope_within_tolerance=ok_slope, memorize_stalls=ok_mem, c=[r["c"] for r in rs])
        held = held and ok_slope and ok_mem
        details["per_density"][name] = per
        if k == 0:
            m["slope"] = m[f"slope_smoothed_{name}"]
            m["theory_slope"] = m[f"theory_slope_{name}"]
    figures = _figures(config, runs, details, out)
    return Verdict(held=held, rule=RULE, metrics=m, figures=figures, details=details)


_STYLE = {"smoothed": ("tab:blue", "o", "diffusion, smoothed score"), "dsm": ("tab:purple", "s", "diffusion, DSM net"),
          "kde": ("tab:green", "^", "KDE (CV bandwidth)"), "memorize": ("tab:red", "x", "memorizing (empirical score)")}


def _figures(config: Config, runs, details, out: Path) -> list[str]:
    plt = pyplot()
    out.mkdir(parents=True, exist_ok=True)
    names = []
    k = len(config.densities)
    fig, axes = plt.subplots(1, k, figsize=(5.2 * k, 4.2), squeeze=False)
    for ax, name in zip(axes[0], config.densities):
        per = details["per_density"][name]
        for e in ESTIMATORS:
            if f"ns_{e}" not in per:
                continue
            col, mk, lab = _STYLE[e]
            ax.plot(per[f"ns_{e}"], per[f"mean_tv_{e}"], marker=mk, color=col, label=lab)
        ns = np.asarray(per["ns_smoothed"], float)
        ref = per["mean_tv_smoothed"][0] * (ns / ns[0]) ** per["theory_slope"]
        ax.plot(ns, ref, "k--", lw=1, label=f"theory slope {per['theory_slope']:.3f}")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("n (training samples)")
        ax.set_ylabel("TV to the true density (geo. mean over seeds)")
        ax.set_title(f"{name} (s = {per['s']:g}, d = 1), {len(runs)} seeds")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "tv_vs_n.png", dpi=90)
    plt.close(fig)
    names.append("tv_vs_n.png")

    fig, axes = plt.subplots(k, 1, figsize=(8, 2.6 * k), squeeze=False)
    for ax, name in zip(axes[:, 0], config.densities):
        r = runs[0][name]
        x = np.asarray(r["curve_x"])
        ax.plot(x, r["curve_true"], "k", lw=1.2, label="true p")
        for e in ("smoothed", "kde", "dsm"):
            if f"curve_{e}" in r:
                ax.plot(x, r[f"curve_{e}"], color=_STYLE[e][0], lw=0.8, label=_STYLE[e][2])
        ax.set_xlim(-1.1, 1.1)
        ax.set_title(f"{name}: estimates at n = {r['ns'][-1]} (seed 0)", fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "densities.png", dpi=90)
    plt.close(fig)
    names.append("densities.png")
    return names

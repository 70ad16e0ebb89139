"""diffusion-rate: the diffusion estimator — a score network fitted by empirical DSM — reaches TV ~ n^{-s/(2s+d)}.

Paper: Oko, Akiyama, Suzuki, "Diffusion Models are Minimax Optimal Distribution Estimators" (ICML 2023). Claim (a
theorem; the paper reports no experiment): with the OU forward process, a score network in a class that grows with
n (width ~ N = n^{d/(2s+d)}, the B-spline basis size of its approximation) fitted by minimizing the *empirical*
denoising score-matching loss on [t0, T], T ~ log n, t0 ~ n^{-2/(2s+d)}, the reverse SDE's law at t0 is within
TV ~ n^{-s/(2s+d)} (up to logs) of a Besov-s density: the minimax rate.

Our setting (d = 1, densities with exact smoothness s, see ``datadiet.diffusion.densities``), per n on a grid:
  dsm        the estimator judged: ``SplineScoreNet`` (a first layer of hat (order-1 B-spline) units with knots every
             h_l, h_l from 1/2 down to b_n, then an MLP with a log-t embedding; the data Gaussian's score as a skip,
             the network's part scaled by m_t) fitted by Adam on the empirical DSM loss on [t0, log n], t0 with
             sigma_t0 = b_n = c n^{-1/(2s+d)}: each step ``dsm_batch`` data points x ``dsm_draws`` fresh (t, z),
             a quarter of the t draws log-uniform on [t0, 30 t0] (more weight near small t), the rest log-uniform on
             [t0, T]; knots ~ 1/b_n ~ n^{1/(2s+d)} (the theory's width), MLP width and steps ~ n^{1/4}; no early
             stopping (the empirical loss's minimizer over all functions on [t0, T] is the closed-form score below,
             so there is no memorization to stop). Its law is that of the reverse SDE from N(0, 1) at T = log n,
             computed on a grid without Monte Carlo (DDPM-ancestral chain at 128 and 64 steps, extrapolated to the
             continuous-time law: ``reverse_sde_law``). ``dsm_ode`` is the same network through the
             probability-flow ODE (pushed N(0,1) quantiles), reported, not judged.
  smoothed   reference curve: the closed-form kernel-smoothed empirical score (bandwidth h_n), reverse process run
             to t = 1e-6; its law is (1/n) sum_i N(m_t x_i, b_n^2) — the law the unsmoothed empirical score (the
             exact minimizer of the empirical DSM loss on [t0, T]) produces at t0, up to the factor m_t0. c is set
             once per seed from a KDE cross-validated on an independent pilot sample of the smallest n, so only
             the exponent comes from the theory.
  memorize   the unsmoothed empirical score run to t = 1e-11 (no early stopping): TV stays near 1.
  kde        Gaussian KDE with a 5-fold likelihood-cross-validated bandwidth (the classical baseline).
At each DSM n the population score error err(t) = E_{p_t} sigma_t^2 |s - s*|^2 of the network and of the closed
form is computed by quadrature (``score_error_profile``): the population DSM loss (log-t average of floor + err)
and the Girsanov integral int E|s - s*|^2 dt show whether, and at which t, the network falls short of the closed
form.

How ours differs from the paper: d = 1 (TV on a grid; W1 is uninformative in 1-D); a smooth (SiLU) MLP head on
fixed-knot hat features, trained by Adam for seconds on CPU, stands in for the paper's exact empirical-risk
minimizer over a sparse ReLU class with clipped outputs; the head's width and the steps grow like n^{1/4}, not the
theory's n^{1/(2s+1)} polylog (that would not fit the CPU budget); the constant c of the early-stopping scale is
fitted once per seed; n <= 2^14 and 3 seeds.

Rerun:
    datadiet diffusion rate --seeds 3 --out results/diffusion-rate
    datadiet reproduce run diffusion-rate --seeds 3
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ._threads import one_blas_thread
from .base import Verdict, pyplot, summarize

NAME = "diffusion-rate"
CLAIM = (
    "A diffusion model (score network fitted by empirical denoising score matching + early-stopped reverse SDE) "
    "estimates an s-smooth density in TV at the minimax rate n^{-s/(2s+d)} (Oko, Akiyama, Suzuki, ICML 2023)."
)
PAPER = "Oko, Akiyama, Suzuki, Diffusion Models are Minimax Optimal Distribution Estimators (ICML 2023)"
PAPER_RESULT = ("theorem only: TV(p, p_hat) <~ n^{-s/(2s+d)} (up to logs) for the empirical-DSM score network and "
                "early stopping t0 ~ n^{-2/(2s+d)}; no experiment reported")
KEY_METRICS = ("slope_dsm_*", "theory_slope_*", "slope_smoothed_*", "tv_dsm_*", "girsanov_dsm_*")
SEEDS = 3
ESTIMATORS = ("dsm", "smoothed", "kde", "memorize", "dsm_ode")


@dataclass(frozen=True)
class Config:
    """Defaults: two smoothness levels, closed forms at n = 2^8..2^14, the DSM network at 2^8, 2^10, 2^12, 2^14."""

    densities: tuple[str, ...] = ("lacunary-0.5", "lacunary-1.5")
    ns: tuple[int, ...] = (256, 512, 1024, 2048, 4096, 8192, 16384)
    dsm_ns: tuple[int, ...] = (256, 1024, 4096, 16384)  # n where the DSM network is trained (the costly part)
    tolerance: float = 0.1  # |slope - theory| allowed for the DSM network
    grid_points: int = 2**16  # TV grid on [-1.5, 1.5]
    memorize_grid_points: int = 2**20
    t_stop: float = 1e-6  # smoothed: where the reverse process stops
    t_memorize: float = 1e-11  # memorize: where the reverse process stops
    dsm_steps: int = 800  # at the smallest DSM n; grows like (n / n0)^dsm_growth
    dsm_width: int = 40  # MLP width at the smallest DSM n; grows like (n / n0)^dsm_growth
    dsm_growth: float = 0.25
    dsm_depth: int = 2
    dsm_batch: int = 256  # data points per step
    dsm_draws: int = 4  # (t, z) draws per data point per step
    dsm_lr: float = 3e-3
    dsm_small_t: float = 0.25  # fraction of t draws log-uniform on [t0, 30 t0]
    dsm_arch: str = "spline"  # "spline" (SplineScoreNet) or "mlp" (ScoreNet)
    sde_steps: int = 128  # reverse-SDE law: ancestral chain at sde_steps and sde_steps // 2, extrapolated
    sde_grid_points: int = 2**15  # grid on [-5, 5] for the SDE law
    quantiles: int = 4096  # ODE trajectories (prior quantiles) per DSM density
    ode_steps: int = 64
    profile_times: int = 13  # t values (log-spaced on [t0, T]) of the population score-error profile
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
        if not self.dsm_ns or sorted(set(self.dsm_ns)) != list(self.dsm_ns) or not set(self.dsm_ns) <= set(self.ns):
            raise InputError(f"dsm_ns {self.dsm_ns} must be increasing sizes within the n grid {self.ns}")
        if not 0 < self.t_memorize < self.t_stop < 0.01:
            raise InputError(f"need 0 < t_memorize < t_stop < 0.01; got {self.t_memorize}, {self.t_stop}")
        if self.sde_steps < 4 or self.sde_grid_points < 256 or self.profile_times < 2:
            raise InputError("need sde_steps >= 4, sde_grid_points >= 256, profile_times >= 2")


QUICK = Config(ns=(64, 128, 256), dsm_ns=(64, 256), grid_points=2**13, memorize_grid_points=2**16,
               t_memorize=1e-9, dsm_steps=80, dsm_batch=64, dsm_width=16, dsm_depth=2, sde_steps=16,
               sde_grid_points=2**12, quantiles=512, ode_steps=16, profile_times=5, curve_points=200)
BUDGET_SECONDS = 328  # measured in `datadiet reproduce all` on 2026-12-02 (2 cores, quiet machine)
QUICK_BUDGET_SECONDS = 15


def theory_slope(s: float, d: int = 1) -> float:
    """-s / (2s + d): the exponent of the minimax TV rate."""
    return -s / (2 * s + d)


def fit_slope(ns, errs) -> float:
    """Least-squares slope of log err against log n."""
    x, y = np.log(np.asarray(ns, float)), np.log(np.asarray(errs, float))
    return float(np.polyfit(x, y, 1)[0])


def _rng(seed: int, name: str, *more: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(name.encode()), *more]))


def dsm_config(config: Config, n: int, t0: float, b: float):
    """The DSM training config at sample size n: knots down to b, MLP width and steps ~ (n / n0)^dsm_growth."""
    from ..diffusion import DSMConfig

    f = (n / config.dsm_ns[0]) ** config.dsm_growth
    return DSMConfig(arch=config.dsm_arch, skip="full", width=max(4, int(round(config.dsm_width * f))),
                     depth=config.dsm_depth, steps=max(1, int(round(config.dsm_steps * f))), batch=config.dsm_batch,
                     draws=config.dsm_draws, lr=config.dsm_lr, warmup=0.05, t_min=t0, small_t=config.dsm_small_t,
                     val_frac=0.0, h=b)


def _dsm_cell(p, x, t0, b, config: Config, seed: int, g, pg) -> dict:
    """Train the network at this n; TV of its reverse-SDE law (and ODE law); population score errors."""
    import torch

    from ..diffusion import (density_from_quantiles, girsanov, grid, horizon, log_t_average, prior_quantiles,
                             probability_flow, reverse_sde_law, score_error_profile, train_score_net, tv_grid)

    n = x.shape[0]
    cfg = dsm_config(config, n, t0, b)
    net, hist = train_score_net(x, cfg, seed=seed, device=torch.device("cpu"))
    score = lambda y, t: net(y, t)  # noqa: E731
    T = horizon(n)
    tic = time.perf_counter()
    gs = grid(-5.0, 5.0, config.sde_grid_points)
    law = reverse_sde_law(score, T, t0, config.sde_steps, gs)
    tv_sde = tv_grid(law, p.pdf(gs), gs)
    with torch.no_grad():
        y = probability_flow(score, prior_quantiles(config.quantiles, torch.float32), T, t0, config.ode_steps)
    dens_ode = density_from_quantiles(y.numpy(), g)
    sample_seconds = time.perf_counter() - tic
    ts = np.geomspace(t0, T, config.profile_times)
    prof = score_error_profile(p, ts, score, x)
    floor = np.asarray(prof["floor"])
    return {
        "tv_sde": tv_sde, "tv_ode": tv_grid(dens_ode, pg, g), "law_sde": np.interp(g, gs, law),
        "train_seconds": hist["seconds"], "sample_seconds": sample_seconds, "steps": cfg.steps, "width": cfg.width,
        "knots": int(net.knots()) if hasattr(net, "knots") else None, "train_loss_last": hist.get("train_last"),
        "profile_t": prof["t"], "profile_floor": prof["floor"], "profile_err": prof["err"],
        "profile_err_closed": prof["err_closed"], "profile_err_vs_closed": prof["err_vs_closed"],
        "pop_dsm_loss": log_t_average(ts, floor + np.asarray(prof["err"])),
        "pop_dsm_loss_closed": log_t_average(ts, floor + np.asarray(prof["err_closed"])),
        "pop_dsm_loss_true": log_t_average(ts, floor),
        "girsanov": girsanov(ts, prof["err"]), "girsanov_closed": girsanov(ts, prof["err_closed"]),
        "girsanov_vs_closed": girsanov(ts, prof["err_vs_closed"]),
    }


_DSM_KEYS = ("train_seconds", "sample_seconds", "steps", "width", "knots", "train_loss_last", "pop_dsm_loss",
             "pop_dsm_loss_closed", "pop_dsm_loss_true", "girsanov", "girsanov_closed", "girsanov_vs_closed")


def run(config: Config, seed: int) -> dict:
    """One seed: TV of every estimator at every n, for every density; the network's diagnostics at each DSM n."""
    import torch

    torch.set_num_threads(1)  # the 2-core budget is shared; threads only add contention at these sizes
    with one_blas_thread():
        return _run(config, seed)


def _run(config: Config, seed: int) -> dict:
    import torch

    from ..diffusion import (gaussian_mixture_on_grid, get_density, grid, kde_cv_bandwidth, kde_on_grid, m_t,
                             sigma_t, t_for_sigma, tv_grid)

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
        bands, diag, profiles = [], {k: [] for k in _DSM_KEYS}, []
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
                cell = _dsm_cell(p, x, t_for_sigma(b), b, config, seed, g, pg)
                rows["dsm"].append(cell["tv_sde"])
                rows["dsm_ode"].append(cell["tv_ode"])
                for k in _DSM_KEYS:
                    diag[k].append(cell[k])
                profiles.append({k[len("profile_"):]: cell[k] for k in cell if k.startswith("profile_")})
                if n == config.dsm_ns[-1]:
                    curves["dsm"] = cell["law_sde"]
            if n == config.ns[-1]:
                curves.update(true=pg, smoothed=law, kde=kde)
        idx = np.linspace(0, g.size - 1, config.curve_points).round().astype(int)
        out[name] = {
            "s": s, "c": c, "ns": list(config.ns), "dsm_ns": list(config.dsm_ns), "bandwidth": bands,
            **{f"tv_{e}": v for e, v in rows.items()}, **{f"dsm_{k}": v for k, v in diag.items()},
            "dsm_profiles": profiles,
            "curve_x": g[idx].tolist(), **{f"curve_{k}": v[idx].tolist() for k, v in curves.items()},
        }
    return out


RULE = (
    "Per density, per seed, fit the slope of log TV vs log n. Held iff for every density the mean slope of the DSM "
    "network's reverse-SDE law ('dsm', the paper's estimator) is within `tolerance` of -s/(2s+d), AND the "
    "memorizing control stalls (mean TV at the largest n >= 0.5). The closed form ('smoothed'), the KDE and the "
    "network through the ODE ('dsm_ode') are reference curves, not part of the rule."
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
            ns = rs[0]["dsm_ns"] if e.startswith("dsm") else rs[0]["ns"]
            if len(ns) < 2:
                continue
            slopes = [fit_slope(ns, r[f"tv_{e}"]) for r in rs]
            m[f"slope_{e}_{name}"] = summarize(slopes)
            m[f"tv_{e}_{name}_n{ns[-1]}"] = summarize([r[f"tv_{e}"][-1] for r in rs])
            per[f"mean_tv_{e}"] = np.exp(np.mean([np.log(r[f"tv_{e}"]) for r in rs], axis=0)).tolist()
            per[f"ns_{e}"] = ns
        dn = rs[0]["dsm_ns"]
        for j, n in enumerate(dn):
            m[f"tv_dsm_{name}_n{n}"] = summarize([r["tv_dsm"][j] for r in rs])
            m[f"tv_ratio_dsm_smoothed_{name}_n{n}"] = summarize(
                [r["tv_dsm"][j] / r["tv_smoothed"][r["ns"].index(n)] for r in rs])
            for key, field in (("girsanov_dsm", "girsanov"), ("girsanov_closed", "girsanov_closed"),
                               ("pop_dsm_loss", "pop_dsm_loss"), ("pop_dsm_loss_closed", "pop_dsm_loss_closed"),
                               ("pop_dsm_loss_true", "pop_dsm_loss_true")):
                m[f"{key}_{name}_n{n}"] = summarize([r[f"dsm_{field}"][j] for r in rs])
            m[f"dsm_train_seconds_{name}_n{n}"] = summarize([r["dsm_train_seconds"][j] for r in rs])
        per["dsm_steps"], per["dsm_width"], per["dsm_knots"] = rs[0]["dsm_steps"], rs[0]["dsm_width"], rs[0]["dsm_knots"]
        ok_slope = "slope_dsm_" + name in m and abs(m[f"slope_dsm_{name}"]["mean"] - th) <= config.tolerance
        ok_mem = m[f"tv_memorize_{name}_n{rs[0]['ns'][-1]}"]["mean"] >= 0.5
        per.update(slope_within_tolerance=bool(ok_slope), memorize_stalls=ok_mem, c=[r["c"] for r in rs])
        held = held and ok_slope and ok_mem
        details["per_density"][name] = per
        if k == 0 and f"slope_dsm_{name}" in m:
            m["slope"] = m[f"slope_dsm_{name}"]
            m["theory_slope"] = m[f"theory_slope_{name}"]
    figures = _figures(config, runs, details, out)
    return Verdict(held=held, rule=RULE, metrics=m, figures=figures, details=details)


_STYLE = {"dsm": ("tab:purple", "s", "diffusion, DSM network (reverse SDE)"),
          "dsm_ode": ("tab:pink", "d", "DSM network, probability-flow ODE"),
          "smoothed": ("tab:blue", "o", "closed-form smoothed score (reference)"),
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
            ax.plot(per[f"ns_{e}"], per[f"mean_tv_{e}"], marker=mk, color=col, label=lab,
                    lw=2 if e == "dsm" else 1)
        ref_e = "dsm" if "ns_dsm" in per else "smoothed"
        ns = np.asarray(per[f"ns_{ref_e}"], float)
        ref = per[f"mean_tv_{ref_e}"][0] * (ns / ns[0]) ** per["theory_slope"]
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

    fig, axes = plt.subplots(1, k, figsize=(5.2 * k, 4.0), squeeze=False)
    for ax, name in zip(axes[0], config.densities):
        r = runs[0][name]
        cmap = plt.get_cmap("viridis")
        for j, (n, prof) in enumerate(zip(r["dsm_ns"], r["dsm_profiles"])):
            col = cmap(j / max(1, len(r["dsm_ns"]) - 1))
            ax.plot(prof["t"], prof["err"], color=col, marker="s", ms=3, label=f"network, n = {n}")
            ax.plot(prof["t"], prof["err_closed"], color=col, ls=":", lw=1)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("t")
        ax.set_ylabel("E_{p_t} sigma_t^2 |s - s*|^2")
        ax.set_title(f"{name}: population score error (seed 0; dotted: closed form)", fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "score_error_vs_t.png", dpi=90)
    plt.close(fig)
    names.append("score_error_vs_t.png")

    fig, axes = plt.subplots(k, 1, figsize=(8, 2.6 * k), squeeze=False)
    for ax, name in zip(axes[:, 0], config.densities):
        r = runs[0][name]
        x = np.asarray(r["curve_x"])
        ax.plot(x, r["curve_true"], "k", lw=1.2, label="true p")
        for e in ("smoothed", "kde", "dsm"):
            if f"curve_{e}" in r:
                n_e = r["dsm_ns"][-1] if e == "dsm" else r["ns"][-1]
                ax.plot(x, r[f"curve_{e}"], color=_STYLE[e][0], lw=0.8, label=f"{_STYLE[e][2]}, n = {n_e}")
        ax.set_xlim(-1.1, 1.1)
        ax.set_title(f"{name}: estimates (seed 0)", fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "densities.png", dpi=90)
    plt.close(fig)
    names.append("densities.png")
    return names

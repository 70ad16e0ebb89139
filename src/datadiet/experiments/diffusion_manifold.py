"""diffusion-manifold: on data along a 1-D curve in R^D the diffusion estimator's rate follows the intrinsic
dimension (1), not the ambient dimension D — with the score learned by a network.

Paper: Oko, Akiyama, Suzuki, "Diffusion Models are Minimax Optimal Distribution Estimators" (ICML 2023), the
low-dimensional extension: when the data lie on a d-dimensional set in R^D, the diffusion estimator (a score
network fitted by empirical DSM, early stopping) attains a Wasserstein-1 rate governed by d, not D (a theorem; the
paper reports no experiment).

Our setting: the ``Curve`` density (a smooth law on a circle arc of radius 0.8, embedded isometrically in R^D by
a fixed orthonormal frame) for D in {2, 8, 32}. The estimator judged (``dsm``): a ``ScoreNet`` (an MLP on x and a
log-t embedding, the data Gaussian's score as a skip, the network's part scaled by m_t) fitted by Adam on the
empirical DSM loss on [t0, log n] (``dsm_batch`` points x ``dsm_draws`` fresh (t, z) per step, a quarter of the
t draws near t0; width and steps ~ n^{1/4}; no early stopping), t0 with sigma_t0 = c n^{-(s+1)/(2s+d)} (d = 1,
s = 1: n^{-2/3}), sampled by the DDPM-ancestral discretization of the reverse SDE from N(0, I) at T = log n
(``generated_dsm`` samples); its error is the sliced Wasserstein distance SW_1 to a large fresh sample of the
truth. Reference (``law``): the closed-form empirical score's exact terminal law (1/n) sum_i N(m_t0 x_i,
sigma_t0^2 I), the minimizer of the empirical DSM loss over all functions, sampled ``generated`` times; a run of
the ancestral SDE with the closed-form score at the smallest n checks the sampler. An ambient-dimension estimator
would fall like n^{-1/D}; the intrinsic-dimension-1 rate of W_1 is n^{-1/2}.

How ours differs from the paper: the paper's low-dimensional set is (as we read it) a linear subspace with a Besov
density on it, the estimator an exact empirical-risk minimizer over a sparse ReLU class; ours is a curved arc in a
2-D plane, a small SiLU MLP trained for seconds, n <= 2^11 and 3 seeds; SW_1 (random 1-D projections) stands in for
W_1, and the network's SW carries a Monte Carlo floor of ``generated_dsm`` samples (``sw_floor_dsm_*``, a fresh
truth sample of that size against the reference), which flattens slopes where the error approaches it.

Rerun:
    datadiet reproduce run diffusion-manifold --seeds 3 --out results/diffusion-manifold
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ._threads import one_blas_thread
from .base import Verdict, pyplot, summarize
from .diffusion_rate import fit_slope

NAME = "diffusion-manifold"
CLAIM = (
    "For data on a 1-D curve in R^D, the diffusion estimator's error falls at the intrinsic-dimension rate, the same "
    "for every ambient dimension D (Oko, Akiyama, Suzuki, ICML 2023)."
)
PAPER = "Oko, Akiyama, Suzuki, Diffusion Models are Minimax Optimal Distribution Estimators (ICML 2023)"
PAPER_RESULT = ("theorem only: for data on a d-dimensional set in R^D the W1 rate depends on d, not D; no "
                "experiment reported")
KEY_METRICS = ("slope_dsm_D*", "slope_spread", "slope_law_D*")
SEEDS = 3


@dataclass(frozen=True)
class Config:
    """Defaults: D in {2, 8, 32}, the network at n = 2^7, 2^9, 2^11, the closed-form law at 2^7..2^11."""

    dims: tuple[int, ...] = (2, 8, 32)
    ns: tuple[int, ...] = (128, 256, 512, 1024, 2048)
    dsm_ns: tuple[int, ...] = (128, 512, 2048)
    c: float = 1.0  # sigma_t0 = c n^{-2/3}
    generated: int = 2**16  # samples of the closed-form law
    reference: int = 2**16  # fresh samples of the truth
    generated_dsm: int = 2**13  # samples of the network's reverse SDE
    projections: int = 128
    levels: int = 2048
    sampler_check: int = 2048  # ancestral-SDE samples with the closed-form score at the smallest n
    sde_steps: int = 64
    dsm_steps: int = 500  # at the smallest DSM n; grows like (n / n0)^dsm_growth
    dsm_width: int = 64
    dsm_growth: float = 0.25
    dsm_depth: int = 2
    dsm_batch: int = 256
    dsm_draws: int = 4
    dsm_lr: float = 3e-3
    dsm_small_t: float = 0.25
    dsm_skip: str = "full"  # the data Gaussian's score as the network's skip: "full" | "diag" covariance | "none"
    max_slope: float = -0.35  # every D's slope must be below this
    max_spread: float = 0.15  # max - min slope over D

    def __post_init__(self):
        if not self.dims or min(self.dims) < 2:
            raise InputError(f"dims {self.dims} must be ambient dimensions >= 2")
        if len(self.ns) < 2 or min(self.ns) < 8 or sorted(set(self.ns)) != list(self.ns):
            raise InputError(f"ns {self.ns} needs >= 2 increasing sizes, each >= 8")
        if len(self.dsm_ns) < 2 or sorted(set(self.dsm_ns)) != list(self.dsm_ns) or not set(self.dsm_ns) <= set(self.ns):
            raise InputError(f"dsm_ns {self.dsm_ns} must be >= 2 increasing sizes within ns {self.ns}")
        if self.c <= 0 or min(self.generated, self.reference, self.generated_dsm) < 64:
            raise InputError("c must be > 0 and generated/reference samples >= 64")


QUICK = Config(ns=(32, 64, 128), dsm_ns=(32, 128), generated=2**12, reference=2**12, generated_dsm=2**10,
               projections=16, levels=128, sampler_check=128, sde_steps=16, dsm_steps=60, dsm_width=16,
               dsm_batch=32)
BUDGET_SECONDS = 175  # measured in `datadiet reproduce all` on 2026-12-02 (2 cores, quiet machine)
QUICK_BUDGET_SECONDS = 10


def _rng(seed: int, *more: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, *more]))


def run(config: Config, seed: int) -> dict:
    import torch

    torch.set_num_threads(1)
    with one_blas_thread():
        return _run(config, seed)


def _run(config: Config, seed: int) -> dict:
    import torch

    from ..diffusion import (Curve, DSMConfig, SlicedW1To, ancestral_sde, empirical_score, horizon, m_t, prior_noise,
                             t_for_sigma, train_score_net)

    out = {}
    for D in config.dims:
        p = Curve(D=D)
        ref = p.sample(config.reference, _rng(seed, D, 1))
        sw_ = SlicedW1To(ref, config.projections, seed, config.levels)  # SW_1(., ref)
        floor = sw_(p.sample(config.generated, _rng(seed, D, 2)))
        floor_dsm = sw_(p.sample(config.generated_dsm, _rng(seed, D, 4)))
        sw, sw_dsm, secs, check = [], [], [], {}
        for n in config.ns:
            rng = _rng(seed, D, 3, n)
            x = p.sample(n, rng)
            sig = config.c * n ** (-2.0 / 3.0)
            t0 = t_for_sigma(sig)
            law = m_t(t0) * x[rng.integers(n, size=config.generated)] + sig * rng.standard_normal((config.generated, D))
            sw.append(sw_(law))
            if n == config.ns[0]:
                X = torch.from_numpy(x)
                gen = torch.Generator().manual_seed(seed)
                y = ancestral_sde(lambda y, t: empirical_score(y, t, X), prior_noise(config.sampler_check, D, gen,
                                  torch.float64), horizon(n), t0, config.sde_steps, generator=gen).numpy()
                check = {"sw_sde": sw_(y), "sw_law_same_size": sw_(law[: config.sampler_check])}
            if n in config.dsm_ns:
                f = (n / config.dsm_ns[0]) ** config.dsm_growth
                cfg = DSMConfig(arch="mlp", skip=config.dsm_skip, width=max(4, int(round(config.dsm_width * f))),
                                depth=config.dsm_depth, steps=max(1, int(round(config.dsm_steps * f))),
                                batch=config.dsm_batch, draws=config.dsm_draws, lr=config.dsm_lr, warmup=0.05,
                                t_min=t0, small_t=config.dsm_small_t, val_frac=0.0)
                net, hist = train_score_net(x, cfg, seed=seed, device=torch.device("cpu"))
                gen = torch.Generator().manual_seed(int(np.random.SeedSequence([seed, D, 5, n]).generate_state(1)[0]))
                with torch.no_grad():
                    y = ancestral_sde(lambda y, t: net(y, t), prior_noise(config.generated_dsm, D, gen), horizon(n),
                                      t0, config.sde_steps, generator=gen).double().numpy()
                sw_dsm.append(sw_(y))
                secs.append(hist["seconds"])
        out[str(D)] = {"ns": list(config.ns), "dsm_ns": list(config.dsm_ns), "sw": sw, "sw_dsm": sw_dsm,
                       "floor": floor, "floor_dsm": floor_dsm, "dsm_train_seconds": secs, **check}
    return out


RULE = (
    "Per D and seed, fit the slope of log SW_1 vs log n of the DSM network's reverse-SDE samples ('dsm', the "
    "paper's estimator). Held iff every D's mean slope is <= max_slope (far below the ambient rate -1/D for D >= 8) "
    "AND the spread of the mean slopes over D is <= max_spread. The closed-form law ('law') is a reference curve."
)


def check(config: Config, runs: list[dict], out_dir) -> Verdict:
    m: dict[str, dict] = {}
    means, details = {}, {"theory_slope_intrinsic": -0.5, "per_D": {}}
    for D in config.dims:
        rs = [r[str(D)] for r in runs]
        slopes = [fit_slope(r["dsm_ns"], r["sw_dsm"]) for r in rs]
        m[f"slope_dsm_D{D}"] = summarize(slopes)
        m[f"slope_law_D{D}"] = summarize([fit_slope(r["ns"], r["sw"]) for r in rs])
        m[f"slope_D{D}"] = m[f"slope_dsm_D{D}"]
        for j, n in enumerate(config.dsm_ns):
            m[f"sw_dsm_D{D}_n{n}"] = summarize([r["sw_dsm"][j] for r in rs])
        m[f"sw_D{D}_n{config.ns[-1]}"] = summarize([r["sw"][-1] for r in rs])
        m[f"sw_floor_D{D}"] = summarize([r["floor"] for r in rs])
        m[f"sw_floor_dsm_D{D}"] = summarize([r["floor_dsm"] for r in rs])
        m[f"sw_sde_D{D}_n{config.ns[0]}"] = summarize([r["sw_sde"] for r in rs])
        m[f"sw_law_D{D}_n{config.ns[0]}"] = summarize([r["sw_law_same_size"] for r in rs])
        m[f"dsm_train_seconds_D{D}"] = summarize([sum(r["dsm_train_seconds"]) for r in rs])
        means[D] = m[f"slope_dsm_D{D}"]["mean"]
        details["per_D"][str(D)] = {
            "ambient_slope": -1.0 / D,
            "mean_sw": np.exp(np.mean([np.log(r["sw"]) for r in rs], axis=0)).tolist(),
            "mean_sw_dsm": np.exp(np.mean([np.log(r["sw_dsm"]) for r in rs], axis=0)).tolist()}
    spread = max(means.values()) - min(means.values())
    m["slope_spread"] = summarize([spread])
    law_means = [m[f"slope_law_D{D}"]["mean"] for D in config.dims]
    m["slope_spread_law"] = summarize([max(law_means) - min(law_means)])
    m["slope"] = summarize([float(np.mean(list(means.values())))])
    m["theory_slope"] = summarize([-0.5])
    held = all(v <= config.max_slope for v in means.values()) and spread <= config.max_spread
    details.update(every_slope_below_max={str(D): v <= config.max_slope for D, v in means.items()},
                   spread_within_max=spread <= config.max_spread)
    figures = _figure(config, runs, details, Path(out_dir))
    return Verdict(held=held, rule=RULE, metrics=m, figures=figures, details=details)


def _figure(config, runs, details, out: Path) -> list[str]:
    plt = pyplot()
    out.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4))
    for ax, key, ns, title in ((axes[0], "mean_sw_dsm", config.dsm_ns, "DSM network (reverse SDE)"),
                               (axes[1], "mean_sw", config.ns, "closed-form law (reference)")):
        ns = np.asarray(ns, float)
        for D, col in zip(config.dims, ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple")):
            sw = np.asarray(details["per_D"][str(D)][key])
            ax.plot(ns, sw / sw[0], marker="o", color=col, label=f"D = {D}")
            ax.plot(ns, (ns / ns[0]) ** (-1.0 / D), ls=":", color=col, lw=1)
        ax.plot(ns, (ns / ns[0]) ** -0.5, "k--", lw=1, label="n^{-1/2} (intrinsic d = 1)")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("n")
        ax.set_ylabel("SW_1 / SW_1 at smallest n")
        ax.set_title(f"{title}: {len(runs)} seeds; dotted: n^(-1/D)", fontsize=9)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "manifold_rate.png", dpi=90)
    plt.close(fig)
    return ["manifold_rate.png"]

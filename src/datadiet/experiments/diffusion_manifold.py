"""diffusion-manifold: on data along a 1-D curve in R^D the diffusion estimator's rate follows the intrinsic
dimension (1), not the ambient dimension D.

Oko, Akiyama, Suzuki (ICML 2023) show the diffusion estimator adapts to a low-dimensional support: the Wasserstein
rate is governed by the intrinsic dimension d, not D. Setting: the ``Curve`` density (a smooth law on a circle arc,
embedded isometrically in R^D by a fixed orthonormal frame) for D in {2, 8, 32}; the estimator is the closed-form
empirical score early-stopped at t0 with sigma_t0 = c n^{-(s+1)/(2s+d)} (d = 1, s = 1: n^{-2/3}); its exact terminal
law (1/n) sum_i N(m_t0 x_i, sigma_t0^2 I) is sampled and compared with a large fresh sample of the truth by the
sliced Wasserstein distance SW_1. A run of the reverse SDE itself (closed-form score) at the smallest n checks that
the sampler reaches that law. An ambient-dimension estimator would fall like n^{-1/D}; here every D should give a
slope near -1/2 (the intrinsic-dimension-1 rate of W_1).

Rerun:
    datadiet reproduce run diffusion-manifold --seeds 5 --out results/diffusion-manifold
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from .base import Verdict, pyplot, summarize
from .diffusion_rate import fit_slope

NAME = "diffusion-manifold"
CLAIM = (
    "For data on a 1-D curve in R^D, the diffusion estimator's error falls at the intrinsic-dimension rate, the same "
    "for every ambient dimension D (Oko, Akiyama, Suzuki, ICML 2023)."
)


@dataclass(frozen=True)
class Config:
    """Defaults: D in {2, 8, 32}, n = 2^8..2^12 (~1 min per seed on 2 shared cores)."""

    dims: tuple[int, ...] = (2, 8, 32)
    ns: tuple[int, ...] = (256, 512, 1024, 2048, 4096)
    c: float = 1.0  # sigma_t0 = c n^{-2/3}
    generated: int = 2**17  # samples of the estimator's law
    reference: int = 2**17  # fresh samples of the truth
    projections: int = 128
    levels: int = 2048
    sampler_check: int = 2048  # reverse-SDE samples at the smallest n
    sde_steps: int = 64
    max_slope: float = -0.35  # every D's slope must be below this
    max_spread: float = 0.15  # max - min slope over D

    def __post_init__(self):
        if not self.dims or min(self.dims) < 2:
            raise InputError(f"dims {self.dims} must be ambient dimensions >= 2")
        if len(self.ns) < 2 or min(self.ns) < 8 or sorted(set(self.ns)) != list(self.ns):
            raise InputError(f"ns {self.ns} needs >= 2 increasing sizes, each >= 8")
        if self.c <= 0 or self.generated < 64 or self.reference < 64:
            raise InputError("c must be > 0 and generated/reference samples >= 64")


QUICK = Config(ns=(32, 64, 128), generated=2**12, reference=2**12, projections=16, levels=128,
               sampler_check=128, sde_steps=16)


def run(config: Config, seed: int) -> dict:
    import torch

    from ..diffusion import (Curve, empirical_score, horizon, m_t, prior_noise, reverse_sde, sliced_wasserstein,
                             t_for_sigma)

    out = {}
    for D in config.dims:
        p = Curve(D=D)
        ref = p.sample(config.reference, np.random.default_rng(np.random.SeedSequence([seed, D, 1])))
        floor = sliced_wasserstein(p.sample(config.generated, np.random.default_rng(np.random.SeedSequence([seed, D, 2]))),
                                   ref, config.projections, seed, config.levels)
        sw, check = [], {}
        for n in config.ns:
            rng = np.random.default_rng(np.random.SeedSequence([seed, D, 3, n]))
            x = p.sample(n, rng)
            sig = config.c * n ** (-2.0 / 3.0)
            t0 = t_for_sigma(sig)
            law = m_t(t0) * x[rng.integers(n, size=config.generated)] + sig * rng.standard_normal((config.generated, D))
            sw.append(sliced_wasserstein(law, ref, config.projections, seed, config.levels))
            if n == config.ns[0]:
                X = torch.from_numpy(x)
                gen = torch.Generator().manual_seed(seed)
                y = reverse_sde(lambda y, t: empirical_score(y, t, X), prior_noise(config.sampler_check, D, gen, torch.float64),
                                horizon(n), t0, config.sde_steps, generator=gen).numpy()
                check = {"sw_sde": sliced_wasserstein(y, ref, config.projections, seed, config.levels),
                         "sw_law_same_size": sliced_wasserstein(law[: config.sampler_check], ref, config.projections,
                                                                seed, config.levels)}
        out[str(D)] = {"ns": list(config.ns), "sw": sw, "floor": floor, **check}
    return out


RULE = (
    "Per D and seed, fit the slope of log SW_1 vs log n. Held iff every D's mean slope is <= max_slope (far below "
    "the ambient rate -1/D for D >= 8) AND the spread of the mean slopes over D is <= max_spread."
)


def check(config: Config, runs: list[dict], out_dir) -> Verdict:
    m: dict[str, dict] = {}
    means, details = {}, {"theory_slope_intrinsic": -0.5, "per_D": {}}
    for D in config.dims:
        rs = [r[str(D)] for r in runs]
        slopes = [fit_slope(r["ns"], r["sw"]) for r in rs]
        m[f"slope_D{D}"] = summarize(slopes)
        m[f"sw_D{D}_n{config.ns[-1]}"] = summarize([r["sw"][-1] for r in rs])
        m[f"sw_floor_D{D}"] = summarize([r["floor"] for r in rs])
        m[f"sw_sde_D{D}_n{config.ns[0]}"] = summarize([r["sw_sde"] for r in rs])
        m[f"sw_law_D{D}_n{config.ns[0]}"] = summarize([r["sw_law_same_size"] for r in rs])
        means[D] = m[f"slope_D{D}"]["mean"]
        details["per_D"][str(D)] = {"ambient_slope": -1.0 / D,
                                    "mean_sw": np.exp(np.mean([np.log(r["sw"]) for r in rs], axis=0)).tolist()}
    spread = max(means.values()) - min(means.values())
    m["slope_spread"] = summarize([spread])
    m["slope"] = summarize([float(np.mean(list(means.values())))])
    m["theory_slope"] = summarize([-0.5])
    held = all(v <= config.max_slope for v in means.values()) and spread <= config.max_spread
    figures = _figure(config, runs, details, Path(out_dir))
    return Verdict(held=held, rule=RULE, metrics=m, figures=figures, details=details)


def _figure(config, runs, details, out: Path) -> list[str]:
    plt = pyplot()
    out.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 4.4))
    ns = np.asarray(config.ns, float)
    for D, col in zip(config.dims, ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple")):
        sw = np.asarray(details["per_D"][str(D)]["mean_sw"])
        ax.plot(ns, sw / sw[0], marker="o", color=col, label=f"D = {D}")
        ax.plot(ns, (ns / ns[0]) ** (-1.0 / D), ls=":", color=col, lw=1)
    ax.plot(ns, (ns / ns[0]) ** -0.5, "k--", lw=1, label="n^{-1/2} (intrinsic d = 1)")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("n")
    ax.set_ylabel("SW_1 / SW_1 at smallest n")
    ax.set_title(f"curve in R^D: error vs n ({len(runs)} seeds; dotted: n^(-1/D))", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "manifold_rate.png", dpi=90)
    plt.close(fig)
    return ["manifold_rate.png"]

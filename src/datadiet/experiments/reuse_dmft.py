"""reuse-dmft: the DMFT (d → ∞) and the finite-d simulation agree, with each other and with the authors' results.

Paper (Dandi, Troiani, Arnaboldi, Pesce, Zdeborová, Krzakala, arXiv 2402.03220, Fig. on tanh(He_1(z1) + He_3(z2))):
the dynamical mean-field theory of multi-pass GD on n = α·d samples predicts the overlaps of the simulation,
and a reused batch learns both directions of a multi-index target in a few steps. The authors' repository
IdePHICS/benefit-reusing-batch (commit 5469d413fee4ac63be4dc872e95efbd4a4370152) stores, for that target,
their DMFT overlaps (data/DMFT_A3_T7_P2_sym=TEST_lambda0.0_lr0.2_samples10000000.npz) and 32 simulations at
D = 5000 (data/simulations_A3_p2_k2_D5000_T7_sym=offline_learn_lambda0.0_lr0.2_onlineFalse.npz); the few
numbers compared here are in experiments/data/benefit_reusing_batch.json with that citation.

Their setting, read from simulation.py / dmft.py / result.ipynb at that commit (no code copied): target
y = tanh(z1 + z2³ − 3z2) (He_3 *not* normalized), two ReLU neurons, a = (+1, −1)/√2 fixed, α = 3, the sum loss
½Σ_μ(f − y)² with lr 0.2 on weights of norm √D read through h = w·x/√D, student rows orthonormal and orthogonal
to the target at t = 0, overlaps reported as m_jr = w_j·w*_r/D (not a cosine), t = 0..6.

Ours, setting "authors": the same dynamics written on unit-norm rows with the mean loss, so lr 0.2 on the sum
loss is η = α·0.2 = 0.6 (identical iterates up to the √D scale); teacher W* = e_1, e_2 instead of a random
orthonormal pair (the same law: inputs isotropic, init rotation invariant); init="orthogonal" (orthonormal rows
⊥ W*, theirs too); float32 simulator; ReLU'(0) = 0 (theirs 1: a null set). Our DMFT is derived independently
(cavity method) and takes ReLU's point-mass Hessian term by Gaussian integration by parts, where theirs keeps the
Gauss–Newton part only; it runs 4 × 200k paths where theirs ran 10⁷. Simulated at their D = 5000 with their 32
runs. The other settings compare DMFT with our own simulation only:
  he3-multi    He_3/√6, tanh, one neuron, α = 4, η = 2, multi-pass (the reuse effect);
  he3-one      the same, one-pass (DMFT: no memory, overlap stays 0).

Their DMFT approximates one thing ours does not: dmft.py's ``next_noise_step`` draws fresh normals for the whole
history at every step and keeps the last block, so each step's noise has the right variance but no correlation with
the same path's earlier noise. In our solver the same approximation (``solve_dmft(noise_correlations=False)``)
moves m̄ by up to 0.007 at t = 6 (measured, docs/reuse.md); ``dmft_margin`` = 0.007 is that allowance. The
simulations are the ground truth of the dynamics: our 32 runs must match their 32 runs at D = 5000 statistically.

Rule. "authors": for t = 1..6 and both directions, the neuron-symmetrized overlap m̄_r = (m_1r − m_2r)/2
(m_2 = −m_1 in law: see _reuse_common.symmetrized) of (a) our simulation is within 3 combined s.e. of their
simulation (+ ``sim_margin`` when our d is not 5000), (b) our DMFT within 3 combined s.e. (their Monte Carlo error
taken as ours × √(our paths / 10⁷)) + ``dmft_margin`` of their DMFT, (c) our DMFT within 3 combined s.e. +
``margin`` of our simulation, (d) our exact step-0 test error within 3 s.e. of theirs, and (e) at t = 1..6 the
population error of our simulation within 3 combined s.e. of their fresh-sample test error (+ ``sim_margin`` when our
d is not 5000). he3-*: |DMFT − simulation| of the signed cosine within 3 combined s.e. + ``margin`` at every step.

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
from ._reuse_common import authors_results, sim_seeds, symmetrized
from .base import Verdict, pyplot

NAME = "reuse-dmft"
CLAIM = ("The dynamical mean-field theory of multi-pass and one-pass GD predicts the overlaps of the finite-d "
         "simulation within error bars, and both reproduce the authors' stored DMFT and simulation overlaps for "
         "tanh(He_1(z1) + He_3(z2)) (arXiv 2402.03220).")
PAPER = ("Dandi, Troiani, Arnaboldi, Pesce, Zdeborová, Krzakala, The Benefits of Reusing Batches for Gradient "
         "Descent in Two-Layer Networks, ICML 2024 (arXiv 2402.03220); stored results of "
         "IdePHICS/benefit-reusing-batch@5469d41")
PAPER_RESULT = ("authors' DMFT m_11 = 0.076, 0.124, 0.155, 0.179, 0.198, 0.216 at t = 1..6 (α = 3, lr 0.2, 2 ReLU "
                "neurons); their 32 simulations at D = 5000 agree within ±0.002")
KEY_METRICS = ("authors_sim_m1_step6", "authors_dmft_m1_step6", "authors_sim_m2_step6", "authors_dmft_m2_step6",
               "max_gap_authors_dmft")
SEEDS = 1
BUDGET_SECONDS = 90  # measured in `datadiet reproduce all` on 2026-12-02 (2 cores, quiet machine)

SETTINGS = {
    "he3-multi": dict(target="he3", student="tanh", width=1, alpha=4.0, eta=2.0, steps=4, passes="multi",
                      second_layer="ones", init="random"),
    "he3-one": dict(target="he3", student="tanh", width=1, alpha=4.0, eta=2.0, steps=4, passes="one",
                    second_layer="ones", init="random"),
    "authors": dict(target="tanh:he1+he3raw", student="relu", width=2, alpha=3.0, eta=0.6, steps=6, passes="multi",
                    second_layer="signs", init="orthogonal"),
}
AUTHORS_D = 5000
AUTHORS_DMFT_PATHS = 10_000_000


@dataclass(frozen=True)
class Config:
    """Defaults: d = 1600 (he3-*), the authors' D = 5000 and 32 runs (authors), DMFT 4 × 200k paths."""

    settings: tuple[str, ...] = ("he3-multi", "he3-one", "authors")
    d: int = 1600
    sims: int = 40
    authors_d: int = AUTHORS_D
    authors_sims: int = 32
    paths: int = 200_000
    repeats: int = 4
    margin: float = 0.01  # DMFT vs our simulation: finite-d allowance on top of 3 combined s.e.
    dmft_margin: float = 0.007  # our DMFT vs theirs: the measured effect of their uncorrelated-noise approximation
    sim_margin: float = 0.0  # our simulation vs theirs when authors_d != 5000 (finite-d allowance)


QUICK = Config(settings=("he3-multi", "authors"), d=400, sims=24, authors_d=800, authors_sims=16, paths=50_000,
               repeats=3, margin=0.02, dmft_margin=0.007, sim_margin=0.01)


def run(config: Config, seed: int) -> dict:
    out = {}
    for name in config.settings:
        s = SETTINGS[name]
        d, sims = (config.authors_d, config.authors_sims) if name == "authors" else (config.d, config.sims)
        sim = simulate(SimConfig(d=d, **s), sim_seeds(seed, sims))
        dm = solve_dmft(s["target"], student=s["student"], alpha=s["alpha"], eta=s["eta"], steps=s["steps"],
                        passes=s["passes"], width=s["width"], second_layer=s["second_layer"],
                        paths=config.paths, repeats=config.repeats, seed=seed)
        k = sim.target.k
        out[name] = {
            "sim": {"signed": [sim.per_seed(r, "signed").tolist() for r in range(k)],
                    "m": np.round(sim.magnetization(), 7).tolist(), "test_error": sim.test_error.tolist(),
                    "seconds": round(sim.seconds, 2)},
            "dmft": {"table": dm.table(), "m": dm.m.tolist(), "m_sem": dm.m_sem.tolist(),
                     "test_error": dm.test_error.tolist()},
        }
    return out


def _mean_sem(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return x.mean(0), x.std(0, ddof=1) / math.sqrt(len(x))


def _check_own(config: Config, name: str, runs: list[dict], metrics: dict, failures: list, curves: dict) -> None:
    """DMFT vs our simulation, signed cosine per direction and step (the he3-* settings)."""
    k = len(runs[0][name]["sim"]["signed"])
    for r in range(k):
        suffix = "" if r == 0 else f"_{r + 1}"
        sims = np.concatenate([np.asarray(run[name]["sim"]["signed"][r]) for run in runs])  # (S, T+1)
        sim_mean, sim_sem = _mean_sem(sims)
        dm = np.array([[row[f"signed_mean{suffix}"] for row in run[name]["dmft"]["table"]] for run in runs])
        dm_sem = np.array([[row[f"signed_sem{suffix}"] for row in run[name]["dmft"]["table"]] for run in runs])
        dm_mean, dm_err = dm.mean(0), np.sqrt((dm_sem**2).sum(0)) / len(runs)
        gap = np.abs(dm_mean - sim_mean)
        tol = 3 * np.hypot(sim_sem, dm_err) + config.margin
        curves[f"{name}{suffix}"] = {"ylabel": "signed cos(w, w*)", "series": {
            f"simulation d={config.d}": (sim_mean.tolist(), sim_sem.tolist()),
            "DMFT (d → ∞)": (dm_mean.tolist(), dm_err.tolist())}}
        for t in range(1, len(gap)):
            metrics[f"gap_{name}{suffix}_step{t}"] = {"mean": float(gap[t]), "sem": float(tol[t] / 3), "n": len(sims)}
            if gap[t] > tol[t]:
                failures.append(f"{name} direction {r + 1} step {t}: DMFT {dm_mean[t]:+.3f} vs simulation "
                                f"{sim_mean[t]:+.3f} (tolerance {tol[t]:.3f})")
        metrics[f"dmft_{name}{suffix}_final"] = {"mean": float(dm_mean[-1]), "sem": float(dm_err[-1]), "n": len(runs)}
        metrics[f"sim_{name}{suffix}_final"] = {"mean": float(sim_mean[-1]), "sem": float(sim_sem[-1]), "n": len(sims)}


def _check_authors(config: Config, runs: list[dict], metrics: dict, failures: list, curves: dict) -> dict:
    """Our simulation and DMFT against the authors' stored simulation and DMFT (symmetrized m̄_r per step)."""
    ref = authors_results()
    sim_m = np.concatenate([np.asarray(run["authors"]["sim"]["m"]) for run in runs])  # (S, T+1, 2, k)
    sim_mean, sim_sem = _mean_sem(symmetrized(sim_m))  # (T+1, k)
    dm = np.array([symmetrized(run["authors"]["dmft"]["m"]) for run in runs])
    dm_sem_1 = np.array([np.asarray(run["authors"]["dmft"]["m_sem"]).mean(-2) for run in runs])  # ≥ sem of m̄
    dm_mean, dm_sem = dm.mean(0), np.sqrt((dm_sem_1**2).sum(0)) / len(runs)
    th_sim = symmetrized(ref["simulation_m_mean"])
    th_sim_sem = np.asarray(ref["simulation_m_sem"]).mean(-2)  # (σ_1 + σ_2)/2 ≥ s.e. of (m_1 − m_2)/2
    th_dm = symmetrized(ref["dmft_m"])
    our_paths = config.paths * config.repeats * len(runs)
    th_dm_sem = dm_sem * math.sqrt(our_paths / AUTHORS_DMFT_PATHS)
    T = min(len(th_dm), len(sim_mean)) - 1
    sim_margin = config.sim_margin if config.authors_d != AUTHORS_D else 0.0
    comparisons = [
        ("authors_sim", "our simulation", sim_mean, sim_sem, "their simulation", th_sim, th_sim_sem, sim_margin),
        ("authors_dmft", "our DMFT", dm_mean, dm_sem, "their DMFT", th_dm, th_dm_sem, config.dmft_margin),
        ("authors_own", "our DMFT", dm_mean, dm_sem, "our simulation", sim_mean, sim_sem, config.margin),
    ]
    table = {}
    for key, a_name, a, a_sem, b_name, b, b_sem, margin in comparisons:
        gaps = []
        for r in range(th_dm.shape[-1]):
            for t in range(1, T + 1):
                gap = abs(a[t, r] - b[t, r])
                tol = 3 * math.hypot(a_sem[t, r], b_sem[t, r]) + margin
                gaps.append(gap)
                metrics[f"gap_{key}_m{r + 1}_step{t}"] = {"mean": float(gap), "sem": float(tol / 3), "n": 1}
                if gap > tol:
                    failures.append(f"authors setting, m̄_{r + 1} step {t}: {a_name} {a[t, r]:+.4f} vs {b_name} "
                                    f"{b[t, r]:+.4f} (gap {gap:.4f} > tolerance {tol:.4f})")
        metrics[f"max_gap_{key}"] = {"mean": float(max(gaps)), "sem": 0.0, "n": len(gaps)}
    n_sims = len(sim_m)
    for r in range(th_dm.shape[-1]):
        for t in range(1, T + 1):
            metrics[f"authors_sim_m{r + 1}_step{t}"] = {"mean": float(sim_mean[t, r]), "sem": float(sim_sem[t, r]),
                                                        "n": n_sims}
            metrics[f"authors_dmft_m{r + 1}_step{t}"] = {"mean": float(dm_mean[t, r]), "sem": float(dm_sem[t, r]),
                                                         "n": len(runs)}
        table[f"m{r + 1}"] = {"their_dmft": th_dm[: T + 1, r].tolist(), "their_sim": th_sim[: T + 1, r].tolist(),
                              "their_sim_sem": th_sim_sem[: T + 1, r].tolist(),
                              "our_dmft": dm_mean[: T + 1, r].tolist(), "our_dmft_sem": dm_sem[: T + 1, r].tolist(),
                              "our_sim": sim_mean[: T + 1, r].tolist(), "our_sim_sem": sim_sem[: T + 1, r].tolist()}
        base = th_sim[: T + 1, r]  # residuals to their simulation: the curves themselves overlap at this scale
        curves[f"authors m̄{r + 1}: residual to their simulation"] = {
            "ylabel": f"m̄_{r + 1} − their simulation (m̄ = (m_1{r + 1} − m_2{r + 1})/2)", "series": {
                f"their simulation D={AUTHORS_D}": ((base - base).tolist(), th_sim_sem[: T + 1, r].tolist()),
                "their DMFT": ((th_dm[: T + 1, r] - base).tolist(), None),
                f"our simulation d={config.authors_d}": ((sim_mean[: T + 1, r] - base).tolist(),
                                                         sim_sem[: T + 1, r].tolist()),
                "our DMFT": ((dm_mean[: T + 1, r] - base).tolist(), dm_sem[: T + 1, r].tolist())}}
    # step-0 test error: ours is exact in law (orthonormal init), theirs a mean over 32 runs on fresh samples
    ours0 = float(np.mean([run["authors"]["sim"]["test_error"][0][0] for run in runs]))
    th0, th0_sem = ref["simulation_test_error_mean"][0], ref["simulation_test_error_sem"][0]
    metrics["authors_test_error_step0"] = {"mean": ours0, "sem": 0.0, "n": 1}
    if abs(ours0 - th0) > 3 * th0_sem:
        failures.append(f"authors setting, step-0 test error: ours {ours0:.4f} vs theirs {th0:.4f} ± {th0_sem:.4f}")
    sim_err = np.concatenate([np.asarray(run["authors"]["sim"]["test_error"]) for run in runs])
    err_mean, err_sem = _mean_sem(sim_err)
    th_err, th_err_sem = np.asarray(ref["simulation_test_error_mean"]), np.asarray(ref["simulation_test_error_sem"])
    err_gaps = []
    for t in range(1, min(len(th_err), len(err_mean))):
        gap = abs(err_mean[t] - th_err[t])
        err_gaps.append(gap)
        if gap > 3 * math.hypot(err_sem[t], th_err_sem[t]) + sim_margin:
            failures.append(f"authors setting, test error step {t}: ours {err_mean[t]:.4f} ± {err_sem[t]:.4f} vs "
                            f"theirs {th_err[t]:.4f} ± {th_err_sem[t]:.4f}")
    metrics["max_gap_authors_test_error"] = {"mean": float(max(err_gaps)), "sem": 0.0, "n": len(err_gaps)}
    metrics["authors_test_error_step6"] = {"mean": float(err_mean[-1]), "sem": float(err_sem[-1]), "n": n_sims}
    table["test_error"] = {"their_sim": th_err.tolist(), "their_sim_sem": th_err_sem.tolist(),
                           "our_sim": err_mean.tolist(), "our_sim_sem": err_sem.tolist(),
                           "our_dmft": runs[0]["authors"]["dmft"]["test_error"]}
    return table


def check(config: Config, runs: list[dict], out_dir: Path) -> Verdict:
    metrics, failures, curves, details = {}, [], {}, {}
    for name in config.settings:
        if name == "authors":
            details["authors"] = _check_authors(config, runs, metrics, failures, curves)
        else:
            _check_own(config, name, runs, metrics, failures, curves)
    figure = _plot(curves, out_dir)
    rule = (f"he3-*: |DMFT - simulation(d={config.d})| of the signed cosine <= 3 combined s.e. + {config.margin} at "
            "every step. authors (tanh(He1(z1)+He3(z2)), 2 ReLU, alpha=3, lr 0.2 on the sum loss): for t = 1..6 "
            "and both directions the symmetrized overlap m = w.w* of our simulation (d = "
            f"{config.authors_d}) is within 3 combined s.e."
            + (f" + {config.sim_margin}" if config.authors_d != AUTHORS_D else "")
            + f" of the authors' stored simulation (D = {AUTHORS_D}), our DMFT within 3 combined Monte Carlo s.e. + "
            f"{config.dmft_margin} of their stored DMFT and within 3 combined s.e. + {config.margin} of our "
            "simulation; our exact step-0 test error within 3 s.e. of theirs and our population error at t = 1..6 "
            "within 3 combined s.e. of their test error "
            "(IdePHICS/benefit-reusing-batch@5469d413fee4ac63be4dc872e95efbd4a4370152)")
    details.update({"failures": failures, "curves": curves})
    return Verdict(held=not failures, rule=rule, metrics=metrics, figures=[figure], details=details)


def _plot(curves: dict, out_dir: Path) -> str:
    plt = pyplot()
    fig, axes = plt.subplots(1, len(curves), figsize=(3.4 * len(curves), 3.3), squeeze=False)
    styles = {"their": dict(ls="-", marker="s"), "our": dict(ls="--", marker="x")}
    for ax, (name, c) in zip(axes[0], curves.items()):
        for label, (mean, sem) in c["series"].items():
            steps = np.arange(len(mean))
            style = styles.get(label.split()[0], dict(ls="-", marker="o"))
            ax.errorbar(steps, mean, yerr=sem, ms=3, capsize=2, label=label, **style)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("step")
        ax.set_ylabel(c["ylabel"], fontsize=8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    fig.tight_layout()
    name = "reuse_dmft_vs_simulation.png"
    fig.savefig(Path(out_dir) / name, dpi=110)
    plt.close(fig)
    return name

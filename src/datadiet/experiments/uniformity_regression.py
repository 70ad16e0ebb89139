"""uniformity-regression: larger h_min -> faster gradient descent, in the paper's own setting.

Wang, Gu, Shi et al., "Data Uniformity Improves Training Efficiency" (arXiv 2506.24120) prove, for
l2 regression with a wide two-layer network trained by gradient descent, that the training loss
contracts per step by a factor governed by a constant that shrinks with h_min, the smallest
pairwise distance of the training inputs. The mechanism is the NTK picture (Du et al. 2019): the
residual evolves as r <- (I - eta H / n) r, and lambda_min(H) of the Gram matrix is small when two
inputs nearly coincide (for ReLU, H(x,x) - H(x,x') grows linearly in |x - x'|).

Setting (pure numpy, float64):
  inputs   x on the unit sphere S^{d-1}, d = 3 (h_min varies over orders of magnitude with the sampling);
  labels   y = a fixed random smooth teacher (4 random sines of projections, per seed) + N(0, noise^2);
  student  f(x) = (1/sqrt m) sum_j a_j relu(w_j . x), first layer W trained, a_j = +-1 fixed
           (Du et al. 2019); "doubling" init (each w_j twice, with +a and -a) so f_0 = 0 exactly;
  training full-batch GD on L = (1/2n) sum_i (f(x_i) - y_i)^2 with a fixed step eta = 2, stable for
           every set since lambda_max(H)/n <= max_i H_ii ~ 1/2, so eta * lambda_max <= 1.
Conditions per training-set size n: ``flat`` (uniform on the sphere), ``biased`` (a mixture: most
mass in a small cap, the rest uniform), ``maxmin`` (greedy max-min, euclidean, from a biased pool
of pool_factor * n points) and ``random`` (n random points of the same pool).

Rate (one robust measure, always defined): the mean per-step log-contraction of the loss until it
has fallen by 1/eps or the horizon ends, whichever comes first,
    rate = log(L_0 / L_tau) / tau,   tau = min(first step with L_t <= eps L_0, steps),
with the crossing interpolated linearly in log L (so an exact geometric L_t = c q^t gives -log q).
A run that crosses earlier always has a larger rate than one that does not; two runs that do not
cross are ordered by their loss at the horizon.

Rerun:
    datadiet reproduce uniformity-regression --seeds 3 --out results/uniformity-regression
    # or: from datadiet.experiments.runner import reproduce; reproduce("uniformity-regression", seeds=3)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..select import maxmin, metrics, random_subset
from .base import Verdict, pyplot, summarize

NAME = "uniformity-regression"
CLAIM = (
    "Training inputs with a larger minimum pairwise distance h_min make gradient descent on a "
    "two-layer network converge faster (arXiv 2506.24120)."
)
PAPER_RESULT = "Its convergence theorem (beyond the NTK regime): gradient descent on a two-layer network converges faster when the training inputs' minimum pairwise distance h_min is larger"
KEY_METRICS = ['spearman_hmin_rate', 'spearman_hmin_ntk_lambda_min', 'rate_maxmin_n32', 'rate_random_n32']
BUDGET_SECONDS = 51  # measured in `datadiet reproduce all` on 2026-12-02 (2 cores, quiet machine)
CONDITIONS = ("flat", "biased", "maxmin", "random")


@dataclass(frozen=True)
class Config:
    """Defaults: a CPU-sized version of the paper's theorem setting (3 seeds: ~80 s on 2 cores)."""

    d: int = 3  # input dimension; inputs on S^{d-1}
    ns: tuple[int, ...] = (16, 32, 64)  # training-set sizes
    width: int = 1024  # m, hidden units (even: doubling init)
    eta: float = 2.0  # GD step size on the mean loss
    steps: int = 10000  # GD horizon per run
    eps: float = 1e-3  # rate = log(L_0/L_tau)/tau, tau = min(steps until L <= eps * L_0, horizon)
    noise: float = 0.1  # label noise std (the theorem bounds every label vector, noise included)
    teacher_terms: int = 4  # y = sum_k c_k sin(omega v_k . x + phi_k), normalized to unit scale
    teacher_freq: float = 2.0  # omega
    cap_mass: float = 0.8  # biased: share of points in the cap
    cap_radius: float = 0.3  # biased: angular radius of the cap (radians)
    pool_factor: int = 20  # maxmin/random choose n of pool_factor * n biased points
    curve_points: int = 200  # loss-curve samples stored per run (log-spaced steps)

    def __post_init__(self):
        if self.d < 2:
            raise InputError(f"d={self.d} must be at least 2 (inputs lie on S^(d-1))")
        if not self.ns or min(self.ns) < 3:
            raise InputError(f"ns={self.ns} needs sizes of at least 3 (a rank correlation needs points)")
        if self.width < 2 or self.width % 2:
            raise InputError(f"width={self.width} must be an even number >= 2 (doubling init)")
        if not (self.eta > 0 and self.steps >= 1 and 0 < self.eps < 1):
            raise InputError(f"need eta > 0, steps >= 1, 0 < eps < 1; got {self.eta}, {self.steps}, {self.eps}")
        if not 0 <= self.cap_mass <= 1 or not 0 < self.cap_radius < math.pi:
            raise InputError(f"cap_mass={self.cap_mass} must be in [0,1], cap_radius={self.cap_radius} in (0, pi)")
        if self.pool_factor < 1:
            raise InputError(f"pool_factor={self.pool_factor} must be at least 1")


QUICK = Config(ns=(8, 16), width=256, steps=3000, curve_points=60)


# ---------------------------------------------------------------- data

def sample_sphere(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    """n points uniform on S^{d-1}, shape (n, d)."""
    Z = rng.standard_normal((n, d))
    return Z / np.linalg.norm(Z, axis=1, keepdims=True)


def sample_biased(rng: np.random.Generator, n: int, d: int, center: np.ndarray,
                  cap_mass: float, cap_radius: float) -> np.ndarray:
    """Mixture on S^{d-1}: with prob cap_mass uniform in the cap {angle(x, center) <= cap_radius}
    (angle drawn area-weighted for d = 3, approximately otherwise), else uniform on the sphere."""
    X = sample_sphere(rng, n, d)
    in_cap = rng.random(n) < cap_mass
    k = int(in_cap.sum())
    if k:
        # angle theta with density ~ sin^{d-2}(theta) on [0, cap_radius] (exact by rejection)
        theta = np.empty(k)
        filled = 0
        while filled < k:
            t = rng.random(2 * (k - filled) + 8) * cap_radius
            keep = t[rng.random(t.size) * np.sin(cap_radius) ** (d - 2) <= np.sin(t) ** (d - 2)]
            take = min(keep.size, k - filled)
            theta[filled:filled + take] = keep[:take]
            filled += take
        U = rng.standard_normal((k, d))
        U -= (U @ center)[:, None] * center[None, :]  # tangent direction at center
        U /= np.linalg.norm(U, axis=1, keepdims=True)
        X[in_cap] = np.cos(theta)[:, None] * center[None, :] + np.sin(theta)[:, None] * U
    return X


def make_teacher(rng: np.random.Generator, d: int, terms: int, freq: float):
    """A fixed smooth target on the sphere: y(x) = sum_k c_k sin(freq v_k . x + phi_k) / sqrt(terms)."""
    V = sample_sphere(rng, terms, d)
    c = rng.standard_normal(terms)
    phi = rng.uniform(0, 2 * math.pi, terms)

    def teacher(X: np.ndarray) -> np.ndarray:
        return np.sin(freq * X @ V.T + phi) @ c / math.sqrt(terms)

    return teacher


# ---------------------------------------------------------------- student

def init_student(rng: np.random.Generator, width: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    """W (width, d) ~ N(0, I) and a in {+-1}, each (w, a) paired with (w, -a) so that f_0 = 0."""
    half = width // 2
    W0 = rng.standard_normal((half, d))
    a0 = rng.choice([-1.0, 1.0], size=half)
    return np.vstack([W0, W0]), np.concatenate([a0, -a0])


def student(W: np.ndarray, a: np.ndarray, X: np.ndarray) -> np.ndarray:
    """f(X) = relu(X W^T) a / sqrt(m), shape (n,)."""
    return np.maximum(X @ W.T, 0.0) @ a / math.sqrt(W.shape[0])


def loss_and_grad(W: np.ndarray, a: np.ndarray, X: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """L = (1/2n) |f(X) - y|^2 and dL/dW = (1/(n sqrt m)) [(r 1[XW^T > 0]) * a]^T X."""
    n, m = X.shape[0], W.shape[0]
    Z = X @ W.T
    r = np.maximum(Z, 0.0) @ a / math.sqrt(m) - y
    G = ((r[:, None] * (Z > 0)) * a[None, :]).T @ X / (n * math.sqrt(m))
    return 0.5 * float(r @ r) / n, G


def ntk_gram(W: np.ndarray, a: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Empirical NTK of the first layer: H_ij = (x_i . x_j) (1/m) sum_r a_r^2 1[w_r.x_i > 0] 1[w_r.x_j > 0]."""
    S = (X @ W.T > 0) * np.abs(a)[None, :]
    return (X @ X.T) * (S @ S.T) / W.shape[0]


def ntk_lambda_min(W: np.ndarray, a: np.ndarray, X: np.ndarray) -> float:
    """Smallest eigenvalue of the NTK Gram matrix H (the paper's contraction constant scales with it)."""
    return float(np.linalg.eigvalsh(ntk_gram(W, a, X))[0])


def train(W: np.ndarray, a: np.ndarray, X: np.ndarray, y: np.ndarray, eta: float, steps: int,
          stop_below: float = 0.0) -> np.ndarray:
    """Full-batch GD on W; returns the loss before every step and after the last (length <= steps + 1).

    Stops early once the loss is below ``stop_below`` (after the rate is measurable, to save time)."""
    W = W.copy()
    losses = np.empty(steps + 1)
    for t in range(steps):
        L, G = loss_and_grad(W, a, X, y)
        losses[t] = L
        if L <= stop_below:
            return losses[: t + 1]
        W -= eta * G
    losses[steps] = loss_and_grad(W, a, X, y)[0]
    return losses


# ---------------------------------------------------------------- the rate

def convergence_rate(losses, eps: float) -> tuple[float, float, bool]:
    """(rate, tau, censored): rate = log(L_0 / L_tau) / tau, the mean per-step log-contraction.

    tau is the first (fractional) step with L_t <= eps L_0, interpolated linearly in log L between
    the two steps around the crossing, so an exact geometric sequence L_t = c q^t gives
    rate = -log q exactly. If the loss never gets there, tau = len(losses) - 1 (the horizon),
    censored=True, and the rate is the mean contraction over the whole run.
    """
    L = np.asarray(losses, dtype=np.float64)
    if L.ndim != 1 or L.size < 2 or not L[0] > 0 or not np.isfinite(L).all():
        raise InputError("losses must be a finite 1-D sequence of at least 2 values with losses[0] > 0")
    if not 0 < eps < 1:
        raise InputError(f"eps={eps} must be in (0, 1)")
    logL = np.log(np.maximum(L, np.finfo(float).tiny))
    target = logL[0] + math.log(eps)
    below = np.flatnonzero(logL <= target)
    if below.size == 0:
        tau = float(L.size - 1)
        return float(logL[0] - logL[-1]) / tau, tau, True
    t = int(below[0])  # >= 1 since eps < 1
    prev, cur = logL[t - 1], logL[t]
    tau = (t - 1) + (prev - target) / (prev - cur)
    return math.log(1 / eps) / tau, tau, False


# ---------------------------------------------------------------- one seed

def _training_sets(config: Config, seed: int, n: int) -> dict[str, np.ndarray]:
    d = config.d
    center = sample_sphere(np.random.default_rng(np.random.SeedSequence([seed, 10])), 1, d)[0]
    rng = np.random.default_rng(np.random.SeedSequence([seed, 20, n]))
    flat = sample_sphere(rng, n, d)
    biased = sample_biased(rng, n, d, center, config.cap_mass, config.cap_radius)
    pool = sample_biased(rng, config.pool_factor * n, d, center, config.cap_mass, config.cap_radius)
    sel_seed = int(rng.integers(2**31))
    mm = maxmin(pool, n, metric="euclidean", seed=sel_seed, dtype=np.float64).indices
    rnd = random_subset(pool.shape[0], n, seed=sel_seed)
    return {"flat": flat, "biased": biased, "maxmin": pool[mm], "random": pool[rnd]}


def _max_rise(losses: np.ndarray) -> float:
    """Largest relative one-step increase of the loss while it is above 1e-12 L_0 (0 if monotone)."""
    L = losses[losses > 1e-12 * losses[0]]
    return float(max(0.0, (np.diff(L) / L[:-1]).max())) if L.size > 1 else 0.0


def _curve(losses: np.ndarray, points: int) -> tuple[list[int], list[float]]:
    steps = np.unique(np.round(np.geomspace(1, losses.size, points)).astype(int) - 1)
    steps = np.unique(np.concatenate(([0], steps)))
    return steps.tolist(), losses[steps].tolist()


def run(config: Config, seed: int) -> dict:
    """One seed: for every n and condition, h_min, NTK lambda_min at init, loss curve and rate."""
    teacher = make_teacher(np.random.default_rng(np.random.SeedSequence([seed, 0])),
                           config.d, config.teacher_terms, config.teacher_freq)
    W, a = init_student(np.random.default_rng(np.random.SeedSequence([seed, 1])), config.width, config.d)
    cells = []
    for n in config.ns:
        sets = _training_sets(config, seed, n)
        noise = np.random.default_rng(np.random.SeedSequence([seed, 30, n])).standard_normal(n)
        for cond in CONDITIONS:
            X = sets[cond]
            y = teacher(X) + config.noise * noise  # same noise draws across conditions (paired)
            L0 = 0.5 * float(y @ y) / n  # f_0 = 0
            # run a little past eps so the curve shows the tail, then stop
            losses = train(W, a, X, y, config.eta, config.steps, stop_below=0.1 * config.eps * L0)
            rate, tau, censored = convergence_rate(losses, config.eps)
            lam = ntk_lambda_min(W, a, X)
            steps, curve = _curve(losses, config.curve_points)
            cells.append({
                "condition": cond, "n": n,
                "h_min": metrics.h_min(X, np.arange(n), metric="euclidean"),
                "ntk_lambda_min": lam, "ntk_rate_bound": -math.log1p(-min(config.eta * lam / n, 1 - 1e-15)),
                "rate": rate, "tau": tau, "censored": censored,
                "loss0": L0, "max_rise": _max_rise(losses),
                "curve_steps": steps, "curve_loss": curve,
            })
    return {"cells": cells}


# ---------------------------------------------------------------- check

def spearman(x, y) -> float:
    """Spearman rank correlation (average ranks for ties)."""
    rx, ry = _ranks(np.asarray(x, float)), _ranks(np.asarray(y, float))
    rx, ry = rx - rx.mean(), ry - ry.mean()
    den = math.sqrt(float(rx @ rx) * float(ry @ ry))
    return float(rx @ ry) / den if den > 0 else 0.0


def _ranks(v: np.ndarray) -> np.ndarray:
    order = np.argsort(v, kind="stable")
    r = np.empty(v.size)
    r[order] = np.arange(v.size, dtype=float)
    for val in np.unique(v):  # average ties
        tie = v == val
        if tie.sum() > 1:
            r[tie] = r[tie].mean()
    return r


RULE = (
    "rate = log(L_0/L_tau)/tau, tau = min(first (log-interpolated) GD step with L_t <= eps*L_0, "
    "horizon `steps`). Held iff the per-seed Spearman rank correlation of h_min and rate over all runs "
    "(4 conditions x all n) has mean - 2*sem > 0, AND for every n the mean rate of maxmin exceeds "
    "the mean rate of random (both from the same biased pool)."
)


def check(config: Config, runs: list[dict], out_dir) -> Verdict:
    """Aggregate over seeds, decide the claim by RULE, draw the figures."""
    out = Path(out_dir)
    cell = {}  # (cond, n) -> list over seeds of the cell dict
    for r in runs:
        for c in r["cells"]:
            cell.setdefault((c["condition"], c["n"]), []).append(c)
    m: dict[str, dict] = {}
    for (cond, n), cs in cell.items():
        m[f"rate_{cond}_n{n}"] = summarize([c["rate"] for c in cs])
        m[f"h_min_{cond}_n{n}"] = summarize([c["h_min"] for c in cs])
        m[f"ntk_lambda_min_{cond}_n{n}"] = summarize([c["ntk_lambda_min"] for c in cs])
    rho = [spearman([c["h_min"] for c in r["cells"]], [c["rate"] for c in r["cells"]]) for r in runs]
    rho_lam = [spearman([c["h_min"] for c in r["cells"]], [c["ntk_lambda_min"] for c in r["cells"]])
               for r in runs]
    m["spearman_hmin_rate"] = summarize(rho)
    m["spearman_hmin_ntk_lambda_min"] = summarize(rho_lam)
    within = {}
    for n in config.ns:
        per_seed = []
        for r in runs:
            cs = [c for c in r["cells"] if c["n"] == n]
            per_seed.append(spearman([c["h_min"] for c in cs], [c["rate"] for c in cs]))
        within[n] = per_seed
        m[f"spearman_hmin_rate_n{n}"] = summarize(per_seed)

    s = m["spearman_hmin_rate"]
    corr_ok = s["mean"] - 2 * s["sem"] > 0
    mm_ok = {n: m[f"rate_maxmin_n{n}"]["mean"] > m[f"rate_random_n{n}"]["mean"] for n in config.ns}
    held = bool(corr_ok and all(mm_ok.values()))

    figures = _figures(config, runs, cell, out)
    all_cells = [c for r in runs for c in r["cells"]]
    details = {
        "rate_definition": f"log(L0/L_tau)/tau with eps={config.eps}; tau = min(first step with "
                           f"L <= eps*L0 (log-interpolated), steps={config.steps})",
        "spearman_ok": bool(corr_ok),
        "maxmin_beats_random": {str(n): bool(v) for n, v in mm_ok.items()},
        "censored_runs": sum(bool(c["censored"]) for c in all_cells),
        "max_relative_loss_rise": max(c["max_rise"] for c in all_cells),
        "runs": len(all_cells),
        "cell_means": {
            f"{cond}_n{n}": {
                "rate": float(np.mean([c["rate"] for c in cs])),
                "h_min": float(np.mean([c["h_min"] for c in cs])),
                "ntk_lambda_min": float(np.mean([c["ntk_lambda_min"] for c in cs])),
                "tau": float(np.mean([c["tau"] for c in cs])),
                "censored": int(sum(bool(c["censored"]) for c in cs)),
            }
            for (cond, n), cs in sorted(cell.items(), key=lambda kv: (kv[0][1], CONDITIONS.index(kv[0][0])))
        },
    }
    return Verdict(held=held, rule=RULE, metrics=m, figures=figures, details=details)


_COLORS = {"flat": "tab:green", "biased": "tab:red", "maxmin": "tab:blue", "random": "tab:orange"}
_MARKERS = "osD^v<>p*h"


def _figures(config: Config, runs: list[dict], cell: dict, out: Path) -> list[str]:
    plt = pyplot()
    out.mkdir(parents=True, exist_ok=True)
    names = []

    # (1) rate vs h_min, and (3) rate vs NTK lambda_min / n
    for fname, key, xlabel in (
        ("rate_vs_hmin.png", "h_min", "h_min (smallest pairwise distance, euclidean)"),
        ("rate_vs_ntk.png", "ntk_lambda_min", "NTK lambda_min at init"),
    ):
        fig, ax = plt.subplots(figsize=(6.4, 4.8))
        for cond in CONDITIONS:
            for j, n in enumerate(config.ns):
                cs = cell.get((cond, n), [])
                ax.scatter([c[key] for c in cs], [c["rate"] for c in cs], color=_COLORS[cond],
                           marker=_MARKERS[j % len(_MARKERS)], alpha=0.75,
                           label=f"{cond} n={n}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(f"rate = log(L0/L_tau)/tau  (eps={config.eps:g}, T={config.steps})")
        ax.set_title(f"GD rate, two-layer ReLU (m={config.width}, d={config.d}), {len(runs)} seeds")
        ax.legend(fontsize=7, ncol=2)
        fig.tight_layout()
        fig.savefig(out / fname, dpi=110)
        plt.close(fig)
        names.append(fname)

    # (2) loss curves for the middle n: geometric mean over seeds of L_t / L_0
    n = config.ns[len(config.ns) // 2]
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    for cond in CONDITIONS:
        cs = cell.get((cond, n), [])
        if not cs:
            continue
        horizon = min(c["curve_steps"][-1] for c in cs)  # every seed's curve covers the grid
        grid = np.unique(np.round(np.geomspace(1, horizon + 1, 200)).astype(int) - 1)
        logs = []
        for c in cs:
            st = np.asarray(c["curve_steps"])
            lv = np.log(np.asarray(c["curve_loss"]) / c["loss0"])
            logs.append(np.interp(grid, st, lv))
        ax.plot(grid + 1, np.exp(np.mean(logs, axis=0)), color=_COLORS[cond], label=cond)
    ax.axhline(config.eps, color="gray", ls=":", lw=1, label=f"eps = {config.eps:g}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("GD step + 1")
    ax.set_ylabel("training loss / initial loss (geometric mean over seeds)")
    ax.set_title(f"training loss, n={n}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "loss_curves.png", dpi=110)
    plt.close(fig)
    names.append("loss_curves.png")
    return names

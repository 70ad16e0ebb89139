"""DIFF2 with the GD routine (Murata & Suzuki, ICML 2023) and DP-GD, as the paper's code runs it.

Round r = 0 .. R−1 (x_{−1} := x_0), P clients with n_p samples, one clipped mean per client:
  r mod T = 0:  m_p = (1/n_p) Σ_i clip_{C1}(∇ℓ(x_r, z_i)),                       v_r = mean_p m_p + ξ_r
  otherwise:    m_p = (1/n_p) Σ_i clip_{C2,r}(∇ℓ(x_r, z_i) − ∇ℓ(x_{r−1}, z_i)),  v_r = v_{r−1} + mean_p m_p + ξ_r
                with C2,r = c2 · ‖x_r − x_{r−1}‖
  GD routine:   x_{r+1} = x_r − η v_r.                     DP-GD is T = 1 (every round a full gradient).
The difference clip scales with the step because ∇ℓ is L-smooth: ‖∇ℓ(x_r) − ∇ℓ(x_{r−1})‖ ≤ L‖x_r − x_{r−1}‖,
so c2 ≈ L clips little and the noise shrinks with the step — the mechanism behind DIFF2's bound. x_r and
x_{r−1} are functions of earlier (noisy) releases only, so C2,r is public and the accounting holds.

Noise ξ_r ~ N(0, s² I) with s = z · 2C/(n_min · P) (replace-one sensitivity of the average of P clipped
means), z1 on full rounds and z2 on difference rounds. The budget is split as in the public reproduction
(lawrenceztang/CE-PLSGM, src/optimizers.py, ``Diff2_GD_Server._set_sigma/_set_sigma2``, commit 39bf24a9):
a share 1/u of the Rényi budget (u = 1.25) to the R1 full releases and (u−1)/u to the R2 difference releases,
i.e. z2 = z1·√(R2 / (R1 (u − 1))); z1 is then calibrated with dp-accounting so the composed ε(δ) meets the
target (the reproduction uses a fixed-order RDP bound instead, which is looser).

``noise="central"`` (the paper's setting): the Gaussian sits on the aggregate. Each client adds an
independent share N(0, P s² I) to its message, so the average carries exactly N(0, s² I); the guarantee holds
for what the aggregate reveals, and against the server only under secure aggregation (which hides the
individual messages). ``noise="local"``: each client's message is private on its own, noise z·2C/n_p per
client, so the average carries √P times the central noise at the same ε.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import torch

from ..errors import InputError
from . import accountant
from .noise import client_noise, round_noise, secure_normal, seeded_normal
from .problems import ClientData, Problem

log = logging.getLogger(__name__)

NOISE_MODES = ("central", "local")
BUDGET_SPLIT_U = 1.25  # u of the reproduction: full releases get 1/u of the Rényi budget


def clip_rows(G: torch.Tensor, C: float | None) -> torch.Tensor:
    """Scale each row g_i to g_i · min(1, C/‖g_i‖); C = None (or inf) leaves G unchanged."""
    if C is None or math.isinf(C):
        return G
    norms = torch.linalg.vector_norm(G, dim=-1, keepdim=True)
    return G * torch.clamp(C / torch.clamp(norms, min=1e-300), max=1.0)


def noise_std(z: float, C: float | None, n: int, P: int = 1, mode: str = "local") -> float:
    """Std of the Gaussian one client adds for noise multiplier z on a mean of n rows clipped to C.

    local: z·2C/n (the client's message alone is private); central: z·2C/(n·√P), one share of the aggregate's
    N(0, (z·2C/(n·P))²) — P independent shares averaged give exactly that.
    """
    if z == 0:
        return 0.0
    if C is None or math.isinf(C):
        return float("inf")
    s = z * 2.0 * C / n
    return s / math.sqrt(P) if mode == "central" else s


@dataclass(frozen=True)
class DPConfig:
    """DIFF2 (period T ≥ 2) or DP-GD (T = 1); noise multipliers come from (ε, δ) unless ``epsilon`` is None.

    c2 is *relative*: the difference clip of round r is c2·‖x_r − x_{r−1}‖ (None: no clipping, non-private).
    ``reproducible`` seeds the noise from the run's seed (repeatable, NOT private).
    """

    rounds: int = 1000
    lr: float = 0.5
    period: int = 10          # T; T = ⌊τR⌋ in the paper's grid
    C1: float | None = 1.0    # clip of per-sample full gradients
    c2: float | None = 30.0   # relative clip of per-sample gradient differences
    epsilon: float | None = 1.0  # None: no noise
    delta: float = 1e-5
    noise: str = "central"
    u: float = BUDGET_SPLIT_U
    accountant: str = "rdp"
    reproducible: bool = False

    def validate(self) -> None:
        if self.rounds < 1:
            raise InputError(f"--rounds must be >= 1 (got {self.rounds})")
        if self.period < 1:
            raise InputError(f"period T must be >= 1 (got {self.period})")
        if not self.lr > 0:
            raise InputError(f"lr must be > 0 (got {self.lr})")
        for name, c in (("C1", self.C1), ("c2", self.c2)):
            if c is not None and not c > 0:
                raise InputError(f"{name} must be > 0 or None (got {c})")
        if self.noise not in NOISE_MODES:
            raise InputError(f"--noise must be one of {', '.join(NOISE_MODES)} (got {self.noise!r})")
        if not self.u > 1:
            raise InputError(f"budget split u must be > 1 (got {self.u})")
        if self.epsilon is not None:
            if not self.epsilon > 0:
                raise InputError(f"--epsilon must be > 0 (got {self.epsilon})")
            if self.C1 is None or (self.period > 1 and self.c2 is None):
                raise InputError("a private run (--epsilon) needs finite clipping C1 and c2")


def noise_multipliers(config: DPConfig) -> tuple[float, float, float | None]:
    """(z1 for full rounds, z2 for difference rounds, achieved ε); zeros and None without ε."""
    if config.epsilon is None:
        return 0.0, 0.0, None
    z1, z2 = _calibrated(config.epsilon, config.delta, config.rounds, config.period, config.u, config.accountant)
    r1, r2 = accountant.release_counts(config.rounds, config.period)
    eps = accountant.epsilon([(z1, r1), (z2, r2)], config.delta, config.accountant)
    return z1, z2, eps


_CAL: dict = {}


def _calibrated(eps: float, delta: float, rounds: int, period: int, u: float, acc: str) -> tuple[float, float]:
    key = (eps, delta, rounds, period, u, acc)
    if key not in _CAL:
        r1, r2 = accountant.release_counts(rounds, period)
        ratio = math.sqrt(r2 / (r1 * (u - 1.0))) if r2 > 0 else 1.0   # z2 / z1
        z2 = accountant.calibrate(eps, delta, rounds, period, acc, ratio=1.0 / ratio)  # composes (z2/ratio, R1), (z2, R2)
        _CAL[key] = (z2 / ratio, z2)
    return _CAL[key]


@dataclass
class DPRun:
    """One run: final x; per-round ‖∇f(x_r)‖² (R+1 values), train loss, ‖v_r − ∇f(x_r)‖²; z1, z2, ε; the
    fraction of per-sample rows clipped on difference rounds; the test metric of the final x."""

    x: torch.Tensor
    grad_norm_sq: list[float]   # at rounds 0, e, 2e, ... (e = record_every) and after the last round
    loss: list[float]
    estimator_err_sq: list[float]
    z1: float
    z2: float
    epsilon: float | None
    clipped_diff_fraction: float
    clipped_full_fraction: float
    test_metric: float
    v_history: list[torch.Tensor] = field(default_factory=list)

    @property
    def z(self) -> float:
        return self.z2

    @property
    def grad_norm_sq_avg(self) -> float:
        """Mean of ‖∇f(x_r)‖² over the recorded rounds r < R: E‖∇f(x̂)‖² for an output x̂ drawn uniformly from
        the iterates (exact with record_every = 1, an unbiased subsample otherwise)."""
        g = self.grad_norm_sq[:-1]
        return sum(g) / len(g)


class ProblemOracle:
    """``FCOracle``'s interface over a ``Problem`` (per-sample gradients by vmap; clients of equal size)."""

    def __init__(self, problem: Problem):
        self.problem = problem
        self.P = len(problem.clients)
        self.n_sizes = [len(c.y) for c in problem.clients]
        if len(set(self.n_sizes)) != 1:
            raise InputError("the in-process engine needs clients of equal size")
        self.d = problem.d
        self._prev = None

    def init(self, seeds) -> torch.Tensor:
        self._prev = None
        return torch.stack([self.problem.init(s) for s in seeds])

    def step(self, theta, diff, C, need_grad: bool = True):
        Gs = [self.problem.per_sample_grads_all(x) for x in theta]            # each (P, n, d)
        means, grads, losses, fr = [], [], [], []
        for k, G in enumerate(Gs):
            D = G - self._prev[k] if (self._prev is not None and bool(diff[k])) else G
            c = float(C[k])
            norms = torch.linalg.vector_norm(D, dim=-1)
            means.append(clip_rows(D, c).mean(1))
            fr.append(float((norms > c).double().mean()) if not math.isinf(c) else 0.0)
            grads.append(G.mean(1).mean(0))
            losses.append(self.problem.loss(theta[k]))
        self._prev = Gs
        return torch.stack(means), torch.stack(grads), torch.tensor(losses, dtype=theta.dtype), torch.tensor(fr)

    def test_metric(self, theta) -> torch.Tensor:
        return torch.tensor([self.problem.test_accuracy(x) for x in theta], dtype=torch.float64)


def run_batch(oracle, configs: list[DPConfig], seeds: list[int], *, keep_v: bool = False,
              on_round=None, record_every: int = 1) -> list[DPRun]:
    """Run K = len(configs) DIFF2/DP-GD runs side by side on one oracle (same data, same R).

    Every run has its own η, T, C1, c2, noise multipliers, noise mode and seed; the oracle evaluates all of
    them (and all P clients) in one pass per round. ‖∇f(x_r)‖², the loss and ‖v_r − ∇f(x_r)‖² are recorded
    on rounds r ≡ 0 mod ``record_every`` (and after the last round).
    """
    if len(configs) != len(seeds) or not configs:
        raise InputError("run_batch needs one seed per config")
    for c in configs:
        c.validate()
    R = configs[0].rounds
    if any(c.rounds != R for c in configs):
        raise InputError("run_batch: every config needs the same number of rounds")
    K, P, d = len(configs), oracle.P, oracle.d
    n_min = min(oracle.n_sizes)
    nz = [noise_multipliers(c) for c in configs]
    x = oracle.init(seeds)
    dt = x.dtype
    lr = torch.tensor([c.lr for c in configs], dtype=dt)[:, None]
    T = torch.tensor([c.period for c in configs])
    inf = float("inf")
    C1 = torch.tensor([inf if c.C1 is None else c.C1 for c in configs], dtype=dt)
    c2 = torch.tensor([inf if c.c2 is None else c.c2 for c in configs], dtype=dt)
    z1 = torch.tensor([a for a, _, _ in nz], dtype=dt)
    z2 = torch.tensor([b for _, b, _ in nz], dtype=dt)
    n_p = torch.tensor(oracle.n_sizes, dtype=dt)
    # per-client share of 2C/n: local 2/n_p, central 2/(n_min·√P)  (times z·C below)
    unit = torch.stack([2.0 / n_p if c.noise == "local" else torch.full((P,), 2.0 / (n_min * math.sqrt(P)), dtype=dt)
                        for c in configs])                                     # (K, P)
    private = [c.epsilon is not None for c in configs]
    secure = [not c.reproducible for c in configs]
    x_prev = x.clone()
    v = torch.zeros_like(x)
    gns, losses, errs, vs = [[] for _ in range(K)], [[] for _ in range(K)], [[] for _ in range(K)], []
    fr_diff, fr_full = torch.zeros(K, dtype=torch.float64), torch.zeros(K, dtype=torch.float64)
    n_diff = torch.zeros(K, dtype=torch.float64)
    for r in range(R):
        full = (r % T) == 0
        step = torch.linalg.vector_norm(x - x_prev, dim=1)
        C = torch.where(full, C1, c2 * step)
        C = torch.where(torch.isnan(C), torch.full_like(C, inf), C)           # inf·0 when c2 = None
        rec = r % record_every == 0
        means, grad, loss, fr = oracle.step(x, ~full, C, need_grad=rec)
        z = torch.where(full, z1, z2)
        std = torch.where(z > 0, z * torch.where(torch.isinf(C), torch.zeros_like(C), C), torch.zeros_like(z))
        std = std[:, None] * unit                                              # (K, P)
        if any(private):
            xi = torch.zeros(K, P, d, dtype=dt)
            sec = [k for k in range(K) if private[k] and secure[k]]
            if sec:
                xi[sec] = secure_normal((len(sec), P, d), dt)
            drawn: dict[int, torch.Tensor] = {}   # runs of one seed share their round's draw: generate it once
            for k in range(K):
                if private[k] and not secure[k]:
                    if seeds[k] not in drawn:
                        drawn[seeds[k]] = seeded_normal(seeds[k], r, (P, d), dt)
                    xi[k] = drawn[seeds[k]]
            means = means + std[..., None] * xi
        agg = means.mean(1)
        v = torch.where(full[:, None], agg, v + agg)
        fr = fr.to(torch.float64)
        fr_diff += torch.where(full, 0.0, fr)
        fr_full += torch.where(full, fr, 0.0)
        n_diff += (~full).to(torch.float64)
        if rec:
            g2 = (grad * grad).sum(1)
            e2 = ((v - grad) ** 2).sum(1)
            for k in range(K):
                gns[k].append(float(g2[k]))
                losses[k].append(float(loss[k]))
                errs[k].append(float(e2[k]))
        if keep_v:
            vs.append(v.clone())
        x_prev, x = x, x - lr * v
        if on_round is not None:
            on_round(r)
    _, grad, loss, _ = oracle.step(x, torch.zeros(K, dtype=torch.bool), torch.full((K,), inf, dtype=dt),
                                   need_grad=True)
    g2 = (grad * grad).sum(1)
    test = oracle.test_metric(x) if hasattr(oracle, "test_metric") else oracle.test_loss(x)
    n_full = torch.tensor([accountant.release_counts(R, c.period)[0] for c in configs], dtype=torch.float64)
    out = []
    for k in range(K):
        gns[k].append(float(g2[k]))
        losses[k].append(float(loss[k]))
        out.append(DPRun(x[k].clone(), gns[k], losses[k], errs[k], nz[k][0], nz[k][1], nz[k][2],
                         float(fr_diff[k] / n_diff[k]) if n_diff[k] > 0 else 0.0, float(fr_full[k] / n_full[k]),
                         float(test[k]), [vv[k] for vv in vs]))
    return out


def run_diff2(problem: Problem, config: DPConfig, seed: int, *, keep_v: bool = False, on_round=None) -> DPRun:
    """One DIFF2 (DP-GD when T = 1) run in process on a ``Problem``; test_metric = test accuracy."""
    return run_batch(ProblemOracle(problem), [config], [seed], keep_v=keep_v, on_round=on_round)[0]


# ------------------------------------------------------------------------------- one client, one server step
def client_message(problem: Problem, data: ClientData, x: torch.Tensor, x_prev: torch.Tensor | None, C: float,
                   std: float, *, client: int, n_clients: int, r: int, seed: int | None) -> torch.Tensor:
    """What client p sends in round r: its clipped mean gradient (x_prev None) or gradient difference, plus
    its Gaussian share of std ``std`` — drawn here from OS entropy, or from ``seed`` when reproducible."""
    G = problem.per_sample_grads(x, data)
    if x_prev is not None:
        G = G - problem.per_sample_grads(x_prev, data)
    m = clip_rows(G, C).mean(0)
    if std > 0:
        m = m + std * client_noise(tuple(m.shape), client, n_clients, r, seed=seed, dtype=m.dtype)
    return m


def server_step(x: torch.Tensor, v_prev: torch.Tensor | None, messages: list[torch.Tensor], full: bool,
                lr: float) -> tuple[torch.Tensor, torch.Tensor]:
    """v_r = mean(messages) on a full round, v_{r−1} + mean(messages) otherwise; x_{r+1} = x_r − η v_r."""
    mean = torch.stack(messages).mean(0)
    v = mean if full or v_prev is None else v_prev + mean
    return x - lr * v, v


def round_plan(config: DPConfig, r: int, x: torch.Tensor, x_prev: torch.Tensor, n_min: int, P: int,
               z1: float, z2: float) -> tuple[bool, float, float]:
    """(full?, clip radius C, per-client noise std) of round r, all computed from public quantities."""
    full = r % config.period == 0
    if full:
        C = math.inf if config.C1 is None else float(config.C1)
    else:
        C = math.inf if config.c2 is None else float(config.c2) * float(torch.linalg.vector_norm(x - x_prev))
    return full, C, noise_std(z1 if full else z2, C, n_min, P, config.noise)


__all__ = ["NOISE_MODES", "DPConfig", "DPRun", "clip_rows", "noise_std", "noise_multipliers", "run_batch",
           "run_diff2", "client_message", "server_step", "round_plan", "ProblemOracle", "round_noise"]

"""Simulate a two-layer student on a Gaussian multi-index target, vectorized over seeds.

Algorithms (Dandi et al., arXiv 2402.03220; Arnaboldi et al., arXiv 2405.15459):
  gd, passes="multi"   full-batch GD on one batch of n = α·d samples, reused at every step;
  gd, passes="one"     the same step on a fresh batch of n samples at every step;
  sgd                  online SGD on one sample per step with step η/d (so a step moves that sample's
                       pre-activation by O(η)), with ``repetition`` "none" (a fresh sample per step),
                       "twice" (each sample used for two consecutive steps) or "extragradient"
                       (w ← w − γ∇ℓ(w − γ∇ℓ(w; x); x)).
The teacher is W* = e_1..e_k: inputs are isotropic and the initialization rotation invariant, so this
is the same law as a random orthonormal W* and saves a d×d rotation.
"""

from __future__ import annotations

import csv
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..errors import InputError
from ..paths import atomic_write
from .backend import get_ops
from .targets import Target, get_target
from .twolayer import Activation, error_from_stats, forward, get_activation, loss_and_grads

ALGORITHMS = ("gd", "sgd")
PASSES = ("multi", "one")
REPETITIONS = ("none", "twice", "extragradient")


@dataclass(frozen=True)
class SimConfig:
    """One simulated setting; the defaults are the He_3 reuse experiment of Dandi et al. at d = 800."""

    target: str = "he3"  # a name from datadiet.reuse.target_names(), or tanh:NAME / sign:NAME
    d: int = 800  # input dimension
    alpha: float = 4.0  # n = alpha·d samples per batch
    eta: float = 2.0  # step on the mean loss (η); SGD uses η/d per sample
    steps: int = 3  # gradient steps (GD) or samples' updates (SGD)
    passes: str = "multi"  # GD: "multi" reuses the batch, "one" draws a fresh batch every step
    student: str = "tanh"  # relu | tanh | erf (or an Activation passed to simulate)
    width: int = 1  # p, hidden units
    algorithm: str = "gd"  # gd | sgd
    repetition: str = "none"  # SGD: none | twice | extragradient
    train_second_layer: bool = False  # also take GD steps on a (same η)
    second_layer: str = "ones"  # a_j = 1/√p ("ones") or alternating +1/√p, −1/√p ("signs")
    spherical: bool = False  # renormalize each w_j to the unit sphere after every step
    ridge: float = 0.0  # λ, weight decay on W
    noise: float = 0.0  # label noise standard deviation
    init: str = "random"  # random (uniform on the sphere) | orthogonal (orthonormal rows ⊥ the target subspace)
    record_every: int = 1  # record overlaps every this many steps (SGD: set to ~d/10)
    backend: str = "numpy"  # numpy | torch
    dtype: str = "float32"  # float32 | float64
    max_batch_mb: int = 1024  # memory per chunk of seeds held at once

    @property
    def n(self) -> int:
        return max(1, int(round(self.alpha * self.d)))

    def validate(self) -> None:
        checks = [
            (self.d >= 2, f"--d {self.d} must be at least 2"),
            (self.alpha > 0, f"--alpha {self.alpha} must be positive"),
            (self.eta > 0 and math.isfinite(self.eta), f"--eta {self.eta} must be a positive number"),
            (self.steps >= 1, f"--steps {self.steps} must be at least 1"),
            (self.width >= 1, f"--width {self.width} must be at least 1"),
            (self.passes in PASSES, f"--passes {self.passes!r} is not one of: {', '.join(PASSES)}"),
            (self.algorithm in ALGORITHMS, f"--algorithm {self.algorithm!r} is not one of: {', '.join(ALGORITHMS)}"),
            (self.repetition in REPETITIONS, f"--repetition {self.repetition!r} is not one of: {', '.join(REPETITIONS)}"),
            (self.second_layer in ("ones", "signs"), f"second_layer {self.second_layer!r} is not 'ones' or 'signs'"),
            (self.init in ("random", "orthogonal"), f"--init {self.init!r} is not 'random' or 'orthogonal'"),
            (self.record_every >= 1, f"--record-every {self.record_every} must be at least 1"),
            (self.ridge >= 0 and self.noise >= 0, "--ridge and --noise must be >= 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise InputError(message)


@dataclass
class SimResult:
    """Trajectories of every seed: arrays indexed (seed, record, ...)."""

    config: SimConfig
    target: Target
    seeds: list[int]
    steps: np.ndarray  # (R,) the step of each record; 0 = initialization
    overlaps: np.ndarray  # (S, R, p, k) cosines w_j·w*_r / ‖w_j‖
    norms: np.ndarray  # (S, R, p) ‖w_j‖
    second_layer: np.ndarray  # (S, R, p) a_j
    train_loss: np.ndarray  # (S, R) mean loss on the batch in use
    test_error: np.ndarray  # (S, R) ½E[(f − y)²] on fresh data (population, exact in law)
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)

    def magnetization(self) -> np.ndarray:
        """(S, R, p, k) the raw overlaps m_jr = w_j·w*_r (= cosine × ‖w_j‖), the authors' m = W W*ᵀ/D."""
        return self.overlaps * self.norms[..., None]

    def per_seed(self, direction: int = 0, kind: str = "signed") -> np.ndarray:
        """(S, R) one number per seed and record: the mean over neurons of the cosine with w*_r.

        "signed" multiplies each neuron's cosine by sign(a_j) at init, since (a, w) → (−a, −w) is a
        symmetry of odd students; "abs" is the mean of |cos|; "orth" the norm of the part in the
        target subspace orthogonal to w*_1 (the overlap with directions not learned first).
        """
        M = self.overlaps
        if kind == "signed":
            sign = np.sign(self.second_layer[:, :1, :])  # (S, 1, p)
            sign = np.where(sign == 0, 1.0, sign)
            return (M[..., direction] * sign).mean(-1)
        if kind == "abs":
            return np.abs(M[..., direction]).mean(-1)
        if kind == "orth":
            return np.sqrt((M[..., 1:] ** 2).sum(-1)).mean(-1)
        raise ValueError(f"kind must be signed, abs or orth, got {kind!r}")

    def table(self) -> list[dict[str, float]]:
        """Rows {step, signed_mean, signed_sem, abs_mean, abs_sem, [..._2 per further direction], [orth_*]}."""
        cols: dict[str, np.ndarray] = {"step": self.steps.astype(float)}
        k = self.target.k
        for r in range(k):
            suffix = "" if r == 0 else f"_{r + 1}"
            for kind in ("signed", "abs"):
                mean, sem = _mean_sem(self.per_seed(r, kind))
                cols[f"{kind}_mean{suffix}"], cols[f"{kind}_sem{suffix}"] = mean, sem
        if k > 1:
            cols["orth_mean"], cols["orth_sem"] = _mean_sem(self.per_seed(0, "orth"))
        return [{name: float(col[i]) for name, col in cols.items()} for i in range(len(self.steps))]

    def write_csv(self, path: str | Path) -> Path:
        """overlaps.csv: one row per recorded step; the columns of :meth:`table`, written atomically."""
        return write_rows_csv(self.table(), path)

    def summary(self) -> dict:
        last = self.table()[-1]
        err_mean, err_sem = _mean_sem(self.test_error)
        return {"config": asdict(self.config), "seeds": self.seeds, "seconds": round(self.seconds, 3),
                "target": {"name": self.target.name, "k": self.target.k,
                           "information_exponent": self.target.information_exponent,
                           "generative_exponent": self.target.generative_exponent,
                           "parity": self.target.parity},
                "final": last, "test_error_mean": err_mean.tolist(), "test_error_sem": err_sem.tolist(),
                "m_mean": self.magnetization().mean(0).tolist(),
                "steps": self.steps.tolist()}


def write_rows_csv(rows: list[dict], path: str | Path) -> Path:
    """Rows of a table (simulate or DMFT) to CSV atomically; ``step`` as an integer."""
    path = Path(path)
    with atomic_write(path) as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (int(v) if k == "step" else f"{v:.6g}") for k, v in row.items()})
    return path


def _mean_sem(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    values = np.asarray(values, dtype=np.float64)
    s = values.shape[0]
    sem = values.std(0, ddof=1) / math.sqrt(s) if s > 1 else np.zeros(values.shape[1:])
    return values.mean(0), sem


def simulate(config: SimConfig | None = None, seeds: int | Sequence[int] = 40, *,
             target: Target | None = None, activation: Activation | Callable | None = None,
             on_progress: Callable[[int, int], None] | None = None, **overrides) -> SimResult:
    """Run ``config`` for every seed (an int S means seeds 0..S−1); keyword overrides replace fields.

    Seeds run in chunks that fit ``max_batch_mb``; each seed draws from its own generator, so its
    trajectory is the same whichever seeds run beside it.
    """
    config = replace(config or SimConfig(), **overrides)
    config.validate()
    seed_list = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    if not seed_list:
        raise InputError("--seeds must be at least 1")
    target = target or get_target(config.target)
    act = get_activation(activation if activation is not None else config.student)
    ops = get_ops(config.backend, config.dtype)
    k, d = target.k, config.d
    if k > d:
        raise InputError(f"target {target.name!r} needs d >= {k}, got --d {d}")
    if config.init == "orthogonal" and config.width > d - k:
        raise InputError(f"--init orthogonal needs --width <= d - k = {d - k} (orthonormal rows outside the "
                         f"target subspace), got --width {config.width}")
    rows = config.n if config.algorithm == "gd" else 2
    per_seed = rows * d * np.dtype(config.dtype).itemsize
    chunk = max(1, int(config.max_batch_mb * 2**20 // max(per_seed, 1)))
    record_steps = list(range(0, config.steps + 1, config.record_every))
    if record_steps[-1] != config.steps:
        record_steps.append(config.steps)
    t0 = time.perf_counter()
    parts = []
    total, done = len(seed_list) * config.steps, 0
    for start in range(0, len(seed_list), chunk):
        block = seed_list[start:start + chunk]

        def tick(n_steps, _block=block):
            nonlocal done
            done += n_steps * len(_block)
            if on_progress is not None:
                on_progress(done, total)

        runner = _run_gd if config.algorithm == "gd" else _run_sgd
        parts.append(runner(config, block, target, act, ops, set(record_steps), tick))
    overlaps, norms, a_hist, train_loss, gram = (np.concatenate([pt[i] for pt in parts]) for i in range(5))
    test_error = _test_errors(gram, overlaps, norms, a_hist, target, act, seed_list, config.noise)
    return SimResult(config=config, target=target, seeds=seed_list, steps=np.array(record_steps),
                     overlaps=overlaps, norms=norms, second_layer=a_hist, train_loss=train_loss,
                     test_error=test_error, seconds=time.perf_counter() - t0)


class _Recorder:
    """Collects overlaps, norms, a, loss and the Gram W Wᵀ (for the test error) at recorded steps."""

    def __init__(self, ops, k: int):
        self.ops, self.k = ops, k
        self.M, self.norms, self.a, self.loss, self.gram = [], [], [], [], []

    def __call__(self, W, a, loss) -> None:
        Wn = self.ops.to_numpy(W[..., : self.k])
        gram = self.ops.to_numpy(W @ W.mT)
        norms = np.sqrt(np.clip(np.diagonal(gram, axis1=-2, axis2=-1), 0, None))
        self.M.append(Wn / np.where(norms > 0, norms, 1.0)[..., None])
        self.norms.append(norms)
        self.a.append(self.ops.to_numpy(a))
        self.loss.append(self.ops.to_numpy(loss))
        self.gram.append(gram)

    def arrays(self):
        stack = lambda xs: np.stack(xs, axis=1)  # noqa: E731
        return stack(self.M), stack(self.norms), stack(self.a), stack(self.loss), stack(self.gram)


def _init(config: SimConfig, gens, ops, k: int):
    """W uniform on the unit sphere per neuron and a_j = ±1/√p.

    ``init="orthogonal"``: Gram–Schmidt of the Gaussian rows restricted to the complement of the target
    subspace, i.e. a uniformly random orthonormal p-frame ⊥ W* (the authors' initialization, and exactly
    the DMFT's m⁰ = 0, W⁰W⁰ᵀ = I).
    """
    S, p, d = len(gens), config.width, config.d
    W = ops.empty((S, p, d))
    for i, gen in enumerate(gens):
        ops.randn_into(W[i], gen)
    if config.init == "orthogonal":
        G = ops.to_numpy(W)
        G[..., :k] = 0
        Q, R = np.linalg.qr(np.swapaxes(G, -1, -2))  # (S, d, p), (S, p, p)
        signs = np.sign(np.diagonal(R, axis1=-2, axis2=-1))
        W = ops.asarray(np.swapaxes(Q * np.where(signs == 0, 1.0, signs)[..., None, :], -1, -2))
    W = _unit_rows(W)
    a = np.full((S, p), 1.0 / math.sqrt(p))
    if config.second_layer == "signs":  # alternate +, −: the DMFT solver's initialization too
        a[:, 1::2] *= -1
    return W, ops.asarray(a)


def _draw_batch(X, gens, ops, target: Target, noise: float):
    """Fill X (S, n, d) from each seed's generator; labels y = g(X[..., :k]) (+ noise)."""
    for i, gen in enumerate(gens):
        ops.randn_into(X[i], gen)
    y = target(ops.to_numpy(X[..., : target.k]))
    if noise > 0:
        eps = ops.empty(y.shape)
        for i, gen in enumerate(gens):
            ops.randn_into(eps[i], gen)
        return ops.asarray(y) + noise * eps
    return ops.asarray(y)


def _unit_rows(W):
    return W / ((W * W).sum(-1, keepdims=True) ** 0.5)


def _apply(W, a, gW, ga, config: SimConfig, lr: float):
    """w ← w − lr(∇_w + λw), a ← a − lr∇_a when trained, then the optional projection to the sphere."""
    W = W - lr * (gW + config.ridge * W)
    if ga is not None:
        a = a - lr * ga
    return (_unit_rows(W) if config.spherical else W), a


def _step(W, a, X, y, act, ops, config: SimConfig, lr: float):
    """One GD step; returns the updated (W, a) and the loss at the point the gradient was taken."""
    loss, gW, ga = loss_and_grads(W, a, X, y, act, ops, second_layer=config.train_second_layer)
    return (*_apply(W, a, gW, ga, config, lr), loss)


def _batch_loss(W, a, X, y, act, ops):
    r = forward(W, a, X, act, ops)[1] - y
    return (r * r).mean(-1) / 2


def _run_gd(config, block, target, act, ops, record_at, tick):
    gens = [ops.generator(s) for s in block]
    W, a = _init(config, gens, ops, target.k)
    X = ops.empty((len(block), config.n, config.d))
    y = _draw_batch(X, gens, ops, target, config.noise)
    rec = _Recorder(ops, target.k)
    for t in range(1, config.steps + 1):
        if config.passes == "one" and t > 1:
            y = _draw_batch(X, gens, ops, target, config.noise)
        W_prev, a_prev = W, a
        W, a, loss = _step(W, a, X, y, act, ops, config, config.eta)
        if t - 1 in record_at:
            # the training loss (multi) or the loss on a batch not yet seen (one, a fresh-data estimate)
            rec(W_prev, a_prev, loss)
        tick(1)
    rec(W, a, _batch_loss(W, a, X, y, act, ops))
    return rec.arrays()


def _run_sgd(config, block, target, act, ops, record_at, tick):
    """Online SGD, step γ = η/d on the per-sample loss; a chunk of samples is drawn at a time."""
    gens = [ops.generator(s) for s in block]
    W, a = _init(config, gens, ops, target.k)
    lr = config.eta / config.d
    per_sample = 2 if config.repetition == "twice" else 1
    samples = -(-config.steps // per_sample)
    chunk = min(samples, 256)
    X = ops.empty((len(block), chunk, config.d))
    rec = _Recorder(ops, target.k)
    rec(W, a, ops.asarray(np.zeros(len(block))))
    t, pos = 0, chunk
    while t < config.steps:
        if pos == chunk:
            y_all = _draw_batch(X, gens, ops, target, config.noise)
            pos = 0
        x, y = X[:, pos:pos + 1, :], y_all[:, pos:pos + 1]
        pos += 1
        if config.repetition == "extragradient":
            W_look, a_look, loss = _step(W, a, x, y, act, ops, replace(config, spherical=False), lr)
            _, gW, ga = loss_and_grads(W_look, a_look, x, y, act, ops, second_layer=config.train_second_layer)
            W, a = _apply(W, a, gW, ga, config, lr)
            todo = 1
        else:
            todo = min(per_sample, config.steps - t)
            for _ in range(todo):
                W, a, loss = _step(W, a, x, y, act, ops, config, lr)
        for _ in range(todo):
            t += 1
            if t in record_at:
                rec(W, a, loss)
        tick(todo)
    return rec.arrays()


def _test_errors(gram, overlaps, norms, a_hist, target, act, seeds, noise) -> np.ndarray:
    """Population error per seed and record, from the Gram W Wᵀ and the teacher overlaps W W*ᵀ."""
    cross = overlaps * norms[..., None]
    return np.stack([error_from_stats(gram[i], cross[i], a_hist[i], target, act, seed=seed, noise=noise)
                     for i, seed in enumerate(seeds)])

"""Mean-field Langevin dynamics (MFLD) with M particles: noisy gradient descent on the first variation.

Minimizes L(μ) = F(μ) + λ·Ent(μ), F(μ) = (1/n) Σ_i ℓ(f_μ(z_i), y_i) + λ·λ1·E_μ‖x‖², with the neuron of
Suzuki, Wu, Oko, Nitanda (NeurIPS 2023), h_x(z) = R̄·[tanh(z·x1 + x2) + 2·tanh(x3)]/3, x = (x1, x2, x3) ∈ R^{d+2},
f_μ = E_μ h_x, discretized as (Suzuki, Wu, Nitanda, NeurIPS 2023)

    X^j ← X^j − η_t ∇(δF/δμ)(X^j) + sqrt(2 η λ_t)·ξ^j,   ξ^j ~ N(0, I),   μ = (1/M) Σ_j δ_{X^j}.

The gradient of the data term is exact ("full"), a minibatch estimate ("sgd"), or SVRG: v = g_B(X) − g_B(X̃) + g(X̃)
with anchor X̃ refreshed every m steps. λ may be annealed geometrically from ``lam`` to ``lam_final``.
Backends: numpy, or torch (CUDA when present); both run the same kernel, written once against either module.

``neuron="linear"`` replaces the neuron by h_x(z) = R̄·(z·x1 + x2) (x3 unused): with the squared loss F is then
a convex quadratic of the particles' mean, μ* is Gaussian in closed form and the M-particle chain is linear-
Gaussian, the setting in which mfld-discretization measures the free-energy gap exactly (no entropy estimator).

    from datadiet.mfld import MFLDConfig, mfld, sparse_parity
    task = sparse_parity(40, 2); Z, y = task.sample(400, np.random.default_rng(0))
    res = mfld(Z, y, MFLDConfig(particles=500, steps=2000, eta=1.0, lam=0.1 / 40), seed=0)
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np

from ..errors import InputError, MissingDependencyError
from .entropy import knn_entropy

log = logging.getLogger(__name__)

LOSSES = ("logistic", "squared")
NEURONS = ("tanh", "linear")
GRADIENTS = ("full", "sgd", "svrg")
BACKENDS = ("numpy", "torch")
DTYPES = ("float64", "float32")


@dataclass(frozen=True)
class MFLDConfig:
    """Solver settings; defaults follow the parity paper at CPU size (M=500, R̄=15, λ1=0.1, λ=0.1/40)."""

    particles: int = 500  # M
    steps: int = 2000
    eta: float = 1.0  # η
    lam: float = 0.0025  # λ (entropy weight; also scales the L2 term λ·λ1·E‖x‖²)
    lam1: float = 0.1  # λ1
    R: float = 15.0  # R̄, output scale of a neuron
    loss: str = "logistic"  # logistic: ℓ = log(1 + exp(−y f)); squared: ℓ = (f − y)²/2
    gradient: str = "full"  # full | sgd | svrg
    batch_size: int = 50  # minibatch size b for sgd / svrg
    svrg_every: int = 0  # SVRG inner-loop length m (0: n // b)
    lam_final: float | None = None  # anneal λ_t geometrically from lam to lam_final (None: constant λ)
    init_std: float = 1.0  # X^j_0 ~ N(0, init_std² I)
    log_every: int = 0  # steps between objective logs (0: about 50 logs)
    entropy_k: int = 1  # k of the k-NN entropy estimate in the log (0: do not estimate entropy)
    entropy_subsample: int = 0  # estimate H on disjoint random subsets of this size (0: all); equal size, equal bias
    backend: str = "numpy"
    device: str | None = None  # torch device (None: cuda if available, else cpu)
    dtype: str = "float64"
    neuron: str = "tanh"  # tanh: the parity paper's h_x; linear: R̄·(z·x1 + x2), a quadratic F (see module doc)
    log_moments: bool = False  # also log the particle mean X̄ ("mean") and spread Σ‖X^j − X̄‖²/((M−1)p) ("spread")

    def __post_init__(self):
        _check_int("particles", self.particles, 1)
        _check_int("steps", self.steps, 0)
        _check_int("batch_size", self.batch_size, 1)
        _check_int("svrg_every", self.svrg_every, 0)
        _check_int("log_every", self.log_every, 0)
        _check_int("entropy_k", self.entropy_k, 0)
        _check_int("entropy_subsample", self.entropy_subsample, 0)
        if not (math.isfinite(self.eta) and self.eta > 0):
            raise InputError(f"eta={self.eta} must be a positive number (--eta)")
        if not (math.isfinite(self.lam) and self.lam >= 0):
            raise InputError(f"lam={self.lam} must be >= 0 (--lam)")
        if self.lam_final is not None and not (self.lam_final > 0 and self.lam > 0):
            raise InputError(f"lam_final={self.lam_final} needs lam > 0 and lam_final > 0 (geometric annealing)")
        if not self.lam1 >= 0 or not self.R > 0 or not self.init_std > 0:
            raise InputError(f"need lam1 >= 0, R > 0, init_std > 0; got {self.lam1}, {self.R}, {self.init_std}")
        for name, val, allowed in (("loss", self.loss, LOSSES), ("gradient", self.gradient, GRADIENTS),
                                   ("backend", self.backend, BACKENDS), ("dtype", self.dtype, DTYPES),
                                   ("neuron", self.neuron, NEURONS)):
            if val not in allowed:
                raise InputError(f"{name}={val!r} is not one of: {', '.join(allowed)}")

    def lam_at(self, t: int) -> float:
        """λ_t: constant, or geometric from lam (t = 0) to lam_final (t = steps − 1)."""
        if self.lam_final is None or self.steps <= 1:
            return self.lam
        return self.lam * (self.lam_final / self.lam) ** (t / (self.steps - 1))


def _check_int(name: str, v, lo: int) -> None:
    if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < lo:
        raise InputError(f"{name}={v!r} must be an integer >= {lo} (--{name.replace('_', '-')})")


@dataclass
class MFLDResult:
    """Final particles (M, d+2) as numpy, the objective log, and the settings that produced them."""

    particles: np.ndarray
    history: dict[str, list[float]]
    config: dict
    seconds: float
    R: float = 15.0
    extra: dict = field(default_factory=dict)

    def decision_function(self, Z) -> np.ndarray:
        """f_μ(z) for the final particles, shape (n,)."""
        return network_output(self.particles, Z, self.R, neuron=self.config.get("neuron", "tanh"))


# ---------------------------------------------------------------- the network and its first variation
# Written once against a module `xp` (numpy or torch): only @, .T, .sum(0), .mean(1), tanh/exp/log1p/abs.

def _forward(xp, X, Z, R, neuron="tanh"):
    """T = tanh(Z x1ᵀ + x2) of shape (n, M), t3 = tanh(x3) of shape (M,), f = mean_j h_{X^j}(z), shape (n,)."""
    d = Z.shape[1]
    if neuron == "linear":  # f = R̄ (z·E x1 + E x2): only the particles' mean enters
        xm = X.mean(0)
        return None, None, R * (Z @ xm[:d] + xm[d])
    T = xp.tanh(Z @ X[:, :d].T + X[:, d])
    t3 = xp.tanh(X[:, d + 1])
    f = (R / 3.0) * (T.mean(1) + 2.0 * t3.mean(0))
    return T, t3, f


def _loss_value(xp, loss, f, y):
    """Mean of ℓ(f_i, y_i)."""
    if loss == "logistic":
        u = -y * f  # log(1 + e^u) = relu(u) + log1p(e^{−|u|})
        return ((u + xp.abs(u)) * 0.5 + xp.log1p(xp.exp(-xp.abs(u)))).mean(0)
    r = f - y
    return (0.5 * r * r).mean(0)


def _loss_slope(xp, loss, f, y):
    """∂ℓ/∂f at each sample, shape (n,)."""
    if loss == "logistic":
        return -y * 0.5 * (1.0 - xp.tanh(0.5 * y * f))  # −y·σ(−y f)
    return f - y


def _data_grad(xp, X, Z, y, R, loss, neuron="tanh"):
    """∇_x (1/n) Σ_i ℓ'(f(z_i)) h_x(z_i) at every particle: shape (M, d+2) (no regularizer)."""
    d = Z.shape[1]
    T, t3, f = _forward(xp, X, Z, R, neuron)
    if neuron == "linear":  # ∇_x h_x(z) = R̄ (z, 1, 0), the same for every particle
        c = _loss_slope(xp, loss, f, y) * (R / Z.shape[0])
        G = xp.zeros_like(X)
        G[:, :d] = (c @ Z)[None, :]
        G[:, d] = c.sum(0)
        return G
    c = _loss_slope(xp, loss, f, y) * (R / 3.0 / Z.shape[0])  # (n,)
    C = (1.0 - T * T) * c[:, None]  # sech²(z·x1 + x2) ℓ'_i R̄/(3n), (n, M)
    G = xp.zeros_like(X)
    G[:, :d] = C.T @ Z
    G[:, d] = C.sum(0)
    G[:, d + 1] = 2.0 * (1.0 - t3 * t3) * c.sum(0)
    return G


def first_variation_grad(X, Z, y, *, R: float = 15.0, lam: float = 0.0, lam1: float = 0.1,
                         loss: str = "logistic", neuron: str = "tanh") -> np.ndarray:
    """∇_x (δF/δμ)(x) at the particles X (M, d+2): data term + 2 λ λ1 x (numpy, float64).

    Equals M × ∂F(μ_X)/∂X^j, the gradient of the particle objective (tested against autograd).
    """
    X, Z, y = (np.asarray(a, dtype=np.float64) for a in (X, Z, y))
    return _data_grad(np, X, Z, y, R, loss, neuron) + 2.0 * lam * lam1 * X


def particle_objective(X, Z, y, *, R: float = 15.0, lam: float = 0.0, lam1: float = 0.1,
                       loss: str = "logistic", neuron: str = "tanh") -> float:
    """F(μ_X) = (1/n) Σ_i ℓ(f_X(z_i), y_i) + λ λ1 (1/M) Σ_j ‖X^j‖² (no entropy term)."""
    X, Z, y = (np.asarray(a, dtype=np.float64) for a in (X, Z, y))
    _, _, f = _forward(np, X, Z, R, neuron)
    return float(_loss_value(np, loss, f, y)) + lam * lam1 * float(np.mean(np.sum(X * X, axis=1)))


def network_output(X, Z, R: float = 15.0, *, neuron: str = "tanh") -> np.ndarray:
    """f_μ(z) = (1/M) Σ_j h_{X^j}(z) for the particles X (M, d+2), inputs Z (n, d)."""
    X = np.asarray(X, dtype=np.float64)
    Z = np.asarray(Z, dtype=np.float64)
    if Z.ndim != 2 or X.ndim != 2 or X.shape[1] != Z.shape[1] + 2:
        raise InputError(f"particles of shape {X.shape} do not fit inputs of shape {Z.shape} (need p = d + 2)")
    return _forward(np, X, Z, R, neuron)[2]


# ---------------------------------------------------------------- backends

class _Numpy:
    xp = np

    def __init__(self, config: MFLDConfig, noise_seed: np.random.SeedSequence):
        self.dtype = np.dtype(config.dtype)
        self.rng = np.random.default_rng(noise_seed)

    def asarray(self, a):
        return np.ascontiguousarray(a, dtype=self.dtype)

    def noise(self, shape):
        return self.rng.standard_normal(shape).astype(self.dtype, copy=False)

    def to_numpy(self, a) -> np.ndarray:
        return np.asarray(a, dtype=np.float64)

    def index(self, a, idx):
        return a[idx]


class _Torch:
    def __init__(self, config: MFLDConfig, noise_seed: np.random.SeedSequence):
        try:
            import torch
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise MissingDependencyError("torch", "mfld", "MFLD with backend='torch'") from exc
        self.xp = torch
        self.device = torch.device(config.device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.dtype = getattr(torch, config.dtype)
        self.gen = torch.Generator(device=self.device)
        self.gen.manual_seed(int(noise_seed.generate_state(1, dtype=np.uint64)[0] & ((1 << 63) - 1)))

    def asarray(self, a):
        return self.xp.as_tensor(np.asarray(a), dtype=self.dtype, device=self.device).contiguous()

    def noise(self, shape):
        return self.xp.randn(shape, generator=self.gen, device=self.device, dtype=self.dtype)

    def to_numpy(self, a) -> np.ndarray:
        return a.detach().to("cpu", self.xp.float64).numpy()

    def index(self, a, idx):
        return a[self.xp.as_tensor(idx, device=self.device)]


# ---------------------------------------------------------------- the solver

def _entropy(Xn: np.ndarray, k: int, m: int, rng: np.random.Generator, max_chunks: int = 16) -> float:
    """k-NN estimate of H(μ_X); with m > 0, the mean over up to 16 disjoint random m-subsets (bias set by m)."""
    if not k:
        return float("nan")
    if not 0 < m < Xn.shape[0]:
        return knn_entropy(Xn, k) if Xn.shape[0] > k else float("nan")
    perm = rng.permutation(Xn.shape[0])
    chunks = min(max_chunks, Xn.shape[0] // m)
    return float(np.mean([knn_entropy(Xn[perm[i * m:(i + 1) * m]], k) for i in range(chunks)]))


def mfld(Z, y, config: MFLDConfig | None = None, *, seed: int = 0, eval_data: tuple | None = None,
         init=None, on_step: Callable[[int, int], None] | None = None) -> MFLDResult:
    """Run MFLD on data Z (n, d), labels/targets y (n,); returns final particles and the objective log.

    The log (``history``) holds, at the logged steps: ``loss`` (data term), ``l2`` = λ1 E‖x‖²,
    ``F`` = loss + λ_t·l2, ``entropy`` (k-NN estimate of H(μ_X)), ``objective`` = F − λ_t·H
    (the free energy L = F + λ Ent), ``lam`` and, with ``eval_data=(Z_test, y_test)``, ``eval_accuracy``
    (classification) or ``eval_mse``. ``init`` overrides the N(0, init_std²) initial particles.
    """
    config = config or MFLDConfig()
    Z = np.asarray(Z, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).ravel()
    if Z.ndim != 2 or Z.shape[0] < 1:
        raise InputError(f"inputs must have shape (n, d) with n >= 1; got {Z.shape}")
    if y.shape[0] != Z.shape[0]:
        raise InputError(f"got {Z.shape[0]} inputs but {y.shape[0]} labels")
    if not (np.isfinite(Z).all() and np.isfinite(y).all()):
        raise InputError("inputs and labels must be finite (found NaN or inf)")
    if config.loss == "logistic" and not np.isin(y, (-1.0, 1.0)).all():
        raise InputError("logistic loss needs labels in {-1, +1}")
    n, d = Z.shape
    M, p = config.particles, d + 2
    ss_init, ss_batch, ss_noise, ss_ent = np.random.SeedSequence([seed, 11]).spawn(4)
    if init is None:
        X0 = np.random.default_rng(ss_init).standard_normal((M, p)) * config.init_std
    else:
        X0 = np.asarray(init, dtype=np.float64)
        if X0.shape != (M, p):
            raise InputError(f"init has shape {X0.shape}; need (particles, d + 2) = ({M}, {p})")
    be = _Torch(config, ss_noise) if config.backend == "torch" else _Numpy(config, ss_noise)
    return _run(be, config, Z, y, X0, np.random.default_rng(ss_batch), np.random.default_rng(ss_ent),
                eval_data, on_step)


def _run(be, cfg: MFLDConfig, Z_np, y_np, X0, batch_rng, ent_rng, eval_data, on_step) -> MFLDResult:
    xp = be.xp
    n, d = Z_np.shape
    Z, y, X = be.asarray(Z_np), be.asarray(y_np), be.asarray(X0)
    b = min(cfg.batch_size, n)
    m = cfg.svrg_every or max(1, n // b)
    log_every = cfg.log_every or max(1, cfg.steps // 50)
    history: dict[str, list] = {k: [] for k in ("step", "lam", "loss", "l2", "F", "entropy", "objective")}
    if cfg.log_moments:
        history["mean"], history["spread"] = [], []
    if eval_data is not None:
        Ze = np.asarray(eval_data[0], dtype=np.float64)
        ye = np.asarray(eval_data[1], dtype=np.float64).ravel()
        history["eval_accuracy" if cfg.loss == "logistic" else "eval_mse"] = []

    def record(t: int) -> None:
        lam_t = cfg.lam_at(min(t, max(cfg.steps - 1, 0)))
        Xn = be.to_numpy(X)
        _, _, f = _forward(xp, X, Z, cfg.R, cfg.neuron)
        loss = float(_loss_value(xp, cfg.loss, f, y))
        l2 = cfg.lam1 * float(np.mean(np.sum(Xn * Xn, axis=1)))
        H = _entropy(Xn, cfg.entropy_k, cfg.entropy_subsample, ent_rng)
        history["step"].append(t)
        history["lam"].append(lam_t)
        history["loss"].append(loss)
        history["l2"].append(l2)
        history["F"].append(loss + lam_t * l2)
        history["entropy"].append(H)
        history["objective"].append(loss + lam_t * l2 - lam_t * H)
        if cfg.log_moments:
            mean = Xn.mean(0)
            history["mean"].append(mean.tolist())
            history["spread"].append(float(np.sum((Xn - mean) ** 2)) / max(1, (Xn.shape[0] - 1) * Xn.shape[1]))
        if eval_data is not None:
            fe = network_output(Xn, Ze, cfg.R, neuron=cfg.neuron)
            if cfg.loss == "logistic":
                history["eval_accuracy"].append(float(np.mean(np.where(fe >= 0, 1.0, -1.0) == ye)))
            else:
                history["eval_mse"].append(float(np.mean((fe - ye) ** 2)))

    t0 = time.perf_counter()
    anchor = anchor_grad = None
    for t in range(cfg.steps):
        if t % log_every == 0:
            record(t)
        lam_t = cfg.lam_at(t)
        if cfg.gradient == "full":
            G = _data_grad(xp, X, Z, y, cfg.R, cfg.loss, cfg.neuron)
        else:
            idx = batch_rng.choice(n, size=b, replace=False)
            Zb, yb = be.index(Z, idx), be.index(y, idx)
            G = _data_grad(xp, X, Zb, yb, cfg.R, cfg.loss, cfg.neuron)
            if cfg.gradient == "svrg":
                if t % m == 0:
                    anchor = X.clone() if xp is not np else X.copy()
                    anchor_grad = _data_grad(xp, anchor, Z, y, cfg.R, cfg.loss, cfg.neuron)
                G = G - _data_grad(xp, anchor, Zb, yb, cfg.R, cfg.loss, cfg.neuron) + anchor_grad
        if cfg.lam1 and lam_t:
            G = G + (2.0 * lam_t * cfg.lam1) * X
        X = X - cfg.eta * G
        if lam_t > 0:
            X = X + math.sqrt(2.0 * cfg.eta * lam_t) * be.noise(tuple(X.shape))
        if on_step is not None:
            on_step(t + 1, cfg.steps)
    record(cfg.steps)
    seconds = time.perf_counter() - t0
    Xf = be.to_numpy(X)
    if not np.isfinite(Xf).all():
        raise InputError(f"MFLD diverged (non-finite particles); lower --eta (now {cfg.eta})")
    log.debug("mfld: %d steps, M=%d, %.2fs", cfg.steps, cfg.particles, seconds)
    return MFLDResult(particles=Xf, history=history, config=asdict(cfg), seconds=seconds, R=cfg.R)

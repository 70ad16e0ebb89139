"""Federated test problems as flat-parameter losses: per-sample ℓ(x, z) for DIFF2/DP-GD, split over P clients.

Two nonconvex problems: multinomial logistic regression with the nonconvex regularizer
λ Σ_j x_j²/(1 + x_j²) (on scikit-learn digits or a synthetic Gaussian mixture whose n can grow),
and a small tanh MLP on digits. Parameters are one flat float64 vector x ∈ R^d so the DP
algorithms stay plain vector code; per-sample gradients come from ``torch.func.vmap(grad(ℓ))``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import InputError

PROBLEMS = ("logreg", "mlp")
DATASETS = ("digits", "synthetic")


@dataclass
class ClientData:
    """One client's private samples z = (X, y): X of shape (n_p, p) float64, y of shape (n_p,) int64."""

    X: torch.Tensor
    y: torch.Tensor


@dataclass
class Problem:
    """A loss ℓ(x, z) over flat parameters x of dimension d, with the clients' data and a test set."""

    name: str
    d: int
    n_classes: int
    n_features: int
    hidden: int
    lam: float
    clients: list[ClientData]
    X_test: torch.Tensor
    y_test: torch.Tensor

    def logits(self, x: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
        p, k, h = self.n_features, self.n_classes, self.hidden
        if self.name == "logreg":
            W = x[: p * k].reshape(p, k)
            return X @ W + x[p * k: p * k + k]
        W1 = x[: p * h].reshape(p, h)
        b1 = x[p * h: p * h + h]
        o = p * h + h
        W2 = x[o: o + h * k].reshape(h, k)
        b2 = x[o + h * k: o + h * k + k]
        return torch.tanh(X @ W1 + b1) @ W2 + b2

    def sample_loss(self, x: torch.Tensor, xi: torch.Tensor, yi: torch.Tensor) -> torch.Tensor:
        """ℓ(x, z) = cross-entropy + λ Σ_j x_j²/(1+x_j²) (the regularizer makes logreg nonconvex)."""
        out = self.logits(x, xi[None, :])[0]
        ce = torch.logsumexp(out, 0) - out.gather(0, yi.reshape(1))[0]
        return ce + self.lam * torch.sum(x * x / (1.0 + x * x))

    def per_sample_grads(self, x: torch.Tensor, data: ClientData) -> torch.Tensor:
        """∇ℓ(x, z_i) for every sample of one client: shape (n_p, d)."""
        from torch.func import grad, vmap

        return vmap(grad(self.sample_loss), in_dims=(None, 0, 0))(x, data.X, data.y)

    def per_sample_grads_all(self, x: torch.Tensor) -> torch.Tensor:
        """All clients at once (equal n_p): shape (P, n_p, d); one vmap call instead of P."""
        from torch.func import grad, vmap

        X = torch.stack([c.X for c in self.clients])
        y = torch.stack([c.y for c in self.clients])
        P, n = y.shape
        G = vmap(grad(self.sample_loss), in_dims=(None, 0, 0))(x, X.reshape(P * n, -1), y.reshape(-1))
        return G.reshape(P, n, -1)

    def full_grad(self, x: torch.Tensor) -> torch.Tensor:
        """∇f(x) with f = (1/P) Σ_p (1/n_p) Σ_i ℓ(x, z_i^p): the quantity ‖∇f‖² is reported on."""
        return torch.stack([self.per_sample_grads(x, c).mean(0) for c in self.clients]).mean(0)

    def loss(self, x: torch.Tensor) -> float:
        vals = [torch.func.vmap(self.sample_loss, in_dims=(None, 0, 0))(x, c.X, c.y).mean() for c in self.clients]
        return float(torch.stack(vals).mean())

    def test_accuracy(self, x: torch.Tensor) -> float:
        return float((self.logits(x, self.X_test).argmax(1) == self.y_test).double().mean())

    def init(self, seed: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(int(seed))
        if self.name == "logreg":
            return torch.zeros(self.d, dtype=torch.float64)
        p, h, k = self.n_features, self.hidden, self.n_classes
        x = torch.zeros(self.d, dtype=torch.float64)
        x[: p * h] = torch.randn(p * h, generator=g, dtype=torch.float64) / np.sqrt(p)
        o = p * h + h
        x[o: o + h * k] = torch.randn(h * k, generator=g, dtype=torch.float64) / np.sqrt(h)
        return x


FEATURES = {"digits": 64, "synthetic": 20}   # input dimension p of each dataset (10 classes each)


def model_dim(name: str, dataset: str, hidden: int = 32) -> int:
    """d of the flat parameter vector, from the problem's shape alone (no data: what a server may know)."""
    p, k = FEATURES[dataset], 10
    return p * k + k if name == "logreg" else p * hidden + hidden + hidden * k + k


def initial_params(name: str, dataset: str, seed: int, hidden: int = 32) -> torch.Tensor:
    """x_0 of ``make_problem(name, dataset=...).init(seed)``, built without the data."""
    shell = Problem(name, model_dim(name, dataset, hidden), 10, FEATURES[dataset], hidden, 0.0, [],
                    torch.zeros(0), torch.zeros(0))
    return shell.init(seed)


def _digits():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


def _synthetic(n_total: int, rng: np.random.Generator, n_classes: int = 10, p: int = 20):
    """A Gaussian mixture: class means on a sphere of radius 1.5, unit noise (Bayes accuracy well below 1)."""
    means = rng.standard_normal((n_classes, p))
    means *= 1.5 / np.linalg.norm(means, axis=1, keepdims=True)
    y = rng.integers(0, n_classes, n_total)
    return means[y] + rng.standard_normal((n_total, p)), y


def make_problem(name: str = "logreg", *, dataset: str = "digits", n_clients: int = 10,
                 n_per_client: int | None = None, hidden: int = 32, lam: float = 1e-3,
                 seed: int = 0) -> Problem:
    """Split a dataset i.i.d. over ``n_clients`` clients (n_per_client samples each) plus a test set.

    ``dataset="synthetic"`` draws as many samples as asked, so the utility can be studied as n grows;
    ``digits`` holds 1,797 images (a 25% test split; n_per_client defaults to all that is left).
    """
    if name not in PROBLEMS:
        raise InputError(f"problem: {name!r} is not one of {', '.join(PROBLEMS)}")
    if dataset not in DATASETS:
        raise InputError(f"dataset: {dataset!r} is not one of {', '.join(DATASETS)}")
    if n_clients < 1:
        raise InputError(f"--clients must be >= 1 (got {n_clients})")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 8]))
    if dataset == "digits":
        X, y = _digits()
        perm = rng.permutation(len(y))
        n_test = len(y) // 4
        test, train = perm[:n_test], perm[n_test:]
        avail = len(train) // n_clients
        npc = avail if n_per_client is None else int(n_per_client)
        if not 1 <= npc <= avail:
            raise InputError(f"n_per_client must be in [1, {avail}] for digits with {n_clients} clients (got {npc})")
        Xtr, ytr = X[train[: npc * n_clients]], y[train[: npc * n_clients]]
        Xte, yte = X[test], y[test]
    else:
        npc = 200 if n_per_client is None else int(n_per_client)
        if npc < 1:
            raise InputError(f"n_per_client must be >= 1 (got {npc})")
        Xa, ya = _synthetic(npc * n_clients + 2000, rng)
        Xtr, ytr, Xte, yte = Xa[: npc * n_clients], ya[: npc * n_clients], Xa[-2000:], ya[-2000:]
    p, k = Xtr.shape[1], 10
    d = p * k + k if name == "logreg" else p * hidden + hidden + hidden * k + k
    t = lambda a, dt=torch.float64: torch.as_tensor(np.ascontiguousarray(a), dtype=dt)  # noqa: E731
    clients = [ClientData(t(Xtr[i * npc:(i + 1) * npc]), t(ytr[i * npc:(i + 1) * npc], torch.int64))
               for i in range(n_clients)]
    return Problem(name, d, k, p, hidden, lam, clients, t(Xte), t(yte, torch.int64))

"""Federated training of heterogeneous image clients: ScalableFL (sub-models) and FedAvg/HeteroFL/FedBN/FedPer.

Clients hold scikit-learn digits at their own resolution (8, 16 or 32 px, upsampled bilinearly from 8x8)
and their own label subset. Baselines resize every input to the common 32 px; FedAvg/FedBN/FedPer train
the full model with all K outputs (FedBN keeps batch norm local, FedPer the head), HeteroFL slices
width only. Each round: local SGD epochs on θ_p, then ``submodel.aggregate``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError
from . import submodel as sm

METHODS = ("scalablefl", "heterofl", "fedavg", "fedbn", "fedper")


@dataclass
class ImageClient:
    """One client's images (n, 1, s, s), labels in 0..K-1, its label set and native resolution s."""

    X: torch.Tensor
    y: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor
    labels: tuple[int, ...]
    resolution: int


@dataclass(frozen=True)
class HeteroConfig:
    """Local training and federation sizes (defaults: CPU minutes)."""

    clients: int = 6
    rounds: int = 20
    local_epochs: int = 1
    batch_size: int = 32
    lr: float = 0.05
    resolutions: tuple[int, ...] = (8, 16, 32)
    label_subsets: tuple[int, ...] = (10, 5)   # client p gets |labels| = label_subsets[p % len]


def make_clients(config: HeteroConfig, seed: int) -> list[ImageClient]:
    """Split digits over clients: client p has resolution resolutions[p % R] and a random label subset."""
    from sklearn.datasets import load_digits

    if config.clients < 1:
        raise InputError(f"--clients must be >= 1 (got {config.clients})")
    for s in config.resolutions:
        if s not in sm.RESOLUTIONS:
            raise InputError(f"resolutions must be among {sm.RESOLUTIONS} (got {s})")
    X, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 81]))
    owner = rng.integers(0, config.clients, len(y))  # disjoint shards before label filtering
    label_sets = []
    for p in range(config.clients):
        k = config.label_subsets[p % len(config.label_subsets)]
        label_sets.append(tuple(sorted(rng.choice(sm.N_CLASSES, size=k, replace=False).tolist())))
    clients = []
    for p in range(config.clients):
        idx = np.flatnonzero((owner == p) & np.isin(y, label_sets[p]))
        idx = rng.permutation(idx)
        n_test = max(1, len(idx) // 4)
        s = config.resolutions[p % len(config.resolutions)]
        imgs = torch.as_tensor(X[idx] / 16.0, dtype=torch.float32).reshape(-1, 1, 8, 8)
        if s != 8:
            imgs = F.interpolate(imgs, size=(s, s), mode="bilinear", align_corners=False)
        lab = torch.as_tensor(y[idx], dtype=torch.int64)
        clients.append(ImageClient(imgs[n_test:], lab[n_test:], imgs[:n_test], lab[:n_test], label_sets[p], s))
    return clients


def client_spec(method: str, client: ImageClient) -> sm.ClientSpec:
    if method == "scalablefl":
        return sm.spec_for(client.resolution, client.labels)
    if method == "heterofl":
        return sm.spec_for(client.resolution, client.labels, depth=False)
    return sm.spec_for(client.resolution, range(sm.N_CLASSES), depth=False, width=False)


def local_keys(method: str) -> set[str]:
    """Parameters a method keeps on the client (never averaged)."""
    names = sm.init_params(0).keys()
    if method == "fedbn":
        return {n for n in names if n.startswith("bn")}
    if method == "fedper":
        return {"head.w", "head.b"}
    return set()


def _inputs(method: str, client: ImageClient, X: torch.Tensor) -> torch.Tensor:
    if method == "scalablefl" or client.resolution == sm.RESOLUTIONS[0]:
        return X
    s = sm.RESOLUTIONS[0]
    return F.interpolate(X, size=(s, s), mode="bilinear", align_corners=False)


def _targets(spec: sm.ClientSpec, y: torch.Tensor) -> torch.Tensor:
    lut = torch.full((sm.N_CLASSES,), -1, dtype=torch.int64)
    lut[torch.tensor(spec.labels)] = torch.arange(len(spec.labels))
    return lut[y]


def local_train(params: dict[str, torch.Tensor], spec: sm.ClientSpec, X: torch.Tensor, y: torch.Tensor,
                config: HeteroConfig, gen: torch.Generator) -> dict[str, torch.Tensor]:
    """E epochs of minibatch SGD on the client's sub-model θ_p; returns the trained θ_p."""
    theta = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    opt = torch.optim.SGD(theta.values(), lr=config.lr, momentum=0.9)
    t = _targets(spec, y)
    for _ in range(config.local_epochs):
        perm = torch.randperm(len(t), generator=gen)
        for i in range(0, len(t), config.batch_size):
            bi = perm[i:i + config.batch_size]
            if len(bi) < 2:
                continue
            loss = F.cross_entropy(sm.forward(theta, spec, X[bi]), t[bi])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return {k: v.detach() for k, v in theta.items()}


def accuracy(params: dict[str, torch.Tensor], spec: sm.ClientSpec, client: ImageClient, method: str) -> float:
    """Accuracy on the client's test images, predicting among the client's own labels."""
    with torch.no_grad():
        logits = sm.forward(params, spec, _inputs(method, client, client.X_test))
    cols = torch.tensor([spec.labels.index(c) for c in client.labels])
    pred = torch.tensor(client.labels)[logits[:, cols].argmax(1)]
    return float((pred == client.y_test).float().mean())


def client_round(method: str, global_params, local_state, client: ImageClient, config: HeteroConfig,
                 seed: int, p: int, r: int) -> dict[str, torch.Tensor]:
    """What client p does in round r: cut θ_p (overlaid with its local parameters), train, return θ_p."""
    spec = client_spec(method, client)
    params = sm.slice_params(global_params, spec)
    params.update(local_state)
    gen = torch.Generator().manual_seed(int(np.random.SeedSequence([seed, p, r, 82]).generate_state(1)[0]))
    return local_train(params, spec, _inputs(method, client, client.X), client.y, config, gen)


def run_hetero(method: str, config: HeteroConfig, seed: int, on_round=None) -> dict:
    """Train ``method`` for R rounds; per-client test accuracy and forward MACs of the model it runs."""
    if method not in METHODS:
        raise InputError(f"--method must be one of {', '.join(METHODS)} (got {method!r})")
    torch.manual_seed(seed)
    clients = make_clients(config, seed)
    theta = sm.init_params(seed)
    specs = [client_spec(method, c) for c in clients]
    keep = local_keys(method)
    local = [{k: sm.slice_params(theta, s)[k] for k in keep} for s in specs]
    for r in range(config.rounds):
        updates = []
        for p, c in enumerate(clients):
            new = client_round(method, theta, local[p], c, config, seed, p, r)
            local[p] = {k: new[k] for k in keep}
            updates.append((new, specs[p]))
        theta = sm.aggregate(theta, updates, weights=[len(c.y) for c in clients], skip=keep)
        if on_round is not None:
            on_round(r)
    gsq = grad_norm_sq(method, theta, clients, specs, local, keep)
    accs, macs = [], []
    for p, c in enumerate(clients):
        params = sm.slice_params(theta, specs[p])
        params.update(local[p])
        accs.append(accuracy(params, specs[p], c, method))
        macs.append(sm.flops(specs[p]))
    return {"method": method, "test_accuracy": float(np.mean(accs)), "client_accuracy": accs,
            "client_flops": macs, "client_resolution": [c.resolution for c in clients],
            "client_labels": [len(c.labels) for c in clients], "grad_norm_sq": gsq, "theta": theta}


def grad_norm_sq(method, theta, clients, specs, local, keep) -> float:
    """‖∇f(θ)‖² of f(θ) = (1/P) Σ_p L_p(θ_p) over the shared (non-local) parameters, on training data."""
    th = {k: v.clone().requires_grad_(k not in keep) for k, v in theta.items()}
    total = 0.0
    for p, c in enumerate(clients):
        params = {k: v[sm._index(k, specs[p])] for k, v in th.items() if sm._index(k, specs[p]) is not None}
        params.update(local[p])
        X = _inputs(method, c, c.X)
        total = total + F.cross_entropy(sm.forward(params, specs[p], X), _targets(specs[p], c.y)) / len(clients)
    grads = torch.autograd.grad(total, [v for k, v in th.items() if k not in keep], allow_unused=True)
    return float(sum((g * g).sum() for g in grads if g is not None))

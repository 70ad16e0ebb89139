"""DIFF2's round on the paper's 10-unit softplus net: closed-form clipped means for K runs × P clients
(``federated.fc.FCOracle``) vs per-sample gradients by vmap(grad) run by run (the generic path). Same numbers.

Run: .venv/bin/python benchmarks/federated_fc_bench.py   (prints ms per round and the speed-up ratio)
"""

from __future__ import annotations

import time

import torch

from datadiet.federated.fc import FCOracle, forward, make_regression


def main(K: int = 16, n: int = 1000, reps: int = 3) -> None:
    torch.set_num_threads(1)
    data = make_regression("synthetic", n_clients=10, n_per_client=n, seed=0, dtype=torch.float32)
    orc = FCOracle(data)
    theta = orc.init(range(K))
    C = torch.full((K,), 0.5)
    full = torch.zeros(K, dtype=torch.bool)
    p = data.p
    from torch.func import grad, vmap

    def loss(t, x, y):
        f, *_ = forward(t[None], x[None], p)
        return (f[0, 0] - y) ** 2

    X, y = data.X.reshape(-1, p), data.y.reshape(-1)

    def by_vmap():
        out = []
        for k in range(K):
            G = vmap(grad(loss), in_dims=(None, 0, 0))(theta[k], X, y).reshape(10, n, -1)
            G = G * torch.clamp(0.5 / G.norm(dim=-1, keepdim=True), max=1.0)
            out.append(G.mean(1))
        return torch.stack(out)

    ref = by_vmap()
    got = orc.step(theta, full, C, need_grad=False)[0]
    assert torch.allclose(ref, got, rtol=1e-4, atol=1e-6)
    t0 = time.perf_counter()
    for _ in range(reps):
        by_vmap()
    slow = (time.perf_counter() - t0) / reps
    t0 = time.perf_counter()
    for _ in range(reps):
        orc.step(theta, full, C, need_grad=False)
    fast = (time.perf_counter() - t0) / reps
    print(f"vmap(grad) per run: {slow * 1e3:.1f} ms/round; FCOracle: {fast * 1e3:.1f} ms/round; speed-up "
          f"{slow / fast:.1f}x (K={K} runs, P=10, n={n}, float32, 1 thread; "
          f"{fast / (K * 10 * n) * 1e9:.0f} ns per sample-round)")


if __name__ == "__main__":
    main()

"""DIFF2 round cost: per-sample gradients of all P clients in one vmap vs one vmap per client (same numbers).

Run: .venv/bin/python benchmarks/federated_bench.py   (prints seconds per round and the speed-up ratio)
"""

from __future__ import annotations

import time

import torch

from datadiet.federated.problems import make_problem


def main(reps: int = 20) -> None:
    prob = make_problem("logreg", dataset="synthetic", n_clients=10, n_per_client=500, seed=0)
    x = torch.randn(prob.d, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 0.1
    a = prob.per_sample_grads_all(x)
    b = torch.stack([prob.per_sample_grads(x, c) for c in prob.clients])
    assert torch.allclose(a, b, rtol=1e-10, atol=1e-12)
    t0 = time.perf_counter()
    for _ in range(reps):
        torch.stack([prob.per_sample_grads(x, c) for c in prob.clients])
    loop = (time.perf_counter() - t0) / reps
    t0 = time.perf_counter()
    for _ in range(reps):
        prob.per_sample_grads_all(x)
    batched = (time.perf_counter() - t0) / reps
    print(f"per-client vmap loop: {loop * 1e3:.2f} ms/round; one batched vmap: {batched * 1e3:.2f} ms/round; "
          f"speed-up {loop / batched:.2f}x (P=10, n_p=500, d={prob.d})")


if __name__ == "__main__":
    main()

"""Simulated GD steps per second of `datadiet.reuse.simulate` against a naive per-seed loop, same process.

    python benchmarks/reuse_bench.py                     # d=1600, n=4d, 40 seeds, 10 steps (the issue's setting)
    python benchmarks/reuse_bench.py --d 400 --seeds 8   # quicker

"steps/s" counts seed-steps: one GD step of one simulated seed, data generation included. The naive
baseline is what one writes first: a Python loop over seeds, float64, per-seed batch and update. Both
arms run He_3 multi-pass (tanh, one neuron); the script checks they agree on the final mean overlap.
Printed, not asserted: timings belong here, not in the test suite.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

from datadiet.reuse import SimConfig, get_target, simulate


def naive(d: int, n: int, eta: float, steps: int, seeds: int, passes: str) -> np.ndarray:
    target = get_target("he3")
    finals = []
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        w = rng.standard_normal(d)
        w /= np.linalg.norm(w)
        X = rng.standard_normal((n, d))
        y = target(X[:, :1])
        for t in range(steps):
            if passes == "one" and t > 0:
                X = rng.standard_normal((n, d))
                y = target(X[:, :1])
            h = X @ w
            w = w - eta * ((np.tanh(h) - y) * (1 - np.tanh(h) ** 2)) @ X / n
        finals.append(w[0] / np.linalg.norm(w))
    return np.array(finals)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--d", type=int, default=1600)
    p.add_argument("--alpha", type=float, default=4.0)
    p.add_argument("--seeds", type=int, default=40)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--passes", default="multi", choices=["multi", "one"])
    args = p.parse_args()
    n = int(args.alpha * args.d)
    total = args.seeds * args.steps
    print(f"{platform.processor() or platform.machine()}, d={args.d}, n={n}, {args.seeds} seeds, "
          f"{args.steps} steps, {args.passes}-pass")
    t0 = time.perf_counter()
    base = naive(args.d, n, 2.0, args.steps, args.seeds, args.passes)
    t_naive = time.perf_counter() - t0
    print(f"  naive per-seed loop (numpy float64)   {t_naive:7.2f} s  {total / t_naive:8.1f} steps/s  1.00x")
    arms = [("numpy", "float64"), ("numpy", "float32")]
    try:
        import torch

        arms += [("torch", "float32")]
        device = "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:
        device = None
    for backend, dtype in arms:
        cfg = SimConfig(target="he3", d=args.d, alpha=args.alpha, eta=2.0, steps=args.steps, passes=args.passes,
                        backend=backend, dtype=dtype)
        t0 = time.perf_counter()
        res = simulate(cfg, args.seeds)
        dt = time.perf_counter() - t0
        where = f" ({device})" if backend == "torch" else ""
        final = res.overlaps[:, -1, 0, 0]
        print(f"  datadiet.reuse {backend:5s} {dtype}{where:6s}   {dt:7.2f} s  {total / dt:8.1f} steps/s  "
              f"{t_naive / dt:4.2f}x   final overlap {final.mean():+.3f} (naive {base.mean():+.3f})")


if __name__ == "__main__":
    main()

"""MFLD particle-steps/second: the vectorized solver (numpy, torch) against a per-particle Python loop.

    .venv/bin/python benchmarks/mfld_bench.py            # M=2000, d=80, n=800
    .venv/bin/python benchmarks/mfld_bench.py --steps 5
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from datadiet.mfld import MFLDConfig, mfld, sparse_parity


def loop_step(X, Z, y, R, eta, lam, lam1, rng):
    """One MFLD step, one particle at a time (the reference a vectorized solver must beat)."""
    M, d = X.shape[0], Z.shape[1]
    f = np.zeros(Z.shape[0])
    for j in range(M):  # f = mean_j h_{X^j}
        f += R / 3 * (np.tanh(Z @ X[j, :d] + X[j, d]) + 2 * np.tanh(X[j, d + 1]))
    f /= M
    c = -y * 0.5 * (1 - np.tanh(0.5 * y * f)) * (R / 3 / Z.shape[0])
    out = np.empty_like(X)
    for j in range(M):
        s = (1 - np.tanh(Z @ X[j, :d] + X[j, d]) ** 2) * c
        g = np.concatenate([s @ Z, [s.sum(), 2 * (1 - np.tanh(X[j, d + 1]) ** 2) * c.sum()]]) + 2 * lam * lam1 * X[j]
        out[j] = X[j] - eta * g + np.sqrt(2 * eta * lam) * rng.standard_normal(X.shape[1])
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--particles", type=int, default=2000)
    ap.add_argument("--d", type=int, default=80)
    ap.add_argument("--n", type=int, default=800)
    ap.add_argument("--steps", type=int, default=10)
    a = ap.parse_args()
    Z, y = sparse_parity(a.d, 2).sample(a.n, np.random.default_rng(0))
    M, lam = a.particles, 0.1 / a.d
    rng = np.random.default_rng(0)
    X = rng.standard_normal((M, a.d + 2))
    t = time.perf_counter()
    for _ in range(a.steps):
        X = loop_step(X, Z, y, 15.0, 1.0, lam, 0.1, rng)
    base = M * a.steps / (time.perf_counter() - t)
    print(f"M={M} d={a.d} n={a.n}, {a.steps} steps")
    print(f"  per-particle loop        {base:12.0f} particle-steps/s   1.0x")
    for backend in ("numpy", "torch"):
        for dtype in ("float64", "float32"):
            cfg = MFLDConfig(particles=M, steps=a.steps, lam=lam, backend=backend, dtype=dtype, entropy_k=0,
                             log_every=a.steps)
            r = mfld(Z, y, cfg, seed=0)
            rate = M * a.steps / r.seconds
            print(f"  vectorized ({backend:5s} {dtype}) {rate:12.0f} particle-steps/s  {rate / base:5.1f}x")


if __name__ == "__main__":
    main()

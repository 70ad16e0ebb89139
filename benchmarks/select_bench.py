"""Seconds of `datadiet.select.maxmin` against a plain numpy farthest-first loop, same process.

    python benchmarks/select_bench.py                      # N=100k, d=384, k=1000 (the issue's setting)
    python benchmarks/select_bench.py --n 20000 --k 200    # quicker

Data: clustered unit vectors (Gaussian blobs around random centers, normalized), cosine distance.
Both runs start from the same point; the script checks they select the same indices.
Printed, not asserted: timings belong here, not in the test suite.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

from datadiet.select import maxmin
from datadiet.select._common import as_points


def clustered_unit_vectors(n: int, d: int, clusters: int = 50, spread: float = 0.3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((clusters, d)).astype(np.float32)
    X = centers[rng.integers(clusters, size=n)] + spread * rng.standard_normal((n, d), dtype=np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X


def plain_numpy(X: np.ndarray, k: int, start: int) -> np.ndarray:
    """The textbook incremental loop a user would write: one mat-vec, a min and an argmax per step."""
    mind = 1.0 - X @ X[start]
    mind[start] = -np.inf
    out = [start]
    for _ in range(k - 1):
        i = int(np.argmax(mind))
        out.append(i)
        mind = np.minimum(mind, 1.0 - X @ X[i])
        mind[out] = -np.inf
    return np.asarray(out)


def best_of(fn, repeat: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best, result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--d", type=int, default=384)
    ap.add_argument("--k", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    X = as_points(clustered_unit_vectors(args.n, args.d), "cosine")  # both runs see the same unit rows
    start = 0
    t_base, base = best_of(lambda: plain_numpy(X, args.k, start), args.repeat)
    t_ours, ours = best_of(lambda: maxmin(X, args.k, start=start, backend="numpy").indices, args.repeat)
    diverge = np.flatnonzero(base != ours)
    # 1 - x in float32 can round two different similarities to one distance: the plain loop then
    # breaks a tie that maxmin (which keeps the similarity) does not see. Report where, if anywhere.
    same = "yes" if diverge.size == 0 else f"first {int(diverge[0])} of {args.k} (float32 near-tie)"
    gbps = args.n * args.d * 4 * args.k / t_ours / 1e9
    print(f"maxmin benchmark: N={args.n} d={args.d} k={args.k} float32 cosine, "
          f"best of {args.repeat}, {platform.machine()} ({platform.python_version()}, numpy {np.__version__})")
    print(f"  plain numpy loop   {t_base:8.2f} s")
    print(f"  datadiet maxmin    {t_ours:8.2f} s   ({gbps:.1f} GB/s of X streamed)")
    print(f"  speed-up           {t_base / t_ours:8.2f}x   same indices: {same}")


if __name__ == "__main__":
    main()

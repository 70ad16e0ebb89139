"""Shared by the reuse-* experiments: seed blocks for the vectorized simulator and pooled statistics."""

from __future__ import annotations

import numpy as np

from ..reuse.simulate import SimConfig, simulate


def sim_seeds(seed: int, sims: int) -> list[int]:
    """The simulator seeds of one experiment seed: disjoint blocks, so seeds pool into one sample."""
    return [seed * 100_000 + i for i in range(sims)]


def run_arm(config: SimConfig, seed: int, sims: int) -> dict:
    """Per-simulation overlaps of one arm: {"signed": [[per step] per sim], "abs": ..., "test_error": ...}."""
    res = simulate(config, sim_seeds(seed, sims))
    out = {"steps": res.steps.tolist(), "signed": res.per_seed(0, "signed").tolist(),
           "abs": res.per_seed(0, "abs").tolist(), "test_error": res.test_error.tolist(),
           "seconds": round(res.seconds, 3)}
    if res.target.k > 1:
        out["orth"] = res.per_seed(0, "orth").tolist()
    return out


def pooled(runs: list[dict], path: tuple, kind: str) -> np.ndarray:
    """Stack one arm's per-simulation curves over experiment seeds: (total sims, records)."""
    rows = []
    for run in runs:
        node = run
        for key in path:
            node = node[key]
        rows.extend(node[kind])
    return np.asarray(rows, dtype=float)

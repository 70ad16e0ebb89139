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


AUTHORS_DATA = "benefit_reusing_batch.json"


def authors_results() -> dict:
    """The few stored numbers of the authors' repository the reuse-dmft rule compares against.

    From IdePHICS/benefit-reusing-batch at commit 5469d413fee4ac63be4dc872e95efbd4a4370152: the DMFT overlaps
    of data/DMFT_A3_T7_P2_sym=TEST_lambda0.0_lr0.2_samples10000000.npz and the mean ± s.e. over 32 runs of
    data/simulations_A3_p2_k2_D5000_T7_sym=offline_learn_lambda0.0_lr0.2_onlineFalse.npz (read, not copied:
    only these arrays are stored, in experiments/data/benefit_reusing_batch.json, with the citation).
    Arrays are lists indexed [step t = 0..6][neuron j][direction r] of m_jr = w_j·w*_r / D.
    """
    import json
    from pathlib import Path

    path = Path(__file__).with_name("data") / AUTHORS_DATA
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def symmetrized(m: np.ndarray) -> np.ndarray:
    """(..., 2, k) → (..., k): (m_1r − m_2r)/2 for two neurons with a = (+1, −1)/√2 on an odd target.

    (w_1, w_2) → (−w_2, −w_1) maps the student f(x) to −f(−x), and odd targets and Gaussian data are invariant
    under x → −x, so the dynamics keeps m_2 = −m_1 in law: the average halves the noise of either neuron.
    """
    m = np.asarray(m, dtype=float)
    return 0.5 * (m[..., 0, :] - m[..., 1, :])

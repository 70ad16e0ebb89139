"""datadiet.reuse: when reusing a batch beats fresh data (Dandi et al., arXiv 2402.03220).

A two-layer student on Gaussian single/multi-index targets, trained by multi-pass GD (one batch
reused), one-pass GD (a fresh batch per step) or online SGD with sample repetition; a vectorized
simulator and the dynamical mean-field (DMFT) solver of the d → ∞ limit.

    from datadiet.reuse import simulate, SimConfig
    res = simulate(SimConfig(target="he3", d=800, alpha=4, eta=2, steps=3, passes="multi"), seeds=40)
    res.table()[-1]   # {"step": 3, "signed_mean": ..., "signed_sem": ..., "abs_mean": ..., ...}
"""

from .hermite import gaussian_expectation, hermite, hermite_normalized
from .simulate import SimConfig, SimResult, simulate
from .targets import Target, describe, get_target, make_target, target_names
from .twolayer import ACTIVATIONS, Activation, get_activation, overlaps, population_error, user_activation

__all__ = [
    "ACTIVATIONS", "Activation", "SimConfig", "SimResult", "Target", "describe", "gaussian_expectation",
    "get_activation", "get_target", "hermite", "hermite_normalized", "make_target", "overlaps",
    "population_error", "simulate", "target_names", "user_activation",
]

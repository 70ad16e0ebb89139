"""Registry of reproducible experiments: ``datadiet reproduce list`` / ``datadiet reproduce NAME``.

Each entry is a module following the contract in :mod:`datadiet.experiments.base`. Modules are
imported only when used, so listing stays fast and an experiment's heavy imports (torch) stay lazy.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ..errors import InputError
from .base import Result, Verdict, summarize

# name -> module path (relative to this package)
_REGISTRY: dict[str, str] = {}


def register(name: str, module: str) -> None:
    _REGISTRY[name] = module


register("uniformity-lm", "uniformity_lm")
register("uniformity-lm-scratch", "uniformity_lm_scratch")
register("uniformity-regression", "uniformity_regression")
register("dga-target", "dga_target")
register("diffusion-rate", "diffusion_rate")
register("diffusion-manifold", "diffusion_manifold")
register("tokensel-length", "tokensel_length")
register("reuse-he3", "reuse_he3")
register("reuse-symmetric", "reuse_symmetric")
register("reuse-staircase", "reuse_staircase")
register("reuse-dmft", "reuse_dmft")
register("reuse-repetition-sgd", "reuse_repetition_sgd")
register("mfld-parity-sample-complexity", "mfld_parity_sample_complexity")
register("mfld-discretization", "mfld_discretization")
register("parity-hidden-progress", "parity_hidden_progress")
register("diff2-utility", "diff2_utility")
register("scalablefl", "scalablefl")


def names() -> list[str]:
    return sorted(_REGISTRY)


def get(name: str) -> ModuleType:
    if name not in _REGISTRY:
        raise InputError(f"unknown experiment {name!r}; `datadiet reproduce list` shows: {', '.join(names())}")
    return importlib.import_module(f"{__name__}.{_REGISTRY[name]}")


__all__ = ["Result", "Verdict", "summarize", "names", "get", "register"]

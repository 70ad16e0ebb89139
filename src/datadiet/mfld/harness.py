"""One k-sparse parity comparison: MFLD against the kernel baselines and SGD on a ReLU network, same data.

    from datadiet.mfld import compare_on_parity
    compare_on_parity(d=40, k=2, n=400, seed=0)   # {"mfld": 1.0, "krr_rbf": 0.6, ..., "kernel": best kernel}
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..errors import InputError
from .baselines import KERNELS, kernel_accuracies
from .parity import sparse_parity
from .relu_sgd import ReluSGDConfig, train_relu_sgd
from .solver import MFLDConfig, mfld

BASELINES = KERNELS + ("relu_sgd",)


def compare_on_parity(d: int, k: int, n: int, *, particles: int = 500, steps: int = 2000, eta: float = 1.0,
                      lam: float | None = None, seed: int = 0, n_test: int = 2000, rotated: bool = False,
                      baselines=BASELINES, backend: str = "numpy", dtype: str = "float64", curve_every: int = 0,
                      on_step: Callable[[int, int], None] | None = None) -> dict:
    """Test accuracy of MFLD (key "mfld"), each baseline, and "kernel" = the best kernel method.

    With ``curve_every`` > 0, also "mfld_curve": {"step": [...], "accuracy": [...]}, the MFLD test accuracy every
    ``curve_every`` steps (and at the end), to check that the step budget has converged.

    Data: n training and n_test test points of the k-parity on {±1/√d}^d (rotated with ``rotated``), drawn
    from ``seed``. λ defaults to 0.1/d (the parity paper's scaling). SGD on the ReLU network runs ``steps``
    minibatch steps on the same n points.
    """
    if not isinstance(n, (int, np.integer)) or n < 2:
        raise InputError(f"--n {n!r} must be an integer >= 2")
    unknown = set(baselines) - set(BASELINES)
    if unknown:
        raise InputError(f"unknown baseline(s) {sorted(unknown)}; choose from {', '.join(BASELINES)}")
    task = sparse_parity(d, k, seed=seed, rotated=rotated)
    Z, y = task.sample(n, np.random.default_rng(np.random.SeedSequence([seed, 1])))
    Zt, yt = task.sample(n_test, np.random.default_rng(np.random.SeedSequence([seed, 2])))
    lam = 0.1 / d if lam is None else lam
    log_every = curve_every if curve_every > 0 else max(steps, 1)
    res = mfld(Z, y, MFLDConfig(particles=particles, steps=steps, eta=eta, lam=lam, backend=backend, dtype=dtype,
                                log_every=log_every, entropy_k=0), seed=seed, on_step=on_step,
               eval_data=(Zt, yt) if curve_every > 0 else None)
    out: dict = {"mfld": float(np.mean(np.where(res.decision_function(Zt) >= 0, 1.0, -1.0) == yt))}
    if curve_every > 0:
        out["mfld_curve"] = {"step": [int(t) for t in res.history["step"]],
                             "accuracy": [float(a) for a in res.history["eval_accuracy"]]}
    kern = [b for b in baselines if b in KERNELS]
    if kern:
        out.update(kernel_accuracies(Z, y, Zt, yt, degree=max(k, 2), ntk_features=particles, seed=seed,
                                     methods=kern))
        out["kernel"] = max(out[b] for b in kern)
    if "relu_sgd" in baselines:
        out["relu_sgd"] = train_relu_sgd(ReluSGDConfig(steps=max(steps, 1), weight_decay=0.01, log_every=max(steps, 1)),
                                         seed=seed, data=(Z, y), eval_data=(Zt, yt))["accuracy"]
    return out

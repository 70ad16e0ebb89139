"""Mean-field Langevin dynamics for two-layer networks, k-sparse parity and the kernel gap.

Suzuki, Wu, Nitanda (NeurIPS 2023, convergence with time/space discretization, SGD and SVRG); Suzuki, Wu, Oko,
Nitanda (NeurIPS 2023, sparse parities); plus kernel/NTK baselines and SGD on a ReLU net (Barak et al. 2022).

    from datadiet.mfld import MFLDConfig, mfld, sparse_parity, MFLDClassifier
    task = sparse_parity(40, 2); Z, y = task.sample(400, np.random.default_rng(0))
    res = mfld(Z, y, MFLDConfig(particles=500, steps=2000), seed=0)    # res.history["objective"], ...
    MFLDClassifier(steps=2000).fit(Z, y).score(Z_test, y_test)
"""

from .entropy import gaussian_entropy, knn_entropy
from .parity import SparseParity, hidden_progress, sparse_parity
from .solver import (MFLDConfig, MFLDResult, first_variation_grad, mfld, network_output,
                     particle_objective)

_LAZY = {  # need scikit-learn / torch: imported on first use
    "MFLDClassifier": "estimator", "MFLDRegressor": "estimator",
    "kernel_accuracies": "baselines", "ntk_gram": "baselines",
    "ReluSGDConfig": "relu_sgd", "train_relu_sgd": "relu_sgd",
    "compare_on_parity": "harness",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["MFLDConfig", "MFLDResult", "mfld", "first_variation_grad", "particle_objective", "network_output",
           "knn_entropy", "gaussian_entropy", "SparseParity", "sparse_parity", "hidden_progress", *_LAZY]

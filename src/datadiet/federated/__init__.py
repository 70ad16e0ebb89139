"""Federated learning on less (and private) data: DIFF2 / DP-GD with a real accountant (Murata & Suzuki,
ICML 2023) and sub-model FL for clients with different image sizes and label sets (Nitta, Suzuki et al.,
ICMLA 2023), with FedAvg (native or resized) / HeteroFL / FedBN / FedPer, and an Opacus DP-SGD baseline.
Plain functions here; ``fc`` is the vectorized 10-unit softplus network of the DIFF2 experiments, ``noise``
the DP noise sources (OS entropy, or seeded with ``reproducible``), ``flower`` the Flower App
(ServerApp / ClientApp / Strategy) and ``deploy`` the launchers (``flwr run`` on the local simulation engine,
or a local SuperLink + SuperNodes); the last two need ``datadiet[federated]``.
"""

from .dp import NOISE_MODES, DPConfig, DPRun, clip_rows, noise_std, run_batch, run_diff2, server_step
from .hetero import METHODS as HETERO_METHODS
from .hetero import HeteroConfig, run_hetero
from .problems import make_problem
from .run import METHODS, run_method
from .submodel import ClientSpec, aggregate, slice_params, spec_for

__all__ = ["NOISE_MODES", "DPConfig", "DPRun", "clip_rows", "noise_std", "run_batch", "run_diff2", "server_step",
           "HETERO_METHODS", "HeteroConfig", "run_hetero", "make_problem", "METHODS", "run_method", "ClientSpec",
           "aggregate", "slice_params", "spec_for"]

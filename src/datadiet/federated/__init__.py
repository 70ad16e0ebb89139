"""Federated learning on less (and private) data: DIFF2 / DP-GD with a real accountant (Murata & Suzuki,
ICML 2023) and sub-model FL for clients with different image sizes and label sets (Nitta, Suzuki et al.,
ICMLA 2023), with FedAvg / HeteroFL / FedBN / FedPer, and an Opacus DP-SGD baseline (``dpsgd``).
Plain functions here; the Flower adapters (Strategy / ClientApp / ServerApp) are in ``flower`` and the
local SuperLink + SuperNodes launcher in ``deploy`` (both need ``datadiet[federated]``).
"""

from .dp import DPConfig, DPRun, clip_rows, run_diff2, server_step
from .hetero import METHODS as HETERO_METHODS
from .hetero import HeteroConfig, run_hetero
from .problems import make_problem
from .run import METHODS, run_method
from .submodel import ClientSpec, aggregate, slice_params, spec_for

__all__ = ["DPConfig", "DPRun", "clip_rows", "run_diff2", "server_step", "HETERO_METHODS", "HeteroConfig",
           "run_hetero", "make_problem", "METHODS", "run_method", "ClientSpec", "aggregate", "slice_params",
           "spec_for"]

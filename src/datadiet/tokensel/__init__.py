"""Transformers select tokens (Takakura & Suzuki, ICML 2023): task generator, small transformer, flat baselines.

Needs torch and scikit-learn (``pip install 'datadiet[tokensel]'``).
"""

from .baselines import FlatMLP, kernel_ridge
from .model import TokenTransformer, oracle_model
from .task import TokenTask
from .train import FitConfig, fit, predict, predict_mse

__all__ = ["FlatMLP", "kernel_ridge", "TokenTransformer", "oracle_model", "TokenTask", "FitConfig", "fit",
           "predict", "predict_mse"]

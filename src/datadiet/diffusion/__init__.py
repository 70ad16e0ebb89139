"""Diffusion models as distribution estimators (Oko, Akiyama, Suzuki, ICML 2023).

Forward OU process, densities with known smoothness, DSM training of a small score network, the closed-form
(kernel-smoothed) empirical score, reverse-SDE / probability-flow samplers, TV and sliced-Wasserstein distances,
and a cross-validated KDE baseline. Needs torch (``pip install 'datadiet[diffusion]'``).
"""

from .densities import Curve, Kink1D, Lacunary1D, get_density, smoothness
from .distances import density_from_quantiles, gaussian_mixture_on_grid, grid, sliced_wasserstein, tv_grid, tv_histogram
from .dsm import DSMConfig, ScoreNet, dsm_loss, train_score_net
from .forward import early_stop_time, forward_sample, horizon, m_t, sigma_t, t_for_sigma
from .kde import kde_cv_bandwidth, kde_on_grid
from .samplers import prior_noise, prior_quantiles, probability_flow, reverse_sde, time_grid
from .score import empirical_score, gaussian_score, mixture_log_density, mixture_score

__all__ = [
    "Curve", "Kink1D", "Lacunary1D", "get_density", "smoothness",
    "density_from_quantiles", "gaussian_mixture_on_grid", "grid", "sliced_wasserstein", "tv_grid", "tv_histogram",
    "DSMConfig", "ScoreNet", "dsm_loss", "train_score_net",
    "early_stop_time", "forward_sample", "horizon", "m_t", "sigma_t", "t_for_sigma",
    "kde_cv_bandwidth", "kde_on_grid",
    "prior_noise", "prior_quantiles", "probability_flow", "reverse_sde", "time_grid",
    "empirical_score", "gaussian_score", "mixture_log_density", "mixture_score",
]

"""Diffusion models as distribution estimators (Oko, Akiyama, Suzuki, ICML 2023).

Forward OU process, densities with known smoothness, DSM training of a score network (an MLP, or a 1-D
spline-feature network), the closed-form (kernel-smoothed) empirical score, reverse-SDE / ancestral /
probability-flow samplers (and the exact grid law of the reverse SDE in 1-D), population score errors,
TV and sliced-Wasserstein distances, and a cross-validated KDE baseline. Needs torch (``pip install 'datadiet[diffusion]'``).
"""

from .densities import Curve, Kink1D, Lacunary1D, get_density, smoothness
from .distances import (SlicedW1To, density_from_quantiles, gaussian_mixture_on_grid, grid, sliced_wasserstein, tv_grid,
                        tv_histogram)
from .dsm import DSMConfig, ScoreNet, SplineScoreNet, dsm_loss, make_net, train_score_net
from .forward import early_stop_time, forward_sample, horizon, m_t, sigma_t, t_for_sigma
from .kde import kde_cv_bandwidth, kde_on_grid
from .population import girsanov, log_t_average, score_error_profile
from .samplers import (ancestral_sde, prior_noise, prior_quantiles, probability_flow, reverse_sde, reverse_sde_law,
                       time_grid)
from .score import empirical_score, gaussian_score, mixture_log_density, mixture_score

__all__ = [
    "Curve", "Kink1D", "Lacunary1D", "get_density", "smoothness",
    "SlicedW1To", "density_from_quantiles", "gaussian_mixture_on_grid", "grid", "sliced_wasserstein", "tv_grid", "tv_histogram",
    "DSMConfig", "ScoreNet", "SplineScoreNet", "dsm_loss", "make_net", "train_score_net",
    "girsanov", "log_t_average", "score_error_profile",
    "early_stop_time", "forward_sample", "horizon", "m_t", "sigma_t", "t_for_sigma",
    "kde_cv_bandwidth", "kde_on_grid",
    "ancestral_sde", "prior_noise", "prior_quantiles", "probability_flow", "reverse_sde", "reverse_sde_law",
    "time_grid",
    "empirical_score", "gaussian_score", "mixture_log_density", "mixture_score",
]

"""Online data mixing: domain weights set during training (`DGA`) and the standard baselines.

``DomainSampler(domain_indices, mixer, batch_size)`` yields batches by ``mixer.weights()``;
the training loop calls ``mixer.observe(...)`` (for `DGA`, every ``update_every`` steps, with
gradients from `compute_alignment` / `flat_grad`). See `datadiet.mix.dga` for the method.
"""

from datadiet.mix.base import Mixer, to_simplex
from datadiet.mix.baselines import ODM, DoReMi, ImportanceSampling, Natural, Static, Uniform
from datadiet.mix.dga import DGA, compute_alignment, flat_grad

__all__ = ["Mixer", "to_simplex", "DGA", "compute_alignment", "flat_grad", "Uniform", "Natural", "Static",
           "ImportanceSampling", "ODM", "DoReMi", "DomainSampler"]


def __getattr__(name):  # the sampler needs torch; import it lazily so the mixers work without torch
    if name == "DomainSampler":
        from datadiet.mix.sampler import DomainSampler

        return DomainSampler
    raise AttributeError(name)

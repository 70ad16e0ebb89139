"""Baseline mixers under the `Mixer` protocol: Uniform, Natural, Static, ImportanceSampling, ODM, DoReMi.

Rerun: ``python -c "from datadiet.mix import ODM; m=ODM(['a','b']); m.observe(domain_losses={'a': 3.0}); print(m.weights())"``
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

from datadiet.errors import InputError
from datadiet.mix.base import (check_domains, check_state_domains, check_weight_vector, load_simplex, safe_log, softmax,
                               to_simplex)


class Static:
    """Fixed user weights (validated: finite, >= 0, positive sum; normalized). ``observe`` ignores everything.

    Parameters
    ----------
    weights : dict name -> float, or a sequence aligned with ``domains``
    domains : list of str, optional
        Order of the domains (default: the mapping's order).
    """

    kind = "static"

    def __init__(self, weights: Mapping[str, float] | Sequence[float], domains: Sequence[str] | None = None):
        self.domains, self._alpha = check_weight_vector(weights, domains)

    def weights(self) -> np.ndarray:
        return self._alpha.copy()

    def observe(self, **signals: Any) -> None:
        """Static weights: signals are ignored."""

    def state_dict(self) -> dict:
        return {"type": self.kind, "domains": list(self.domains), "alpha": self._alpha.tolist()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        check_state_domains(state, self.domains, self.kind)
        self._alpha = load_simplex(state["alpha"], len(self.domains), "alpha")


class Uniform(Static):
    """α_i = 1/k."""

    kind = "uniform"

    def __init__(self, domains: Sequence[str]):
        names = check_domains(domains)
        super().__init__([1.0] * len(names), names)


class Natural(Static):
    """Size-proportional weights α_i = n_i / Σ n (the mixture of simply concatenating the domains).

    Parameters
    ----------
    sizes : dict name -> number of examples (or tokens); at least one must be positive.
    """

    kind = "natural"

    def __init__(self, sizes: Mapping[str, float]):
        super().__init__(sizes)


class ImportanceSampling(Static):
    """Static weights from where the target set falls: α_i = fraction of target examples whose
    nearest domain centroid (cosine similarity) is domain i.

    Build with `ImportanceSampling.from_embeddings`. The DGA paper's importance-sampling baseline
    (arXiv 2410.02498) uses the same nearest-centroid histogram over clusters.
    """

    kind = "importance"

    @classmethod
    def from_embeddings(cls, domain_embeddings: Mapping[str, Any], target_embeddings: Any) -> "ImportanceSampling":
        """
        Parameters
        ----------
        domain_embeddings : dict name -> array of shape (n_i, d)
            Every domain needs at least one example.
        target_embeddings : array of shape (n_target, d)

        Notes
        -----
        Centroid c_i = mean of the L2-normalized rows of domain i; each target row goes to
        argmax_i cos(x, c_i) (ties to the first domain). O((n + n_target) · d + n_target · k · d).
        """
        names = check_domains(list(domain_embeddings))
        T = np.asarray(target_embeddings, dtype=np.float64)
        if T.ndim != 2 or T.shape[0] == 0:
            raise InputError(f"target_embeddings must have shape (n_target >= 1, d), got {T.shape}")
        if not np.isfinite(T).all():
            raise InputError("target_embeddings contain NaN or inf")
        cents = np.empty((len(names), T.shape[1]))
        for i, name in enumerate(names):
            X = np.asarray(domain_embeddings[name], dtype=np.float64)
            if X.ndim != 2 or X.shape[0] == 0:
                raise InputError(f"domain {name!r} has no examples (embeddings of shape {X.shape}); "
                                 "every domain needs at least one")
            if X.shape[1] != T.shape[1]:
                raise InputError(f"domain {name!r} embeddings have dimension {X.shape[1]}, the target's {T.shape[1]}")
            if not np.isfinite(X).all():
                raise InputError(f"domain {name!r} embeddings contain NaN or inf")
            cents[i] = _normalize_rows(X).mean(axis=0)
        sims = _normalize_rows(T) @ _normalize_rows(cents).T
        counts = np.bincount(sims.argmax(axis=1), minlength=len(names)).astype(np.float64)
        obj = cls.__new__(cls)
        obj.domains, obj._alpha = names, counts / counts.sum()
        return obj


def _normalize_rows(X: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.where(n > 0, n, 1.0)


class ODM:
    """Online Data Mixing (Albalak et al. 2023, "Efficient Online Data Mixing for LM Pre-Training"), EXP3-style.

    ``observe(domain_losses={name: training loss on that domain in the last batch})`` — only the
    domains that were sampled are given. Our reading of the paper's update, per call t = 1, 2, ...:

        R_i ← γ R_i + (1 − γ) ℓ_i          for each observed domain i   (γ = ``smoothing``, 0.9)
        ε_t = min(1/k, sqrt(ln k / (k t)))
        π   = (1 − k ε_t) softmax(ε_{t−1} R) + ε_t                          (ε_0 = 1/k)

    so the policy starts uniform and exploits the domains with the highest smoothed training loss
    as ε_t shrinks. The paper's importance weighting ℓ_i / π_i of the reward is available with
    ``importance_weighted=True`` (off by default, following the issue's "reward = EMA of loss").
    """

    kind = "odm"

    def __init__(self, domains: Sequence[str], *, smoothing: float = 0.9, importance_weighted: bool = False):
        self.domains = check_domains(domains)
        if not (0 <= smoothing < 1):
            raise InputError(f"ODM smoothing must be in [0, 1), got {smoothing!r}")
        self.smoothing, self.importance_weighted = float(smoothing), bool(importance_weighted)
        k = len(self.domains)
        self._R = np.zeros(k)
        self._t = 0
        self._pi = np.full(k, 1.0 / k)

    def _eps(self, t: int) -> float:
        k = len(self.domains)
        if t <= 0 or k == 1:
            return 1.0 / k
        return min(1.0 / k, math.sqrt(math.log(k) / (k * t)))

    def weights(self) -> np.ndarray:
        return self._pi.copy()

    def observe(self, *, domain_losses: Mapping[str, float], **_: Any) -> None:
        for name, loss in domain_losses.items():
            if name not in self.domains:
                raise InputError(f"loss given for unknown domain {name!r}; domains are {self.domains}")
            loss = float(loss)
            if not math.isfinite(loss):
                continue  # a non-finite loss carries no usable reward
            i = self.domains.index(name)
            r = loss / max(self._pi[i], 1e-12) if self.importance_weighted else loss
            self._R[i] = self.smoothing * self._R[i] + (1 - self.smoothing) * r
        self._t += 1
        k = len(self.domains)
        eps_prev, eps = self._eps(self._t - 1), self._eps(self._t)
        self._pi = to_simplex((1 - k * eps) * softmax(eps_prev * self._R) + eps)

    def state_dict(self) -> dict:
        return {"type": self.kind, "domains": list(self.domains), "R": self._R.tolist(), "t": self._t,
                "pi": self._pi.tolist()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        check_state_domains(state, self.domains, self.kind)
        self._R = np.asarray(state["R"], dtype=np.float64)
        self._t = int(state["t"])
        self._pi = load_simplex(state["pi"], len(self.domains), "pi")


class DoReMi:
    """Online DoReMi (Xie et al. 2023, "DoReMi: Optimizing Data Mixtures Speeds Up LM Pretraining").

    ``observe(domain_losses=..., reference_losses=...)`` with per-domain mean losses of the model
    being trained and of a fixed reference model on the same examples (missing domains: λ = 0):

        λ_i = max(ℓ_i − ℓ_ref,i, 0)
        α'  = softmax(log α + η λ)
        α   = (1 − ε) α' + ε / k          (ε = ``smoothing``)

    ``weights()`` is the current α; ``average_weights()`` the time average over updates (DoReMi's
    output for a second run). The paper clips per token before averaging; given only domain means
    we clip the mean.
    """

    kind = "doremi"

    def __init__(self, domains: Sequence[str], *, eta: float = 1.0, smoothing: float = 1e-3,
                 init: Mapping[str, float] | Sequence[float] | None = None):
        self.domains = check_domains(domains)
        if not (math.isfinite(eta) and eta >= 0):
            raise InputError(f"DoReMi eta must be a finite number >= 0, got {eta!r}")
        if not (0 <= smoothing <= 1):
            raise InputError(f"DoReMi smoothing must be in [0, 1], got {smoothing!r}")
        self.eta, self.smoothing = float(eta), float(smoothing)
        k = len(self.domains)
        self._alpha = np.full(k, 1.0 / k) if init is None else check_weight_vector(init, self.domains)[1]
        self._sum = np.zeros(k)
        self._n = 0

    def weights(self) -> np.ndarray:
        return self._alpha.copy()

    def average_weights(self) -> np.ndarray:
        return self._alpha.copy() if self._n == 0 else to_simplex(self._sum / self._n)

    def observe(self, *, domain_losses: Mapping[str, float], reference_losses: Mapping[str, float], **_: Any) -> None:
        lam = np.zeros(len(self.domains))
        for name, loss in domain_losses.items():
            if name not in self.domains:
                raise InputError(f"loss given for unknown domain {name!r}; domains are {self.domains}")
            if name not in reference_losses:
                raise InputError(f"no reference loss for domain {name!r}")
            ex = float(loss) - float(reference_losses[name])
            lam[self.domains.index(name)] = max(ex, 0.0) if math.isfinite(ex) else 0.0
        k = len(self.domains)
        a = softmax(safe_log(self._alpha) + self.eta * lam)
        self._alpha = to_simplex((1 - self.smoothing) * a + self.smoothing / k)
        self._sum += self._alpha
        self._n += 1

    def state_dict(self) -> dict:
        return {"type": self.kind, "domains": list(self.domains), "alpha": self._alpha.tolist(),
                "sum": self._sum.tolist(), "n": self._n}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        check_state_domains(state, self.domains, self.kind)
        self._alpha = load_simplex(state["alpha"], len(self.domains), "alpha")
        self._sum = np.asarray(state["sum"], dtype=np.float64)
        self._n = int(state["n"])

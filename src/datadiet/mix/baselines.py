"""Baseline mixers under the `Mixer` protocol: Uniform, Natural, Static, ImportanceSampling, ODM, DoReMi.

ODM and DoReMi follow their authors' code (read, not copied; cited on each class):

* ODM (Albalak et al. 2023, arXiv 2312.02406): EXP3 with an importance-weighted *cumulative* reward,
  ``alon-albalak/online-data-mixing`` @ edbfdadb62b0388120b6198b1743067a7cd990dc,
  ``megatron/data/data_sampling_utils.py`` (``Exp3WeightUpdater.update``/``group_update``), called every
  training step from ``megatron/training.py`` with the training loss of the sampled domain(s).
* DoReMi (Xie et al. 2023, arXiv 2305.10429): per-token clipped excess loss against a reference model,
  ``sangmichaelxie/doremi`` @ 7cde52d1848737aa967ecbdb9e643cf334de160d, ``doremi/trainer.py``
  (``update_domain_weights``, ``write_weights``) and ``doremi/train.py`` (initial scores log|V|, the
  average counting the initial weights once).

Rerun: ``python -c "from datadiet.mix import ODM; m=ODM(['a','b']); m.observe(domain_losses={'a': 3.0}, step=1); print(m.weights())"``
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
    """Online Data Mixing (Albalak et al. 2023, arXiv 2312.02406): EXP3 over domains, updated every training step.

    ``observe(domain_losses={name: mean training loss of that domain's rows in this step's batch},
    step=t, batch_size=B)`` with only the domains present in the batch. Per call (t = training step, 1-based):

        ε_{t-1} = the previous ε (1/k before the first call);  ε_t = min(1/k, sqrt(ln k / (k t)))
        R_i    += s · ℓ_i / p_i                  for every observed domain i   (s = ``reward_scale``)
        π       = (1 − k ε_t) softmax(ε_{t-1} R) + ε_t

    ``p_i`` is the probability that domain i is observed at all: ``π_i`` when a batch is drawn from one
    domain (B = 1, the authors' ``Exp3WeightUpdater``), ``1 − (1 − π_i)^B`` when each of B slots draws
    its own domain (mixed batches). The authors' mixed-minibatch updater divides by ``π_i`` there too,
    which over-credits rarely drawn domains that nonetheless appear in almost every batch; the
    observation probability keeps the reward estimate unbiased (``E[1{observed} ℓ_i / p_i] = ℓ_i``) and
    equals theirs at B = 1. ``reward_scale = 0.1`` is their ``reward/10``.

    Parameters
    ----------
    domains : list of str
    reward_scale : float > 0, default=0.1
    """

    kind = "odm"

    def __init__(self, domains: Sequence[str], *, reward_scale: float = 0.1):
        self.domains = check_domains(domains)
        if isinstance(reward_scale, bool) or not isinstance(reward_scale, (int, float)) or \
                not (math.isfinite(reward_scale) and reward_scale > 0):
            raise InputError(f"ODM reward_scale must be a finite number > 0, got {reward_scale!r}")
        self.reward_scale = float(reward_scale)
        k = len(self.domains)
        self._R = np.zeros(k)
        self._t = 0
        self._eps = 1.0 / k
        self._pi = np.full(k, 1.0 / k)

    def epsilon(self, t: int) -> float:
        """ε_t = min(1/k, sqrt(ln k / (k t))) (1/k for t <= 0 or a single domain)."""
        k = len(self.domains)
        if t <= 0 or k == 1:
            return 1.0 / k
        return min(1.0 / k, math.sqrt(math.log(k) / (k * t)))

    @property
    def steps(self) -> int:
        """The training step t of the last update (0 before the first)."""
        return self._t

    def cumulative_reward(self) -> np.ndarray:
        """R, the importance-weighted cumulative reward of each domain."""
        return self._R.copy()

    def weights(self) -> np.ndarray:
        return self._pi.copy()

    def observe(self, *, domain_losses: Mapping[str, float], step: int | None = None, batch_size: int = 1,
                **_: Any) -> None:
        """One EXP3 update from this step's per-domain training losses (see the class docstring).

        ``step`` is the training step (1-based); by default the previous one plus 1. Non-finite
        losses are ignored (that domain is treated as unobserved).
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise InputError(f"ODM batch_size must be an int >= 1, got {batch_size!r}")
        t = self._t + 1 if step is None else int(step)
        if t <= self._t:
            raise InputError(f"ODM step must increase: got step {t} after step {self._t}")
        k = len(self.domains)
        losses = {}
        for name, loss in domain_losses.items():
            if name not in self.domains:
                raise InputError(f"loss given for unknown domain {name!r}; domains are {self.domains}")
            loss = float(loss)
            if math.isfinite(loss):
                losses[self.domains.index(name)] = loss
        eps_prev, eps = self._eps, self.epsilon(t)
        p_obs = 1.0 - (1.0 - self._pi) ** int(batch_size)
        for i, loss in losses.items():
            self._R[i] += self.reward_scale * loss / max(float(p_obs[i]), 1e-12)
        self._pi = to_simplex((1.0 - k * eps) * softmax(eps_prev * self._R) + eps)
        self._t, self._eps = t, eps

    def state_dict(self) -> dict:
        return {"type": self.kind, "domains": list(self.domains), "R": self._R.tolist(), "t": self._t,
                "eps": self._eps, "pi": self._pi.tolist(), "reward_scale": self.reward_scale}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        check_state_domains(state, self.domains, self.kind)
        R = np.asarray(state["R"], dtype=np.float64)
        if R.shape != (len(self.domains),):
            raise InputError(f"saved ODM rewards {state['R']!r} do not match {len(self.domains)} domains")
        self._R = R.copy()
        self._t = int(state["t"])
        self._eps = float(state.get("eps", self.epsilon(self._t)))
        self._pi = load_simplex(state["pi"], len(self.domains), "pi")


class DoReMi:
    """DoReMi's domain-weight update (Xie et al. 2023, arXiv 2305.10429), on a proxy model's training batches.

    ``observe(excess={name: per-token excess losses ℓ_proxy − ℓ_ref of that domain's counted tokens in
    this training batch})`` once per training step; domains absent from the batch keep their last score:

        λ_i = mean_{tokens of domain i} max(ℓ_proxy − ℓ_ref, 0)     (clipped per token, then averaged)
        α'  = softmax(log α + η λ)
        α   = (1 − ε) α' + ε / k                                     (ε = ``smoothing``)

    Scores start at log ``vocab_size`` (the largest per-token loss of a uniform predictor, as the
    reference code), so a domain not yet seen is favoured. ``weights()`` is the current α (which
    *reweights the proxy's loss*; DoReMi samples the proxy's batches from the reference mixture);
    ``average_weights()`` is DoReMi's output, the running mean of α over updates with the initial
    weights counted once, which a second run then trains on as static weights.

    Parameters
    ----------
    domains : list of str
    eta : float >= 0, default=1.0
        η, the reference code's ``reweight_eta``.
    smoothing : float in [0, 1], default=1e-4
        ε, the reference code's ``reweight_eps``.
    vocab_size : int >= 2, default=259 (the byte tokenizer's)
    init : dict or sequence, optional
        Initial α (default uniform).
    """

    kind = "doremi"

    def __init__(self, domains: Sequence[str], *, eta: float = 1.0, smoothing: float = 1e-4,
                 vocab_size: int = 259, init: Mapping[str, float] | Sequence[float] | None = None):
        self.domains = check_domains(domains)
        if isinstance(eta, bool) or not isinstance(eta, (int, float)) or not (math.isfinite(eta) and eta >= 0):
            raise InputError(f"DoReMi eta must be a finite number >= 0, got {eta!r}")
        if isinstance(smoothing, bool) or not isinstance(smoothing, (int, float)) or not (0 <= smoothing <= 1):
            raise InputError(f"DoReMi smoothing must be in [0, 1], got {smoothing!r}")
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, (int, np.integer)) or vocab_size < 2:
            raise InputError(f"DoReMi vocab_size must be an int >= 2, got {vocab_size!r}")
        self.eta, self.smoothing = float(eta), float(smoothing)
        k = len(self.domains)
        self._alpha = np.full(k, 1.0 / k) if init is None else check_weight_vector(init, self.domains)[1]
        self._scores = np.full(k, math.log(int(vocab_size)))
        self._avg = self._alpha.copy()
        self._n = 1  # the reference code's update_counter: the initial weights count once in the average

    def weights(self) -> np.ndarray:
        return self._alpha.copy()

    def scores(self) -> np.ndarray:
        """λ, the per-domain scores of the last update (absent domains keep their previous value)."""
        return self._scores.copy()

    def average_weights(self) -> np.ndarray:
        """DoReMi's output: the mean of α over the initial weights and every update."""
        return to_simplex(self._avg)

    @property
    def n_updates(self) -> int:
        return self._n - 1

    def observe(self, *, excess: Mapping[str, Any], **_: Any) -> None:
        """One update from per-token excess losses (arrays, lists or tensors; one entry per counted token)."""
        for name, values in excess.items():
            if name not in self.domains:
                raise InputError(f"excess loss given for unknown domain {name!r}; domains are {self.domains}")
            x = _as_array(values)
            x = x[np.isfinite(x)]
            if x.size:
                self._scores[self.domains.index(name)] = float(np.clip(x, 0.0, None).mean())
        k = len(self.domains)
        a = softmax(safe_log(self._alpha) + self.eta * self._scores)
        self._alpha = to_simplex((1 - self.smoothing) * a + self.smoothing / k)
        self._n += 1
        self._avg = (self._avg * (self._n - 1) + self._alpha) / self._n

    def state_dict(self) -> dict:
        return {"type": self.kind, "domains": list(self.domains), "alpha": self._alpha.tolist(),
                "scores": self._scores.tolist(), "avg": self._avg.tolist(), "n": self._n}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        check_state_domains(state, self.domains, self.kind)
        self._alpha = load_simplex(state["alpha"], len(self.domains), "alpha")
        self._scores = np.asarray(state["scores"], dtype=np.float64).copy()
        self._avg = np.asarray(state["avg"], dtype=np.float64).copy()
        self._n = int(state["n"])


def _as_array(values: Any) -> np.ndarray:
    if hasattr(values, "detach"):
        values = values.detach().to("cpu").double().numpy()
    return np.asarray(values, dtype=np.float64).ravel()

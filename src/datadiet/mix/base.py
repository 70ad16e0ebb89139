"""The `Mixer` protocol shared by every online data-mixing method, and simplex helpers.

A mixer holds domain weights α on the probability simplex over ``domains``; a sampler
(`datadiet.mix.DomainSampler`) re-reads ``weights()`` for every batch, and the training loop
feeds the mixer whatever signal it needs through ``observe(**signals)`` (each mixer documents
its keywords). ``state_dict()`` returns plain JSON-able values so a run can resume exactly.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Protocol, Sequence, runtime_checkable

import numpy as np

from datadiet.errors import InputError

LOG_FLOOR = 1e-12  # weights are floored at this before taking a log


@runtime_checkable
class Mixer(Protocol):
    """Domain weights α on the simplex, updated online.

    Attributes
    ----------
    domains : list of str
        Domain names; ``weights()[i]`` belongs to ``domains[i]``.
    """

    domains: list[str]

    def weights(self) -> np.ndarray:
        """Current α, float64 array of shape (len(domains),), non-negative, summing to 1."""
        ...

    def observe(self, **signals: Any) -> None:
        """Feed a training signal (gradients, losses); may change ``weights()``."""
        ...

    def state_dict(self) -> dict:
        """Plain JSON-able state."""
        ...

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a state from ``state_dict``."""
        ...


def check_domains(domains: Sequence[str]) -> list[str]:
    """Validate domain names: a non-empty sequence of distinct non-empty strings."""
    if isinstance(domains, str):
        raise InputError(f"domains must be a list of names, got the string {domains!r}")
    out = list(domains)
    if not out:
        raise InputError("domains is empty: give at least one domain name")
    seen = set()
    for d in out:
        if not isinstance(d, str) or not d:
            raise InputError(f"domain names must be non-empty strings, got {d!r}")
        if d in seen:
            raise InputError(f"domain {d!r} is listed twice")
        seen.add(d)
    return out


def to_simplex(x: np.ndarray) -> np.ndarray:
    """Project a nearly-simplex vector back onto the simplex (robust, never NaN).

    Non-finite entries and negatives become 0, then the vector is renormalized; an all-zero
    vector becomes uniform. Returns a new float64 array.
    """
    x = np.asarray(x, dtype=np.float64).copy()
    x[~np.isfinite(x)] = 0.0
    np.clip(x, 0.0, None, out=x)
    s = x.sum()
    if not (s > 0) or not math.isfinite(s):
        return np.full(x.shape, 1.0 / x.size)
    x /= s
    return x


def safe_log(alpha: np.ndarray) -> np.ndarray:
    """log(max(α, LOG_FLOOR)); finite for any simplex vector."""
    return np.log(np.maximum(np.asarray(alpha, dtype=np.float64), LOG_FLOOR))


def softmax(z: np.ndarray) -> np.ndarray:
    """Softmax that tolerates ±inf: mass is split equally among the +inf entries if any."""
    z = np.asarray(z, dtype=np.float64)
    pos = np.isposinf(z)
    if pos.any():
        return pos / pos.sum()
    z = np.where(np.isnan(z), -np.inf, z)
    m = z.max()
    if not np.isfinite(m):  # all -inf (or nan)
        return np.full(z.shape, 1.0 / z.size)
    e = np.exp(z - m)
    return to_simplex(e / e.sum())


def check_weight_vector(weights: Mapping[str, float] | Sequence[float] | np.ndarray,
                        domains: Sequence[str] | None = None) -> tuple[list[str], np.ndarray]:
    """Validate user weights (non-negative, finite, positive sum) and normalize them.

    ``weights`` is a mapping name -> weight (``domains`` then fixes the order and every name must
    be present) or a sequence aligned with ``domains``. Raises `InputError` naming the bad domain.
    """
    if isinstance(weights, Mapping):
        names = check_domains(list(weights) if domains is None else domains)
        missing = [d for d in names if d not in weights]
        if missing:
            raise InputError(f"no weight given for domain {missing[0]!r}")
        extra = [d for d in weights if d not in names]
        if extra:
            raise InputError(f"weight given for unknown domain {extra[0]!r}; domains are {names}")
        vals = [weights[d] for d in names]
    else:
        if domains is None:
            raise InputError("weights given as a sequence need the matching list of domain names")
        names = check_domains(domains)
        vals = list(np.ravel(weights)) if isinstance(weights, np.ndarray) else list(weights)
        if len(vals) != len(names):
            raise InputError(f"got {len(vals)} weights for {len(names)} domains {names}")
    out = np.empty(len(names), dtype=np.float64)
    for i, (d, v) in enumerate(zip(names, vals)):
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise InputError(f"weight of domain {d!r} must be a number, got {v!r}") from None
        if not math.isfinite(f):
            raise InputError(f"weight of domain {d!r} must be finite, got {v!r}")
        if f < 0:
            raise InputError(f"weight of domain {d!r} must be >= 0, got {v!r}")
        out[i] = f
    if not out.sum() > 0:
        raise InputError(f"weights of domains {names} sum to 0; give at least one positive weight")
    return names, out / out.sum()


def check_state_domains(state: Mapping[str, Any], domains: Sequence[str], kind: str) -> None:
    """Raise `InputError` if a saved state belongs to another mixer type or another domain list."""
    if state.get("type") != kind:
        raise InputError(f"state is for mixer {state.get('type')!r}, not {kind!r}")
    if list(state.get("domains", [])) != list(domains):
        raise InputError(f"state domains {state.get('domains')} differ from this mixer's {list(domains)}")


def load_simplex(values: Any, size: int, what: str) -> np.ndarray:
    """A saved weight vector, returned bit-for-bit (so resumed runs match) after checking it is on the simplex."""
    x = np.asarray(values, dtype=np.float64)
    if x.shape != (size,) or not np.isfinite(x).all() or (x < 0).any() or abs(x.sum() - 1) > 1e-6:
        raise InputError(f"saved {what} {values!r} is not a weight vector of {size} entries summing to 1")
    return x.copy()

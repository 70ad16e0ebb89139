"""Dynamic Gradient Alignment (DGA): online domain weights that follow the target's gradient.

Fan, Grangier, Ablin, "Dynamic Gradient Alignment for Online Data Mixing", arXiv 2410.02498.
Every ``update_every`` (T_r) training steps the loop takes a small probe batch from the target set
and from each generic domain, computes gradients g_tgt and g_i of the current model, and calls
``DGA.observe(domain_grads=..., target_grad=...)`` (or `compute_alignment` + ``DGA.update``):

    a_i   = <g_i, g_tgt>                       (scaling="raw"; see `DGA` for the others)
    α̂     = softmax(log α + η a)               (exponentiated gradient / mirror descent)
    α     ← (1 − β) α + β α̂                    (EMA; β = 1 is DGA without EMA)

Distribution reweighting (many fine domains): α = P w with P (n_fine, n_basis) column-stochastic;
w follows the same rule with basis alignments (Pᵀ a, or measured directly per basis distribution).

A domain whose gradient is NaN/inf/zero is skipped for that update (a_i = 0) with a warning; a bad
target gradient skips the whole update. α is kept on the simplex whatever the inputs.

Rerun: ``python -c "from datadiet.mix import DGA; m=DGA(['a','b'], eta=1, ema=1); m.update([1.,-1.]); print(m.weights())"``
"""

from __future__ import annotations

import logging
import math
import warnings
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from datadiet.errors import InputError
from datadiet.mix.base import (check_domains, check_state_domains, check_weight_vector, load_simplex, safe_log, softmax,
                               to_simplex)

log = logging.getLogger(__name__)

SCALINGS = ("raw", "normalized", "adam")


def _as_flat64(g: Any) -> np.ndarray:
    """A flat float64 numpy copy of a numpy array or torch tensor (no torch import needed)."""
    if hasattr(g, "detach"):
        g = g.detach().to("cpu").double().numpy()
    return np.asarray(g, dtype=np.float64).ravel()


class DGA:
    """Dynamic Gradient Alignment mixer.

    Parameters
    ----------
    domains : list of str
        Fine domain names (length k).
    eta : float, default=1.0
        Step size η of the exponentiated-gradient update; its useful size depends on the scale of
        the alignments (raw inner products shrink as the loss falls).
    ema : float in (0, 1], default=0.1
        β in α ← (1 − β) α + β α̂. β = 1 disables the EMA (the paper reports instability then).
    update_every : int, default=10
        T_r: the loop calls ``observe`` when ``due(step)`` is true.
    scaling : {"raw", "normalized", "adam"}, default="raw"
        raw: a_i = <g_i, g_tgt>; normalized: a_i = <g_i, g_tgt> / ‖g_i‖;
        adam: a_i = <g_i / (√v + 1e-8), g_tgt> with v the optimizer's second-moment estimate
        (pass ``precond=v`` or ``optimizer=`` to `compute_alignment`).
    init : dict or sequence, optional
        Initial weights (over domains, or over basis columns when ``basis`` is given); uniform by default.
    basis : array of shape (k, n_basis), optional
        Column-stochastic P for distribution reweighting; ``weights()`` returns P w.
    basis_names : list of str, optional
        Names of the basis columns (default ``basis0..``); ``observe`` accepts gradients keyed by
        these names (measured per basis distribution) as well as by fine domain names.

    Notes
    -----
    Cost per update: one backward pass per domain (or per basis column) plus the target, and
    O(k · n_params) for the inner products.
    """

    kind = "dga"

    def __init__(self, domains: Sequence[str], *, eta: float = 1.0, ema: float = 0.1, update_every: int = 10,
                 scaling: str = "raw", init: Mapping[str, float] | Sequence[float] | None = None,
                 basis: np.ndarray | None = None, basis_names: Sequence[str] | None = None):
        self.domains = check_domains(domains)
        if isinstance(eta, bool) or not isinstance(eta, (int, float)) or not math.isfinite(eta) or eta < 0:
            raise InputError(f"DGA eta must be a finite number >= 0, got {eta!r}")
        if isinstance(ema, bool) or not isinstance(ema, (int, float)) or not (0 < ema <= 1):
            raise InputError(f"DGA ema (beta) must be in (0, 1], got {ema!r}")
        if isinstance(update_every, bool) or not isinstance(update_every, int) or update_every < 1:
            raise InputError(f"DGA update_every must be an int >= 1, got {update_every!r}")
        if scaling not in SCALINGS:
            raise InputError(f"DGA scaling must be one of {SCALINGS}, got {scaling!r}")
        self.eta, self.ema, self.update_every, self.scaling = float(eta), float(ema), update_every, scaling
        if basis is None:
            self.basis = None
            self.basis_names = None
            cols = self.domains
        else:
            P = np.asarray(basis, dtype=np.float64)
            if P.ndim != 2 or P.shape[0] != len(self.domains) or P.shape[1] < 1:
                raise InputError(f"DGA basis must have shape ({len(self.domains)}, n_basis), got {P.shape}")
            if not np.isfinite(P).all() or (P < 0).any():
                raise InputError("DGA basis must be finite and non-negative")
            sums = P.sum(axis=0)
            bad = np.flatnonzero(np.abs(sums - 1) > 1e-6)
            if bad.size:
                raise InputError(f"DGA basis column {int(bad[0])} sums to {sums[bad[0]]:.6g}, not 1 (must be column-stochastic)")
            self.basis = P
            names = [f"basis{j}" for j in range(P.shape[1])] if basis_names is None else basis_names
            self.basis_names = check_domains(names)
            if len(self.basis_names) != P.shape[1]:
                raise InputError(f"got {len(self.basis_names)} basis_names for {P.shape[1]} basis columns")
            overlap = set(self.basis_names) & set(self.domains)
            if overlap:
                raise InputError(f"basis name {sorted(overlap)[0]!r} is also a domain name")
            cols = self.basis_names
        self._w = np.full(len(cols), 1.0 / len(cols)) if init is None else check_weight_vector(init, cols)[1]
        self.n_updates = 0
        self.last_alignment: np.ndarray | None = None

    # -- protocol -------------------------------------------------------------------------
    def weights(self) -> np.ndarray:
        """α over the fine domains (P w with a basis), float64 on the simplex."""
        if self.basis is None:
            return self._w.copy()
        return to_simplex(self.basis @ self._w)

    def basis_weights(self) -> np.ndarray:
        """w: the weights the rule updates (equal to ``weights()`` without a basis)."""
        return self._w.copy()

    def due(self, step: int) -> bool:
        """True on the steps where the loop should measure gradients and call ``observe``."""
        return step % self.update_every == 0

    def observe(self, *, domain_grads: Mapping[str, Any], target_grad: Any, precond: Any = None,
                step: int | None = None, **_: Any) -> np.ndarray:
        """Update from flat gradients (numpy arrays or torch tensors) and return the alignments used.

        ``domain_grads`` is keyed by fine domain names (missing domains get a = 0) or, with a
        basis, by basis names. ``step`` is accepted for logging only; call this when ``due(step)``.
        """
        a = self.alignment(domain_grads, target_grad, precond=precond)
        self.update(dict(zip(self._names_for(domain_grads), a.tolist())))
        return a

    # -- the rule -------------------------------------------------------------------------
    def alignment(self, domain_grads: Mapping[str, Any], target_grad: Any, precond: Any = None) -> np.ndarray:
        """a over fine domains (or over basis columns if the keys are basis names); finite, bad entries are 0."""
        keys = list(domain_grads)
        names = self._names_for(keys)
        unknown = [k for k in keys if k not in names]
        if unknown:
            raise InputError(f"gradient given for unknown domain {unknown[0]!r}; domains are {names}")
        a = np.zeros(len(names))
        gt = _as_flat64(target_grad)
        if not np.isfinite(gt).all() or not np.any(gt):
            _warn(f"DGA: target gradient is {'non-finite' if not np.isfinite(gt).all() else 'zero'}; update skipped")
            return a
        if self.scaling == "adam":
            if precond is None:
                raise InputError("DGA scaling='adam' needs precond (the optimizer's second moments)")
            v = _as_flat64(precond)
            if v.shape != gt.shape:
                raise InputError(f"precond has {v.size} entries, the target gradient {gt.size}")
            gt = gt / (np.sqrt(np.clip(np.nan_to_num(v, nan=0.0, posinf=0.0), 0, None)) + 1e-8)
        for k in keys:
            g = _as_flat64(domain_grads[k])
            if g.shape != gt.shape:
                raise InputError(f"gradient of domain {k!r} has {g.size} entries, the target's {gt.size}")
            if not np.isfinite(g).all() or not np.any(g):
                _warn(f"DGA: gradient of domain {k!r} is {'non-finite' if not np.isfinite(g).all() else 'zero'}; skipped")
                continue
            with np.errstate(over="ignore", invalid="ignore"):
                if self.scaling == "normalized":  # <g/‖g‖, g_tgt>, rescaled first so ‖g‖ cannot overflow
                    u = g / np.abs(g).max()
                    ai = float(np.dot(u, gt)) / float(np.linalg.norm(u))
                else:
                    ai = float(np.dot(g, gt))
            if not math.isfinite(ai):
                _warn(f"DGA: alignment of domain {k!r} overflowed ({ai}); skipped")
                continue
            a[names.index(k)] = ai
        return a

    def update(self, a: Mapping[str, float] | Sequence[float] | np.ndarray) -> None:
        """One step α̂ = softmax(log α + η a), α ← (1 − β) α + β α̂, from alignments a.

        ``a`` has one entry per fine domain (projected with Pᵀ when there is a basis) or, with a
        basis, one per basis column. Non-finite entries are treated as 0 with a warning.
        """
        a, is_basis = self._align_vector(a)
        bad = ~np.isfinite(a)
        if bad.any():
            names = self.basis_names if is_basis else self.domains
            _warn(f"DGA: non-finite alignment for {[names[i] for i in np.flatnonzero(bad)]}; skipped")
            a = np.where(bad, 0.0, a)
        if self.basis is not None and not is_basis:
            with np.errstate(over="ignore", invalid="ignore"):
                a = self.basis.T @ a  # a_basis = Pᵀ a
        with np.errstate(over="ignore", invalid="ignore"):
            step = self.eta * a
        step = np.where(np.isnan(step), 0.0, step)
        alpha_hat = softmax(safe_log(self._w) + step)
        self._w = to_simplex((1.0 - self.ema) * self._w + self.ema * alpha_hat)
        self.last_alignment = a
        self.n_updates += 1

    def _names_for(self, keys: Any) -> list[str]:
        """Basis names if every key is one (distribution reweighting measured per basis), else domains."""
        keys = list(keys)
        if self.basis_names is not None and keys and all(k in self.basis_names for k in keys):
            return self.basis_names
        return self.domains

    def _align_vector(self, a: Any) -> tuple[np.ndarray, bool]:
        """(vector, is_basis): a Mapping's keys decide; a plain vector is over fine domains unless
        its length only matches the basis."""
        if isinstance(a, Mapping):
            names = self._names_for(a)
            is_basis = names is self.basis_names
            unknown = [k for k in a if k not in names]
            if unknown:
                raise InputError(f"alignment given for unknown domain {unknown[0]!r}; domains are {names}")
            return np.array([float(a.get(n, 0.0)) for n in names], dtype=np.float64), is_basis
        v = np.asarray(a, dtype=np.float64).ravel()
        if v.size == len(self.domains):
            return v, False
        if self.basis_names is not None and v.size == len(self.basis_names):
            return v, True
        raise InputError(f"alignment has {v.size} entries; expected {len(self.domains)} (one per domain)"
                         + (f" or {len(self.basis_names)} (one per basis column)" if self.basis_names else ""))

    # -- state ----------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"type": self.kind, "domains": list(self.domains), "w": self._w.tolist(),
                "n_updates": self.n_updates, "eta": self.eta, "ema": self.ema,
                "update_every": self.update_every, "scaling": self.scaling,
                "basis_names": None if self.basis_names is None else list(self.basis_names)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        check_state_domains(state, self.domains, self.kind)
        if state.get("basis_names") != (None if self.basis_names is None else list(self.basis_names)):
            raise InputError("state basis differs from this DGA's basis")
        self._w = load_simplex(state["w"], self._w.size, "DGA weights")
        self.n_updates = int(state.get("n_updates", 0))


def _warn(msg: str) -> None:
    warnings.warn(msg, RuntimeWarning, stacklevel=3)
    log.debug(msg)


def flat_grad(model: Any, loss_fn: Callable[[Any, Any], Any], batch: Any) -> Any:
    """Flattened gradient (1-D torch tensor over ``model.parameters()`` with grad) of ``loss_fn(model, batch)``.

    Parameters whose gradient is None contribute zeros. Does not touch ``.grad``.
    """
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    loss = loss_fn(model, batch)
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    return torch.cat([(g if g is not None else torch.zeros_like(p)).reshape(-1) for g, p in zip(grads, params)])


def compute_alignment(model: Any, loss_fn: Callable[[Any, Any], Any], domain_batches: Mapping[str, Any],
                      target_batch: Any, *, scaling: str = "raw", optimizer: Any = None) -> dict[str, float]:
    """Per-domain alignments a_i of a torch model, for ``DGA.update``.

    Parameters
    ----------
    model : torch.nn.Module
    loss_fn : callable (model, batch) -> scalar tensor
    domain_batches : dict name -> batch
        One small probe batch per domain (or per basis distribution).
    target_batch : batch from the target set.
    scaling : {"raw", "normalized", "adam"}, default="raw"
        As in `DGA`; "adam" reads ``exp_avg_sq`` from ``optimizer`` (Adam/AdamW); parameters without
        that state yet use v = 1.
    optimizer : torch.optim.Optimizer, optional

    Returns
    -------
    dict name -> float (NaN where a gradient was non-finite or zero; `DGA.update` skips those with a warning).

    Gradients are taken with ``torch.autograd.grad``: existing ``.grad`` fields, the optimizer and
    the parameters are left untouched. Inner products are accumulated in float64.
    """
    import torch

    if scaling not in SCALINGS:
        raise InputError(f"scaling must be one of {SCALINGS}, got {scaling!r}")
    gt = flat_grad(model, loss_fn, target_batch).double()
    if scaling == "adam":
        if optimizer is None:
            raise InputError("compute_alignment(scaling='adam') needs optimizer=")
        parts = []
        for p in (p for p in model.parameters() if p.requires_grad):
            st = optimizer.state.get(p, {})
            v = st.get("exp_avg_sq")
            parts.append((v if v is not None else torch.ones_like(p)).reshape(-1).double())
        gt = gt / (torch.cat(parts).sqrt() + 1e-8)
    out: dict[str, float] = {}
    tgt_ok = bool(torch.isfinite(gt).all()) and bool(gt.abs().sum() > 0)
    for name, batch in domain_batches.items():
        g = flat_grad(model, loss_fn, batch).double()
        if not tgt_ok or not bool(torch.isfinite(g).all()) or not bool(g.abs().sum() > 0):
            out[name] = float("nan")
            continue
        a = float(torch.dot(g, gt))
        if scaling == "normalized":
            a /= float(g.norm())
        out[name] = a
    return out

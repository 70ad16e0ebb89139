"""Dynamic Gradient Alignment (DGA): online domain weights that follow the target's gradient.

Fan, Grangier, Ablin, "Dynamic Gradient Alignment for Online Data Mixing", arXiv 2410.02498. Every
``update_every`` (T_r) training steps the loop measures each domain's gradient g_i (from the training
batch itself, `datadiet.mix.grads`) and the gradient g_tgt of a small batch of the specialist (target)
set, and calls ``DGA.observe(domain_grads=..., target_grad=...)`` (or `DGA.update` with alignments):

    a_i   = cos(g_i, g_tgt) = <g_i, g_tgt> / (‖g_i‖ ‖g_tgt‖)      (scaling="normalized", the default)
    α̂     = softmax(log α + η a)                                  (exponentiated gradient / mirror descent)
    α     ← (1 − β) α + β α̂                                       (EMA; β = 1 is DGA without EMA)

Why normalized: <g_i, g_tgt> is the first-order decrease of the target loss per unit step along g_i,
but its size is that of the gradients, which shrink by orders of magnitude as the loss falls, so a
fixed η moves α a lot early and not at all late (the raw rule, ``scaling="raw"``). The training loop
clips the update to a bounded norm and Adam rescales it, so what a domain contributes to the target
is its *direction*: the cosine measures it on a fixed scale [-1, 1], and η is then "change of the
log-odds of two domains per update per unit of cosine difference". The first author's DoGE code
(``Olivia-fsm/DoGE`` @ 88400e9263dfdd69a24b28aec8533fcb1bf9363d, ``src/trainer.py``,
``update_domain_weights``) divides by the mean domain-gradient norm and multiplies by the current
learning rate for the same reason. ``scaling="adam"`` measures the direction of the step Adam would
take: a_i = cos(D g_i, g_tgt) with D = 1 / (sqrt(v̂) + ε) and v̂ = v / (1 − β₂^t) the optimizer's own
bias-corrected second moments (`adam_preconditioner`).

Distribution reweighting (many fine domains): α = P w with P (n_fine, n_basis) column-stochastic;
w follows the same rule with one alignment per basis distribution (measured on that basis's rows, or
the P-weighted mean of fine-domain alignments).

A domain whose alignment is missing, NaN/inf or whose gradient is zero is skipped: its weight is left
exactly as it was and the update redistributes the others' total mass among themselves (a bad target
gradient skips the whole update). α stays on the simplex whatever the inputs.

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
DEFAULT_ETA = 10.0
DEFAULT_EMA = 0.1


def _as_flat64(g: Any) -> np.ndarray:
    """A flat float64 numpy copy of a numpy array or torch tensor (no torch import needed)."""
    if hasattr(g, "detach"):
        g = g.detach().to("cpu").double().numpy()
    return np.asarray(g, dtype=np.float64).ravel()


def _unit(g: np.ndarray) -> np.ndarray | None:
    """g / ‖g‖ computed without overflow (rescaled by max |g| first); None for a zero vector."""
    m = float(np.abs(g).max()) if g.size else 0.0
    if not m > 0:
        return None
    u = g / m
    return u / float(np.linalg.norm(u))


class DGA:
    """Dynamic Gradient Alignment mixer.

    Parameters
    ----------
    domains : list of str
        Fine domain names (length k).
    eta : float >= 0, default=10.0
        Step size η of the exponentiated-gradient update, in log-odds per unit of alignment
        (a cosine for the default scaling; see the module docstring for why).
    ema : float in (0, 1], default=0.1
        β in α ← (1 − β) α + β α̂. β = 1 disables the EMA (the paper reports instability then).
    update_every : int >= 1, default=10
        T_r: the loop calls ``observe`` when ``due(step)`` is true.
    scaling : {"normalized", "raw", "adam"}, default="normalized"
        normalized: a_i = cos(g_i, g_tgt); raw: a_i = <g_i, g_tgt>;
        adam: a_i = cos(D g_i, g_tgt) with D the optimizer's diagonal preconditioner
        (pass ``precond=D`` from `adam_preconditioner`, or ``optimizer=`` to `compute_alignment`).
    init : dict or sequence, optional
        Initial weights (over domains, or over basis columns when ``basis`` is given); uniform by default.
    basis : array of shape (k, n_basis), optional
        Column-stochastic P for distribution reweighting; ``weights()`` returns P w.
    basis_names : list of str, optional
        Names of the basis columns (default ``basis0..``); ``observe``/``update`` accept values keyed
        by these names (measured per basis distribution) as well as by fine domain names.

    Attributes
    ----------
    n_updates : int
        Updates applied (a fully skipped update counts too).
    last_alignment : ndarray or None
        The alignments of the last update (over basis columns with a basis), NaN where skipped.

    Notes
    -----
    Cost per update: the inner products, O(m · n_params) for m measured domains; the gradients come
    from the training step (`datadiet.mix.grads.split_backward`) plus one target batch.
    """

    kind = "dga"

    def __init__(self, domains: Sequence[str], *, eta: float = DEFAULT_ETA, ema: float = DEFAULT_EMA,
                 update_every: int = 10, scaling: str = "normalized",
                 init: Mapping[str, float] | Sequence[float] | None = None,
                 basis: np.ndarray | None = None, basis_names: Sequence[str] | None = None):
        self.domains = check_domains(domains)
        if isinstance(eta, bool) or not isinstance(eta, (int, float)) or not math.isfinite(eta) or eta < 0:
            raise InputError(f"DGA eta must be a finite number >= 0, got {eta!r}")
        if isinstance(ema, bool) or not isinstance(ema, (int, float)) or not (0 < ema <= 1):
            raise InputError(f"DGA ema (beta) must be in (0, 1], got {ema!r}")
        if isinstance(update_every, bool) or not isinstance(update_every, int) or update_every < 1:
            raise InputError(f"DGA update_every must be an int >= 1, got {update_every!r}")
        if scaling not in SCALINGS:
            raise InputError(f"DGA scaling must be one of {', '.join(SCALINGS)}, got {scaling!r}")
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
    @property
    def columns(self) -> list[str]:
        """Names of what the rule updates: the basis columns with a basis, else the domains."""
        return list(self.basis_names) if self.basis_names is not None else list(self.domains)

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
        """Update from flat gradients (numpy arrays or torch tensors); returns the alignments used.

        ``domain_grads`` is keyed by fine domain names or, with a basis, by basis names; a domain
        left out (absent from the batch, not probed) is skipped. ``step`` is for logging only.
        """
        a = self.alignment(domain_grads, target_grad, precond=precond)
        names = self._names_for(domain_grads)
        self.update(dict(zip(names, a.tolist())), warn=False)  # alignment() already warned about what it skipped
        return a

    # -- the rule -------------------------------------------------------------------------
    def alignment(self, domain_grads: Mapping[str, Any], target_grad: Any, precond: Any = None) -> np.ndarray:
        """a over fine domains (or over basis columns if the keys are basis names); NaN = skipped.

        ``precond`` (scaling "adam"): the diagonal preconditioner D, one entry per parameter.
        """
        keys = list(domain_grads)
        names = self._names_for(keys)
        unknown = [k for k in keys if k not in names]
        if unknown:
            raise InputError(f"gradient given for unknown domain {unknown[0]!r}; domains are {names}")
        a = np.full(len(names), np.nan)
        gt = _as_flat64(target_grad)
        if not np.isfinite(gt).all() or not np.any(gt):
            _warn(f"DGA: target gradient is {'non-finite' if not np.isfinite(gt).all() else 'zero'}; update skipped")
            return a
        D = None
        if self.scaling == "adam":
            if precond is None:
                raise InputError("DGA scaling='adam' needs precond (the optimizer's preconditioner, see adam_preconditioner)")
            D = _as_flat64(precond)
            if D.shape != gt.shape:
                raise InputError(f"precond has {D.size} entries, the target gradient {gt.size}")
            if not np.isfinite(D).all() or (D < 0).any():
                raise InputError("precond must be finite and non-negative")
        ut = _unit(gt)
        for k in keys:
            g = _as_flat64(domain_grads[k])
            if g.shape != gt.shape:
                raise InputError(f"gradient of domain {k!r} has {g.size} entries, the target's {gt.size}")
            if not np.isfinite(g).all() or not np.any(g):
                _warn(f"DGA: gradient of domain {k!r} is {'non-finite' if not np.isfinite(g).all() else 'zero'}; skipped")
                continue
            with np.errstate(over="ignore", invalid="ignore"):
                if self.scaling == "raw":
                    ai = float(np.dot(g, gt))
                else:
                    u = _unit(g * D if D is not None else g)
                    ai = float("nan") if u is None else float(np.dot(u, ut))
            if not math.isfinite(ai):
                _warn(f"DGA: alignment of domain {k!r} is not finite ({ai}); skipped")
                continue
            a[names.index(k)] = ai
        return a

    def update(self, a: Mapping[str, float] | Sequence[float] | np.ndarray, *, warn: bool = True) -> None:
        """One step α̂ = softmax(log α + η a), α ← (1 − β) α + β α̂, from alignments a.

        ``a`` has one entry per fine domain (averaged into each basis column with P's weights when
        there is a basis) or, with a basis, one per basis column. A mapping may leave names out.
        Missing or non-finite entries are skipped: their weight is unchanged and the others share
        the rest of the mass (a warning names them).
        """
        a, is_basis = self._align_vector(a, warn=warn)
        if self.basis is not None and not is_basis:
            ok = np.isfinite(a)
            mass = self.basis[ok].sum(axis=0)
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                proj = self.basis[ok].T @ a[ok]
                a = np.where(mass > 0, proj / np.where(mass > 0, mass, 1.0), np.nan)
        ok = np.isfinite(a)
        with np.errstate(over="ignore", invalid="ignore"):
            step = np.where(ok, self.eta * np.where(ok, a, 0.0), 0.0)  # may be ±inf: softmax handles it
        self.last_alignment = a
        self.n_updates += 1
        if not ok.any():
            return
        w = self._w
        mass = 1.0 - float(w[~ok].sum())  # what the updated entries share; skipped ones keep theirs exactly
        new = w.copy()
        part = (1.0 - self.ema) * w[ok] / max(float(w[ok].sum()), 1e-300) + self.ema * softmax(safe_log(w[ok]) + step[ok])
        new[ok] = mass * to_simplex(part)
        self._w = new if mass > 0 else to_simplex(new)

    def _names_for(self, keys: Any) -> list[str]:
        """Basis names if every key is one (distribution reweighting measured per basis), else domains."""
        keys = list(keys)
        if self.basis_names is not None and keys and all(k in self.basis_names for k in keys):
            return self.basis_names
        return self.domains

    def _align_vector(self, a: Any, warn: bool = True) -> tuple[np.ndarray, bool]:
        """(vector with NaN for missing entries, is_basis): a Mapping's keys decide; a plain vector is
        over fine domains unless its length only matches the basis."""
        if isinstance(a, Mapping):
            names = self._names_for(a)
            is_basis = names is self.basis_names
            unknown = [k for k in a if k not in names]
            if unknown:
                raise InputError(f"alignment given for unknown domain {unknown[0]!r}; domains are {names}")
            v = np.array([_float_or_nan(a.get(n, np.nan)) for n in names], dtype=np.float64)
        else:
            v = np.array([_float_or_nan(x) for x in np.ravel(np.asarray(a, dtype=object))], dtype=np.float64)
            if v.size == len(self.domains):
                is_basis = False
                names = self.domains
            elif self.basis_names is not None and v.size == len(self.basis_names):
                is_basis = True
                names = self.basis_names
            else:
                raise InputError(f"alignment has {v.size} entries; expected {len(self.domains)} (one per domain)"
                                 + (f" or {len(self.basis_names)} (one per basis column)" if self.basis_names else ""))
        given = [n for n in names if n in a] if isinstance(a, Mapping) else list(names)
        bad = [n for n, x in zip(names, v) if n in given and not math.isfinite(x)]
        if bad and warn:
            _warn(f"DGA: non-finite alignment for {bad}; their weights are left unchanged")
        return v, is_basis

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


def _float_or_nan(x: Any) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return float("nan")


def _warn(msg: str) -> None:
    warnings.warn(msg, RuntimeWarning, stacklevel=3)
    log.debug(msg)


def adam_preconditioner(optimizer: Any, params: Sequence[Any]) -> Any:
    """D = 1 / (sqrt(v / (1 − β₂^t)) + ε), flat over ``params``, from an Adam/AdamW optimizer's own state.

    v is ``exp_avg_sq``, t the parameter's ``step`` and β₂, ε its group's; a parameter without state
    yet (no step taken) gets D = 1. Returns a float64 torch tensor.
    """
    import torch

    group_of = {}
    for group in optimizer.param_groups:
        for p in group["params"]:
            group_of[id(p)] = group
    parts = []
    for p in params:
        st = optimizer.state.get(p, {})
        v = st.get("exp_avg_sq")
        group = group_of.get(id(p))
        if v is None or group is None or "betas" not in group:
            parts.append(torch.ones(p.numel(), dtype=torch.float64))
            continue
        t = float(st["step"])
        beta2, eps = float(group["betas"][1]), float(group["eps"])
        v_hat = v.detach().double().reshape(-1).cpu() / (1.0 - beta2 ** t)
        parts.append(1.0 / (v_hat.sqrt() + eps))
    return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.float64)


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
                      target_batch: Any, *, scaling: str = "normalized", optimizer: Any = None) -> dict[str, float]:
    """Per-domain alignments a_i of a torch model on probe batches, for ``DGA.update``.

    Parameters
    ----------
    model : torch.nn.Module
    loss_fn : callable (model, batch) -> scalar tensor
    domain_batches : dict name -> batch
        One small probe batch per domain (or per basis distribution).
    target_batch : batch from the target set.
    scaling : {"normalized", "raw", "adam"}, default="normalized"
        As in `DGA`; "adam" needs ``optimizer`` (Adam/AdamW; its bias-corrected second moments).
    optimizer : torch.optim.Optimizer, optional

    Returns
    -------
    dict name -> float (NaN where a gradient was non-finite or zero; `DGA.update` skips those).

    Gradients are taken with ``torch.autograd.grad``: existing ``.grad`` fields, the optimizer and
    the parameters are left untouched. The driver takes domain gradients from the training batch
    instead (`datadiet.mix.grads`); this is for probes.
    """
    if scaling not in SCALINGS:
        raise InputError(f"scaling must be one of {', '.join(SCALINGS)}, got {scaling!r}")
    if scaling == "adam" and optimizer is None:
        raise InputError("compute_alignment(scaling='adam') needs optimizer=")
    params = [p for p in model.parameters() if p.requires_grad]
    gt = flat_grad(model, loss_fn, target_batch)
    precond = adam_preconditioner(optimizer, params) if scaling == "adam" else None
    grads = {name: flat_grad(model, loss_fn, batch) for name, batch in domain_batches.items()}
    return alignments(grads, gt, scaling=scaling, precond=precond)


def alignments(domain_grads: Mapping[str, Any], target_grad: Any, *, scaling: str = "normalized",
               precond: Any = None) -> dict[str, float]:
    """a_i for flat torch gradients, in float64 on their device (NaN for a zero or non-finite gradient).

    The torch twin of `DGA.alignment` (same formulas), so the driver never copies gradients to numpy.
    """
    import torch

    if scaling not in SCALINGS:
        raise InputError(f"scaling must be one of {', '.join(SCALINGS)}, got {scaling!r}")
    gt = target_grad.detach().double()
    out = {name: float("nan") for name in domain_grads}
    if not bool(torch.isfinite(gt).all()) or not bool(gt.abs().max() > 0):
        return out
    D = None if scaling != "adam" else precond.detach().double().to(gt.device)
    ut = gt / gt.norm()
    for name, g in domain_grads.items():
        g = g.detach().double()
        if not bool(torch.isfinite(g).all()) or not bool(g.abs().max() > 0):
            continue
        if scaling == "raw":
            a = float(torch.dot(g, gt))
        else:
            u = g * D if D is not None else g
            n = u.norm()
            a = float(torch.dot(u, ut) / n) if bool(n > 0) else float("nan")
        out[name] = a if math.isfinite(a) else float("nan")
    return out

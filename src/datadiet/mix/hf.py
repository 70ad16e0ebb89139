"""Online data mixing (DGA) inside a Hugging Face ``transformers.Trainer``.

``MixTrainer`` is a ``Trainer`` whose training batches come from a `DomainSampler`; ``DGACallback``
updates a `DGA` mixer every ``update_every`` optimizer steps. On those steps ``MixTrainer``
backpropagates each micro-batch domain by domain (the parts add up to the usual gradient, exactly as
in `datadiet.mix.grads`), so the domain gradients come from the training batch at no extra forward
or backward pass; the callback then takes one gradient of the target batch, handles the domains
absent from the step's batches (``absent="carry"``: their last alignment; ``"probe"``: one gradient
on ``probe_batches[domain]``; ``"skip"``: weight kept), averages the alignments over ranks
(`datadiet.mix.distributed.allreduce_alignment`) and updates the mixer just before the optimizer
step. With a plain ``Trainer`` (no split) the callback measures every domain on its probe batch.

Usage::

    mixer = DGA(domains, update_every=10)
    sampler = DomainSampler(domain_indices, mixer, batch_size=8, seed=0)   # or DistributedDomainSampler
    cb = DGACallback(mixer, sampler, target_batch=tokenized_target_batch)
    trainer = MixTrainer(model=model, args=TrainingArguments(max_steps=..., ...), train_dataset=ds,
                         domain_sampler=sampler, callbacks=[cb])
    trainer.train()                      # later: trainer.train(resume_from_checkpoint=True)

Resuming: every checkpoint holds the sampler's state (``datadiet_sampler.json``) and the callback's
(``datadiet_mix.json``); ``MixTrainer.train(resume_from_checkpoint=...)`` restores both and tells the
Trainer not to fast-forward the data (``ignore_data_skip``): the sampler already stands where the
checkpoint was taken, so the resumed run draws exactly the batches the uninterrupted run drew
(fast-forwarding on top of it drew ``steps × gradient_accumulation`` batches too many).

The sampler is infinite, so set ``max_steps``; ``per_device_train_batch_size`` is ignored (the
sampler's batch size rules). Weight changes reach the batches the DataLoader has not prefetched yet
(with ``dataloader_num_workers > 0`` that lags by ``prefetch_factor * num_workers`` batches).

Rerun the check: ``pytest tests/test_mix_hf.py`` (a 1-layer GPT-2 built from its config, CPU).
"""

from __future__ import annotations

import json
import logging
import math
import os
from typing import Any, Mapping

import numpy as np
import torch
from transformers import Trainer, TrainerCallback

from datadiet.errors import InputError
from datadiet.mix.dga import adam_preconditioner, alignments, flat_grad
from datadiet.mix.distributed import allreduce_alignment
from datadiet.paths import atomic_write

log = logging.getLogger(__name__)

STATE_FILE = "datadiet_mix.json"
SAMPLER_FILE = "datadiet_sampler.json"
ALPHA_PREFIX = "mix/alpha/"
ROWS_KEY = "_datadiet_rows"
ABSENT = ("carry", "probe", "skip")


def _hf_loss(model: Any, batch: Mapping[str, Any]) -> Any:
    return model(**batch).loss


def _to_device(batch: Mapping[str, Any], device: Any) -> dict:
    return {k: (v.to(device) if hasattr(v, "to") else v) for k, v in batch.items()}


def alpha_logs(mixer: Any) -> dict[str, float]:
    """``{"mix/alpha/<domain>": α_i}`` for a mixer's current weights."""
    return {f"{ALPHA_PREFIX}{d}": float(w) for d, w in zip(mixer.domains, mixer.weights())}


class DGACallback(TrainerCallback):
    """Update a `DGA` mixer from gradient alignments during ``Trainer.train``.

    Parameters
    ----------
    mixer : DGA (or any mixer with ``update(alignments)``, ``domains`` and ``state_dict()``)
    sampler : DomainSampler
        The sampler feeding the Trainer; it re-reads ``mixer.weights()`` for every batch.
    probe_batches : dict domain -> batch dict, optional
        One small batch per domain (or per basis column), in the model's keyword format; the loss is
        ``model(**batch).loss``. Needed with a plain ``Trainer`` (every domain is probed) and with
        ``absent="probe"``.
    target_batch : batch dict
        A batch from the target (specialist) set.
    update_every : int, optional
        Update before the optimizer step that makes ``global_step % update_every == 0``; default
        ``mixer.update_every``.
    absent : {"carry", "probe", "skip"}, default="carry"
        What a domain with no row in the update step's batches gets (see the module docstring).

    Attributes
    ----------
    n_updates : int
    history : list of dict
        ``{"step", "alpha", "alignment", "measured"}`` per update (``measured``: from the batch).
    """

    def __init__(self, mixer: Any, sampler: Any, probe_batches: Mapping[str, Mapping[str, Any]] | None = None,
                 target_batch: Mapping[str, Any] | None = None, update_every: int | None = None,
                 absent: str = "carry"):
        if not hasattr(mixer, "update"):
            raise InputError(f"DGACallback needs a mixer with update(alignments) (e.g. DGA), got {type(mixer).__name__}")
        if target_batch is None:
            raise InputError("DGACallback needs target_batch (a batch of the specialist set)")
        names = list(mixer.domains) + list(getattr(mixer, "basis_names", None) or [])
        unknown = [d for d in (probe_batches or {}) if d not in names]
        if unknown:
            raise InputError(f"probe batch given for unknown domain {unknown[0]!r}; domains are {names}")
        if probe_batches is not None and not probe_batches:
            raise InputError("probe_batches is empty: give one probe batch per domain (or None)")
        if update_every is None:
            update_every = getattr(mixer, "update_every", 10)
        if isinstance(update_every, bool) or not isinstance(update_every, int) or update_every < 1:
            raise InputError(f"update_every must be an int >= 1, got {update_every!r}")
        if absent not in ABSENT:
            raise InputError(f"absent must be one of {', '.join(ABSENT)}, got {absent!r}")
        if absent == "probe" and not probe_batches:
            raise InputError("absent='probe' needs probe_batches (one batch per domain)")
        self.mixer, self.sampler, self.update_every, self.absent = mixer, sampler, update_every, absent
        self.probe_batches = dict(probe_batches or {})
        self.target_batch = target_batch
        self.n_updates = 0
        self.history: list[dict] = []
        self.carry: dict[str, float] = {}
        self._sums: dict[str, torch.Tensor] = {}  # ∇ of the summed token losses of each unit, this step
        self._tokens: dict[str, float] = {}
        self.split_seen = False  # set by MixTrainer when it split this step's batches

    # -- what MixTrainer feeds ------------------------------------------------------------
    def units(self) -> list[str]:
        """Names of what the update measures: basis columns with a basis, else the domains."""
        return list(getattr(self.mixer, "basis_names", None) or self.mixer.domains)

    def unit_of_domain(self) -> np.ndarray:
        from datadiet.mix.basis import disjoint_groups

        basis = getattr(self.mixer, "basis", None)
        if basis is None:
            return np.arange(len(self.mixer.domains))
        groups = disjoint_groups(basis)
        if groups is None:
            raise InputError("the batch split needs a DGA basis with disjoint columns")
        return groups

    def due(self, global_step: int) -> bool:
        """True while accumulating the step that will become ``global_step + 1``."""
        return (global_step + 1) % self.update_every == 0

    def add_unit_gradient(self, unit: str, grad_sum: torch.Tensor, tokens: float) -> None:
        """Accumulate one micro-batch part: the gradient of its *summed* token losses and its token count."""
        if unit in self._sums:
            self._sums[unit] += grad_sum
            self._tokens[unit] += tokens
        else:
            self._sums[unit], self._tokens[unit] = grad_sum.clone(), float(tokens)
        self.split_seen = True

    # -- events ---------------------------------------------------------------------------
    def on_pre_optimizer_step(self, args, state, control, model=None, optimizer=None, **kwargs):
        if model is None or not self.due(state.global_step):
            return
        if not self.split_seen and not self.probe_batches:
            raise InputError("DGACallback: no domain gradients from the batch (use MixTrainer) and no probe_batches")
        device = next(model.parameters()).device
        params = [p for p in model.parameters() if p.requires_grad]
        was_training = model.training
        model.eval()
        try:
            gt = flat_grad(model, _hf_loss, _to_device(self.target_batch, device))
            measured = {u: g / self._tokens[u] for u, g in self._sums.items() if self._tokens[u] > 0}
            from_batch = sorted(measured)
            wanted = self.units()
            if not self.split_seen:
                todo = [u for u in wanted if u in self.probe_batches]
            elif self.absent == "probe":
                todo = [u for u in wanted if u not in measured and u in self.probe_batches]
            else:
                todo = []
            for u in todo:
                measured[u] = flat_grad(model, _hf_loss, _to_device(self.probe_batches[u], device))
        finally:
            model.train(was_training)
        scaling = getattr(self.mixer, "scaling", "normalized")
        precond = adam_preconditioner(optimizer, params) if scaling == "adam" else None
        a = alignments(measured, gt, scaling=scaling, precond=precond)
        full = {u: a.get(u, float("nan")) for u in wanted}
        full = allreduce_alignment(full)
        for u, v in full.items():
            if math.isfinite(v):
                self.carry[u] = v
            elif self.absent == "carry" and u in self.carry:
                full[u] = self.carry[u]
        if _accepts_warn(self.mixer):
            self.mixer.update(full, warn=False)  # skipped units are recorded in the history instead
        else:
            self.mixer.update(full)
        self._sums, self._tokens, self.split_seen = {}, {}, False
        self.n_updates += 1
        alpha = np.asarray(self.mixer.weights(), dtype=np.float64)
        self.history.append({"step": state.global_step + 1, "alpha": alpha.tolist(),
                             "alignment": {u: (None if not math.isfinite(v) else v) for u, v in full.items()},
                             "measured": from_batch})
        if state.is_world_process_zero:
            log.info("step %d: DGA alpha %s", state.global_step + 1,
                     ", ".join(f"{d}={w:.3f}" for d, w in zip(self.mixer.domains, alpha)))

    def on_log(self, args, state, control, logs=None, **kwargs):
        extra = alpha_logs(self.mixer)
        if logs is not None:
            logs.update(extra)
        # Trainer.log appends a copy of ``logs`` to the history before calling back; add α there too.
        if state.log_history and state.log_history[-1].get("step") == state.global_step:
            state.log_history[-1].update(extra)

    def on_save(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        ckpt = os.path.join(args.output_dir, f"checkpoint-{state.global_step}")
        os.makedirs(ckpt, exist_ok=True)
        path = os.path.join(ckpt, STATE_FILE)
        with atomic_write(path) as f:
            json.dump(self.state_dict(), f, indent=1)
        log.info("saved mixing state to %s", path)

    # -- state ----------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """JSON-able: the mixer, the sampler's counters, this callback's update count, carry and history."""
        st = {"mixer": self.mixer.state_dict(), "n_updates": self.n_updates, "update_every": self.update_every,
              "history": self.history, "carry": self.carry}
        if hasattr(self.sampler, "state_dict"):
            st["sampler"] = self.sampler.state_dict()
        return st

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.mixer.load_state_dict(state["mixer"])
        if "sampler" in state and hasattr(self.sampler, "load_state_dict"):
            self.sampler.load_state_dict(state["sampler"])
        self.n_updates = int(state.get("n_updates", 0))
        self.history = list(state.get("history", []))
        self.carry = dict(state.get("carry", {}))

    def load(self, checkpoint_dir: str) -> None:
        """Restore from ``<checkpoint_dir>/datadiet_mix.json`` (`MixTrainer.train` does this when resuming)."""
        path = os.path.join(checkpoint_dir, STATE_FILE)
        if not os.path.exists(path):
            raise InputError(f"no {STATE_FILE} in checkpoint {checkpoint_dir!r}")
        with open(path) as f:
            self.load_state_dict(json.load(f))


def _accepts_warn(mixer: Any) -> bool:
    import inspect

    try:
        return "warn" in inspect.signature(mixer.update).parameters
    except (TypeError, ValueError):
        return False


class _Indexed(torch.utils.data.Dataset):
    """The training set, each item paired with its row index (so the batch knows its rows' domains)."""

    def __init__(self, dataset: Any):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> tuple[int, Any]:
        return int(i), self.dataset[i]


class _CollateWithRows:
    def __init__(self, collate: Any):
        self.collate = collate

    def __call__(self, items: list[tuple[int, Any]]) -> dict:
        batch = dict(self.collate([it for _, it in items]))
        batch[ROWS_KEY] = torch.tensor([i for i, _ in items], dtype=torch.long)
        return batch


class MixTrainer(Trainer):
    """``transformers.Trainer`` whose training batches are drawn by a `DomainSampler`.

    Parameters
    ----------
    domain_sampler : DomainSampler or DistributedDomainSampler
        Used as the training DataLoader's ``batch_sampler``; needs ``args.max_steps > 0``.
    *args, **kwargs
        As for ``Trainer``; a `DGACallback` among ``callbacks`` gets its domain gradients from the
        training batches (see the module docstring).

    The returned DataLoader is not passed through ``accelerator.prepare``: the sampler already
    decides each rank's examples, and ``Trainer`` moves batches to the device itself. ``log``
    adds ``mix/alpha/<domain>`` so every reporter (not only the history) sees α.
    """

    def __init__(self, *args: Any, domain_sampler: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if self.args.max_steps is None or self.args.max_steps <= 0:
            raise InputError("MixTrainer's domain sampler is infinite: set TrainingArguments(max_steps=N)")
        self.domain_sampler = domain_sampler
        self._dga = next((cb for cb in self.callback_handler.callbacks if isinstance(cb, DGACallback)), None)
        parts = [np.asarray(idx, dtype=np.int64) for idx in getattr(domain_sampler, "_indices", [])]
        top = max((int(p.max()) for p in parts if p.size), default=-1)
        self._row_domain = np.full(top + 1, -1, dtype=np.int64)  # training row -> domain index
        for d, idx in enumerate(parts):
            self._row_domain[idx] = d

    def get_train_dataloader(self):
        from torch.utils.data import DataLoader
        if self.train_dataset is None:
            raise InputError("MixTrainer needs a train_dataset")
        return DataLoader(_Indexed(self.train_dataset), batch_sampler=self.domain_sampler,
                          collate_fn=_CollateWithRows(self.data_collator),
                          num_workers=self.args.dataloader_num_workers, pin_memory=self.args.dataloader_pin_memory)

    # -- the batch split -----------------------------------------------------------------------
    def training_step(self, model, inputs, num_items_in_batch=None):
        rows = inputs.pop(ROWS_KEY, None)
        if rows is None or self._dga is None or not self._dga.due(self.state.global_step):
            return super().training_step(model, inputs, num_items_in_batch)
        return self._split_step(model, inputs, num_items_in_batch, rows)

    def _split_step(self, model, inputs, num_items_in_batch, rows):
        model.train()
        inputs = self._prepare_inputs(inputs)
        cb = self._dga
        unit_of_domain, units = cb.unit_of_domain(), cb.units()
        doms = self._row_domain[rows.cpu().numpy()]
        labels = inputs.get("labels")
        if labels is None:
            raise InputError("MixTrainer's DGA split needs 'labels' in the batch")
        shift = getattr(self, "_loss_shifts_labels", True)
        counted = (labels[..., 1:] if shift else labels).ne(-100).reshape(labels.shape[0], -1).sum(1)
        total = float(counted.sum())
        uses_items = bool(self.model_accepts_loss_kwargs and num_items_in_batch is not None)
        ga = self.current_gradient_accumulation_steps
        denom = float(num_items_in_batch) if uses_items else total * ga  # the loss is Σ_tok ce / denom
        params = [p for p in model.parameters() if p.requires_grad]
        B = labels.shape[0]
        loss_total = torch.zeros((), device=labels.device)
        ugroups = unit_of_domain[doms]
        for u in np.unique(ugroups):
            pos = torch.as_tensor(np.flatnonzero(ugroups == u), device=labels.device)
            sub = {k: (v.index_select(0, pos) if torch.is_tensor(v) and v.dim() > 0 and v.shape[0] == B else v)
                   for k, v in inputs.items()}
            tok_u = float(counted.index_select(0, pos).sum())
            with self.compute_loss_context_manager():
                part = self.compute_loss(model, sub, num_items_in_batch=num_items_in_batch)
            if not uses_items:  # the model returned its mean over these rows: rescale to Σ_tok ce / denom
                part = part * (tok_u / max(total, 1.0)) / ga
            before = [p.grad.detach().clone() if p.grad is not None else None for p in params]
            self.accelerator.backward(part)
            diff = torch.cat([((p.grad if p.grad is not None else torch.zeros_like(p))
                               - (b if b is not None else 0)).reshape(-1) for p, b in zip(params, before)])
            cb.add_unit_gradient(units[int(u)], diff.detach() * denom, tok_u)
            loss_total = loss_total + part.detach()
        return loss_total

    # -- resumable sampling --------------------------------------------------------------------
    def _save_checkpoint(self, model, trial):
        super()._save_checkpoint(model, trial)
        if not self.is_world_process_zero() or not hasattr(self.domain_sampler, "state_dict"):
            return
        folder = os.path.join(self._get_output_dir(trial=trial), f"checkpoint-{self.state.global_step}")
        os.makedirs(folder, exist_ok=True)
        with atomic_write(os.path.join(folder, SAMPLER_FILE)) as f:
            json.dump(self.domain_sampler.state_dict(), f)

    def train(self, resume_from_checkpoint: str | bool | None = None, *args: Any, **kwargs: Any):
        """As ``Trainer.train``; when resuming, the sampler (and a `DGACallback`) continue from the
        checkpoint's state and the Trainer does not fast-forward the data."""
        if resume_from_checkpoint is False or resume_from_checkpoint is None:
            return super().train(resume_from_checkpoint, *args, **kwargs)
        if resume_from_checkpoint is True:
            from transformers.trainer_utils import get_last_checkpoint

            resume_from_checkpoint = get_last_checkpoint(self.args.output_dir)
            if resume_from_checkpoint is None:
                raise InputError(f"no checkpoint found in {self.args.output_dir!r} to resume from")
        ckpt = str(resume_from_checkpoint)
        path = os.path.join(ckpt, SAMPLER_FILE)
        if os.path.exists(path) and hasattr(self.domain_sampler, "load_state_dict"):
            with open(path) as f:
                self.domain_sampler.load_state_dict(json.load(f))
        else:
            log.warning("no %s in %s: the domain sampler restarts from its beginning", SAMPLER_FILE, ckpt)
        if self._dga is not None and os.path.exists(os.path.join(ckpt, STATE_FILE)):
            self._dga.load(ckpt)
        skip = self.args.ignore_data_skip
        self.args.ignore_data_skip = True
        try:
            return super().train(ckpt, *args, **kwargs)
        finally:
            self.args.ignore_data_skip = skip

    def log(self, logs: dict[str, float], *args: Any, **kwargs: Any) -> None:
        mixer = getattr(self.domain_sampler, "mixer", None)
        if mixer is not None:
            logs = {**logs, **alpha_logs(mixer)}
        super().log(logs, *args, **kwargs)

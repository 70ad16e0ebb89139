"""Online data mixing (DGA) inside a Hugging Face ``transformers.Trainer``.

``DGACallback`` measures the alignments every ``update_every`` optimizer steps on small probe
batches, averages them over ranks (`datadiet.mix.distributed.allreduce_alignment`), updates the
mixer, logs α as ``mix/alpha/<domain>`` and saves its state as ``datadiet_mix.json`` in every
checkpoint. ``MixTrainer`` is a ``Trainer`` whose training batches come from a `DomainSampler`.

Usage::

    mixer = DGA(domains, eta=..., ema=0.1, update_every=10)
    sampler = DomainSampler(domain_indices, mixer, batch_size=8, seed=0)   # or DistributedDomainSampler
    cb = DGACallback(mixer, sampler, probe_batches={d: {"input_ids": ..., "labels": ...}}, target_batch=...)
    trainer = MixTrainer(model=model, args=TrainingArguments(max_steps=..., ...), train_dataset=ds,
                         domain_sampler=sampler, callbacks=[cb])
    trainer.train()

Without ``MixTrainer``, any ``Trainer`` subclass can return
``DataLoader(train_dataset, batch_sampler=sampler, collate_fn=self.data_collator)`` from
``get_train_dataloader``. The sampler is infinite, so set ``max_steps``; ``per_device_train_batch_size``
is ignored (the sampler's batch size rules). Weight changes reach the batches the DataLoader has
not prefetched yet (with ``dataloader_num_workers > 0`` that lags by ``prefetch_factor * num_workers`` batches).
Under DDP use `DistributedDomainSampler` (one slice of each global batch per rank): ``MixTrainer``
does not let ``accelerate`` re-shard the batches.

Rerun the check: ``pytest tests/test_mix_hf.py`` (a 1-layer GPT-2 built from its config, CPU).
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any, Mapping

import numpy as np
from transformers import Trainer, TrainerCallback

from datadiet.errors import InputError
from datadiet.mix.dga import compute_alignment
from datadiet.mix.distributed import allreduce_alignment

log = logging.getLogger(__name__)

STATE_FILE = "datadiet_mix.json"
ALPHA_PREFIX = "mix/alpha/"


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
        The sampler feeding the Trainer; it re-reads ``mixer.weights()`` for every batch. Its
        state (counters) is saved next to the mixer's.
    probe_batches : dict domain -> batch dict
        One small batch per domain (or per basis column of a distribution-reweighting DGA), in
        the model's keyword format (``input_ids``, ``labels``, ...); the loss is ``model(**batch).loss``.
    target_batch : batch dict
        A batch from the target (specialist) set.
    update_every : int, optional
        Update when ``state.global_step % update_every == 0``; default ``mixer.update_every``.

    Attributes
    ----------
    n_updates : int
        Number of updates this callback made.
    history : list of dict
        ``{"step", "alpha", "alignment"}`` per update.

    Notes
    -----
    The probe gradients are taken with ``torch.autograd.grad`` on the unwrapped model in eval mode
    (dropout off, restored afterwards); ``.grad``, the optimizer and the parameters are left
    untouched. Cost per update: 1 + k forward/backward passes on the probe batches. With
    ``scaling="adam"`` the preconditioner is the Trainer optimizer's ``exp_avg_sq``.
    """

    def __init__(self, mixer: Any, sampler: Any, probe_batches: Mapping[str, Mapping[str, Any]],
                 target_batch: Mapping[str, Any], update_every: int | None = None):
        if not hasattr(mixer, "update"):
            raise InputError(f"DGACallback needs a mixer with update(alignments) (e.g. DGA), got {type(mixer).__name__}")
        if not probe_batches:
            raise InputError("probe_batches is empty: give one probe batch per domain")
        names = list(mixer.domains) + list(getattr(mixer, "basis_names", None) or [])
        unknown = [d for d in probe_batches if d not in names]
        if unknown:
            raise InputError(f"probe batch given for unknown domain {unknown[0]!r}; domains are {names}")
        if update_every is None:
            update_every = getattr(mixer, "update_every", 10)
        if isinstance(update_every, bool) or not isinstance(update_every, int) or update_every < 1:
            raise InputError(f"update_every must be an int >= 1, got {update_every!r}")
        self.mixer, self.sampler, self.update_every = mixer, sampler, update_every
        self.probe_batches = dict(probe_batches)
        self.target_batch = target_batch
        self.n_updates = 0
        self.history: list[dict] = []

    # -- events ---------------------------------------------------------------------------
    def on_step_end(self, args, state, control, model=None, optimizer=None, **kwargs):
        step = state.global_step
        if model is None or step <= 0 or step % self.update_every:
            return
        scaling = getattr(self.mixer, "scaling", "raw")
        device = next(model.parameters()).device
        was_training = model.training
        model.eval()
        try:
            a = compute_alignment(model, _hf_loss, {d: _to_device(b, device) for d, b in self.probe_batches.items()},
                                  _to_device(self.target_batch, device), scaling=scaling,
                                  optimizer=optimizer if scaling == "adam" else None)
        finally:
            model.train(was_training)
        a = allreduce_alignment(a)
        self.mixer.update(a)
        self.n_updates += 1
        alpha = np.asarray(self.mixer.weights(), dtype=np.float64)
        self.history.append({"step": step, "alpha": alpha.tolist(), "alignment": a})
        if state.is_world_process_zero:
            log.info("step %d: DGA alpha %s", step,
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
        with open(path, "w") as f:
            json.dump(self.state_dict(), f, indent=1)
        log.info("saved mixing state to %s", path)

    # -- state ----------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """JSON-able: the mixer, the sampler's counters, this callback's update count and history."""
        st = {"mixer": self.mixer.state_dict(), "n_updates": self.n_updates, "update_every": self.update_every,
              "history": self.history}
        if hasattr(self.sampler, "state_dict"):
            st["sampler"] = self.sampler.state_dict()
        return st

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.mixer.load_state_dict(state["mixer"])
        if "sampler" in state and hasattr(self.sampler, "load_state_dict"):
            self.sampler.load_state_dict(state["sampler"])
        self.n_updates = int(state.get("n_updates", 0))
        self.history = list(state.get("history", []))

    def load(self, checkpoint_dir: str) -> None:
        """Restore from ``<checkpoint_dir>/datadiet_mix.json`` (call before ``trainer.train(resume_from_checkpoint=...)``)."""
        path = os.path.join(checkpoint_dir, STATE_FILE)
        if not os.path.exists(path):
            raise InputError(f"no {STATE_FILE} in checkpoint {checkpoint_dir!r}")
        with open(path) as f:
            self.load_state_dict(json.load(f))


class MixTrainer(Trainer):
    """``transformers.Trainer`` whose training batches are drawn by a `DomainSampler`.

    Parameters
    ----------
    domain_sampler : DomainSampler or DistributedDomainSampler
        Used as the training DataLoader's ``batch_sampler``; needs ``args.max_steps > 0``.
    *args, **kwargs
        As for ``Trainer``.

    The returned DataLoader is not passed through ``accelerator.prepare``: the sampler already
    decides each rank's examples, and ``Trainer`` moves batches to the device itself. ``log``
    adds ``mix/alpha/<domain>`` so every reporter (not only the history) sees α.
    """

    def __init__(self, *args: Any, domain_sampler: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if self.args.max_steps is None or self.args.max_steps <= 0:
            raise InputError("MixTrainer's domain sampler is infinite: set TrainingArguments(max_steps=N)")
        self.domain_sampler = domain_sampler

    def get_train_dataloader(self):
        from torch.utils.data import DataLoader
        if self.train_dataset is None:
            raise InputError("MixTrainer needs a train_dataset")
        return DataLoader(self.train_dataset, batch_sampler=self.domain_sampler, collate_fn=self.data_collator,
                          num_workers=self.args.dataloader_num_workers, pin_memory=self.args.dataloader_pin_memory)

    def log(self, logs: dict[str, float], *args: Any, **kwargs: Any) -> None:
        mixer = getattr(self.domain_sampler, "mixer", None)
        if mixer is not None:
            logs = {**logs, **alpha_logs(mixer)}
        super().log(logs, *args, **kwargs)

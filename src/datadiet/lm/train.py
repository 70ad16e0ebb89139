"""A small, seeded, resumable training loop for `GPT` on `Examples`.

Sampler protocol (how a data-mixing sampler plugs in)
-----------------------------------------------------
``train(..., sampler=S)`` accepts any object whose ``iter(S)`` yields, forever or for at least
``config.steps`` items, lists of row indices into the training `Examples` (one list = one batch; its
length is the batch size, which may vary). ``train`` calls ``iter(S)`` once and ``next`` once per step.
Optional: ``S.state_dict() -> dict`` and ``S.load_state_dict(dict)`` (plain Python values and tensors).
With them a checkpoint stores the sampler's state *after* the last consumed batch, and a resumed run
calls ``load_state_dict`` before ``iter(S)``; ``iter`` must then continue from that state. Without them
a resumed run restarts the sampler from scratch (a warning is logged). A sampler that adapts (online
data mixing) reads losses through ``callback(step, info)``, which runs after the step and before the
checkpoint, so whatever it changes there is saved with that step. `RandomBatchSampler` is the default.

Optimisation: AdamW (decoupled weight decay, betas 0.9/``beta2``) with decay on every matrix (>= 2-D
parameters, including the tied embedding/head and the position embedding) and no decay on biases and
LayerNorm, or plain SGD (``optimizer="sgd"``, ``momentum``, the same decay groups); linear warmup over
``warmup`` steps, then cosine decay to ``min_lr_ratio * lr`` at the last step (or constant); gradients
clipped to global norm ``grad_clip`` (0: no clipping).

Loss: ``"ce"``, the mean cross-entropy over counted targets, or ``"l2"``, the squared error between the
raw logits and the one-hot target averaged over counted positions *and* vocabulary entries
(`l2_loss`; the l2/SGD variant of arXiv 2506.24120's training scripts). Validation is always
cross-entropy (`evaluate`), so the two losses are compared on one scale.

Rerun (a few seconds on CPU):
``python -c "from datadiet.lm import *; t=ByteTokenizer(); ex=encode_texts(t, ['abc']*8, 16);
print(train(GPT(GPTConfig(t.vocab_size, 16, 1, 2, 32)), ex, ex, TrainConfig(steps=30), progress=False).final_val_loss)"``
"""

from __future__ import annotations

import logging
import math
import sys
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch

from datadiet.errors import InputError
from datadiet.lm.data import Examples
from datadiet.lm.model import _masked_ce_terms
from datadiet.paths import atomic_path

log = logging.getLogger(__name__)

CHECKPOINT_NAME = "checkpoint.pt"
_CHECKPOINT_FORMAT = 1
_NOT_COMPARED = ("device",)  # config fields that may change between a checkpoint and its resumption
OPTIMIZERS = ("adamw", "sgd")
LOSSES = ("ce", "l2")


@dataclass(frozen=True)
class TrainConfig:
    """Training hyper-parameters; `steps` optimizer updates of `batch_size` rows each."""

    steps: int = 500
    batch_size: int = 16
    lr: float = 3e-3
    min_lr_ratio: float = 0.1
    warmup: int = 20
    schedule: str = "cosine"
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    eval_every: int = 50
    seed: int = 0
    device: str = "auto"
    checkpoint_every: int = 0
    optimizer: str = "adamw"
    loss: str = "ce"
    beta2: float = 0.95
    momentum: float = 0.0

    def __post_init__(self):
        ints = {"steps": 1, "batch_size": 1, "warmup": 0, "eval_every": 0, "seed": 0, "checkpoint_every": 0}
        for name, low in ints.items():
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise InputError(f"TrainConfig.{name} must be an int >= {low}, got {v!r}")
        for name in ("lr", "weight_decay", "grad_clip"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0 or math.isinf(v):
                raise InputError(f"TrainConfig.{name} must be a finite number >= 0, got {v!r}")
        if not (0.0 <= self.min_lr_ratio <= 1.0):
            raise InputError(f"TrainConfig.min_lr_ratio must be in [0, 1], got {self.min_lr_ratio!r}")
        if self.schedule not in ("cosine", "constant"):
            raise InputError(f"TrainConfig.schedule must be 'cosine' or 'constant', got {self.schedule!r}")
        if self.optimizer not in OPTIMIZERS:
            raise InputError(f"TrainConfig.optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        if self.loss not in LOSSES:
            raise InputError(f"TrainConfig.loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        for name in ("beta2", "momentum"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not (0.0 <= v < 1.0):
                raise InputError(f"TrainConfig.{name} must be in [0, 1), got {v!r}")


@dataclass
class TrainResult:
    """``history``: one dict per evaluation {"step", "train_loss", "val_loss", "val_accuracy", "lr", "seconds"},
    from step 0 (``val_accuracy``: top-1 next-token accuracy on the counted validation targets).

    ``train_loss`` is the mean training-batch loss since the previous evaluation (None at step 0);
    ``lr`` the rate of the last update; ``seconds`` the wall time since training began (resumes included).
    ``train_losses[i]`` is the training-batch loss of update i+1 and ``train_seconds[i]`` the time spent
    in updates 1..i+1 (evaluations excluded), so a time-to-target needs no evaluation-time correction.
    """

    history: list[dict] = field(default_factory=list)
    final_val_loss: float = float("nan")
    steps: int = 0
    seconds: float = 0.0
    train_losses: list[float] = field(default_factory=list)
    train_seconds: list[float] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def lr_at(step: int, config: TrainConfig) -> float:
    """Learning rate of update `step` (1-based): ``lr * step / warmup`` up to `warmup`, then cosine.

    Cosine: ``lr_min + (lr - lr_min) * (1 + cos(pi * (step - warmup) / (steps - warmup))) / 2`` with
    ``lr_min = min_lr_ratio * lr``, so ``lr_at(warmup) == lr`` and ``lr_at(steps) == lr_min``.
    """
    if config.warmup and step <= config.warmup:
        return config.lr * max(step, 0) / config.warmup
    if config.schedule == "constant":
        return config.lr
    lr_min = config.min_lr_ratio * config.lr
    progress = min(1.0, max(0, step - config.warmup) / max(1, config.steps - config.warmup))
    return lr_min + 0.5 * (1.0 + math.cos(math.pi * progress)) * (config.lr - lr_min)


@contextmanager
def torch_threads(n: int | None):
    """Run the block with ``torch.set_num_threads(n)`` (None or 0: leave torch's setting), then restore it.

    On a CPU shared with other jobs, one thread per process is often several times faster than two:
    OpenMP threads that wait for each other lose their time slices.
    """
    if not n:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def pick_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> cuda when available, else cpu; anything else is passed to `torch.device`."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise InputError(f"unknown device {device!r}; use 'auto', 'cpu', 'cuda' or 'cuda:N'") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {device!r} requested but CUDA is not available; use device='auto' or 'cpu'")
    return dev


class RandomBatchSampler:
    """Infinite batches of `batch_size` row indices from ``0..n-1``, reshuffled every epoch.

    The stream is the concatenation of per-epoch permutations drawn from
    ``np.random.default_rng(np.random.SeedSequence([seed, epoch]))``, cut into batches (a batch may
    straddle two epochs, so ``n < batch_size`` works). ``state_dict()`` is (epoch, position) after the
    last yielded batch; ``load_state_dict`` then makes ``iter`` continue with the next batch.
    """

    def __init__(self, n: int, batch_size: int, seed: int = 0):
        for name, v, low in (("n", n, 1), ("batch_size", batch_size, 1), ("seed", seed, 0)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
                raise InputError(f"RandomBatchSampler {name} must be an int >= {low}, got {v!r}")
        self.n, self.batch_size, self.seed = int(n), int(batch_size), int(seed)
        self.epoch = 0
        self.position = 0
        self._perm_epoch: int | None = None
        self._perm: np.ndarray | None = None

    def set_epoch(self, epoch: int) -> None:
        """Start at the beginning of `epoch`."""
        self.epoch, self.position = int(epoch), 0

    def permutation(self, epoch: int) -> np.ndarray:
        """The order of rows in `epoch`."""
        if self._perm_epoch != epoch:
            rng = np.random.default_rng(np.random.SeedSequence([self.seed, epoch]))
            self._perm, self._perm_epoch = rng.permutation(self.n), epoch
        return self._perm

    def __iter__(self) -> Iterator[list[int]]:
        while True:
            batch: list[int] = []
            while len(batch) < self.batch_size:
                perm = self.permutation(self.epoch)
                take = min(self.batch_size - len(batch), self.n - self.position)
                batch.extend(perm[self.position : self.position + take].tolist())
                self.position += take
                if self.position == self.n:
                    self.epoch, self.position = self.epoch + 1, 0
            yield batch

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "position": self.position, "seed": self.seed, "n": self.n,
                "batch_size": self.batch_size}

    def load_state_dict(self, state: dict) -> None:
        for key in ("seed", "n", "batch_size"):
            if key in state and state[key] != getattr(self, key):
                raise InputError(f"sampler state has {key}={state[key]!r} but this sampler has "
                                 f"{key}={getattr(self, key)!r}")
        self.epoch, self.position = int(state["epoch"]), int(state["position"])


def _batch(ex: Examples, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Inputs, targets and mask of rows `idx`, cut after the last counted target (causal: exact)."""
    tok, mask = ex.tokens[idx], ex.mask[idx]
    counted = mask.any(0).nonzero()
    t = int(counted[-1]) + 1 if counted.numel() else 1
    return tok[:, :t], tok[:, 1 : t + 1], mask[:, :t]


def l2_loss(logits: torch.Tensor, targets: torch.Tensor, loss_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over counted positions and vocabulary entries of ``(z_v - 1[v = y])^2`` on the raw logits z.

    The l2 loss of arXiv 2506.24120's l2/SGD training scripts (a mean-reduced squared error between
    the logits, without a softmax, and the one-hot next token, over the positions whose label is not
    ignored): ``sum_{i counted} sum_v (z_iv - onehot_iv)^2 / (n_counted * V)``. Computed without
    materialising the one-hot: ``sum_v z_v^2 - 2 z_y + 1``. 0 when no position counts.
    """
    V = logits.shape[-1]
    z = logits.reshape(-1, V).float()
    flat_t = targets.reshape(-1)
    weight = (flat_t != -100).to(z.dtype)
    if loss_mask is not None:
        weight = weight * loss_mask.reshape(-1).to(z.dtype)
    zy = z.gather(1, flat_t.clamp_min(0)[:, None])[:, 0]
    per = (z * z).sum(1) - 2.0 * zy + 1.0
    return (per * weight).sum() / (weight.sum().clamp_min(1.0) * V)


def _loss(model: torch.nn.Module, x, y, m, kind: str) -> torch.Tensor:
    if kind == "ce":
        return model(x, y, m)[1]
    logits, _ = model(x)
    return l2_loss(logits, y, m)


@torch.no_grad()
def evaluate_metrics(model: torch.nn.Module, examples: Examples, batch_size: int = 64,
                     device: str | torch.device | None = None) -> dict:
    """{"loss", "accuracy", "targets"}: token-weighted mean cross-entropy (nats) and top-1 next-token
    accuracy over every counted target of `examples`, and the number of those targets (see `evaluate`)."""
    return _evaluate(model, examples, batch_size, device)


@torch.no_grad()
def evaluate(model: torch.nn.Module, examples: Examples, batch_size: int = 64,
             device: str | torch.device | None = None) -> float:
    """Token-weighted mean cross-entropy (nats) over every counted target of `examples`.

    ``sum_i sum_j mask[i,j] * CE_ij / sum_i sum_j mask[i,j]``, in eval mode and without gradients;
    the model's train/eval mode is restored afterwards. `device` defaults to the model's.
    """
    return _evaluate(model, examples, batch_size, device)["loss"]


@torch.no_grad()
def _evaluate(model, examples, batch_size, device) -> dict:
    if not isinstance(examples, Examples):
        raise InputError(f"evaluate needs Examples, got {type(examples).__name__}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InputError(f"batch_size must be a positive int, got {batch_size!r}")
    if examples.n_target_tokens() == 0:
        raise InputError("evaluate: the examples have no target in the loss mask (all-zero mask)")
    dev = next(model.parameters()).device if device is None else pick_device(device)
    was_training = model.training
    model.eval()
    total = torch.zeros((), dtype=torch.float64)
    count = torch.zeros((), dtype=torch.float64)
    correct = torch.zeros((), dtype=torch.float64)
    try:
        for start in range(0, len(examples), batch_size):
            idx = torch.arange(start, min(start + batch_size, len(examples)))
            x, y, m = (t.to(dev) for t in _batch(examples, idx))
            logits, _ = model(x)
            w, ce = _masked_ce_terms(logits, y, m)
            total += (w * ce).sum().double().cpu()
            count += w.sum().double().cpu()
            hit = (logits.argmax(-1).reshape(-1) == y.reshape(-1)).to(w.dtype)
            correct += (w * hit).sum().double().cpu()
    finally:
        model.train(was_training)
    return {"loss": float(total / count), "accuracy": float(correct / count), "targets": int(count)}


def _optimizer(model: torch.nn.Module, config: TrainConfig, device: torch.device) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": config.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum)
    return torch.optim.AdamW(groups, lr=config.lr, betas=(0.9, config.beta2), eps=1e-8)


def _config_mismatch(saved: dict, config: TrainConfig) -> list[str]:
    now = asdict(config)
    default = asdict(TrainConfig())
    # a field newer than the checkpoint matches when it holds its default (what the old run used)
    return [f"{k}: checkpoint {saved.get(k, default[k])!r} vs now {now[k]!r}"
            for k in now if k not in _NOT_COMPARED and saved.get(k, default[k]) != now[k]]


def _load_checkpoint(path: Path, model, optimizer, sampler, config: TrainConfig, n_train: int) -> dict:
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise InputError(f"{path}: cannot read the checkpoint ({exc}); remove it or pass another checkpoint_dir") from exc
    if not isinstance(ckpt, dict) or ckpt.get("format") != _CHECKPOINT_FORMAT:
        raise InputError(f"{path}: not a datadiet.lm checkpoint; remove it or pass another checkpoint_dir")
    diffs = _config_mismatch(ckpt["config"], config)
    model_cfg = asdict(model.config) if hasattr(model, "config") else None
    if ckpt.get("model_config") != model_cfg:
        diffs.append(f"model config: checkpoint {ckpt.get('model_config')} vs now {model_cfg}")
    if ckpt.get("n_train") != n_train:
        diffs.append(f"training rows: checkpoint {ckpt.get('n_train')} vs now {n_train}")
    if diffs:
        raise InputError(f"{path.parent}: the checkpoint there was made by a different run ("
                         + "; ".join(diffs) + "); remove that directory or use another checkpoint_dir")
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    if ckpt.get("sampler") is not None and hasattr(sampler, "load_state_dict"):
        sampler.load_state_dict(ckpt["sampler"])
    else:
        log.warning("resuming without sampler state: the sampler restarts from its beginning")
    torch.set_rng_state(ckpt["rng"]["torch"])
    if ckpt["rng"].get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(ckpt["rng"]["cuda"])
    return ckpt


def _save_checkpoint(path: Path, *, model, optimizer, sampler, config: TrainConfig, step: int,
                     history: list[dict], elapsed: float, n_train: int, pending: list[float],
                     losses: list[float], seconds: list[float]) -> None:
    state = {
        "format": _CHECKPOINT_FORMAT,
        "config": asdict(config),
        "model_config": asdict(model.config) if hasattr(model, "config") else None,
        "n_train": n_train,
        "step": step,
        "history": history,
        "pending_losses": pending,
        "train_losses": losses,
        "train_seconds": seconds,
        "elapsed": elapsed,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "sampler": sampler.state_dict() if hasattr(sampler, "state_dict") else None,
        "rng": {"torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None},
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def _progress(enabled: bool, total: int, completed: int):
    if not (enabled and sys.stderr.isatty()):
        return None
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    prog = Progress(TextColumn("train"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                    TimeRemainingColumn(), console=Console(stderr=True), transient=True)
    prog.start()
    prog.add_task("train", total=total, completed=completed, info="")
    return prog


def train(model: torch.nn.Module, train: Examples, val: Examples, config: TrainConfig, *,
          sampler: Any = None, checkpoint_dir: str | Path | None = None, progress: bool = True,
          callback: Callable[[int, dict], Any] | None = None, stop_after: int | None = None,
          initial_eval: bool = True) -> TrainResult:
    """Train `model` for ``config.steps`` updates on batches of `train`; evaluate on `val` every ``eval_every``.

    Evaluates at step 0, every ``eval_every`` steps and at the last step. Seeds torch with
    ``config.seed`` (dropout) and, by default, samples batches with
    ``RandomBatchSampler(len(train), batch_size, seed)``. ``callback(step, info)`` runs after every
    update with info = {"step", "train_loss", "lr", "batch", "model", "val_loss" (at evaluations)}.
    With `checkpoint_dir` and ``checkpoint_every > 0`` the full state is saved atomically to
    ``checkpoint_dir/checkpoint.pt`` every ``checkpoint_every`` steps and at the end; calling `train`
    again with that directory resumes and gives the same history (on CPU, bit for bit).
    `stop_after` ends the call after that many total steps (as if interrupted). ``initial_eval=False``
    skips the step-0 evaluation (a caller that already knows it, e.g. many runs from one base model).
    """
    if not isinstance(config, TrainConfig):
        raise InputError(f"config must be a TrainConfig, got {type(config).__name__}")
    for name, ex in (("train", train), ("val", val)):
        if not isinstance(ex, Examples):
            raise InputError(f"{name} must be Examples (see datadiet.lm.encode_instructions), got {type(ex).__name__}")
    if len(train) == 0:
        raise InputError("train has no examples")
    cfg = getattr(model, "config", None)
    if cfg is not None:
        for name, ex in (("train", train), ("val", val)):
            if ex.context > cfg.context:
                raise InputError(f"{name} examples have context {ex.context} > model context {cfg.context}; "
                                 f"encode them with context={cfg.context}")
            if len(ex) and int(ex.tokens.max()) >= cfg.vocab_size:
                raise InputError(f"{name} has token id {int(ex.tokens.max())} >= model vocab_size {cfg.vocab_size}; "
                                 f"build GPTConfig with the tokenizer's vocab_size")
    if stop_after is not None and (isinstance(stop_after, bool) or not isinstance(stop_after, int) or stop_after < 0):
        raise InputError(f"stop_after must be an int >= 0 or None, got {stop_after!r}")

    device = pick_device(config.device)
    model.to(device)
    train_dev, val_dev = train.to(device), val.to(device)
    optimizer = _optimizer(model, config, device)
    if sampler is None:
        sampler = RandomBatchSampler(len(train), config.batch_size, config.seed)
    elif not hasattr(sampler, "__iter__"):
        raise InputError(f"sampler must be iterable (yield lists of row indices), got {type(sampler).__name__}")

    ckpt_path = Path(checkpoint_dir) / CHECKPOINT_NAME if checkpoint_dir is not None else None
    saving = ckpt_path is not None and config.checkpoint_every > 0
    step, history, pending, elapsed0 = 0, [], [], 0.0
    losses: list[float] = []
    seconds: list[float] = []
    torch.manual_seed(config.seed)
    if ckpt_path is not None and ckpt_path.exists():
        ckpt = _load_checkpoint(ckpt_path, model, optimizer, sampler, config, len(train))
        step, history, pending = ckpt["step"], list(ckpt["history"]), list(ckpt.get("pending_losses", []))
        losses, seconds = list(ckpt.get("train_losses", [])), list(ckpt.get("train_seconds", []))
        elapsed0 = float(ckpt["elapsed"])
        log.info("resumed from %s at step %d", ckpt_path, step)

    t0 = time.perf_counter()

    def elapsed() -> float:
        return elapsed0 + time.perf_counter() - t0

    def record(s: int, lr: float) -> float:
        ev = _evaluate(model, val_dev, 64, None) if len(val_dev) else {"loss": float("nan"), "accuracy": float("nan")}
        train_loss = float(np.mean(pending)) if pending else None
        pending.clear()
        history.append({"step": s, "train_loss": train_loss, "val_loss": ev["loss"], "val_accuracy": ev["accuracy"],
                        "lr": lr, "seconds": round(elapsed(), 4)})
        return ev["loss"]

    if step == 0 and not history and initial_eval:
        record(0, lr_at(0, config))

    end = config.steps if stop_after is None else min(config.steps, stop_after)
    bar = _progress(progress, config.steps, step) if step < end else None
    it = iter(sampler)
    model.train()
    try:
        while step < end:
            batch = next(it)
            rows = np.asarray(batch, dtype=np.int64).reshape(-1)
            if rows.size == 0 or rows.min() < 0 or rows.max() >= len(train):
                raise InputError(f"sampler yielded batch {list(batch)[:8]}...: need a non-empty list of row "
                                 f"indices in [0, {len(train)})")
            idx = torch.from_numpy(rows).to(device)
            t_step = time.perf_counter()
            step += 1
            lr = lr_at(step, config)
            for group in optimizer.param_groups:
                group["lr"] = lr
            x, y, m = _batch(train_dev, idx)
            loss = _loss(model, x, y, m, config.loss)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            loss_value = float(loss.detach())
            pending.append(loss_value)
            losses.append(loss_value)
            seconds.append(round((seconds[-1] if seconds else 0.0) + time.perf_counter() - t_step, 6))
            info = {"step": step, "train_loss": loss_value, "lr": lr, "batch": batch, "model": model}
            if step == config.steps or (config.eval_every and step % config.eval_every == 0):
                info["val_loss"] = record(step, lr)
                model.train()
            if callback is not None:
                callback(step, info)
            if saving and (step % config.checkpoint_every == 0 or step == config.steps):
                _save_checkpoint(ckpt_path, model=model, optimizer=optimizer, sampler=sampler, config=config,
                                 step=step, history=history, elapsed=elapsed(), n_train=len(train),
                                 pending=pending, losses=losses, seconds=seconds)
            if bar is not None:
                bar.update(bar.task_ids[0], advance=1, info=f"loss {loss_value:.3f}")
    finally:
        if bar is not None:
            bar.stop()
    final = history[-1]["val_loss"] if history else float("nan")
    return TrainResult(history=history, final_val_loss=final, steps=step, seconds=elapsed(),
                       train_losses=losses, train_seconds=seconds)

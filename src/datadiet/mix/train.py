"""The mix-training driver: train the `datadiet.lm` GPT on several domains while a mixer sets α online.

``train_mix(domains, target_texts, mixer="dga", ...)`` packs every domain's documents whole into
windows of ``context + 1`` byte tokens (`datadiet.lm.data.pack_documents`; nothing is truncated, a
domain's last window is padded and its padding masked), samples batches with a `DomainSampler` driven
by the mixer and trains with AdamW (the `datadiet.lm` optimizer, warmup + cosine schedule, gradient
clipping). What each mixer reads, and when:

* ``dga``: every ``update_every`` steps the training batch is backpropagated domain by domain
  (`datadiet.mix.grads.split_backward`: the parts sum to the full-batch gradient, so the step is
  unchanged) and each present domain's gradient is aligned with the gradient of ``probe_size``
  windows of the specialist set. Domains with no row in that batch: ``absent="carry"`` reuses their
  last measured alignment (the first author's DoGE keeps stale per-domain gradients the same way),
  ``"probe"`` measures them on ``probe_size`` windows of their own, ``"skip"`` leaves their weight as
  it is. ``basis=K`` runs distribution reweighting: K basis distributions from hierarchical k-means of
  the domains' centroids (`datadiet.mix.basis`), one gradient per basis group.
* ``odm``: EXP3 (`ODM`), updated after *every* training step with each present domain's mean loss in
  that batch, as in the authors' code.
* ``doremi``: DoReMi's three runs. (1) a reference model trained on the uniform mixture (or the
  state given as ``reference_state``); (2) a proxy trained on uniformly sampled batches whose loss is
  reweighted by the current α, with the DoReMi update after every step from the per-token excess
  loss over the reference on that batch; (3) the reported model, trained on the proxy's time-averaged
  α as static weights. ``weights.csv`` holds the proxy's α trajectory; ``reference_seconds`` the cost
  of (1) and (2).
* ``is``: static `ImportanceSampling` weights (nearest-centroid histogram of the specialist texts on
  hashing embeddings); ``uniform`` / ``natural`` (size-proportional, by packed windows): static.

The target texts are split (seeded, by document) into the specialist set (target gradients and IS)
and a held-out validation half (the reported target loss), unless ``target_val_texts`` is given.
Validation runs every ``eval_every`` steps on a fixed subsample of ``eval_rows`` validation windows
and on the whole validation set at the end (``final_target_loss``).

With ``checkpoint_dir`` the whole state (model, optimizer, mixer, sampler, the driver's records,
torch RNG) is saved atomically every ``checkpoint_every`` steps and at the end; calling again with
the same directory and settings resumes, and the written ``weights.csv``/``losses.csv`` are
byte-identical to an uninterrupted run's (CPU).

Outputs in ``out_dir`` (atomic): ``weights.csv`` (``step`` + one column per domain: α at that step,
row 0 = initial α), ``basis_weights.csv`` (with ``basis``), ``losses.csv``
(``step,train_loss,target_val_loss``; train_loss = mean training-batch loss since the previous row),
``alignments.csv`` (DGA: the alignment of each domain or basis group at each update; empty = skipped),
``alpha.png``, ``loss.png`` and ``summary.json``.

Rerun: ``datadiet mix train --domains DIR --target TARGET --mixer dga --out results/mix-dga``
"""

from __future__ import annotations

import csv
import hashlib
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from datadiet.errors import InputError
from datadiet.io import check_texts, write_json
from datadiet.mix.dga import DEFAULT_EMA, DEFAULT_ETA, SCALINGS
from datadiet.paths import atomic_path, atomic_write

log = logging.getLogger(__name__)

MIXERS = ("dga", "uniform", "natural", "odm", "doremi", "is")
ABSENT = ("carry", "probe", "skip")
#: model presets: name -> (n_layer, n_embd, n_head); "LxW" (e.g. "4x128") gives any other shape
MODEL_PRESETS = {"tiny": (1, 32, 2), "small": (2, 64, 2), "base": (4, 128, 4)}
CHECKPOINT_FORMAT = 1


def parse_model(spec: str) -> tuple[int, int, int]:
    """(n_layer, n_embd, n_head) of a preset name or of ``"LxW"`` (layers x width, heads = max(1, W // 32))."""
    if spec in MODEL_PRESETS:
        return MODEL_PRESETS[spec]
    parts = str(spec).lower().split("x")
    if len(parts) == 2 and all(p.isdigit() for p in parts):
        L, W = int(parts[0]), int(parts[1])
        H = max(1, W // 32)
        if L >= 1 and W >= 1 and W % H == 0:
            return L, W, H
    raise InputError(f"--model {spec!r}: give a preset ({', '.join(MODEL_PRESETS)}) or LAYERSxWIDTH such as 4x128")


@dataclass(frozen=True)
class MixConfig:
    """Settings of one mix-training run; every field is a CLI option of ``datadiet mix train``."""

    mixer: str = "dga"
    steps: int = 200
    update_every: int = 10
    eta: float = DEFAULT_ETA
    ema: float = DEFAULT_EMA
    scaling: str = "normalized"
    absent: str = "carry"
    basis: int | None = None
    seed: int = 0
    batch_size: int = 32
    probe_size: int = 8
    lr: float = 3e-3
    warmup: int = 10
    context: int = 64
    model: str = "small"
    eval_every: int = 10
    eval_rows: int = 64
    checkpoint_every: int = 50
    reference_steps: int | None = None
    doremi_eta: float = 1.0
    device: str = "auto"

    def __post_init__(self):
        if self.mixer not in MIXERS:
            raise InputError(f"unknown mixer {self.mixer!r}; choose one of: {', '.join(MIXERS)}")
        for name, low in (("steps", 1), ("update_every", 1), ("batch_size", 1), ("probe_size", 1), ("context", 2),
                          ("seed", 0), ("warmup", 0), ("eval_every", 1), ("eval_rows", 1), ("checkpoint_every", 1)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise InputError(f"--{name.replace('_', '-')} must be an int >= {low}, got {v!r}")
        for name in ("eta", "doremi_eta"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise InputError(f"--{name.replace('_', '-')} must be a finite number >= 0, got {v!r}")
        if isinstance(self.ema, bool) or not isinstance(self.ema, (int, float)) or not (0 < self.ema <= 1):
            raise InputError(f"--ema (beta) must be in (0, 1], got {self.ema!r}")
        if isinstance(self.lr, bool) or not isinstance(self.lr, (int, float)) or not (math.isfinite(self.lr) and self.lr > 0):
            raise InputError(f"--lr must be a finite number > 0, got {self.lr!r}")
        if self.scaling not in SCALINGS:
            raise InputError(f"--scaling {self.scaling!r} is not one of: {', '.join(SCALINGS)}")
        if self.absent not in ABSENT:
            raise InputError(f"--absent {self.absent!r} is not one of: {', '.join(ABSENT)}")
        if self.basis is not None:
            if isinstance(self.basis, bool) or not isinstance(self.basis, int) or self.basis < 1:
                raise InputError(f"--basis must be an int >= 1, got {self.basis!r}")
            if self.mixer != "dga":
                raise InputError(f"--basis applies to --mixer dga (distribution reweighting), not {self.mixer!r}")
        if self.reference_steps is not None and (isinstance(self.reference_steps, bool)
                                                 or not isinstance(self.reference_steps, int) or self.reference_steps < 1):
            raise InputError(f"--reference-steps must be an int >= 1, got {self.reference_steps!r}")
        parse_model(self.model)


@dataclass
class MixData:
    """Packed windows of every domain and of the target, ready to train on (build with `prepare`)."""

    names: list[str]
    train: Any  # datadiet.lm.Examples, all domains one after another
    domain_indices: dict[str, np.ndarray]
    target_probe: Any  # Examples: the specialist set (gradients, IS)
    target_val: Any  # Examples: held-out target windows (the reported loss)
    domain_embeddings: dict[str, np.ndarray] | None = None  # rows per domain (IS, basis), computed if None
    target_embeddings: np.ndarray | None = None
    domain_texts: dict[str, list[str]] | None = None
    target_texts: list[str] | None = None
    stats: dict = field(default_factory=dict)

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        for t in (self.train.tokens, self.train.mask, self.target_probe.tokens, self.target_val.tokens):
            h.update(np.ascontiguousarray(t.cpu().numpy()).tobytes())
        for n in self.names:
            h.update(n.encode())
            h.update(np.asarray(self.domain_indices[n], dtype=np.int64).tobytes())
        return h.hexdigest()[:24]


@dataclass
class MixResult:
    domains: list[str]
    weights: list[list[float]] = field(default_factory=list)  # one row per record: [step, α...]
    basis_weights: list[list[float]] = field(default_factory=list)  # [step, w...] with a basis
    basis_names: list[str] | None = None
    losses: list[list[float]] = field(default_factory=list)  # [step, train_loss, target_val_loss]
    alignments: list[list[float]] = field(default_factory=list)  # DGA: [step, a per unit] (NaN = skipped)
    final_target_loss: float = float("nan")  # the whole validation set, at the end
    min_target_loss: float = float("nan")  # lowest point of the validation curve
    final_weights: dict[str, float] = field(default_factory=dict)
    average_weights: dict[str, float] | None = None  # DoReMi's output
    seconds: float = 0.0  # training steps only (mixer work included, evaluation excluded)
    update_seconds: float = 0.0  # the mixer's extra work inside those steps
    eval_seconds: float = 0.0
    reference_seconds: float = 0.0  # DoReMi's reference and proxy runs
    stats: dict = field(default_factory=dict)
    mixer_state: dict = field(default_factory=dict)  # the mixer's state_dict() at the end
    out_dir: Path | None = None
    model: Any = None  # the trained model (not serialized)


# ---------------------------------------------------------------------------------------------- data
def pack_domain(texts: Sequence[str], context: int) -> tuple[Any, dict]:
    """Whole documents packed into windows of context+1 byte tokens (`datadiet.lm.pack_texts`), no drop."""
    from datadiet.lm import ByteTokenizer
    from datadiet.lm.data import pack_texts

    return pack_texts(ByteTokenizer(), list(texts), context, drop_last=False)


def _split_target(texts: list[str], seed: int) -> tuple[list[str], list[str]]:
    if len(texts) == 1:
        return texts, texts
    perm = np.random.default_rng([seed, 7]).permutation(len(texts))
    n_val = max(1, len(texts) // 2)
    return [texts[i] for i in sorted(perm[n_val:])], [texts[i] for i in sorted(perm[:n_val])]


def prepare(domains: Mapping[str, Sequence[str]], target_texts: Sequence[str], *, context: int = 64,
            target_val_texts: Sequence[str] | None = None, seed: int = 0) -> MixData:
    """Validate and pack the domains and the target (see the module docstring for the split)."""
    from datadiet.lm import Examples

    if not domains:
        raise InputError("no domains given")
    names = [str(n) for n in domains]
    doms = {}
    for n in names:
        t = check_texts(domains[n])
        if not t:
            raise InputError(f"domain {n!r} is empty; every domain needs at least one text")
        doms[n] = t
    target = check_texts(target_texts)
    if not target:
        raise InputError("the target holds no texts")
    if target_val_texts is None:
        probe_t, val_t = _split_target(target, seed)
    else:
        probe_t, val_t = target, check_texts(target_val_texts)
        if not val_t:
            raise InputError("the target validation set holds no texts")
    parts, stats = [], {"domains": {}}
    for n in names:
        ex, st = pack_domain(doms[n], context)
        parts.append(ex)
        stats["domains"][n] = {"texts": len(doms[n]), "windows": st["windows"], "tokens": st["tokens"],
                               "tokens_padded": st["tokens_padded"]}
    probe, st_p = pack_domain(probe_t, context)
    val, st_v = pack_domain(val_t, context)
    stats["target"] = {"texts": len(probe_t), "windows": st_p["windows"], "tokens": st_p["tokens"]}
    stats["target_val"] = {"texts": len(val_t), "windows": st_v["windows"], "tokens": st_v["tokens"]}
    offsets = np.cumsum([0] + [len(p) for p in parts])
    return MixData(names=names, train=Examples.concat(parts),
                   domain_indices={n: np.arange(offsets[i], offsets[i + 1]) for i, n in enumerate(names)},
                   target_probe=probe, target_val=val, domain_texts=doms, target_texts=probe_t, stats=stats)


def _embeddings(data: MixData) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Per-domain and target embeddings (hashing embedder of the texts) unless the data carries them."""
    if data.domain_embeddings is not None and data.target_embeddings is not None:
        return data.domain_embeddings, data.target_embeddings
    if data.domain_texts is None or data.target_texts is None:
        raise InputError("importance sampling and --basis need the domains' texts or their embeddings")
    from datadiet.embed import get_embedder
    from datadiet.embed.base import embed_cached

    emb = get_embedder("hashing")
    return ({n: embed_cached(emb, data.domain_texts[n]) for n in data.names},
            embed_cached(emb, data.target_texts))


# --------------------------------------------------------------------------------------------- mixers
def _make_mixer(cfg: MixConfig, data: MixData):
    from datadiet.mix import DGA, ODM, ImportanceSampling, Natural, Uniform

    names = data.names
    if cfg.mixer == "dga":
        if cfg.basis is None:
            return DGA(names, eta=float(cfg.eta), ema=float(cfg.ema), update_every=cfg.update_every,
                       scaling=cfg.scaling)
        from datadiet.mix.basis import hierarchical_basis

        demb, _ = _embeddings(data)
        cents = np.stack([_centroid(demb[n]) for n in names])
        sizes = [len(data.domain_indices[n]) for n in names]
        P, _ = hierarchical_basis(cents, sizes, min(cfg.basis, len(names)), seed=cfg.seed)
        return DGA(names, eta=float(cfg.eta), ema=float(cfg.ema), update_every=cfg.update_every,
                   scaling=cfg.scaling, basis=P, basis_names=[f"group{j}" for j in range(P.shape[1])])
    if cfg.mixer in ("uniform", "doremi"):
        return Uniform(names)
    if cfg.mixer == "natural":
        return Natural({n: len(data.domain_indices[n]) for n in names})
    if cfg.mixer == "odm":
        return ODM(names)
    demb, temb = _embeddings(data)
    return ImportanceSampling.from_embeddings(demb, temb)


def _centroid(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    n = np.linalg.norm(X, axis=1, keepdims=True)
    return (X / np.where(n > 0, n, 1.0)).mean(axis=0)


# ----------------------------------------------------------------------------------------------- run
def train_mix(domains: Mapping[str, Sequence[str]], target_texts: Sequence[str], *, mixer: str = "dga",
              target_val_texts: Sequence[str] | None = None, out_dir: str | Path | None = None,
              checkpoint_dir: str | Path | None = None, progress: bool = False,
              on_step: Callable[[int, int], Any] | None = None, stop_after: int | None = None,
              **options: Any) -> MixResult:
    """Train the testbed GPT on ``domains`` (name -> documents) with ``mixer`` choosing α; see the module doc.

    ``options`` are the other `MixConfig` fields. ``on_step(step, steps)`` is called after every
    step. ``stop_after`` ends the call after that many steps of the main run (as if killed; resume
    with the same ``checkpoint_dir``). With ``out_dir`` the CSVs, PNGs and summary.json are written.
    """
    try:
        cfg = MixConfig(mixer=mixer, **options)
    except TypeError as exc:
        raise InputError(f"train_mix: {exc}") from None
    data = prepare(domains, target_texts, context=cfg.context, target_val_texts=target_val_texts, seed=cfg.seed)
    result = run_mix(data, cfg, checkpoint_dir=checkpoint_dir, progress=progress, on_step=on_step,
                     stop_after=stop_after)
    if out_dir is not None and result is not None:
        result.out_dir = Path(out_dir)
        write_outputs(result, cfg)
    return result


def run_mix(data: MixData, cfg: MixConfig, *, checkpoint_dir: str | Path | None = None, progress: bool = False,
            on_step: Callable[[int, int], Any] | None = None, stop_after: int | None = None,
            reference_state: Mapping[str, Any] | None = None, keep_model: bool = False) -> MixResult:
    """Train on packed `MixData` with ``cfg`` (the experiment calls this to reuse one packing for many runs).

    ``reference_state``: a DoReMi reference model's ``state_dict`` (same shape), instead of training one.
    """
    from datadiet.mix import Static

    ckpt = Path(checkpoint_dir) if checkpoint_dir is not None else None
    names = data.names
    if cfg.mixer != "doremi":
        mixer = _make_mixer(cfg, data)
        return _Run(data, cfg, mixer, phase="main", ckpt=ckpt, progress=progress, on_step=on_step,
                    stop_after=stop_after, keep_model=keep_model).execute()
    # DoReMi: reference, proxy (loss reweighted by α, DoReMi updates), then the reported run on the average
    from datadiet.lm import ByteTokenizer
    from datadiet.mix import DoReMi, Uniform

    t0 = time.perf_counter()
    ref_cfg = MixConfig(**{**asdict(cfg), "mixer": "uniform", "steps": cfg.reference_steps or cfg.steps})
    if reference_state is None:
        ref = _Run(data, ref_cfg, Uniform(names), phase="reference", ckpt=ckpt, progress=progress,
                   keep_model=True).execute()
        reference_state = ref.model.state_dict()
    proxy_mixer = DoReMi(names, eta=float(cfg.doremi_eta), vocab_size=ByteTokenizer().vocab_size)
    proxy = _Run(data, cfg, proxy_mixer, phase="proxy", ckpt=ckpt, progress=progress,
                 reference_state=reference_state).execute()
    avg = proxy_mixer.average_weights()
    ref_seconds = time.perf_counter() - t0
    main = _Run(data, cfg, Static(avg.tolist(), names), phase="main", ckpt=ckpt, progress=progress, on_step=on_step,
                stop_after=stop_after, keep_model=keep_model).execute()
    main.weights, main.average_weights = proxy.weights, dict(zip(names, avg.tolist()))
    main.final_weights = dict(zip(names, avg.tolist()))
    main.reference_seconds = ref_seconds
    return main


class _Run:
    """One training run (a phase): the loop, the mixer's signals, records and checkpoints."""

    def __init__(self, data: MixData, cfg: MixConfig, mixer: Any, *, phase: str, ckpt: Path | None,
                 progress: bool = False, on_step=None, stop_after: int | None = None,
                 reference_state: Mapping[str, Any] | None = None, keep_model: bool = False):
        import torch

        from datadiet.lm import GPT, GPTConfig, TrainConfig
        from datadiet.lm.train import _optimizer, pick_device
        from datadiet.mix.sampler import DomainSampler

        self.data, self.cfg, self.mixer, self.phase = data, cfg, mixer, phase
        self.kind = "doremi-proxy" if phase == "proxy" else (cfg.mixer if phase == "main" else "uniform")
        self.progress, self.on_step, self.stop_after, self.keep_model = progress, on_step, stop_after, keep_model
        self.ckpt_path = ckpt / f"mix-{phase}.pt" if ckpt is not None else None
        self.device = pick_device(cfg.device)
        L, E, H = parse_model(cfg.model)
        from datadiet.lm import ByteTokenizer

        self.gcfg = GPTConfig(ByteTokenizer().vocab_size, context=cfg.context, n_layer=L, n_head=H, n_embd=E)
        torch.manual_seed(cfg.seed)
        self.model = GPT(self.gcfg).to(self.device)
        self.tcfg = TrainConfig(steps=cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr,
                                warmup=min(cfg.warmup, cfg.steps), seed=cfg.seed, device=cfg.device)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = _optimizer(self.model, self.tcfg, self.device)
        # DoReMi's proxy samples from the reference (uniform) mixture; its α reweights the loss instead
        from datadiet.mix import Uniform

        sampling_mixer = Uniform(data.names) if phase == "proxy" else mixer
        self.sampler = DomainSampler(data.domain_indices, sampling_mixer, cfg.batch_size, seed=cfg.seed)
        self.train_ex = data.train.to(self.device)
        self.probe_ex = data.target_probe.to(self.device)
        self.val_ex = data.target_val.to(self.device)
        n_val = len(self.val_ex)
        pick = np.random.default_rng([cfg.seed, 5]).choice(n_val, size=min(cfg.eval_rows, n_val), replace=False)
        self.val_sub = self.val_ex.subset(np.sort(pick))
        self.reference = None
        if reference_state is not None:
            self.reference = GPT(self.gcfg).to(self.device)
            self.reference.load_state_dict(reference_state)
            self.reference.eval()
        self.domain_of_row = np.empty(len(data.train), dtype=np.int64)
        for i, n in enumerate(data.names):
            self.domain_of_row[data.domain_indices[n]] = i
        # units of DGA's gradient split: fine domains, or basis groups (disjoint basis supports)
        self.unit_of_domain = np.arange(len(data.names))
        self.unit_names = list(data.names)
        if getattr(mixer, "basis", None) is not None:
            from datadiet.mix.basis import disjoint_groups

            groups = disjoint_groups(mixer.basis)
            if groups is None:
                raise InputError("the DGA basis must have disjoint columns for the driver's batch split")
            self.unit_of_domain, self.unit_names = groups, list(mixer.basis_names)
        # records (all restored from a checkpoint)
        self.step = 0
        self.weights: list[list[float]] = []
        self.basis_rows: list[list[float]] = []
        self.losses: list[list[float]] = []
        self.align_rows: list[list[float]] = []
        self.pending: list[float] = []
        self.carry: dict[str, float] = {}
        self.timing = {"train": 0.0, "update": 0.0, "eval": 0.0}

    # -- bookkeeping -------------------------------------------------------------------------
    def _fingerprint(self) -> str:
        cfg = {k: v for k, v in asdict(self.cfg).items() if k != "device"}
        return hashlib.sha256(repr((cfg, self.phase, self.data.fingerprint(), self.mixer.kind,
                                    list(getattr(self.mixer, "domains", [])))).encode()).hexdigest()[:24]

    def _state(self) -> dict:
        import torch

        return {"format": CHECKPOINT_FORMAT, "fingerprint": self._fingerprint(), "step": self.step,
                "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "mixer": self.mixer.state_dict(), "sampler": self.sampler.state_dict(),
                "records": {"weights": self.weights, "basis": self.basis_rows, "losses": self.losses,
                            "alignments": self.align_rows, "pending": self.pending, "carry": self.carry, "timing": self.timing},
                "rng": torch.get_rng_state()}

    def _save(self) -> None:
        import torch

        if self.ckpt_path is None:
            return
        self.ckpt_path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.ckpt_path) as tmp:
            torch.save(self._state(), tmp)

    def _load(self) -> bool:
        import torch

        if self.ckpt_path is None or not self.ckpt_path.exists():
            return False
        try:
            st = torch.load(self.ckpt_path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise InputError(f"{self.ckpt_path}: cannot read the checkpoint ({exc}); remove it or use another "
                             "--checkpoint folder") from None
        if not isinstance(st, dict) or st.get("format") != CHECKPOINT_FORMAT:
            raise InputError(f"{self.ckpt_path}: not a datadiet mix checkpoint; remove it or use another --checkpoint folder")
        if st.get("fingerprint") != self._fingerprint():
            raise InputError(f"{self.ckpt_path.parent}: the checkpoint there was made by a run with other data or "
                             "settings; remove that folder or use another --checkpoint folder")
        self.model.load_state_dict(st["model"])
        self.optimizer.load_state_dict(st["optimizer"])
        self.mixer.load_state_dict(st["mixer"])
        self.sampler.load_state_dict(st["sampler"])  # restores the sampler's mixer too (the same one, but
        self.mixer.load_state_dict(st["mixer"])       # DoReMi's proxy samples by its own uniform mixer)
        rec = st["records"]
        self.weights, self.basis_rows, self.losses = rec["weights"], rec["basis"], rec["losses"]
        self.align_rows = rec["alignments"]
        self.pending, self.carry, self.timing = rec["pending"], dict(rec["carry"]), dict(rec["timing"])
        self.step = int(st["step"])
        torch.set_rng_state(st["rng"])
        log.info("resumed %s from %s at step %d", self.phase, self.ckpt_path, self.step)
        return True

    def _record(self, step: int) -> None:
        from datadiet.lm import evaluate

        t0 = time.perf_counter()
        val = float(evaluate(self.model, self.val_sub))
        self.timing["eval"] += time.perf_counter() - t0
        w = np.asarray(self.mixer.weights(), dtype=np.float64)
        self.weights.append([step] + w.tolist())
        if getattr(self.mixer, "basis", None) is not None:
            self.basis_rows.append([step] + self.mixer.basis_weights().tolist())
        tr = float(np.mean(self.pending)) if self.pending else float("nan")
        self.losses.append([step, tr, val])
        self.pending = []

    # -- the loop ----------------------------------------------------------------------------
    def execute(self) -> MixResult:
        import torch

        from datadiet.lm import evaluate
        from datadiet.lm.train import lr_at

        resumed = self._load()
        if not resumed:
            self._record(0)
        cfg = self.cfg
        end = cfg.steps if self.stop_after is None or self.phase != "main" else min(cfg.steps, self.stop_after)
        self.model.train()
        bar = _bar(self.progress, cfg.steps, self.step, self.kind) if self.step < end else None
        try:
            while self.step < end:
                rows = np.asarray(self.sampler.next_batch(), dtype=np.int64)
                t0 = time.perf_counter()
                step = self.step + 1
                lr = lr_at(step, self.tcfg)
                for group in self.optimizer.param_groups:
                    group["lr"] = lr
                self.optimizer.zero_grad(set_to_none=True)
                loss = self._train_step(step, rows)
                if self.tcfg.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(self.params, self.tcfg.grad_clip)
                self.optimizer.step()
                self.step = step
                self.timing["train"] += time.perf_counter() - t0
                self.pending.append(loss)
                if step % cfg.eval_every == 0 or step == cfg.steps:
                    self._record(step)
                    self.model.train()
                if step % cfg.checkpoint_every == 0 or step == cfg.steps:
                    self._save()
                if bar is not None:
                    bar.update(bar.task_ids[0], advance=1, info=f"loss {loss:.3f}")
                if self.on_step is not None:
                    self.on_step(step, cfg.steps)
        finally:
            if bar is not None:
                bar.stop()
        if self.step < cfg.steps:
            return None  # stopped early (stop_after): the checkpoint holds the state
        t0 = time.perf_counter()
        final = float(evaluate(self.model, self.val_ex))
        self.timing["eval"] += time.perf_counter() - t0
        names = self.data.names
        res = MixResult(domains=list(names), weights=self.weights, basis_weights=self.basis_rows,
                        basis_names=getattr(self.mixer, "basis_names", None), losses=self.losses, alignments=self.align_rows,
                        final_target_loss=final, min_target_loss=float(min(r[2] for r in self.losses)),
                        final_weights=dict(zip(names, np.asarray(self.mixer.weights(), dtype=np.float64).tolist())),
                        seconds=self.timing["train"], update_seconds=self.timing["update"],
                        eval_seconds=self.timing["eval"], stats=dict(self.data.stats),
                        mixer_state=self.mixer.state_dict())
        if self.keep_model:
            res.model = self.model
        return res

    def _train_step(self, step: int, rows: np.ndarray) -> float:
        """Forward/backward of one batch (gradients left in ``.grad``) plus the mixer's signal; the loss."""
        from datadiet.mix.grads import lm_part_loss

        kind = self.kind
        doms = self.domain_of_row[rows]
        if kind == "dga" and self.mixer.due(step):
            return self._dga_step(step, rows, doms)
        row_weight = None
        if kind == "doremi-proxy":
            alpha = np.asarray(self.mixer.weights(), dtype=np.float64)
            row_weight = alpha[doms]
        if kind in ("odm", "doremi-proxy"):
            return self._per_domain_step(step, rows, doms, row_weight)
        loss_sum, w_sum = lm_part_loss(self.model, self.train_ex, rows)(np.arange(rows.size))
        loss = loss_sum / w_sum.clamp_min(1.0)
        loss.backward()
        return float(loss.detach())

    def _per_domain_step(self, step, rows, doms, row_weight) -> float:
        """ODM (per-domain mean losses) and DoReMi's proxy (per-token excess loss), from one forward."""
        import torch

        from datadiet.lm.model import _masked_ce_terms
        from datadiet.lm.train import _batch

        idx = torch.from_numpy(rows).to(self.device)
        x, y, m = _batch(self.train_ex, idx)
        logits, _ = self.model(x)
        w, ce = _masked_ce_terms(logits, y, m)
        T = y.shape[1]
        rw = torch.ones(rows.size, device=w.device) if row_weight is None else \
            torch.as_tensor(row_weight, dtype=torch.float32, device=w.device)
        wr = w * rw.repeat_interleave(T)
        loss = (wr * ce).sum() / wr.sum().clamp_min(1e-12)
        loss.backward()
        t0 = time.perf_counter()
        names = self.data.names
        tok_dom = torch.as_tensor(doms, device=w.device).repeat_interleave(T)
        counted = w > 0
        ce = ce.detach()
        if self.kind == "odm":
            losses = {}
            for d in np.unique(doms):
                sel = counted & (tok_dom == int(d))
                if bool(sel.any()):
                    losses[names[int(d)]] = float(ce[sel].mean())
            self.mixer.observe(domain_losses=losses, step=step, batch_size=int(rows.size))
        else:
            with torch.no_grad():
                ref_logits, _ = self.reference(x)
                _, ref_ce = _masked_ce_terms(ref_logits, y, m)
            excess = ce - ref_ce
            self.mixer.observe(excess={names[int(d)]: excess[counted & (tok_dom == int(d))].cpu().numpy()
                                       for d in np.unique(doms)})
        self.timing["update"] += time.perf_counter() - t0
        return float(loss.detach())

    def _dga_step(self, step: int, rows: np.ndarray, doms: np.ndarray) -> float:
        """Split backward by unit, target gradient, absent units, one DGA update."""
        import torch

        from datadiet.mix.dga import adam_preconditioner, alignments, flat_grad
        from datadiet.mix.grads import group_rows, lm_part_loss, split_backward

        cfg = self.cfg
        units = self.unit_of_domain[doms]
        part = lm_part_loss(self.model, self.train_ex, rows)
        total_w = float(self.train_ex.mask[torch.from_numpy(rows).to(self.device)].sum())
        loss, grads, _ = split_backward(part, group_rows(units), self.params, total_weight=total_w)
        t0 = time.perf_counter()
        rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 2, step]))
        n_probe = len(self.probe_ex)
        pick = np.sort(rng.choice(n_probe, size=min(cfg.probe_size, n_probe), replace=False))
        gt = flat_grad(self.model, self._example_loss, self.probe_ex.subset(pick))
        measured = {self.unit_names[u]: g for u, g in grads.items()}
        absent = [u for u in range(len(self.unit_names)) if u not in grads]
        if cfg.absent == "probe" and absent:
            for u in absent:
                measured[self.unit_names[u]] = flat_grad(self.model, self._example_loss, self._unit_probe(u, rng))
        precond = adam_preconditioner(self.optimizer, self.params) if cfg.scaling == "adam" else None
        a = alignments(measured, gt, scaling=cfg.scaling, precond=precond)
        for name, v in a.items():
            if math.isfinite(v):
                self.carry[name] = v
        if cfg.absent == "carry":
            for u in absent:
                name = self.unit_names[u]
                if name in self.carry:
                    a[name] = self.carry[name]
        self.mixer.update(a, warn=False)
        self.align_rows.append([step] + [float(a.get(n, float("nan"))) for n in self.unit_names])
        self.timing["update"] += time.perf_counter() - t0
        return loss

    def _unit_probe(self, unit: int, rng: np.random.Generator):
        """``probe_size`` windows of one unit (a domain, or a basis group drawn by its distribution)."""
        names = self.data.names
        if getattr(self.mixer, "basis", None) is None:
            idx = self.data.domain_indices[names[unit]]
            pick = rng.choice(idx, size=min(self.cfg.probe_size, idx.size), replace=False)
        else:
            p = self.mixer.basis[:, unit]
            doms = rng.choice(len(names), size=self.cfg.probe_size, p=p / p.sum())
            pick = np.array([rng.choice(self.data.domain_indices[names[d]]) for d in doms])
        return self.train_ex.subset(np.sort(pick))

    @staticmethod
    def _example_loss(model, ex):
        import torch

        from datadiet.lm.train import _batch

        x, y, m = _batch(ex, torch.arange(len(ex), device=ex.tokens.device))
        return model(x, y, m)[1]


def _bar(enabled: bool, total: int, completed: int, label: str):
    import sys

    if not (enabled and sys.stderr.isatty()):
        return None
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    prog = Progress(TextColumn(f"mix {label}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                    TimeRemainingColumn(), console=Console(stderr=True), transient=True)
    prog.start()
    prog.add_task("train", total=total, completed=completed, info="")
    return prog


# -------------------------------------------------------------------------------------------- outputs
def write_outputs(result: MixResult, cfg: MixConfig) -> None:
    out = Path(result.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _csv(out / "weights.csv", ["step"] + result.domains, result.weights)
    if result.basis_weights:
        _csv(out / "basis_weights.csv", ["step"] + list(result.basis_names or []), result.basis_weights)
    if result.alignments:
        units = list(result.basis_names) if result.basis_names else result.domains
        _csv(out / "alignments.csv", ["step"] + units, result.alignments)
    with atomic_write(out / "losses.csv") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["step", "train_loss", "target_val_loss"])
        for s, tr, va in result.losses:
            w.writerow([int(s), "" if math.isnan(tr) else f"{tr:.6g}", f"{va:.6g}"])
    _plots(result, out)
    write_json({"mixer": cfg.mixer, "final_target_loss": result.final_target_loss,
                "min_target_loss": result.min_target_loss, "final_weights": result.final_weights,
                "average_weights": result.average_weights,
                "seconds": round(result.seconds, 4), "update_seconds": round(result.update_seconds, 4),
                "eval_seconds": round(result.eval_seconds, 4), "reference_seconds": round(result.reference_seconds, 4),
                "data": result.stats, "config": asdict(cfg)}, out / "summary.json")


def _csv(path: Path, header: list[str], rows: list[list[float]]) -> None:
    with atomic_write(path) as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        for row in rows:
            w.writerow([int(row[0])] + [f"{x:.8g}" for x in row[1:]])


def _plots(result: MixResult, out: Path) -> None:
    from ..figures import pyplot

    plt = pyplot()  # Figure-based: the caller's matplotlib backend is left alone
    use_basis = bool(result.basis_weights)
    W = np.asarray(result.basis_weights if use_basis else result.weights, dtype=np.float64)
    labels = list(result.basis_names or []) if use_basis else result.domains
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.stackplot(W[:, 0], W[:, 1:].T, labels=labels)
    ax.set_xlabel("step")
    ax.set_ylabel("basis weight w" if use_basis else "α (domain weight)")
    ax.set_ylim(0, 1)
    ax.set_xlim(W[0, 0], max(W[-1, 0], W[0, 0] + 1))
    if len(labels) <= 20:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
    ax.set_title(f"{'basis' if use_basis else 'domain'} weights ({len(labels)} {'columns' if use_basis else 'domains'})")
    fig.tight_layout()
    with atomic_path(out / "alpha.png") as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)

    L = np.asarray(result.losses, dtype=np.float64)
    fig, ax = plt.subplots(figsize=(6, 4))
    ok = ~np.isnan(L[:, 1])
    ax.plot(L[ok, 0], L[ok, 1], label="train loss")
    ax.plot(L[:, 0], L[:, 2], label="target validation loss (subsample)")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy (nats/token)")
    ax.legend()
    fig.tight_layout()
    with atomic_path(out / "loss.png") as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)

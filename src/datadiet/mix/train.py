"""The mix-training driver: train the `datadiet.lm` GPT on several domains with a mixer choosing α online.

``train_mix(domains, target_texts, mixer="dga", ...)`` encodes every domain's texts (byte tokenizer),
builds a `DomainSampler` driven by the mixer and runs `datadiet.lm.train`. Every ``update_every``
steps the callback feeds the mixer:

* ``dga``: `compute_alignment` on one probe batch per domain and one target probe batch, then `DGA.update`;
* ``odm``: per-domain mean loss of the current model on the probe batches (no gradient) as
  ``domain_losses``. Simplification: the paper (Albalak et al. 2023) uses the losses of the
  training batch at every step; we measure them on the probe batches at update steps;
* ``doremi``: the same per-domain losses and those of a reference model on the same batches. The
  reference is the same GPT trained first on the uniform mixture for ``reference_steps`` (default
  ``steps``); its cost is reported separately (``reference_seconds``), not in ``seconds``;
* ``is``: static `ImportanceSampling` weights from hashing embeddings of the domains and the target probe set;
* ``uniform`` / ``natural`` (size-proportional, by number of texts): static.

The target texts are split (seeded) into a probe half (gradients/target batches) and a held-out
validation half (the reported target loss); a single target text serves as both.

Outputs in ``out_dir`` (all written atomically): ``weights.csv`` (``step`` + one column per domain;
α after the update at that step, row 0 = initial α), ``losses.csv`` (``step,train_loss,target_val_loss``;
train_loss = mean training-batch loss since the previous row, empty at step 0), ``alpha.png``
(stacked area of α over steps), ``loss.png`` and ``summary.json``.
"""

from __future__ import annotations

import csv
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from datadiet.errors import InputError
from datadiet.io import check_texts, write_json
from datadiet.paths import atomic_path, atomic_write

log = logging.getLogger(__name__)

MIXERS = ("dga", "uniform", "natural", "odm", "doremi", "is")


@dataclass(frozen=True)
class MixConfig:
    """Settings of one mix-training run (small model and quick settings by default)."""

    mixer: str = "dga"
    steps: int = 200
    update_every: int = 10
    eta: float = 1.0
    ema: float = 0.1
    scaling: str = "raw"
    seed: int = 0
    batch_size: int = 16
    probe_size: int = 8
    lr: float = 3e-3
    warmup: int = 10
    context: int = 64
    n_layer: int = 2
    n_head: int = 2
    n_embd: int = 64
    reference_steps: int | None = None
    device: str = "auto"

    def __post_init__(self):
        if self.mixer not in MIXERS:
            raise InputError(f"unknown mixer {self.mixer!r}; choose one of: {', '.join(MIXERS)}")
        for name, low in (("steps", 1), ("update_every", 1), ("batch_size", 1), ("probe_size", 1),
                          ("context", 2), ("n_layer", 1), ("n_head", 1), ("n_embd", 1), ("seed", 0), ("warmup", 0)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise InputError(f"{name.replace('_', '-')} must be an int >= {low}, got {v!r}")
        if not (isinstance(self.eta, (int, float)) and math.isfinite(self.eta) and self.eta >= 0):
            raise InputError(f"eta must be a finite number >= 0, got {self.eta!r}")
        if not (isinstance(self.ema, (int, float)) and 0 < self.ema <= 1):
            raise InputError(f"ema (beta) must be in (0, 1], got {self.ema!r}")
        if self.reference_steps is not None and (not isinstance(self.reference_steps, int) or self.reference_steps < 1):
            raise InputError(f"reference_steps must be an int >= 1, got {self.reference_steps!r}")


@dataclass
class MixResult:
    domains: list[str]
    weights: list[list[float]] = field(default_factory=list)  # one row per record: [step, α...]
    losses: list[list[float]] = field(default_factory=list)  # [step, train_loss, target_val_loss]
    final_target_loss: float = float("nan")
    final_weights: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    update_seconds: float = 0.0
    reference_seconds: float = 0.0
    out_dir: Path | None = None


def _split_target(texts: list[str], seed: int) -> tuple[list[str], list[str]]:
    if len(texts) == 1:
        return texts, texts
    perm = np.random.default_rng([seed, 7]).permutation(len(texts))
    n_val = max(1, len(texts) // 2)
    return [texts[i] for i in sorted(perm[n_val:])], [texts[i] for i in sorted(perm[:n_val])]


def _make_mixer(cfg: MixConfig, names: list[str], domains: Mapping[str, list[str]], probe_target: list[str]):
    from datadiet.mix import DGA, ODM, DoReMi, ImportanceSampling, Natural, Uniform

    if cfg.mixer == "dga":
        return DGA(names, eta=float(cfg.eta), ema=float(cfg.ema), update_every=cfg.update_every, scaling=cfg.scaling)
    if cfg.mixer == "uniform":
        return Uniform(names)
    if cfg.mixer == "natural":
        return Natural({n: len(domains[n]) for n in names})
    if cfg.mixer == "odm":
        return ODM(names)
    if cfg.mixer == "doremi":
        return DoReMi(names, eta=float(cfg.eta))
    from datadiet.embed import get_embedder
    from datadiet.embed.base import embed_cached

    emb = get_embedder("hashing")
    return ImportanceSampling.from_embeddings({n: embed_cached(emb, domains[n]) for n in names},
                                              embed_cached(emb, probe_target))


def train_mix(domains: Mapping[str, Sequence[str]], target_texts: Sequence[str], *, mixer: str = "dga",
              steps: int = 200, update_every: int = 10, eta: float = 1.0, ema: float = 0.1,
              out_dir: str | Path | None = None, seed: int = 0, progress: bool = False,
              on_step: Callable[[int, int], Any] | None = None, **options: Any) -> MixResult:
    """Train the testbed GPT on ``domains`` (name -> texts) with ``mixer`` choosing α; see the module doc.

    ``options`` are the other `MixConfig` fields (batch_size, probe_size, lr, context, n_layer, n_head,
    n_embd, scaling, reference_steps, device, warmup). ``on_step(step, steps)`` is called after every
    update (for progress bars). With ``out_dir`` the CSVs, PNGs and summary.json are written there.
    """
    import torch

    from datadiet.lm import GPT, ByteTokenizer, Examples, GPTConfig, TrainConfig, encode_texts, evaluate, train
    from datadiet.lm.train import _batch
    from datadiet.mix import compute_alignment
    from datadiet.mix.sampler import DomainSampler

    try:
        cfg = MixConfig(mixer=mixer, steps=steps, update_every=update_every, eta=eta, ema=ema, seed=seed, **options)
    except TypeError as exc:
        raise InputError(f"train_mix: {exc}") from None
    if cfg.scaling == "adam":
        raise InputError("scaling 'adam' needs the optimizer's state, which the mix driver does not expose; use raw or normalized")
    if not domains:
        raise InputError("no domains given")
    names = [str(n) for n in domains]
    doms = {n: check_texts(domains[n]) for n in names}
    for n, t in doms.items():
        if not t:
            raise InputError(f"domain {n!r} is empty; every domain needs at least one text")
    target = check_texts(target_texts)
    if not target:
        raise InputError("the target holds no texts")
    probe_target, val_target = _split_target(target, cfg.seed)

    tok = ByteTokenizer()
    parts = [encode_texts(tok, doms[n], cfg.context) for n in names]
    train_ex = Examples.concat(parts)
    offsets = np.cumsum([0] + [len(p) for p in parts])
    domain_indices = {n: np.arange(offsets[i], offsets[i + 1]) for i, n in enumerate(names)}
    val_ex = encode_texts(tok, val_target, cfg.context)
    probe_ex = encode_texts(tok, probe_target, cfg.context)
    gcfg = GPTConfig(tok.vocab_size, context=cfg.context, n_layer=cfg.n_layer, n_head=cfg.n_head, n_embd=cfg.n_embd)
    tcfg = TrainConfig(steps=cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr, warmup=min(cfg.warmup, cfg.steps),
                       eval_every=cfg.update_every, seed=cfg.seed, device=cfg.device)

    def loss_fn(model, ex):
        dev = next(model.parameters()).device
        x, y, m = (t.to(dev) for t in _batch(ex, torch.arange(len(ex))))
        return model(x, y, m)[1]

    rng = np.random.default_rng([cfg.seed, 1])

    def probes() -> tuple[dict[str, Any], Any]:
        batches = {}
        for n in names:
            idx = domain_indices[n]
            pick = rng.choice(idx, size=min(cfg.probe_size, idx.size), replace=False)
            batches[n] = train_ex.subset(np.sort(pick))
        t = rng.choice(len(probe_ex), size=min(cfg.probe_size, len(probe_ex)), replace=False)
        return batches, probe_ex.subset(np.sort(t))

    reference, ref_seconds = None, 0.0
    if cfg.mixer == "doremi":
        from datadiet.mix import Uniform

        t0 = time.perf_counter()
        torch.manual_seed(cfg.seed)
        reference = GPT(gcfg)
        rcfg = TrainConfig(**{**asdict(tcfg), "steps": cfg.reference_steps or cfg.steps, "eval_every": 0})
        rcfg = TrainConfig(**{**asdict(rcfg), "warmup": min(rcfg.warmup, rcfg.steps)})
        train(reference, train_ex, val_ex, rcfg, progress=progress,
              sampler=DomainSampler(domain_indices, Uniform(names), cfg.batch_size, seed=cfg.seed + 1))
        reference.eval()
        ref_seconds = time.perf_counter() - t0

    mix = _make_mixer(cfg, names, doms, probe_target)
    sampler = DomainSampler(domain_indices, mix, cfg.batch_size, seed=cfg.seed)
    torch.manual_seed(cfg.seed)
    model = GPT(gcfg)
    result = MixResult(domains=names, reference_seconds=ref_seconds)
    pending: list[float] = []
    update_time = [0.0]

    @torch.no_grad()
    def domain_losses(m, batches) -> dict[str, float]:
        was = m.training
        m.eval()
        try:
            return {n: float(evaluate(m, b)) for n, b in batches.items()}
        finally:
            m.train(was)

    def callback(step: int, info: dict) -> None:
        pending.append(float(info["train_loss"]))
        if step % cfg.update_every == 0 and cfg.mixer in ("dga", "odm", "doremi"):
            t0 = time.perf_counter()
            batches, tgt = probes()
            model_ = info["model"]
            if cfg.mixer == "dga":
                a = compute_alignment(model_, loss_fn, batches, tgt, scaling=cfg.scaling,
                                      optimizer=None)
                mix.update(a)
            elif cfg.mixer == "odm":
                mix.observe(domain_losses=domain_losses(model_, batches))
            else:
                mix.observe(domain_losses=domain_losses(model_, batches),
                            reference_losses=domain_losses(reference, batches))
            update_time[0] += time.perf_counter() - t0
        if "val_loss" in info:
            w = np.asarray(mix.weights(), dtype=np.float64)
            result.weights.append([step] + w.tolist())
            result.losses.append([step, float(np.mean(pending)) if pending else float("nan"), float(info["val_loss"])])
            pending.clear()
        if on_step is not None:
            on_step(step, cfg.steps)

    result.weights.append([0] + np.asarray(mix.weights(), dtype=np.float64).tolist())
    t0 = time.perf_counter()
    res = train(model, train_ex, val_ex, tcfg, sampler=sampler, progress=progress, callback=callback)
    result.seconds = time.perf_counter() - t0
    result.update_seconds = update_time[0]
    result.losses.insert(0, [0, float("nan"), float(res.history[0]["val_loss"])])
    result.final_target_loss = float(res.final_val_loss)
    result.final_weights = dict(zip(names, np.asarray(mix.weights(), dtype=np.float64).tolist()))
    if out_dir is not None:
        result.out_dir = Path(out_dir)
        write_outputs(result, cfg, n_target=len(target), n_val=len(val_target), sizes={n: len(doms[n]) for n in names})
    return result


def write_outputs(result: MixResult, cfg: MixConfig, *, n_target: int, n_val: int, sizes: Mapping[str, int]) -> None:
    out = Path(result.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_write(out / "weights.csv") as fh:
        w = csv.writer(fh)
        w.writerow(["step"] + result.domains)
        for row in result.weights:
            w.writerow([int(row[0])] + [f"{x:.8g}" for x in row[1:]])
    with atomic_write(out / "losses.csv") as fh:
        w = csv.writer(fh)
        w.writerow(["step", "train_loss", "target_val_loss"])
        for s, tr, va in result.losses:
            w.writerow([int(s), "" if math.isnan(tr) else f"{tr:.6g}", f"{va:.6g}"])
    _plots(result, out)
    write_json({"mixer": cfg.mixer, "final_target_loss": result.final_target_loss,
                "final_weights": result.final_weights, "seconds": round(result.seconds, 4),
                "update_seconds": round(result.update_seconds, 4),
                "reference_seconds": round(result.reference_seconds, 4),
                "domains": {n: {"texts": int(sizes[n])} for n in result.domains},
                "target_texts": n_target, "target_val_texts": n_val, "config": asdict(cfg)},
               out / "summary.json")


def _plots(result: MixResult, out: Path) -> None:
    from ..figures import pyplot

    plt = pyplot()  # Figure-based: the caller's matplotlib backend is left alone

    W = np.asarray(result.weights, dtype=np.float64)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.stackplot(W[:, 0], W[:, 1:].T, labels=result.domains)
    ax.set_xlabel("step")
    ax.set_ylabel("α (domain weight)")
    ax.set_ylim(0, 1)
    ax.set_xlim(W[0, 0], max(W[-1, 0], W[0, 0] + 1))
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
    ax.set_title(f"domain weights ({len(result.domains)} domains)")
    fig.tight_layout()
    with atomic_path(out / "alpha.png") as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)

    L = np.asarray(result.losses, dtype=np.float64)
    fig, ax = plt.subplots(figsize=(6, 4))
    ok = ~np.isnan(L[:, 1])
    ax.plot(L[ok, 0], L[ok, 1], label="train loss")
    ax.plot(L[:, 0], L[:, 2], label="target validation loss")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy (nats/token)")
    ax.legend()
    fig.tight_layout()
    with atomic_path(out / "loss.png") as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)

"""A cached base model: a `transformers` GPT-2 pretrained on the built-in corpus's generic domains.

``pretrain(PretrainConfig())`` trains a byte-level BPE (HF `tokenizers`) on the generic domains (every
built domain except the instruction data that fine-tuning uses, ``sharegpt``), packs whole documents
(each followed by ``<|eos|>``) into windows of ``context + 1`` tokens with `pack_documents` (nothing is
truncated; the tail that fills no window is counted as dropped), holds out a seeded ``val_fraction``
of each domain's documents, and trains `HFGPT` with AdamW and a cosine schedule. The result is cached
under ``cache_dir("lm", "base", "gpt2-<key>")``, ``key`` = sha256 of the config and of the corpus
manifest entries it reads, so a changed setting or corpus gives a new model and the same ones give the
cached one. The folder holds ``model/`` (``save_pretrained``: loadable by
``AutoModelForCausalLM.from_pretrained`` and ``AutoTokenizer.from_pretrained``) and ``pretrain.json``
(config, token counts, validation loss and perplexity next to a unigram model's, timing, the weights'
sha256). A killed run resumes from ``work/checkpoint.pt`` (every ``checkpoint_every`` steps).

The unigram baseline: add-one-smoothed token frequencies of the training windows, scored on the same
validation targets: ``-mean log p(y)``. The model "clearly beats" it when its validation loss is at
least ``1 nat`` lower (the check `pretrain.json` records as ``beats_unigram``).

Rerun: ``datadiet lm pretrain`` (``--quick``: a seconds-long model on two small domains).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import shutil
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np

from datadiet.errors import InputError
from datadiet.paths import atomic_write, cache_dir

log = logging.getLogger(__name__)

FORMAT = 1
EXCLUDED_DOMAINS = ("sharegpt",)  # the fine-tuning data: never in the base model's pretraining
CLEAR_MARGIN_NATS = 1.0


@dataclass(frozen=True)
class PretrainConfig:
    """The base model and its pretraining run. Defaults: sized for <= 15 min on 2 CPU cores and for the
    fine-tuning experiment's 30 min (see docs/uniformity.md, "The base model's size")."""

    vocab_size: int = 2048
    context: int = 128
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    steps: int = 2500
    batch_size: int = 16
    lr: float = 3e-3
    min_lr_ratio: float = 0.1
    warmup: int = 50
    weight_decay: float = 0.1
    eval_every: int = 250
    checkpoint_every: int = 100
    seed: int = 0
    val_fraction: float = 0.01  # of each domain's documents, held out before anything is trained
    max_val_windows: int = 256
    tokenizer_bytes: int = 8_000_000  # BPE trained on the first documents of each domain, this many bytes in all
    domains: tuple[str, ...] | None = None  # None: every built domain except EXCLUDED_DOMAINS
    corpus_cap_bytes: int | None = None  # None: the built corpus (`datadiet corpus build`); N: build `domains` capped at N bytes
    # torch CPU threads (None: torch's default, every core): on a quiet 2-core machine 2 threads are 1.4-1.5x
    # faster than 1 (benchmarks/pretrain_sizes.py); 1 suits a machine shared with other jobs
    threads: int | None = None
    device: str = "auto"

    def __post_init__(self):
        for name in ("vocab_size", "context", "n_layer", "n_head", "n_embd", "steps", "batch_size",
                     "max_val_windows", "tokenizer_bytes"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InputError(f"PretrainConfig.{name} must be a positive int, got {v!r}")
        if not (0.0 < self.val_fraction < 0.5):
            raise InputError(f"PretrainConfig.val_fraction must be in (0, 0.5), got {self.val_fraction!r}")
        if self.domains is not None:
            object.__setattr__(self, "domains", tuple(self.domains))
            bad = [d for d in self.domains if d in EXCLUDED_DOMAINS]
            if bad:
                raise InputError(f"domain {bad[0]!r} is the fine-tuning data and cannot be pretrained on")
            if not self.domains:
                raise InputError("PretrainConfig.domains is empty; give None (all generic domains) or names")


#: seconds-long, for tests and ``--quick``: two small domains built on the fly
QUICK = PretrainConfig(vocab_size=512, context=32, n_layer=1, n_head=2, n_embd=32, steps=40, batch_size=8,
                       warmup=5, eval_every=20, checkpoint_every=20, max_val_windows=64, tokenizer_bytes=100_000,
                       domains=("news", "quotations"), corpus_cap_bytes=60_000, threads=1)


@dataclass
class BaseModel:
    """A pretrained base model on disk: ``folder/model`` (HF format) and its ``info`` (pretrain.json)."""

    folder: Path
    info: dict

    @property
    def model_dir(self) -> Path:
        return self.folder / "model"

    @property
    def sha256(self) -> str:
        return self.info["weights_sha256"]

    def load(self):
        """(`HFGPT`, datadiet `Tokenizer`) of this base model."""
        from datadiet.lm.hf import load_pretrained
        from datadiet.lm.tokenizer import load_tokenizer

        return load_pretrained(self.model_dir), load_tokenizer(self.model_dir / "datadiet_tokenizer.json")


def _corpus_dir(config: PretrainConfig) -> Path:
    if config.corpus_cap_bytes is None:
        return cache_dir("corpus")
    from datadiet.corpus import build_corpus, read_manifest

    folder = cache_dir("lm", "corpus", f"cap{config.corpus_cap_bytes}-" + "-".join(config.domains or ("all",)))
    try:
        built = {d["domain"] for d in read_manifest(folder)["domains"]}
    except InputError:
        built = set()
    if not set(config.domains or ()) <= built or not built:
        build_corpus(folder, domains=list(config.domains) if config.domains else None,
                     cap_bytes=config.corpus_cap_bytes)
    return folder


def _entries(config: PretrainConfig, corpus: Path) -> list[dict]:
    from datadiet.corpus import read_manifest

    manifest = read_manifest(corpus)
    built = {d["domain"]: d for d in manifest.get("domains", [])}
    names = list(config.domains) if config.domains else [d for d in built if d not in EXCLUDED_DOMAINS]
    missing = [d for d in names if d not in built]
    if missing:
        raise InputError(f"corpus domain {missing[0]!r} is not built in {corpus}: run `datadiet corpus build`")
    if not names:
        raise InputError(f"no generic domain is built in {corpus}: run `datadiet corpus build`")
    return [built[d] for d in names]


def cache_key(config: PretrainConfig, entries: list[dict]) -> str:
    """16 hex digits of sha256 over the config (device excluded) and the corpus files it reads."""
    cfg = {k: v for k, v in asdict(config).items() if k != "device"}
    data = [{"domain": e["domain"], "sha256": e.get("sha256"), "bytes": e.get("bytes")} for e in entries]
    blob = json.dumps({"format": FORMAT, "config": cfg, "corpus": data}, sort_keys=True, default=list)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def base_folder(config: PretrainConfig) -> Path:
    """Where `pretrain(config)` caches its model (the corpus is read for its manifest, not trained on)."""
    corpus = _corpus_dir(config)
    return cache_dir("lm", "base") / f"gpt2-{cache_key(config, _entries(config, corpus))}"


def find_base(config: PretrainConfig) -> BaseModel | None:
    """The cached base model of `config`, or None if it was not pretrained yet."""
    folder = base_folder(config)
    info = folder / "pretrain.json"
    if not info.exists() or not (folder / "model").is_dir():
        return None
    return BaseModel(folder, json.loads(info.read_text(encoding="utf-8")))


def _split(docs: list[str], fraction: float, seed: int, index: int) -> tuple[list[str], list[str]]:
    """(train, val): a seeded `fraction` of the documents (at least one when there are two) held out."""
    n = len(docs)
    n_val = min(max(1, int(round(fraction * n))), n - 1) if n > 1 else 0
    perm = np.random.default_rng(np.random.SeedSequence([seed, 17, index])).permutation(n)
    val_idx = set(perm[:n_val].tolist())
    return [d for i, d in enumerate(docs) if i not in val_idx], [docs[i] for i in sorted(val_idx)]


def unigram_loss(train_tokens: np.ndarray, val_targets: np.ndarray, vocab_size: int) -> float:
    """Cross-entropy (nats) on `val_targets` of add-one-smoothed unigram frequencies of `train_tokens`."""
    counts = np.bincount(np.asarray(train_tokens, dtype=np.int64).reshape(-1), minlength=vocab_size).astype(np.float64)
    logp = np.log(counts + 1.0) - math.log(counts.sum() + vocab_size)
    return float(-logp[np.asarray(val_targets, dtype=np.int64)].mean())


def pretrain(config: PretrainConfig = PretrainConfig(), *, force: bool = False, progress: bool = True,
             on_step: Callable[[int, int], None] | None = None, stop_after: int | None = None) -> BaseModel | None:
    """Pretrain (or resume, or load from the cache) the base model of `config`; see the module docstring.

    `on_step(step, steps)` is called after every update (progress bars); `force` retrains even when cached.
    `stop_after` stops after that many steps, as if killed (the checkpoint is kept; returns None).
    """
    if not isinstance(config, PretrainConfig):
        raise InputError(f"pretrain needs a PretrainConfig, got {type(config).__name__}")
    from datadiet.lm.train import torch_threads

    with torch_threads(config.threads):
        return _pretrain(config, force=force, progress=progress, on_step=on_step, stop_after=stop_after)


def _pretrain(config: PretrainConfig, *, force: bool, progress: bool, on_step, stop_after) -> BaseModel | None:
    import torch

    from datadiet.corpus import load_domain
    from datadiet.lm.data import Examples, pack_documents
    from datadiet.lm.hf import HFGPT, save_pretrained, weights_sha256
    from datadiet.lm.model import GPTConfig
    from datadiet.lm.tokenizer import load_tokenizer, train_tokenizer
    from datadiet.lm.train import TrainConfig, evaluate_metrics, train

    corpus = _corpus_dir(config)
    entries = _entries(config, corpus)
    folder = cache_dir("lm", "base") / f"gpt2-{cache_key(config, entries)}"
    if not force:
        cached = find_base(config)
        if cached is not None:
            log.info("base model cached at %s", folder)
            return cached
    work = folder / "work"
    if force and folder.exists():
        shutil.rmtree(folder)
    work.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()

    # documents, split per domain before anything is fitted
    train_docs, val_docs, per_domain = [], [], {}
    for i, e in enumerate(entries):
        docs = [r["text"] for r in load_domain(e["domain"], corpus)]
        tr, va = _split(docs, config.val_fraction, config.seed, i)
        train_docs += tr
        val_docs += va
        per_domain[e["domain"]] = {"documents": len(docs), "val_documents": len(va),
                                   "bytes": int(e.get("bytes") or 0)}
    # tokenizer: trained on the first training documents of each domain (the corpus files are shuffled)
    tok_path = work / "tokenizer.json"
    if tok_path.exists():
        tok = load_tokenizer(tok_path)
    else:
        share = config.tokenizer_bytes // max(1, len(entries))
        sample, start = [], 0
        for i, e in enumerate(entries):
            n_dom = per_domain[e["domain"]]["documents"] - per_domain[e["domain"]]["val_documents"]
            used = 0
            for d in train_docs[start : start + n_dom]:
                if used >= share:
                    break
                sample.append(d)
                used += len(d.encode("utf-8"))
            start += n_dom
        tok = train_tokenizer(sample, vocab_size=config.vocab_size)
        tok.save(tok_path)
    t_tok = time.perf_counter() - t_start

    train_w, train_stats = pack_documents(tok.encode_batch(train_docs), config.context, drop_last=True,
                                          eos_id=tok.eos_id, pad_id=tok.pad_id)
    val_w, val_stats = pack_documents(tok.encode_batch(val_docs), config.context, drop_last=True,
                                      eos_id=tok.eos_id, pad_id=tok.pad_id)
    if len(train_w) == 0 or len(val_w) == 0:
        raise InputError(f"the corpus in {corpus} is too small for context {config.context}: "
                         f"{train_stats['tokens']} training and {val_stats['tokens']} validation tokens")
    if len(val_w) > config.max_val_windows:  # evenly spaced windows: every domain keeps its share
        keep = np.linspace(0, len(val_w) - 1, config.max_val_windows).round().astype(np.int64)
        val_stats = {**val_stats, "windows_scored": int(keep.size)}
        val_w = val_w[np.unique(keep)]
    else:
        val_stats = {**val_stats, "windows_scored": int(len(val_w))}
    ones = lambda w: torch.ones((w.shape[0], config.context), dtype=torch.float32)  # noqa: E731
    train_ex = Examples(torch.from_numpy(train_w), ones(train_w))
    val_ex = Examples(torch.from_numpy(val_w), ones(val_w))

    gcfg = GPTConfig(tok.vocab_size, context=config.context, n_layer=config.n_layer, n_head=config.n_head,
                     n_embd=config.n_embd)
    torch.manual_seed(config.seed)
    model = HFGPT(gcfg, eos_id=tok.eos_id, pad_id=tok.pad_id)
    tcfg = TrainConfig(steps=config.steps, batch_size=config.batch_size, lr=config.lr,
                       min_lr_ratio=config.min_lr_ratio, warmup=min(config.warmup, config.steps),
                       weight_decay=config.weight_decay, eval_every=config.eval_every, seed=config.seed,
                       device=config.device, checkpoint_every=config.checkpoint_every)
    callback = (lambda s, info: on_step(s, config.steps)) if on_step is not None else None
    res = train(model, train_ex, val_ex, tcfg, checkpoint_dir=work, progress=progress, callback=callback,
                stop_after=stop_after)
    if res.steps < config.steps:
        if config.checkpoint_every and res.steps % config.checkpoint_every:
            log.warning("stopped at step %d; the checkpoint holds step %d", res.steps,
                        res.steps - res.steps % config.checkpoint_every)
        return None
    final = evaluate_metrics(model, val_ex)
    uni = unigram_loss(train_w[:, 1:], val_w[:, 1:], tok.vocab_size)
    model.to("cpu")
    save_pretrained(model, work / "model", tok)
    tokens_trained = config.steps * config.batch_size * config.context
    info = {
        "format": FORMAT,
        "config": asdict(config),
        "key": folder.name,
        "corpus": {"dir": str(corpus), "domains": per_domain,
                   "manifest": [{"domain": e["domain"], "sha256": e.get("sha256")} for e in entries]},
        "n_parameters": model.num_parameters(),
        "vocab_size": tok.vocab_size,
        "train_tokens": train_stats,
        "val_tokens": val_stats,
        "tokens_trained": tokens_trained,
        "epochs": tokens_trained / max(1, train_stats["targets"]),
        "val_loss": final["loss"],
        "val_perplexity": math.exp(final["loss"]),
        "val_accuracy": final["accuracy"],
        "unigram_val_loss": uni,
        "unigram_val_perplexity": math.exp(uni),
        "beats_unigram": bool(final["loss"] <= uni - CLEAR_MARGIN_NATS),
        "history": res.history,
        "train_seconds": res.seconds,
        "tokenizer_seconds": round(t_tok, 2),
        "seconds": round(time.perf_counter() - t_start, 2),
        "torch_threads": torch.get_num_threads(),
        "weights_sha256": weights_sha256(work / "model"),
    }
    if (folder / "model").exists():
        shutil.rmtree(folder / "model")
    (work / "model").rename(folder / "model")
    with atomic_write(folder / "pretrain.json") as fh:
        json.dump(info, fh, indent=2)
        fh.write("\n")
    shutil.rmtree(work, ignore_errors=True)
    log.info("pretrained %s: val loss %.3f (unigram %.3f) in %.0f s", folder, final["loss"], uni, info["seconds"])
    return BaseModel(folder, info)


def quick_config(**changes) -> PretrainConfig:
    """`QUICK` with some fields changed."""
    return replace(QUICK, **changes)

"""uniformity-lm-scratch: the from-scratch control of uniformity-lm (NOT the paper's regime).

Kept as the labelled second row of the uniformity results: a ~1M-parameter GPT trained *from random
weights* for 450 steps, where the paper fine-tunes a pretrained LLaMA; its verdict says nothing about
the paper's claim (`uniformity-lm` is the paper's regime: fine-tuning a pretrained base model).
Rows keep only their first ``context + 1`` tokens (the prompt its last ``context // 2``), as before.

Wang, Gu, Shi et al., "Data Uniformity Improves Training Efficiency" (arXiv 2506.24120) fine-tuned
LLaMA-1 on WizardLM / TeaMs-RL instructions and found that the max-min (uniform) half reaches a
target loss sooner than a random half and ends close to the full set. Here, CPU-sized: the ShareGPT V3
pairs of the built-in data (first human turn -> first reply), a fixed held-out validation set, and
three training sets from the rest, F (all), U (greedy max-min half, `datadiet select`) and R (a random
half). The same small GPT is trained from scratch on each, same steps, LR and batch order seed; the
loss is on the response tokens.

Rerun: ``datadiet reproduce uniformity-lm-scratch --seeds 3 --out results/uniformity-lm-scratch``
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .base import Verdict, pyplot, summarize

logger = logging.getLogger(__name__)

NAME = "uniformity-lm-scratch"
CLAIM = (
    "From scratch (not the paper's regime): a uniform (max-min) half of the instruction data reaches the loss "
    "a random half ends at in fewer steps, and ends comparable to the full set (control for arXiv 2506.24120)."
)
PAPER_RESULT = "Not the paper's regime (a control): the paper fine-tunes LLaMA-1 7B/13B, where the uniform 10k of WizardLM reaches the target loss about 30% sooner than a random 10k"
KEY_METRICS = ['fraction_of_steps_saved', 'steps_to_target_uniform', 'steps_to_target_random', 'relative_gap_uniform_vs_full']
BUDGET_SECONDS = 917  # measured in `datadiet reproduce all` on 2026-12-02 (2 cores, quiet machine)
CONDITIONS = ("full", "uniform", "random")


@dataclass(frozen=True)
class Config:
    """Defaults: a CPU-sized version of the paper's setting (the paper fine-tuned LLaMA-1 7B/13B, AdamW lr 2e-5)."""

    embedder: str = "static"  # the select default; the paper used word2vec
    max_records: int | None = None  # None: all 11,128 ShareGPT pairs
    val_size: int = 256  # fixed held-out pairs, the same for every seed and condition
    vocab_size: int = 2048  # the output head dominates the step time on CPU
    context: int = 128
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    steps: int = 450
    batch_size: int = 16
    lr: float = 3e-3
    warmup: int = 30
    eval_every: int = 50
    comparable_tolerance: float = 0.02  # "comparable": |loss(U) - loss(F)| <= 2% of loss(F)


QUICK = Config(max_records=400, val_size=60, vocab_size=512, context=48, n_layer=1, n_head=2, n_embd=32,
               steps=40, batch_size=8, warmup=5, eval_every=10)

_SPLIT_SEED = 20250630  # the validation split does not move with the seed


def _prepare(config: Config):
    """Records, fixed split, embeddings of the training pool, tokenizer and encoded examples (shared by seeds)."""
    from ..corpus.sharegpt import load_instructions
    from ..embed import embed_cached, get_embedder
    from ..lm import encode_instructions, train_tokenizer
    from ..select.pipeline import BUILTIN_TEMPLATE

    records = load_instructions()
    if config.max_records is not None:
        records = records[: config.max_records]
    order = np.random.default_rng(_SPLIT_SEED).permutation(len(records))
    val_idx, pool_idx = np.sort(order[: config.val_size]), np.sort(order[config.val_size :])
    pool = [records[i] for i in pool_idx]
    val = [records[i] for i in val_idx]
    X = embed_cached(get_embedder(config.embedder), [BUILTIN_TEMPLATE.format_map(r) for r in pool])
    tok = train_tokenizer([BUILTIN_TEMPLATE.format_map(r) for r in pool], vocab_size=config.vocab_size)
    # the prompt keeps its last context/2 tokens, so every row trains on some response
    train_ex = encode_instructions(tok, pool, config.context, max_prompt_tokens=config.context // 2)
    val_ex = encode_instructions(tok, val, config.context, max_prompt_tokens=config.context // 2)
    return X, tok, train_ex, val_ex


_CACHE: dict = {}


def run(config: Config, seed: int) -> dict:
    """One seed: select U and R (seeded), train F, U, R from the same seeded init; return the curves."""
    import torch

    from ..lm import GPT, GPTConfig, TrainConfig, train
    from ..select import maxmin, metrics, random_subset

    key = (config.embedder, config.max_records, config.val_size, config.vocab_size, config.context)
    if key not in _CACHE:
        _CACHE.clear()
        _CACHE[key] = _prepare(config)
    X, tok, train_ex, val_ex = _CACHE[key]
    n = X.shape[0]
    k = n // 2
    t0 = time.perf_counter()
    uniform = np.sort(maxmin(X, k, seed=seed).indices)  # sorted: the sampler, not the order, decides batches
    random = np.sort(random_subset(n, k, seed=seed))
    t_select = time.perf_counter() - t0
    sets = {"full": np.arange(n), "uniform": uniform, "random": random}

    out = {"n_pool": n, "k": k, "n_val": len(val_ex), "select_seconds": round(t_select, 2), "curves": {}}
    for cond in ("uniform", "random"):
        out[f"h_min_{cond}"] = metrics.h_min(X, sets[cond])
        out[f"covering_radius_{cond}"] = metrics.covering_radius(X, sets[cond])
    for cond in CONDITIONS:
        torch.manual_seed(seed)  # the same initial weights for every condition of this seed
        model = GPT(GPTConfig(vocab_size=tok.vocab_size, context=config.context, n_layer=config.n_layer,
                              n_head=config.n_head, n_embd=config.n_embd))
        tcfg = TrainConfig(steps=config.steps, batch_size=config.batch_size, lr=config.lr, warmup=config.warmup,
                           eval_every=config.eval_every, seed=seed)
        res = train(model, train_ex.subset(sets[cond]), val_ex, tcfg, progress=False)
        out["curves"][cond] = [[h["step"], h["val_loss"]] for h in res.history]
        out[f"final_val_loss_{cond}"] = res.final_val_loss
        out[f"train_seconds_{cond}"] = round(res.seconds, 2)
    out["n_parameters"] = model.num_parameters()
    return out


def steps_to_reach(curve, target: float) -> float | None:
    """First step at which the validation curve reaches `target`, linearly interpolated between evals."""
    prev_step, prev_loss = None, None
    for step, loss in curve:
        if loss <= target:
            if prev_step is None or prev_loss == loss:
                return float(step)
            return prev_step + (prev_loss - target) / (prev_loss - loss) * (step - prev_step)
        prev_step, prev_loss = step, loss
    return None


def check(config: Config, runs: list[dict], out_dir) -> Verdict:
    """Target = R's final validation loss (per seed). Held when U gets there sooner in every seed's
    mean (saved steps minus 2 s.e. > 0) and U's final loss is within `comparable_tolerance` of F's."""
    out_dir = Path(out_dir)
    steps_u, steps_r, saved, gap = [], [], [], []
    for r in runs:
        target = r["final_val_loss_random"]
        su = steps_to_reach(r["curves"]["uniform"], target)
        sr = steps_to_reach(r["curves"]["random"], target)
        su = float(config.steps) * 2 if su is None else su  # never reached: count as twice the budget
        steps_u.append(su)
        steps_r.append(sr)
        saved.append((sr - su) / sr)
        gap.append((r["final_val_loss_uniform"] - r["final_val_loss_full"]) / r["final_val_loss_full"])
    m = {
        "steps_to_target_uniform": summarize(steps_u),
        "steps_to_target_random": summarize(steps_r),
        "fraction_of_steps_saved": summarize(saved),
        "relative_gap_uniform_vs_full": summarize(gap),
    }
    for cond in CONDITIONS:
        m[f"final_val_loss_{cond}"] = summarize([r[f"final_val_loss_{cond}"] for r in runs])
    for cond in ("uniform", "random"):
        m[f"h_min_{cond}"] = summarize([r[f"h_min_{cond}"] for r in runs])
        m[f"covering_radius_{cond}"] = summarize([r[f"covering_radius_{cond}"] for r in runs])
    faster = m["fraction_of_steps_saved"]["mean"] - 2 * m["fraction_of_steps_saved"]["sem"] > 0
    comparable = abs(m["relative_gap_uniform_vs_full"]["mean"]) <= config.comparable_tolerance
    rule = (
        "held if (a) the fraction of steps saved by U to reach R's final validation loss has mean - 2 s.e. > 0 "
        f"and (b) U's final validation loss is within {config.comparable_tolerance:.0%} of F's (mean relative gap); "
        f"here (a) {'yes' if faster else 'no'}, (b) {'yes' if comparable else 'no'}"
    )
    figures = [_plot_curves(runs, out_dir), _plot_steps(steps_u, steps_r, out_dir)]
    details = {
        "embedder": config.embedder,
        "faster": bool(faster),
        "comparable": bool(comparable),
        "n_pool": runs[0]["n_pool"], "k": runs[0]["k"], "n_val": runs[0]["n_val"],
        "n_parameters": runs[0]["n_parameters"],
        "per_seed_steps_uniform": steps_u, "per_seed_steps_random": steps_r,
    }
    return Verdict(held=bool(faster and comparable), rule=rule, metrics=m, figures=figures, details=details)


_COLORS = {"full": "#444444", "uniform": "#2166ac", "random": "#e07b39"}


def _plot_curves(runs, out_dir: Path) -> str:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    for cond in CONDITIONS:
        steps = np.array([s for s, _ in runs[0]["curves"][cond]])
        losses = np.array([[loss for _, loss in r["curves"][cond]] for r in runs])
        mean = losses.mean(axis=0)
        sem = losses.std(axis=0, ddof=1) / np.sqrt(len(runs)) if len(runs) > 1 else np.zeros_like(mean)
        label = {"full": "F: full set", "uniform": "U: uniform half (max-min)", "random": "R: random half"}[cond]
        ax.plot(steps, mean, color=_COLORS[cond], label=label)
        ax.fill_between(steps, mean - sem, mean + sem, color=_COLORS[cond], alpha=0.2, lw=0)
    target = np.mean([r["final_val_loss_random"] for r in runs])
    ax.axhline(target, color=_COLORS["random"], ls=":", lw=1, label="target: R's final loss")
    ax.set_xlabel("training step")
    ax.set_ylabel("validation loss (response tokens)")
    ax.set_title(f"uniformity-lm-scratch: validation loss, mean ± s.e. over {len(runs)} seeds")
    lo = min(np.min([[loss for _, loss in r["curves"][c]][1:] for r in runs]) for c in CONDITIONS)
    hi = max(np.max([[loss for _, loss in r["curves"][c]][1:] for r in runs]) for c in CONDITIONS)
    ax.set_ylim(lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo))  # skip step 0 (~ln V) so the gap shows
    ax.legend()
    fig.tight_layout()
    name = "uniformity_lm_scratch_curves.png"
    fig.savefig(out_dir / name)
    plt.close(fig)
    return name


def _plot_steps(steps_u, steps_r, out_dir: Path) -> str:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 4), dpi=110)
    for i, (vals, cond) in enumerate(((steps_u, "uniform"), (steps_r, "random"))):
        ax.bar(i, np.mean(vals), color=_COLORS[cond], alpha=0.8)
        ax.scatter(np.full(len(vals), i), vals, color="black", s=12, zorder=3)
    ax.set_xticks([0, 1], ["U: uniform half", "R: random half"])
    ax.set_ylabel("steps to reach R's final validation loss")
    ax.set_title("steps to target (bars: mean; dots: seeds)\nnever reached within the budget = 2x budget", fontsize=10)
    fig.tight_layout()
    name = "uniformity_lm_scratch_steps.png"
    fig.savefig(out_dir / name)
    plt.close(fig)
    return name

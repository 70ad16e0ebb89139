"""dga-target: online mixing by Dynamic Gradient Alignment against the usual mixers, at equal budgets.

Fan, Grangier, Ablin, "Dynamic Gradient Alignment for Online Data Mixing" (arXiv 2410.02498): DGA
sets domain weights during training from the alignment of each domain's gradient with a small
specialist set's gradient; it beats uniform mixing, and beats static importance sampling where the
relevant generic data is scarce (IS repeats it and overfits) or the specialist set is tiny.

CPU-sized: the built-in corpus (7 domains that every set-up installs, capped per domain), one target
domain whose texts are split into a specialist set and held-out validation; the testbed GPT trained
with each mixer for the same steps and batch size (equal token budgets). Three regimes:
``standard``, ``capped`` (the target domain's generic data cut to a few texts) and ``tiny``
(a specialist set of a handful of texts).

Rerun: ``datadiet reproduce dga-target --seeds 3 --out results/dga-target``
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .base import Verdict, pyplot, summarize

NAME = "dga-target"
CLAIM = (
    "At an equal token budget, Dynamic Gradient Alignment reaches a lower target-domain loss than uniform "
    "mixing, and than importance sampling when the relevant generic data is capped or the specialist set "
    "is tiny (arXiv 2410.02498)."
)
MIXERS = ("dga", "uniform", "natural", "odm", "doremi", "is")
REGIMES = ("standard", "capped", "tiny")
# the domains every set-up installs (Debian-package domains would make results machine-dependent)
DOMAINS = ("sharegpt", "python-stdlib", "shakespeare", "quotations", "news", "wiki", "manpages")


@dataclass(frozen=True)
class Config:
    target_domain: str = "shakespeare"
    cap_bytes: int = 400_000  # per domain, when building the corpus for this experiment
    chunk_bytes: int = 512
    specialist: int = 64  # target texts (half probe, half held-out validation)
    tiny_specialist: int = 8
    capped_generic: int = 16  # texts left in the target's own generic domain in the capped regime
    steps: int = 200
    update_every: int = 10
    eta: float = 1.0
    ema: float = 0.1
    batch_size: int = 16
    context: int = 64
    n_layer: int = 2
    n_embd: int = 64


QUICK = Config(cap_bytes=40_000, specialist=16, tiny_specialist=4, capped_generic=4, steps=20, update_every=5,
               batch_size=4, context=32, n_layer=1, n_embd=32)


def _corpus(config: Config) -> dict[str, list[str]]:
    from ..corpus import build_corpus, load_domain
    from ..paths import cache_dir

    out = cache_dir(f"corpus-dga-{config.cap_bytes}-{config.chunk_bytes}")
    try:
        from ..corpus import read_manifest

        manifest = read_manifest(out)
    except Exception:  # not built yet (or torn): build it, deterministically
        manifest = build_corpus(out, domains=list(DOMAINS), cap_bytes=config.cap_bytes,
                                chunk_bytes=config.chunk_bytes)
    names = [d["domain"] for d in manifest["domains"]]
    return {n: [r["text"] for r in load_domain(n, out)] for n in names}


def _regime(domains: dict[str, list[str]], config: Config, regime: str, seed: int):
    """(training domains, specialist texts) for one regime; the specialist texts leave training."""
    t = config.target_domain
    texts = domains[t]
    perm = np.random.default_rng([seed, 11]).permutation(len(texts))
    n_spec = config.tiny_specialist if regime == "tiny" else config.specialist
    spec = [texts[i] for i in perm[:n_spec]]
    rest = [texts[i] for i in perm[n_spec:]]
    if regime == "capped":
        rest = rest[: config.capped_generic]
    train = dict(domains)
    train[t] = rest
    return train, spec


def run(config: Config, seed: int) -> dict:
    from ..mix.train import train_mix

    domains = _corpus(config)
    if config.target_domain not in domains:
        from ..errors import InputError

        raise InputError(f"target domain {config.target_domain!r} is not in the corpus ({', '.join(domains)})")
    out: dict = {"domains": list(domains)}
    for regime in REGIMES:
        train, spec = _regime(domains, config, regime, seed)
        for mixer in MIXERS:
            res = train_mix(train, spec, mixer=mixer, steps=config.steps, update_every=config.update_every,
                            eta=config.eta, ema=config.ema, seed=seed, batch_size=config.batch_size,
                            context=config.context, n_layer=config.n_layer, n_embd=config.n_embd)
            out[f"{regime}/{mixer}"] = {
                "target_loss": res.final_target_loss,
                "seconds": res.seconds,
                "final_weights": res.final_weights,
                "weights": res.weights if mixer in ("dga", "is") else [],
            }
    return out


def check(config: Config, runs: list[dict], out_dir) -> Verdict:
    """Paired per seed: d_X = loss_X - loss_DGA. Held when d_uniform has mean - 2 s.e. > 0 in every regime
    and d_is has mean - 2 s.e. > 0 in the capped and tiny regimes."""
    out_dir = Path(out_dir)
    m: dict = {}
    for regime in REGIMES:
        suffix = "" if regime == "standard" else f"_{regime}"
        for mixer in MIXERS:
            m[f"target_loss_{mixer}{suffix}"] = summarize([r[f"{regime}/{mixer}"]["target_loss"] for r in runs])
    overhead = [100 * (r["standard/dga"]["seconds"] - r["standard/uniform"]["seconds"]) / r["standard/uniform"]["seconds"]
                for r in runs]
    m["dga_overhead_pct"] = summarize(overhead)
    checks = {}
    for regime, rivals in (("standard", ("uniform",)), ("capped", ("uniform", "is")), ("tiny", ("uniform", "is"))):
        for rival in rivals:
            d = summarize([r[f"{regime}/{rival}"]["target_loss"] - r[f"{regime}/dga"]["target_loss"] for r in runs])
            m[f"advantage_over_{rival}_{regime}"] = d
            checks[f"{regime}: DGA beats {rival}"] = d["mean"] - 2 * d["sem"] > 0
    held = all(checks.values())
    rule = ("paired per seed, advantage = loss(rival) - loss(DGA) on the held-out specialist texts; held iff "
            "mean - 2 s.e. > 0 for uniform in every regime and for IS in the capped and tiny regimes; here: "
            + "; ".join(f"{k} {'yes' if v else 'no'}" for k, v in checks.items()))
    figures = [_plot_losses(m, len(runs), out_dir), _plot_alpha(runs[0], out_dir)]
    details = {"checks": checks, "domains": runs[0]["domains"], "target_domain": config.target_domain,
               "final_weights_seed0": {k: v["final_weights"] for k, v in runs[0].items() if k != "domains"}}
    return Verdict(held=held, rule=rule, metrics=m, figures=figures, details=details)


def _plot_losses(m: dict, n: int, out_dir: Path) -> str:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    width = 0.8 / len(MIXERS)
    for j, mixer in enumerate(MIXERS):
        means, sems = [], []
        for regime in REGIMES:
            s = m[f"target_loss_{mixer}{'' if regime == 'standard' else '_' + regime}"]
            means.append(s["mean"])
            sems.append(s["sem"])
        ax.bar(np.arange(len(REGIMES)) + (j - (len(MIXERS) - 1) / 2) * width, means, width, yerr=sems,
               label=mixer, capsize=2)
    ax.set_xticks(range(len(REGIMES)), REGIMES)
    lo = min(s["mean"] for k, s in m.items() if k.startswith("target_loss_"))
    hi = max(s["mean"] for k, s in m.items() if k.startswith("target_loss_"))
    ax.set_ylim(lo - 0.3 * (hi - lo) - 1e-3, hi + 0.2 * (hi - lo) + 1e-3)
    ax.set_ylabel("target validation loss at the budget")
    ax.set_title(f"dga-target: mean ± s.e. over {n} seeds (lower is better)")
    ax.legend(ncol=3, fontsize=8)
    fig.tight_layout()
    name = "dga_target_losses.png"
    fig.savefig(out_dir / name)
    plt.close(fig)
    return name


def _plot_alpha(run0: dict, out_dir: Path) -> str:
    plt = pyplot()
    fig, axes = plt.subplots(1, len(REGIMES), figsize=(12, 3.8), dpi=110, sharey=True)
    names = run0["domains"]
    for ax, regime in zip(axes, REGIMES):
        rows = np.array(run0[f"{regime}/dga"]["weights"], dtype=float)
        ax.stackplot(rows[:, 0], rows[:, 1:].T, labels=names)
        ax.set_title(f"DGA α, {regime} (seed 0)")
        ax.set_xlabel("step")
        ax.set_ylim(0, 1)
    axes[0].set_ylabel("domain weight α")
    axes[-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    name = "dga_target_alpha.png"
    fig.savefig(out_dir / name)
    plt.close(fig)
    return name

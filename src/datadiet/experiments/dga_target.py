"""dga-target: Dynamic Gradient Alignment against the usual mixers in the paper's two data-constrained regimes.

Fan, Grangier, Ablin, "Dynamic Gradient Alignment for Online Data Mixing" (arXiv 2410.02498): the generic
data is split into many domains (k-means clusters of embeddings), a small specialist set is *not* part
of the training data, and DGA sets the domain weights online from the alignment of each domain's
gradient with the specialist set's. The paper's claims, in its two regimes: (i) when each generic domain
holds few tokens, importance sampling (IS) repeats its few top domains and overfits, while DGA moves its
weights away as their gradients stop helping; (ii) when the specialist set is tiny, IS (a histogram of
a handful of examples over the clusters) is trapped on a narrow pocket of data, while DGA keeps aligning.
In the standard regime (plenty of both) IS is a strong baseline.

Our set-up, CPU-sized:

* generic data: the built-in corpus (`datadiet.corpus`, the 7 domains every set-up installs, capped per
  domain) minus the target domain, its documents clustered by k-means on hashing embeddings into
  ``clusters`` domains (16 by default); every cluster's documents are packed whole into windows of
  ``context + 1`` byte tokens (`datadiet.lm.data.pack_documents`; nothing truncated);
* target: the Shakespeare domain, absent from training: a validation set of ``val_windows`` windows
  from some of its documents, and specialist sets (what DGA aligns with and IS histograms) from others;
* regimes: ``standard`` (``clusters`` clusters, all their windows, a specialist set of ``specialist``
  windows); ``capped`` (the same clusters cut to ``capped_windows`` windows each, so the top clusters of
  IS are repeated tens of times within the budget); ``scarce<N>`` (the paper's fine-grained setting: the
  largest ``granularity`` (512) clusters, DGA through ``basis`` basis distributions, specialist sets of
  ``scarce`` sizes, nested, down to one window, so IS's histogram of a handful of windows picks a few
  small clusters);
* mixers: uniform, natural (by windows), IS (nearest-centroid histogram of the specialist windows),
  DoReMi (its reference = this seed's uniform model; proxy + averaged-weights run), ODM (EXP3 every
  step), DGA (EMA β = ``ema``) and DGA without EMA (β = 1); all at the same steps and batch size, so
  equal token budgets; the target-agnostic mixers (uniform, natural, ODM, DoReMi) train on the same
  data in every scarce regime, so one run serves all sizes;
* granularity (the paper's sweep over the number of k-means domains): uniform, IS and DGA at
  ``granularity`` clusters and ``clusters`` with the standard specialist set, above ``max_direct`` through
  distribution reweighting over ``basis`` basis distributions (hierarchical k-means, `datadiet.mix.basis`);
* model: the `datadiet.lm` GPT (``model`` preset, ~120k parameters), AdamW, ``steps`` steps of
  ``batch_size`` windows: small enough that 3 seeds of everything fit 40 minutes on 2 cores.

How ours differs from the paper: models of 10^5 instead of 10^8-10^9 parameters, byte tokens,
hundreds of steps instead of tens of thousands, a 2 MB corpus of 6 sources instead of RedPajama-v2,
hashing embeddings instead of sentence embeddings, 8-512 clusters instead of 64 to 262k, one target
(Shakespeare) instead of Pile domains and MMLU. The regimes keep the paper's mechanism (IS repeating
few clusters; IS from a handful of examples), checked in the results: ``is_overfit_gap_capped`` is the
rise of IS's target loss from its minimum to the end in the capped regime.

Rerun: ``datadiet reproduce dga-target --out results/dga-target`` (3 seeds; ``--quick`` for a smoke run).
Pilot (IS's target loss turning upward in the capped regime, one seed):
``python -m datadiet.experiments.dga_target --pilot``
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .base import Verdict, pyplot, summarize

NAME = "dga-target"
CLAIM = (
    "At an equal token budget, Dynamic Gradient Alignment reaches a lower loss on a held-out specialist "
    "domain than uniform mixing in every regime, and than importance sampling when the generic domains are "
    "capped (importance sampling overfits) or the specialist set is scarce (arXiv 2410.02498)."
)
PAPER = "Fan, Grangier, Ablin, Dynamic Gradient Alignment for Online Data Mixing (arXiv 2410.02498)"
PAPER_RESULT = ("DGA beats importance sampling when the generic domains hold few tokens (IS overfits) and when "
                "the specialist set is small; 125M-750M models on RedPajama-v2 clusters")
KEY_METRICS = ["advantage_over_is_capped", "is_overfit_gap_capped", "advantage_over_is_scarce*",
               "advantage_over_uniform_*", "dga_overhead_pct"]
SEEDS = 3
BUDGET_SECONDS = 1433  # measured in `datadiet reproduce all` on 2026-12-02 (2 cores, quiet machine)
QUICK_BUDGET_SECONDS = 60.0

MIXERS = ("uniform", "natural", "is", "doremi", "odm", "dga", "dga_noema")
AGNOSTIC = ("uniform", "natural", "odm", "doremi")  # do not look at the specialist set
TARGETED = ("is", "dga", "dga_noema")
# the domains every set-up installs (Debian-package domains would make results machine-dependent)
DOMAINS = ("sharegpt", "python-stdlib", "shakespeare", "quotations", "news", "wiki", "manpages")


@dataclass(frozen=True)
class Config:
    target_domain: str = "shakespeare"
    cap_bytes: int = 300_000  # per corpus domain
    chunk_bytes: int = 512  # corpus documents are chunks of about this many bytes
    clusters: int = 16
    granularity: tuple = (8, 64, 512)
    basis: int = 16  # basis distributions for the granularities above max_direct
    max_direct: int = 64  # DGA over at most this many fine domains directly, above through a basis
    capped_windows: int = 16
    specialist: int = 64
    scarce: tuple = (16, 4, 1)
    val_windows: int = 128
    steps: int = 400
    update_every: int = 10
    eta: float = 10.0
    ema: float = 0.1
    batch_size: int = 16
    probe_size: int = 8
    context: int = 64
    model: str = "small"
    lr: float = 3e-3
    eval_every: int = 20
    threads: int = 1  # torch threads (small models run fastest, and most reproducibly, on one)


QUICK = Config(cap_bytes=20_000, clusters=4, granularity=(2, 6), basis=2, max_direct=4, capped_windows=4,
               specialist=8, scarce=(2,), val_windows=8, steps=10, update_every=5, batch_size=4, probe_size=2,
               context=32, model="tiny", eval_every=5)


# ----------------------------------------------------------------------------------------------- data
def _corpus(config: Config) -> dict[str, list[str]]:
    from ..corpus import build_corpus, load_domain, read_manifest
    from ..paths import cache_dir

    out = cache_dir(f"corpus-dga-{config.cap_bytes}-{config.chunk_bytes}")
    try:
        manifest = read_manifest(out)
    except Exception:  # not built yet (or torn): build it, deterministically
        manifest = build_corpus(out, domains=list(DOMAINS), cap_bytes=config.cap_bytes,
                                chunk_bytes=config.chunk_bytes)
    names = [d["domain"] for d in manifest["domains"]]
    return {n: [r["text"] for r in load_domain(n, out)] for n in names}


@functools.lru_cache(maxsize=4)
def _generic(config: Config):
    """Generic documents, their source domain, hashing embeddings, and the target's documents."""
    from ..embed import get_embedder
    from ..embed.base import embed_cached
    from ..errors import InputError

    corpus = _corpus(config)
    if config.target_domain not in corpus:
        raise InputError(f"target domain {config.target_domain!r} is not in the corpus ({', '.join(corpus)})")
    docs, source = [], []
    for name, texts in corpus.items():
        if name != config.target_domain:
            docs += texts
            source += [name] * len(texts)
    X = embed_cached(get_embedder("hashing"), docs)
    return docs, np.array(source), X, list(corpus[config.target_domain])


@functools.lru_cache(maxsize=8)
def _clusters(config: Config, k: int):
    """k-means labels of the generic documents (seed 0: the same domains for every seed and mixer)."""
    from ..mix.domains import kmeans

    docs, source, X, _ = _generic(config)
    labels, _ = kmeans(X, min(k, len(docs)), seed=0)
    return labels


def _decode(windows: np.ndarray) -> list[str]:
    return [bytes(int(t) for t in w if t < 256).decode("utf-8", errors="ignore") for w in windows]


def _pack(texts: list[str], context: int):
    from ..mix.train import pack_domain

    return pack_domain(texts, context)[0]


def _build(config: Config, k: int, cap: int | None, spec, val, spec_text):
    """MixData for k clusters (each cut to ``cap`` windows if given) with a specialist set and validation."""
    from ..lm import Examples
    from ..mix.train import MixData

    docs, source, X, _ = _generic(config)
    labels = _clusters(config, k)
    names, parts, emb, comp = [], [], {}, {}
    for j in range(int(labels.max()) + 1):
        members = np.flatnonzero(labels == j)
        if members.size == 0:
            continue
        ex = _pack([docs[i] for i in members], config.context)
        if cap is not None:
            ex = ex.subset(np.arange(min(cap, len(ex))))
        name = f"c{j}"
        names.append(name)
        parts.append(ex)
        emb[name] = X[members]
        src, cnt = np.unique(source[members], return_counts=True)
        comp[name] = {str(s): int(c) for s, c in zip(src, cnt)}
    offsets = np.cumsum([0] + [len(p) for p in parts])
    from ..embed import get_embedder

    temb = get_embedder("hashing").embed(spec_text)
    data = MixData(names=names, train=Examples.concat(parts),
                   domain_indices={n: np.arange(offsets[i], offsets[i + 1]) for i, n in enumerate(names)},
                   target_probe=spec, target_val=val, domain_embeddings=emb, target_embeddings=temb,
                   stats={"windows": {n: len(p) for n, p in zip(names, parts)}, "sources": comp})
    return data


def _target(config: Config, seed: int):
    """(validation windows, specialist pool windows in a seeded order) from disjoint target documents."""
    import torch

    from ..lm import Examples

    _, _, _, tdocs = _generic(config)
    order = np.random.default_rng([seed, 11]).permutation(len(tdocs))
    val_docs, pool_docs, n = [], [], 0
    for i in order:  # documents go to validation until it has val_windows windows, the rest to the pool
        if n < config.val_windows:
            val_docs.append(tdocs[i])
            n = len(_pack(val_docs, config.context))
        else:
            pool_docs.append(tdocs[i])
    val = _pack(val_docs, config.context)
    val = val.subset(np.arange(min(config.val_windows, len(val))))
    pool = _pack(pool_docs, config.context)
    perm = np.random.default_rng([seed, 12]).permutation(len(pool))
    pool = Examples(pool.tokens[torch.from_numpy(perm)], pool.mask[torch.from_numpy(perm)])
    return val, pool


# ------------------------------------------------------------------------------------------------ run
def _mix_config(config: Config, mixer: str, seed: int, **over):
    from ..mix.train import MixConfig

    kind = {"dga_noema": "dga"}.get(mixer, mixer)
    return MixConfig(mixer=kind, steps=config.steps, update_every=config.update_every, eta=config.eta,
                     ema=1.0 if mixer == "dga_noema" else config.ema, seed=seed, batch_size=config.batch_size,
                     probe_size=config.probe_size, lr=config.lr, warmup=min(10, config.steps), context=config.context,
                     model=config.model, eval_every=config.eval_every, eval_rows=config.val_windows,
                     checkpoint_every=config.steps, device="cpu", **over)


def _fine(config: Config) -> int:
    """The number of clusters of the fine-grained (scarce) regimes: the largest granularity."""
    return max(config.granularity)


def _over(config: Config, data, mixer: str) -> dict:
    """DGA through `basis` basis distributions above `max_direct` fine domains."""
    return {"basis": config.basis} if mixer in ("dga", "dga_noema") and len(data.names) > config.max_direct else {}


def _summary(res, keep_weights: bool) -> dict:
    L = np.asarray(res.losses, dtype=float)
    out = {"target_loss": res.final_target_loss, "target_loss_min": res.min_target_loss,
           "curve": [[int(s), float(v)] for s, v in L[:, [0, 2]]], "seconds": res.seconds,
           "update_seconds": res.update_seconds, "final_weights": res.final_weights}
    if keep_weights:
        out["weights"] = res.basis_weights if res.basis_weights else res.weights
    return out


def run(config: Config, seed: int) -> dict:
    import torch

    from ..mix.train import run_mix

    threads = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    t0 = time.perf_counter()
    try:
        val, pool = _target(config, seed)
        sizes = {"standard": config.specialist, "fine": config.specialist, **{f"scarce{n}": n for n in config.scarce}}
        specs = {}
        for regime, n in sizes.items():
            sp = pool.subset(np.arange(min(n, len(pool))))
            specs[regime] = (sp, _decode(sp.tokens.numpy()))
        out: dict = {"runs": {}, "sources": {}}

        def build(k, cap, regime):
            return _build(config, k, cap, specs[regime][0], val, specs[regime][1])

        def go(data, mixer, key, **over):
            ref = over.pop("reference_state", None)
            res = run_mix(data, _mix_config(config, mixer, seed, **over), reference_state=ref,
                          keep_model=(mixer == "uniform"))
            out["runs"][key] = _summary(res, keep_weights=mixer in ("dga", "dga_noema", "is", "doremi", "odm"))
            return res

        # standard: `clusters` domains, the specialist set of `specialist` windows
        base = build(config.clusters, None, "standard")
        out["sources"]["clusters"] = base.stats["sources"]
        uni = go(base, "uniform", "standard/uniform")
        for mixer in ("natural", "odm"):
            go(base, mixer, f"standard/{mixer}")
        go(base, "doremi", "standard/doremi", reference_state=uni.model.state_dict())
        for mixer in TARGETED:
            go(base, mixer, f"standard/{mixer}")
        # scarce: the paper's fine-grained setting (many small clusters, DGA through basis distributions),
        # specialist sets of `scarce` windows; the target-agnostic mixers run once for all sizes
        fine_k = _fine(config)
        fine = build(fine_k, None, "fine")
        funi = go(fine, "uniform", "fine/uniform")
        for mixer in ("natural", "odm"):
            go(fine, mixer, f"fine/{mixer}")
        go(fine, "doremi", "fine/doremi", reference_state=funi.model.state_dict())
        for regime in ["fine", *[f"scarce{n}" for n in config.scarce]]:
            data = fine if regime == "fine" else build(fine_k, None, regime)
            for mixer in TARGETED:
                go(data, mixer, f"{regime}/{mixer}", **_over(config, data, mixer))
        out["sources"]["fine"] = len(fine.names)
        # capped: every cluster cut to capped_windows windows
        capped = build(config.clusters, config.capped_windows, "standard")
        cuni = go(capped, "uniform", "capped/uniform")
        for mixer in ("natural", "odm", *TARGETED):
            go(capped, mixer, f"capped/{mixer}")
        go(capped, "doremi", "capped/doremi", reference_state=cuni.model.state_dict())
        # granularity: the number of k-means domains at the standard specialist set (16 and the finest
        # come from the runs above)
        for k in config.granularity:
            if k in (config.clusters, fine_k):
                continue
            data = build(k, None, "standard")
            for mixer in ("uniform", "is", "dga"):
                go(data, mixer, f"k{k}/{mixer}", **_over(config, data, mixer))
            out["sources"][f"k{k}"] = len(data.names)
    finally:
        torch.set_num_threads(threads)
    out["seconds"] = time.perf_counter() - t0
    return out


# ---------------------------------------------------------------------------------------------- check
def _regimes(config: Config) -> list[str]:
    return ["standard", *[f"scarce{n}" for n in config.scarce], "capped"]


def _run_of(r: dict, regime: str, mixer: str) -> dict:
    """The run of ``mixer`` in ``regime`` (target-agnostic mixers of the scarce regimes: the shared fine run)."""
    runs = r["runs"]
    if regime.startswith("scarce") and mixer in AGNOSTIC:
        return runs[f"fine/{mixer}"]
    return runs[f"{regime}/{mixer}"]


def _granularity_run(r: dict, config: Config, k: int, mixer: str) -> dict:
    if k == config.clusters:
        return r["runs"][f"standard/{mixer}"]
    if k == _fine(config):
        return r["runs"][f"fine/{mixer}"]
    return r["runs"][f"k{k}/{mixer}"]


def _ks(config: Config) -> list[int]:
    return sorted(set(config.granularity) | {config.clusters})


def check(config: Config, runs: list[dict], out_dir) -> Verdict:
    """Paired per seed: advantage_over_X = loss(X) − loss(DGA) on the held-out target windows.

    Held iff (a) in the capped regime IS's target loss turns upward (the paper's mechanism is present)
    and DGA beats IS; (b) DGA beats IS with the smallest specialist set; (c) DGA beats uniform in every
    regime; each "beats" = mean advantage − 2 s.e. > 0 over seeds.
    """
    out_dir = Path(out_dir)
    m: dict = {}
    regimes = _regimes(config)
    for regime in regimes:
        for mixer in MIXERS:
            vals = [_run_of(r, regime, mixer) for r in runs]
            m[f"target_loss_{mixer}_{regime}"] = summarize([v["target_loss"] for v in vals])
            m[f"target_loss_min_{mixer}_{regime}"] = summarize([v["target_loss_min"] for v in vals])
    for k in _ks(config):
        for mixer in ("uniform", "is", "dga"):
            vals = [_granularity_run(r, config, k, mixer) for r in runs]
            m[f"target_loss_{mixer}_k{k}"] = summarize([v["target_loss"] for v in vals])
            m[f"target_loss_min_{mixer}_k{k}"] = summarize([v["target_loss_min"] for v in vals])
        for rival in ("is", "uniform"):
            m[f"advantage_over_{rival}_k{k}"] = summarize([_granularity_run(r, config, k, rival)["target_loss"]
                                                           - _granularity_run(r, config, k, "dga")["target_loss"]
                                                           for r in runs])
    m["is_overfit_gap_capped"] = summarize([_run_of(r, "capped", "is")["target_loss"] - _run_of(r, "capped", "is")["target_loss_min"]
                                            for r in runs])
    for mixer in ("dga", "dga_noema", "uniform"):
        m[f"overfit_gap_{mixer}_capped"] = summarize([_run_of(r, "capped", mixer)["target_loss"]
                                                      - _run_of(r, "capped", mixer)["target_loss_min"] for r in runs])
    over = [100 * (_run_of(r, "standard", "dga")["seconds"] - _run_of(r, "standard", "uniform")["seconds"])
            / _run_of(r, "standard", "uniform")["seconds"] for r in runs]
    m["dga_overhead_pct"] = summarize(over)
    checks = {}
    for regime in regimes:
        for rival in ("uniform", "natural", "is", "doremi", "odm", "dga_noema"):
            d = summarize([_run_of(r, regime, rival)["target_loss"] - _run_of(r, regime, "dga")["target_loss"]
                           for r in runs])
            m[f"advantage_over_{rival}_{regime}"] = d
        du = m[f"advantage_over_uniform_{regime}"]
        checks[f"{regime}: DGA beats uniform"] = du["mean"] - 2 * du["sem"] > 0
    gap = m["is_overfit_gap_capped"]
    checks["capped: IS's target loss turns upward"] = gap["mean"] - 2 * gap["sem"] > 0
    d = m["advantage_over_is_capped"]
    checks["capped: DGA beats IS"] = d["mean"] - 2 * d["sem"] > 0
    smallest = f"scarce{min(config.scarce)}"
    d = m[f"advantage_over_is_{smallest}"]
    checks[f"{smallest}: DGA beats IS"] = d["mean"] - 2 * d["sem"] > 0
    held = all(checks.values())
    wins = {f"{regime}/{rival}": sum(_run_of(r, regime, rival)["target_loss"] > _run_of(r, regime, "dga")["target_loss"]
                                     for r in runs)
            for regime in regimes for rival in ("uniform", "is")}
    rule = ("paired per seed, advantage = target loss(rival) - target loss(DGA) on held-out Shakespeare windows; "
            "held iff in the capped regime IS's final target loss exceeds its minimum (it overfits) and DGA beats IS, "
            f"DGA beats IS with {min(config.scarce)} specialist window(s), and DGA beats uniform in every regime "
            "(each: mean - 2 s.e. > 0 over seeds); here: "
            + "; ".join(f"{k} {'yes' if v else 'no'}" for k, v in checks.items()))
    figures = [_plot_losses(m, config, len(runs), out_dir), _plot_alpha(runs[0], config, out_dir),
               _plot_curves(runs[0], config, out_dir), _plot_granularity(m, config, len(runs), out_dir)]
    details = {"checks": checks, "wins_of_dga_per_seed": wins, "n_seeds": len(runs),
               "cluster_sources": runs[0]["sources"].get("clusters", {}),
               "final_weights_seed0": {k: v["final_weights"] for k, v in runs[0]["runs"].items()
                                       if k.split("/")[1] in ("dga", "dga_noema", "is", "doremi", "odm")
                                       and not k.startswith(("k", "fine", "scarce"))},
               "seconds_per_seed": [r.get("seconds") for r in runs]}
    return Verdict(held=held, rule=rule, metrics=m, figures=figures, details=details)


# -------------------------------------------------------------------------------------------- figures
def _plot_losses(m: dict, config: Config, n: int, out_dir: Path) -> str:
    plt = pyplot()
    regimes = _regimes(config)
    fig, ax = plt.subplots(figsize=(10, 4.5), dpi=110)
    width = 0.8 / len(MIXERS)
    for j, mixer in enumerate(MIXERS):
        means = [m[f"target_loss_{mixer}_{r}"]["mean"] for r in regimes]
        sems = [m[f"target_loss_{mixer}_{r}"]["sem"] for r in regimes]
        ax.bar(np.arange(len(regimes)) + (j - (len(MIXERS) - 1) / 2) * width, means, width, yerr=sems,
               label=mixer, capsize=2)
    ax.set_xticks(range(len(regimes)), regimes)
    vals = [m[f"target_loss_{x}_{r}"]["mean"] for x in MIXERS for r in regimes]
    lo, hi = min(vals), max(vals)
    ax.set_ylim(lo - 0.3 * (hi - lo) - 1e-3, hi + 0.2 * (hi - lo) + 1e-3)
    ax.set_ylabel("held-out target loss at the budget (nats/byte)")
    ax.set_title(f"dga-target: mean ± s.e. over {n} seeds (lower is better)")
    ax.legend(ncol=4, fontsize=8)
    fig.tight_layout()
    name = "dga_target_losses.png"
    fig.savefig(out_dir / name)
    plt.close(fig)
    return name


def _cluster_labels(run0: dict, names: list[str]) -> list[str]:
    src = run0["sources"].get("clusters", {})
    out = []
    for n in names:
        comp = src.get(n, {})
        top = max(comp, key=comp.get) if comp else "?"
        share = comp.get(top, 0) / max(1, sum(comp.values()))
        out.append(f"{n} {top} {share:.0%}")
    return out


def _plot_alpha(run0: dict, config: Config, out_dir: Path) -> str:
    plt = pyplot()
    panels = [("standard", "dga"), ("capped", "dga"), (f"scarce{min(config.scarce)}", "dga"), ("capped", "dga_noema")]
    fig, axes = plt.subplots(1, len(panels), figsize=(15, 4), dpi=110, sharey=True)
    names = sorted(run0["sources"].get("clusters", {}), key=lambda s: int(s[1:]))
    labels = _cluster_labels(run0, names)
    for ax, (regime, mixer) in zip(axes, panels):
        rows = np.array(run0["runs"][f"{regime}/{mixer}"]["weights"], dtype=float)
        # the scarce regimes record the basis weights w when DGA ran through a basis (their column count
        # can equal the number of clusters, e.g. basis 16 and clusters 16, so it cannot tell them apart)
        basis = regime.startswith("scarce") and int(run0["sources"].get("fine", 0)) > config.max_direct
        ax.stackplot(rows[:, 0], rows[:, 1:].T, colors=plt.cm.tab20(np.arange(rows.shape[1] - 1) % 20),
                     labels=[f"_group {j}" for j in range(rows.shape[1] - 1)] if basis else labels)
        ax.set_title(f"{mixer} {'basis weights w' if basis else 'α'}, {regime} (seed 0)", fontsize=9)
        ax.set_xlabel("step")
        ax.set_ylim(0, 1)
    axes[0].set_ylabel("cluster weight α")
    axes[-1].legend(fontsize=6, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    name = "dga_target_alpha.png"
    fig.savefig(out_dir / name)
    plt.close(fig)
    return name


def _plot_curves(run0: dict, config: Config, out_dir: Path) -> str:
    plt = pyplot()
    regimes = ["capped", f"scarce{min(config.scarce)}", "standard"]
    fig, axes = plt.subplots(1, len(regimes), figsize=(13, 3.8), dpi=110)
    for ax, regime in zip(axes, regimes):
        for mixer in ("uniform", "is", "dga", "dga_noema"):
            c = np.array(_run_of(run0, regime, mixer)["curve"], dtype=float)
            ax.plot(c[1:, 0], c[1:, 1], label=mixer)
        ax.set_title(f"held-out target loss, {regime} (seed 0)", fontsize=9)
        ax.set_xlabel("step")
    axes[0].set_ylabel("nats/byte")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    name = "dga_target_curves.png"
    fig.savefig(out_dir / name)
    plt.close(fig)
    return name


def _plot_granularity(m: dict, config: Config, n: int, out_dir: Path) -> str:
    plt = pyplot()
    ks = _ks(config)
    fig, ax = plt.subplots(figsize=(5.5, 4), dpi=110)
    for mixer in ("uniform", "is", "dga"):
        means = [m[f"target_loss_{mixer}_k{k}"]["mean"] for k in ks]
        sems = [m[f"target_loss_{mixer}_k{k}"]["sem"] for k in ks]
        ax.errorbar(ks, means, yerr=sems, marker="o", capsize=3, label=mixer)
    ax.set_xscale("log", base=2)
    ax.set_xlabel(f"k-means domains (DGA above {config.max_direct}: {config.basis} basis distributions)")
    ax.set_ylabel("held-out target loss")
    ax.set_title(f"granularity, standard regime ({n} seeds)", fontsize=9)
    ax.legend()
    fig.tight_layout()
    name = "dga_target_granularity.png"
    fig.savefig(out_dir / name)
    plt.close(fig)
    return name


# ---------------------------------------------------------------------------------------------- pilot
def pilot(config: Config = Config(), seed: int = 0, mixers=("uniform", "is", "dga")) -> dict:
    """The capped regime alone, one seed: each mixer's held-out target-loss curve (does IS turn upward?)."""
    import torch

    from ..mix.train import run_mix

    threads = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    try:
        val, pool = _target(config, seed)
        sp = pool.subset(np.arange(min(config.specialist, len(pool))))
        data = _build(config, config.clusters, config.capped_windows, sp, val, _decode(sp.tokens.numpy()))
        out = {}
        for mixer in mixers:
            res = run_mix(data, _mix_config(config, mixer, seed))
            curve = np.asarray(res.losses, dtype=float)[:, [0, 2]]
            top = sorted(res.final_weights.items(), key=lambda kv: -kv[1])[:4]
            out[mixer] = {"curve": curve.tolist(), "final": res.final_target_loss, "min": res.min_target_loss,
                          "seconds": res.seconds, "update_seconds": res.update_seconds,
                          "top": [(n, round(w, 3), _cluster_labels({"sources": {"clusters": data.stats["sources"]}}, [n])[0])
                                  for n, w in top]}
    finally:
        torch.set_num_threads(threads)
    return out


if __name__ == "__main__":  # pragma: no cover - a command for the docs
    import argparse
    import json

    ap = argparse.ArgumentParser(description="dga-target pilot: the capped regime, one seed")
    ap.add_argument("--pilot", action="store_true", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=Config.steps)
    ap.add_argument("--capped-windows", type=int, default=Config.capped_windows)
    args = ap.parse_args()
    cfg = replace(Config(), steps=args.steps, capped_windows=args.capped_windows)
    res = pilot(cfg, args.seed)
    for mixer, r in res.items():
        c = np.array(r["curve"])
        print(f"{mixer:8s} final {r['final']:.4f}  min {r['min']:.4f} at step {int(c[c[:, 1].argmin(), 0])}  "
              f"gap {r['final'] - r['min']:+.4f}  ({r['seconds']:.1f}s)")
        print("   curve: " + " ".join(f"{int(s)}:{v:.3f}" for s, v in c[::2]))
        print("   top weights: " + "; ".join(f"{lab} {w}" for _, w, lab in r["top"]))
    print(json.dumps({m: {"final": r["final"], "min": r["min"]} for m, r in res.items()}))

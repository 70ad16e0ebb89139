"""DGA's step-time overhead over Uniform: one process, the same model and data, 8 domains, update_every 10.

    python benchmarks/mix_overhead.py [--steps 200] [--repeats 3] [--corpus DIR] [--threads N] [--absent carry]
    python benchmarks/mix_overhead.py --k 256 --basis 16      # distribution reweighting over 256 fine domains

Both arms run ``repeats`` times, interleaved (uniform, dga, uniform, dga, ...) after one untimed warm-up,
on data packed once: synthetic domains by default (``--k`` disjoint vocabularies, 8 by default), or with ``--corpus DIR``
the first 8 domains of a built corpus (`datadiet corpus build --out DIR`), the target being a held-out
half of the first one. Time = the training steps only (the mixer's work inside them included,
validation excluded). Prints each repeat, the medians and
``DGA overhead vs Uniform: X%`` = the median over repeats of 100 · (t_dga − t_uniform) / t_uniform.
The defaults are `datadiet mix train`'s (model "small", batch 32, probe 8 target windows).
"""

from __future__ import annotations

import argparse
import random
import statistics

from datadiet.mix.domains import load_domains, load_target
from datadiet.mix.train import MixConfig, prepare, run_mix


def synthetic(k: int = 8, n: int = 200, seed: int = 0) -> tuple[dict[str, list[str]], list[str]]:
    rng = random.Random(seed)
    n = max(4, n * 8 // k)  # the same amount of text whatever k
    vocab = [[f"w{d}_{j}" for j in range(30)] for d in range(k)]
    doms = {f"d{d}": [" ".join(rng.choice(vocab[d]) for _ in range(40)) for _ in range(n)] for d in range(k)}
    target = [" ".join(rng.choice(vocab[0]) for _ in range(40)) for _ in range(50)]
    return doms, target


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--k", type=int, default=8, help="synthetic domains")
    ap.add_argument("--basis", type=int, default=None, help="DGA distribution reweighting over K basis distributions")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--update-every", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=MixConfig.batch_size)
    ap.add_argument("--probe-size", type=int, default=MixConfig.probe_size)
    ap.add_argument("--model", default=MixConfig.model)
    ap.add_argument("--absent", default="carry", choices=["carry", "probe", "skip"])
    ap.add_argument("--scaling", default="normalized", choices=["normalized", "raw", "adam"])
    ap.add_argument("--corpus", default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    args = ap.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.corpus:
        doms = load_domains(args.corpus)
        doms = {n: doms[n] for n in list(doms)[:8]}
        doms, target, _ = load_target(next(iter(doms)), doms)
    else:
        doms, target = synthetic(args.k)
    common = dict(steps=args.steps, update_every=args.update_every, device=args.device, seed=0,
                  batch_size=args.batch_size, probe_size=args.probe_size, model=args.model, eval_every=args.steps,
                  checkpoint_every=args.steps)
    data = prepare(doms, target, context=MixConfig.context)
    run_mix(data, MixConfig(mixer="uniform", **{**common, "steps": 20}))  # warm-up (allocator, kernels)
    t_uni, t_dga, upd, pct = [], [], [], []
    for r in range(args.repeats):
        uni = run_mix(data, MixConfig(mixer="uniform", **common))
        dga = run_mix(data, MixConfig(mixer="dga", absent=args.absent, scaling=args.scaling, basis=args.basis,
                                      **common))
        t_uni.append(uni.seconds)
        t_dga.append(dga.seconds)
        upd.append(dga.update_seconds)
        pct.append(100.0 * (dga.seconds - uni.seconds) / uni.seconds)
        print(f"repeat {r + 1}: uniform {uni.seconds:.2f}s, dga {dga.seconds:.2f}s "
              f"({dga.update_seconds:.2f}s in weight updates): {pct[-1]:+.1f}%", flush=True)
    print(f"{len(doms)} domains, {args.steps} steps, update_every {args.update_every}, batch {args.batch_size}, "
          f"probe {args.probe_size}, model {args.model}, absent {args.absent}, basis {args.basis}, device {args.device}, "
          f"torch threads {torch.get_num_threads()}, {args.repeats} repeats")
    med_u, med_d = statistics.median(t_uni), statistics.median(t_dga)
    print(f"uniform: median {med_u:.2f}s ({1000 * med_u / args.steps:.1f} ms/step)")
    print(f"dga:     median {med_d:.2f}s ({1000 * med_d / args.steps:.1f} ms/step; "
          f"{statistics.median(upd):.2f}s in weight updates)")
    print(f"DGA overhead vs Uniform: {statistics.median(pct):.1f}%")


if __name__ == "__main__":
    main()

"""DGA's step-time overhead over Uniform: same process, same model, update_every 10, 8 domains.

    python benchmarks/mix_overhead.py [--steps 200] [--corpus DIR] [--device auto]

Synthetic domains by default (8 disjoint vocabularies, 200 texts each); ``--corpus DIR`` uses the
first 8 domains of a built corpus (`datadiet corpus build --out DIR`) instead, the target being a
held-out half of the first one. Prints the wall time of each run and
overhead % = 100 · (t_dga − t_uniform) / t_uniform (after one untimed warm-up run).
"""

from __future__ import annotations

import argparse
import random

from datadiet.mix.domains import load_domains, load_target
from datadiet.mix.train import train_mix


def synthetic(k: int = 8, n: int = 200, seed: int = 0) -> tuple[dict[str, list[str]], list[str]]:
    rng = random.Random(seed)
    vocab = [[f"w{d}_{j}" for j in range(30)] for d in range(k)]
    doms = {f"d{d}": [" ".join(rng.choice(vocab[d]) for _ in range(40)) for _ in range(n)] for d in range(k)}
    target = [" ".join(rng.choice(vocab[0]) for _ in range(40)) for _ in range(50)]
    return doms, target


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--update-every", type=int, default=10)
    ap.add_argument("--corpus", default=None)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    if args.corpus:
        doms = load_domains(args.corpus)
        doms = {n: doms[n] for n in list(doms)[:8]}
        doms, target, _ = load_target(next(iter(doms)), doms)
    else:
        doms, target = synthetic()
    common = dict(steps=args.steps, update_every=args.update_every, device=args.device, seed=0)
    train_mix(doms, target, mixer="uniform", **{**common, "steps": 20})  # warm-up (allocator, kernels)
    uni = train_mix(doms, target, mixer="uniform", **common)
    dga = train_mix(doms, target, mixer="dga", **common)
    pct = 100.0 * (dga.seconds - uni.seconds) / uni.seconds
    print(f"{len(doms)} domains, {args.steps} steps, update_every {args.update_every}, device {args.device}")
    print(f"uniform: {uni.seconds:.2f}s ({1000 * uni.seconds / args.steps:.1f} ms/step)")
    print(f"dga:     {dga.seconds:.2f}s ({1000 * dga.seconds / args.steps:.1f} ms/step; "
          f"{dga.update_seconds:.2f}s in weight updates)")
    print(f"DGA overhead vs Uniform: {pct:.1f}%")


if __name__ == "__main__":
    main()

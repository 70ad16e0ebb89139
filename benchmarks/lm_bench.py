"""CPU training speed of the in-house `GPT` vs the `transformers` GPT-2 (`HFGPT`) at the same shape.

    python benchmarks/lm_bench.py [--vocab 3072 --context 128 --layers 4 --heads 4 --embd 128 --batch 16 --reps 5 --threads 1]

Both models get the same `GPTConfig`, the same seeded batch of random token ids, the same masked
cross-entropy (their ``forward(idx, targets)``) and AdamW; one training step = forward, backward,
optimizer step. The two are timed in alternation (``--reps`` rounds of ``--steps`` steps each, after
two warm-up steps), so load from other processes hits both alike; the median round is reported.
Prints ms/step for each, and ``speedup = t_hf / t_ours`` (the issue's rule: keep the in-house GPT
only if it is >= 1.5x faster). Never asserted in CI.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch


def main() -> None:
    from datadiet.lm import GPT, GPTConfig
    from datadiet.lm.hf import HFGPT

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vocab", type=int, default=3072)
    ap.add_argument("--context", type=int, default=128)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--embd", type=int, default=128)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = GPTConfig(args.vocab, args.context, args.layers, args.heads, args.embd)
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, args.vocab, (args.batch, args.context + 1), generator=g)
    models = {}
    for name, cls in (("ours", GPT), ("transformers", HFGPT)):
        torch.manual_seed(0)
        m = cls(cfg)
        models[name] = (m, torch.optim.AdamW(m.parameters(), lr=1e-3))

    def step(name):
        m, opt = models[name]
        _, loss = m(x[:, :-1], x[:, 1:])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for name in models:
        step(name)
        step(name)
    times = {name: [] for name in models}
    for _ in range(args.reps):
        for name in models:
            t0 = time.perf_counter()
            for _ in range(args.steps):
                step(name)
            times[name].append((time.perf_counter() - t0) / args.steps)
    med = {n: statistics.median(v) for n, v in times.items()}
    n_params = {n: m.num_parameters() for n, (m, _) in models.items()}
    print(f"shape: vocab {args.vocab}, context {args.context}, {args.layers} layers x {args.heads} heads x "
          f"{args.embd}, batch {args.batch}; torch threads {torch.get_num_threads()}")
    for n in models:
        print(f"{n:13s} {n_params[n]:>9,d} params  {1000 * med[n]:8.1f} ms/step  "
              f"{args.batch * args.context / med[n]:8.0f} tokens/s  (rounds: "
              + ", ".join(f"{1000 * t:.0f}" for t in times[n]) + ")")
    print(f"speedup of ours over transformers: {med['transformers'] / med['ours']:.2f}x (keep ours only if >= 1.5x)")


if __name__ == "__main__":
    main()

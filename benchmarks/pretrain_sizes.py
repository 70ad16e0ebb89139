"""Which base model is the largest that `datadiet lm pretrain` trains in <= 15 min on this machine?

    python benchmarks/pretrain_sizes.py [--threads 1 2] [--steps 12] [--budget 900]

For each candidate shape (the default's vocabulary, context, batch and step count; only depth and
width change) it times ``--steps`` training steps of the `transformers` GPT-2 (`HFGPT`, AdamW, the
same masked cross-entropy as pretraining, random token ids: a step's cost does not depend on which
tokens) after two warm-up steps, in alternation over the candidates (``--reps`` rounds, median kept),
at each ``--threads`` setting. The predicted pretraining time is ``per-step x steps + fixed``, where
``fixed`` is what the pretraining run spends outside its updates (tokenizer, packing, evaluations:
``--fixed``, taken from the last full run's pretrain.json, ``seconds - train_seconds``). Prints a row
per shape and the largest that fits ``--budget`` seconds. Never asserted in CI.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

# (n_layer, n_head, n_embd): the default (3, 3, 96) and its neighbours in depth and width
SHAPES = [(2, 2, 64), (3, 3, 96), (4, 4, 96), (3, 4, 128), (4, 4, 128), (6, 6, 96), (6, 4, 128)]


def main() -> None:
    from datadiet.lm.hf import HFGPT
    from datadiet.lm.model import GPTConfig
    from datadiet.lm.pretrain import PretrainConfig

    base = PretrainConfig()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--budget", type=float, default=900.0)
    ap.add_argument("--fixed", type=float, default=60.0, help="seconds outside the updates (last run: 60)")
    args = ap.parse_args()
    g = torch.Generator().manual_seed(0)
    batch = torch.randint(0, base.vocab_size, (base.batch_size, base.context + 1), generator=g)
    mask = torch.ones(base.batch_size, base.context)
    print(f"pretraining sizes: vocab {base.vocab_size}, context {base.context}, batch {base.batch_size}, "
          f"{base.steps} steps; budget {args.budget:.0f} s, fixed {args.fixed:.0f} s")
    for threads in args.threads:
        torch.set_num_threads(threads)
        models = []
        for layers, heads, embd in SHAPES:
            torch.manual_seed(0)
            m = HFGPT(GPTConfig(base.vocab_size, base.context, layers, heads, embd))
            opt = torch.optim.AdamW(m.parameters(), lr=1e-3)
            models.append((m, opt))

        def step(m, opt):
            opt.zero_grad(set_to_none=True)
            _, loss = m(batch[:, :-1], batch[:, 1:], mask)
            loss.backward()
            opt.step()

        times = [[] for _ in SHAPES]
        for m, opt in models:
            for _ in range(2):
                step(m, opt)
        for _ in range(args.reps):
            for j, (m, opt) in enumerate(models):
                t = time.perf_counter()
                for _ in range(args.steps):
                    step(m, opt)
                times[j].append((time.perf_counter() - t) / args.steps)
        best = None
        for (layers, heads, embd), (m, _), ts in zip(SHAPES, models, times):
            per = statistics.median(ts)
            total = per * base.steps + args.fixed
            fits = total <= args.budget
            n_params = sum(p.numel() for p in m.parameters())
            if fits and (best is None or n_params > best[0]):
                best = (n_params, (layers, heads, embd))
            print(f"threads {threads}: layers {layers} heads {heads} embd {embd:4d}  {n_params:>9,} params  "
                  f"{1e3 * per:7.1f} ms/step  predicted {total:6.0f} s  {'fits' if fits else 'over'}")
        print(f"threads {threads}: largest that fits: {best[1] if best else None} ({best[0] if best else 0:,} params)")


if __name__ == "__main__":
    main()

"""Seconds and texts/s of each datadiet embedder on the ShareGPT V3 instruction texts.

Text = first human turn + "\\n" + first gpt reply (``datadiet.corpus.sharegpt.load_instructions``,
11,128 texts): exactly what ``datadiet select`` embeds when run without INPUT.

Rerun:
    .venv/bin/python benchmarks/embed_bench.py                      # all embedders, all texts
    .venv/bin/python benchmarks/embed_bench.py --embedders hashing static --n 2000
Times exclude the cache (it calls ``embed`` directly) and include model loading, reported apart.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np

from datadiet.embed import EMBEDDERS, get_embedder


def sharegpt_texts(n: int | None = None) -> list[str]:
    """The texts `datadiet select` embeds by default: instruction + newline + first reply."""
    from datadiet.corpus.sharegpt import load_instructions
    from datadiet.select.pipeline import BUILTIN_TEMPLATE

    return [BUILTIN_TEMPLATE.format_map(r) for r in load_instructions()[:n]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=None, help="use only the first N texts (default: all)")
    ap.add_argument("--embedders", nargs="+", default=list(EMBEDDERS), choices=EMBEDDERS)
    ap.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = ap.parse_args()

    t0 = time.perf_counter()
    texts = sharegpt_texts(args.n)
    chars = sum(map(len, texts))
    print(f"{len(texts)} texts, {chars / len(texts):.0f} chars mean, loaded in {time.perf_counter() - t0:.1f}s; "
          f"{os.cpu_count()} cpus, {platform.processor() or platform.machine()}")
    rows = []
    for name in args.embedders:
        emb = get_embedder(name)
        t = time.perf_counter()
        if hasattr(emb, "_load"):
            emb._load()  # model loading, timed apart from embedding
        load_s = time.perf_counter() - t
        t = time.perf_counter()
        X = emb.embed(texts)
        embed_s = time.perf_counter() - t
        zero = int((~X.any(axis=1)).sum())
        row = dict(embedder=name, n=len(texts), dim=X.shape[1], load_s=round(load_s, 2),
                   embed_s=round(embed_s, 2), texts_per_s=round(len(texts) / embed_s, 1), zero_rows=zero)
        rows.append(row)
        print(f"{name:9s} dim={X.shape[1]:4d} load {load_s:6.2f}s  embed {embed_s:8.2f}s  "
              f"{len(texts) / embed_s:9.1f} texts/s  zero rows {zero}", flush=True)
        assert X.dtype == np.float32 and X.shape[0] == len(texts)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(rows, fh, indent=2)


if __name__ == "__main__":
    main()

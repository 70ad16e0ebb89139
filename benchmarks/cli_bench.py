"""`datadiet select` as a whole process: wall time and peak resident memory, measured by /usr/bin/time -v.

    python benchmarks/cli_bench.py                 # every case below; prints one line per case

Cases (the targets of issue 15, item 7, on 2 cores): a 6-row .npy and 6 texts with --embedder hashing
(small jobs: start-up must stay under 1.5 s wall, and no torch import unless a torch path runs); the
static embedder's model load (reported); and `select X.npy -k 3000` on a 200k x 128 float32 matrix
(peak resident memory <= 2x the matrix + 300 MB). Each case runs in a fresh process; the numbers
are printed, never asserted.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DATADIET = [sys.executable, "-m", "datadiet.cli"]


def measure(args: list[str], env: dict | None = None) -> tuple[float, int, str]:
    """(wall seconds, peak RSS bytes, stderr) of one process under /usr/bin/time -v."""
    proc = subprocess.run(["/usr/bin/time", "-v", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{proc.stderr[-2000:]}")
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)", proc.stderr)
    h, m, s = (float(g) if g else 0.0 for g in wall.groups())
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1)) * 1024
    return 3600 * h + 60 * m + s, rss, proc.stderr


def imports_torch(args: list[str]) -> bool:
    """Whether the same command imports torch (python -X importtime lists every import)."""
    proc = subprocess.run([sys.executable, "-X", "importtime", *args[1:]], capture_output=True, text=True)
    return bool(re.search(r"\|\s+torch$", proc.stderr, re.M))


def main() -> None:
    print(f"datadiet select, whole process under /usr/bin/time -v; {os.cpu_count()} cpus, python "
          f"{sys.version.split()[0]}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        env = {"DATADIET_CACHE": str(tmp / "cache")}
        np.save(tmp / "six.npy", np.random.default_rng(0).standard_normal((6, 8)).astype(np.float32))
        texts = ["the cat sat", "a dog ran", "stock markets fell", "quantum fields", "lemon cake", "rain tomorrow"]
        (tmp / "six.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
        cases = [("6-row .npy, -k 3", [*DATADIET, "select", str(tmp / "six.npy"), "-k", "3", "-q"]),
                 ("6 texts, --embedder hashing, -k 3",
                  [*DATADIET, "select", str(tmp / "six.jsonl"), "-k", "3", "--embedder", "hashing", "-q"])]
        for label, args in cases:
            wall, rss, _ = measure(args, env)
            print(f"  {label:<44} wall {wall:5.2f} s   peak RSS {rss / 1e6:6.0f} MB   "
                  f"imports torch: {imports_torch(args)}")
        # the static model: its load time, from a cold process (the import and the model read)
        code = ("import time; t = time.perf_counter(); from datadiet.embed import get_embedder; "
                "e = get_embedder('static'); e.embed(['warm up']); print(time.perf_counter() - t)")
        t = time.perf_counter()
        load = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                    env={**os.environ, **env}).stdout.split()[-1])
        print(f"  {'static embedder: import + model load + 1 text':<44} {load:5.2f} s "
              f"(process {time.perf_counter() - t:.2f} s)")
        X = np.random.default_rng(1).standard_normal((200_000, 128)).astype(np.float32)
        np.save(tmp / "big.npy", X)
        wall, rss, _ = measure([*DATADIET, "select", str(tmp / "big.npy"), "-k", "3000", "-q",
                                "--indices-out", str(tmp / "i.txt"), "--stats-out", str(tmp / "s.json")], env)
        limit = 2 * X.nbytes + 300e6
        print(f"  {'200k x 128 float32 .npy, -k 3000':<44} wall {wall:5.1f} s   peak RSS {rss / 1e6:6.0f} MB "
              f"= {rss / X.nbytes:.2f}x the matrix ({X.nbytes / 1e6:.0f} MB); target <= 2x + 300 MB = "
              f"{limit / 1e6:.0f} MB: {'met' if rss <= limit else 'NOT met'}")


if __name__ == "__main__":
    main()

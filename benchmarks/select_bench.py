"""Exact max-min selection: datadiet's default engine against the plain numpy loop, same process.

    python benchmarks/select_bench.py --case sphere --n 1000000 --d 384 --k 10000       # the scale target
    python benchmarks/select_bench.py --case components --n 200000 --d 384 --k 4000     # 1,000 tight components
    python benchmarks/select_bench.py --case real --k 1000 10000                        # real text embeddings
    python benchmarks/select_bench.py --case small                                      # below 50k rows

Data: ``sphere`` clustered unit vectors (100 Gaussian components on the sphere, spread 0.35);
``components`` 1,000 tight components (noise 0.35/sqrt(d) around random unit centers), where pruning
has little to skip; ``real`` static (model2vec) embeddings of >= 100k chunks of ~400 bytes of the
built-in corpus (``datadiet corpus build``; embedded once, then read from datadiet's embedding cache);
``small`` the sizes below 50k rows where ``auto`` runs the plain scan with certified picks (the
ShareGPT static embeddings, k = 1,000 and half; 40k x 384; 20k x 128 with k = 5,000).
Cosine, float32 working rows. The plain loop is run to k (never extrapolated), in the same process,
before datadiet; the ``small`` rows take the least time of 3-5 interleaved runs of each (on a shared
2-core machine a single run of a fraction of a second varies by +-30%); "leaves the exact order" is the first pick where the float32 loop's choice differs
from datadiet's, and the referee (exact rational arithmetic, in this file) says which is farther.
Peak memory: tracemalloc peak of datadiet's call / bytes of the matrix (a separate short call, as
memory is reached in the first picks). Printed, never asserted.
--peers (after `pip install -r benchmarks/requirements-peers.txt`) also runs, where N x N fits in ~8 GB,
submodlib's DisparityMin (greedy max-min, the like-for-like peer) and apricot's FacilityLocation (another
objective: time and memory only), each in a fresh process with its peak RSS (benchmarks/_peers.py).

    OPENBLAS_NUM_THREADS=1 python benchmarks/select_bench.py --case sphere --n 10000 20000 --k 1000 --peers
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
import tracemalloc
from fractions import Fraction

import numpy as np

from datadiet.select import maxmin
from datadiet.select.points import as_points


def sphere_mixture(n: int, d: int, clusters: int, seed: int = 0, spread: float = 0.35) -> np.ndarray:
    """Unit vectors around `clusters` random directions (angular spread ~ `spread` radians)."""
    rng = np.random.default_rng(seed)
    C = rng.standard_normal((clusters, d)).astype(np.float32)
    C /= np.linalg.norm(C, axis=1, keepdims=True)
    X = np.empty((n, d), dtype=np.float32)
    for s in range(0, n, 65536):  # blockwise: the data itself is the only n x d array
        m = min(65536, n - s)
        X[s : s + m] = C[rng.integers(clusters, size=m)]
        X[s : s + m] += (spread / np.sqrt(d)) * rng.standard_normal((m, d), dtype=np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X


def components(n: int, d: int, count: int = 1000, seed: int = 0) -> np.ndarray:
    """`count` tight components: unit centers plus noise of 0.35/sqrt(d) per coordinate, normalized."""
    rng = np.random.default_rng(seed)
    C = rng.standard_normal((count, d)).astype(np.float32)
    C /= np.linalg.norm(C, axis=1, keepdims=True)
    X = np.empty((n, d), dtype=np.float32)
    for s in range(0, n, 65536):
        m = min(65536, n - s)
        X[s : s + m] = C[rng.integers(count, size=m)]
        X[s : s + m] += (0.35 / np.sqrt(d)) * rng.standard_normal((m, d), dtype=np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X


def plain_numpy(X: np.ndarray, k: int, start: int) -> np.ndarray:
    """The textbook incremental loop: one mat-vec, a min and an argmax over all n per step (float32)."""
    score = -(X @ X[start])
    score[start] = -np.inf
    out = [start]
    buf = np.empty_like(score)
    for _ in range(k - 1):
        i = int(np.argmax(score))
        out.append(i)
        np.matmul(X, X[i], out=buf)
        np.negative(buf, out=buf)
        np.minimum(score, buf, out=score)
        score[i] = -np.inf
    return np.asarray(out)


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def peak_bytes(fn) -> int:
    """tracemalloc peak of a call (run separately: tracing slows the many small allocations)."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def run(X: np.ndarray, k: int, label: str, peers: bool, repeat: int = 1) -> None:
    n, d = X.shape
    stats: dict = {}
    tb = to = np.inf
    for _ in range(repeat):  # interleaved; the least of each (timeit's rule: noise only adds time)
        t, base = timed(lambda: plain_numpy(X, k, 0))
        tb = min(tb, t)
        t, ours = timed(lambda: maxmin(X, k, start=0, stats=stats))
        to = min(to, t)
    po = peak_bytes(lambda: maxmin(X, min(k, 300), start=0))
    same = np.array_equal(base, ours.indices)
    ratio = tb / to
    print(f"{label}: N={n} d={d} k={k}" + (f" (least of {repeat} interleaved runs each)" if repeat > 1 else ""))
    print(f"  plain numpy loop  {tb:9.2f} s")
    print(f"  datadiet default  {to:9.2f} s  ({stats['engine']})   peak {po / X.nbytes:.2f}x matrix   "
          f"speed-up {ratio:6.{1 if ratio >= 1 else 2}f}x   cost {to / tb:5.2f}x the plain loop")
    if not same:
        print("  " + _referee(X, base, ours.indices))
    else:
        print("  the plain loop's picks are the exact ones here")
    if stats.get("engine") == "pruned":
        print(f"  scores recomputed: {100 * stats['examined'] / (stats['steps'] * n):.1f}% of N*k "
              f"(rows read in blocks: {100 * stats['computed'] / (stats['steps'] * n):.1f}%)")
    if peers:
        _peers(X, k)


def _referee(X: np.ndarray, base: np.ndarray, ours: np.ndarray,
             names: tuple[str, str] = ("plain", "datadiet")) -> str:
    """At the first differing pick, which of the two is farther from the shared prefix, exactly?

    Judged on datadiet's working rows (the input normalized once more, correctly rounded) in rational
    arithmetic: squared chords |x - c|^2 as Fractions of the float32 values."""
    j = int(np.flatnonzero(base != ours)[0])
    W = as_points(X, "cosine").rows

    def exact(i):
        x = [Fraction(float(v)) for v in W[i]]
        return min(sum((a - Fraction(float(b))) ** 2 for a, b in zip(x, W[c])) for c in ours[:j])

    b, o = names
    d = {b: exact(base[j]), o: exact(ours[j])}
    winner = o if d[o] > d[b] else b if d[b] > d[o] else "tie"
    return (f"leaves the exact order at pick {j}: cosine distances {b} {float(d[b]) / 2:.12f}, "
            f"{o} {float(d[o]) / 2:.12f} -> exact farthest: {winner}")


def _peers(X: np.ndarray, k: int) -> None:
    """Time datadiet and the PyPI peers on X, each in a fresh process; compare the max-min peer's selection."""
    import _peers as peers  # benchmarks/ is on sys.path when this script runs

    n = X.shape[0]
    print(f"  peers, each in a fresh process (OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}, "
          f"{os.cpu_count()} cores); peak = RSS the call adds to the loaded matrix ({X.nbytes / 1e6:.0f} MB)")
    version = peers.version("datadiet")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "X.npy")
        np.save(path, X)
        sub = None
        why = peers.skip_reason("submodlib", n)
        if why is None:
            sub = peers.measure("submodlib", path, k, 0)
        # submodlib's first pick is fixed by its C++ set's iteration order: start datadiet there too
        start = int(sub.indices[0]) if sub is not None else 0
        ours = peers.measure("datadiet", path, k, start)  # the default backend: the time ratios' reference
        exact = peers.measure("datadiet-pruned", path, k, start)  # certified picks: the selections' reference
        _peer_line(f"datadiet {version} maxmin, default backend (start={start})", ours, X, ours)
        _peer_line(f"datadiet {version} maxmin, pruned (certified)", exact, X, ours)
        if sub is None:
            print(f"    submodlib DisparityMin: skipped, {why}")
        else:
            _peer_line(f"submodlib-py {peers.version('submodlib-py')} DisparityMin, NaiveGreedy", sub, X, ours,
                       exact=exact)
        why = peers.skip_reason("apricot", n)
        if why is not None:
            print(f"    apricot FacilityLocation: skipped, {why}")
        else:
            apr = peers.measure("apricot", path, k, 0)
            _peer_line(f"apricot-select {peers.version('apricot-select')} FacilityLocation (not max-min)", apr, X,
                       ours)
            print(f"      (apricot compiles its numba kernels on every fit: a warm 200-row fit takes "
                  f"{apr.warmup_seconds:.1f} s)")


def _peer_line(name: str, m, X: np.ndarray, ours, exact=None) -> None:
    """One run: seconds (N x N kernel build), peak RSS, h_min, time vs datadiet's default; picks vs `exact`."""
    from datadiet.select.metrics import h_min

    h = h_min(X, m.indices)
    setup = f" (kernel {m.setup_seconds:.1f} s)" if m.setup_seconds else ""
    line = (f"    {name:<54} {m.seconds:9.2f} s{setup}   peak {m.peak_rss_bytes / 1e6:7.0f} MB"
            f" ({m.peak_rss_bytes / X.nbytes:5.1f}x matrix)   h_min {h:.10f}")
    if m is not ours:
        line += f"   time {m.seconds / ours.seconds:.1f}x datadiet"
    if exact is not None:
        same_order = np.array_equal(m.indices, exact.indices)
        same_set = set(m.indices.tolist()) == set(exact.indices.tolist())
        line += (f"; vs certified: same h_min {h == h_min(X, exact.indices)}, same set {same_set}, "
                 f"same order {same_order}")
        if not same_set:  # ties between bit-identical rows: datadiet keeps the lowest index, a peer may not
            rep = as_points(X, "cosine").duplicates.rep
            line += f", same set with duplicates merged {set(rep[m.indices]) == set(rep[exact.indices])}"
        if not same_order:
            line += " " + _referee(X, m.indices, exact.indices, ("peer", "datadiet"))
    print(line)


def sharegpt() -> np.ndarray:
    from datadiet.select import pipeline

    X, _ = pipeline.embed_dataset(pipeline.builtin_dataset(), pipeline.SelectConfig())
    return np.asarray(X, dtype=np.float32)


def corpus_chunks(target: int = 100_000) -> np.ndarray:
    """Static embeddings of >= `target` ~400-byte chunks of every built domain of the corpus (cached)."""
    from datadiet.corpus import chunk_text, load_domain, read_manifest
    from datadiet.embed import embed_cached, get_embedder

    texts = []
    for entry in read_manifest()["domains"]:
        for rec in load_domain(entry["domain"]):
            texts.extend(chunk_text(rec["text"], chunk_bytes=400))
    if len(texts) < target:
        raise SystemExit(f"only {len(texts)} chunks in the built corpus; run `datadiet corpus build` with every domain")
    t = time.perf_counter()
    X = embed_cached(get_embedder("static"), texts)
    print(f"corpus: {len(texts)} chunks, static embeddings {X.shape} (embedded or loaded in {time.perf_counter() - t:.1f} s)")
    return X


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--case", choices=["sphere", "components", "real", "small"], default="sphere")
    ap.add_argument("--n", type=int, nargs="+", default=[100_000])
    ap.add_argument("--d", type=int, nargs="+", default=[384])
    ap.add_argument("--k", type=int, nargs="+", default=[1000])
    ap.add_argument("--peers", action="store_true")
    args = ap.parse_args()
    print(f"select benchmark ({args.case}), float32 cosine, {platform.machine()}, {os.cpu_count()} cpus, "
          f"python {platform.python_version()}, numpy {np.__version__}")
    if args.case == "small":
        X = sharegpt()
        for k in (1000, X.shape[0] // 2):
            run(X, k, "ShareGPT static embeddings", args.peers, repeat=5)
        run(sphere_mixture(40_000, 384, 100), 1000, "sphere mixture", args.peers, repeat=3)
        run(sphere_mixture(20_000, 128, 100), 5000, "sphere mixture", args.peers, repeat=3)
        return
    if args.case == "real":
        X = corpus_chunks()
        for k in args.k:
            run(X, k, "corpus chunks, static embeddings", args.peers)
        return
    for n in args.n:
        for d in args.d:
            X = sphere_mixture(n, d, 100) if args.case == "sphere" else components(n, d)
            for k in args.k:
                run(X, k, "sphere mixture (100 components)" if args.case == "sphere" else "1,000 tight components",
                    args.peers)
            del X


if __name__ == "__main__":
    main()

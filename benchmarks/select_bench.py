"""Exact max-min selection at scale: datadiet's pruned engine against the plain numpy loop, same process.

    python benchmarks/select_bench.py --n 100000 --d 384 --k 1000             # one setting
    python benchmarks/select_bench.py --n 100000 1000000 --d 384 768 --k 1000 10000 --baseline-k 1000
    python benchmarks/select_bench.py --n 0 --real --k 1000 5564              # static embeddings of ShareGPT
    python benchmarks/select_bench.py --n 100000 --real --k 1000 --plot docs/figures/select_pruning.png

Data: clustered unit vectors (a mixture of Gaussians on the sphere), cosine distance, float32.
--baseline-k caps the plain loop's steps: its time for k is then extrapolated linearly in k
(each of its steps costs the same full pass) and marked "extrap."; indices are compared on the
common prefix. Peak memory: tracemalloc peak of a 300-pick call / bytes of the embedding matrix
(memory is O(n d + k d), reached in the first picks; timings are taken without tracing).
--peers (after `pip install -r benchmarks/requirements-peers.txt`) also runs, where N x N fits in ~8 GB,
submodlib's DisparityMin (greedy max-min, the like-for-like peer: same h_min and same picks checked) and
apricot's FacilityLocation (another objective: time and memory only), each against datadiet in a fresh
process with its peak RSS (benchmarks/_peers.py). Printed, not asserted.

    OPENBLAS_NUM_THREADS=1 python benchmarks/select_bench.py --n 10000 20000 --d 384 --k 1000 --peers
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
import tracemalloc

import numpy as np

from datadiet.select import maxmin
from datadiet.select._common import as_points, duplicate_representatives


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


def plain_numpy(X: np.ndarray, k: int, start: int) -> np.ndarray:
    """The textbook incremental loop: one mat-vec, a min and an argmax over all n per step."""
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


_BASELINE: dict = {}
_CURVES: dict = {}


def plot_curves(path: str) -> None:
    """Share of the N points re-scored per pick, against the pick number (from the examined counter)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4), dpi=100)
    for name, pts in _CURVES.items():
        n = int(name.split("N=")[1].split(",")[0])
        steps = np.array([p[0] for p in pts], dtype=float)
        ex = np.array([p[1] for p in pts], dtype=float)
        per = np.diff(ex) / np.diff(steps) / n
        ax.plot(steps[1:], 100 * per, label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("pick number")
    ax.set_ylabel("% of points re-scored per pick")
    ax.set_title("Exact triangle-inequality pruning (plain engine: 100%)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)


def run(X: np.ndarray, k: int, baseline_k: int | None, label: str, peers: bool) -> None:
    n, d = X.shape
    nbytes = X.nbytes
    kb = k if baseline_k is None else min(k, baseline_k)
    key = (id(X), kb)
    if key not in _BASELINE:  # one baseline run per matrix serves every k
        _BASELINE.clear()
        _BASELINE[key] = (timed(lambda: plain_numpy(X, kb, 0)), peak_bytes(lambda: plain_numpy(X, min(kb, 300), 0)))
    (tb, base), pb = _BASELINE[key]
    tb_k = tb * (k - 1) / max(1, kb - 1)
    stats: dict = {}
    trace: list[tuple[int, float]] = []

    def on_progress(done):
        st = stats.get("state")
        if st is not None and st.steps:
            trace.append((done, st.examined / (st.steps * n)))
            _CURVES.setdefault(f"{label}, N={n}, d={d}, k={k}", []).append((done, st.examined))

    to, ours = timed(lambda: maxmin(X, k, start=0, backend="pruned", stats=stats, progress=on_progress))
    # memory is O(n d + k d) and reached in the first steps: measured on a short run of each
    km = min(k, 300)
    po = peak_bytes(lambda: maxmin(X, km, start=0, backend="pruned"))
    same = np.array_equal(base, ours.indices[:kb])
    first = "" if same else " " + _referee(X, base, ours.indices[:kb])
    print(f"{label}: N={n} d={d} k={k}")
    print(f"  plain numpy loop  {tb_k:9.1f} s{' extrap. from k=' + str(kb) if kb < k else ''}"
          f"   peak {pb / nbytes:.2f}x matrix")
    ratio = tb_k / to
    print(f"  datadiet pruned   {to:9.1f} s   peak {po / nbytes:.2f}x matrix   speed-up {ratio:6.{1 if ratio >= 1 else 2}f}x   "
          f"same indices (first {kb}): {same}{first}")
    frac = stats["examined"] / (stats["steps"] * n)
    rows = stats["computed"] / (stats["steps"] * n)
    marks = [trace[int(len(trace) * q) - 1] for q in (0.1, 0.5, 1.0)] if trace else []
    print(f"  scores recomputed: {100 * frac:.1f}% of N*k (rows read in blocks: {100 * rows:.1f}%); "
          "cumulative at k = " + ", ".join(f"{kk}: {100 * f:.1f}%" for kk, f in marks))
    if peers:
        _peers(X, k)


def _referee(X: np.ndarray, base: np.ndarray, ours: np.ndarray,
             names: tuple[str, str] = ("plain", "datadiet")) -> str:
    """At the first differing pick, which one is farther from the shared prefix in float64?

    Judged on the engine's float32 working rows (the input renormalized once more, which moves
    each row by ~1e-7), the rows that datadiet's certified picks are exact for.
    """
    j = int(np.flatnonzero(base != ours)[0])
    W = as_points(X, "cosine")
    C = W[ours[:j]].astype(np.float64)
    b, o = names
    d = {name: 1 - (C @ W[i].astype(np.float64)).max() for name, i in ((b, base[j]), (o, ours[j]))}
    winner = o if d[o] > d[b] else b if d[b] > d[o] else "tie"
    return (f"(first differs at pick {j}: float64 distances {b} {d[b]:.10f}, {o} {d[o]:.10f}"
            f" -> exact farthest: {winner})")


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
            rep = duplicate_representatives(X)
            line += f", same set with duplicates merged {set(rep[m.indices]) == set(rep[exact.indices])}"
        if not same_order:
            line += " " + _referee(X, m.indices, exact.indices, ("peer", "datadiet"))
    print(line)


def real_embeddings() -> np.ndarray:
    from datadiet.select import pipeline

    X, info = pipeline.embed_dataset(pipeline.builtin_dataset(), pipeline.SelectConfig())
    return as_points(X, "cosine")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, nargs="+", default=[100_000])
    ap.add_argument("--d", type=int, nargs="+", default=[384])
    ap.add_argument("--k", type=int, nargs="+", default=[1000])
    ap.add_argument("--clusters", type=int, default=100)
    ap.add_argument("--baseline-k", type=int, default=None, help="cap the plain loop's steps; extrapolate")
    ap.add_argument("--real", action="store_true", help="also static embeddings of the built-in ShareGPT data "
                    "(--n 0: only those)")
    ap.add_argument("--peers", action="store_true")
    ap.add_argument("--plot", default=None, help="PNG of the pruning rate per pick against k")
    args = ap.parse_args()
    print(f"select benchmark, float32 cosine, {platform.machine()}, python {platform.python_version()}, "
          f"numpy {np.__version__}")
    if args.real:
        X = real_embeddings()
        for k in args.k:
            run(X, min(k, X.shape[0]), args.baseline_k, "ShareGPT static embeddings", args.peers)
    for n in [n for n in args.n if n > 0]:
        for d in args.d:
            X = sphere_mixture(n, d, args.clusters)
            for k in args.k:
                run(X, k, args.baseline_k, f"sphere mixture ({args.clusters} clusters)", args.peers)
            del X
    if args.plot:
        plot_curves(args.plot)


if __name__ == "__main__":
    main()

"""PyPI peers of datadiet's exact max-min selection, each timed in a fresh process (used by select_bench --peers).

    pip install -r benchmarks/requirements-peers.txt      # apricot-select, submodlib-py
    python benchmarks/select_bench.py --n 10000 --d 384 --k 1000 --peers

Peers:
- submodlib `DisparityMinFunction` + NaiveGreedy: greedy max-min dispersion, the like-for-like peer.
  It takes a dense N x N similarity in [0, 1]; we pass s = (1 + cos) / 2, so its distance 1 - s is half
  the cosine distance and the greedy order is the same. Its gain min(current h_min, d(x, S)) - h_min has the
  farthest point as argmax (no remaining point is farther than the last pick was), so this is farthest-first;
  it starts from the first element of its std::unordered_set (row N-1 here) and breaks exact ties in that
  order, where datadiet takes the lowest index. Its Python wrapper turns the kernel into nested Python lists
  (`sijs.tolist()`) before the C++ copy: ~52 bytes per kernel entry, which bounds N. Each greedy step scans
  the whole chosen set for each candidate: O(N k^2) time.
- apricot `FacilityLocationSelection`: a different (submodular, representativeness) objective, the nearest
  peer apricot has; it has no max-min/dispersion objective. Time and memory only.

Memory: tracemalloc does not see native allocations, so each run happens in a new `spawn` process that
loads the matrix from a .npy file and runs a tiny warm-up; then the RSS high-water mark is reset to the
current RSS (/proc/self/clear_refs, Linux) and the reported figure is the high-water mark after the call
minus that RSS: the memory the call added on top of the loaded matrix.
"""

from __future__ import annotations

import multiprocessing
import time
from dataclasses import dataclass
from importlib import metadata

import numpy as np

# Peak memory per N x N kernel entry, measured at N=10k (RSS added by the call / N^2). submodlib: float32
# kernel (4) + the nested Python floats of .tolist() (24 + 8 pointer, plus list slack) + its C++ vector<float>
# (4); apricot: sklearn's float32 distances and the float64 copy its numba kernels take (4 + 8).
_BYTES_PER_ENTRY = {"submodlib": 52, "apricot": 12}
MEMORY_CAP = 8e9  # skip a peer whose N x N structures would pass this (the machine is shared)


@dataclass(frozen=True)
class Measured:
    seconds: float
    peak_rss_bytes: int  # peak RSS added by the call
    warmup_seconds: float  # a second call on 200 rows, k=10: fixed costs such as apricot's per-fit numba compile
    setup_seconds: float  # part of `seconds` spent before the greedy loop (building the N x N kernel), 0 if none
    indices: np.ndarray  # selection order


def version(dist: str) -> str | None:
    """Installed version of a distribution, None if absent."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def skip_reason(peer: str, n: int) -> str | None:
    """Why `peer` cannot run on n rows here (not installed / N x N too large), else None."""
    dist = {"submodlib": "submodlib-py", "apricot": "apricot-select"}[peer]
    if version(dist) is None:
        return "not installed (pip install -r benchmarks/requirements-peers.txt)"
    need = _BYTES_PER_ENTRY[peer] * float(n) ** 2
    if need > MEMORY_CAP:
        return f"its N x N structures need ~{need / 1e9:.0f} GB (> {MEMORY_CAP / 1e9:.0f} GB cap)"
    return None


def measure(peer: str, path: str, k: int, start: int) -> Measured:
    """Run one peer on the .npy matrix at `path` in a fresh interpreter; time and peak RSS of the call."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(_child, (peer, path, k, start))


def _child(peer: str, path: str, k: int, start: int) -> Measured:
    X = np.load(path)
    fn = _RUNNERS[peer]
    fn(X[:200], 10, 0)  # imports and first-call costs (numba's cold start) stay out of the measured call
    t = time.perf_counter()
    fn(X[:200], 10, 0)  # what is left is the fixed cost every call pays
    warmup = time.perf_counter() - t
    base = _reset_peak_rss()
    t = time.perf_counter()
    idx, setup = fn(X, k, start)
    seconds = time.perf_counter() - t
    peak = _peak_rss() - base
    return Measured(seconds, peak, warmup, setup, np.asarray(idx, dtype=np.int64))


def _status_bytes(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024  # reported in kB
    raise RuntimeError(f"{field} missing from /proc/self/status")


def _reset_peak_rss() -> int:
    """Reset the RSS high-water mark to the current RSS (Linux >= 4.0) and return that RSS in bytes.

    Without the reset, getrusage's ru_maxrss keeps the peak of imports and loading, and a call that stays
    below it would read as using nothing.
    """
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return _status_bytes("VmRSS")


def _peak_rss() -> int:
    return _status_bytes("VmHWM")


def _datadiet(X: np.ndarray, k: int, start: int) -> tuple[np.ndarray, float]:
    from datadiet.select import maxmin

    # what a user gets from maxmin(X, k): "auto" is the plain scan below 50k rows, pruned above (no GPU here)
    return maxmin(X, k, start=start).indices, 0.0


def _datadiet_pruned(X: np.ndarray, k: int, start: int) -> tuple[np.ndarray, float]:
    from datadiet.select import maxmin

    # certified picks (exact-arithmetic farthest point): the reference a peer's selection is checked against
    return maxmin(X, k, start=start, backend="pruned").indices, 0.0


def _submodlib(X: np.ndarray, k: int, start: int) -> tuple[np.ndarray, float]:
    """Greedy max-min by submodlib. `start` is ignored: its first pick is fixed by its own iteration order."""
    from submodlib import DisparityMinFunction

    t = time.perf_counter()
    S = X @ X.T  # rows are unit vectors: cosine similarity
    S += 1.0
    S *= 0.5
    np.clip(S, 0.0, 1.0, out=S)  # the wrapper demands entries in [0, 1]; float32 rounding can step out
    f = DisparityMinFunction(n=X.shape[0], mode="dense", sijs=S)
    del S  # the wrapper keeps its own copies
    setup = time.perf_counter() - t
    # DisparityMin is not submodular: NaiveGreedy is the optimizer it documents (Lazy ones are refused)
    picks = f.maximize(budget=k, optimizer="NaiveGreedy", show_progress=False)
    return np.array([i for i, _ in picks]), setup


def _apricot(X: np.ndarray, k: int, start: int) -> tuple[np.ndarray, float]:
    from apricot import FacilityLocationSelection

    # the kernel is built inside fit(): no separate setup time
    return FacilityLocationSelection(k, metric="cosine").fit(X).ranking, 0.0


_RUNNERS = {"datadiet": _datadiet, "datadiet-pruned": _datadiet_pruned, "submodlib": _submodlib, "apricot": _apricot}

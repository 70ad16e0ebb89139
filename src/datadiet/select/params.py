"""Every parameter of the selection engine, its range declared once and checked in one place.

The library (``maxmin``, ``pipeline.run``) and the CLI raise these same ``InputError`` messages,
which name the value and the fix. ``check_engine`` validates a whole combination before any work.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError


@dataclass(frozen=True)
class Choice:
    """A parameter that takes one of a few named values."""

    name: str
    values: tuple[str, ...]
    hint: str = ""

    def check(self, value) -> str:
        if not isinstance(value, str) or value not in self.values:
            raise InputError(f"{self.name}={value!r} is not supported; use one of: {', '.join(self.values)}"
                             + (f" ({self.hint})" if self.hint else ""))
        return value


BACKEND = Choice("backend", ("auto", "numpy", "pruned", "torch"))
METRIC = Choice("metric", ("cosine", "euclidean"))
PRECISION = Choice("precision", ("float32", "float16", "bfloat16"), "row storage of backend='torch'")
DTYPES = ("float32", "float64")
# "auto" prunes from this many rows and dimensions on: below them one plain pass costs less than the
# cell bookkeeping (measured: benchmarks/select_bench.py, README "Selection at scale"; at d = 64 the
# scan is cheap and real text embeddings leave pruning little to skip).
PRUNE_FROM = 50_000
PRUNE_FROM_DIM = 128


def working_dtype(dtype, input_dtype) -> np.dtype:
    """The working precision: float32 or float64; None keeps float64 input in float64, else float32."""
    if dtype is None:
        return np.dtype(np.float64) if np.dtype(input_dtype) == np.float64 else np.dtype(np.float32)
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt.name not in DTYPES:
        raise InputError(f"dtype={dtype!r} is not a working precision; use one of: {', '.join(DTYPES)} "
                         "(other inputs are converted; half-precision storage is precision= on backend='torch')")
    return dt


def check_k(k, available: int, flag: str = "k") -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise InputError(f"{flag} must be an integer, got {k!r}")
    k = int(k)
    if k < 1:
        raise InputError(f"{flag}={k} must be at least 1")
    if k > available:
        raise InputError(f"{flag}={k} is larger than the number of rows available ({available}); "
                         f"choose {flag} <= {available}")
    return k


def check_prior(already_selected, n: int) -> np.ndarray:
    if already_selected is None:
        return np.empty(0, dtype=np.int64)
    prior = np.asarray(already_selected)
    if prior.size == 0:
        return np.empty(0, dtype=np.int64)
    if prior.ndim != 1 or not np.issubdtype(prior.dtype, np.integer):
        raise InputError("already_selected must be a 1-D sequence of integer row indices")
    bad = prior[(prior < 0) | (prior >= n)]
    if bad.size:
        raise InputError(f"already_selected holds {int(bad[0])}, out of range 0..{n - 1}")
    if np.unique(prior).size != prior.size:
        raise InputError("already_selected holds repeated indices; pass each row once")
    return prior.astype(np.int64)


def check_start(start, n: int, prior: np.ndarray | None = None, flag: str = "start") -> int | None:
    if start is None:
        return None
    if isinstance(start, bool) or not isinstance(start, (int, np.integer)):
        raise InputError(f"{flag} must be a row index (an integer), got {start!r}")
    start = int(start)
    if not 0 <= start < n:
        raise InputError(f"{flag}={start} is out of range; choose a row index in 0..{n - 1}")
    if prior is not None and start in set(prior.tolist()):
        raise InputError(f"{flag}={start} is already in already_selected; pick another row")
    return start


def check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def check_checkpoint(checkpoint) -> Path | None:
    if checkpoint is None:
        return None
    path = Path(checkpoint)
    if path.exists() and not path.is_dir():
        raise InputError(f"checkpoint {path} is a file; give a folder")
    probe = path if path.exists() else next((p for p in path.parents if p.exists()), Path("."))
    if not os.access(probe, os.W_OK | os.X_OK):
        raise InputError(f"checkpoint {path}: {probe} is not writable; choose another folder")
    return path


@dataclass(frozen=True)
class Engine:
    """A validated engine choice (backend resolved once the size is known, see ``resolve``)."""

    backend: str = "auto"
    metric: str = "cosine"
    precision: str = "float32"
    dtype: object = None
    device: str | None = None
    distributed: bool = False

    def resolve(self, n: int, d: int = PRUNE_FROM_DIM) -> str:
        """The concrete engine for n rows of d dimensions: "numpy" | "pruned" | "torch".

        auto: the plain scan below PRUNE_FROM rows (a GPU's start-up costs more than such a scan, and
        torch is not even imported); from there torch on a CUDA device, else the pruned engine from
        PRUNE_FROM_DIM dimensions on and the plain scan below."""
        if self.backend != "auto":
            return self.backend
        if self.device is not None:
            return "torch"
        if n < PRUNE_FROM or self.distributed:
            return "numpy"
        if _cuda_available():
            return "torch"
        return "pruned" if d >= PRUNE_FROM_DIM else "numpy"


def check_engine(backend: str = "auto", metric: str = "cosine", precision: str = "float32", dtype=None,
                 device: str | None = None, distributed: bool = False, checkpoint=None) -> Engine:
    """Validate the engine options together; every refused combination says which option to change."""
    BACKEND.check(backend)
    METRIC.check(metric)
    PRECISION.check(precision)
    if dtype is not None:
        working_dtype(dtype, np.float32)
    if precision != "float32" and backend not in ("torch", "auto"):
        raise InputError(f"precision={precision!r} needs backend='torch'; float32 is the only storage of "
                         f"backend={backend!r}")
    if precision != "float32" and dtype is not None and np.dtype(dtype) == np.float64:
        raise InputError(f"precision={precision!r} stores float32 working rows in half precision; "
                         "drop dtype=float64 or use precision='float32'")
    if device is not None:
        if backend not in ("torch", "auto"):
            raise InputError(f"device={device!r} is a torch device; it needs backend='torch' "
                             f"(backend={backend!r} runs on the CPU)")
        check_device(device)
    if distributed:
        if backend not in ("auto", "numpy"):
            raise InputError(f"distributed runs its own row-sharded scan on every rank; drop backend={backend!r}")
        if precision != "float32" or device is not None:
            raise InputError("distributed keeps float32 rows in host memory; drop precision/device")
        if checkpoint is not None:
            raise InputError("checkpoint is not supported with distributed yet; drop one of them")
    check_checkpoint(checkpoint)
    if precision != "float32" and backend == "auto":
        backend = "torch"
    return Engine(backend, metric, precision, dtype, device, distributed)


def check_device(device: str) -> None:
    try:
        import torch
    except ImportError:
        return  # the torch engine reports the missing extra when it starts
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise InputError(f"device={device!r} is not a torch device ({exc}); use 'cpu' or 'cuda'") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device={device!r}: no CUDA device is available here; use device='cpu'")


def _cuda_available() -> bool:
    """Whether torch sees a CUDA device, importing torch (seconds) only where one can exist: a CPU
    build of torch ("+cpu") or a Linux host without an NVIDIA/ROCm device node answers no at once."""
    import sys

    if "torch" not in sys.modules:
        from importlib.metadata import PackageNotFoundError, version

        try:
            if "+cpu" in version("torch"):
                return False
        except PackageNotFoundError:
            return False
        if sys.platform.startswith("linux") and not any(
                os.path.exists(p) for p in ("/dev/nvidiactl", "/dev/nvidia0", "/dev/kfd")):
            return False
    import torch

    return bool(torch.cuda.is_available())

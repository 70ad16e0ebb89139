"""One BLAS thread inside an experiment's run(): on 2 shared cores, OpenBLAS's second thread spins and makes
small dense solves (kernel ridge on 1-2k rows) ~10x slower in CPU time (measured: 2.07 s vs 0.17 s)."""

from __future__ import annotations

import contextlib


def one_blas_thread():
    """A context manager limiting BLAS/OpenMP pools to one thread (threadpoolctl), or a no-op without it."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
        return contextlib.nullcontext()
    return threadpool_limits(limits=1)

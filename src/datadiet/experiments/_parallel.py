"""Independent experiment jobs on one spawned process per core.

Why processes, not threads: the jobs are many small torch ops (per-sample terms of a 10-unit network, a
sub-model's convolutions on 8-32 px images); two torch threads on one of them gain 1.1x (measured), two
single-threaded processes on two of them ~1.9x. Every job is seeded and runs single-threaded, so its result
does not depend on how many run at once or in which process.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context


def map_processes(fn, jobs: list[tuple], *, parallel: bool = True) -> list:
    """[fn(*job) for job in jobs], on up to one process per core (in this process when ``parallel`` is False or
    there is one job or one core). ``fn`` must be importable (a module-level function); jobs are handed out
    in the given order as processes free up, so put the longest first."""
    workers = min(len(jobs), os.cpu_count() or 1)
    if not parallel or workers <= 1:
        return [fn(*job) for job in jobs]
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        return list(pool.map(fn, *zip(*jobs)))

"""Dataset in, uniform subset out: read -> embed (cached) -> max-min select -> metrics -> files.

This is what `datadiet select` runs; the CLI only parses flags and draws progress bars.
Rerun: ``datadiet select data.jsonl -k 1000 --stats-out stats.json``.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .. import __version__
from ..errors import InputError
from ..io import Dataset, read_dataset, record_texts, write_json, write_lines, write_subset
from . import metrics
from .baselines import random_subset
from .maxmin import maxmin

logger = logging.getLogger(__name__)

# Measured on 2 cores (README, "Choosing the embedder"): the best embedder that finishes the
# quick start (17k ShareGPT pairs, k = half) in a few minutes.
DEFAULT_EMBEDDER = "static"
BUILTIN_TEMPLATE = "{instruction}\n{output}"


@dataclass(frozen=True)
class SelectConfig:
    """Everything that decides the subset (saved in stats.json so a run can be repeated)."""

    k: int | None = None  # None: half of the rows, as in the paper
    field: str | None = None
    template: str | None = None
    embedder: str = DEFAULT_EMBEDDER
    metric: str = "cosine"
    start: int | None = None
    seed: int = 0
    backend: str = "auto"
    precision: str = "float32"


@dataclass
class Outputs:
    out: Path | None = None
    indices_out: Path | None = None
    stats_out: Path | None = None
    plot: Path | None = None

    def paths(self) -> dict[str, Path]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass
class SelectionReport:
    indices: np.ndarray
    stats: dict
    written: dict[str, Path] = field(default_factory=dict)


def builtin_dataset() -> Dataset:
    """ShareGPT V3 (first human turn + first reply), the uniformity paper's kind of data."""
    from ..corpus.sharegpt import load_instructions

    records = load_instructions()
    lines = [json.dumps(r, ensure_ascii=False) for r in records]
    return Dataset(None, "jsonl", records=records,
                   extra={"lines": lines, "line_numbers": list(range(1, len(records) + 1)), "name": "sharegpt"})


def check_outputs(input_path: Path | None, outputs: Outputs) -> None:
    """Refuse any output that would overwrite the input (nothing the user gave is ever overwritten)."""
    if input_path is None:
        return
    src = os.path.realpath(input_path)
    flags = {"out": "--out", "indices_out": "--indices-out", "stats_out": "--stats-out", "plot": "--plot"}
    for name, path in outputs.paths().items():
        if os.path.realpath(path) == src:
            raise InputError(f"{flags[name]} {path} is the input file; write to a new path")


def resolve_k(k: int | None, n: int, where: str) -> int:
    if k is None:
        return max(1, n // 2)
    if k < 1:
        raise InputError(f"-k {k} must be at least 1")
    if k > n:
        raise InputError(f"-k {k} is larger than the number of rows ({n}) in {where}; choose k <= {n}")
    return k


def embed_dataset(ds: Dataset, config: SelectConfig, progress: Callable[[int, int], None] | None = None):
    """The embedding matrix of `ds`: the .npy itself, or texts embedded (cached on disk)."""
    if ds.embeddings is not None:
        if config.field or config.template:
            raise InputError(f"{ds.path}: holds embeddings; --field/--template only apply to text inputs")
        return np.asarray(ds.embeddings, dtype=np.float32), {"embedder": "npy", "cache_hit": None}
    from ..embed import embed_cached, get_embedder

    template = config.template
    if template is None and config.field is None and ds.path is None:
        template = BUILTIN_TEMPLATE
    texts = record_texts(ds, field=config.field, template=template)
    embedder = get_embedder(config.embedder)
    X, info = embed_cached(embedder, texts, progress=progress, return_info=True)
    return X, {"embedder": config.embedder, "cache_hit": info.hit}


def _check_vectors(X: np.ndarray, ds: Dataset, metric: str) -> None:
    if metric != "cosine":
        return
    zero = np.flatnonzero(~X.any(axis=1))
    if zero.size:
        what = "is an all-zero vector" if ds.embeddings is not None else "embeds to an all-zero vector (no words)"
        raise InputError(
            f"{ds.row_label(int(zero[0]))} {what}, which has no cosine direction "
            f"({zero.size} such rows); drop them or use --metric euclidean"
        )


def select_dataset(
    ds: Dataset,
    config: SelectConfig = SelectConfig(),
    outputs: Outputs = Outputs(),
    *,
    embed_progress: Callable[[int, int], None] | None = None,
    select_progress: Callable[[int], None] | None = None,
    checkpoint: Path | None = None,
    distributed: bool = False,
) -> SelectionReport:
    """Run the whole selection; validate everything before writing anything.

    checkpoint: folder for a resumable selection. distributed: every torchrun rank calls this;
    rows are sharded over the ranks and only rank 0 computes metrics and writes outputs.
    """
    t0 = time.perf_counter()
    where = str(ds.path) if ds.path else "the built-in data"
    n = len(ds)
    k = resolve_k(config.k, n, where)
    check_outputs(ds.path, outputs)

    X, emb = embed_dataset(ds, config, embed_progress)
    _check_vectors(X, ds, config.metric)
    t1 = time.perf_counter()
    if distributed:
        if checkpoint is not None:
            raise InputError("--checkpoint is not supported with --distributed yet; drop one of them")
        from .distributed import maxmin_distributed

        res = maxmin_distributed(X, k, metric=config.metric, start=config.start, seed=config.seed,
                                 progress=select_progress)
        import torch.distributed as dist

        if dist.get_rank() != 0:
            return SelectionReport(res.indices, {"rank": dist.get_rank()})
    else:
        res = maxmin(X, k, metric=config.metric, start=config.start, seed=config.seed,
                     backend=config.backend, precision=config.precision, checkpoint=checkpoint,
                     progress=select_progress)
    t2 = time.perf_counter()
    rnd = random_subset(n, k, seed=config.seed)
    ours, theirs = metrics.summary(X, res.indices, config.metric), metrics.summary(X, rnd, config.metric)
    distinct = metrics.distinct_rows(X, config.metric)
    t3 = time.perf_counter()

    stats = {
        "input": str(ds.path) if ds.path else ds.extra.get("name", "builtin"),
        "n": n,
        "k": k,
        "h_min": _finite(ours["h_min"]),
        "covering_radius": _finite(ours["covering_radius"]),
        "mean_nn_distance": _finite(ours["mean_nn_distance"]),
        "random_h_min": _finite(theirs["h_min"]),
        "random_covering_radius": _finite(theirs["covering_radius"]),
        "random_mean_nn_distance": _finite(theirs["mean_nn_distance"]),
        "distinct_rows": distinct,
        "metric": config.metric,
        "embedder": emb["embedder"],
        "dim": int(X.shape[1]),
        "first_index": int(res.indices[0]),
        "embedding_cache_hit": emb["cache_hit"],
        "seconds": {"embed": round(t1 - t0, 3), "select": round(t2 - t1, 3), "metrics": round(t3 - t2, 3)},
        "config": asdict(config),
        "datadiet_version": __version__,
    }
    report = SelectionReport(res.indices, stats)
    if outputs.out:
        write_subset(ds, res.indices, outputs.out)
    if outputs.indices_out:
        write_lines(res.indices.tolist(), outputs.indices_out)
    if outputs.plot:
        from .plot import plot_selection

        plot_selection(X, res.indices, rnd, outputs.plot, metric=config.metric,
                       title=f"{stats['input']}: uniform max-min vs random, k={k} of {n}")
    if outputs.stats_out:
        write_json(stats, outputs.stats_out)
    report.written = outputs.paths()
    return report


def summary_line(stats: dict) -> str:
    """One line: h_min and covering radius of the uniform subset against a random one."""
    def ratio(a, b):
        return f" ({a / b:.1f}x)" if a and b else ""

    line = (
        f"selected {stats['k']} of {stats['n']} ({stats['embedder']}, {stats['metric']}): "
        f"h_min {_fmt(stats['h_min'])} vs random {_fmt(stats['random_h_min'])}"
        f"{ratio(stats['h_min'], stats['random_h_min'])}; "
        f"mean NN distance {_fmt(stats['mean_nn_distance'])} vs {_fmt(stats['random_mean_nn_distance'])}; "
        f"covering radius {_fmt(stats['covering_radius'])} vs random {_fmt(stats['random_covering_radius'])}"
    )
    if stats["k"] > stats["distinct_rows"]:
        line += (f". Note: only {stats['distinct_rows']} distinct rows, fewer than k, "
                 "so the subset holds duplicates and h_min is 0")
    return line


def _finite(x: float):
    return None if x == float("inf") else x  # JSON has no inf: a one-point subset has no h_min


def _fmt(x) -> str:
    return "n/a" if x is None else f"{x:.4g}"


def load(path: str | os.PathLike | None) -> Dataset:
    return builtin_dataset() if path is None else read_dataset(path)

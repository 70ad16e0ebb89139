"""Dataset in, uniform subset out: read -> embed (cached) -> max-min select -> metrics -> files.

This is what `datadiet select` runs; the CLI only parses flags and draws progress bars.
Rerun: ``datadiet select data.jsonl -k 1000 --stats-out stats.json``.

With ``distributed=True`` (``torchrun ... -m -- datadiet.cli select ... --distributed``) every rank
runs this on its contiguous row shard ``shard_bounds(n, world, rank)``: it embeds only its own
texts (its own embedding-cache entry), selects with ``maxmin_shard`` and computes the metrics
over the shards (``_sharded_metrics``); rank 0 writes the same files as a single process.
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

from .. import __version__, paths
from ..errors import InputError
from ..io import Dataset, read_dataset, record_texts, write_json, write_lines, write_subset
from . import metrics, params
from .baselines import random_subset
from .maxmin import maxmin
from .plot import pca_2d
from .points import Points, as_points

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

    FLAGS = {"out": "--out", "indices_out": "--indices-out", "stats_out": "--stats-out", "plot": "--plot"}

    def paths(self) -> dict[str, Path]:
        return {k: Path(v) for k, v in asdict(self).items() if v is not None}


@dataclass
class SelectionReport:
    indices: np.ndarray
    stats: dict
    written: dict[str, Path] = field(default_factory=dict)
    distances: np.ndarray | None = None  # the selection trace (MaxMinResult.distances)


def builtin_dataset() -> Dataset:
    """ShareGPT V3 (first human turn + first reply), the uniformity paper's kind of data."""
    from ..corpus.sharegpt import load_instructions

    records = load_instructions()
    lines = [json.dumps(r, ensure_ascii=False) for r in records]
    return Dataset(None, "jsonl", records=records,
                   extra={"lines": lines, "line_numbers": list(range(1, len(records) + 1)), "name": "sharegpt"})


def check_outputs(input_path: Path | None, outputs: Outputs) -> None:
    """Every output writable, none the input, none another output, and what writing it needs installed:
    checked before any work starts."""
    # a datasets input (a save_to_disk folder or an .arrow file) is written back as a folder
    hf = input_path is not None and (Path(input_path).is_dir() or str(input_path).endswith(".arrow"))
    paths.check_outputs({Outputs.FLAGS[name]: path for name, path in outputs.paths().items()},
                        inputs=(input_path,) if input_path is not None else (),
                        folders=frozenset({"--out"}) if hf else frozenset())
    if outputs.plot is not None:
        from importlib.util import find_spec

        if find_spec("matplotlib") is None:
            from ..errors import MissingDependencyError

            raise MissingDependencyError("matplotlib", "plot", "--plot")


def resolve_k(k: int | None, n: int, where: str) -> int:
    """-k, or half of the rows (as in the paper) when it is not given."""
    if k is None:
        return max(1, n // 2)
    try:
        return params.check_k(k, n, flag="-k")
    except InputError as exc:
        raise InputError(f"{exc} (in {where})") from None


# Embedders whose vector of a text depends on the other texts (word2vec is trained on the input):
# a shard cannot be embedded alone, so under --distributed every rank embeds all texts.
_FITTED_ON_INPUT = frozenset({"word2vec"})


def embed_dataset(ds: Dataset, config: SelectConfig, progress: Callable[[int, int], None] | None = None,
                  rows: tuple[int, int] | None = None):
    """The embedding matrix of `ds` (or of its rows [lo, hi)): the .npy itself, or texts embedded (cached on disk).

    Every record's text is still built, so a bad record is reported the same way whatever `rows` is.
    """
    lo, hi = rows if rows is not None else (0, len(ds))
    if ds.embeddings is not None:
        if config.field or config.template:
            raise InputError(f"{ds.path}: holds embeddings; --field/--template only apply to text inputs")
        # the file is memory-mapped: the working rows are built from rows lo..hi only (under
        # --distributed, the rank's shard), block by block, without another copy of the file
        return ds.embeddings[lo:hi], {"embedder": "npy", "cache_hit": None}
    from ..embed import embed_cached, get_embedder

    template = config.template
    if template is None and config.field is None and ds.extra.get("name") == "sharegpt":
        template = BUILTIN_TEMPLATE  # the built-in data: first human turn + first reply
    texts = record_texts(ds, field=config.field, template=template)
    embedder = get_embedder(config.embedder)
    if config.embedder in _FITTED_ON_INPUT:
        X, info = embed_cached(embedder, texts, progress=progress, return_info=True)
        return X[lo:hi], {"embedder": config.embedder, "cache_hit": info.hit}
    X, info = embed_cached(embedder, texts[lo:hi], progress=progress, return_info=True)
    return X, {"embedder": config.embedder, "cache_hit": info.hit}


def _check_vectors(X: np.ndarray, ds: Dataset, metric: str, *, lo: int = 0, dist=None) -> None:
    """Refuse all-zero rows under cosine, naming the first one; X holds rows lo.. of ds.

    With `dist` the check is collective (every rank raises the same error, counting all ranks' rows).
    """
    if metric != "cosine":
        return
    zero = np.flatnonzero(~X.any(axis=1))
    found = [(lo + int(zero[0]) if zero.size else None, int(zero.size))]
    if dist is not None:
        from .distributed import gather_all

        found = gather_all(dist, found[0])
    firsts = [first for first, _ in found if first is not None]
    if firsts:
        what = "is an all-zero vector" if ds.embeddings is not None else "embeds to an all-zero vector (no words)"
        raise InputError(
            f"{ds.row_label(min(firsts))} {what}, which has no cosine direction "
            f"({sum(count for _, count in found)} such rows); drop them or use --metric euclidean"
        )


def run(
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
    rows are sharded over the ranks (each embeds and holds only its shard), the metrics are
    computed across the shards, and rank 0 writes the outputs. Other ranks get {"rank": r} as stats.
    """
    t0 = time.perf_counter()
    where = str(ds.path) if ds.path else ds.extra.get("name", "the data")
    n = len(ds)
    k = resolve_k(config.k, n, where)
    params.check_engine(config.backend, config.metric, config.precision, distributed=distributed,
                        checkpoint=checkpoint)
    check_outputs(ds.path, outputs)
    if distributed:
        from ..errors import DatadietError
        from .distributed import init_from_env

        try:  # a caller's own process group is left to the caller
            import torch.distributed
            ours = not torch.distributed.is_initialized()
        except ImportError:
            ours = True  # init_from_env reports the missing extra
        dist = init_from_env()
        try:
            report = _select_sharded(ds, config, outputs, k, embed_progress, select_progress)
        except DatadietError:  # raised on every rank at the same agreed point (see run_together)
            if ours:
                _leave_group(dist)
            raise
        if ours:
            _leave_group(dist)
        return report

    X, emb = embed_dataset(ds, config, embed_progress)
    _check_vectors(X, ds, config.metric)
    P = as_points(X, config.metric, dtype=np.float32)
    del X
    t1 = time.perf_counter()
    res = maxmin(P, k, metric=config.metric, start=config.start, seed=config.seed,
                 backend=config.backend, precision=config.precision, checkpoint=checkpoint,
                 progress=select_progress)
    t2 = time.perf_counter()
    rnd = random_subset(n, k, seed=config.seed)
    ours = _selection_metrics(res, metrics._nn_within(P, res.indices))
    theirs = metrics.summary(P, rnd, config.metric)
    t3 = time.perf_counter()
    stats = _stats(ds, config, k, res.indices, ours, theirs, P.duplicates.distinct, P.d, emb, (t0, t1, t2, t3))
    plot_points = pca_2d(P.rows) if outputs.plot else None
    report = _write(ds, res.indices, rnd, stats, outputs, plot_points)
    report.distances = res.distances
    return report


def _selection_metrics(res, nn: np.ndarray) -> dict[str, float]:
    """The selection's metrics from its own trace (h_min = the trace's minimum, exactly the value the
    trace reports) and its nearest-neighbour pass (mean NN distance)."""
    return {
        "h_min": float(res.distances[1:].min()) if res.distances.size > 1 else float("inf"),
        "covering_radius": float(res.covering_radius),
        "mean_nn_distance": float(nn.mean()) if nn.size else float("inf"),
    }


def _leave_group(dist) -> None:
    """Leave the process group together: a rank whose peer exits first while gloo still holds their
    connection is killed by SIGABRT, which buries the one-line error under torchrun's failure report."""
    dist.barrier()
    dist.destroy_process_group()


def _select_sharded(ds: Dataset, config: SelectConfig, outputs: Outputs, k: int,
                    embed_progress, select_progress) -> SelectionReport:
    """select_dataset on one torchrun rank: rows [lo, hi) only; every step is collective."""
    from . import _sharded_metrics as sharded
    from .distributed import gather_all, global_duplicates, init_from_env, maxmin_shard, run_together, shard_bounds

    dist = init_from_env()
    t0 = time.perf_counter()  # after the rendezvous, which waits for the slowest rank to start
    rank, n = dist.get_rank(), len(ds)
    lo, hi = shard_bounds(n, dist.get_world_size(), rank)
    X, emb = run_together(dist, lambda: embed_dataset(ds, config, embed_progress, rows=(lo, hi)))
    _check_vectors(X, ds, config.metric, lo=lo, dist=dist)
    t1 = time.perf_counter()
    res, P = maxmin_shard(X, n, k, metric=config.metric, start=config.start, seed=config.seed,
                          progress=select_progress, return_points=True)
    del X
    t2 = time.perf_counter()
    rnd = random_subset(n, k, seed=config.seed)
    S, qs = sharded.gather_rows(dist, P, n, res.indices)
    nn = metrics._nn_within(Points(S, P.metric, P.scale_exp, qs), np.arange(k)) if rank == 0 else None
    theirs = sharded.summary(dist, P, n, rnd)
    distinct = global_duplicates(dist, P.rows, lo, n).distinct
    hits = gather_all(dist, emb["cache_hit"])  # each rank looked up its own shard's entry
    emb = {**emb, "cache_hit": None if hits[0] is None else all(hits)}
    plot_points = sharded.pca_2d(dist, P) if outputs.plot else None
    t3 = time.perf_counter()
    if rank != 0:
        return SelectionReport(res.indices, {"rank": rank})
    stats = _stats(ds, config, k, res.indices, _selection_metrics(res, nn), theirs, distinct, P.d, emb,
                   (t0, t1, t2, t3))
    report = _write(ds, res.indices, rnd, stats, outputs, plot_points)
    report.distances = res.distances
    return report


def _stats(ds: Dataset, config: SelectConfig, k: int, indices: np.ndarray, ours: dict, theirs: dict,
           distinct: int, dim: int, emb: dict, times: tuple[float, float, float, float]) -> dict:
    t0, t1, t2, t3 = times
    return {
        "input": str(ds.path) if ds.path else ds.extra.get("name", "builtin"),
        "n": len(ds),
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
        "dim": dim,
        "first_index": int(indices[0]),
        "embedding_cache_hit": emb["cache_hit"],
        "seconds": {"embed": round(t1 - t0, 3), "select": round(t2 - t1, 3), "metrics": round(t3 - t2, 3)},
        "config": asdict(config),
        "datadiet_version": __version__,
    }


def _write(ds: Dataset, indices: np.ndarray, rnd: np.ndarray, stats: dict, outputs: Outputs,
           plot_points: np.ndarray | None) -> SelectionReport:
    """Write every requested file into a temporary beside it, and rename them all only once all are
    complete: a failure leaves no output created or changed."""
    chosen = outputs.paths()
    names = list(chosen)
    folders = frozenset(i for i, name in enumerate(names) if name == "out" and ds.format == "hf")
    with paths.atomic_outputs([chosen[n] for n in names], folders) as tmps:
        tmp = dict(zip(names, tmps))
        if "out" in tmp:  # the temporary's name is not the output's: say whether it is gzipped
            write_subset(ds, indices, tmp["out"], compress=chosen["out"].name.lower().endswith(".gz"))
        if "indices_out" in tmp:
            write_lines(indices.tolist(), tmp["indices_out"])
        if "plot" in tmp:
            from .plot import plot_selection

            plot_selection(plot_points, indices, rnd, tmp["plot"],
                           title=f"{stats['input']}: uniform max-min vs random, k={stats['k']} of {stats['n']}")
        if "stats_out" in tmp:
            write_json(stats, tmp["stats_out"])
    return SelectionReport(indices, stats, chosen)


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

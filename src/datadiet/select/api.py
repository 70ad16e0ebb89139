"""Selection from Python: a list of texts, or a Hugging Face ``datasets.Dataset``.

    from datadiet.select import select_texts, select_dataset
    sel = select_texts(texts, k=500)                 # sel.indices, sel.distances, sel.stats
    subset, stats = select_dataset(ds, k=500, field="text")   # ds.select(sel.indices) and the stats

The same steps as ``datadiet select`` (embed, cached -> working rows -> exact max-min -> metrics),
without files. Rerun: ``python -c "from datadiet.select import select_texts; print(select_texts(['a b', 'c d', 'e'], 2).indices)"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from ..errors import InputError, MissingDependencyError
from . import pipeline


@dataclass(frozen=True)
class Selection:
    """indices in selection order; distances their trace (``MaxMinResult.distances``); stats the
    uniformity metrics of the subset and of a random one of the same size (``datadiet select``'s
    stats.json keys: h_min, covering_radius, mean_nn_distance, random_h_min, ..., distinct_rows)."""

    indices: np.ndarray
    distances: np.ndarray
    stats: dict


def select_texts(texts: Sequence[str], k: int | None = None, *, embedder: str = pipeline.DEFAULT_EMBEDDER,
                 metric: str = "cosine", seed: int = 0, start: int | None = None, backend: str = "auto",
                 progress: Callable[[int], None] | None = None) -> Selection:
    """The most uniform k of `texts` (default: half), by exact greedy max-min on their embeddings.

    texts : sequence of str
    embedder : {"hashing", "word2vec", "static", "minilm"}, default "static"
        Embeddings are cached on disk (``datadiet.embed.embed_cached``).
    metric, seed, start, backend : as in ``maxmin``.
    """
    from ..io import Dataset

    if isinstance(texts, (str, bytes)):
        raise InputError("texts must be a sequence of strings, not a single string; wrap it in a list")
    records = [{"text": t} for t in texts]
    ds = Dataset(None, "texts", records=records, extra={"name": "texts", "line_numbers": list(range(len(records)))})
    return _select(ds, k, pipeline.SelectConfig(k=k, field="text", embedder=embedder, metric=metric, start=start,
                                                seed=seed, backend=backend), progress)


def select_dataset(dataset, k: int | None = None, *, field: str | None = None, template: str | None = None,
                   embedder: str = pipeline.DEFAULT_EMBEDDER, metric: str = "cosine", seed: int = 0,
                   start: int | None = None, backend: str = "auto",
                   progress: Callable[[int], None] | None = None):
    """The most uniform k rows of a ``datasets.Dataset``: ``(dataset.select(indices), stats)``.

    field : the column holding the text (default "text"); template : several columns, e.g.
    ``"{instruction}\\n{output}"``. stats also holds ``indices`` (selection order) and the config.
    """
    try:
        import datasets
    except ImportError as exc:
        raise MissingDependencyError("datasets", "hfdata", "select_dataset") from exc
    if not isinstance(dataset, datasets.Dataset):
        raise InputError(f"dataset must be a datasets.Dataset, got {type(dataset).__name__} "
                         "(a DatasetDict: pick a split, e.g. ds['train'])")
    from ..io import Dataset

    if field is not None and template is not None:
        raise InputError("give field or template, not both")
    name = field or "text"
    if template is None and name not in dataset.column_names:
        raise InputError(f"the dataset has no column {name!r}; pass field= one of: {', '.join(dataset.column_names)}")
    records = dataset.to_list() if template is not None else [{name: v} for v in dataset[name]]
    ds = Dataset(None, "hf", records=records,
                 extra={"name": "datasets.Dataset", "line_numbers": list(range(len(records)))})
    config = pipeline.SelectConfig(k=k, field=field if template is None else None, template=template,
                                   embedder=embedder, metric=metric, start=start, seed=seed, backend=backend)
    sel = _select(ds, k, config, progress)
    return dataset.select(sel.indices.tolist()), {**sel.stats, "indices": sel.indices.tolist()}


def _select(ds, k, config: pipeline.SelectConfig, progress) -> Selection:
    report = pipeline.run(ds, config, select_progress=progress)
    return Selection(report.indices, report.distances, report.stats)

"""Uniformity-based subset selection (arXiv 2506.24120): greedy max-min distance and its metrics.

    from datadiet.select import maxmin, metrics
    res = maxmin(X, k=500)                      # indices in selection order + distance trace
    metrics.h_min(X, res.indices), metrics.covering_radius(X, res.indices)
    sel = select_texts(texts, k=500, embedder="static")   # from texts: embed (cached) + select + metrics
    subset, stats = select_dataset(hf_dataset, k=500, field="text")   # a datasets.Dataset
"""

from . import metrics
from .api import Selection, select_dataset, select_texts
from .baselines import random_subset
from .maxmin import MaxMinResult, maxmin
from .points import Points, as_points

__all__ = ["maxmin", "MaxMinResult", "metrics", "random_subset", "Points", "as_points", "select_texts",
           "select_dataset", "Selection"]

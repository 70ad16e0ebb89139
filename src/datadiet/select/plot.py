"""2-D PCA picture of a selection: every point, the uniform subset and a random one.

Drawn on a ``matplotlib.figure.Figure`` (no pyplot): the global backend of a notebook or an
application is never switched.
"""

from __future__ import annotations

import numpy as np

from ..paths import atomic_path

# Drawing 1M grey dots says nothing more than 50k; the subsets are always drawn in full.
_MAX_BACKGROUND = 50_000


def pca_2d(X: np.ndarray, allreduce=None) -> np.ndarray:
    """Project rows onto the top two principal axes (d x d covariance, so O(n*d) memory).

    allreduce(array, n) -> the array summed over every shard of X (a torch.distributed rank holds
    one), and the total row count; None for a whole X.
    """
    n = X.shape[0]
    total = X.sum(axis=0, dtype=np.float64)
    if allreduce is not None:
        total, n = allreduce(total, n)
    mean = total / n
    cov = np.zeros((X.shape[1], X.shape[1]))
    for s in range(0, X.shape[0], 65536):
        B = X[s : s + 65536].astype(np.float64) - mean
        cov += B.T @ B
    if allreduce is not None:
        cov, _ = allreduce(cov, 0)
    _, vecs = np.linalg.eigh(cov)
    axes = vecs[:, ::-1][:, :2]
    axes *= np.sign(axes[np.abs(axes).argmax(axis=0), [0, 1]])  # fix the sign: same picture every run
    return (X - mean) @ axes


def plot_selection(P2: np.ndarray, selected, random, path, *, title: str = "") -> None:
    """Write a PNG scatter of 2-D coordinates (``pca_2d`` of the working rows) with both subsets."""
    from ..figures import pyplot

    fig, ax = pyplot().subplots(figsize=(7, 6), dpi=110)
    bg = np.arange(P2.shape[0])
    if bg.size > _MAX_BACKGROUND:
        bg = np.random.default_rng(0).choice(bg, _MAX_BACKGROUND, replace=False)
    ax.scatter(P2[bg, 0], P2[bg, 1], s=3, c="#c8c8c8", lw=0, label=f"all points ({P2.shape[0]})")
    ax.scatter(P2[random, 0], P2[random, 1], s=6, c="#e07b39", lw=0, alpha=0.8, label=f"random ({len(random)})")
    ax.scatter(P2[selected, 0], P2[selected, 1], s=6, c="#2166ac", lw=0, alpha=0.8,
               label=f"uniform max-min ({len(selected)})")
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.set_title(title or "Uniform (max-min) vs random subset, 2-D PCA")
    ax.legend(loc="best", markerscale=3, fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")

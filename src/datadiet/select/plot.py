"""2-D PCA picture of a selection: every point, the uniform subset and a random one."""

from __future__ import annotations

import numpy as np

from ..paths import atomic_path
from ._common import as_points

# Drawing 1M grey dots says nothing more than 50k; the subsets are always drawn in full.
_MAX_BACKGROUND = 50_000


def pca_2d(X: np.ndarray) -> np.ndarray:
    """Project rows onto the top two principal axes (d x d covariance, so O(n*d) memory)."""
    mean = X.mean(axis=0, dtype=np.float64)
    cov = np.zeros((X.shape[1], X.shape[1]))
    for s in range(0, X.shape[0], 65536):
        B = X[s : s + 65536].astype(np.float64) - mean
        cov += B.T @ B
    _, vecs = np.linalg.eigh(cov)
    axes = vecs[:, ::-1][:, :2]
    axes *= np.sign(axes[np.abs(axes).argmax(axis=0), [0, 1]])  # fix the sign: same picture every run
    return (X - mean) @ axes


def plot_selection(X, selected, random, path, *, metric: str = "cosine", title: str = "") -> None:
    """Write a PNG scatter of the PCA projection with both subsets highlighted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    P = pca_2d(as_points(X, metric))
    fig, ax = plt.subplots(figsize=(7, 6), dpi=110)
    bg = np.arange(P.shape[0])
    if bg.size > _MAX_BACKGROUND:
        bg = np.random.default_rng(0).choice(bg, _MAX_BACKGROUND, replace=False)
    ax.scatter(P[bg, 0], P[bg, 1], s=3, c="#c8c8c8", lw=0, label=f"all points ({P.shape[0]})")
    ax.scatter(P[random, 0], P[random, 1], s=6, c="#e07b39", lw=0, alpha=0.8, label=f"random ({len(random)})")
    ax.scatter(P[selected, 0], P[selected, 1], s=6, c="#2166ac", lw=0, alpha=0.8, label=f"uniform max-min ({len(selected)})")
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.set_title(title or "Uniform (max-min) vs random subset, 2-D PCA")
    ax.legend(loc="best", markerscale=3, fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)

"""Basis distributions for DGA's distribution reweighting over many fine domains.

With hundreds of fine domains (k-means clusters of a corpus), measuring one gradient per domain
is costly and each is noisy. DGA (arXiv 2410.02498) then updates the weights w of a few basis
distributions p_1..p_K over the fine domains instead: α = P w, P = [p_1 .. p_K] (k × K,
column-stochastic). `hierarchical_basis` builds P the way the paper builds its fine domains
(hierarchical k-means of embeddings): the fine domains' centroids are clustered into K groups, and
p_j is the size-proportional distribution over the fine domains of group j. The columns then have
disjoint supports, so a training row belongs to exactly one basis distribution and the batch splits
by basis group exactly as it splits by domain (`datadiet.mix.grads`): the rows of group j in a batch
drawn from α are a sample of p_j, and their mean-loss gradient estimates ∇L_{p_j}.

Rerun: ``pytest tests/test_mix_driver.py -q -k 256_fine_domains``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from datadiet.errors import InputError


def hierarchical_basis(centroids: np.ndarray, sizes: Sequence[float], n_basis: int, *,
                       seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """P (k, K) and the group of each fine domain, from k-means (K groups) of the fine centroids.

    Parameters
    ----------
    centroids : array of shape (k, d)
        One embedding centroid per fine domain.
    sizes : sequence of k numbers > 0
        Fine-domain sizes (windows or tokens); p_j ∝ size on the fine domains of group j.
    n_basis : int, 1 <= K <= k
    seed : int, seeds the k-means.

    Returns
    -------
    P : float64 array (k, K), columns summing to 1, disjoint supports (each row has one nonzero)
    group : int64 array (k,), the basis column of each fine domain

    Notes
    -----
    k-means with k-means++ seeding (`datadiet.mix.domains.kmeans`), O(iterations · k · K · d).
    """
    from datadiet.mix.domains import kmeans

    C = np.asarray(centroids, dtype=np.float64)
    k = C.shape[0] if C.ndim == 2 else 0
    if C.ndim != 2 or k == 0:
        raise InputError(f"hierarchical_basis needs centroids of shape (k >= 1, d), got {C.shape}")
    s = np.asarray(sizes, dtype=np.float64).ravel()
    if s.shape != (k,) or not np.isfinite(s).all() or (s <= 0).any():
        raise InputError(f"sizes must be {k} positive numbers (one per fine domain), got shape {s.shape}")
    if isinstance(n_basis, bool) or not isinstance(n_basis, (int, np.integer)) or not 1 <= n_basis <= k:
        raise InputError(f"--basis must be an int in [1, {k}] (the number of fine domains), got {n_basis!r}")
    group, _ = kmeans(C, int(n_basis), seed=seed)
    return basis_from_groups(group, s, int(n_basis)), group.astype(np.int64)


def basis_from_groups(group: Sequence[int], sizes: Sequence[float], n_basis: int) -> np.ndarray:
    """P with p_j ∝ sizes on the fine domains whose group is j (every group must be non-empty)."""
    g = np.asarray(group, dtype=np.int64).ravel()
    s = np.asarray(sizes, dtype=np.float64).ravel()
    if g.shape != s.shape:
        raise InputError(f"group has {g.size} entries, sizes {s.size}")
    P = np.zeros((g.size, n_basis))
    P[np.arange(g.size), g] = s
    col = P.sum(axis=0)
    empty = np.flatnonzero(col <= 0)
    if empty.size:
        raise InputError(f"basis group {int(empty[0])} holds no fine domain")
    return P / col


def disjoint_groups(P: np.ndarray) -> np.ndarray | None:
    """The column of each row when every row of P has exactly one nonzero entry, else None."""
    P = np.asarray(P)
    nz = P > 0
    if not (nz.sum(axis=1) == 1).all():
        return None
    return nz.argmax(axis=1).astype(np.int64)

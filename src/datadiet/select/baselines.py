"""Subsets that the uniform selection is compared against."""

from __future__ import annotations

import numpy as np

from ..errors import InputError


def random_subset(n: int, k: int, seed: int = 0) -> np.ndarray:
    """k distinct row indices drawn uniformly without replacement, in draw order."""
    if not 1 <= k <= n:
        raise InputError(f"k={k} must be between 1 and the number of rows ({n})")
    return np.random.default_rng(seed).choice(n, size=k, replace=False).astype(np.int64)

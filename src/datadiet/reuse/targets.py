"""Targets y = g(W* x) on a k-dimensional subspace: Hermite single-index, products, staircases.

Each :class:`Target` carries two exponents computed by quadrature, not declared, so user callables
get them too:
  information_exponent  lowest degree of a nonzero Hermite coefficient of g (Ben Arous et al. 2021):
                        one-pass SGD needs ~d^{ℓ−1} samples to leave the origin;
  generative_exponent   1 when some transform T(y) correlates with a linear function of z, else 2 when
                        one correlates with a quadratic (Damian et al. 2024; T over polynomials of degree
                        ≤ 4). Reusing a batch makes the second gradient a nonlinear function of y
                        (Dandi et al. 2024), so targets with generative exponent 1 are learned in O(1)
                        steps with n = O(d) even when their information exponent is large.
and its ``parity`` under z → −z ("even", "odd" or "neither"), and ``grid``, the points per axis of the
trapezoid rule (:func:`datadiet.reuse.hermite.gaussian_grid`) on which E[g(z)] and E[g(z)²] have converged,
which the population error integrates on.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..errors import InputError
from .hermite import gauss_hermite, gaussian_grid, hermite, hermite_normalized

_TOL = 1e-6
# trapezoid points per axis tried in turn for a k-dim target (k <= 3; beyond, the error uses Monte Carlo)
GRID_LADDER = {1: (101, 201, 401, 801), 2: (41, 81, 121, 161, 241), 3: (21, 31, 41, 61, 81)}
_GRID_TOL = 1e-9


@dataclass(frozen=True)
class Target:
    """y = fn(z), z = W* x ∈ R^k; ``fn`` maps an array (..., k) to (...)."""

    name: str
    k: int
    fn: Callable[[np.ndarray], np.ndarray] = field(repr=False, compare=False)
    information_exponent: int | None = None  # None: no nonzero Hermite coefficient up to degree 6
    generative_exponent: int | None = None  # 1, 2, or None (> 2 as far as the probe sees)
    parity: str = "neither"
    grid: int | None = None  # trapezoid points per axis for E over z (None: not computed, or k > 3)

    def __call__(self, z: np.ndarray) -> np.ndarray:
        z = np.asarray(z)
        if z.shape[-1] != self.k:
            raise InputError(f"target {self.name!r} takes {self.k} coordinates, got an array of shape {z.shape}")
        return np.asarray(self.fn(z), dtype=z.dtype if z.dtype.kind == "f" else float)

    @property
    def symmetric(self) -> bool:
        """True when no label transform correlates with the target directions (reuse cannot help)."""
        return self.generative_exponent != 1


def make_target(fn: Callable[[np.ndarray], np.ndarray], k: int, name: str = "custom", order: int | None = None) -> Target:
    """Wrap a user callable (array (..., k) -> (...)) and compute its exponents and parity."""
    if k < 1:
        raise InputError(f"a target needs k >= 1 directions, got k={k}")
    order = order or {1: 60, 2: 30, 3: 16}.get(k, 8)
    nodes, weights = gauss_hermite(order, k)
    y = np.asarray(fn(nodes), dtype=float)
    if y.shape != (len(nodes),):
        raise InputError(f"target {name!r}: fn must map an array (m, {k}) to (m,), got shape {y.shape}")
    return Target(
        name=name, k=k, fn=fn,
        information_exponent=_information_exponent(nodes, weights, y),
        generative_exponent=_generative_exponent(nodes, weights, y),
        parity=_parity(fn, k, y, nodes),
        grid=converged_grid(fn, k),
    )


def converged_grid(fn: Callable[[np.ndarray], np.ndarray], k: int) -> int | None:
    """The first rung of GRID_LADDER[k] whose E[g], E[g²] agree with the next rung's within 1e-9·max(1, E g²).

    The finest rung when none does (a discontinuous g such as sign(·) converges only algebraically); None for k > 3.
    """
    ladder = GRID_LADDER.get(k)
    if ladder is None:
        return None
    moments = []
    for points in ladder:
        nodes, weights = gaussian_grid(points, k)
        y = np.asarray(fn(nodes), dtype=float)
        moments.append((float(weights @ y), float(weights @ (y * y))))
        if len(moments) > 1:
            (m1, m2), (n1, n2) = moments[-2], moments[-1]
            if max(abs(m1 - n1), abs(m2 - n2)) <= _GRID_TOL * max(1.0, n2):
                return ladder[len(moments) - 2]
    return ladder[-1]


def _information_exponent(nodes, weights, y, max_degree: int = 6) -> int | None:
    k = nodes.shape[1]
    he = [[hermite(j, nodes[:, i]) for j in range(max_degree + 1)] for i in range(k)]
    scale = math.sqrt(max(float(weights @ y**2), 1e-300))
    for degree in range(1, max_degree + 1):
        for alpha in _multi_indices(k, degree):
            basis = np.prod([he[i][a] for i, a in enumerate(alpha)], axis=0)
            norm = math.sqrt(math.prod(math.factorial(a) for a in alpha))
            if abs(weights @ (y * basis)) / norm > _TOL * scale:
                return degree
    return None


def _generative_exponent(nodes, weights, y) -> int | None:
    mean, std = float(weights @ y), math.sqrt(max(float(weights @ (y - weights @ y) ** 2), 1e-300))
    u = (y - mean) / std
    transforms = [u**j for j in range(1, 5)]
    k = nodes.shape[1]
    linear = [nodes[:, i] for i in range(k)]
    quadratic = [nodes[:, i] * nodes[:, j] - (i == j) for i in range(k) for j in range(i, k)]
    for exponent, basis in ((1, linear), (2, quadratic)):
        if any(abs(weights @ (t * b)) > _TOL for t in transforms for b in basis):
            return exponent
    return None


def _parity(fn, k, y, nodes) -> str:
    y_neg = np.asarray(fn(-nodes), dtype=float)
    scale = max(float(np.abs(y).max()), 1e-300)
    if np.allclose(y_neg, y, atol=1e-9 * scale):
        return "even"
    if np.allclose(y_neg, -y, atol=1e-9 * scale):
        return "odd"
    return "neither"


def _multi_indices(k: int, degree: int):
    for alpha in itertools.product(range(degree + 1), repeat=k):
        if sum(alpha) == degree:
            yield alpha


# --- the library ----------------------------------------------------------------------------------

def _he(j):
    return lambda z: hermite_normalized(j, z[..., 0])


_BASE: dict[str, tuple[int, Callable[[np.ndarray], np.ndarray], str]] = {
    **{f"he{j}": (1, _he(j), f"He_{j}(z)/√{j}!") for j in range(1, 7)},
    "z1z2": (2, lambda z: z[..., 0] * z[..., 1], "z1·z2"),
    "z1z2z3": (3, lambda z: z[..., 0] * z[..., 1] * z[..., 2], "z1·z2·z3"),
    "staircase": (2, lambda z: z[..., 0] + z[..., 0] * z[..., 1], "z1 + z1·z2"),
    "staircase3": (3, lambda z: z[..., 0] + z[..., 0] * z[..., 1] + z[..., 0] * z[..., 1] * z[..., 2],
                   "z1 + z1·z2 + z1·z2·z3"),
    "he1+he3": (2, lambda z: z[..., 0] + hermite_normalized(3, z[..., 1]), "z1 + He_3(z2)/√6"),
    # the authors' multi-index example (IdePHICS/benefit-reusing-batch): He_3 not normalized
    "he1+he3raw": (2, lambda z: z[..., 0] + hermite(3, z[..., 1]), "z1 + He_3(z2)"),
}
_OUTER = {"tanh": np.tanh, "sign": np.sign}


def target_names() -> list[str]:
    """Names :func:`get_target` accepts; each may be wrapped as ``tanh:NAME`` or ``sign:NAME``."""
    return list(_BASE)


def describe(name: str) -> str:
    outer, base = _split(name)
    formula = _BASE[base][2]
    return f"{outer}({formula})" if outer else formula


def get_target(name: str) -> Target:
    """A library target by name, e.g. ``he3``, ``z1z2z3``, ``staircase``, ``tanh:he1+he3``."""
    outer, base = _split(name)
    k, fn, _ = _BASE[base]
    if outer:
        inner, g = fn, _OUTER[outer]
        fn = lambda z: g(inner(z))  # noqa: E731
    return make_target(fn, k, name=name)


def _split(name: str) -> tuple[str | None, str]:
    m = re.fullmatch(r"(?:(tanh|sign):)?(.+)", name.strip().lower())
    outer, base = (m.group(1), m.group(2)) if m else (None, name)
    if base not in _BASE:
        raise InputError(f"unknown target {name!r}; choose one of {', '.join(_BASE)} "
                         "(optionally wrapped as tanh:NAME or sign:NAME)")
    return outer, base

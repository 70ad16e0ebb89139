"""Densities on [-1, 1]^d with known smoothness s, exact samplers, and a 1-D curve embedded in R^D.

``lacunary`` densities p(x) ∝ b(x) (1 + a sum_k 2^{-ks} cos(2^k pi x + phi_k)) with b(x) = (1 - x^2)^4 are
exactly s-smooth everywhere (a lacunary Fourier series is in the Besov space B^s_{p,inf} for every p and in no
B^{s+eps}), the clean case of the minimax rate n^{-s/(2s+d)}; b vanishes smoothly at +-1, so no boundary effect.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError


def _beta55(rng: np.random.Generator, size: int) -> np.ndarray:
    """Draws from b(x) ∝ (1 - x^2)^4 on [-1, 1] (a Beta(5, 5) mapped to [-1, 1])."""
    return 2.0 * rng.beta(5.0, 5.0, size) - 1.0


def _mass(unnormalized) -> float:
    """∫_{-1}^{1} of an unnormalized density, by the trapezoid rule on 2^18 intervals."""
    g = np.linspace(-1, 1, 2**18 + 1)
    u = unnormalized(g)
    return float(np.sum((u[1:] + u[:-1]) / 2) * (g[1] - g[0]))


def _tilted_beta(n: int, rng: np.random.Generator, weight, bound: float) -> np.ndarray:
    """n exact draws (n, 1) of p ∝ b·weight: rejection from b, accepting x with probability weight(x)/bound."""
    out = np.empty(0)
    while out.size < n:
        x = _beta55(rng, 2 * (n - out.size) + 16)
        keep = rng.random(x.size) * bound <= weight(x)
        out = np.concatenate([out, x[keep]])
    return out[:n, None]


@dataclass(frozen=True)
class Lacunary1D:
    """p(x) ∝ (1-x^2)^4 (1 + a sum_{k=1}^K 2^{-ks} cos(2^k pi x + phi_k)) on [-1, 1]; smoothness exactly s."""

    s: float
    levels: int = 10  # K: finest wavelength 2^{1-K}
    strength: float = 0.9  # a * sum_k 2^{-ks} (< 1 keeps p > 0)
    d: int = 1
    name: str = ""
    _z: float = field(default=0.0, repr=False, compare=False)

    def __post_init__(self):
        if not self.s > 0 or self.levels < 1 or not 0 <= self.strength < 1:
            raise InputError(f"lacunary density needs s > 0, levels >= 1, 0 <= strength < 1; got {self}")
        object.__setattr__(self, "_z", _mass(self._unnormalized))

    def _phases(self) -> np.ndarray:
        return np.random.default_rng(np.random.SeedSequence([12345, self.levels])).uniform(0, 2 * math.pi, self.levels)

    def _modulation(self, x: np.ndarray) -> np.ndarray:
        k = np.arange(1, self.levels + 1)
        amp = 2.0 ** (-k * self.s)
        amp = self.strength * amp / amp.sum()
        out = np.ones_like(x)
        for a, kk, ph in zip(amp, k, self._phases()):
            out += a * np.cos(2.0**kk * math.pi * x + ph)
        return out

    def _unnormalized(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        inside = np.abs(x) < 1
        b = np.where(inside, np.clip(1 - x * x, 0, None) ** 4, 0.0)
        return b * self._modulation(x)

    def pdf(self, x) -> np.ndarray:
        """Density at points x, shape (m,) or (m, 1)."""
        return self._unnormalized(np.asarray(x, dtype=np.float64).reshape(-1)) / self._z

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n exact draws, shape (n, 1): rejection from b with acceptance modulation / (1 + strength)."""
        return _tilted_beta(n, rng, self._modulation, 1 + self.strength)


@dataclass(frozen=True)
class Kink1D:
    """p(x) ∝ (1-x^2)^4 (c + |x|^s) on [-1, 1]: smooth except a |x|^s kink at 0 (Hölder s there)."""

    s: float
    c: float = 0.25
    d: int = 1
    name: str = ""
    _z: float = field(default=0.0, repr=False, compare=False)

    def __post_init__(self):
        if not self.s > 0 or not self.c > 0:
            raise InputError(f"kink density needs s > 0 and c > 0; got s={self.s}, c={self.c}")
        object.__setattr__(self, "_z", _mass(self._unnormalized))

    def _unnormalized(self, x):
        x = np.asarray(x, dtype=np.float64)
        return np.where(np.abs(x) < 1, np.clip(1 - x * x, 0, None) ** 4, 0.0) * (self.c + np.abs(x) ** self.s)

    def pdf(self, x) -> np.ndarray:
        return self._unnormalized(np.asarray(x, dtype=np.float64).reshape(-1)) / self._z

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return _tilted_beta(n, rng, lambda x: self.c + np.abs(x) ** self.s, self.c + 1)


@dataclass(frozen=True)
class Curve:
    """A smooth density on a 1-D curve (a circle arc of radius 0.8) embedded isometrically in R^D.

    theta ~ a mixture of three Beta bumps on [0, 1]; x = Q (0.8 cos(pi theta), 0.8 sin(pi theta)) with Q a fixed
    random D x 2 orthonormal frame (seeded by D), so every D sees the same intrinsic law (intrinsic dimension 1).
    """

    D: int = 2
    name: str = ""

    def __post_init__(self):
        if self.D < 2:
            raise InputError(f"curve ambient dimension D={self.D} must be at least 2")

    @property
    def d(self) -> int:
        return self.D

    def frame(self) -> np.ndarray:
        g = np.random.default_rng(np.random.SeedSequence([777, self.D])).standard_normal((self.D, 2))
        q, _ = np.linalg.qr(g)
        return q

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        comp = rng.choice(3, size=n, p=[0.5, 0.3, 0.2])
        a = np.array([2.0, 8.0, 12.0])[comp]
        b = np.array([6.0, 8.0, 3.0])[comp]
        theta = rng.beta(a, b)
        arc = 0.8 * np.stack([np.cos(math.pi * theta), np.sin(math.pi * theta)], axis=1)
        return arc @ self.frame().T


DENSITIES = {
    "lacunary-0.5": lambda: Lacunary1D(s=0.5, name="lacunary-0.5"),
    "lacunary-1.5": lambda: Lacunary1D(s=1.5, name="lacunary-1.5"),
    "kink-0.5": lambda: Kink1D(s=0.5, name="kink-0.5"),
    "beta": lambda: Lacunary1D(s=4.0, strength=0.0, name="beta"),
}


def get_density(name: str):
    """A shipped density by name (see DENSITIES); curves are ``curve-D<D>``."""
    if name.startswith("curve-D"):
        try:
            return Curve(D=int(name[len("curve-D"):]), name=name)
        except ValueError:
            pass
    if name not in DENSITIES:
        raise InputError(f"--density {name!r} is not one of: {', '.join(DENSITIES)}, curve-D<D>")
    return DENSITIES[name]()


def smoothness(density) -> float:
    """The density's smoothness s (the curve's intrinsic law is infinitely smooth: returns inf)."""
    return float(getattr(density, "s", math.inf))

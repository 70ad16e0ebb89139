"""Privacy accounting for DIFF2 / DP-GD with Google's ``dp-accounting`` (RDP by default, PLD optional).

Every round each client releases one Gaussian mechanism: a clipped mean gradient (sensitivity 2·C1/n_p
under replace-one adjacency) or a clipped mean gradient difference (sensitivity 2·C2/n_p), with noise
std σ = z·sensitivity. The run composes R1 releases of noise multiplier z1 and R2 of z2;
``calibrate`` finds the smallest z (z1 = z2 = z) whose composed ε meets a target (ε, δ).
"""

from __future__ import annotations

from ..errors import InputError, MissingDependencyError

ACCOUNTANTS = ("rdp", "pld")


def _dp():
    try:
        import dp_accounting
    except ImportError:  # pragma: no cover - depends on the environment
        raise MissingDependencyError("dp-accounting", "federated", "privacy accounting") from None
    return dp_accounting


def event(releases: list[tuple[float, int]]):
    """The dp-accounting event of the run: a composition of ``count`` Gaussian releases per (z, count)."""
    dp = _dp()
    parts = [dp.SelfComposedDpEvent(dp.GaussianDpEvent(float(z)), int(c)) for z, c in releases if c > 0]
    return dp.ComposedDpEvent(parts)


def epsilon(releases: list[tuple[float, int]], delta: float, accountant: str = "rdp") -> float:
    """ε(δ) of composing the Gaussian releases [(noise multiplier z, count), ...]."""
    if not 0.0 < delta < 1.0:
        raise InputError(f"delta must be in (0, 1) (got {delta})")
    if accountant not in ACCOUNTANTS:
        raise InputError(f"accountant: {accountant!r} is not one of {', '.join(ACCOUNTANTS)}")
    if any(z <= 0 for z, c in releases if c > 0):
        return float("inf")
    dp = _dp()
    acc = dp.rdp.RdpAccountant() if accountant == "rdp" else dp.pld.PLDAccountant()
    acc.compose(event(releases))
    return float(acc.get_epsilon(delta))


def release_counts(rounds: int, period: int) -> tuple[int, int]:
    """(R1, R2): rounds with a full-gradient release (r mod T = 0) and rounds with a difference release."""
    r1 = (rounds + period - 1) // period
    return r1, rounds - r1


def calibrate(target_epsilon: float, delta: float, rounds: int, period: int = 1,
              accountant: str = "rdp", rtol: float = 1e-4, ratio: float = 1.0) -> float:
    """Smallest z with ε ≤ target for R rounds: R1 full releases at z1 = ratio·z, R2 difference releases at z.

    ``dp.noise_multipliers`` passes ratio = z1/z2 of the reproduction's budget split (1/u of the Rényi budget
    to the full releases).

    Bisection on z (ε is decreasing in z); the returned z satisfies ε(z) ≤ target ≤ ε(z·(1 − rtol)).
    """
    if target_epsilon <= 0:
        raise InputError(f"--epsilon must be > 0 (got {target_epsilon})")
    if rounds < 1:
        raise InputError(f"--rounds must be >= 1 (got {rounds})")
    r1, r2 = release_counts(rounds, period)
    eps = lambda z: epsilon([(ratio * z, r1), (z, r2)], delta, accountant)  # noqa: E731
    lo, hi = 1e-2, 1.0
    while eps(hi) > target_epsilon:
        lo, hi = hi, hi * 2.0
        if hi > 1e6:
            raise InputError(f"--epsilon {target_epsilon} is unreachable with {rounds} rounds")
    if eps(lo) <= target_epsilon:
        return lo
    while hi - lo > rtol * hi:
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if eps(mid) <= target_epsilon else (mid, hi)
    return hi

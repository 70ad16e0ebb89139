"""The shape every reproduction shares: a frozen config, per-seed runs, a claim check, result.json.

An experiment is a module in ``datadiet.experiments`` that defines

    NAME: str                      # registry name, e.g. "uniformity-regression"
    CLAIM: str                     # one sentence: the paper's claim
    Config                         # frozen dataclass; defaults = a CPU-sized version of the paper
    QUICK: Config                  # reduced size the test suite runs (well under a minute)
    def run(config, seed) -> dict  # one seed: JSON-serializable measurements (numbers, curves)
    def check(config, runs, out_dir) -> Verdict
        # runs: list of run() outputs, one per seed; writes PNG figures into out_dir

``datadiet.experiments.runner.reproduce`` drives seeds (resumable), calls ``check`` and writes
``result.json`` with the schema of :class:`Result`.
"""

from __future__ import annotations

from ..figures import pyplot  # noqa: F401  (the experiments' figures)

import json
import math
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any, Sequence

from ..errors import InputError
from ..paths import atomic_write


def summarize(values: Sequence[float]) -> dict[str, float | int]:
    """{"mean", "sem", "n"}: the mean over seeds and its standard error (sample std / sqrt(n))."""
    vals = [float(v) for v in values]
    n = len(vals)
    if n == 0:
        raise ValueError("summarize() needs at least one value")
    mean = sum(vals) / n
    sem = math.sqrt(sum((v - mean) ** 2 for v in vals) / (n - 1) / n) if n > 1 else 0.0
    return {"mean": mean, "sem": sem, "n": n}


@dataclass
class Verdict:
    """What ``check`` returns: the verdict, the rule that decided it, and the numbers behind it."""

    held: bool
    rule: str  # the decision rule, in words, e.g. "mean steps(U) + 2 sem < mean steps(R)"
    metrics: dict[str, dict]  # name -> summarize(...)
    figures: list[str] = field(default_factory=list)  # PNG file names inside out_dir
    details: dict[str, Any] = field(default_factory=dict)  # anything else worth keeping (curves, notes)


@dataclass
class Result:
    """The content of result.json; every experiment uses this schema."""

    name: str
    claim: str
    held: bool
    rule: str
    metrics: dict[str, dict]
    config: dict
    seeds: list[int]
    seconds: float
    figures: list[str]
    quick: bool = False
    details: dict[str, Any] = field(default_factory=dict)
    datadiet_version: str = ""
    git_commit: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    def save(self, out_dir: str | Path) -> Path:
        path = Path(out_dir) / "result.json"
        with atomic_write(path) as fh:
            json.dump(self.to_dict(), fh, indent=2, allow_nan=False, default=_json_default)
            fh.write("\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Result":
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"{path}: not a readable result.json ({exc})") from None
        missing = [k for k in ("name", "claim", "held", "metrics", "config", "seeds", "seconds", "figures")
                   if k not in data]
        if missing:
            raise InputError(f"{path}: not a datadiet result (missing {', '.join(missing)})")
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


def config_dict(config) -> dict:
    return asdict(config) if is_dataclass(config) else dict(config)


def _json_default(obj):
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")

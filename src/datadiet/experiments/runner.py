"""Run an experiment over seeds (resumable), check its claim, write result.json and figures.

    datadiet reproduce uniformity-regression --seeds 3 --out results/uniformity-regression
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import time
from pathlib import Path
from typing import Callable

from .. import __version__
from ..errors import InputError
from ..paths import atomic_write
from . import get
from .base import Result, config_dict


def reproduce(
    name: str,
    *,
    seeds: int = 3,
    quick: bool = False,
    out_dir: str | Path | None = None,
    config=None,
    on_seed: Callable[[int, int, bool], None] | None = None,
) -> Result:
    """Run ``seeds`` seeds (0..seeds-1) of experiment ``name`` and write ``out_dir/result.json``.

    Per-seed outputs are kept in ``out_dir/seeds/seed-<s>.json`` keyed by the config, so a killed
    run resumes where it stopped; a changed config starts over. ``on_seed(seed, total, cached)``
    is called after each seed.
    """
    module = get(name)
    if seeds < 1:
        raise InputError(f"--seeds {seeds} must be at least 1")
    if config is None:
        config = module.QUICK if quick else module.Config()
    out = Path(out_dir) if out_dir is not None else Path("results") / name
    out.mkdir(parents=True, exist_ok=True)
    cfg = config_dict(config)
    t0 = time.perf_counter()
    runs = []
    for seed in range(seeds):
        path = out / "seeds" / f"seed-{seed}.json"
        cached = _load_seed(path, cfg)
        if cached is None:
            cached = module.run(config, seed)
            with atomic_write(path) as fh:
                json.dump({"config": cfg, "seed": seed, "run": cached}, fh)
            hit = False
        else:
            hit = True
        runs.append(cached)
        if on_seed is not None:
            on_seed(seed, seeds, hit)
    verdict = module.check(config, runs, out)
    result = Result(
        name=module.NAME, claim=module.CLAIM, held=bool(verdict.held), rule=verdict.rule,
        metrics=verdict.metrics, config=cfg, seeds=list(range(seeds)),
        seconds=round(time.perf_counter() - t0, 2), figures=list(verdict.figures), quick=quick,
        details=verdict.details, datadiet_version=__version__, git_commit=_git_commit(),
    )
    result.save(out)
    return result


def _load_seed(path: Path, cfg: dict):
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None  # torn or foreign file: recompute
    return data.get("run") if data.get("config") == json.loads(json.dumps(cfg)) else None


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent,
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def replace_config(config, **changes):
    """A copy of a frozen config with some fields changed (for tests and CLI overrides)."""
    return dataclasses.replace(config, **changes)

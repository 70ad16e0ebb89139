"""Run an experiment over seeds (resumable), check its claim, write result.json and figures; or all of them.

    datadiet reproduce uniformity-regression --seeds 3 --out results/uniformity-regression
    datadiet reproduce all --quick --out results          # every registered experiment, then the report

``reproduce`` runs one experiment; ``plan`` + ``run_all`` run several in turn, each into OUT/<name>,
resumably: a finished experiment (its result.json matches the config, the mode and the seeds) is kept,
finished seeds come from OUT/<name>/seeds/ (seeds-quick/ for --quick), and OUT/reproduce-all.json logs
each one's status and time.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import subprocess
import time
import traceback
from pathlib import Path
from typing import Callable, Sequence

from .. import __version__
from ..errors import DatadietError, InputError, MissingDependencyError
from ..paths import atomic_write
from . import get, names
from .base import Result, config_dict, metadata

logger = logging.getLogger(__name__)


def reproduce(
    name: str,
    *,
    seeds: int | None = None,
    quick: bool = False,
    out_dir: str | Path | None = None,
    config=None,
    on_seed: Callable[[int, int, bool], None] | None = None,
) -> Result:
    """Run ``seeds`` seeds (0..seeds-1) of experiment ``name`` and write ``out_dir/result.json``.

    Per-seed outputs are kept in ``out_dir/seeds/seed-<s>.json`` (``seeds-quick/`` when ``quick``, so a
    quick check never overwrites the seeds of a full run) keyed by the config, with the seed's compute
    seconds, so a killed run resumes where it stopped; a changed config starts over. ``on_seed(seed, total, cached)``
    is called after each seed. ``seeds`` defaults to the module's ``SEEDS`` (else 3).
    """
    module = get(name)
    meta = metadata(module)
    seeds = meta.seeds if seeds is None else seeds
    if seeds < 1:
        raise InputError(f"--seeds {seeds} must be at least 1")
    if config is None:
        config = module.QUICK if quick else module.Config()
    if hasattr(module, "resolve_config"):  # e.g. fill in the hash of the cached base model it trains from
        config = module.resolve_config(config)
    out = Path(out_dir) if out_dir is not None else Path("results") / name
    out.mkdir(parents=True, exist_ok=True)
    cfg = config_dict(config)
    t0 = time.perf_counter()
    runs, seed_seconds = [], []
    for seed in range(seeds):
        path = _seed_path(out, seed, quick)
        entry = _load_seed_entry(path, cfg)
        if entry is None:
            t_seed = time.perf_counter()
            run = module.run(config, seed)
            took = round(time.perf_counter() - t_seed, 3)
            with atomic_write(path) as fh:
                json.dump({"config": cfg, "seed": seed, "run": run, "seconds": took}, fh)
            entry, hit = {"run": run, "seconds": took}, False
        else:
            hit = True
        runs.append(entry["run"])
        seed_seconds.append(entry.get("seconds"))
        if on_seed is not None:
            on_seed(seed, seeds, hit)
    t_check = time.perf_counter()
    verdict = module.check(config, runs, out)
    check_seconds = time.perf_counter() - t_check
    known = [s for s in seed_seconds if isinstance(s, (int, float)) and not isinstance(s, bool)]
    result = Result(
        name=module.NAME, claim=module.CLAIM, held=bool(verdict.held), rule=verdict.rule,
        metrics=verdict.metrics, config=cfg, seeds=list(range(seeds)),
        seconds=round(time.perf_counter() - t0, 2), figures=list(verdict.figures), quick=quick,
        details=verdict.details, datadiet_version=__version__, git_commit=_git_commit(),
        paper=meta.paper, paper_result=meta.paper_result, key_metrics=list(meta.key_metrics),
        run_seconds=round(sum(known) + check_seconds, 2) if len(known) == seeds else None,
        check_seconds=round(check_seconds, 2),
    )
    result.save(out)
    return result


def _seed_path(out: Path, seed: int, quick: bool) -> Path:
    return out / ("seeds-quick" if quick else "seeds") / f"seed-{seed}.json"


def _load_seed_entry(path: Path, cfg: dict, loose: bool = False) -> dict | None:
    """{"run": ..., "seconds": ... or None} of a seed file written for ``cfg``, else None (``loose``:
    see :func:`_same_config`)."""
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None  # torn or foreign file: recompute
    if not isinstance(data, dict) or "run" not in data or not _same_config(data.get("config"), cfg, loose):
        return None
    return {"run": data["run"], "seconds": data.get("seconds")}


def _load_seed(path: Path, cfg: dict):
    entry = _load_seed_entry(path, cfg)
    return None if entry is None else entry["run"]


def _jsonable(obj):
    return json.loads(json.dumps(obj))


def _same_config(stored, requested: dict, loose: bool = False) -> bool:
    """``stored`` (from a JSON file) is ``requested``; with ``loose``, a None in ``requested`` matches any
    stored value: what a module's ``resolve_config`` fills in at run time (e.g. the hash of a base model
    it may have to train first), which ``plan`` must not run just to print an estimate."""
    want = _jsonable(requested)
    if not loose:
        return stored == want

    def match(a, b) -> bool:
        if b is None:
            return True
        if isinstance(a, dict) and isinstance(b, dict):
            return a.keys() == b.keys() and all(match(a[k], b[k]) for k in b)
        if isinstance(a, list) and isinstance(b, list):
            return len(a) == len(b) and all(match(x, y) for x, y in zip(a, b))
        return a == b

    return match(stored, want)


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent,
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


# ---------------------------------------------------------------------------------------------
# every experiment in turn: `datadiet reproduce all`

LOG_NAME = "reproduce-all.json"


@dataclasses.dataclass
class PlanItem:
    """One experiment of a ``reproduce all`` run, before it starts."""

    name: str
    seeds: int
    out_dir: Path
    quick: bool
    estimate: float | None  # seconds still to compute; None: unknown
    source: str  # where the estimate comes from: "finished", "last run", "budget",
    #              "no last run, no declared budget" (estimate None), "unavailable" (error set)
    cached_seeds: int = 0  # seeds already in out_dir/seeds for this config
    finished: bool = False  # result.json matches: kept, not rerun
    error: str = ""  # why it cannot run here (e.g. torch missing); the estimate is then None


@dataclasses.dataclass
class Outcome:
    """What running one PlanItem gave: its result, or the one-line error that stopped it."""

    name: str
    status: str  # "held", "not held", "failed"
    seconds: float  # wall seconds of this run (0 for a kept result)
    kept: bool = False
    result: Result | None = None
    error: str = ""
    traceback: str = ""  # of a failure, kept in the run log (the terminal shows only ``error``)


def select_names(only: str | Sequence[str] | None = None, skip: str | Sequence[str] | None = None) -> list[str]:
    """Registered names, restricted to ``only`` (in its order) and less ``skip``; comma-separated
    strings or lists. An unknown name raises InputError listing the registered ones."""
    registered = names()

    def parse(value, flag: str) -> list[str]:
        if value is None:
            return []
        items = value.split(",") if isinstance(value, str) else list(value)
        items = [x.strip() for x in items if x.strip()]
        unknown = [x for x in items if x not in registered]
        if unknown:
            raise InputError(f"{flag}: unknown experiment{'s' if len(unknown) > 1 else ''} "
                             f"{', '.join(repr(x) for x in unknown)}; registered: {', '.join(registered)}")
        return list(dict.fromkeys(items))

    chosen = parse(only, "--only") if only is not None else registered
    if only is not None and not chosen:
        raise InputError(f"--only names no experiment; registered: {', '.join(registered)}")
    dropped = set(parse(skip, "--skip"))
    chosen = [n for n in chosen if n not in dropped]
    if not chosen:
        raise InputError("--only/--skip leave no experiment to run")
    return chosen


def plan(selected: Sequence[str], *, quick: bool = False, seeds: int | None = None,
         out_dir: str | Path = "results") -> list[PlanItem]:
    """What ``run_all`` will do for each experiment, with its time estimate: 0 when finished; else the
    seeds still to run times a per-seed time from the last run in ``out_dir/<name>`` (seed files, then
    result.json of the same mode), else the module's declared budget, else unknown."""
    if seeds is not None and seeds < 1:
        raise InputError(f"--seeds {seeds} must be at least 1")
    root = Path(out_dir)
    items = []
    for name in selected:
        out = root / name
        try:
            module = _import(name)
            meta = metadata(module)
            config = module.QUICK if quick else module.Config()
        except Exception as exc:  # a missing extra, or a module broken mid-edit: the others still run
            if os.environ.get("DATADIET_DEBUG") == "1":
                raise
            items.append(PlanItem(name, seeds or 0, out, quick, None, "unavailable", error=_one_line(exc)))
            continue
        n = meta.seeds if seeds is None else seeds
        cfg = config_dict(config)
        loose = hasattr(module, "resolve_config")  # its config is completed at run time, not here
        entries = [_load_seed_entry(_seed_path(out, s, quick), cfg, loose) for s in range(n)]
        cached = sum(e is not None for e in entries)
        if _finished(out, cfg, n, quick, loose):
            items.append(PlanItem(name, n, out, quick, 0.0, "finished", cached, finished=True))
            continue
        missing = n - cached
        per_seed = _per_seed_seconds(out, entries, cfg, quick, loose)
        if per_seed is not None:
            estimate, source = per_seed * missing + _check_seconds(out, quick), "last run"
        elif meta.budget(quick) is not None:
            estimate, source = meta.budget(quick) * missing / meta.seeds, "budget"
        else:
            estimate, source = None, "no last run, no declared budget"
        items.append(PlanItem(name, n, out, quick, estimate, source, cached))
    return items


def run_all(
    items: Sequence[PlanItem],
    *,
    log_path: str | Path | None = None,
    on_start: Callable[[PlanItem], None] | None = None,
    on_seed: Callable[[PlanItem, int, int, bool], None] | None = None,
    on_done: Callable[[PlanItem, Outcome], None] | None = None,
) -> list[Outcome]:
    """Run each planned experiment in turn (a finished one is kept, not rerun).

    An experiment that raises is recorded as "failed" with a one-line error and the run goes on to
    the next (set DATADIET_DEBUG=1 to stop with the traceback instead). After each experiment
    ``log_path`` (JSON: per experiment its status, seeds, estimate and seconds) is rewritten.
    """
    outcomes: list[Outcome] = []
    for item in items:
        if on_start is not None:
            on_start(item)
        t0 = time.perf_counter()
        try:
            if item.error:
                outcome = Outcome(item.name, "failed", 0.0, error=item.error)
            elif item.finished:
                result = _refresh_metadata(item)
                outcome = Outcome(item.name, _status(result), 0.0, kept=True, result=result)
            else:
                result = reproduce(
                    item.name, seeds=item.seeds, quick=item.quick, out_dir=item.out_dir,
                    on_seed=None if on_seed is None else (lambda s, total, hit, _i=item: on_seed(_i, s, total, hit)),
                )
                outcome = Outcome(item.name, _status(result), round(time.perf_counter() - t0, 2), result=result)
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # one experiment's failure must not lose the others' hours
            if os.environ.get("DATADIET_DEBUG") == "1":
                raise
            logger.debug("experiment %s failed", item.name, exc_info=True)
            outcome = Outcome(item.name, "failed", round(time.perf_counter() - t0, 2), error=_one_line(exc),
                              traceback=traceback.format_exc())
        outcomes.append(outcome)
        if log_path is not None:
            _write_log(Path(log_path), items, outcomes)
        if on_done is not None:
            on_done(item, outcome)
    return outcomes


# the top-level module an experiment may lack -> (its PyPI package, the datadiet extra that installs it)
_EXTRAS = {"torch": ("torch", "torch"), "sklearn": ("scikit-learn", "mfld"), "scipy": ("scipy", "reuse"),
           "matplotlib": ("matplotlib", "plot"), "tokenizers": ("tokenizers", "lm"),
           "transformers": ("transformers", "hf"), "flwr": ("flwr", "federated"), "opacus": ("opacus", "federated"),
           "dp_accounting": ("dp-accounting", "federated"), "gensim": ("gensim", "word2vec")}


def _import(name: str):
    """The experiment module; an optional dependency it lacks becomes a MissingDependencyError."""
    try:
        return get(name)
    except ModuleNotFoundError as exc:
        top = (exc.name or "").split(".")[0]
        if top == "datadiet" or not top:
            raise
        package, extra = _EXTRAS.get(top, (top, "all"))
        raise MissingDependencyError(package, extra, f"experiment {name!r}") from None


def _finished(out: Path, cfg: dict, seeds: int, quick: bool, loose: bool = False) -> bool:
    """result.json in ``out`` was written for this config, mode and seeds, and its figures exist."""
    try:
        result = Result.load(out / "result.json")
    except (InputError, TypeError):
        return False
    return (result.quick == quick and _same_config(result.config, cfg, loose) and result.seeds == list(range(seeds))
            and all((out / f).is_file() for f in result.figures))


def _per_seed_seconds(out: Path, entries: list, cfg: dict, quick: bool, loose: bool = False) -> float | None:
    """Mean recorded time of a seed: from this config's seed files, else from the last result.json of
    the same mode (its run_seconds, else seconds, over its seeds)."""
    times = [e["seconds"] for e in entries if e is not None and isinstance(e.get("seconds"), (int, float))]
    if not times:  # seeds beyond the requested count, from a longer earlier run
        for path in sorted(_seed_path(out, 0, quick).parent.glob("seed-*.json")):
            e = _load_seed_entry(path, cfg, loose)
            if e is not None and isinstance(e.get("seconds"), (int, float)):
                times.append(e["seconds"])
    if times:
        return sum(times) / len(times)
    try:
        last = Result.load(out / "result.json")
    except (InputError, TypeError):
        return None
    if last.quick != quick or not last.seeds or not isinstance(last.seconds, (int, float)):
        return None
    return last.runtime / len(last.seeds)


def _check_seconds(out: Path, quick: bool) -> float:
    """check()'s time in the last result.json of the same mode (0 when unknown)."""
    try:
        last = Result.load(out / "result.json")
    except (InputError, TypeError):
        return 0.0
    ok = last.quick == quick and isinstance(last.check_seconds, (int, float)) and not isinstance(last.check_seconds, bool)
    return float(last.check_seconds) if ok else 0.0


def _refresh_metadata(item: PlanItem) -> Result:
    """A kept result, with the module's current PAPER/PAPER_RESULT/KEY_METRICS written into it."""
    result = Result.load(item.out_dir / "result.json")
    meta = metadata(get(item.name))
    fresh = (meta.paper, meta.paper_result, list(meta.key_metrics))
    if (result.paper, result.paper_result, list(result.key_metrics)) != fresh:
        result.paper, result.paper_result, result.key_metrics = fresh
        result.save(item.out_dir)
    return result


def _status(result: Result) -> str:
    return "held" if result.held else "not held"


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if not isinstance(exc, DatadietError) else text


def _write_log(path: Path, items: Sequence[PlanItem], outcomes: Sequence[Outcome]) -> None:
    done = {o.name: o for o in outcomes}
    rows = []
    for item in items:
        o = done.get(item.name)
        rows.append({
            "name": item.name, "seeds": item.seeds, "quick": item.quick, "out": str(item.out_dir),
            "estimate_seconds": None if item.estimate is None else round(item.estimate, 1),
            "estimate_source": item.source,
            "status": o.status if o else "pending", "kept": bool(o and o.kept),
            "seconds": o.seconds if o else None,
            "runtime_seconds": round(o.result.runtime, 2) if o and o.result else None,
            "error": o.error if o else "",
            "traceback": o.traceback if o else "",
        })
    data = {"datadiet_version": __version__, "git_commit": _git_commit(),
            "seconds": round(sum(o.seconds for o in outcomes), 2), "experiments": rows}
    with atomic_write(path) as fh:
        json.dump(data, fh, indent=2)
        fh.write("\n")


def replace_config(config, **changes):
    """A copy of a frozen config with some fields changed (for tests and CLI overrides)."""
    return dataclasses.replace(config, **changes)

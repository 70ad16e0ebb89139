"""The shape every reproduction shares: a frozen config, per-seed runs, a claim check, result.json.

An experiment is a module in ``datadiet.experiments`` that defines

    NAME: str                      # registry name, e.g. "uniformity-regression"
    CLAIM: str                     # one sentence: the paper's claim
    Config                         # frozen dataclass; defaults = a CPU-sized version of the paper
    QUICK: Config                  # reduced size the test suite runs (well under a minute)
    def run(config, seed) -> dict  # one seed: JSON-serializable measurements (numbers, curves)
    def check(config, runs, out_dir) -> Verdict
        # runs: list of run() outputs, one per seed; writes PNG figures into out_dir

and may declare, for ``datadiet reproduce all`` and the report (every one optional; :func:`metadata`
reads them and checks their types):

    PAPER: str                     # the citation, e.g. "Dandi et al., The Benefits of Reusing Batches ...,
                                   # ICML 2024 (arXiv 2402.03220)"
    PAPER_RESULT: str              # the paper's own quantitative statement, one line, e.g. "uniform 10k
                                   # reaches the target loss about 30% sooner than random 10k, LLaMA-1-13B,
                                   # WizardLM"
    KEY_METRICS: Sequence[str]     # the 3-5 keys of check()'s metrics that carry the verdict, the headline
                                   # number first (shown beside PAPER_RESULT); a key may be an fnmatch
                                   # pattern ("abs_step2_one_d*", expanded in the metrics' order); keys a
                                   # result lacks (a --quick config) are skipped
    SEEDS: int                     # seeds a faithful run uses when --seeds is not given (default 3)
    BUDGET_SECONDS: float          # expected wall seconds of the full run at SEEDS seeds on 2 CPU cores
    QUICK_BUDGET_SECONDS: float    # the same for --quick (QUICK config)
    def resolve_config(config) -> Config
        # completes a config at run time (e.g. the hash of a base model it pretrains first); the runner
        # calls it before the seeds; `reproduce all`'s plan does not, and matches the fields it leaves
        # None against any stored value

Without them: the paper is the citation in CLAIM's closing parenthesis ("arXiv 2402.03220"), the paper's
result reads "not declared", the key metrics are check()'s first three metrics, the time estimate comes
from the last run in the output folder (per-seed times in ``seeds/seed-<s>.json``, ``seeds-quick/`` for
--quick) or says "unknown".
The report's section of an experiment leads with the first one or two of ``Verdict.figures`` (put the
main figures first) and the key metrics; every metric is in a folded table below.

``datadiet.experiments.runner.reproduce`` drives seeds (resumable), calls ``check`` and writes
``result.json`` with the schema of :class:`Result` (the declared metadata included, so a result folder
describes itself); ``runner.plan``/``runner.run_all`` run every registered experiment in turn.
"""

from __future__ import annotations

from ..figures import pyplot  # noqa: F401  (the experiments' figures)

import fnmatch
import json
import math
import numbers
import re
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from types import ModuleType
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
    # declared metadata (see the module docstring); "" / [] when the experiment declares none
    paper: str = ""
    paper_result: str = ""
    key_metrics: list[str] = field(default_factory=list)  # as declared: keys or fnmatch patterns
    # seconds the whole result costs from scratch: every seed's own compute time (cached seeds
    # included, from seeds[-quick]/seed-<s>.json) plus check(); None when a seed's time was not recorded
    run_seconds: float | None = None
    check_seconds: float | None = None  # of check() alone (figures, fits): part of the next run's estimate

    @property
    def runtime(self) -> float:
        """What this result cost to compute: ``run_seconds`` where known, else this call's ``seconds``."""
        return float(self.run_seconds) if self.run_seconds is not None else float(self.seconds)

    def to_dict(self) -> dict:
        return asdict(self)

    def save(self, out_dir: str | Path) -> Path:
        path = Path(out_dir) / "result.json"
        with atomic_write(path) as fh:
            json.dump(_finite(self.to_dict()), fh, indent=2, allow_nan=False, default=_json_default)
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
        return cls(**{k: _unfinite(v) for k, v in data.items() if k in known})


# ---------------------------------------------------------------------------------------------
# optional experiment metadata (PAPER, PAPER_RESULT, KEY_METRICS, SEEDS, BUDGET_SECONDS, ...)

DEFAULT_SEEDS = 3
N_FALLBACK_KEYS = 3


@dataclass(frozen=True)
class Metadata:
    """An experiment module's optional declarations, checked; ``None``/"" where it declares none."""

    paper: str = ""
    paper_result: str = ""
    key_metrics: tuple[str, ...] = ()
    seeds: int = DEFAULT_SEEDS
    budget_seconds: float | None = None
    quick_budget_seconds: float | None = None

    def budget(self, quick: bool) -> float | None:
        return self.quick_budget_seconds if quick else self.budget_seconds


def metadata(module: ModuleType) -> Metadata:
    """Read PAPER, PAPER_RESULT, KEY_METRICS, SEEDS, BUDGET_SECONDS, QUICK_BUDGET_SECONDS of ``module``.

    Every attribute is optional; a declared one of the wrong type raises TypeError naming it.
    """
    where = getattr(module, "__name__", "experiment")

    def text(attr: str) -> str:
        value = getattr(module, attr, "")
        if not isinstance(value, str):
            raise TypeError(f"{where}.{attr} must be a string, got {type(value).__name__}")
        return " ".join(value.split())

    def seconds(attr: str) -> float | None:
        value = getattr(module, attr, None)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
            raise TypeError(f"{where}.{attr} must be a number of seconds >= 0, got {value!r}")
        return float(value)

    keys = getattr(module, "KEY_METRICS", ())
    if isinstance(keys, str) or not all(isinstance(k, str) and k for k in keys):
        raise TypeError(f"{where}.KEY_METRICS must be a list of metric keys (strings), got {keys!r}")
    seeds = getattr(module, "SEEDS", DEFAULT_SEEDS)
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise TypeError(f"{where}.SEEDS must be an integer >= 1, got {seeds!r}")
    return Metadata(paper=text("PAPER"), paper_result=text("PAPER_RESULT"), key_metrics=tuple(keys),
                    seeds=seeds, budget_seconds=seconds("BUDGET_SECONDS"),
                    quick_budget_seconds=seconds("QUICK_BUDGET_SECONDS"))


def resolve_key_metrics(declared: Sequence[str], metrics: dict[str, Any]) -> list[str]:
    """The metric keys ``declared`` names (exact keys or fnmatch patterns), in declared order, each
    pattern expanded in the metrics' own order; keys ``metrics`` lacks are skipped. With nothing
    declared (or nothing found): the first three metrics."""
    out: list[str] = []
    for key in declared:
        if key in metrics:
            found = [key]
        elif any(c in key for c in "*?["):
            found = [k for k in metrics if fnmatch.fnmatchcase(k, key)]
        else:
            found = []
        out.extend(k for k in found if k not in out)
    return out or list(metrics)[:N_FALLBACK_KEYS]


_VENUE = re.compile(r"arXiv|NeurIPS|ICML|ICLR|COLT|AISTATS|\b(?:19|20)\d\d\b")


def _citation(claim: str) -> tuple[int, str] | None:
    """(start, inner text) of the parenthesis closing ``claim`` when it names a venue, arXiv or a year."""
    text = " ".join(claim.split()).rstrip(". ")
    if not text.endswith(")"):
        return None
    depth = 0
    for i in range(len(text) - 1, -1, -1):
        depth += {")": 1, "(": -1}.get(text[i], 0)
        if depth == 0:
            inner = text[i + 1:-1].strip()
            return (i, inner) if _VENUE.search(inner) else None
    return None


def paper_from_claim(claim: str) -> str:
    """The citation in a claim's closing parenthesis ("... (arXiv 2506.24120)." -> "arXiv 2506.24120"),
    "" when the claim does not end with one naming a venue, arXiv or a year."""
    found = _citation(claim)
    return found[1] if found else ""


def claim_without_citation(claim: str) -> str:
    """The claim less the citation :func:`paper_from_claim` finds (for a one-line table cell)."""
    text = " ".join(claim.split())
    found = _citation(text)
    if found is None:
        return text
    text = text[: found[0]].rstrip(" ,;")
    return text if text.endswith(".") else text + "."


def config_dict(config) -> dict:
    return asdict(config) if is_dataclass(config) else dict(config)


#: how result.json spells the non-finite floats strict JSON has no literal for (a diverged run's inf score)
_NONFINITE = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}


def _finite(obj):
    """``obj`` with every non-finite float replaced by its name ("inf", "-inf", "nan"): strict JSON."""
    if isinstance(obj, numbers.Real) and not math.isfinite(obj):   # numpy scalars register as Real
        return "nan" if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def _unfinite(obj):
    """The inverse of ``_finite`` for what it wrote: the names back to floats."""
    if isinstance(obj, str) and obj in _NONFINITE:
        return _NONFINITE[obj]
    if isinstance(obj, dict):
        return {k: _unfinite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_unfinite(v) for v in obj]
    return obj


def _json_default(obj):
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")

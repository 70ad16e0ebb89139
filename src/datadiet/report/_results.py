"""Result folders -> validated entries, and what the report says of each (paper, key metrics, one-line claim)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from ..experiments.base import (Result, claim_without_citation, paper_from_claim, resolve_key_metrics)
from ._format import fmt_metric, one_line


@dataclass
class Entry:
    """One result.json under the report's folder, with what the page shows of it."""

    result: Result
    path: Path  # the result.json
    rel: str = ""  # path relative to the results directory, shown in the page
    anchor: str = ""  # unique HTML id
    paper: str = ""  # citation: declared PAPER, else the one in the claim, else ""
    paper_result: str = ""  # the paper's own number (declared PAPER_RESULT), else ""
    claim_line: str = ""  # the claim on one line, less its citation
    key_metrics: list[str] = field(default_factory=list)  # resolved keys, headline first

    @property
    def folder(self) -> Path:
        return self.path.parent

    @property
    def headline(self) -> str | None:
        return self.key_metrics[0] if self.key_metrics else None

    def measured(self) -> str:
        """The headline key metric as ``mean ± sem`` ("" when the result has no metric)."""
        key = self.headline
        return fmt_metric(self.result.metrics[key]) if key else ""


def load_results(results_dir: str | os.PathLike) -> list[Entry]:
    """Every result.json under ``results_dir`` (recursively), validated, sorted by experiment name."""
    root = Path(results_dir)
    if not root.is_dir():
        raise InputError(f"{root}: not a directory; give the folder that holds the experiments' result.json files")
    paths = sorted(root.rglob("result.json"))
    if not paths:
        raise InputError(f"no result.json under {root}; run an experiment first: "
                         f"datadiet reproduce NAME --out {root / 'NAME'}")
    entries = [_describe(Entry(_load(p), p, p.relative_to(root).as_posix())) for p in paths]
    entries.sort(key=lambda e: (e.result.name, str(e.path)))
    seen: dict[str, int] = {}
    for e in entries:  # two results of one experiment (different folders) get distinct ids
        base = anchor(e.result.name)
        seen[base] = seen.get(base, 0) + 1
        e.anchor = base if seen[base] == 1 else f"{base}-{seen[base]}"
    return entries


def anchor(name: str) -> str:
    return "exp-" + "".join(c if c.isalnum() or c in "-_" else "-" for c in name)


def _describe(entry: Entry) -> Entry:
    """Fill the paper, its result and the key metrics: what result.json declares, else what the
    registered experiment module declares now, else the claim's citation and the first metrics."""
    r = entry.result
    declared = _module_declarations(r.name)
    entry.paper = r.paper or declared.get("paper", "") or paper_from_claim(r.claim)
    entry.paper_result = r.paper_result or declared.get("paper_result", "")
    entry.claim_line = one_line(claim_without_citation(r.claim))
    entry.key_metrics = resolve_key_metrics(r.key_metrics or declared.get("key_metrics", ()), r.metrics)
    return entry


def _module_declarations(name: str) -> dict:
    """PAPER / PAPER_RESULT / KEY_METRICS of the registered experiment ``name``, {} when it is not
    registered, cannot be imported here, or declares them wrongly (a report never fails on that)."""
    from .. import experiments
    from ..experiments.base import metadata

    if name not in experiments.names():
        return {}
    try:
        meta = metadata(experiments.get(name))
    except Exception:  # noqa: BLE001 - an optional dependency missing, a module mid-edit
        return {}
    return {"paper": meta.paper, "paper_result": meta.paper_result, "key_metrics": meta.key_metrics}


def _load(path: Path) -> Result:
    try:
        result = Result.load(path)
    except InputError:
        raise
    except (TypeError, AttributeError, ValueError) as exc:  # e.g. a JSON list or number, unknown shape
        raise InputError(f"{path}: not a datadiet result ({exc})") from None
    _validate(result, path)
    return result


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _validate(r: Result, path: Path) -> None:
    def bad(what: str):
        raise InputError(f"{path}: malformed result.json ({what}); rerun `datadiet reproduce` to rewrite it")

    if not isinstance(r.name, str) or not r.name:
        bad("'name' must be a non-empty string")
    if not isinstance(r.claim, str):
        bad("'claim' must be a string")
    if not isinstance(r.held, bool):
        bad("'held' must be true or false")
    if not isinstance(r.metrics, dict):
        bad("'metrics' must be an object")
    for key, m in r.metrics.items():
        if not isinstance(m, dict) or not all(k in m for k in ("mean", "sem", "n")):
            bad(f"metric {key!r} must be an object with mean, sem, n")
        if not all(_number(m[k]) for k in ("mean", "sem", "n")):
            bad(f"metric {key!r}: mean, sem and n must be numbers")
    if not isinstance(r.config, dict):
        bad("'config' must be an object")
    if not isinstance(r.seeds, list):
        bad("'seeds' must be a list")
    if not _number(r.seconds):
        bad("'seconds' must be a number")
    for attr in ("run_seconds", "check_seconds"):
        if getattr(r, attr) is not None and not _number(getattr(r, attr)):
            bad(f"'{attr}' must be a number or null")
    if not isinstance(r.figures, list) or not all(isinstance(f, str) for f in r.figures):
        bad("'figures' must be a list of file names")
    if not isinstance(r.rule, str):
        bad("'rule' must be a string")
    for attr in ("paper", "paper_result"):
        if not isinstance(getattr(r, attr), str):
            bad(f"'{attr}' must be a string")
    if not isinstance(r.key_metrics, list) or not all(isinstance(k, str) for k in r.key_metrics):
        bad("'key_metrics' must be a list of metric keys")

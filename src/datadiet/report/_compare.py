"""Two result folders (before and after a change) -> every flipped verdict and every moved key metric.

A key metric *moved* when |mean_new - mean_old| > sqrt(sem_old^2 + sem_new^2), its combined standard
error (with both sems 0, e.g. a single seed or a deterministic number, any change counts).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from ._format import fmt_num
from ._results import Entry, load_results


@dataclass
class MetricChange:
    """One key metric of one experiment, old against new."""

    key: str
    old: dict | None  # summarize() dict; None: the metric is only in the other folder
    new: dict | None

    @property
    def delta(self) -> float | None:
        return None if self.old is None or self.new is None else float(self.new["mean"]) - float(self.old["mean"])

    @property
    def combined_sem(self) -> float | None:
        if self.old is None or self.new is None:
            return None
        return math.sqrt(float(self.old["sem"]) ** 2 + float(self.new["sem"]) ** 2)

    @property
    def moved(self) -> bool:
        """|delta| > sqrt(sem_old^2 + sem_new^2)."""
        d, c = self.delta, self.combined_sem
        return d is not None and abs(d) > c


@dataclass
class ExperimentChange:
    """One experiment in either folder: its verdicts and its key metrics, old against new."""

    name: str
    old: Entry | None
    new: Entry | None
    metrics: list[MetricChange] = field(default_factory=list)

    @property
    def old_held(self) -> bool | None:
        return None if self.old is None else self.old.result.held

    @property
    def new_held(self) -> bool | None:
        return None if self.new is None else self.new.result.held

    @property
    def flipped(self) -> bool:
        return self.old is not None and self.new is not None and self.old_held != self.new_held

    @property
    def moved(self) -> list[MetricChange]:
        return [m for m in self.metrics if m.moved]

    @property
    def note(self) -> str:
        """Why the two runs may not compare like for like ("" when they do)."""
        if self.old is None:
            return "only in NEW"
        if self.new is None:
            return "only in OLD"
        notes = []
        o, n = self.old.result, self.new.result
        if o.quick != n.quick:
            notes.append(f"mode {'quick' if o.quick else 'full'} -> {'quick' if n.quick else 'full'}")
        if len(o.seeds) != len(n.seeds):
            notes.append(f"seeds {len(o.seeds)} -> {len(n.seeds)}")
        if o.config != n.config:
            notes.append("config changed")
        return "; ".join(notes)


@dataclass
class Comparison:
    """``compare(old, new)``: one ExperimentChange per experiment name in either folder, sorted."""

    old_dir: Path
    new_dir: Path
    experiments: list[ExperimentChange]

    @property
    def flipped(self) -> list[ExperimentChange]:
        return [e for e in self.experiments if e.flipped]

    @property
    def moved(self) -> list[tuple[str, MetricChange]]:
        return [(e.name, m) for e in self.experiments for m in e.moved]

    def summary(self) -> str:
        n_metrics = sum(1 for e in self.experiments for m in e.metrics if m.delta is not None)
        n_flip, n_moved = len(self.flipped), len(self.moved)
        return (f"{n_flip} verdict{'s' if n_flip != 1 else ''} flipped, {n_moved} of {n_metrics} key metrics "
                f"moved by more than their combined standard error")

    def rows(self) -> list[dict]:
        """The comparison as table rows (what the terminal, the HTML and the Markdown show): per
        experiment one verdict row, then one row per key metric. ``flag`` is "FLIPPED", "MOVED" or ""."""
        out = []
        for e in self.experiments:
            out.append({"experiment": e.name, "what": "verdict", "old": _verdict(e.old_held),
                        "new": _verdict(e.new_held), "delta": "", "combined_sem": "",
                        "flag": "FLIPPED" if e.flipped else "", "note": e.note})
            for m in e.metrics:
                out.append({"experiment": e.name, "what": m.key,
                            "old": "—" if m.old is None else f"{fmt_num(m.old['mean'])} ± {fmt_num(m.old['sem'])}",
                            "new": "—" if m.new is None else f"{fmt_num(m.new['mean'])} ± {fmt_num(m.new['sem'])}",
                            "delta": "" if m.delta is None else f"{m.delta:+.4g}",
                            "combined_sem": "" if m.combined_sem is None else fmt_num(m.combined_sem),
                            "flag": "MOVED" if m.moved else "",
                            "note": "" if m.delta is not None else ("only in NEW" if m.old is None else "only in OLD")})
        return out

    def table(self) -> str:
        """The rows as a plain-text table for the terminal."""
        cols = ["experiment", "what", "old", "new", "delta", "combined_sem", "flag", "note"]
        head = {"experiment": "experiment", "what": "verdict / key metric", "old": "old", "new": "new",
                "delta": "Δ", "combined_sem": "combined s.e.", "flag": "flag", "note": "note"}
        rows = self.rows()
        widths = {c: max(len(head[c]), *(len(r[c]) for r in rows)) if rows else len(head[c]) for c in cols}
        right = {"delta", "combined_sem"}

        def line(r):
            cells = [r[c].rjust(widths[c]) if c in right else r[c].ljust(widths[c]) for c in cols]
            return "  ".join(cells).rstrip()

        out = [line(head), "  ".join("-" * widths[c] for c in cols)]
        prev = None
        for r in rows:
            shown = dict(r, experiment=r["experiment"] if r["experiment"] != prev else "")
            prev = r["experiment"]
            out.append(line(shown))
        return "\n".join(out)


def _verdict(held: bool | None) -> str:
    return "—" if held is None else ("held" if held else "not held")


def _keyed(entries: list[Entry]) -> dict[str, Entry]:
    """name -> entry; an experiment present twice in one folder is keyed by its relative path."""
    counts: dict[str, int] = {}
    for e in entries:
        counts[e.result.name] = counts.get(e.result.name, 0) + 1
    return {(e.result.name if counts[e.result.name] == 1 else e.rel.rsplit("/", 1)[0] or e.result.name): e
            for e in entries}


def compare(old_dir: str | os.PathLike, new_dir: str | os.PathLike) -> Comparison:
    """Compare every experiment of two result folders: flipped verdicts and key metrics (the union of
    both sides' key metrics) that moved by more than sqrt(sem_old^2 + sem_new^2).

    Raises InputError when either folder holds no result.json or a malformed one.
    """
    old, new = _keyed(load_results(old_dir)), _keyed(load_results(new_dir))
    changes = []
    for name in sorted(set(old) | set(new)):
        o, n = old.get(name), new.get(name)
        keys = list(dict.fromkeys((n.key_metrics if n else []) + (o.key_metrics if o else [])))
        metrics = []
        if o is not None and n is not None:
            for k in keys:
                mo, mn = o.result.metrics.get(k), n.result.metrics.get(k)
                if mo is not None or mn is not None:
                    metrics.append(MetricChange(k, mo, mn))
        changes.append(ExperimentChange(name, o, n, metrics))
    return Comparison(Path(old_dir), Path(new_dir), changes)

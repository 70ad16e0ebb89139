"""The Markdown file: the same verdict table and sections as the HTML page, figures by relative path."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ._compare import Comparison
from ._format import fmt_metric, fmt_num, fmt_seconds
from ._format import md_cell as _md
from ._html import MAIN_FIGURES, _failures
from ._results import Entry


def markdown(entries: list[Entry], md_dir: Path, comparison: Comparison | None = None) -> str:
    n_held = sum(e.result.held for e in entries)
    lines = ["# datadiet reproduction report", "",
             f"{len(entries)} experiment{'s' if len(entries) != 1 else ''}; claim held in {n_held} of {len(entries)}. "
             f"Runtime: {fmt_seconds(sum(e.result.runtime for e in entries))} in all.",
             "", "| experiment | paper | claim | measured | paper reports | verdict | seeds | runtime |",
             "| --- | --- | --- | --- | --- | --- | ---: | ---: |"]
    was = {}
    if comparison is not None:
        was = {c.new.anchor: c.old_held for c in comparison.experiments if c.flipped and c.new is not None}
    for e in entries:
        r = e.result
        measured = f"`{_md(e.headline)}` {_md(e.measured())}" if e.headline else "—"
        verdict = ("held" if r.held else "**not held**")
        if e.anchor in was:
            verdict += f" (flipped: was {'held' if was[e.anchor] else 'not held'})"
        lines.append(f"| [{_md(r.name)}](#{e.anchor}) | {_md(e.paper) or '—'} | {_md(e.claim_line)} | {measured} | "
                     f"{_md(e.paper_result) or 'not declared'} | {verdict} | "
                     f"{len(r.seeds)}{' (quick)' if r.quick else ''} | {fmt_seconds(r.runtime)} |")
    if comparison is not None:
        lines += ["", f"## Changes since `{_md(comparison.old_dir)}`", "", comparison.summary() + ".", "",
                  "| experiment | verdict / key metric | old | new | Δ | combined s.e. | flag | note |",
                  "| --- | --- | ---: | ---: | ---: | ---: | --- | --- |"]
        for row in comparison.rows():
            lines.append("| " + " | ".join(_md(row[c]) for c in ("experiment", "what", "old", "new", "delta",
                                                                   "combined_sem", "flag", "note")) + " |")
    for e in entries:
        r = e.result
        lines += ["", f'<a id="{e.anchor}"></a>', "", f"## {_md(r.name)}", "",
                  f"**{'claim held' if r.held else 'claim NOT held'}**"
                  + (f" · {_md(e.paper)}" if e.paper else ""), "", f"> {_md(r.claim)}", ""]
        if e.paper_result:
            lines += [f"The paper reports: {_md(e.paper_result)}", ""]
        for name in r.figures[:MAIN_FIGURES]:
            lines += [_md_figure(e, name, md_dir), ""]
        if e.key_metrics:
            lines += _md_metrics(r, e.key_metrics) + [""]
        lines += [f"Decision rule: `{r.rule.replace('`', chr(39))}`", ""]
        failures = _failures(r)
        if failures and not r.held:
            lines += [f"- {_md(x)}" for x in failures] + [""]
        if r.metrics:
            lines += [f"<details><summary>all {len(r.metrics)} metrics</summary>", ""] + _md_metrics(r, list(r.metrics)) \
                + ["", "</details>", ""]
        more = r.figures[MAIN_FIGURES:]
        if more:
            lines += [f"<details><summary>{len(more)} more figure{'s' if len(more) > 1 else ''}</summary>", ""]
            for name in more:
                lines += [_md_figure(e, name, md_dir), ""]
            lines += ["</details>", ""]
        lines += ["<details><summary>config</summary>", "", "```json",
                  json.dumps(r.config, indent=2, sort_keys=True, default=str).replace("```", "'''"),
                  "```", "", "</details>", ""]
        commit = r.git_commit or "unknown"
        lines += [f"seeds: {', '.join(str(s) for s in r.seeds)} · time: {fmt_num(r.runtime)} s · "
                  f"quick mode: {'yes' if r.quick else 'no'} · git commit: `{_md(commit[:12])}` · "
                  f"file: `{_md(e.rel)}`"]
    return "\n".join(lines) + "\n"


def _md_metrics(r, keys) -> list[str]:
    return ["| metric | mean ± sem | n |", "| --- | ---: | ---: |"] + [
        f"| {_md(k)} | {fmt_metric(r.metrics[k])} | {fmt_num(r.metrics[k]['n'])} |" for k in keys]


def _md_figure(entry: Entry, name: str, md_dir: Path) -> str:
    rel = Path(os.path.relpath(entry.folder / name, md_dir)).as_posix()
    return f"![{_md(name)}]({rel.replace(' ', '%20').replace(')', '%29')})"

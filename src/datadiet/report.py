"""Results -> one self-contained HTML page and a Markdown file, with the figures.

Every ``result.json`` under a directory (one folder per experiment, written by
``datadiet reproduce NAME --out DIR/NAME``) becomes one section: the claim, the verdict and the rule
that decided it, the metrics (mean ± sem over seeds), the config, the seeds and the figures.
The HTML embeds the figures as ``data:`` URIs and has no external resources, so it can be mailed or
opened offline; the Markdown references the figures by relative path.

    datadiet report results            # -> results/report.html, results/report.md
"""

from __future__ import annotations

import base64
import html
import json
import logging
import math
import mimetypes
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError
from .experiments.base import Result
from .paths import atomic_write

logger = logging.getLogger(__name__)

__all__ = ["render", "load_results"]


@dataclass
class _Entry:
    result: Result
    path: Path  # the result.json
    rel: str = ""  # path relative to the results directory, shown in the page
    anchor: str = ""  # unique HTML id

    @property
    def folder(self) -> Path:
        return self.path.parent


def render(results_dir: str | os.PathLike, *, out_html: str | os.PathLike | None = None,
           out_md: str | os.PathLike | None = None) -> tuple[Path, Path]:
    """Render every ``result.json`` under ``results_dir`` into (HTML page, Markdown file).

    Defaults: ``results_dir/report.html`` and ``results_dir/report.md``. Both are written atomically.
    Raises InputError when there is no result.json or one is malformed (the message names the file).
    """
    root = Path(results_dir)
    entries = load_results(root)
    html_path = Path(out_html) if out_html is not None else root / "report.html"
    md_path = Path(out_md) if out_md is not None else root / "report.md"
    inputs = {e.path.resolve() for e in entries}
    for out in (html_path, md_path):
        if out.resolve() in inputs:
            raise InputError(f"{out} is a result.json this report reads; write the report elsewhere")
    if html_path.resolve() == md_path.resolve():
        raise InputError(f"--html and --md are the same file ({html_path}); give two different paths")

    page = _html_page(entries)
    with atomic_write(html_path) as fh:
        fh.write(page)
    md = _markdown(entries, md_path.parent)
    with atomic_write(md_path) as fh:
        fh.write(md)
    return html_path, md_path


def load_results(results_dir: str | os.PathLike) -> list[_Entry]:
    """Every result.json under ``results_dir`` (recursively), validated, sorted by experiment name."""
    root = Path(results_dir)
    if not root.is_dir():
        raise InputError(f"{root}: not a directory; give the folder that holds the experiments' result.json files")
    paths = sorted(root.rglob("result.json"))
    if not paths:
        raise InputError(f"no result.json under {root}; run an experiment first: "
                         f"datadiet reproduce NAME --out {root / 'NAME'}")
    entries = [_Entry(_load(p), p, p.relative_to(root).as_posix()) for p in paths]
    entries.sort(key=lambda e: (e.result.name, str(e.path)))
    seen: dict[str, int] = {}
    for e in entries:  # two results of one experiment (different folders) get distinct ids
        base = _anchor(e.result.name)
        seen[base] = seen.get(base, 0) + 1
        e.anchor = base if seen[base] == 1 else f"{base}-{seen[base]}"
    return entries


def _load(path: Path) -> Result:
    try:
        result = Result.load(path)
    except InputError:
        raise
    except (TypeError, AttributeError, ValueError) as exc:  # e.g. a JSON list or number, unknown shape
        raise InputError(f"{path}: not a datadiet result ({exc})") from None
    _validate(result, path)
    return result


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
        if not all(isinstance(m[k], (int, float)) and not isinstance(m[k], bool) for k in ("mean", "sem", "n")):
            bad(f"metric {key!r}: mean, sem and n must be numbers")
    if not isinstance(r.config, dict):
        bad("'config' must be an object")
    if not isinstance(r.seeds, list):
        bad("'seeds' must be a list")
    if not isinstance(r.seconds, (int, float)) or isinstance(r.seconds, bool):
        bad("'seconds' must be a number")
    if not isinstance(r.figures, list) or not all(isinstance(f, str) for f in r.figures):
        bad("'figures' must be a list of file names")
    if not isinstance(r.rule, str):
        bad("'rule' must be a string")


# ---------------------------------------------------------------------------------------------
# formatting helpers


def fmt_num(x: float) -> str:
    """Four significant digits; integers as integers."""
    if isinstance(x, int) and not isinstance(x, bool):
        return str(x)
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    return f"{x:.4g}"


def _figure_path(entry: _Entry, name: str) -> Path:
    return entry.folder / name


def _verdict_word(held: bool) -> str:
    return "claim held" if held else "claim NOT held"


# ---------------------------------------------------------------------------------------------
# HTML

_CSS = """
:root { --fg:#1f2328; --muted:#59636e; --line:#d1d9e0; --bg:#ffffff; --soft:#f6f8fa;
        --ok:#1a7f37; --okbg:#dafbe1; --no:#cf222e; --nobg:#ffebe9; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg);
       font: 15px/1.5 -apple-system, BlinkMacSystemFont, "Segoe UI", Helvetica, Arial, sans-serif; }
main { max-width: 1040px; margin: 0 auto; padding: 28px 24px 64px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 0; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.sub { color: var(--muted); margin: 0 0 20px; }
table { border-collapse: collapse; margin: 10px 0 14px; font-size: 14px; }
th, td { border: 1px solid var(--line); padding: 5px 12px; text-align: left; vertical-align: top; }
th { background: var(--soft); font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.summary td a { color: inherit; }
section.exp { border: 1px solid var(--line); border-radius: 8px; padding: 18px 22px; margin: 22px 0; }
.head { display: flex; align-items: center; gap: 12px; flex-wrap: wrap; }
.badge { display: inline-block; padding: 2px 10px; border-radius: 999px; font-size: 13px; font-weight: 600;
         border: 1px solid currentColor; }
.badge.held { color: var(--ok); background: var(--okbg); }
.badge.not-held { color: var(--no); background: var(--nobg); }
blockquote.claim { margin: 12px 0; padding: 6px 14px; border-left: 4px solid var(--line); color: var(--fg);
                   background: var(--soft); }
.rule { color: var(--muted); }
.rule code, .meta code { background: var(--soft); padding: 1px 5px; border-radius: 4px; font-size: 13px; }
.meta { color: var(--muted); font-size: 13px; margin: 4px 0 10px; }
.meta span { margin-right: 16px; }
details { margin: 8px 0; }
summary { cursor: pointer; color: var(--muted); }
pre { background: var(--soft); padding: 10px 12px; border-radius: 6px; overflow-x: auto; font-size: 12.5px; }
figure { margin: 14px 0; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 4px; }
figcaption { color: var(--muted); font-size: 12.5px; }
.missing { color: var(--no); font-size: 13px; }
"""


def _e(x) -> str:
    return html.escape(str(x), quote=True)


def _anchor(name: str) -> str:
    return "exp-" + "".join(c if c.isalnum() or c in "-_" else "-" for c in name)


def _html_page(entries: list[_Entry]) -> str:
    n_held = sum(e.result.held for e in entries)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>datadiet reproduction report</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body><main>",
        "<h1>datadiet reproduction report</h1>",
        f'<p class="sub">{len(entries)} experiment{"s" if len(entries) != 1 else ""}; '
        f"claim held in {n_held} of {len(entries)}.</p>",
        '<table class="summary"><thead><tr><th>experiment</th><th>verdict</th><th>seeds</th>'
        "<th>quick</th></tr></thead><tbody>",
    ]
    for e in entries:
        r = e.result
        parts.append(
            f'<tr><td><a href="#{_e(e.anchor)}">{_e(r.name)}</a></td><td>{_badge(r.held)}</td>'
            f'<td class="num">{len(r.seeds)}</td><td>{"yes" if r.quick else "no"}</td></tr>'
        )
    parts.append("</tbody></table>")
    parts.extend(_html_section(e) for e in entries)
    parts.append("</main></body></html>")
    return "\n".join(parts) + "\n"


def _badge(held: bool) -> str:
    cls = "held" if held else "not-held"
    return f'<span class="badge {cls}">{_e(_verdict_word(held))}</span>'


def _html_section(entry: _Entry) -> str:
    r = entry.result
    out = [
        f'<section class="exp" id="{_e(entry.anchor)}">',
        f'<div class="head"><h2>{_e(r.name)}</h2>{_badge(r.held)}</div>',
        f'<blockquote class="claim">{_e(r.claim)}</blockquote>',
        f'<p class="rule">Decision rule: <code>{_e(r.rule)}</code></p>',
    ]
    if r.metrics:
        out.append('<table class="metrics"><thead><tr><th>metric</th><th>mean ± sem</th><th>n</th></tr>'
                   "</thead><tbody>")
        for key, m in r.metrics.items():
            out.append(f'<tr><td>{_e(key)}</td><td class="num">{_e(fmt_num(m["mean"]))} ± '
                       f'{_e(fmt_num(m["sem"]))}</td><td class="num">{_e(fmt_num(m["n"]))}</td></tr>')
        out.append("</tbody></table>")
    commit = r.git_commit or "unknown"
    meta = [
        f"seeds: <code>{_e(', '.join(str(s) for s in r.seeds))}</code>",
        f"time: {_e(fmt_num(r.seconds))} s",
        f"quick mode: {'yes' if r.quick else 'no'}",
        f'git commit: <code title="{_e(commit)}">{_e(commit[:12])}</code>',
    ]
    if r.datadiet_version:
        meta.append(f"datadiet {_e(r.datadiet_version)}")
    meta.append(f"file: <code>{_e(entry.rel)}</code>")
    out.append('<p class="meta">' + "".join(f"<span>{m}</span>" for m in meta) + "</p>")
    out.append("<details><summary>config</summary><pre>"
               + _e(json.dumps(r.config, indent=2, sort_keys=True, default=str)) + "</pre></details>")
    for name in r.figures:
        out.append(_html_figure(entry, name))
    out.append("</section>")
    return "\n".join(out)


def _html_figure(entry: _Entry, name: str) -> str:
    path = _figure_path(entry, name)
    try:
        data = path.read_bytes()
    except OSError:
        logger.warning("figure %s listed in %s is missing", path, entry.path)
        return f'<p class="missing">figure missing: {_e(name)}</p>'
    mime = mimetypes.guess_type(path.name)[0] or "image/png"
    if not mime.startswith("image/"):
        mime = "image/png"
    b64 = base64.b64encode(data).decode("ascii")
    return (f'<figure><img alt="{_e(name)}" src="data:{_e(mime)};base64,{b64}">'
            f"<figcaption>{_e(name)}</figcaption></figure>")


# ---------------------------------------------------------------------------------------------
# Markdown


def _md(text) -> str:
    """Text safe inside a Markdown table cell or paragraph (pipes, newlines, HTML)."""
    s = html.escape(str(text), quote=False)
    return s.replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _markdown(entries: list[_Entry], md_dir: Path) -> str:
    n_held = sum(e.result.held for e in entries)
    lines = ["# datadiet reproduction report", "",
             f"{len(entries)} experiment{'s' if len(entries) != 1 else ''}; claim held in {n_held} of {len(entries)}.",
             "", "| experiment | verdict | seeds | quick |", "| --- | --- | ---: | --- |"]
    for e in entries:
        r = e.result
        lines.append(f"| {_md(r.name)} | {_md(_verdict_word(r.held))} | {len(r.seeds)} | {'yes' if r.quick else 'no'} |")
    for e in entries:
        r = e.result
        lines += ["", f"## {_md(r.name)}", "",
                  f"**{_md(_verdict_word(r.held))}** — rule: `{r.rule.replace('`', chr(39))}`", "",
                  f"> {_md(r.claim)}", ""]
        if r.metrics:
            lines += ["| metric | mean ± sem | n |", "| --- | ---: | ---: |"]
            lines += [f"| {_md(k)} | {fmt_num(m['mean'])} ± {fmt_num(m['sem'])} | {fmt_num(m['n'])} |"
                      for k, m in r.metrics.items()]
            lines.append("")
        commit = r.git_commit or "unknown"
        lines += [f"seeds: {', '.join(str(s) for s in r.seeds)} · time: {fmt_num(r.seconds)} s · "
                  f"quick mode: {'yes' if r.quick else 'no'} · git commit: `{_md(commit[:12])}` · "
                  f"file: `{_md(e.rel)}`", ""]
        lines += ["<details><summary>config</summary>", "", "```json",
                  json.dumps(r.config, indent=2, sort_keys=True, default=str).replace("```", "'''"),
                  "```", "", "</details>"]
        for name in r.figures:
            rel = Path(os.path.relpath(_figure_path(e, name), md_dir)).as_posix()
            lines += ["", f"![{_md(name)}]({rel.replace(' ', '%20').replace(')', '%29')})"]
    return "\n".join(lines) + "\n"

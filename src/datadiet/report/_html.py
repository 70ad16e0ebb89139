"""The HTML page: a verdict table first, then one section per experiment led by its main figures and key
metrics, the full metric table folded. Self-contained (figures as data: URIs, inline CSS, no script) and
readable in a narrow window (the tables become stacked cards below 760 px)."""

from __future__ import annotations

import base64
import json
import logging
import mimetypes

from ._compare import Comparison
from ._format import esc as _e
from ._format import fmt_metric, fmt_num, fmt_seconds
from ._results import Entry

logger = logging.getLogger(__name__)

MAIN_FIGURES = 2  # the first figures of Verdict.figures lead a section; the rest are folded

_CSS = """
:root { --fg:#1f2328; --muted:#59636e; --line:#d1d9e0; --bg:#ffffff; --soft:#f6f8fa;
        --ok:#1a7f37; --okbg:#dafbe1; --no:#cf222e; --nobg:#ffebe9; --warn:#9a6700; --warnbg:#fff8c5; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg);
       font: 15px/1.5 -apple-system, BlinkMacSystemFont, "Segoe UI", Helvetica, Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 28px 24px 64px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 0; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
     overflow-wrap: anywhere; }
h3 { font-size: 17px; margin: 26px 0 6px; }
.sub { color: var(--muted); margin: 0 0 16px; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; margin: 10px 0 14px; font-size: 14px; }
th, td { border: 1px solid var(--line); padding: 5px 10px; text-align: left; vertical-align: top;
         overflow-wrap: break-word; }
th { background: var(--soft); font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.verdicts { width: 100%; }
table.verdicts td.claim { min-width: 16em; }
table.verdicts .key { display: block; color: var(--muted); font-size: 12px;
                      font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
table.verdicts .val { white-space: nowrap; font-variant-numeric: tabular-nums; }
table.verdicts a { color: inherit; }
.was { display: block; color: var(--warn); font-size: 12px; }
tr.flag td { background: var(--warnbg); }
section.exp { border: 1px solid var(--line); border-radius: 8px; padding: 18px 22px; margin: 22px 0; }
.head { display: flex; align-items: center; gap: 12px; flex-wrap: wrap; }
.badge { display: inline-block; padding: 2px 10px; border-radius: 999px; font-size: 13px; font-weight: 600;
         border: 1px solid currentColor; white-space: nowrap; }
.badge.held { color: var(--ok); background: var(--okbg); }
.badge.not-held { color: var(--no); background: var(--nobg); }
.paper { color: var(--muted); margin: 6px 0 0; }
blockquote.claim { margin: 12px 0; padding: 6px 14px; border-left: 4px solid var(--line); background: var(--soft); }
.paper-result { margin: 8px 0; }
.rule { color: var(--muted); }
code { background: var(--soft); padding: 1px 5px; border-radius: 4px; font-size: 13px; overflow-wrap: anywhere; }
.meta { color: var(--muted); font-size: 13px; margin: 10px 0 0; }
.meta span { margin-right: 16px; display: inline-block; }
ul.failures { margin: 6px 0; padding-left: 22px; color: var(--no); }
details { margin: 8px 0; }
summary { cursor: pointer; color: var(--muted); }
pre { background: var(--soft); padding: 10px 12px; border-radius: 6px; overflow-x: auto; font-size: 12.5px; }
.figs { display: flex; flex-wrap: wrap; gap: 12px; }
figure { margin: 14px 0; flex: 1 1 420px; min-width: 0; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 4px; }
figcaption { color: var(--muted); font-size: 12.5px; overflow-wrap: anywhere; }
.missing { color: var(--no); font-size: 13px; }
@media (max-width: 760px) {
  main { padding: 16px 10px 40px; }
  section.exp { padding: 12px 12px; }
  table.cards, table.cards tbody, table.cards tr, table.cards td { display: block; width: 100%; }
  table.cards thead { display: none; }
  table.cards tr { border: 1px solid var(--line); border-radius: 6px; margin: 0 0 10px; }
  table.cards td { display: grid; grid-template-columns: 7.5em minmax(0, 1fr); gap: 8px; border: none;
                   border-bottom: 1px solid var(--soft); text-align: left; white-space: normal; }
  table.cards td::before { content: attr(data-label); font-size: 12px; color: var(--muted); padding-top: 2px; }
  table.verdicts td.claim { min-width: 0; }
  figure { flex-basis: 100%; }
}
"""

_VERDICT_COLUMNS = ("experiment", "paper", "claim", "measured", "paper reports", "verdict", "seeds", "runtime")


def page(entries: list[Entry], comparison: Comparison | None = None) -> str:
    n_held = sum(e.result.held for e in entries)
    n_quick = sum(e.result.quick for e in entries)
    mode = "" if n_quick == 0 else (" All in quick mode (reduced sizes)." if n_quick == len(entries)
                                    else f" {n_quick} in quick mode (reduced sizes).")
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
        f"claim held in {n_held} of {len(entries)}.{_e(mode)} Runtime: "
        f"{_e(fmt_seconds(sum(e.result.runtime for e in entries)))} in all.</p>",
        _verdict_table(entries, comparison),
    ]
    if comparison is not None:
        parts.append(_comparison(comparison))
    parts.extend(_section(e) for e in entries)
    parts.append("</main></body></html>")
    return "\n".join(parts) + "\n"


def _badge(held: bool) -> str:
    cls = "held" if held else "not-held"
    return f'<span class="badge {cls}">{"claim held" if held else "claim NOT held"}</span>'


def _td(label: str, content: str, cls: str = "") -> str:
    klass = f' class="{cls}"' if cls else ""
    return f'<td data-label="{_e(label)}"{klass}><div>{content}</div></td>'


def _verdict_table(entries: list[Entry], comparison: Comparison | None) -> str:
    was = {}
    if comparison is not None:
        was = {c.new.anchor: c.old_held for c in comparison.experiments if c.flipped and c.new is not None}
    out = ['<div class="scroll"><table class="verdicts cards"><thead><tr>'
           + "".join(f"<th>{c}</th>" for c in _VERDICT_COLUMNS) + "</tr></thead><tbody>"]
    for e in entries:
        r = e.result
        key = e.headline
        measured = (f'<span class="key">{_e(key)}</span> <span class="val">{_e(e.measured())}</span>'
                    if key else "—")
        verdict = f'<span class="badge {"held" if r.held else "not-held"}">{"held" if r.held else "not held"}</span>'
        if e.anchor in was:
            verdict += f'<span class="was">flipped: was {"held" if was[e.anchor] else "not held"}</span>'
        out.append(
            f'<tr data-experiment="{_e(r.name)}">'
            + _td("experiment", f'<a href="#{_e(e.anchor)}">{_e(r.name)}</a>', "exp")
            + _td("paper", _e(e.paper) if e.paper else "—", "paper")
            + _td("claim", f'<span title="{_e(r.claim)}">{_e(e.claim_line)}</span>', "claim")
            + _td("measured", measured, "measured")
            + _td("paper reports", _e(e.paper_result) if e.paper_result else "not declared", "paper-result")
            + _td("verdict", verdict, "verdict")
            + _td("seeds", str(len(r.seeds)) + (" (quick)" if r.quick else ""), "num seeds")
            + _td("runtime", _e(fmt_seconds(r.runtime)), "num runtime")
            + "</tr>"
        )
    out.append("</tbody></table></div>")
    return "\n".join(out)


def _comparison(c: Comparison) -> str:
    out = [f'<h3 id="changes">Changes since <code>{_e(c.old_dir)}</code></h3>',
           f'<p class="sub">{_e(c.summary())}. A key metric is flagged when |Δ| exceeds '
           "sqrt(sem<sub>old</sub><sup>2</sup> + sem<sub>new</sub><sup>2</sup>).</p>",
           '<div class="scroll"><table class="changes cards"><thead><tr><th>experiment</th>'
           "<th>verdict / key metric</th><th>old</th><th>new</th><th>Δ</th><th>combined s.e.</th><th>flag</th>"
           "<th>note</th></tr></thead><tbody>"]
    for row in c.rows():
        cls = ' class="flag"' if row["flag"] else ""
        out.append(f'<tr{cls} data-experiment="{_e(row["experiment"])}" data-what="{_e(row["what"])}">'
                   + _td("experiment", _e(row["experiment"])) + _td("verdict / key metric", _e(row["what"]))
                   + _td("old", _e(row["old"]), "num") + _td("new", _e(row["new"]), "num")
                   + _td("Δ", _e(row["delta"]), "num") + _td("combined s.e.", _e(row["combined_sem"]), "num")
                   + _td("flag", _e(row["flag"]), "flagcell") + _td("note", _e(row["note"])) + "</tr>")
    out.append("</tbody></table></div>")
    return "\n".join(out)


def _metric_table(r, keys, cls: str) -> str:
    rows = "".join(f'<tr>{_td("metric", _e(k))}{_td("mean ± sem", _e(fmt_metric(r.metrics[k])), "num")}'
                   f'{_td("n", _e(fmt_num(r.metrics[k]["n"])), "num")}</tr>' for k in keys)
    return (f'<div class="scroll"><table class="{cls}"><thead><tr><th>metric</th><th>mean ± sem</th>'
            f"<th>n</th></tr></thead><tbody>{rows}</tbody></table></div>")


def _failures(r) -> list[str]:
    f = r.details.get("failures") if isinstance(r.details, dict) else None
    return [str(x) for x in f] if isinstance(f, list) else []


def _section(entry: Entry) -> str:
    r = entry.result
    out = [
        f'<section class="exp" id="{_e(entry.anchor)}">',
        f'<div class="head"><h2>{_e(r.name)}</h2>{_badge(r.held)}</div>',
    ]
    if entry.paper:
        out.append(f'<p class="paper">{_e(entry.paper)}</p>')
    out.append(f'<blockquote class="claim">{_e(r.claim)}</blockquote>')
    if entry.paper_result:
        out.append(f'<p class="paper-result"><b>The paper reports:</b> {_e(entry.paper_result)}</p>')
    main, more = r.figures[:MAIN_FIGURES], r.figures[MAIN_FIGURES:]
    if main:
        out.append('<div class="figs main">' + "".join(_figure(entry, f) for f in main) + "</div>")
    if entry.key_metrics:
        out.append(_metric_table(r, entry.key_metrics, "key-metrics"))
    out.append(f'<p class="rule">Decision rule: <code>{_e(r.rule)}</code></p>')
    failures = _failures(r)
    if failures and not r.held:
        out.append('<ul class="failures">' + "".join(f"<li>{_e(x)}</li>" for x in failures) + "</ul>")
    if r.metrics:
        out.append(f"<details class=\"all-metrics\"><summary>all {len(r.metrics)} metrics</summary>"
                   + _metric_table(r, list(r.metrics), "metrics") + "</details>")
    if more:
        out.append(f"<details class=\"more-figures\"><summary>{len(more)} more figure{'s' if len(more) > 1 else ''}"
                   "</summary><div class=\"figs\">" + "".join(_figure(entry, f) for f in more) + "</div></details>")
    out.append("<details><summary>config</summary><pre>"
               + _e(json.dumps(r.config, indent=2, sort_keys=True, default=str)) + "</pre></details>")
    commit = r.git_commit or "unknown"
    meta = [
        f"seeds: <code>{_e(', '.join(str(s) for s in r.seeds))}</code>",
        f"time: {_e(fmt_num(r.runtime))} s",
        f"quick mode: {'yes' if r.quick else 'no'}",
        f'git commit: <code title="{_e(commit)}">{_e(commit[:12])}</code>',
    ]
    if r.datadiet_version:
        meta.append(f"datadiet {_e(r.datadiet_version)}")
    meta.append(f"file: <code>{_e(entry.rel)}</code>")
    out.append('<p class="meta">' + "".join(f"<span>{m}</span>" for m in meta) + "</p>")
    out.append("</section>")
    return "\n".join(out)


def _figure(entry: Entry, name: str) -> str:
    path = entry.folder / name
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

"""Results -> one self-contained HTML page and a Markdown file, with the figures; or two result folders compared.

Every ``result.json`` under a directory (one folder per experiment, written by
``datadiet reproduce NAME --out DIR/NAME`` or ``datadiet reproduce all --out DIR``) becomes one row of the
verdict table that opens the page (experiment, paper, the claim in one line, the headline key metric beside
the paper's own number, held / not held, seeds, runtime) and one section: its main figures and key metrics
first, then the rule, the full metric table (folded), more figures, the config. What an experiment declares
(PAPER, PAPER_RESULT, KEY_METRICS; see :mod:`datadiet.experiments.base`) comes from result.json, else from
the registered module, else from the claim and the first metrics.
The HTML embeds the figures as ``data:`` URIs and has no external resources or scripts, so it can be
mailed or opened offline; the Markdown references the figures by relative path.

    datadiet report results                  # -> results/report.html, results/report.md
    datadiet report results-old results      # + every flipped verdict and moved key metric
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import InputError
from ..paths import atomic_write
from ._compare import Comparison, ExperimentChange, MetricChange, compare
from ._format import fmt_metric, fmt_num, fmt_seconds, one_line
from ._html import page as _html_page
from ._markdown import markdown as _markdown
from ._results import Entry, load_results

__all__ = ["render", "load_results", "compare", "Comparison", "ExperimentChange", "MetricChange", "Entry",
           "fmt_num", "fmt_metric", "fmt_seconds", "one_line"]


def render(results_dir: str | os.PathLike, *, out_html: str | os.PathLike | None = None,
           out_md: str | os.PathLike | None = None,
           compare_to: str | os.PathLike | Comparison | None = None) -> tuple[Path, Path]:
    """Render every ``result.json`` under ``results_dir`` into (HTML page, Markdown file).

    Defaults: ``results_dir/report.html`` and ``results_dir/report.md``. Both are written atomically.
    ``compare_to``: an older result folder (or a :func:`compare` result against it): the page then
    also shows every flipped verdict and every key metric that moved by more than its combined
    standard error. Raises InputError when there is no result.json or one is malformed (the message
    names the file).
    """
    root = Path(results_dir)
    entries = load_results(root)
    comparison = compare_to
    if compare_to is not None and not isinstance(compare_to, Comparison):
        comparison = compare(compare_to, root)
    if comparison is not None:  # the same entry objects, so the verdict table can mark flips
        by_path = {e.path: e for e in entries}
        for c in comparison.experiments:
            if c.new is not None and c.new.path in by_path:
                c.new = by_path[c.new.path]
    html_path = Path(out_html) if out_html is not None else root / "report.html"
    md_path = Path(out_md) if out_md is not None else root / "report.md"
    inputs = {e.path.resolve() for e in entries}
    if comparison is not None:
        inputs |= {c.old.path.resolve() for c in comparison.experiments if c.old is not None}
    for out in (html_path, md_path):
        if out.resolve() in inputs:
            raise InputError(f"{out} is a result.json this report reads; write the report elsewhere")
    if html_path.resolve() == md_path.resolve():
        raise InputError(f"--html and --md are the same file ({html_path}); give two different paths")

    page = _html_page(entries, comparison)
    md = _markdown(entries, md_path.parent, comparison)
    with atomic_write(html_path) as fh:
        fh.write(page)
    with atomic_write(md_path) as fh:
        fh.write(md)
    return html_path, md_path

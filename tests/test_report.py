"""`datadiet report`: results -> one self-contained HTML page (opened in headless Chromium) and Markdown."""

from __future__ import annotations

import base64
import functools
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from datadiet.cli import app
from datadiet.errors import InputError
from datadiet.experiments import Result, summarize
from datadiet.report import fmt_seconds, one_line, render

cli = CliRunner()

CLAIM_A = "Uniform subsets <b>train</b> faster & end close to the full set."
CLAIM_B = "Reusing batches learns the index faster than one-pass SGD."


def _figure(path: Path, title: str) -> None:
    path.write_bytes(_png(title))


@functools.lru_cache(maxsize=None)
def _png(title: str) -> bytes:
    """A small matplotlib PNG (drawn once per title: the suite makes dozens of result folders)."""
    import io

    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 3.2))
    ax = fig.subplots()
    ax.plot([0, 1, 2, 3], [3.0, 2.1, 1.6, 1.4], marker="o", label="uniform")
    ax.plot([0, 1, 2, 3], [3.0, 2.5, 2.0, 1.8], marker="s", label="random")
    ax.set_title(title)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    return buf.getvalue()


def _result(folder: Path, name: str, claim: str, held: bool, figures=("curve.png",), **extra) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for f in figures:
        _figure(folder / f, name)
    res = Result(
        name=name, claim=claim, held=held, rule="mean steps(U) + 2 sem < mean steps(R)",
        metrics={"steps_uniform": summarize([120, 130, 125]), "steps_random": summarize([150, 160, 158]),
                 "final_loss | full": summarize([1.21, 1.25, 1.19])},
        config={"n_train": 2000, "lr": 3e-4, "note": "<script>alert(1)</script>"}, seeds=[0, 1, 2],
        seconds=12.5, figures=list(figures), quick=True, datadiet_version="0.1.0",
        git_commit="0123456789abcdef0123456789abcdef01234567",
    )
    for key, value in extra.items():
        setattr(res, key, value)
    return res.save(folder)


@pytest.fixture
def results(tmp_path):
    root = tmp_path / "results"
    _result(root / "zeta-reuse", "zeta-reuse", CLAIM_B, held=False, figures=("overlap.png",))
    _result(root / "nested" / "uniform-subsets", "uniform-subsets", CLAIM_A, held=True)
    return root


def test_render_html_is_self_contained(results):
    html_path, md_path = render(results)
    assert html_path == results / "report.html" and md_path == results / "report.md"
    page = html_path.read_text(encoding="utf-8")
    # text is escaped, never raw HTML from a result
    assert "Uniform subsets &lt;b&gt;train&lt;/b&gt; faster &amp; end close" in page
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "claim held" in page and "claim NOT held" in page
    assert "mean steps(U) + 2 sem &lt; mean steps(R)" in page
    # metrics: mean ± sem and n
    assert "125 ± 2.887" in page and "final_loss | full" in page
    # config collapsed, seeds, time, quick flag, commit
    assert re.search(r"<details><summary>config</summary><pre>.*&quot;n_train&quot;: 2000", page, re.S)
    assert "0123456789ab" in page and "quick mode: yes" in page and "12.5 s" in page
    # figures embedded, both of them, and decodable PNGs
    imgs = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(imgs) == 2
    assert all(base64.b64decode(b)[:8] == b"\x89PNG\r\n\x1a\n" for b in imgs)
    # no external resources of any kind
    for bad in ("http://", "https://", 'src="/', "href=\"/", "<link", "<script", "@import", "url("):
        assert bad not in page, bad
    # sorted by name
    assert page.index('id="exp-uniform-subsets"') < page.index('id="exp-zeta-reuse"')


def test_render_same_name_twice_gets_distinct_anchors(results):
    _result(results / "again", "uniform-subsets", CLAIM_A, held=False)
    page = render(results)[0].read_text(encoding="utf-8")
    assert page.count('id="exp-uniform-subsets"') == 1 and page.count('id="exp-uniform-subsets-2"') == 1
    assert "again/result.json" in page and "nested/uniform-subsets/result.json" in page


def test_render_markdown_has_table_and_relative_figures(results):
    _, md_path = render(results)
    md = md_path.read_text(encoding="utf-8")
    assert "| metric | mean ± sem | n |" in md
    assert "| steps_uniform | 125 ± 2.887 | 3 |" in md
    assert "| final_loss \\| full | 1.217 ± 0.01764 | 3 |" in md
    assert "**claim held**" in md and "**claim NOT held**" in md
    assert "![curve.png](nested/uniform-subsets/curve.png)" in md
    assert "![overlap.png](zeta-reuse/overlap.png)" in md
    assert md.index("## uniform-subsets") < md.index("## zeta-reuse")
    assert (md_path.parent / "nested/uniform-subsets/curve.png").exists()


def test_render_custom_paths_markdown_links_stay_relative(results, tmp_path):
    h, m = render(results, out_html=tmp_path / "site" / "r.html", out_md=tmp_path / "docs" / "r.md")
    assert h.exists() and m.exists()
    assert "![curve.png](../results/nested/uniform-subsets/curve.png)" in m.read_text(encoding="utf-8")


def test_render_no_results_names_dir_and_fix(tmp_path):
    with pytest.raises(InputError) as exc:
        render(tmp_path)
    msg = str(exc.value)
    assert str(tmp_path) in msg and "datadiet reproduce NAME --out" in msg
    assert not (tmp_path / "report.html").exists()


@pytest.mark.parametrize("content", [
    "{not json",
    json.dumps({"name": "x", "claim": "c"}),
    json.dumps([1, 2, 3]),
    json.dumps({"name": "x", "claim": "c", "held": True, "rule": "r", "metrics": {"m": {"mean": 1}},
                "config": {}, "seeds": [0], "seconds": 1.0, "figures": []}),
])
def test_render_malformed_result_names_file(results, content):
    bad = results / "broken" / "result.json"
    bad.parent.mkdir()
    bad.write_text(content, encoding="utf-8")
    with pytest.raises(InputError) as exc:
        render(results)
    assert str(bad) in str(exc.value)
    assert not (results / "report.html").exists() and not (results / "report.md").exists()


def test_cli_report(results, tmp_path):
    r = cli.invoke(app, ["report", str(results), "--html", str(tmp_path / "x.html"), "--md", str(tmp_path / "x.md")])
    assert r.exit_code == 0, r.output
    assert str(tmp_path / "x.html") in r.output and str(tmp_path / "x.md") in r.output
    page = (tmp_path / "x.html").read_text(encoding="utf-8")
    assert CLAIM_B in page and "claim NOT held" in page and "data:image/png;base64," in page
    for bad in ("http://", "https://", 'src="/'):
        assert bad not in page
    md = (tmp_path / "x.md").read_text(encoding="utf-8")
    assert "| metric | mean ± sem | n |" in md


def test_cli_report_errors_are_one_line_exit_2(tmp_path, monkeypatch):
    monkeypatch.delenv("DATADIET_DEBUG", raising=False)
    r = cli.invoke(app, ["report", str(tmp_path)])
    assert r.exit_code == 2
    assert r.stderr.startswith("datadiet: error: no result.json under") and r.stderr.strip().count("\n") == 0
    r = cli.invoke(app, ["report", str(tmp_path / "missing")])
    assert r.exit_code == 2 and "not a directory" in r.stderr


class _VerdictTable(HTMLParser):
    """The rows of <table class="verdicts ...">: experiment name -> {column label: cell text}.
    Written for the test from the HTML alone (shares no code with datadiet.report)."""

    def __init__(self):
        super().__init__()
        self.rows: dict[str, dict[str, str]] = {}
        self.rows_list: list[dict[str, str]] = []  # in page order (one experiment may appear twice)
        self.order: list[str] = []
        self.headers: list[str] = []
        self._in_table = self._in_th = False
        self._row = self._label = None
        self._text: list[str] = []
        self._depth = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table" and "verdicts" in (a.get("class") or "").split():
            self._in_table, self._depth = True, 0
        if not self._in_table:
            return
        if tag == "table":
            self._depth += 1
        elif tag == "th":
            self._in_th, self._text = True, []
        elif tag == "tr" and "data-experiment" in a:
            self._row = a["data-experiment"]
            self.rows[self._row] = {}
            self.rows_list.append(self.rows[self._row])
            self.order.append(self._row)
        elif tag == "td" and self._row is not None:
            self._label, self._text = a.get("data-label"), []

    def handle_endtag(self, tag):
        if not self._in_table:
            return
        if tag == "th":
            self.headers.append("".join(self._text).strip())
            self._in_th = False
        elif tag == "td" and self._label is not None:
            self.rows[self._row][self._label] = " ".join("".join(self._text).split())
            self._label = None
        elif tag == "tr":
            self._row = None
        elif tag == "table":
            self._depth -= 1
            if self._depth == 0:
                self._in_table = False

    def handle_data(self, data):
        if self._in_th or self._label is not None:
            self._text.append(data)


def _verdict_rows(page: str) -> _VerdictTable:
    parser = _VerdictTable()
    parser.feed(page)
    return parser


VERDICT_COLUMNS = ["experiment", "paper", "claim", "measured", "paper reports", "verdict", "seeds", "runtime"]


def _check_verdict_table(page: str, root: Path) -> int:
    """Every result.json under root is one row of the verdict table, with its own numbers; returns the count."""
    table = _verdict_rows(page)
    assert table.headers == VERDICT_COLUMNS
    results = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(root.rglob("result.json"))]
    assert sorted(table.order) == table.order == sorted(r["name"] for r in results)
    for r in results:
        row = table.rows[r["name"]]
        assert set(row) == set(VERDICT_COLUMNS)
        assert row["experiment"] == r["name"]
        assert row["verdict"].split(" flipped")[0] == ("held" if r["held"] else "not held")
        assert int(row["seeds"].split()[0]) == len(r["seeds"])
        assert ("(quick)" in row["seeds"]) == r["quick"]
        runtime = r.get("run_seconds") if r.get("run_seconds") is not None else r["seconds"]
        assert row["runtime"] == fmt_seconds(runtime)
        keys = r.get("key_metrics") or []
        headline = next((k for k in keys if k in r["metrics"]), None) or next(iter(r["metrics"]))
        m = r["metrics"][headline]
        assert row["measured"] == f"{headline} {m['mean']:.4g} ± {m['sem']:.4g}"
        assert row["paper reports"] == (r.get("paper_result") or "not declared")
        if r.get("paper"):
            assert row["paper"] == r["paper"]
    return len(results)


# --- the verdict table, key metrics and section layout --------------------------------------------

PAPER = "Wang, Gu, Shi et al., Data Uniformity Improves Training Efficiency (arXiv 2506.24120)"
PAPER_RESULT = "uniform 10k reaches the target loss about 30% sooner than random 10k, LLaMA-1-13B, WizardLM"


@pytest.fixture
def declared(tmp_path):
    """Three results: one declaring paper, paper result and key metrics (a pattern among them, and a key it
    lacks), one declaring nothing (claim with a citation), one with four figures and a run_seconds."""
    root = tmp_path / "declared"
    _result(root / "a-uniform", "a-uniform", "Uniform halves train faster (arXiv 2506.24120).", held=True,
            paper=PAPER, paper_result=PAPER_RESULT, key_metrics=["steps_random", "final_*", "absent_key"])
    _result(root / "b-reuse", "b-reuse", CLAIM_B + " (Dandi et al., ICML 2024)", held=False)
    _result(root / "c-figs", "c-figs", "Four figures.", held=True, run_seconds=4400.0,
            figures=("main1.png", "main2.png", "extra3.png", "extra4.png"))
    return root


def test_verdict_table_matches_result_files(declared):
    page = render(declared)[0].read_text(encoding="utf-8")
    assert _check_verdict_table(page, declared) == 3
    rows = _verdict_rows(page).rows
    # declared: headline = first declared key; paper and its number as declared
    assert rows["a-uniform"]["measured"] == "steps_random 156 ± 3.055"
    assert rows["a-uniform"]["paper"] == PAPER and rows["a-uniform"]["paper reports"] == PAPER_RESULT
    assert rows["a-uniform"]["claim"] == "Uniform halves train faster."  # the citation moves to "paper"
    # nothing declared: the citation from the claim, the first metric, "not declared"
    assert rows["b-reuse"]["paper"] == "Dandi et al., ICML 2024"
    assert rows["b-reuse"]["measured"] == "steps_uniform 125 ± 2.887"
    assert rows["b-reuse"]["paper reports"] == "not declared" and rows["b-reuse"]["verdict"] == "not held"
    assert rows["c-figs"]["paper"] == "—"
    assert rows["c-figs"]["runtime"] == "1 h 13 min" and rows["a-uniform"]["runtime"] == "12 s"
    assert rows["a-uniform"]["seeds"] == "3 (quick)"
    assert "Runtime: 1 h 14 min in all." in page  # 12.5 + 12.5 + 4400 s


def _section(page: str, anchor: str) -> str:
    start = page.index(f'<section class="exp" id="{anchor}">')
    return page[start:page.index("</section>", start)]


def test_section_leads_with_main_figures_and_key_metrics(declared):
    page = render(declared)[0].read_text(encoding="utf-8")
    a = _section(page, "exp-a-uniform")
    # key metrics: declared order, the pattern expanded, the absent key skipped; all metrics folded below
    key_table = a[a.index('<table class="key-metrics">'):a.index("</table>", a.index('class="key-metrics"'))]
    assert re.findall(r'data-label="metric"><div>([^<]+)<', key_table) == ["steps_random", "final_loss | full"]
    assert "absent_key" not in a
    i_fig, i_key = a.index("<figure>"), a.index('class="key-metrics"')
    i_rule, i_all = a.index('class="rule"'), a.index('<details class="all-metrics"><summary>all 3 metrics</summary>')
    assert i_fig < i_key < i_rule < i_all
    folded = a[i_all:a.index("</details>", i_all)]
    assert re.findall(r'data-label="metric"><div>([^<]+)<', folded) == ["steps_uniform", "steps_random",
                                                                        "final_loss | full"]
    assert f"<b>The paper reports:</b> {PAPER_RESULT}" in a
    # nothing declared: the first three metrics are the key ones
    b = _section(page, "exp-b-reuse")
    kt = b[b.index('class="key-metrics"'):b.index("</table>", b.index('class="key-metrics"'))]
    assert re.findall(r'data-label="metric"><div>([^<]+)<', kt) == ["steps_uniform", "steps_random",
                                                                    "final_loss | full"]
    assert "The paper reports" not in b
    # four figures: the first two lead, the other two are folded
    c = _section(page, "exp-c-figs")
    main = c[:c.index('class="key-metrics"')]
    assert re.findall(r"<figcaption>([^<]+)</figcaption>", main) == ["main1.png", "main2.png"]
    more = c[c.index('<details class="more-figures"><summary>2 more figures</summary>'):]
    assert re.findall(r"<figcaption>([^<]+)</figcaption>", more) == ["extra3.png", "extra4.png"]
    assert page.count("data:image/png;base64,") == 1 + 1 + 4


def test_markdown_verdict_table_and_folded_metrics(declared):
    md = render(declared)[1].read_text(encoding="utf-8")
    assert "| experiment | paper | claim | measured | paper reports | verdict | seeds | runtime |" in md
    assert (f"| [a-uniform](#exp-a-uniform) | {PAPER} | Uniform halves train faster. | `steps_random` 156 ± 3.055 | "
            f"{PAPER_RESULT} | held | 3 (quick) | 12 s |") in md
    assert "| [b-reuse](#exp-b-reuse) | Dandi et al., ICML 2024 |" in md and "| **not held** |" in md
    c = md[md.index("## c-figs"):]
    assert c.index("![main1.png](c-figs/main1.png)") < c.index("| metric | mean ± sem | n |") \
        < c.index("<details><summary>all 3 metrics</summary>") < c.index("![extra3.png](c-figs/extra3.png)")


def test_registered_module_declarations_fill_an_older_result(tmp_path, monkeypatch):
    """A result.json without PAPER/PAPER_RESULT/KEY_METRICS takes them from the registered module as it is now;
    what result.json declares wins over the module."""
    import sys
    import types

    from datadiet import experiments

    mod = types.ModuleType("datadiet.experiments._declares")
    mod.NAME, mod.CLAIM = "declares", "c"
    mod.PAPER, mod.PAPER_RESULT, mod.KEY_METRICS = "Module Paper (2024)", "a 3x gain", ["final_*", "steps_random"]
    monkeypatch.setitem(sys.modules, mod.__name__, mod)
    monkeypatch.setitem(experiments._REGISTRY, "declares", "_declares")
    root = tmp_path / "r"
    _result(root / "a", "declares", "Old claim (arXiv 1111.22222).", held=True)
    _result(root / "b", "declares", "Newer claim.", held=True, paper_result="as run: 2x", key_metrics=["steps_uniform"])
    rows = _verdict_rows(render(root)[0].read_text(encoding="utf-8"))
    a, b = [rows.rows_list[i] for i in range(2)]
    assert (a["paper"], a["paper reports"], a["measured"]) == ("Module Paper (2024)", "a 3x gain",
                                                                "final_loss | full 1.217 ± 0.01764")
    assert (b["paper"], b["paper reports"], b["measured"]) == ("Module Paper (2024)", "as run: 2x",
                                                                "steps_uniform 125 ± 2.887")


def test_failures_listed_when_not_held(tmp_path):
    root = tmp_path / "r"
    _result(root / "x", "x", "A claim.", held=False, details={"failures": ["d=400: overlap <-0.05> too small"]})
    page = render(root)[0].read_text(encoding="utf-8")
    assert '<ul class="failures"><li>d=400: overlap &lt;-0.05&gt; too small</li></ul>' in page


@pytest.mark.parametrize("seconds, text", [(0.04, "0.0 s"), (9.94, "9.9 s"), (42.4, "42 s"), (59.6, "60 s"),
                                           (200, "3 min 20 s"), (3599, "59 min 59 s"), (3660, "1 h 01 min"),
                                           (9000, "2 h 30 min"), (None, "unknown")])
def test_fmt_seconds_known_answers(seconds, text):
    assert fmt_seconds(seconds) == text


def test_one_line_cuts_at_a_word():
    assert one_line("a  b\n c") == "a b c"
    s = one_line("word " * 50, limit=32)
    assert s == "word word word word word word…" and len(s) <= 32


def test_old_result_json_without_new_fields_still_renders(tmp_path):
    """A result.json written before PAPER/KEY_METRICS/run_seconds existed."""
    folder = tmp_path / "r" / "old"
    _result(folder, "old-exp", "Old claim.", held=True)
    data = json.loads((folder / "result.json").read_text())
    for k in ("paper", "paper_result", "key_metrics", "run_seconds"):
        data.pop(k)
    (folder / "result.json").write_text(json.dumps(data))
    page = render(tmp_path / "r")[0].read_text(encoding="utf-8")
    assert _check_verdict_table(page, tmp_path / "r") == 1


# --- headless Chromium --------------------------------------------------------------------------

def _chromium() -> str:
    path = "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else shutil.which("chromium")
    if not path:
        pytest.skip("chromium not installed: apt-get install chromium")
    return path


def _chromium_args(chromium: str, profile: Path) -> list[str]:
    return [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}"]


def test_html_opens_in_headless_chromium(results, tmp_path):
    """Chromium renders the page; the verdict table of the DOM it built matches the result files."""
    chromium = _chromium()
    _result(results / "deep" / "one-more", "one-more", "Another claim (arXiv 1234.56789).", held=True,
            key_metrics=["final_loss | full"], run_seconds=75.0, paper_result="a 2x speed-up")
    html_path, _ = render(results)
    url = html_path.resolve().as_uri()
    dom = subprocess.run(_chromium_args(chromium, tmp_path / "profile") + ["--dump-dom", url],
                         capture_output=True, text=True, timeout=60)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "uniform-subsets" in dom.stdout and "zeta-reuse" in dom.stdout
    assert "claim held" in dom.stdout and "claim NOT held" in dom.stdout
    assert "data:image/png;base64," in dom.stdout
    assert _check_verdict_table(dom.stdout, results) == 3
    row = _verdict_rows(dom.stdout).rows["one-more"]
    assert row["runtime"] == "1 min 15 s" and row["paper reports"] == "a 2x speed-up"
    assert row["measured"] == "final_loss | full 1.217 ± 0.01764" and row["paper"] == "arXiv 1234.56789"

    shot = tmp_path / "shot.png"
    proc = subprocess.run(_chromium_args(chromium, tmp_path / "profile2")
                          + [f"--screenshot={shot}", "--window-size=1200,2000", url],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


_PROBE = ("<script>addEventListener('load', () => { const d = document.createElement('div'); d.id = 'probe';"
          " d.dataset.sw = document.documentElement.scrollWidth; d.dataset.iw = innerWidth;"
          " d.dataset.cw = document.documentElement.clientWidth;"
          " d.dataset.cards = getComputedStyle(document.querySelector('table.verdicts thead')).display;"
          " document.body.appendChild(d); });</script>")


def test_html_fits_a_narrow_window_in_chromium(declared, tmp_path, width=500):
    """No horizontal scrolling in a narrow window (500 px: headless Chromium's smallest; the verdict table
    turns into cards below 760 px) nor on a desktop. The probe script is added to a copy of the page: the
    report itself has no script."""
    chromium = _chromium()
    _result(declared / "long-name", "a-very-long-experiment-name-for-narrow-windows",
            "A long name, long metric keys and a long rule " * 4, held=False,
            key_metrics=["final_loss | full"])
    html_path, _ = render(declared)
    probe = tmp_path / "probe.html"
    probe.write_text(html_path.read_text(encoding="utf-8").replace("</body>", _PROBE + "</body>"), encoding="utf-8")
    dom = subprocess.run(_chromium_args(chromium, tmp_path / f"p{width}")
                         + [f"--window-size={width},900", "--virtual-time-budget=3000", "--dump-dom", probe.as_uri()],
                         capture_output=True, text=True, timeout=60)
    assert dom.returncode == 0, dom.stderr[-2000:]
    m = re.search(r'id="probe" data-sw="(\d+)" data-iw="(\d+)" data-cw="(\d+)" data-cards="([\w-]+)"', dom.stdout)
    assert m, dom.stdout[-500:]
    scroll_width, inner_width, client_width, thead = int(m[1]), int(m[2]), int(m[3]), m[4]
    assert inner_width == width
    assert scroll_width <= client_width, (scroll_width, client_width)
    assert thead == "none"  # cards


def test_result_with_non_finite_metrics_saves_as_strict_json_and_loads_back(tmp_path):
    """A diverged run's inf score must not make result.json unwritable (it did: allow_nan=False raised after
    the whole run); strict JSON holds the names, and load() restores the floats."""
    import json
    import math

    import numpy as np

    from datadiet.experiments.base import Result

    r = Result(name="x", claim="c", held=False, rule="r", seeds=[0], seconds=1.0, figures=[], config={},
               metrics={"a": {"mean": math.inf, "sem": float("nan"), "n": 2}, "b": {"mean": np.float32(-np.inf),
                                                                                   "sem": 0.0, "n": 1}})
    path = r.save(tmp_path)
    raw = json.loads(path.read_text(), parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
    assert raw["metrics"]["a"]["mean"] == "inf" and raw["metrics"]["b"]["mean"] == "-inf"
    back = Result.load(path)
    assert back.metrics["a"]["mean"] == math.inf and math.isnan(back.metrics["a"]["sem"])
    assert back.metrics["b"]["mean"] == -math.inf

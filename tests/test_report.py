"""`datadiet report`: results -> one self-contained HTML page (opened in headless Chromium) and Markdown."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from datadiet.cli import app
from datadiet.errors import InputError
from datadiet.experiments import Result, summarize
from datadiet.report import render

cli = CliRunner()

CLAIM_A = "Uniform subsets <b>train</b> faster & end close to the full set."
CLAIM_B = "Reusing batches learns the index faster than one-pass SGD."


def _figure(path: Path, title: str) -> None:
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
    fig.savefig(path, dpi=80)


def _result(folder: Path, name: str, claim: str, held: bool, figures=("curve.png",)) -> Path:
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
    return res.save(folder)


@pytest.fixture
def results(tmp_path):
    root = tmp_path / "results"
    _result(root / "zeta-reuse", "zeta-reuse", CLAIM_B, held=False, figures=("overlap.png",))
    _result(root / "nested" / "uniformity-lm", "uniformity-lm", CLAIM_A, held=True)
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
    assert page.index('id="exp-uniformity-lm"') < page.index('id="exp-zeta-reuse"')


def test_render_same_name_twice_gets_distinct_anchors(results):
    _result(results / "again", "uniformity-lm", CLAIM_A, held=False)
    page = render(results)[0].read_text(encoding="utf-8")
    assert page.count('id="exp-uniformity-lm"') == 1 and page.count('id="exp-uniformity-lm-2"') == 1
    assert "again/result.json" in page and "nested/uniformity-lm/result.json" in page


def test_render_markdown_has_table_and_relative_figures(results):
    _, md_path = render(results)
    md = md_path.read_text(encoding="utf-8")
    assert "| metric | mean ± sem | n |" in md
    assert "| steps_uniform | 125 ± 2.887 | 3 |" in md
    assert "| final_loss \\| full | 1.217 ± 0.01764 | 3 |" in md
    assert "**claim held**" in md and "**claim NOT held**" in md
    assert "![curve.png](nested/uniformity-lm/curve.png)" in md
    assert "![overlap.png](zeta-reuse/overlap.png)" in md
    assert md.index("## uniformity-lm") < md.index("## zeta-reuse")
    assert (md_path.parent / "nested/uniformity-lm/curve.png").exists()


def test_render_custom_paths_markdown_links_stay_relative(results, tmp_path):
    h, m = render(results, out_html=tmp_path / "site" / "r.html", out_md=tmp_path / "docs" / "r.md")
    assert h.exists() and m.exists()
    assert "![curve.png](../results/nested/uniformity-lm/curve.png)" in m.read_text(encoding="utf-8")


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
    chromium = _chromium()
    html_path, _ = render(results)
    url = html_path.resolve().as_uri()
    dom = subprocess.run(_chromium_args(chromium, tmp_path / "profile") + ["--dump-dom", url],
                         capture_output=True, text=True, timeout=60)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "uniformity-lm" in dom.stdout and "zeta-reuse" in dom.stdout
    assert "claim held" in dom.stdout and "claim NOT held" in dom.stdout
    assert "data:image/png;base64," in dom.stdout

    shot = tmp_path / "shot.png"
    proc = subprocess.run(_chromium_args(chromium, tmp_path / "profile2")
                          + [f"--screenshot={shot}", "--window-size=1200,2000", url],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000

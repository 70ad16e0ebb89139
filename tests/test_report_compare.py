"""`datadiet report OLD NEW`: flipped verdicts and key metrics that moved by more than sqrt(sem_old² + sem_new²)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from datadiet.cli import app
from datadiet.errors import InputError
from datadiet.experiments import Result
from datadiet.report import compare, render

cli = CliRunner()


def _m(mean, sem, n=3):
    return {"mean": mean, "sem": sem, "n": n}


def _save(root: Path, name: str, held: bool, metrics: dict, key_metrics=(), quick=False, seeds=3) -> None:
    Result(name=name, claim=f"{name} claim.", held=held, rule="r", metrics=metrics, config={"x": 1},
           seeds=list(range(seeds)), seconds=1.0, figures=[], quick=quick, key_metrics=list(key_metrics)).save(
        _mkdir(root / name))


def _mkdir(p: Path) -> Path:
    p.mkdir(parents=True, exist_ok=True)
    return p


@pytest.fixture
def folders(tmp_path):
    old, new = tmp_path / "old", tmp_path / "new"
    # alpha: verdict flips; "gap" moves 3.0 with sems 1, 1 (combined 1.414): moved; "loss" moves 1.0: not moved;
    # "other" is not a key metric (moves a lot, never flagged)
    _save(old, "alpha", True, {"gap": _m(1.0, 1.0), "loss": _m(2.0, 1.0), "other": _m(0.0, 0.0)}, ["gap", "loss"])
    _save(new, "alpha", False, {"gap": _m(4.0, 1.0), "loss": _m(3.0, 1.0), "other": _m(99.0, 0.0)}, ["gap", "loss"])
    # beta: same verdict; 0.3 vs 0.4 with sems 0.05, 0.05 (combined 0.0707): moved; a sem-0 number unchanged
    _save(old, "beta", False, {"acc": _m(0.3, 0.05), "slope": _m(-0.5, 0.0)}, ["acc", "slope"])
    _save(new, "beta", False, {"acc": _m(0.4, 0.05), "slope": _m(-0.5, 0.0)}, ["acc", "slope"], quick=True, seeds=1)
    # gamma only in OLD, delta only in NEW
    _save(old, "gamma", True, {"a": _m(1.0, 0.1)})
    _save(new, "delta", True, {"a": _m(1.0, 0.1)})
    return old, new


def test_compare_known_answers(folders):
    old, new = folders
    c = compare(old, new)
    assert [e.name for e in c.experiments] == ["alpha", "beta", "delta", "gamma"]
    assert [e.name for e in c.flipped] == ["alpha"]
    alpha = {m.key: m for m in c.experiments[0].metrics}
    assert set(alpha) == {"gap", "loss"}  # key metrics only
    assert alpha["gap"].delta == 3.0 and alpha["gap"].combined_sem == pytest.approx(math.sqrt(2))
    assert alpha["gap"].moved and not alpha["loss"].moved  # 3 > 1.414 > 1
    beta = {m.key: m for m in c.experiments[1].metrics}
    assert beta["acc"].delta == pytest.approx(0.1) and beta["acc"].combined_sem == pytest.approx(0.05 * math.sqrt(2))
    assert beta["acc"].moved and not beta["slope"].moved
    assert [(n, m.key) for n, m in c.moved] == [("alpha", "gap"), ("beta", "acc")]
    assert c.experiments[1].note == "mode full -> quick; seeds 3 -> 1"
    assert c.experiments[2].note == "only in NEW" and c.experiments[3].note == "only in OLD"
    assert c.summary() == "1 verdict flipped, 2 of 4 key metrics moved by more than their combined standard error"


def test_moved_threshold_is_strict(tmp_path):
    """|Δ| equal to the combined s.e. is not a move; just above is (sems 0.3, 0.4: combined 0.5 exactly)."""
    old, new = tmp_path / "o", tmp_path / "n"
    _save(old, "e", True, {"eq": _m(1.0, 0.3), "above": _m(1.0, 0.3)}, ["eq", "above"])
    _save(new, "e", True, {"eq": _m(1.5, 0.4), "above": _m(1.5001, 0.4)}, ["eq", "above"])
    m = {x.key: x for x in compare(old, new).experiments[0].metrics}
    assert m["eq"].combined_sem == 0.5 and not m["eq"].moved and m["above"].moved


def test_cli_report_old_new_prints_and_writes_the_table(folders):
    old, new = folders
    r = cli.invoke(app, ["report", str(old), str(new)])
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["experiment", "verdict", "/", "key", "metric", "old", "new", "Δ", "combined", "s.e.",
                                "flag", "note"]
    flipped = next(line for line in lines if line.startswith("alpha"))
    assert flipped.split()[:6] == ["alpha", "verdict", "held", "not", "held", "FLIPPED"]
    gap = next(line for line in lines if line.split()[:1] == ["gap"])
    assert gap.split() == ["gap", "1", "±", "1", "4", "±", "1", "+3", "1.414", "MOVED"]
    loss = next(line for line in lines if line.split()[:1] == ["loss"])
    assert "MOVED" not in loss and "+1" in loss
    assert "1 verdict flipped, 2 of 4 key metrics moved by more than their combined standard error" in r.stdout
    assert f"html: {new / 'report.html'}" in r.stdout
    page = (new / "report.html").read_text(encoding="utf-8")
    assert page.index('class="verdicts') < page.index('<h3 id="changes">Changes since')
    assert '<tr class="flag" data-experiment="alpha" data-what="verdict">' in page
    assert '<tr class="flag" data-experiment="alpha" data-what="gap">' in page
    assert '<tr data-experiment="alpha" data-what="loss">' in page
    assert "flipped: was held" in page  # marked in the verdict table too
    md = (new / "report.md").read_text(encoding="utf-8")
    assert "| alpha | gap | 1 ± 1 | 4 ± 1 | +3 | 1.414 | MOVED |  |" in md
    assert "| alpha | verdict | held | not held |  |  | FLIPPED |  |" in md
    assert not (old / "report.html").exists()  # OLD is only read


def test_report_without_compare_has_no_changes_section(folders):
    _, new = folders
    page = render(new)[0].read_text(encoding="utf-8")
    assert "Changes since" not in page and "flipped: was" not in page


def test_compare_bad_folder_is_one_line_exit_2(folders, tmp_path, monkeypatch):
    monkeypatch.delenv("DATADIET_DEBUG", raising=False)
    old, _ = folders
    r = cli.invoke(app, ["report", str(old), str(tmp_path / "nope")])
    assert r.exit_code == 2 and r.stderr.startswith("datadiet: error:") and "not a directory" in r.stderr
    assert r.stderr.strip().count("\n") == 0
    with pytest.raises(InputError):
        compare(tmp_path / "nope", old)

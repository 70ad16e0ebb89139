"""`datadiet reproduce`: the runner's result.json schema, resumable seeds, summarize, and the CLI forms.

The real experiments are heavy, so these tests register a tiny fake experiment module.
"""

from __future__ import annotations

import json
import math
import sys
import types
from dataclasses import dataclass

import pytest
from typer.testing import CliRunner

from datadiet import experiments
from datadiet.cli import app
from datadiet.experiments import Verdict, runner, summarize

cli = CliRunner()

REQUIRED_KEYS = {"name", "claim", "held", "metrics", "config", "seeds", "seconds", "figures"}


@dataclass(frozen=True)
class FakeConfig:
    n: int = 20
    offset: float = 1.0


FAKE_CLAIM = "Adding an offset <of 1> & more raises the mean (a fake claim for tests)."


@pytest.fixture
def fake(monkeypatch):
    """Register experiment 'fake' (module datadiet.experiments._fake); returns the run() call counter."""
    calls = {"run": 0}

    def run(config, seed):
        calls["run"] += 1
        return {"value": config.offset + seed, "n": config.n}

    def check(config, runs, out_dir):
        from matplotlib.figure import Figure

        values = [r["value"] for r in runs]
        fig = Figure(figsize=(4, 3))
        ax = fig.subplots()
        ax.plot(range(len(values)), values, marker="o")
        ax.set_xlabel("seed")
        ax.set_ylabel("value")
        fig.savefig(out_dir / "values.png", dpi=80)
        m = summarize(values)
        return Verdict(held=m["mean"] > 0, rule="mean value > 0", metrics={"value": m},
                       figures=["values.png"])

    mod = types.ModuleType("datadiet.experiments._fake")
    mod.NAME, mod.CLAIM, mod.Config, mod.QUICK = "fake", FAKE_CLAIM, FakeConfig, FakeConfig(n=5)
    mod.run, mod.check = run, check
    monkeypatch.setitem(sys.modules, "datadiet.experiments._fake", mod)
    monkeypatch.setitem(experiments._REGISTRY, "fake", "_fake")
    return calls


def test_summarize_known_answers():
    s = summarize([1, 2, 3, 4])
    assert s["mean"] == 2.5 and s["n"] == 4
    assert s["sem"] == pytest.approx(math.sqrt(5 / 3) / 2, rel=1e-12)  # sample std 1.2910 / sqrt(4)
    assert round(s["sem"], 4) == 0.6455
    assert summarize([7.0]) == {"mean": 7.0, "sem": 0.0, "n": 1}
    with pytest.raises(ValueError):
        summarize([])


def test_reproduce_writes_result_json_and_figures(fake, tmp_path):
    out = tmp_path / "fake"
    result = runner.reproduce("fake", seeds=3, quick=True, out_dir=out)
    data = json.loads((out / "result.json").read_text(encoding="utf-8"))
    assert REQUIRED_KEYS <= set(data)
    assert data["name"] == "fake" and data["claim"] == FAKE_CLAIM and data["held"] is True
    assert data["config"] == {"n": 5, "offset": 1.0} and data["quick"] is True
    assert data["seeds"] == [0, 1, 2] and data["seconds"] >= 0
    assert set(data["metrics"]) == {"value"}
    for m in data["metrics"].values():
        assert set(m) == {"mean", "sem", "n"}
    assert data["metrics"]["value"] == pytest.approx({"mean": 2.0, "sem": 1 / math.sqrt(3), "n": 3})
    assert data["figures"] == ["values.png"]
    for name in data["figures"]:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert result.held and fake["run"] == 3


def test_reproduce_reuses_seeds_and_recomputes_on_config_change(fake, tmp_path):
    out = tmp_path / "fake"
    runner.reproduce("fake", seeds=2, quick=True, out_dir=out)
    assert fake["run"] == 2
    runner.reproduce("fake", seeds=2, quick=True, out_dir=out)
    assert fake["run"] == 2  # both seeds came from seeds/seed-*.json
    runner.reproduce("fake", seeds=3, quick=True, out_dir=out)
    assert fake["run"] == 3  # only the new seed ran
    changed = runner.replace_config(FakeConfig(n=5), offset=2.0)
    result = runner.reproduce("fake", seeds=3, out_dir=out, config=changed)
    assert fake["run"] == 6  # a changed config recomputes every seed
    assert result.metrics["value"]["mean"] == pytest.approx(3.0)


def test_cli_reproduce_list(fake):
    r = cli.invoke(app, ["reproduce", "list"])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    fake_line = next(line for line in lines if line.startswith("fake "))
    assert FAKE_CLAIM in fake_line
    for name in experiments.names():
        assert any(line.startswith(name + " ") for line in lines), name


def test_cli_reproduce_name_runs_and_prints_verdict(fake, tmp_path):
    out = tmp_path / "out"
    r = cli.invoke(app, ["reproduce", "fake", "--seeds", "2", "--quick", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "fake: claim held — mean value > 0" in r.output
    assert "value  1.5 ± 0.5 (n=2)" in r.output
    assert str(out / "result.json") in r.output and str(out / "values.png") in r.output
    assert (out / "result.json").exists() and (out / "values.png").exists()
    # the explicit sub-command form does the same (and reuses the seeds)
    r = cli.invoke(app, ["reproduce", "run", "fake", "--seeds", "2", "--quick", "--out", str(out), "--quiet"])
    assert r.exit_code == 0, r.output
    assert "claim held" in r.output and fake["run"] == 2


def test_cli_reproduce_not_held_is_reported(fake, tmp_path):
    experiments.get("fake").QUICK = FakeConfig(n=5, offset=-10.0)
    r = cli.invoke(app, ["reproduce", "fake", "--seeds", "2", "--quick", "--out", str(tmp_path / "o")])
    assert r.exit_code == 0, r.output
    assert "fake: claim NOT held — mean value > 0" in r.output


@pytest.mark.parametrize("args, needle", [
    (["reproduce", "no-such-experiment", "--quick"], "unknown experiment 'no-such-experiment'"),
    (["reproduce", "run", "no-such-experiment"], "unknown experiment 'no-such-experiment'"),
    (["reproduce", "fake", "--seeds", "0", "--quick"], "--seeds 0 must be at least 1"),
])
def test_cli_reproduce_bad_input_is_one_line_exit_2(fake, tmp_path, monkeypatch, args, needle):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATADIET_DEBUG", raising=False)
    r = cli.invoke(app, args)
    assert r.exit_code == 2
    assert r.stderr.strip().count("\n") == 0
    assert r.stderr.startswith("datadiet: error:") and needle in r.stderr
    assert "Traceback" not in r.output


def test_reproduce_then_report_end_to_end(fake, tmp_path):
    r = cli.invoke(app, ["reproduce", "fake", "--seeds", "2", "--quick", "--out", str(tmp_path / "fake"), "-q"])
    assert r.exit_code == 0, r.output
    r = cli.invoke(app, ["report", str(tmp_path)])
    assert r.exit_code == 0, r.output
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "fake" in page and "claim held" in page and "data:image/png;base64," in page

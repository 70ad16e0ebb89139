"""`datadiet reproduce`: the runner's result.json schema, resumable seeds, summarize, and the CLI forms.

The real experiments are heavy, so these tests register a tiny fake experiment module.
"""

from __future__ import annotations

import dataclasses
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
    assert fake["run"] == 2  # both seeds came from seeds-quick/seed-*.json
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


# --- `datadiet reproduce all` -------------------------------------------------------------------------

def _fake_module(name: str, *, held: bool = True, declare: dict | None = None, fail: Exception | None = None):
    """An experiment module whose run() is counted; raises ``fail`` on seed 1 while it is set."""
    calls: list[int] = []

    def run(config, seed):
        calls.append(seed)
        if seed == 1 and mod.FAIL is not None:
            raise mod.FAIL
        return {"value": (config.offset if held else -config.offset) + seed}

    def check(config, runs, out_dir):
        values = [r["value"] for r in runs]
        (out_dir / "v.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 64)
        return Verdict(held=summarize(values)["mean"] > 0, rule="mean value > 0",
                       metrics={"value": summarize(values), "spread": summarize([max(values) - min(values)]),
                                "count": summarize([len(values)])}, figures=["v.png"])

    mod = types.ModuleType(f"datadiet.experiments._{name.replace('-', '_')}")
    mod.NAME, mod.CLAIM, mod.Config, mod.QUICK = name, f"{name} raises the mean (arXiv 0000.00000).", FakeConfig, FakeConfig(n=5)
    mod.run, mod.check, mod.calls, mod.FAIL = run, check, calls, fail
    for k, v in (declare or {}).items():
        setattr(mod, k, v)
    return mod


@pytest.fixture
def fakes(monkeypatch):
    """The registry holds only fake-a (declares everything), fake-b (nothing, not held) and fake-c."""
    mods = {
        "fake-a": _fake_module("fake-a", declare=dict(
            PAPER="A. Author, A Paper (ICML 2023)", PAPER_RESULT="the mean rises by 2.0", KEY_METRICS=["spread", "val*"],
            SEEDS=2, BUDGET_SECONDS=100, QUICK_BUDGET_SECONDS=8)),
        "fake-b": _fake_module("fake-b", held=False),
        "fake-c": _fake_module("fake-c", declare=dict(QUICK_BUDGET_SECONDS=90)),
    }
    registry = {}
    for name, mod in mods.items():
        monkeypatch.setitem(sys.modules, mod.__name__, mod)
        registry[name] = mod.__name__.rsplit(".", 1)[1]
    monkeypatch.setattr(experiments, "_REGISTRY", registry)
    monkeypatch.delenv("DATADIET_DEBUG", raising=False)
    return mods


def _lines_from(output: str, prefix: str) -> list[str]:
    return [line for line in output.splitlines() if line.strip().startswith(prefix)]


def test_reproduce_all_runs_every_experiment_then_reports(fakes, tmp_path):
    out = tmp_path / "res"
    r = cli.invoke(app, ["reproduce", "all", "--quick", "--out", str(out), "-q"])
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    # the estimate first: declared quick budget scaled to the seeds, or unknown
    assert lines[0] == "3 experiments (quick), time estimate (2 CPU cores):"
    assert lines[2].split() == ["fake-a", "2", "8.0", "s", "budget"]  # QUICK_BUDGET 8 s at SEEDS=2, 2 seeds
    assert lines[3].split() == ["fake-b", "3", "unknown", "no", "last", "run,", "no", "declared", "budget"]
    assert lines[4].split() == ["fake-c", "3", "1", "min", "30", "s", "budget"]  # 90 s at SEEDS 3 (default)
    assert lines[5].strip() == "total: 1 min 38 s + 1 unknown"
    # then each verdict as it finishes, in order
    done = _lines_from(r.stdout, "[")
    assert [d.split(" in ")[0] for d in done] == ["[1/3] fake-a: claim held", "[2/3] fake-b: claim NOT held",
                                                  "[3/3] fake-c: claim held"]
    assert "claim held in 2 of 3 experiments" in r.stdout
    assert [len(m.calls) for m in fakes.values()] == [2, 3, 3]
    a = json.loads((out / "fake-a" / "result.json").read_text())
    assert a["seeds"] == [0, 1] and a["paper"] == "A. Author, A Paper (ICML 2023)"
    assert a["paper_result"] == "the mean rises by 2.0" and a["key_metrics"] == ["spread", "val*"]
    assert a["run_seconds"] is not None and a["run_seconds"] >= 0
    seed = json.loads((out / "fake-a" / "seeds-quick" / "seed-1.json").read_text())
    assert seed["run"] == {"value": 2.0} and seed["seconds"] >= 0
    log = json.loads((out / "reproduce-all.json").read_text())
    assert [(e["name"], e["status"], e["estimate_source"]) for e in log["experiments"]] == [
        ("fake-a", "held", "budget"), ("fake-b", "not held", "no last run, no declared budget"), ("fake-c", "held", "budget")]
    page = (out / "report.html").read_text(encoding="utf-8")
    assert f"html: {out / 'report.html'}" in r.stdout
    row = page[page.index('<tr data-experiment="fake-a">'):]
    row = row[:row.index("</tr>")]
    assert "the mean rises by 2.0" in row and "spread" in row  # declared headline and paper number
    # a second run keeps everything
    r = cli.invoke(app, ["reproduce", "all", "--quick", "--out", str(out), "-q"])
    assert r.exit_code == 0, r.output
    assert [len(m.calls) for m in fakes.values()] == [2, 3, 3]
    assert r.stdout.splitlines()[2].split() == ["fake-a", "2", "0.0", "s", "finished:", "kept"]
    assert all("(kept from the last run" in d for d in _lines_from(r.stdout, "["))


def test_reproduce_all_killed_run_resumes_where_it_stopped(fakes, tmp_path):
    out = tmp_path / "res"
    fakes["fake-b"].FAIL = KeyboardInterrupt()
    r = cli.invoke(app, ["reproduce", "all", "--quick", "--out", str(out), "-q"])
    assert r.exit_code == 130  # killed during fake-b's seed 1
    assert (out / "fake-a" / "result.json").exists() and not (out / "fake-b" / "result.json").exists()
    assert (out / "fake-b" / "seeds-quick" / "seed-0.json").exists()
    # seed 0 of fake-b recorded 5 s (rewritten here for a known estimate): 2 seeds left -> 10 s
    seed0 = out / "fake-b" / "seeds-quick" / "seed-0.json"
    seed0.write_text(json.dumps(dict(json.loads(seed0.read_text()), seconds=5.0)))
    fakes["fake-b"].FAIL = None
    r = cli.invoke(app, ["reproduce", "all", "--quick", "--out", str(out), "-q"])
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[2].split()[-2:] == ["finished:", "kept"]
    assert lines[3].split() == ["fake-b", "3", "10", "s", "last", "run", "(1", "of", "3", "seeds", "done)"]
    assert fakes["fake-a"].calls == [0, 1]  # not rerun
    assert fakes["fake-b"].calls == [0, 1, 1, 2]  # seed 1 interrupted, then seeds 1 and 2 only
    b = json.loads((out / "fake-b" / "result.json").read_text())
    assert b["seeds"] == [0, 1, 2] and b["run_seconds"] >= 5.0  # seed 0's recorded time counts


def test_reproduce_all_seeds_only_skip(fakes, tmp_path):
    out = tmp_path / "res"
    r = cli.invoke(app, ["reproduce", "all", "--quick", "--seeds", "1", "--out", str(out), "--only", "fake-c,fake-a",
                         "--skip", "fake-a", "-q"])
    assert r.exit_code == 0, r.output
    assert [d.split(":")[0] for d in _lines_from(r.stdout, "[")] == ["[1/1] fake-c"]
    assert r.stdout.splitlines()[2].split() == ["fake-c", "1", "30", "s", "budget"]  # 90 s / 3 seeds * 1
    assert json.loads((out / "fake-c" / "result.json").read_text())["seeds"] == [0]
    assert not (out / "fake-a").exists() and not (out / "fake-b").exists()
    # a longer run estimates from the last run: seed 0 took 5 s and check() 3 s (rewritten here) -> 5 + 3
    for path, key, value in ((out / "fake-c" / "seeds-quick" / "seed-0.json", "seconds", 5.0),
                             (out / "fake-c" / "result.json", "check_seconds", 3.0)):
        path.write_text(json.dumps(dict(json.loads(path.read_text()), **{key: value})))
    r = cli.invoke(app, ["reproduce", "all", "--quick", "--seeds", "2", "--out", str(out), "--only", "fake-c",
                         "--dry-run"])
    assert r.stdout.splitlines()[2].split() == ["fake-c", "2", "8.0", "s", "last", "run", "(1", "of", "2", "seeds",
                                                "done)"]
    # --only keeps its order
    r = cli.invoke(app, ["reproduce", "all", "--quick", "--seeds", "2", "--out", str(out), "--only", "fake-c,fake-a", "-q"])
    assert [d.split(":")[0] for d in _lines_from(r.stdout, "[")] == ["[1/2] fake-c", "[2/2] fake-a"]
    result = json.loads((out / "fake-c" / "result.json").read_text())
    assert result["run_seconds"] >= 5.0 and 0 <= result["check_seconds"] <= result["run_seconds"]


@pytest.mark.parametrize("args, needle", [
    (["--only", "fake-a,nope"], "--only: unknown experiment 'nope'; registered: fake-a, fake-b, fake-c"),
    (["--skip", "x,y"], "--skip: unknown experiments 'x', 'y'; registered: fake-a, fake-b, fake-c"),
    (["--only", "fake-a", "--skip", "fake-a"], "--only/--skip leave no experiment to run"),
    (["--seeds", "0"], "--seeds 0 must be at least 1"),
])
def test_reproduce_all_bad_names_are_one_line_exit_2(fakes, tmp_path, args, needle):
    r = cli.invoke(app, ["reproduce", "all", "--quick", "--out", str(tmp_path / "o")] + args)
    assert r.exit_code == 2, r.output
    assert r.stderr.startswith("datadiet: error:") and needle in r.stderr and r.stderr.strip().count("\n") == 0
    assert not (tmp_path / "o").exists() and all(not m.calls for m in fakes.values())


def test_reproduce_all_goes_on_after_a_failure(fakes, tmp_path):
    out = tmp_path / "res"
    fakes["fake-a"].FAIL = RuntimeError("boom at seed 1")
    r = cli.invoke(app, ["reproduce", "all", "--quick", "--out", str(out), "-q"])
    assert r.exit_code == 1
    done = _lines_from(r.stdout, "[")
    assert done[0].startswith("[1/3] fake-a: FAILED after ") and done[0].endswith("— RuntimeError: boom at seed 1")
    assert done[1].startswith("[2/3] fake-b: claim NOT held") and done[2].startswith("[3/3] fake-c: claim held")
    assert "claim held in 1 of 2 experiments; 1 failed: fake-a" in r.stdout
    log = json.loads((out / "reproduce-all.json").read_text())
    assert log["experiments"][0]["status"] == "failed" and "boom" in log["experiments"][0]["error"]
    assert "Traceback" in log["experiments"][0]["traceback"] and "Traceback" not in r.output
    page = (out / "report.html").read_text(encoding="utf-8")
    assert 'data-experiment="fake-b"' in page and 'data-experiment="fake-a"' not in page


def test_metadata_contract():
    from datadiet.experiments.base import metadata, paper_from_claim, resolve_key_metrics

    mod = _fake_module("m", declare=dict(PAPER="  P.  Aper\n(2023) ", KEY_METRICS=("a", "b*"), SEEDS=1))
    meta = metadata(mod)
    assert (meta.paper, meta.key_metrics, meta.seeds, meta.budget(False), meta.budget(True)) == \
        ("P. Aper (2023)", ("a", "b*"), 1, None, None)
    assert metadata(_fake_module("n")).seeds == 3 and metadata(_fake_module("n")).paper_result == ""
    for bad in (dict(KEY_METRICS="value"), dict(SEEDS=0), dict(PAPER=3), dict(BUDGET_SECONDS=-1),
                dict(QUICK_BUDGET_SECONDS=True)):
        with pytest.raises(TypeError, match=next(iter(bad))):
            metadata(_fake_module("x", declare=bad))
    metrics = {"z": 0, "b2": 0, "a": 0, "b1": 0, "c": 0}
    assert resolve_key_metrics(["a", "b*", "missing", "a"], metrics) == ["a", "b2", "b1"]
    assert resolve_key_metrics([], metrics) == ["z", "b2", "a"]
    assert resolve_key_metrics(["missing"], metrics) == ["z", "b2", "a"]
    assert paper_from_claim("x (the O(1/M) term of Suzuki, Wu, Nitanda, NeurIPS 2023).") == \
        "the O(1/M) term of Suzuki, Wu, Nitanda, NeurIPS 2023"
    assert paper_from_claim("on the sphere (d = 3).") == "" and paper_from_claim("no parenthesis") == ""


def test_cli_reproduce_run_uses_the_declared_seeds(fakes, tmp_path):
    r = cli.invoke(app, ["reproduce", "fake-a", "--quick", "--out", str(tmp_path / "a"), "-q"])
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "a" / "result.json").read_text())["seeds"] == [0, 1]  # SEEDS = 2


def test_quick_run_keeps_the_full_runs_seeds(fake, tmp_path):
    out = tmp_path / "fake"
    runner.reproduce("fake", seeds=2, out_dir=out)  # full config
    runner.reproduce("fake", seeds=2, quick=True, out_dir=out)
    assert fake["run"] == 4 and sorted(p.name for p in (out / "seeds").iterdir()) == ["seed-0.json", "seed-1.json"]
    result = runner.reproduce("fake", seeds=2, out_dir=out)  # back to full: every seed still cached
    assert fake["run"] == 4 and result.quick is False and result.config == {"n": 20, "offset": 1.0}


def test_reproduce_all_without_progress_bars_prints_a_start_line(fakes, tmp_path):
    r = cli.invoke(app, ["reproduce", "all", "--quick", "--out", str(tmp_path / "o"), "--only", "fake-a"])
    assert r.exit_code == 0, r.output
    starts = [line for line in r.stdout.splitlines() if line.startswith("[1/1] fake-a: running")]
    assert starts == ["[1/1] fake-a: running 2 seeds (estimate 8.0 s) ..."]


def test_reproduce_all_experiment_missing_an_extra(fakes, tmp_path, monkeypatch):
    real_get = runner.get

    def get(name):
        if name == "fake-c":
            raise ModuleNotFoundError("No module named 'torch'", name="torch")
        return real_get(name)

    monkeypatch.setattr(runner, "get", get)
    r = cli.invoke(app, ["reproduce", "all", "--quick", "--out", str(tmp_path / "o"), "-q"])
    assert r.exit_code == 1
    need = "experiment 'fake-c' needs the 'torch' package: pip install 'datadiet[torch]'"
    assert r.stdout.splitlines()[4].split(None, 3)[3] == f"cannot run here: {need}"
    assert f"[3/3] fake-c: FAILED after 0.0 s — {need}" in r.stdout
    assert "claim held in 1 of 2 experiments; 1 failed: fake-c" in r.stdout
    assert (tmp_path / "o" / "report.html").exists()


def test_reproduce_all_dry_run_prints_the_estimate_only(fakes, tmp_path):
    r = cli.invoke(app, ["reproduce", "all", "--quick", "--out", str(tmp_path / "o"), "--dry-run"])
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[-1].strip() == "total: 1 min 38 s + 1 unknown"
    assert not (tmp_path / "o").exists() and all(not m.calls for m in fakes.values())


@dataclass(frozen=True)
class HashConfig:
    n: int = 5
    offset: float = 1.0
    base_hash: str | None = None  # filled in by resolve_config at run time


def test_reproduce_all_plans_without_resolving_the_config(fakes, tmp_path):
    """A module's resolve_config (which may train a base model first) runs only when the experiment runs:
    the plan matches its None fields loosely, so a finished run is still kept."""
    mod = fakes["fake-c"]
    resolved = []

    def resolve_config(config):
        resolved.append(config)
        return dataclasses.replace(config, base_hash="abc123")

    mod.Config, mod.QUICK, mod.resolve_config = HashConfig, HashConfig(), resolve_config
    out = tmp_path / "o"
    args = ["reproduce", "all", "--quick", "--out", str(out), "--only", "fake-c", "-q"]
    r = cli.invoke(app, args + ["--dry-run"])
    assert r.exit_code == 0 and resolved == []
    r = cli.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert len(resolved) == 1 and json.loads((out / "fake-c" / "result.json").read_text())["config"]["base_hash"] == "abc123"
    r = cli.invoke(app, args)
    assert r.stdout.splitlines()[2].split()[-2:] == ["finished:", "kept"] and len(resolved) == 1
    assert len(mod.calls) == 3


def test_training_progress_reports_each_training_run(capsys):
    """Experiments with a module-level progress(fn) get a line per finished training run in a log (no
    terminal), and nothing with --quiet; experiments without one are left alone."""
    import types
    from contextlib import contextmanager

    from datadiet.cli import training_progress
    from datadiet.clikit import progress_bar

    @contextmanager
    def hook(fn):
        for label in ("seed 0 adamw/full (1/2)", "seed 0 adamw/random (2/2)"):
            for step in range(1, 4):
                fn(label, step, 3)
        yield

    module = types.SimpleNamespace(progress=hook)
    with progress_bar(False) as bar, training_progress(module, bar):
        pass
    out = capsys.readouterr().out.splitlines()
    assert out == ["    seed 0 adamw/full (1/2): 3 steps done", "    seed 0 adamw/random (2/2): 3 steps done"]
    with progress_bar(True) as bar, training_progress(module, bar, quiet=True):
        pass
    with progress_bar(False) as bar, training_progress(types.SimpleNamespace(), bar):
        pass
    assert capsys.readouterr().out == ""


def test_every_registered_experiment_declares_its_full_run_budget():
    """`reproduce all` prints an estimate before it starts: on a fresh clone (no last run) it comes from
    the declared BUDGET_SECONDS, so every registered experiment must declare one."""
    from datadiet import experiments
    from datadiet.experiments.base import metadata

    missing = [n for n in experiments.names() if metadata(experiments.get(n)).budget(False) is None]
    assert not missing, f"no BUDGET_SECONDS in {missing}"

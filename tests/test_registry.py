"""Every experiment module is registered, listed with its claim, and reported with its figures."""

from __future__ import annotations

import importlib
import pkgutil

import pytest
from typer.testing import CliRunner

import datadiet.experiments as experiments
from datadiet.cli import app

runner = CliRunner()
_INFRA = {"base", "runner"}


def _experiment_modules():
    out = {}
    for info in pkgutil.iter_modules(experiments.__path__):
        if info.name in _INFRA or info.name.startswith("_"):
            continue
        out[info.name] = importlib.import_module(f"datadiet.experiments.{info.name}")
    return out


def test_registry_lists_every_experiment_module():
    mods = _experiment_modules()
    assert {"uniformity_lm", "uniformity_regression"} <= set(mods)
    assert sorted(m.NAME for m in mods.values()) == experiments.names()
    for m in mods.values():
        assert experiments.get(m.NAME) is m
        for attr in ("CLAIM", "Config", "QUICK", "run", "check"):
            assert hasattr(m, attr), (m.NAME, attr)
    r = runner.invoke(app, ["reproduce", "list"])
    assert r.exit_code == 0
    for m in mods.values():
        assert m.NAME in r.stdout and m.CLAIM[:40] in r.stdout


def test_quick_runs_end_in_one_report(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    monkeypatch.setenv("DATADIET_CACHE", str(tmp_path / "cache"))
    results = tmp_path / "results"
    n_figures = 0
    for name, seeds in (("uniformity-regression", 2), ("uniformity-lm", 1)):
        r = runner.invoke(app, ["reproduce", name, "--quick", "--seeds", str(seeds), "--out", str(results / name), "-q"])
        assert r.exit_code == 0, r.output
        assert f"{name}: claim " in r.stdout
        n_figures += sum(1 for line in r.stdout.splitlines() if line.strip().startswith("figure:"))
    r = runner.invoke(app, ["report", str(results)])
    assert r.exit_code == 0, r.output
    page = (results / "report.html").read_text(encoding="utf-8")
    assert "uniformity-regression" in page and "uniformity-lm" in page
    assert page.count("data:image/png;base64,") == n_figures >= 4

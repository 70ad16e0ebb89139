"""The `datadiet federated` CLI and the diff2-utility / scalablefl quick configs."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

pytest.importorskip("dp_accounting")

from datadiet.cli import app  # noqa: E402
from datadiet.experiments import runner  # noqa: E402
from datadiet.federated import accountant  # noqa: E402


def test_cli_private_run_writes_accountant_epsilon(tmp_path):
    res = CliRunner().invoke(app, ["federated", "run", "--method", "diff2", "--clients", "3", "--rounds", "6",
                                   "--epsilon", "2", "--out", str(tmp_path), "-q"])
    assert res.exit_code == 0, res.output
    data = json.loads((tmp_path / "result.json").read_text())
    assert set(data["metrics"]) == {"test_accuracy", "grad_norm_sq", "epsilon"}
    z1, z2 = data["details"]["z1"], data["details"]["z2"]
    r1, r2 = accountant.release_counts(6, 2)   # the CLI's DIFF2: T = max(2, R // 10)
    eps = accountant.epsilon([(z1, r1), (z2, r2)], 1e-5)
    assert data["metrics"]["epsilon"]["mean"] == pytest.approx(eps, rel=1e-12)
    assert eps <= 2.0
    assert data["config"]["noise"] == "central" and data["config"]["reproducible"] is False


def test_cli_submodel_run(tmp_path):
    res = CliRunner().invoke(app, ["federated", "run", "--method", "scalablefl", "--clients", "3", "--rounds", "1",
                                   "--out", str(tmp_path), "-q"])
    assert res.exit_code == 0, res.output
    data = json.loads((tmp_path / "result.json").read_text())
    assert set(data["metrics"]) == {"test_accuracy", "grad_norm_sq"}
    assert 0.0 <= data["metrics"]["test_accuracy"]["mean"] <= 1.0


@pytest.mark.parametrize("args,word", [(["--method", "nope"], "--method"),
                                       (["--method", "dpgd", "--epsilon", "-1"], "--epsilon"),
                                       (["--method", "fedavg", "--rounds", "0"], "--rounds"),
                                       (["--method", "fedavg", "--engine", "mpi"], "--engine"),
                                       (["--method", "fedavg", "--clients", "0"], "--clients"),
                                       (["--method", "diff2", "--noise", "shared"], "--noise")])
def test_cli_bad_input_is_one_line_exit_2(args, word):
    res = CliRunner().invoke(app, ["federated", "run", *args, "-q"])
    assert res.exit_code == 2
    assert word in res.output and "Traceback" not in res.output


@pytest.mark.parametrize("name", ["diff2-utility", "scalablefl"])
def test_quick_experiments_run(name, tmp_path, monkeypatch):
    monkeypatch.setenv("DATADIET_CACHE", str(tmp_path / "cache"))  # diff2-utility caches its tuning there
    result = runner.reproduce(name, seeds=1, quick=True, out_dir=tmp_path)
    assert result.figures and (tmp_path / result.figures[0]).exists()
    if name == "diff2-utility":
        eps = [v["mean"] for k, v in result.metrics.items() if k.endswith("_epsilon") and not k.startswith("floor")]
        assert eps and all(2.99 < e <= 3.0 for e in eps)  # every private run calibrated to the QUICK ε = 3
        floor = [v["mean"] for k, v in result.metrics.items() if k.startswith("floor") and k.endswith("_score")]
        assert floor and all(0 < f < 1e-2 for f in floor)  # plain GD reaches a small gradient
        assert set(result.details["tuned"]) == {"synthetic_n100", "synthetic_n400"}
    else:
        accs = [v["mean"] for k, v in result.metrics.items() if k.endswith("test_accuracy")]
        assert accs and all(0.0 <= a <= 1.0 for a in accs)

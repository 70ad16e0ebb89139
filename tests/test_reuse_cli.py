"""`datadiet reuse simulate|dmft` and the reuse-* experiments' quick runs (each claim checked)."""

from __future__ import annotations

import csv
import json

import pytest
from typer.testing import CliRunner

from datadiet.cli import app
from datadiet.experiments.runner import reproduce

runner = CliRunner()


def test_simulate_writes_the_contracted_csv_and_plot(tmp_path):
    out = tmp_path / "run"
    r = runner.invoke(app, ["reuse", "simulate", "--target", "he3", "--d", "100", "--alpha", "4", "--eta", "2",
                            "--steps", "3", "--passes", "multi", "--student", "tanh", "--width", "1",
                            "--seeds", "12", "--out", str(out), "--quiet"])
    assert r.exit_code == 0, r.output
    assert "signed cos" in r.stdout and "±" in r.stdout
    with open(out / "overlaps.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["step", "signed_mean", "signed_sem", "abs_mean", "abs_sem"]
    assert [int(row["step"]) for row in rows] == [0, 1, 2, 3]
    assert (out / "overlaps.png").read_bytes()[:4] == b"\x89PNG"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["target"]["information_exponent"] == 3 and summary["seeds"] == list(range(12))


def test_multi_index_csv_has_further_directions(tmp_path):
    r = runner.invoke(app, ["reuse", "simulate", "--target", "staircase", "--d", "40", "--seeds", "3",
                            "--steps", "1", "--out", str(tmp_path), "--quiet"])
    assert r.exit_code == 0, r.output
    header = (tmp_path / "overlaps.csv").read_text().splitlines()[0].split(",")
    assert header[:5] == ["step", "signed_mean", "signed_sem", "abs_mean", "abs_sem"]
    assert {"signed_mean_2", "abs_mean_2", "orth_mean"} <= set(header)
    head = next(line for line in r.output.splitlines() if line.lstrip().startswith("step"))
    assert head.split()[-3:] == ["signed_2", "abs_2", "orth"]  # the printed table shows them too


def test_dmft_command_compares_with_simulation(tmp_path):
    r = runner.invoke(app, ["reuse", "dmft", "--target", "he3", "--steps", "2", "--paths", "20000", "--repeats", "2",
                            "--compare", "--d", "100", "--seeds", "6", "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert "DMFT (d → ∞)" in r.stdout and "simulation d=100" in r.stdout
    assert (tmp_path / "overlaps.csv").read_text().startswith("step,signed_mean,signed_sem,abs_mean,abs_sem")


@pytest.mark.parametrize("args, message", [
    (["--target", "he9"], "unknown target"),
    (["--passes", "twice"], "--passes"),
    (["--student", "gelu"], "unknown student activation"),
    (["--seeds", "0"], "--seeds"),
    (["--eta", "-1"], "--eta"),
])
def test_bad_options_are_one_line_errors(args, message):
    r = runner.invoke(app, ["reuse", "simulate", "--d", "20", *args])
    assert r.exit_code == 2
    assert message in r.stderr and r.stderr.count("\n") == 1


@pytest.mark.parametrize("name", ["reuse-he3", "reuse-symmetric", "reuse-staircase", "reuse-dmft",
                                  "reuse-repetition-sgd"])
def test_quick_experiment_holds_its_claim(name, tmp_path):
    result = reproduce(name, seeds=1, quick=True, out_dir=tmp_path)
    assert result.held, result.details.get("failures")
    for fig in result.figures:
        assert (tmp_path / fig).read_bytes()[:4] == b"\x89PNG"
    assert json.loads((tmp_path / "result.json").read_text())["name"] == name


def test_simulate_and_dmft_take_the_authors_setting(tmp_path):
    args = ["--target", "tanh:he1+he3raw", "--student", "relu", "--width", "2", "--alpha", "3", "--eta", "0.6",
            "--second-layer", "signs", "--steps", "1"]
    r = runner.invoke(app, ["reuse", "simulate", *args, "--d", "60", "--seeds", "3", "--init", "orthogonal",
                            "--out", str(tmp_path / "sim"), "--quiet"])
    assert r.exit_code == 0, r.output
    summary = json.loads((tmp_path / "sim" / "summary.json").read_text())
    assert summary["config"]["init"] == "orthogonal" and summary["config"]["second_layer"] == "signs"
    m0 = summary["m_mean"][0]  # step 0: orthonormal rows ⊥ the target, m = w·w* = 0
    assert max(abs(v) for row in m0 for v in row) < 1e-6
    assert summary["test_error_mean"][0] == pytest.approx(0.49159, abs=1e-4)  # exact in law at the init
    r = runner.invoke(app, ["reuse", "dmft", *args, "--paths", "20000", "--repeats", "2", "--out", str(tmp_path / "dm")])
    assert r.exit_code == 0, r.output
    m = json.loads((tmp_path / "dm" / "summary.json").read_text())["dmft"]["m"]
    assert m[1][0][0] == pytest.approx(0.0759, abs=0.006) and m[1][1][0] == pytest.approx(-0.0759, abs=0.006)
    r = runner.invoke(app, ["reuse", "dmft", "--second-layer", "alternating"])
    assert r.exit_code == 2 and "--second-layer" in r.stderr

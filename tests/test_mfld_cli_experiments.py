"""`datadiet mfld parity` and the three mfld experiments' --quick runs: well-formed results and claim checks."""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

from datadiet.cli import app
from datadiet.experiments.runner import replace_config, reproduce

pytest.importorskip("torch")
pytest.importorskip("sklearn")
runner = CliRunner()


def _well_formed(data: dict, name: str, seeds: int):
    for key in ("name", "claim", "held", "rule", "metrics", "config", "seeds", "seconds", "figures"):
        assert key in data, key
    assert data["name"] == name and data["seeds"] == list(range(seeds))
    for key, m in data["metrics"].items():
        assert set(m) == {"mean", "sem", "n"} and math.isfinite(m["mean"]), key


def test_cli_parity_writes_result_json(tmp_path):
    out = tmp_path / "res"
    r = runner.invoke(app, ["mfld", "parity", "--d", "12", "--k", "2", "--n", "120", "--particles", "100",
                            "--steps", "250", "--seeds", "1", "--out", str(out), "-q"])
    assert r.exit_code == 0, r.output
    assert "mfld_accuracy" in r.stdout and "kernel_accuracy" in r.stdout
    data = json.loads((out / "result.json").read_text())
    _well_formed(data, "mfld-parity", 1)
    want = {"mfld_accuracy", "kernel_accuracy", "krr_rbf_accuracy", "krr_poly_accuracy", "svm_rbf_accuracy",
            "svm_poly_accuracy", "ntk_accuracy", "relu_sgd_accuracy"}
    assert set(data["metrics"]) == want
    assert data["metrics"]["mfld_accuracy"]["mean"] >= 0.9
    assert data["metrics"]["kernel_accuracy"]["mean"] == max(
        data["metrics"][f"{k}_accuracy"]["mean"] for k in ("krr_rbf", "krr_poly", "svm_rbf", "svm_poly", "ntk"))


@pytest.mark.parametrize("args,needle", [
    (["--k", "50", "--d", "10"], "--k"),
    (["--eta", "0"], "eta"),
    (["--seeds", "0"], "--seeds"),
    (["--particles", "0"], "particles"),
])
def test_cli_parity_bad_input_is_one_line_exit_2(args, needle):
    r = runner.invoke(app, ["mfld", "parity", *args, "-q"])
    assert r.exit_code == 2
    assert needle in r.output and "Traceback" not in r.output


def test_hidden_progress_quick_claim_holds(tmp_path):
    res = reproduce("parity-hidden-progress", quick=True, seeds=1, out_dir=tmp_path)
    data = json.loads((tmp_path / "result.json").read_text())
    _well_formed(data, "parity-hidden-progress", 1)
    assert res.held, data["details"]
    assert data["metrics"]["final_accuracy_d20"]["mean"] >= 0.95
    assert (tmp_path / data["figures"][0]).read_bytes()[:4] == b"\x89PNG"


def test_discretization_quick_claim_holds(tmp_path):
    res = reproduce("mfld-discretization", quick=True, seeds=2, out_dir=tmp_path)
    data = json.loads((tmp_path / "result.json").read_text())
    _well_formed(data, "mfld-discretization", 2)
    assert res.held, data["details"]["failures"]
    m = data["metrics"]
    # the 1/M slope is the closed-form (λ/2)Σlog(1 + β/a) within 10%; the η-part is second order (slope ≈ 2)
    assert m["slope_vs_inv_M"]["mean"] == pytest.approx(m["slope_vs_inv_M_theory"]["mean"], rel=0.1)
    assert 1.5 < m["eta_loglog_slope"]["mean"] < 2.5
    assert (tmp_path / data["figures"][0]).read_bytes()[:4] == b"\x89PNG"


def test_sample_complexity_quick_is_well_formed_and_kernel_gap_shows(tmp_path):
    from datadiet.experiments import mfld_parity_sample_complexity as sc

    cfg = replace_config(sc.QUICK, ds=(10, 30), ns=(100, 300), particles=100, steps_per_d=15, n_test=300)
    res = reproduce("mfld-parity-sample-complexity", seeds=1, out_dir=tmp_path, config=cfg)
    data = json.loads((tmp_path / "result.json").read_text())
    _well_formed(data, "mfld-parity-sample-complexity", 1)
    m = data["metrics"]
    for d, n in ((10, 100), (10, 300), (30, 100), (30, 300)):
        assert f"mfld_accuracy_d{d}_n{n}" in m and f"kernel_accuracy_d{d}_n{n}" in m
    # the claim's pieces: MFLD at n = 10d is near perfect; the best kernel falls from d = 10 to d = 40
    assert m["mfld_accuracy_d10_n100"]["mean"] >= 0.95 and m["mfld_accuracy_d30_n300"]["mean"] >= 0.9
    assert m["kernel_accuracy_d10_n100"]["mean"] - m["kernel_accuracy_d30_n300"]["mean"] > 0.05
    assert isinstance(res.held, bool)


def test_experiment_configs_reject_bad_values():
    from datadiet.errors import InputError
    from datadiet.experiments import mfld_discretization, mfld_parity_sample_complexity, parity_hidden_progress

    with pytest.raises(InputError):
        mfld_parity_sample_complexity.Config(ds=(10, 20), ns=(100,))  # 10*20 = 200 missing
    with pytest.raises(InputError):
        mfld_discretization.Config(Ms=(10, 20))
    with pytest.raises(InputError):
        parity_hidden_progress.Config(ds=(3,))

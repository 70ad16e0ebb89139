"""diffusion-rate and diffusion-manifold: QUICK reproductions are well formed; the CLI writes slope/theory_slope."""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

pytest.importorskip("torch")

from datadiet.cli import app  # noqa: E402
from datadiet.errors import InputError  # noqa: E402
from datadiet.experiments import diffusion_manifold as dm  # noqa: E402
from datadiet.experiments import diffusion_rate as dr  # noqa: E402
from datadiet.experiments.runner import reproduce  # noqa: E402

cli = CliRunner()


def _well_formed(data, name, seeds):
    for key in ("name", "claim", "held", "rule", "metrics", "config", "seeds", "seconds", "figures", "details"):
        assert key in data, key
    assert data["name"] == name and data["seeds"] == list(range(seeds)) and isinstance(data["held"], bool)
    for key, entry in data["metrics"].items():
        assert set(entry) == {"mean", "sem", "n"} and math.isfinite(entry["mean"]) and entry["sem"] >= 0, key


def test_rate_quick_is_well_formed(tmp_path):
    res = reproduce("diffusion-rate", quick=True, seeds=2, out_dir=tmp_path)
    data = json.loads((tmp_path / "result.json").read_text())
    _well_formed(data, "diffusion-rate", 2)
    assert data["held"] == res.held
    m = data["metrics"]
    assert m["theory_slope"]["mean"] == pytest.approx(-0.25)  # s = 0.5, d = 1
    # the verdict's slope is the DSM network's (the paper's estimator), the closed form is a reference curve
    assert m["slope"] == m[f"slope_dsm_{dr.QUICK.densities[0]}"]
    for dens in dr.QUICK.densities:
        for e in dr.ESTIMATORS:
            assert f"slope_{e}_{dens}" in m
        # TV is a distance in [0, 1]; the memorizing control is far worse than the smoothed estimator
        tv_s, tv_m = m[f"tv_smoothed_{dens}_n256"]["mean"], m[f"tv_memorize_{dens}_n256"]["mean"]
        assert 0 < tv_s < tv_m <= 1
        for n in dr.QUICK.dsm_ns:
            assert 0 < m[f"tv_dsm_{dens}_n{n}"]["mean"] <= 1
            # a DSM loss is >= that of the true score, which it estimates
            assert m[f"pop_dsm_loss_{dens}_n{n}"]["mean"] >= m[f"pop_dsm_loss_true_{dens}_n{n}"]["mean"]
            assert m[f"girsanov_dsm_{dens}_n{n}"]["mean"] > 0 and m[f"girsanov_closed_{dens}_n{n}"]["mean"] > 0
    assert data["figures"] == ["tv_vs_n.png", "score_error_vs_t.png", "densities.png"]
    for fig in data["figures"]:
        assert (tmp_path / fig).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_manifold_quick_is_well_formed(tmp_path):
    reproduce("diffusion-manifold", quick=True, seeds=2, out_dir=tmp_path)
    data = json.loads((tmp_path / "result.json").read_text())
    _well_formed(data, "diffusion-manifold", 2)
    for D in dm.QUICK.dims:
        assert f"slope_D{D}" in data["metrics"] and f"sw_sde_D{D}_n32" in data["metrics"]
        assert data["metrics"][f"slope_D{D}"] == data["metrics"][f"slope_dsm_D{D}"]
        assert {f"slope_law_D{D}", f"sw_dsm_D{D}_n32", f"sw_dsm_D{D}_n128", f"sw_floor_dsm_D{D}"} <= set(data["metrics"])
    assert data["metrics"]["theory_slope"]["mean"] == -0.5
    assert len(data["figures"]) == 1


def test_slope_fit_and_theory():
    ns = [64, 256, 1024]
    assert dr.fit_slope(ns, [3.0 * n**-0.4 for n in ns]) == pytest.approx(-0.4, abs=1e-12)
    assert dr.theory_slope(0.5) == -0.25 and dr.theory_slope(1.5, 1) == -0.375 and dr.theory_slope(2.0, 2) == -1 / 3


def test_configs_reject_bad_values():
    with pytest.raises(InputError):
        dr.Config(ns=(256,))
    with pytest.raises(InputError):
        dr.Config(densities=("curve-D8",))  # not 1-D
    with pytest.raises(InputError):
        dr.Config(ns=(64, 128), dsm_ns=(512,))
    with pytest.raises(InputError):
        dm.Config(dims=(1,))


def test_cli_rate_writes_slope_and_theory_slope(tmp_path):
    out = tmp_path / "rate"
    r = cli.invoke(app, ["diffusion", "rate", "--quick", "--density", "kink-0.5", "--n-grid", "64,128",
                         "--seeds", "1", "--out", str(out), "-q"])
    assert r.exit_code == 0, r.output
    data = json.loads((out / "result.json").read_text())
    assert {"slope", "theory_slope"} <= set(data["metrics"])
    assert data["config"]["densities"] == ["kink-0.5"] and data["config"]["ns"] == [64, 128]
    assert data["metrics"]["theory_slope"]["mean"] == pytest.approx(-0.25)
    assert "claim" in r.stdout and "slope" in r.stdout


@pytest.mark.parametrize("args", [["--density", "nope"], ["--n-grid", "a,b"], ["--n-grid", "256"],
                                  ["--n-grid", "64,128", "--dsm-grid", "512"]])
def test_cli_rate_bad_input_is_one_line_exit_2(tmp_path, args):
    r = cli.invoke(app, ["diffusion", "rate", "--quick", "--seeds", "1", "--out", str(tmp_path), "-q", *args])
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output and r.output.count("\n") == 1 and "error" in r.output

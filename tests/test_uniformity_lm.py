"""uniformity-lm: the quick reproduction is well formed; its pieces give known answers."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")

from datadiet.experiments import uniformity_lm  # noqa: E402
from datadiet.experiments.runner import reproduce  # noqa: E402


def test_steps_to_reach_interpolates():
    curve = [[0, 8.0], [10, 6.0], [20, 4.0], [30, 3.5]]
    assert uniformity_lm.steps_to_reach(curve, 5.0) == pytest.approx(15.0)
    assert uniformity_lm.steps_to_reach(curve, 6.0) == 10.0
    assert uniformity_lm.steps_to_reach(curve, 3.5) == 30.0
    assert uniformity_lm.steps_to_reach(curve, 3.0) is None
    assert uniformity_lm.steps_to_reach(curve, 9.0) == 0.0


def test_check_rule_on_made_up_runs(tmp_path):
    def fake(u_curve, final_u, final_f):
        return {"curves": {"full": [[0, 9], [10, final_f]], "uniform": u_curve, "random": [[0, 9], [10, 5.0]]},
                "final_val_loss_full": final_f, "final_val_loss_uniform": final_u, "final_val_loss_random": 5.0,
                "h_min_uniform": 0.3, "h_min_random": 0.0, "covering_radius_uniform": 0.3,
                "covering_radius_random": 0.6, "n_pool": 10, "k": 5, "n_val": 3, "n_parameters": 1}

    cfg = uniformity_lm.QUICK
    # U reaches 5.0 at step 5 (saves half the steps) and ends 1% above F: held
    runs = [fake([[0, 9], [5, 5.0], [10, 4.9]], 4.9, 4.851 + 0.001 * s) for s in range(3)]
    v = uniformity_lm.check(cfg, runs, tmp_path)
    assert v.held and v.metrics["fraction_of_steps_saved"]["mean"] == pytest.approx(0.5)
    # U never reaches R's final loss: not held
    runs = [fake([[0, 9], [10, 5.5]], 5.5, 5.4) for _ in range(3)]
    assert not uniformity_lm.check(cfg, runs, tmp_path).held


def test_quick_reproduction_is_well_formed(tmp_path, monkeypatch):
    monkeypatch.setenv("DATADIET_CACHE", str(tmp_path / "cache"))
    res = reproduce("uniformity-lm", seeds=2, quick=True, out_dir=tmp_path / "out")
    data = json.loads((tmp_path / "out" / "result.json").read_text())
    for key in ("name", "claim", "held", "metrics", "config", "seeds", "seconds", "figures"):
        assert key in data
    assert data["name"] == "uniformity-lm" and data["seeds"] == [0, 1]
    for m in data["metrics"].values():
        assert set(m) == {"mean", "sem", "n"} and m["n"] == 2
    for fig in data["figures"]:
        assert (tmp_path / "out" / fig).read_bytes()[:4] == b"\x89PNG"
    # the uniform half is more uniform than the random half, by construction of max-min
    assert data["metrics"]["h_min_uniform"]["mean"] > data["metrics"]["h_min_random"]["mean"]
    assert res.details["embedder"] == "static"

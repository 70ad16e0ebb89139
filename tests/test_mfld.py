"""datadiet.mfld: the MFLD gradient, its GD limit, the k-NN entropy, parity data, estimators, baselines."""

from __future__ import annotations

import math

import numpy as np
import pytest

from datadiet.errors import InputError
from datadiet.mfld import (MFLDConfig, first_variation_grad, gaussian_entropy, hidden_progress, knn_entropy, mfld,
                           network_output, particle_objective, sparse_parity)

torch = pytest.importorskip("torch")


def _problem(seed=0, M=7, d=4, n=9):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((M, d + 2))
    Z, y = sparse_parity(d, 2).sample(n, rng)
    return X, Z, y


def _torch_objective(X, Z, y, R, lam, lam1, loss):
    d = Z.shape[1]
    h = R / 3 * (torch.tanh(Z @ X[:, :d].T + X[:, d]) + 2 * torch.tanh(X[:, d + 1]))
    f = h.mean(1)
    data = torch.nn.functional.softplus(-y * f).mean() if loss == "logistic" else (0.5 * (f - y) ** 2).mean()
    return data + lam * lam1 * (X * X).sum(1).mean()


@pytest.mark.parametrize("loss", ["logistic", "squared"])
def test_first_variation_gradient_matches_autograd_of_the_particle_objective(loss):
    X, Z, y = _problem()
    R, lam, lam1 = 15.0, 0.03, 0.1
    Xt = torch.tensor(X, requires_grad=True)
    obj = _torch_objective(Xt, torch.tensor(Z), torch.tensor(y), R, lam, lam1, loss)
    obj.backward()
    M = X.shape[0]
    G = first_variation_grad(X, Z, y, R=R, lam=lam, lam1=lam1, loss=loss)
    np.testing.assert_allclose(G, M * Xt.grad.numpy(), rtol=1e-10, atol=1e-12)  # ∇(δF/δμ)(X^j) = M ∂F(μ_X)/∂X^j
    assert particle_objective(X, Z, y, R=R, lam=lam, lam1=lam1, loss=loss) == pytest.approx(obj.item(), rel=1e-12)


def test_one_particle_without_noise_is_gradient_descent():
    _, Z, y = _problem(n=12)
    rng = np.random.default_rng(3)
    x0 = rng.standard_normal((1, Z.shape[1] + 2))
    eta, steps, R, lam1 = 0.3, 25, 4.0, 0.1
    res = mfld(Z, y, MFLDConfig(particles=1, steps=steps, eta=eta, lam=0.0, lam1=lam1, R=R, entropy_k=0), init=x0)
    xt = torch.tensor(x0, requires_grad=True)
    Zt, yt = torch.tensor(Z), torch.tensor(y)
    for _ in range(steps):  # plain GD on x ↦ (1/n) Σ ℓ(y h_x(z)) (λ = 0: no L2, no noise)
        g, = torch.autograd.grad(_torch_objective(xt, Zt, yt, R, 0.0, lam1, "logistic"), xt)
        xt = (xt - eta * g).detach().requires_grad_()
    np.testing.assert_allclose(res.particles, xt.detach().numpy(), rtol=1e-10, atol=1e-12)
    # the logged objective decreases under GD with a small step
    assert np.all(np.diff(res.history["loss"]) <= 1e-12)


def test_numpy_and_torch_backends_agree_without_noise():
    _, Z, y = _problem(n=20, d=6)
    cfg = dict(particles=16, steps=30, eta=0.5, lam=0.0, entropy_k=0)
    a = mfld(Z, y, MFLDConfig(**cfg, backend="numpy"), seed=1)
    b = mfld(Z, y, MFLDConfig(**cfg, backend="torch", device="cpu"), seed=1)
    np.testing.assert_allclose(a.particles, b.particles, rtol=1e-9, atol=1e-10)


def test_langevin_noise_alone_gives_the_gaussian_stationary_law():
    # with R → tiny the data term vanishes: dX = −2λλ1 X dt + sqrt(2λ) dB, stationary N(0, 1/(2λ1))
    Z = np.zeros((4, 1))
    y = np.ones(4)
    lam, lam1 = 0.5, 1.0
    res = mfld(Z, y, MFLDConfig(particles=4000, steps=600, eta=0.02, lam=lam, lam1=lam1, R=1e-9, entropy_k=1,
                                log_every=600), seed=0)
    var = res.particles.var(axis=0)
    np.testing.assert_allclose(var, 1 / (2 * lam1), rtol=0.08)
    H_true = gaussian_entropy(np.eye(3) / (2 * lam1))
    assert res.history["entropy"][-1] == pytest.approx(H_true, abs=0.15)


def test_same_seed_same_run_and_noise_scales_with_lambda():
    _, Z, y = _problem(n=20)
    cfg = MFLDConfig(particles=10, steps=10, eta=0.1, lam=0.01, entropy_k=0)
    a, b, c = mfld(Z, y, cfg, seed=4), mfld(Z, y, cfg, seed=4), mfld(Z, y, cfg, seed=5)
    np.testing.assert_array_equal(a.particles, b.particles)
    assert not np.array_equal(a.particles, c.particles)


@pytest.mark.parametrize("gradient", ["sgd", "svrg"])
def test_stochastic_gradients_with_full_batch_equal_the_full_gradient(gradient):
    _, Z, y = _problem(n=16)
    base = dict(particles=8, steps=12, eta=0.2, lam=0.0, entropy_k=0)
    full = mfld(Z, y, MFLDConfig(**base), seed=0)
    st = mfld(Z, y, MFLDConfig(**base, gradient=gradient, batch_size=16), seed=0)
    np.testing.assert_allclose(st.particles, full.particles, rtol=1e-10, atol=1e-12)


def test_svrg_has_lower_gradient_variance_than_sgd():
    from datadiet.mfld.solver import _data_grad

    rng = np.random.default_rng(0)
    X, Z, y = _problem(M=20, d=10, n=200)
    anchor = X + 0.01 * rng.standard_normal(X.shape)  # SVRG's anchor, near the current particles
    g_full = _data_grad(np, X, Z, y, 15.0, "logistic")
    g_anchor = _data_grad(np, anchor, Z, y, 15.0, "logistic")
    err_sgd, err_svrg = [], []
    for _ in range(50):
        idx = rng.choice(200, size=10, replace=False)
        g_b = _data_grad(np, X, Z[idx], y[idx], 15.0, "logistic")
        v = g_b - _data_grad(np, anchor, Z[idx], y[idx], 15.0, "logistic") + g_anchor
        err_sgd.append(np.sum((g_b - g_full) ** 2))
        err_svrg.append(np.sum((v - g_full) ** 2))
    assert np.mean(err_svrg) < 0.05 * np.mean(err_sgd)


def test_lambda_annealing_is_geometric():
    cfg = MFLDConfig(steps=11, lam=1e-2, lam_final=1e-4)
    assert cfg.lam_at(0) == pytest.approx(1e-2)
    assert cfg.lam_at(5) == pytest.approx(1e-3)
    assert cfg.lam_at(10) == pytest.approx(1e-4)
    assert MFLDConfig(lam=0.3).lam_at(7) == 0.3


@pytest.mark.parametrize("p,k", [(1, 1), (3, 1), (5, 3)])
def test_knn_entropy_on_gaussians_of_known_entropy(p, k):
    rng = np.random.default_rng(p)
    A = rng.standard_normal((p, p)) * 0.5 + np.eye(p)
    cov = A @ A.T
    X = rng.multivariate_normal(np.zeros(p), cov, size=4000)
    assert knn_entropy(X, k=k) == pytest.approx(gaussian_entropy(cov), abs=0.06 * p)


def test_knn_entropy_of_a_uniform_interval_and_bad_input():
    X = np.random.default_rng(0).uniform(0, 3.0, size=(5000, 1))
    assert knn_entropy(X) == pytest.approx(math.log(3.0), abs=0.05)
    with pytest.raises(InputError):
        knn_entropy(np.zeros((1, 2)))
    with pytest.raises(InputError):
        knn_entropy(np.zeros((5, 2)), k=0)


def test_sparse_parity_labels_and_rotation():
    task = sparse_parity(10, 3, seed=0)
    Z, y = task.sample(500, np.random.default_rng(0))
    np.testing.assert_allclose(np.abs(Z), 1 / math.sqrt(10))
    np.testing.assert_array_equal(y, np.sign(Z[:, 0] * Z[:, 1] * Z[:, 2]))
    assert abs(y.mean()) < 0.15  # balanced
    rot = sparse_parity(10, 3, seed=0, rotated=True)
    Q = rot.rotation
    np.testing.assert_allclose(Q @ Q.T, np.eye(10), atol=1e-12)
    Zr, yr = rot.sample(100, np.random.default_rng(1))
    U = Zr @ Q * math.sqrt(10)  # undo the rotation: back on the cube
    np.testing.assert_allclose(np.abs(U), 1.0, atol=1e-10)
    np.testing.assert_array_equal(yr, np.prod(np.sign(U[:, :3]), axis=1))
    P = rot.relevant_directions()
    assert hidden_progress(P, P) == pytest.approx(1.0)
    assert hidden_progress(np.eye(10), P) == pytest.approx(0.3)
    with pytest.raises(InputError):
        sparse_parity(3, 5)


def test_mfld_learns_2_parity_at_d20_quick():
    from datadiet.mfld import compare_on_parity

    acc = compare_on_parity(20, 2, 200, particles=150, steps=400, seed=0, n_test=500, baselines=())
    assert acc["mfld"] >= 0.9


def test_kernel_baselines_and_ntk_gram():
    from datadiet.mfld.baselines import kernel_accuracies, ntk_features, ntk_gram

    rng = np.random.default_rng(0)
    W = rng.standard_normal((5, 4))
    A, B = rng.standard_normal((3, 3)), rng.standard_normal((4, 3))
    np.testing.assert_allclose(ntk_gram(A, B, W), ntk_features(A, W) @ ntk_features(B, W).T, rtol=1e-12)
    # d = 6, n = 300 >> d^2: a degree-2 polynomial kernel learns the 2-parity; at d = 40, n = 100 nothing does
    task = sparse_parity(6, 2)
    Z, y = task.sample(300, rng)
    Zt, yt = task.sample(500, rng)
    acc = kernel_accuracies(Z, y, Zt, yt, degree=2, ntk_features=100)
    assert acc["krr_poly"] >= 0.95 and acc["svm_poly"] >= 0.95
    task = sparse_parity(40, 2)
    Z, y = task.sample(100, rng)
    Zt, yt = task.sample(500, rng)
    acc = kernel_accuracies(Z, y, Zt, yt, degree=2, ntk_features=100, methods=("krr_poly", "krr_rbf"))
    assert max(acc.values()) < 0.7


def test_estimators_fit_predict_score():
    from sklearn.base import clone

    from datadiet.mfld import MFLDClassifier, MFLDRegressor

    task = sparse_parity(10, 2)
    Z, y = task.sample(150, np.random.default_rng(0))
    Zt, yt = task.sample(400, np.random.default_rng(1))
    labels = np.where(y > 0, "odd", "even")
    clf = MFLDClassifier(particles=100, steps=300, random_state=0).fit(Z, labels)
    assert set(clf.predict(Zt)) <= {"odd", "even"}
    assert clf.score(Zt, np.where(yt > 0, "odd", "even")) >= 0.9
    P = clf.predict_proba(Zt)
    np.testing.assert_allclose(P.sum(1), 1.0)
    assert clone(clf).get_params()["steps"] == 300
    # regression on a smooth target: R^2 well above 0
    rng = np.random.default_rng(2)
    X = rng.standard_normal((200, 3))
    t = np.tanh(X[:, 0] - 0.5 * X[:, 1])
    reg = MFLDRegressor(particles=100, steps=400, eta=0.5, R=3.0, lam=1e-4, random_state=0).fit(X, t)
    assert reg.score(X, t) > 0.8
    with pytest.raises(InputError):
        MFLDClassifier().fit(Z, np.arange(150) % 3)
    with pytest.raises(InputError):
        MFLDClassifier().predict(Z)


def test_relu_sgd_hidden_progress_rises_when_it_learns():
    from datadiet.mfld import ReluSGDConfig, train_relu_sgd

    task = sparse_parity(10, 2, scale=1.0)
    Ze, ye = task.sample(300, np.random.default_rng(0))
    r = train_relu_sgd(ReluSGDConfig(width=64, steps=600, weight_decay=0.01, log_every=100), seed=0,
                       sampler=task.sample, eval_data=(Ze, ye), directions=task.relevant_directions())
    assert r["accuracy"] >= 0.95
    assert r["progress"][0] == pytest.approx(0.2, abs=0.08)  # ≈ k/d at init
    assert r["progress"][-1] > 2 * r["progress"][0]


def test_config_and_data_errors():
    with pytest.raises(InputError):
        MFLDConfig(eta=0)
    with pytest.raises(InputError):
        MFLDConfig(gradient="adam")
    with pytest.raises(InputError):
        MFLDConfig(particles=0)
    with pytest.raises(InputError):
        mfld(np.zeros((3, 2)), np.array([0.0, 1.0, 2.0]), MFLDConfig(steps=1))  # logistic needs ±1
    with pytest.raises(InputError):
        mfld(np.zeros((3, 2)), np.ones(4), MFLDConfig(steps=1))
    with pytest.raises(InputError):
        network_output(np.zeros((3, 5)), np.zeros((2, 2)))

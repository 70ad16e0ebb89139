"""datadiet.reuse: Hermite basis, target exponents, the GD step vs autograd, simulator, DMFT."""

from __future__ import annotations

import math

import numpy as np
import pytest

from datadiet.errors import InputError
from datadiet.reuse import (
    SimConfig, gaussian_expectation, get_activation, get_target, hermite_normalized, make_target, overlaps,
    population_error, simulate,
)
from datadiet.reuse.backend import NumpyOps
from datadiet.reuse.dmft import solve_dmft
from datadiet.reuse.twolayer import loss_and_grads


def test_hermite_is_orthonormal_under_the_gaussian():
    gram = gaussian_expectation(
        lambda z: np.stack([hermite_normalized(j, z[:, 0]) for j in range(9)], axis=1)[:, :, None]
        * np.stack([hermite_normalized(j, z[:, 0]) for j in range(9)], axis=1)[:, None, :], order=40)
    np.testing.assert_allclose(gram, np.eye(9), atol=1e-10)


@pytest.mark.parametrize("name, info, gen, parity", [
    ("he1", 1, 1, "odd"), ("he2", 2, 2, "even"), ("he3", 3, 1, "odd"), ("he4", 4, 2, "even"),
    ("z1z2z3", 3, 2, "odd"), ("staircase", 1, 1, "neither"), ("tanh:he3", 1, 1, "odd"), ("sign:he2", 2, 2, "even"),
])
def test_target_exponents_and_parity(name, info, gen, parity):
    t = get_target(name)
    assert (t.information_exponent, t.generative_exponent, t.parity) == (info, gen, parity)
    assert t.symmetric == (gen != 1)


def test_user_target_gets_its_exponents_and_bad_names_fail():
    t = make_target(lambda z: z[..., 0] ** 2 - 1 + z[..., 1] ** 3, k=2, name="mine")
    assert t.information_exponent == 1  # z2³ = He_3 + 3 He_1
    with pytest.raises(InputError, match="unknown target"):
        get_target("he9")
    with pytest.raises(InputError, match="takes 2 coordinates"):
        t(np.zeros((3, 1)))


@pytest.mark.parametrize("student", ["tanh", "erf", "relu"])
def test_gd_step_matches_autograd(student):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    W, a = rng.standard_normal((2, 3, 7)), rng.standard_normal((2, 3))
    X, y = rng.standard_normal((2, 11, 7)), rng.standard_normal((2, 11))
    act = get_activation(student)
    loss, gW, ga = loss_and_grads(W, a, X, y, act, NumpyOps("float64"), second_layer=True)
    Wt = torch.tensor(W, requires_grad=True)
    at = torch.tensor(a, requires_grad=True)
    sigma = {"tanh": torch.tanh, "erf": lambda h: torch.special.erf(h / math.sqrt(2)), "relu": torch.relu}[student]
    f = (sigma(torch.tensor(X) @ Wt.mT) * at[:, None, :]).sum(-1)
    lt = ((f - torch.tensor(y)) ** 2).mean(-1) / 2
    lt.sum().backward()
    np.testing.assert_allclose(loss, lt.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(gW, Wt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ga, at.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_activation_derivatives_agree_with_finite_differences():
    x = np.linspace(-3, 3, 61)
    ops = NumpyOps("float64")
    for name in ("tanh", "erf"):
        act = get_activation(name)
        h = 1e-5
        np.testing.assert_allclose(act.d1(x, ops), (act.f(x + h, ops) - act.f(x - h, ops)) / (2 * h), atol=1e-8)
        np.testing.assert_allclose(act.d2(x, ops), (act.d1(x + h, ops) - act.d1(x - h, ops)) / (2 * h), atol=1e-8)


def test_planted_solution_has_overlap_one_and_zero_error():
    d, k = 50, 3
    W_star = np.eye(d)[:k]
    M = overlaps(2.5 * W_star, W_star)
    np.testing.assert_allclose(M, np.eye(k), atol=1e-15)
    # tanh student with w = w* on the target tanh(z): the population error is zero
    err = population_error(W_star[:1], np.ones(1), get_target("tanh:he1"), get_activation("tanh"))
    assert err < 1e-12
    # and it matches a fresh-data estimate away from the planted point
    rng = np.random.default_rng(1)
    W = rng.standard_normal((2, d)) / math.sqrt(d) + 0.5 * np.eye(d)[:2]
    a = np.array([0.7, -0.4])
    target, act = get_target("staircase"), get_activation("tanh")
    X = rng.standard_normal((200_000, d))
    f = np.tanh(X @ W.T) @ a
    fresh = 0.5 * np.mean((f - target(X[:, :2])) ** 2)
    assert population_error(W, a, target, act) == pytest.approx(fresh, rel=0.02)


def test_simulator_is_deterministic_per_seed_whatever_runs_beside_it():
    cfg = SimConfig(d=60, alpha=2, steps=3, passes="one")
    alone = simulate(cfg, [3])
    together = simulate(cfg, [0, 1, 2, 3], max_batch_mb=0)  # chunks of one seed
    np.testing.assert_array_equal(alone.overlaps[0], together.overlaps[3])
    np.testing.assert_array_equal(simulate(cfg, [3]).overlaps, alone.overlaps)
    assert not np.array_equal(together.overlaps[0], together.overlaps[1])


def test_simulator_reproduces_a_hand_written_gd_loop():
    """Multi-pass GD from the simulator's own initial W equals a plain float64 loop on the same batch."""
    cfg = SimConfig(target="he3", d=40, alpha=3, eta=1.5, steps=4, dtype="float64")
    res = simulate(cfg, [7])
    rng = np.random.default_rng(7)
    w = rng.standard_normal((1, 40))
    w /= np.linalg.norm(w)
    X = rng.standard_normal((120, 40))
    y = get_target("he3")(X[:, :1])
    cos = [w[0, 0] / np.linalg.norm(w)]
    for _ in range(4):
        h = X @ w[0]
        r = np.tanh(h) - y
        w = w - 1.5 * ((r * (1 - np.tanh(h) ** 2)) @ X / 120)[None]
        cos.append(w[0, 0] / np.linalg.norm(w))
    np.testing.assert_allclose(res.overlaps[0, :, 0, 0], cos, rtol=1e-10)


def test_sgd_twice_is_two_steps_on_one_sample_and_extragradient_differs():
    base = dict(target="he3", d=30, eta=3.0, steps=2, algorithm="sgd", dtype="float64")
    twice = simulate(SimConfig(repetition="twice", **base), [5])
    rng = np.random.default_rng(5)
    w = rng.standard_normal(30)
    w /= np.linalg.norm(w)
    X = rng.standard_normal((1, 30))  # the first sample of the first drawn chunk
    x = X[0]
    y = float(get_target("he3")(x[:1]))
    for _ in range(2):
        h = x @ w
        w = w - (3.0 / 30) * (np.tanh(h) - y) * (1 - np.tanh(h) ** 2) * x
    # the simulator draws a chunk of samples at once; the first row is the same stream position
    assert twice.overlaps[0, -1, 0, 0] == pytest.approx(w[0] / np.linalg.norm(w), rel=1e-9)
    extra = simulate(SimConfig(repetition="extragradient", **base), [5])
    assert extra.overlaps[0, 1, 0, 0] != pytest.approx(twice.overlaps[0, 1, 0, 0])


def test_torch_backend_matches_the_numpy_dynamics_in_distribution():
    pytest.importorskip("torch")
    cfg = SimConfig(d=200, steps=2)
    a = simulate(cfg, 24)
    b = simulate(cfg, 24, backend="torch")
    sa, sb = a.per_seed(0, "signed")[:, 2], b.per_seed(0, "signed")[:, 2]
    sem = math.hypot(sa.std(ddof=1), sb.std(ddof=1)) / math.sqrt(24)
    assert abs(sa.mean() - sb.mean()) < 4 * sem + 0.02
    assert sa.mean() < -0.1 and sb.mean() < -0.1


def test_bad_settings_are_one_line_input_errors():
    with pytest.raises(InputError, match="--passes"):
        simulate(SimConfig(passes="two"), 1)
    with pytest.raises(InputError, match="--d"):
        simulate(SimConfig(d=1), 1)
    with pytest.raises(InputError, match="needs d >= 3"):
        simulate(SimConfig(target="z1z2z3", d=2), 1)


def test_dmft_first_step_matches_its_closed_form():
    """He_1 target, tanh student: m¹ = η E[σ'(ω)] exactly (the first gradient sees only E[y z] = 1)."""
    eta = 0.7
    res = solve_dmft("he1", student="tanh", alpha=2.0, eta=eta, steps=1, paths=200_000, repeats=3)
    expected = eta * gaussian_expectation(lambda z: 1 - np.tanh(z[:, 0]) ** 2)
    assert res.m[1, 0, 0] == pytest.approx(expected, abs=4 * res.cosine_sem[1, 0, 0] + 2e-3)


def test_dmft_one_pass_on_he3_stays_at_zero_and_multi_pass_does_not():
    multi = solve_dmft("he3", steps=2, paths=50_000, repeats=3)
    one = solve_dmft("he3", steps=2, passes="one", paths=50_000, repeats=3)
    assert abs(one.cosine[2, 0, 0]) < 4 * one.cosine_sem[2, 0, 0] + 0.01
    assert multi.cosine[2, 0, 0] < -0.15

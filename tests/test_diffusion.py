"""datadiet.diffusion: closed-form scores vs autograd, DSM recovers a Gaussian score, samplers reproduce known
laws, distances give known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from datadiet.diffusion import (  # noqa: E402
    Curve, DSMConfig, Lacunary1D, density_from_quantiles, dsm_loss, early_stop_time, empirical_score,
    forward_sample, gaussian_mixture_on_grid, gaussian_score, get_density, grid, kde_cv_bandwidth, m_t,
    mixture_log_density, mixture_score, prior_noise, prior_quantiles, probability_flow, reverse_sde, sigma_t,
    sliced_wasserstein, t_for_sigma, time_grid, train_score_net, tv_grid, tv_histogram)
from datadiet.errors import InputError  # noqa: E402


def _autograd_score(logp, x):
    x = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(logp(x).sum(), x)
    return g


@pytest.mark.parametrize("d", [1, 3])
def test_mixture_score_matches_autograd_of_log_density(d):
    gen = torch.Generator().manual_seed(0)
    means = torch.randn(40, d, generator=gen, dtype=torch.float64)
    x = 1.5 * torch.randn(25, d, generator=gen, dtype=torch.float64)
    for var in (0.01, 0.3, 2.0):
        want = _autograd_score(lambda z: mixture_log_density(z, means, var), x)
        got = mixture_score(x, means, var, block=64)  # several row blocks
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)


def test_smoothed_empirical_score_is_the_score_of_the_pushed_mixture():
    gen = torch.Generator().manual_seed(1)
    data = torch.rand(30, 2, generator=gen, dtype=torch.float64) * 2 - 1
    x = torch.randn(10, 2, generator=gen, dtype=torch.float64)
    t, h = 0.05, 0.1
    m, s = m_t(t), sigma_t(t)
    want = _autograd_score(lambda z: mixture_log_density(z, m * data, m * m * h * h + s * s), x)
    torch.testing.assert_close(empirical_score(x, t, data, h=h), want, rtol=1e-9, atol=1e-9)
    with pytest.raises(InputError):
        empirical_score(x, 0.0, data, h=0.0)


def test_gaussian_score_matches_autograd():
    x = torch.linspace(-3, 3, 13, dtype=torch.float64)[:, None]
    t, mu, v = 0.3, 0.4, 0.2
    var = m_t(t) ** 2 * v + sigma_t(t) ** 2
    want = _autograd_score(lambda z: -((z - m_t(t) * mu) ** 2).sum(1) / (2 * var), x)
    torch.testing.assert_close(gaussian_score(x, t, mu, v), want, rtol=1e-12, atol=1e-12)


def test_forward_process_moments_and_times():
    x0 = np.full((200000, 1), 0.7)
    t = 0.4
    xt = forward_sample(x0, t, np.random.default_rng(0))
    assert xt.mean() == pytest.approx(math.exp(-t) * 0.7, abs=4 * sigma_t(t) / math.sqrt(2e5))
    assert xt.var() == pytest.approx(1 - math.exp(-2 * t), rel=0.01)
    assert sigma_t(t_for_sigma(0.3)) == pytest.approx(0.3, rel=1e-12)
    t0 = early_stop_time(4096, s=1.5, d=1, c=0.5)
    assert sigma_t(t0) == pytest.approx(0.5 * 4096 ** (-1 / 4), rel=1e-12)
    ts = time_grid(5.0, 1e-3, 10)
    assert ts[0] == 5.0 and ts[-1] == pytest.approx(1e-3) and np.all(np.diff(ts) < 0)
    with pytest.raises(InputError):
        time_grid(1.0, 2.0, 5)


def test_linear_dsm_minimizer_is_the_true_gaussian_score():
    """For Gaussian data the true score is linear; the least-squares DSM fit over s(x) = a x + b recovers it."""
    rng = np.random.default_rng(3)
    mu, sd, t = 0.5, 0.3, 0.2
    x0 = mu + sd * rng.standard_normal(400000)
    z = rng.standard_normal(x0.size)
    m, s = m_t(t), sigma_t(t)
    xt = m * x0 + s * z
    # minimize E |s(xt) + z / s|^2 over a, b: regression of the DSM target -z/s on (xt, 1)
    A = np.stack([xt, np.ones_like(xt)], axis=1)
    a, b = np.linalg.lstsq(A, -z / s, rcond=None)[0]
    var = m * m * sd * sd + s * s
    assert a == pytest.approx(-1 / var, rel=0.02)
    assert b == pytest.approx(m * mu / var, rel=0.03)


def test_dsm_trained_net_recovers_the_gaussian_score():
    torch.manual_seed(0)
    mu, sd = 0.5, 0.3
    data = mu + sd * np.random.default_rng(4).standard_normal((4096, 1))
    net, hist = train_score_net(data, DSMConfig(width=64, depth=2, steps=600, batch=512, lr=3e-3, t_min=0.02,
                                                T=4.0, patience=100), seed=0, device=torch.device("cpu"))
    for t in (0.05, 0.3, 1.0):
        var = m_t(t) ** 2 * sd**2 + sigma_t(t) ** 2
        x = m_t(t) * mu + math.sqrt(var) * torch.linspace(-2, 2, 41)[:, None]
        true = gaussian_score(x.double(), t, mu, sd**2).float()
        with torch.no_grad():
            got = net(x, t)
        rel = float(torch.sqrt(((got - true) ** 2).mean() / (true**2).mean()))
        assert rel < 0.15, (t, rel)
    # the DSM loss is minimized by the true score: the trained net's loss is within 2% of that floor
    g = torch.Generator().manual_seed(9)
    x0 = torch.from_numpy(data[:4000]).double()
    tt = torch.full((4000,), 0.3, dtype=torch.float64)
    zz = torch.randn(4000, 1, generator=g, dtype=torch.float64)
    xt = m_t(0.3) * x0 + sigma_t(0.3) * zz
    floor = float(((sigma_t(0.3) * gaussian_score(xt, 0.3, mu, sd**2) + zz) ** 2).mean())
    with torch.no_grad():
        trained = float(dsm_loss(net, x0.float(), tt.float(), zz.float()))
    assert floor < 1.0 and trained == pytest.approx(floor, rel=0.02)


@pytest.mark.parametrize("sampler", ["sde", "ode"])
def test_samplers_reproduce_a_gaussian(sampler):
    mu, v, T, t0 = 0.6, 0.25, 6.0, 0.01
    score = lambda y, t: gaussian_score(y, t, mu, v)  # noqa: E731
    m = 40000
    gen = torch.Generator().manual_seed(5)
    y0 = prior_noise(m, 1, gen, torch.float64)
    if sampler == "sde":
        y = reverse_sde(score, y0, T, t0, 200, generator=gen)
    else:
        y = probability_flow(score, y0, T, t0, 100)
    want_mean = m_t(t0) * mu
    want_var = m_t(t0) ** 2 * v + sigma_t(t0) ** 2
    assert float(y.mean()) == pytest.approx(want_mean, abs=0.02)
    assert float(y.var()) == pytest.approx(want_var, rel=0.05)


def test_ode_from_prior_quantiles_gives_the_closed_form_law_of_the_empirical_score():
    """Reverse ODE with the smoothed empirical score ends at the law (1/n) sum N(m x_i, m^2 h^2 + sigma^2)."""
    p = get_density("lacunary-1.5")
    x = p.sample(200, np.random.default_rng(6))
    X = torch.from_numpy(x)
    t0, h = 1e-3, 0.08
    y = probability_flow(lambda y, t: empirical_score(y, t, X, h=h), prior_quantiles(2048), 6.0, t0, 96)
    g = grid(points=2**13)
    law = gaussian_mixture_on_grid(m_t(t0) * x, math.sqrt(m_t(t0) ** 2 * h * h + sigma_t(t0) ** 2), g)
    assert tv_grid(density_from_quantiles(y.numpy(), g), law, g) < 0.03


def test_tv_of_a_distribution_against_itself_is_near_zero():
    p = get_density("lacunary-0.5")
    rng = np.random.default_rng(7)
    same = tv_histogram(p.sample(200000, rng), p.pdf, -1.0, 1.0, bins=50)
    assert same < 0.02  # Monte Carlo floor ~ 0.4 sqrt(50 / 2e5) = 0.006
    shifted = tv_histogram(p.sample(200000, rng) + 0.3, p.pdf, -1.0, 1.5, bins=50)
    assert shifted > 0.3
    g = grid(points=2**14)
    assert tv_grid(p.pdf(g), p.pdf(g), g) == 0.0
    # exact quantiles of N(0, 1) -> its density
    q = prior_quantiles(4096).numpy()
    g2 = np.linspace(-6, 6, 2**14)
    phi2 = np.exp(-g2**2 / 2) / math.sqrt(2 * math.pi)
    assert tv_grid(density_from_quantiles(q, g2), phi2, g2) < 2e-3


def test_tv_histogram_in_2d():
    rng = np.random.default_rng(8)
    s = rng.uniform(-1, 1, (100000, 2))
    unif = lambda z: np.full(len(z), 0.25)  # noqa: E731
    assert tv_histogram(s, unif, -1, 1, bins=20) < 0.03


def test_gaussian_mixture_on_grid_matches_direct_evaluation():
    rng = np.random.default_rng(9)
    c = rng.uniform(-1, 1, 300)
    g = grid(points=2**14)
    for std in (0.01, 0.1):
        direct = np.exp(-(g[:, None] - c[None, :]) ** 2 / (2 * std**2)).mean(1) / (math.sqrt(2 * math.pi) * std)
        fast = gaussian_mixture_on_grid(c, std, g)
        assert np.abs(fast - direct).max() < 1e-3 * direct.max()


def test_sliced_wasserstein_known_answers():
    rng = np.random.default_rng(10)
    D = 3
    a = rng.standard_normal((10000, D))
    assert sliced_wasserstein(a, a, projections=64) == 0.0
    b = rng.standard_normal((10000, D))
    shift = np.zeros(D)
    shift[0] = 2.0
    # W1 of N(0,1) and N(2 theta_1, 1) is 2 |theta_1|; on S^2, E|theta_1| = 1/2, so SW_1 = 1
    sw = sliced_wasserstein(a, b + shift, projections=1000, levels=256)
    assert sw == pytest.approx(1.0, rel=0.06)
    assert sliced_wasserstein(a, b, projections=200, levels=256) < 0.05


def test_densities_are_normalized_positive_and_sampled_exactly():
    g = np.linspace(-1, 1, 2**16 + 1)
    for name in ("lacunary-0.5", "lacunary-1.5", "kink-0.5", "beta"):
        p = get_density(name)
        f = p.pdf(g)
        assert np.all(f >= 0)
        assert np.trapezoid(f, g) == pytest.approx(1.0, abs=1e-6)
        x = p.sample(100000, np.random.default_rng(11))
        assert x.shape == (100000, 1) and np.all(np.abs(x) <= 1)
        assert tv_histogram(x, p.pdf, -1, 1, bins=40) < 0.025, name
    with pytest.raises(InputError):
        get_density("nope")
    with pytest.raises(InputError):
        Lacunary1D(s=0.5, strength=1.5)


def test_curve_has_intrinsic_dimension_one():
    for D in (2, 8, 32):
        c = get_density(f"curve-D{D}")
        assert isinstance(c, Curve) and c.d == D
        x = c.sample(5000, np.random.default_rng(12))
        assert x.shape == (5000, D)
        np.testing.assert_allclose(np.linalg.norm(x, axis=1), 0.8, rtol=1e-10)  # on a circle of radius 0.8
        assert np.linalg.matrix_rank(x, tol=1e-8) == 2  # in a 2-D plane of R^D


def test_kde_cv_bandwidth_is_near_the_optimum_for_a_gaussian():
    x = 0.2 * np.random.default_rng(13).standard_normal(2000)
    h = kde_cv_bandwidth(x, grid(points=2**14))
    silverman = 1.06 * 0.2 * 2000 ** (-0.2)
    assert silverman / 2 < h < silverman * 2

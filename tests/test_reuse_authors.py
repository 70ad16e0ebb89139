"""datadiet.reuse against the authors' stored results (IdePHICS/benefit-reusing-batch@5469d413fee4).

The stored numbers (experiments/data/benefit_reusing_batch.json) are the authors' DMFT overlaps and the mean ± s.e.
of their 32 simulations at D = 5000 for tanh(z1 + z2³ − 3z2), two ReLU neurons, a = (1, −1)/√2, α = 3, lr 0.2 on
the sum loss (η = 0.6 on the mean loss), orthonormal initialization ⊥ the target, overlaps m = w·w*/D.
The first step has a closed form, an oracle independent of both codes: with h ⊥ z at t = 0,
m¹_jr = η a_j E[σ'(h)] E[y z_r] = η a_j ½ E[y z_r] for ReLU.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from datadiet.experiments._reuse_common import authors_results, symmetrized
from datadiet.reuse import SimConfig, simulate
from datadiet.reuse.dmft import solve_dmft

integrate = pytest.importorskip("scipy.integrate")

SETTING = dict(target="tanh:he1+he3raw", student="relu", width=2, alpha=3.0, eta=0.6, second_layer="signs")


def _first_step() -> np.ndarray:
    """(k,) m¹ of neuron 1 (a = +1/√2) by adaptive quadrature of E[tanh(z1 + z2³ − 3 z2) z_r]."""
    w = lambda z1, z2: math.exp(-(z1 * z1 + z2 * z2) / 2) / (2 * math.pi)  # noqa: E731
    y = lambda z1, z2: math.tanh(z1 + z2**3 - 3 * z2)  # noqa: E731
    Eyz = [integrate.dblquad(lambda z2, z1, r=r: y(z1, z2) * (z1, z2)[r] * w(z1, z2), -9, 9, -9, 9,
                             epsabs=1e-11)[0] for r in range(2)]
    return 0.6 * (1 / math.sqrt(2)) * 0.5 * np.array(Eyz)


def test_stored_results_are_the_cited_ones_and_respect_the_symmetry():
    ref = authors_results()
    assert ref["source"]["commit"] == "5469d413fee4ac63be4dc872e95efbd4a4370152"
    m, sem = np.asarray(ref["simulation_m_mean"]), np.asarray(ref["simulation_m_sem"])
    assert m.shape == (7, 2, 2) and np.asarray(ref["dmft_m"]).shape == (7, 2, 2)
    # (w1, w2) → (−w2, −w1) is a symmetry of the odd target with a = (1, −1)/√2: m_2 = −m_1 in law
    assert np.all(np.abs(m[:, 0] + m[:, 1]) <= 4 * np.hypot(sem[:, 0], sem[:, 1]) + 1e-12)


def test_first_step_closed_form_reproduces_both_stored_results():
    """Our reading of their setting (η = α·lr, unnormalized He_3, m = w·w*) gives their step-1 overlaps."""
    m1 = _first_step()
    ref = authors_results()
    assert symmetrized(ref["dmft_m"])[1] == pytest.approx(m1, abs=2e-4)  # their 10⁷ DMFT paths
    sim, sem = np.asarray(ref["simulation_m_mean"])[1, 0], np.asarray(ref["simulation_m_sem"])[1, 0]
    assert np.all(np.abs(sim - m1) <= 3 * sem)


def test_our_dmft_matches_their_stored_dmft_for_three_steps():
    ref = np.asarray(symmetrized(authors_results()["dmft_m"]))
    res = solve_dmft(SETTING["target"], student="relu", alpha=3.0, eta=0.6, steps=3, width=2, second_layer="signs",
                     paths=40_000, repeats=3, seed=0)
    ours = symmetrized(res.m)
    sem = res.m_sem.mean(-2)  # ≥ the s.e. of the symmetrized overlap
    assert ours[1] == pytest.approx(_first_step(), abs=4 * sem[1].max() + 1e-4)
    for t in (1, 2, 3):
        assert np.all(np.abs(ours[t] - ref[t]) <= 4 * sem[t] + 0.003), (t, ours[t], ref[t], sem[t])


def test_our_simulator_in_their_setting_starts_where_they_do():
    """Orthonormal init ⊥ W*, exact step-0 error, and step 1 at the closed form (E over seeds, any d)."""
    res = simulate(SimConfig(d=300, steps=1, init="orthogonal", dtype="float64", **SETTING), 12)
    M = res.magnetization()
    np.testing.assert_allclose(M[:, 0], 0.0, atol=1e-12)
    np.testing.assert_allclose(res.norms[:, 0], 1.0, rtol=1e-12)
    ref = authors_results()
    assert res.test_error[0, 0] == pytest.approx(ref["simulation_test_error_mean"][0],
                                                 abs=3 * ref["simulation_test_error_sem"][0])
    step1 = symmetrized(M[:, 1])  # (seeds, k)
    sem = step1.std(0, ddof=1) / math.sqrt(len(step1))
    assert np.all(np.abs(step1.mean(0) - _first_step()) <= 4 * sem)

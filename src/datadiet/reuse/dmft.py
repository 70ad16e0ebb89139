"""Dynamical mean-field theory (DMFT) of finite-step GD on n = α·d samples, in the limit d → ∞.

Write W^t = m^t W* + W_⊥^t. In the limit the training samples decouple into one effective sample,

    h^t = m^t z + ω^t − (η/α) Σ_{τ<t} r_w(t, τ) g^τ,      g^t = ∂ℓ/∂h (h^t, y) = (f − y)·a ⊙ σ'(h^t),

with z ~ N(0, I_k), y = g*(z), ω a Gaussian process of covariance C_w(t, t') = W_⊥^t W_⊥^{t'ᵀ} and the
memory term carrying the sample's own past gradients (the label enters h^t: the reuse mechanism).
The parameters decouple into one effective coordinate, a linear recursion

    v^{t+1} = (1 − ηλ) v^t − η Σ_{τ≤t} R_g(t, τ) v^τ − η u^t,   Cov(u^t, u^s) = α⁻¹ E[g^t g^sᵀ],

with the curvature/memory kernel R_g(t, τ) = E[∂g^t/∂ω^τ] (pathwise through the Hessian a a σ'σ' +
(f − y) a σ'' for smooth students such as tanh; by Gaussian integration by parts, E[∂g/∂ω] = C_w⁻¹E[ω gᵀ],
for ReLU, whose σ'' is a point mass no path sees) and the response r_w(t, τ) = ∂v^t/∂(field at τ) closing
the loop; the teacher overlap moves by m^{t+1} = (1 − ηλ) m^t − η E[g^t zᵀ]. Expectations over the
effective sample are Monte Carlo over ``paths`` trajectories, solved causally step by step.
One-pass GD is the same system with fresh samples each step: no memory, R_g(t, τ) = 0 for τ < t.

All quantities are (p × p) or (p × k) matrices for a width-p student. Derived for this project from
the GD update by the cavity method (the structure of Celentano, Cheng, Montanari 2021 for GLMs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..errors import InputError
from .targets import Target, get_target
from .twolayer import _NP, Activation, error_from_stats, get_activation


@dataclass
class DMFTResult:
    """Overlaps of the d → ∞ limit; ``*_sem`` are Monte Carlo errors over independent repeats."""

    steps: np.ndarray  # (T+1,)
    m: np.ndarray  # (T+1, p, k) W W*ᵀ (mean over repeats)
    m_sem: np.ndarray  # (T+1, p, k) its Monte Carlo error over repeats
    cosine: np.ndarray  # (T+1, p, k) m_jr / ‖w_j‖
    cosine_sem: np.ndarray  # (T+1, p, k)
    norms: np.ndarray  # (T+1, p)
    test_error: np.ndarray  # (T+1,) ½E[(f − y)²]
    second_layer: np.ndarray  # (T+1, p)
    repeats: int
    paths: int
    details: dict = field(default_factory=dict)

    def table(self) -> list[dict[str, float]]:
        """Same columns as SimResult.table (sem = Monte Carlo error of the solver, not seed spread)."""
        sign = np.sign(self.second_layer[0])
        sign = np.where(sign == 0, 1.0, sign)
        rows = []
        k = self.cosine.shape[-1]
        for i, step in enumerate(self.steps):
            row = {"step": float(step)}
            for r in range(k):
                suffix = "" if r == 0 else f"_{r + 1}"
                row[f"signed_mean{suffix}"] = float((self.cosine[i, :, r] * sign).mean())
                row[f"signed_sem{suffix}"] = float(self.cosine_sem[i, :, r].mean())
                row[f"abs_mean{suffix}"] = float(np.abs(self.cosine[i, :, r]).mean())
                row[f"abs_sem{suffix}"] = float(self.cosine_sem[i, :, r].mean())
            if k > 1:
                row["orth_mean"] = float(np.sqrt((self.cosine[i, :, 1:] ** 2).sum(-1)).mean())
                row["orth_sem"] = float(self.cosine_sem[i, :, 1:].mean())
            rows.append(row)
        return rows


def solve_dmft(target: str | Target = "he3", *, student: str | Activation | Callable = "tanh", alpha: float = 4.0,
               eta: float = 2.0, steps: int = 3, passes: str = "multi", width: int = 1,
               second_layer: str = "ones", train_second_layer: bool = False, ridge: float = 0.0,
               noise: float = 0.0, spherical: bool = False, paths: int = 50_000, repeats: int = 4,
               seed: int = 0, noise_correlations: bool = True) -> DMFTResult:
    """Solve the DMFT of ``steps`` GD steps; average ``repeats`` independent Monte Carlo solutions.

    The initialization is the d → ∞ limit of the simulator's: unit-norm, mutually orthogonal neurons
    with zero teacher overlap (m⁰ = 0), a_j = 1/√p (``second_layer="signs"`` alternates signs).
    ``noise_correlations=False`` drops the cross-step covariance α⁻¹E[g^t g^sᵀ] (t ≠ s) of the parameter-side
    noise u, i.e. draws the noise of each step independently with the right variance: an approximation, kept only
    to measure what it changes (the authors' public DMFT, IdePHICS/benefit-reusing-batch dmft.py
    ``next_noise_step``, draws fresh normals for the whole history each step and keeps the last block).
    """
    target = get_target(target) if isinstance(target, str) else target
    act = get_activation(student)
    if passes not in ("multi", "one"):
        raise InputError(f"--passes {passes!r} is not one of: multi, one")
    if second_layer not in ("ones", "signs"):
        raise InputError(f"--second-layer {second_layer!r} is not one of: ones, signs")
    if alpha <= 0 or eta <= 0 or steps < 1 or width < 1 or paths < 100 or repeats < 1:
        raise InputError("solve_dmft needs alpha > 0, eta > 0, steps >= 1, width >= 1, paths >= 100, repeats >= 1")
    a0 = np.full(width, 1.0 / math.sqrt(width))
    if second_layer == "signs":
        a0 = a0 * np.where(np.arange(width) % 2 == 0, 1.0, -1.0)
    runs = [_solve_once(target, act, alpha, eta, steps, passes, a0, train_second_layer, ridge, noise, spherical,
                        paths, np.random.default_rng([seed, r]), noise_correlations) for r in range(repeats)]
    m = np.stack([r["m"] for r in runs])
    norms = np.stack([r["norms"] for r in runs])
    cos = m / norms[..., None]
    a_hist = runs[0]["a"] if not train_second_layer else np.stack([r["a"] for r in runs]).mean(0)
    m_mean, norms_mean = m.mean(0), norms.mean(0)
    gram = np.stack([r["gram"] for r in runs]).mean(0)
    err = error_from_stats(gram, m_mean, a_hist, target, act, seed=seed, noise=noise)
    sem = cos.std(0, ddof=1) / math.sqrt(repeats) if repeats > 1 else np.zeros_like(cos[0])
    m_sem = m.std(0, ddof=1) / math.sqrt(repeats) if repeats > 1 else np.zeros_like(m[0])
    return DMFTResult(steps=np.arange(steps + 1), m=m_mean, m_sem=m_sem, cosine=cos.mean(0), cosine_sem=sem,
                      norms=norms_mean,
                      test_error=err, second_layer=a_hist, repeats=repeats, paths=paths,
                      details={"passes": passes, "alpha": alpha, "eta": eta, "target": target.name,
                               "student": act.name})


def _loss_terms(h, y, a, act):
    """g = ∂ℓ/∂h (N, p) and the Hessian H = ∂g/∂h (N, p, p) of ℓ = ½(Σ_j a_j σ(h_j) − y)²."""
    s1 = act.d1(h, _NP)
    r = (act.f(h, _NP) * a).sum(-1) - y
    ga = a * s1  # ∂f/∂h
    g = r[:, None] * ga
    H = ga[:, :, None] * ga[:, None, :]
    idx = np.arange(h.shape[1])
    H[:, idx, idx] += r[:, None] * a * act.d2(h, _NP)
    return g, H, r


def _solve_once(target, act, alpha, eta, T, passes, a0, train_a, lam, noise, spherical, N, rng,
                noise_correlations=True):
    p, k = a0.shape[0], target.k
    eye = np.eye(p)
    multi = passes == "multi"
    m = [np.zeros((p, k))]
    a = [a0.copy()]
    A = [eye.copy()]  # v^t = A_t v^0 + Σ_s B[t][s] u^s
    B: list[dict[int, np.ndarray]] = [{}]
    Cu: dict[tuple[int, int], np.ndarray] = {}
    Rg: dict[tuple[int, int], np.ndarray] = {}
    Sigma0 = eye.copy()  # W_⊥⁰ W_⊥⁰ᵀ of unit, orthogonal neurons

    def cw(t, s):
        out = A[t] @ Sigma0 @ A[s].T
        for u, Bt in B[t].items():
            for v, Bs in B[s].items():
                c = Cu.get((u, v)) if (noise_correlations or u == v) else None
                if c is not None:
                    out = out + Bt @ c @ Bs.T
        return out

    z = rng.standard_normal((N, k))
    y = target(z) + (noise * rng.standard_normal(N) if noise > 0 else 0.0)
    omega: list[np.ndarray] = []  # ω^t per path (N, p)
    gs: list[np.ndarray] = []  # g^t per path
    Hs: list[np.ndarray] = []
    D: list[dict[int, np.ndarray]] = []  # D[t][τ] = ∂h^t/∂ω^τ (N, p, p)
    norms, grams = [], []
    for t in range(T + 1):
        gram_t = cw(t, t) + m[t] @ m[t].T
        grams.append(gram_t)
        norms.append(np.sqrt(np.clip(np.diag(gram_t), 0, None)))
        if t == T:
            break
        if not multi and t > 0:  # one-pass: a fresh effective sample
            z = rng.standard_normal((N, k))
            y = target(z) + (noise * rng.standard_normal(N) if noise > 0 else 0.0)
        # ω^t: Gaussian with covariance C_w(t, ·), conditioned on the path's earlier ω (multi-pass)
        if multi and t > 0:
            past = np.concatenate(omega, axis=1)  # (N, t p)
            C_pp = np.block([[cw(i, j) for j in range(t)] for i in range(t)])
            C_tp = np.concatenate([cw(t, j) for j in range(t)], axis=1)  # (p, t p)
            K = C_tp @ np.linalg.pinv(C_pp, rcond=1e-10, hermitian=True)
            S = cw(t, t) - K @ C_tp.T
            w_t = past @ K.T + rng.standard_normal((N, p)) @ _psd_sqrt(S).T
        else:
            w_t = rng.standard_normal((N, p)) @ _psd_sqrt(cw(t, t)).T
        omega.append(w_t)
        h = z @ m[t].T + w_t
        Dt = {t: np.broadcast_to(eye, (N, p, p)).copy()}
        if multi:
            for s in range(t):
                r_ts = -B[t][s] / eta  # response of v^t to a field at update s
                h = h - (eta / alpha) * gs[s] @ r_ts.T
            for tau in range(t):
                acc = np.zeros((N, p, p))
                for s in range(tau, t):
                    r_ts = -B[t][s] / eta
                    acc += np.einsum("ij,njk,nkl->nil", r_ts, Hs[s], D[s][tau])
                Dt[tau] = -(eta / alpha) * acc
        g, H, res = _loss_terms(h, y, a[t], act)
        gs.append(g)
        Hs.append(H)
        D.append(Dt)
        if act.smooth:  # pathwise: ∂g^t/∂ω^τ = H^t ∂h^t/∂ω^τ, averaged over paths
            for tau, d_ht in Dt.items():
                Rg[(t, tau)] = np.einsum("nij,njk->ik", H, d_ht) / N
        else:  # ReLU: σ'' is a point mass the paths never hit; Gaussian integration by parts instead
            taus = sorted(Dt)
            ws = np.concatenate([omega[tau] for tau in taus], axis=1)  # (N, |taus| p)
            C = np.block([[cw(i, j) for j in taus] for i in taus])
            grad = np.linalg.pinv(C, rcond=1e-10, hermitian=True) @ (ws.T @ g) / N  # E[∂g/∂ω] = C⁻¹E[ω gᵀ]
            for i, tau in enumerate(taus):
                Rg[(t, tau)] = grad[i * p:(i + 1) * p].T
        for s in range(t + 1):
            if multi or s == t:
                Cu[(t, s)] = gs[t].T @ gs[s] / (N * alpha)
                Cu[(s, t)] = Cu[(t, s)].T
        # one step of the parameter side
        m_next = (1 - eta * lam) * m[t] - eta * (g.T @ z) / N
        A_next = (1 - eta * lam) * A[t] - eta * sum(Rg[(t, tau)] @ A[tau] for tau in Dt)
        B_next = {}
        for s in range(t):
            B_next[s] = (1 - eta * lam) * B[t][s] - eta * sum(
                Rg[(t, tau)] @ B[tau][s] for tau in Dt if tau > s)
        B_next[t] = -eta * eye
        a_next = a[t] - eta * (res[:, None] * act.f(h, _NP)).mean(0) if train_a else a[t]
        m.append(m_next)
        A.append(A_next)
        B.append(B_next)
        a.append(a_next)
        if spherical:
            scale = 1.0 / np.sqrt(np.diag(cw(t + 1, t + 1) + m_next @ m_next.T))
            Dm = np.diag(scale)
            m[-1], A[-1] = Dm @ m_next, Dm @ A_next
            B[-1] = {s: Dm @ b for s, b in B_next.items()}
    return {"m": np.stack(m), "norms": np.stack(norms), "a": np.stack(a), "gram": np.stack(grams)}


def _psd_sqrt(S: np.ndarray) -> np.ndarray:
    vals, vecs = np.linalg.eigh((S + S.T) / 2)
    return vecs * np.sqrt(np.clip(vals, 0, None))

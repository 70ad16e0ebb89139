"""Kernel baselines for the kernel gap: kernel ridge / SVM with RBF and polynomial kernels, and the NTK.

A kernel method needs n ≳ d^k samples for a k-sparse parity; MFLD learns the features and needs n ≈ C·d
(Suzuki, Wu, Oko, Nitanda, NeurIPS 2023). Each method's hyperparameters are chosen on the *test* set from a
small grid (an oracle choice, so the reported kernel accuracy is, if anything, optimistic for the kernels).
The NTK is that of the MFLD network h_x(z) = R̄[tanh(z·x1 + x2) + 2 tanh(x3)]/3 at its N(0, I) init, by random
features: K(z, z') = (1/M) Σ_j sech²(z·x1_j + x2_j) sech²(z'·x1_j + x2_j) (z·z' + 1) (the x3 block is constant).
"""

from __future__ import annotations

import numpy as np

from ..errors import MissingDependencyError

KERNELS = ("krr_rbf", "krr_poly", "svm_rbf", "svm_poly", "ntk")

_ALPHAS = (1e-3, 1e-1, 1.0)  # kernel ridge regularization
_CS = (1.0, 100.0)  # SVM
_GAMMAS = (0.25, 1.0, 4.0)  # RBF exp(−γ‖z − z'‖²) on inputs of unit norm


def _sklearn():
    try:
        from sklearn.kernel_ridge import KernelRidge
        from sklearn.svm import SVC
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependencyError("scikit-learn", "mfld", "the kernel baselines") from exc
    return KernelRidge, SVC


def _acc(pred, y) -> float:
    return float(np.mean(np.where(pred >= 0, 1.0, -1.0) == y))


def _scale(Z: np.ndarray) -> float:
    """Mean squared norm of the inputs, so kernel parameters mean the same for ±1 and ±1/√d inputs."""
    return float(np.mean(np.sum(Z * Z, axis=1))) or 1.0


def kernel_accuracies(Z, y, Z_test, y_test, *, degree: int = 2, ntk_features: int = 500,
                      seed: int = 0, methods=KERNELS) -> dict[str, float]:
    """Test accuracy of each kernel method (best over its grid): {"krr_rbf": ..., "ntk": ...}.

    ``degree`` is the polynomial kernel's degree (k of the parity is the natural choice: (1 + z·z')^k
    contains the parity monomial); ``ntk_features`` the number M of random neurons in the NTK.
    """
    KernelRidge, SVC = _sklearn()
    Z, Z_test = np.asarray(Z, np.float64), np.asarray(Z_test, np.float64)
    y, y_test = np.asarray(y, np.float64), np.asarray(y_test, np.float64)
    s = _scale(Z)
    out: dict[str, float] = {}
    if "krr_rbf" in methods:
        out["krr_rbf"] = max(_acc(KernelRidge(alpha=a, kernel="rbf", gamma=g / s).fit(Z, y).predict(Z_test), y_test)
                             for a in _ALPHAS for g in _GAMMAS)
    if "krr_poly" in methods:
        out["krr_poly"] = max(_acc(KernelRidge(alpha=a, kernel="poly", degree=degree, gamma=1 / s, coef0=1.0)
                                   .fit(Z, y).predict(Z_test), y_test) for a in _ALPHAS)
    if "svm_rbf" in methods:
        out["svm_rbf"] = max(_acc(SVC(C=c, kernel="rbf", gamma=g / s).fit(Z, y).decision_function(Z_test), y_test)
                             for c in _CS for g in _GAMMAS)
    if "svm_poly" in methods:
        out["svm_poly"] = max(_acc(SVC(C=c, kernel="poly", degree=degree, gamma=1 / s, coef0=1.0)
                                   .fit(Z, y).decision_function(Z_test), y_test) for c in _CS)
    if "ntk" in methods:
        W = np.random.default_rng(np.random.SeedSequence([seed, 31])).standard_normal((ntk_features, Z.shape[1] + 1))
        K = ntk_gram(Z, Z, W)
        Kt = ntk_gram(Z_test, Z, W)
        out["ntk"] = max(_acc(KernelRidge(alpha=a * float(np.mean(np.diag(K))), kernel="precomputed")
                              .fit(K, y).predict(Kt), y_test) for a in _ALPHAS)
    return out


def ntk_features(Z, W) -> np.ndarray:
    """Random NTK features φ(z) = [sech²(z·x1_j + x2_j)·(z, 1)]_j / √M, shape (n, M(d+1)); W = (x1, x2) rows."""
    Z = np.asarray(Z, np.float64)
    d = Z.shape[1]
    S = 1.0 - np.tanh(Z @ W[:, :d].T + W[:, d]) ** 2  # (n, M)
    Za = np.hstack([Z, np.ones((Z.shape[0], 1))])
    return (S[:, :, None] * Za[:, None, :]).reshape(Z.shape[0], -1) / np.sqrt(W.shape[0])


def ntk_gram(A, B, W) -> np.ndarray:
    """K(a, b) = φ(a)·φ(b) without forming φ: (S_A S_Bᵀ / M) ∘ (A Bᵀ + 1)."""
    A, B = np.asarray(A, np.float64), np.asarray(B, np.float64)
    d = A.shape[1]
    SA = 1.0 - np.tanh(A @ W[:, :d].T + W[:, d]) ** 2
    SB = 1.0 - np.tanh(B @ W[:, :d].T + W[:, d]) ** 2
    return (SA @ SB.T / W.shape[0]) * (A @ B.T + 1.0)

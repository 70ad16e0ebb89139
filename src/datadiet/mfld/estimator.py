"""scikit-learn style estimators over MFLD: a binary classifier (logistic loss) and a regressor (squared loss).

    from datadiet.mfld import MFLDClassifier
    clf = MFLDClassifier(particles=500, steps=2000).fit(X, y); clf.score(X_test, y_test)
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError, MissingDependencyError
from .solver import MFLDConfig, mfld, network_output

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise MissingDependencyError("scikit-learn", "mfld", "MFLDClassifier / MFLDRegressor") from exc


class _MFLDBase(BaseEstimator):
    _loss = "logistic"

    def __init__(self, particles: int = 500, steps: int = 2000, eta: float = 1.0, lam: float | None = None,
                 lam1: float = 0.1, R: float = 15.0, gradient: str = "full", batch_size: int = 50,
                 lam_final: float | None = None, backend: str = "numpy", random_state: int = 0):
        self.particles = particles
        self.steps = steps
        self.eta = eta
        self.lam = lam
        self.lam1 = lam1
        self.R = R
        self.gradient = gradient
        self.batch_size = batch_size
        self.lam_final = lam_final
        self.backend = backend
        self.random_state = random_state

    def _fit(self, X, t):
        X = _as_2d(X)
        self.n_features_in_ = X.shape[1]
        lam = 0.1 / X.shape[1] if self.lam is None else self.lam  # the parity paper's λ = 0.1/d
        cfg = MFLDConfig(particles=self.particles, steps=self.steps, eta=self.eta, lam=lam, lam1=self.lam1,
                         R=self.R, loss=self._loss, gradient=self.gradient, batch_size=self.batch_size,
                         lam_final=self.lam_final, backend=self.backend)
        res = mfld(X, t, cfg, seed=int(self.random_state or 0))
        self.particles_ = res.particles
        self.history_ = res.history
        return self

    def _f(self, X) -> np.ndarray:
        if not hasattr(self, "particles_"):
            raise InputError(f"{type(self).__name__} is not fitted yet: call fit(X, y) first")
        X = _as_2d(X)
        if X.shape[1] != self.n_features_in_:
            raise InputError(f"X has {X.shape[1]} features; the model was fitted on {self.n_features_in_}")
        return network_output(self.particles_, X, self.R)


class MFLDClassifier(ClassifierMixin, _MFLDBase):
    """Binary classifier: MFLD on the logistic loss ℓ(y f) = log(1 + e^{−y f}); any two class labels."""

    _loss = "logistic"

    def fit(self, X, y):
        y = np.asarray(y).ravel()
        self.classes_ = np.unique(y)
        if self.classes_.size != 2:
            raise InputError(f"MFLDClassifier is binary: y has {self.classes_.size} classes {self.classes_[:5]}")
        return self._fit(X, np.where(y == self.classes_[1], 1.0, -1.0))

    def decision_function(self, X) -> np.ndarray:
        """f_μ(x): positive means classes_[1]."""
        return self._f(X)

    def predict_proba(self, X) -> np.ndarray:
        """[P(classes_[0]), P(classes_[1])] with P(classes_[1]) = σ(f_μ(x))."""
        p = 1.0 / (1.0 + np.exp(-self._f(X)))
        return np.column_stack([1 - p, p])

    def predict(self, X) -> np.ndarray:
        f = self._f(X)
        return self.classes_[(f >= 0).astype(int)]


class MFLDRegressor(RegressorMixin, _MFLDBase):
    """Regressor: MFLD on the squared loss (f − y)²/2; |f| ≤ R̄, so scale targets below R̄."""

    _loss = "squared"

    def fit(self, X, y):
        return self._fit(X, np.asarray(y, dtype=np.float64).ravel())

    def predict(self, X) -> np.ndarray:
        return self._f(X)


def _as_2d(X) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise InputError(f"X must have shape (n_samples, n_features); got shape {X.shape}")
    return X

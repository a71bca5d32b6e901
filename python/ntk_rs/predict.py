"""Predictions of a network trained on the squared loss, from its kernel alone.

A wide network trained by gradient flow on ``½ Σ_i ‖f(x_i) − y_i‖²`` with learning
rate ``η`` follows kernel gradient descent with its NTK ``K`` (Jacot et al. 2018), so
its mean outputs have the closed form

    f_t(x) = f_0(x) + K(x, X) K_λ⁻¹ (I − exp(−η K_λ t)) (Y − f_0(X)),   K_λ = K + λ I,

where ``λ`` is an optional ridge: ``t = ∞`` gives kernel ridge regression, and with
``λ = 0`` the interpolant of minimum RKHS norm. With the RF kernel it is the network
whose readout alone is trained.

Numerical method: one symmetric eigendecomposition ``K = V diag(μ) Vᵀ`` (LAPACK
``syevd`` through :func:`numpy.linalg.eigh`) serves every ``t`` and every ridge.
Eigenvalues below ``rcond · max(μ)`` (default ``n · eps``; these include the negative
ones round-off produces on a positive semi-definite kernel) are set to zero, and the
spectral function ``φ_t(μ) = (1 − exp(−η μ t)) / μ`` is evaluated with ``expm1``,
taking its limit ``η t`` at ``μ = 0`` (``0`` at ``t = ∞``: the pseudo-inverse). So
rank-deficient and ill-conditioned kernels (duplicate inputs, all-zero images) give
finite, continuous answers at every ``t`` without a jitter that would change them.
Kernels from :meth:`ntk_rs.CNN.kernel` resolve nearly identical inputs only to ~1e-8
relative (spec §4): without a ridge, such pairs are fitted to that precision, so pass
a ridge (the demo uses 1e-6 of the mean diagonal) or ``rcond=1e-8`` where it matters.
"""

from __future__ import annotations

import math

import numpy as np


def _matrix(K, name: str, cols: int | None = None) -> np.ndarray:
    """``K`` as a finite 2-D float64 array (with ``cols`` columns), or a clear error."""
    try:
        K = np.asarray(K, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a numeric 2-D array") from None
    if K.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array, got shape {K.shape}")
    if cols is not None and K.shape[1] != cols:
        raise ValueError(f"{name} must have shape (m, {cols}), one column per training input, got {K.shape}")
    if not np.isfinite(K).all():
        raise ValueError(f"{name} contains NaN or infinity")
    return K


def _outputs(Y, name: str, n: int, trailing: tuple[int, ...] | None = None) -> np.ndarray:
    """Targets or outputs: shape ``(n,)`` or ``(n, k)``, finite."""
    try:
        Y = np.asarray(Y, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a numeric array") from None
    if Y.ndim not in (1, 2) or len(Y) != n or (trailing is not None and Y.shape[1:] != trailing):
        want = f"({n},) or ({n}, k)" if trailing is None else str((n, *trailing))
        raise ValueError(f"{name} must have shape {want}, got {Y.shape}")
    if not np.isfinite(Y).all():
        raise ValueError(f"{name} contains NaN or infinity")
    return Y


def _nonnegative(value, name: str, allow_zero: bool = True) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(x) or x < 0 or (x == 0 and not allow_zero):
        raise ValueError(f"{name} must be finite and {'>=' if allow_zero else '>'} 0, got {value!r}")
    return x


def _times(t, discrete: bool) -> np.ndarray:
    try:
        times = np.asarray(t, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"t must be a number or a 1-D array of numbers, got {t!r}") from None
    if times.ndim > 1:
        raise ValueError(f"t must be a number or a 1-D array, got shape {times.shape}")
    if np.isnan(times).any() or (times < 0).any():
        raise ValueError(f"t must be >= 0 (inf allowed), got {t!r}")
    if discrete and (np.isfinite(times) & (times != np.round(times))).any():
        raise ValueError(f"t counts gradient steps when discrete=True and must hold integers, got {t!r}")
    return times


class GradientFlow:
    """The training of a wide network on ``(X, Y)`` with kernel ``K_train``, solved once.

    ``K_train`` is the ``(n, n)`` kernel of the training inputs, ``Y`` the targets,
    ``(n,)`` or ``(n, k)``; ``f0`` the outputs at initialisation (default 0: the mean
    over initialisations), ``lr`` the learning rate ``η`` and ``ridge`` the ``λ`` of the
    module formula. ``discrete=True`` models gradient descent instead of gradient flow:
    ``t`` counts steps and ``exp(−η K_λ t)`` becomes ``(I − η K_λ)^t``, exact for the
    linearised network. ``rcond`` is the relative eigenvalue cut-off (default ``n · eps``).
    """

    def __init__(
        self, K_train, Y, *, f0=None, lr: float = 1.0, ridge: float = 0.0, discrete: bool = False, rcond=None
    ) -> None:
        K = _matrix(K_train, "K_train")
        n = len(K)
        if K.shape != (n, n):
            raise ValueError(f"K_train must be square, got shape {K.shape}")
        if n == 0:
            raise ValueError("K_train must hold at least one training input")
        scale = np.abs(K).max()
        if np.abs(K - K.T).max() > 1e-6 * scale:  # well above the kernels' ~1e-8 (spec §4)
            raise ValueError("K_train must be symmetric (is it the train-train kernel?)")
        Y = _outputs(Y, "Y", n)
        self._f0 = None if f0 is None else _outputs(f0, "f0", n, Y.shape[1:])
        residual = Y if f0 is None else Y - self._f0
        self.lr = _nonnegative(lr, "lr", allow_zero=False)
        self.ridge = _nonnegative(ridge, "ridge")
        self.discrete = bool(discrete)
        rcond = n * np.finfo(np.float64).eps if rcond is None else _nonnegative(rcond, "rcond")
        mu, self._V = np.linalg.eigh((K + K.T) / 2)
        mu[mu <= rcond * max(mu[-1], 0.0)] = 0.0
        self.eigenvalues = mu + self.ridge  #: of ``K_λ``, ascending, after the cut-off
        if self.discrete and self.lr * self.eigenvalues[-1] >= 2:
            self._diverges = f"lr = {self.lr} >= 2 / (largest eigenvalue {self.eigenvalues[-1]:.6g})"
        else:
            self._diverges = None
        self._K, self._Y, self._coords = K, Y, self._V.T @ residual.reshape(n, -1)

    def _phi(self, t: float) -> np.ndarray:
        """``φ_t(μ) = (1 − exp(−η μ t)) / μ`` (or its discrete form), ``η t`` at ``μ = 0``."""
        mu, lr = self.eigenvalues, self.lr
        pos = mu > 0
        safe = np.where(pos, mu, 1.0)
        if math.isinf(t):
            if self._diverges:
                raise ValueError(f"gradient descent diverges: {self._diverges}")
            return np.where(pos, 1.0 / safe, 0.0)
        if self.discrete:  # 1 − (1 − x)^t, through log1p where 1 − x > 0 (accurate for small x)
            x = lr * safe
            with np.errstate(over="ignore", invalid="ignore"):
                decay = np.where(x < 1, -np.expm1(t * np.log1p(-np.where(x < 1, x, 0.0))), 1 - (1 - x) ** t)
            if not np.isfinite(decay).all():
                # As for t = inf: a diverging descent's outputs are refused once they leave float64.
                raise ValueError(
                    f"gradient descent diverges: {self._diverges}; after {t:g} steps its outputs exceed float64"
                )
        else:
            decay = -np.expm1(-lr * safe * t)
        return np.where(pos, decay / safe, lr * t)

    def coefficients(self, t=np.inf) -> np.ndarray:
        """``α_t`` with ``f_t(x) = f_0(x) + K(x, X) α_t``: shape ``Y.shape``, or
        ``(len(t), *Y.shape)`` for a 1-D array of times."""
        times = _times(t, self.discrete)
        alpha = np.stack([self._V @ (self._phi(s)[:, None] * self._coords) for s in times.ravel()])
        return alpha.reshape(*times.shape, *self._Y.shape)

    def predict(self, K_test_train=None, t=np.inf, f0_test=None) -> np.ndarray:
        """``f_t`` on test inputs given their kernel ``K_test_train`` with the training
        inputs, ``(m, n)``, and their initial outputs ``f0_test`` (required exactly when
        ``f0`` was given). ``K_test_train=None`` gives the outputs on the training inputs.
        Shape ``(m, *Y.shape[1:])``, with a leading time axis for a 1-D ``t``."""
        n = len(self._K)
        if K_test_train is None:
            if f0_test is not None:
                raise ValueError("f0_test is for test inputs; on the training inputs f0 is used")
            K_test, f0_test = self._K, self._f0
        else:
            K_test = _matrix(K_test_train, "K_test_train", cols=n)
            if (f0_test is None) != (self._f0 is None):
                raise ValueError(
                    "f0_test must be given exactly when f0 was: the prediction starts from the initial outputs"
                )
        alpha = self.coefficients(t)
        out = np.tensordot(K_test, alpha, axes=(1, -len(self._Y.shape)))
        out = np.moveaxis(out, 0, alpha.ndim - self._Y.ndim)
        if f0_test is not None:
            out = out + _outputs(f0_test, "f0_test", len(K_test), self._Y.shape[1:])
        return out


def gradient_flow(
    K_train, K_test_train, Y, t=np.inf, *, f0_train=None, f0_test=None, lr=1.0, ridge=0.0, discrete=False
) -> np.ndarray:
    """``f_t`` on the test inputs in one call: see :class:`GradientFlow`."""
    flow = GradientFlow(K_train, Y, f0=f0_train, lr=lr, ridge=ridge, discrete=discrete)
    return flow.predict(K_test_train, t, f0_test)


def kernel_regression(K_train, K_test_train, Y, ridge: float = 0.0) -> np.ndarray:
    """Kernel ridge regression ``K(x, X) (K + λ I)⁻¹ Y``: the ``t = ∞`` prediction."""
    return gradient_flow(K_train, K_test_train, Y, ridge=ridge)


def one_hot(labels) -> tuple[np.ndarray, np.ndarray]:
    """``(targets, classes)``: ``targets[i, j] = 1`` where ``labels[i] == classes[j]``."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0:
        raise ValueError(f"labels must be a non-empty 1-D array, got shape {labels.shape}")
    classes, index = np.unique(labels, return_inverse=True)
    return np.eye(len(classes))[index], classes


def classify(K_train, K_test_train, labels, *, ridge: float = 0.0, t=np.inf, lr: float = 1.0) -> np.ndarray:
    """Labels of the test inputs: regression on one-hot targets, then the largest output."""
    K_train = _matrix(K_train, "K_train")
    targets, classes = one_hot(labels)
    if len(targets) != len(K_train):
        raise ValueError(
            f"labels must have one entry per training input (K_train has {len(K_train)} rows), "
            f"got {len(targets)}"
        )
    scores = gradient_flow(K_train, K_test_train, targets, t, lr=lr, ridge=ridge)
    return classes[scores.argmax(axis=-1)]


def accuracy(predicted, labels) -> float:
    """The fraction of ``predicted`` equal to ``labels`` (1-D, same length)."""
    predicted, labels = np.asarray(predicted), np.asarray(labels)
    if predicted.shape != labels.shape or labels.ndim != 1 or labels.size == 0:
        raise ValueError(
            f"predicted and labels must be non-empty 1-D arrays of one length, got {predicted.shape} and {labels.shape}"
        )
    return float(np.mean(predicted == labels))

"""What the feature-map studies share: the datasets, their preprocessing, features in
chunks, and ridge regression with the ridge chosen on held-out training images.

``features-mnist`` and ``features-cifar`` (:func:`run`) train a linear readout on random
features ``fm.transform(X)`` of a whole dataset (``docs/features.md``); ``features-exact``
(:func:`compare`) sets the accuracy of features of growing ``dim`` against the exact
kernel's on a few thousand MNIST images.

The readout is ridge regression of the centered one-hot targets on the centered
features (an unpenalised intercept), in float64. With features ``F`` the fit only needs
``FᵀF`` and ``FᵀY``, accumulated chunk by chunk: memory ``dim² · 8`` bytes besides the
features (four times that during the eigendecomposition, :func:`feature_ridge`), and
time linear in the number of images. One eigendecomposition of the
centered ``FᵀF`` of 90 % of the training set gives the validation predictions of every
ridge of the grid at once; the ridge of the best validation accuracy (ties: the lowest
validation squared error) is then refitted on the whole training set. The test set is
only predicted, once. Ridges are relative to the mean diagonal of the centered kernel,
``tr(FᵀF) / n``: the same number means the same estimator for features and for the exact
kernel ``FFᵀ``, which is fitted the same way in its dual form (:func:`kernel_ridge`).
The preprocessing (standardisation, ZCA) is fitted on the 90 % too, so that the held-out
images are as new to the whole pipeline as the test images.
"""

from __future__ import annotations

import math
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import ntk_rs as nk

from .. import _demo
from ._common import loglog_slope, pyplot, save, write_csv

#: Ridges tried, relative to the mean diagonal of the centered kernel (half decades).
RIDGES = np.logspace(-7, 2, 19)
#: Training and test images of a study's ``--quick`` run.
QUICK_TRAIN, QUICK_TEST = 2000, 500
#: Share of the training set held out to choose the ridge.
VALIDATION = 0.1
#: Images per call of ``fm.transform`` and per float64 block of the Gram accumulation:
#: bounds the float64 copies (inputs, feature chunk) to a few tens of MiB.
CHUNK = 2048
#: ZCA regulariser: ``ε = ZCA_REG · mean eigenvalue`` of the training images' covariance.
ZCA_REG = 0.1


# --------------------------------------------------------------------------- data


def default_data_dir() -> Path:
    """``../shared/data`` beside the checkout (the project's copies of the datasets).
    The package never needs it: users pass their own folder (``--data DIR``)."""
    return Path(nk.__file__).resolve().parents[2].parent / "shared" / "data"


def load(data: Path | None, file: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(x_train, y_train, x_test, y_test)`` from ``data / file``, a NumPy ``.npz`` in
    Keras' layout: images ``(n, H, W)`` or ``(n, H, W, C)`` (channels last, any numeric
    dtype), integer labels ``(n,)``. Grey images get a channel axis."""
    folder = default_data_dir() if data is None else Path(data)
    path = folder / file
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: this study reads {file} (a NumPy .npz with x_train, y_train, x_test, "
            f"y_test, images channels last); pass --data DIR, the folder that holds it"
        )
    with np.load(path) as f:
        missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in f.files]
        if missing:
            raise ValueError(f"{path} lacks the arrays {missing} (it has {f.files})")
        x_train, y_train, x_test, y_test = (f[k] for k in ("x_train", "y_train", "x_test", "y_test"))
    for name, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        if x.ndim not in (3, 4) or y.shape != (len(x),):
            raise ValueError(
                f"{path}: x_{name} must be (n, H, W) or (n, H, W, C) images and y_{name} (n,) labels, "
                f"got {x.shape} and {y.shape}"
            )
    if x_train.ndim == 3:
        x_train, x_test = x_train[..., None], x_test[..., None]
    if x_train.shape[1:] != x_test.shape[1:]:
        raise ValueError(
            f"{path}: train images {x_train.shape[1:]} and test images {x_test.shape[1:]} differ"
        )
    return x_train, y_train.astype(np.int64), x_test, y_test.astype(np.int64)


def subset(x: np.ndarray, y: np.ndarray, n: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images drawn at random without replacement (all of them, shuffled, for
    ``None``): the shuffle also makes the held-out tail of the training set random."""
    order = np.random.default_rng(seed).permutation(len(x))[: len(x) if n is None else n]
    return x[order], y[order]


#: The eight one-pixel translations (rows, columns) of the virtual examples.
STEPS = np.array([(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx])


def shift(x: np.ndarray, step: tuple[int, int]) -> np.ndarray:
    """Images ``(n, H, W, C)`` moved by ``step = (rows, columns)`` of at most one pixel,
    the uncovered border filled with zeros (MNIST's background)."""
    out = np.zeros_like(x)
    dy, dx = (int(v) for v in step)
    h, w = x.shape[1:3]
    out[:, max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = x[
        :, max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out


class Virtual:
    """The images ``x`` followed by ``copies`` rounds of virtual examples (Decoste &
    Schölkopf 2002): in round k, image i moved one pixel in the direction
    ``directions[i, k]``, drawn from ``seed``. Sliced like an array, built per slice, so
    that the copies are never all held."""

    def __init__(self, x: np.ndarray, copies: int, seed: int) -> None:
        self.x = x
        self.directions = np.random.default_rng(seed).integers(0, len(STEPS), (len(x), copies))

    def __len__(self) -> int:
        return len(self.x) * (1 + self.directions.shape[1])

    def __getitem__(self, rows: slice) -> np.ndarray:
        start, stop, _ = rows.indices(len(self))
        index = np.arange(start, stop)
        image, rounds = index % len(self.x), index // len(self.x)
        moved = rounds > 0
        direction = np.where(moved, self.directions[image, np.maximum(rounds - 1, 0)], -1)
        out = self.x[image]
        for d in np.unique(direction[moved]):
            pick = direction == d
            out[pick] = shift(out[pick], STEPS[d])
        return out


# --------------------------------------------------------------------------- preprocessing


@dataclass(frozen=True)
class Preprocess:
    """A preprocessing fitted on training images, applied chunk by chunk: ``x · scale``,
    minus the per-channel mean, over the per-channel standard deviation, then, with
    ``zca``, ZCA whitening ``(x − μ) W`` of the flattened images (:func:`zca_fit`)."""

    scale: float
    mean: np.ndarray
    std: np.ndarray
    zca: tuple[np.ndarray, np.ndarray] | None = None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        out = (x.astype(np.float64) * self.scale - self.mean) / self.std
        if self.zca is not None:
            mu, W = self.zca
            out = ((out.reshape(len(out), -1) - mu) @ W).reshape(out.shape)
        return out

    def describe(self) -> str:
        steps = [] if self.scale == 1 else [f"pixels × {self.scale:.6g}"]
        steps.append("per-channel standardisation (statistics of the training images)")
        if self.zca is not None:
            steps.append(
                f"ZCA whitening of the images (fitted on the training images, ε = {ZCA_REG} × mean eigenvalue)"
            )
        return ", then ".join(steps)


def fit_preprocess(x_train: np.ndarray, scale: float = 1.0, zca: bool = False) -> Preprocess:
    """Per-channel mean and standard deviation of ``x_train · scale`` (in float64, chunk
    by chunk), and with ``zca`` the whitening of the standardised images."""
    c = x_train.shape[-1]
    total, squares, count = np.zeros(c), np.zeros(c), 0
    for i in range(0, len(x_train), CHUNK):
        part = x_train[i : i + CHUNK].astype(np.float64).reshape(-1, c) * scale
        total += part.sum(axis=0)
        squares += (part**2).sum(axis=0)
        count += len(part)
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean**2, 0.0))
    std = np.where(std > 0, std, 1.0)  # a constant channel stays zero
    prep = Preprocess(scale, mean, std)
    if not zca:
        return prep
    return Preprocess(scale, mean, std, zca_fit(x_train, prep))


def zca_fit(
    x_train: np.ndarray, prep: Callable[[np.ndarray], np.ndarray] = lambda x: x, reg: float = ZCA_REG
) -> tuple[np.ndarray, np.ndarray]:
    """ZCA whitening of images fitted on ``x_train`` (after ``prep``, chunk by chunk):
    ``(μ, W)`` with ``x ↦ (x − μ) W`` on flattened images, ``μ`` the mean image and
    ``W = U (Λ + ε I)^{-1/2} Uᵀ`` from the covariance ``C = U Λ Uᵀ`` of the training
    images (``d × d``, ``d = H·W·C``: 3072 for CIFAR-10).

    Whitening flattens the spectrum of the images, so that the kernel, which compares
    patches by their inner products, is not ruled by the few smooth directions that
    carry most of the pixels' variance; kernel methods on CIFAR-10 gain several points
    of accuracy from it (Arora et al. 2019; Shankar et al. 2020; Lee et al. 2020).
    ``ε = reg · tr(C) / d`` keeps the directions of small variance (noise, and those that
    a training set smaller than ``d`` does not see at all) from being amplified without
    bound: ``reg = 0.1``, the regulariser of Lee et al. 2020, whitens the directions
    above a tenth of the mean variance and leaves the smaller ones shrunk. ``W`` is
    symmetric: ZCA is the whitening closest to the identity, so images still look like
    images (edges), which the convolutional kernel needs.
    """
    n = len(x_train)
    d = prep(x_train[:1]).size
    if n < d:
        return _zca_dual(prep(x_train).reshape(n, d), reg)
    total, gram = np.zeros(d), np.zeros((d, d))
    for i in range(0, n, CHUNK):
        part = prep(x_train[i : i + CHUNK]).reshape(-1, d)
        total += part.sum(axis=0)
        _gram_add(gram, part)
    _symmetrize(gram)
    mu = total / n
    cov = gram / n - np.outer(mu, mu)
    eigenvalues, U = np.linalg.eigh(cov)
    eigenvalues = np.maximum(eigenvalues, 0.0)
    eps = _zca_eps(eigenvalues, reg, d)
    W = (U / np.sqrt(eigenvalues + eps)) @ U.T
    return mu, W


def _zca_eps(eigenvalues: np.ndarray, reg: float, d: int) -> float:
    eps = reg * eigenvalues.sum() / d
    if not eps > 0:
        raise ValueError("ZCA: the training images are all equal (zero covariance)")
    return eps


def _zca_dual(X: np.ndarray, reg: float) -> tuple[np.ndarray, np.ndarray]:
    """:func:`zca_fit` for fewer images than pixels (``n < d``), from the ``n × n`` Gram of
    the centered images: the covariance's eigenvectors of non-zero eigenvalue are
    ``Xᵀ u / sqrt(n λ)``, and ``W = I / sqrt(ε) + V (diag(λ + ε)^{-1/2} − ε^{-1/2}) Vᵀ``
    (the other directions have eigenvalue 0). ``n³`` instead of ``d³``."""
    n, d = X.shape
    mu = X.mean(axis=0)
    X = X - mu
    eigenvalues, U = np.linalg.eigh(X @ X.T / n)  # the covariance's non-zero eigenvalues
    eps = _zca_eps(np.maximum(eigenvalues, 0.0), reg, d)
    keep = eigenvalues > 1e-10 * eigenvalues[-1]
    lam = eigenvalues[keep]
    V = X.T @ (U[:, keep] / np.sqrt(n * lam))
    W = (V * (1 / np.sqrt(lam + eps) - 1 / np.sqrt(eps))) @ V.T
    W[np.diag_indices(d)] += 1 / np.sqrt(eps)
    return mu, W


# --------------------------------------------------------------------------- features


def _reporter(label: str, total: int, enabled: bool) -> Callable[[int], None] | None:
    """Progress on stderr: one line rewritten in a terminal, a line per tenth elsewhere."""
    if not enabled:
        return None
    tty = sys.stderr.isatty()
    step = 1 if tty else 10
    start = time.perf_counter()
    shown = [-1]

    def show(done: int) -> None:
        percent = 100 * done // max(total, 1) // step * step
        if percent != shown[0]:
            shown[0] = percent
            line = f"{label}: {percent:3d} % of {total} images, {time.perf_counter() - start:.0f} s"
            end = "" if tty and done < total else "\n"
            print("\r" + line if tty else line, end=end, file=sys.stderr, flush=True)

    return show


def chunks(fm, x: np.ndarray, prep: Callable, *, label: str = "features", progress: bool = False):
    """The features of ``prep(x)`` as ``(start, F)`` pairs, ``F`` the float32 features of
    the ``CHUNK`` images from ``start`` on: memory holds one chunk at a time."""
    n = len(x)
    show = _reporter(label, n, progress)
    for i in range(0, n, CHUNK):
        done = None if show is None else (lambda d, _t, i=i: show(i + d))
        yield i, fm.transform(prep(x[i : i + CHUNK]), progress=done)


def transform(fm, x: np.ndarray, prep: Callable, *, label: str = "features", progress: bool = False):
    """The features of ``prep(x)``, ``(n, fm.dim)`` float32, one array (:func:`chunks`)."""
    F = np.empty((len(x), fm.dim), dtype=np.float32)
    for i, part in chunks(fm, x, prep, label=label, progress=progress):
        F[i : i + len(part)] = part
    return F


# --------------------------------------------------------------------------- ridge regression


def one_hot(y: np.ndarray, classes: int) -> np.ndarray:
    return np.eye(classes)[y]


def _gram_add(S: np.ndarray, F: np.ndarray) -> None:
    """``S += FᵀF`` on and above the diagonal (``S`` float64 ``d × d``), in row blocks so
    that the temporaries stay at ``CHUNK × d``: half the products of a full ``FᵀF``."""
    d = S.shape[0]
    for j in range(0, d, CHUNK):
        k = min(j + CHUNK, d)
        S[j:k, j:] += F[:, j:k].T @ F[:, j:]


def _symmetrize(S: np.ndarray) -> None:
    """Copy the upper triangle of ``S`` onto the lower one, in blocks."""
    d = S.shape[0]
    for j in range(0, d, CHUNK):
        k = min(j + CHUNK, d)
        S[k:, j:k] = S[j:k, k:].T
        block = S[j:k, j:k]
        block[...] = np.triu(block) + np.triu(block, 1).T


def _outer_add(S: np.ndarray, u: np.ndarray, factor: float) -> None:
    """``S += factor · u uᵀ`` in row blocks (no ``d × d`` temporary)."""
    for j in range(0, len(u), CHUNK):
        S[j : j + CHUNK] += factor * u[j : j + CHUNK, None] * u[None, :]


class _Moments:
    """``Σ fᵀf``, ``Σ f``, ``Σ fᵀy``, ``Σ y`` and the count of rows added, in float64."""

    def __init__(self, d: int, classes: int) -> None:
        self.S = np.zeros((d, d))
        self.f = np.zeros(d)
        self.T = np.zeros((d, classes))
        self.y = np.zeros(classes)
        self.n = 0

    def add(self, F: np.ndarray, Y: np.ndarray) -> None:
        for i in range(0, len(F), CHUNK):
            part = F[i : i + CHUNK].astype(np.float64)
            _gram_add(self.S, part)
            self.f += part.sum(axis=0)
            self.T += part.T @ Y[i : i + CHUNK]
            self.y += Y[i : i + CHUNK].sum(axis=0)
            self.n += len(part)
        _symmetrize(self.S)

    def means(self) -> tuple[np.ndarray, np.ndarray]:
        return self.f / self.n, self.y / self.n

    def center(self, sign: float = 1.0) -> None:
        """``S ← S − n μμᵀ`` (``sign = −1`` undoes it): the centered Gram, in place."""
        mu, _ = self.means()
        _outer_add(self.S, mu, -sign * self.n)

    def centered_cross(self) -> np.ndarray:
        """``Σ (f − μ)(y − ȳ)ᵀ``."""
        mu, ybar = self.means()
        return self.T - self.n * np.outer(mu, ybar)


@dataclass
class RidgeFit:
    """The outcome of :func:`feature_ridge` or :func:`kernel_ridge`: the chosen relative
    ridge, the validation accuracy and squared error of every ridge of the grid, and the
    test predictions (scores, one column per class) of the refit."""

    ridges: np.ndarray
    validation_accuracy: np.ndarray
    validation_mse: np.ndarray
    chosen: int
    scores: np.ndarray

    @property
    def ridge(self) -> float:
        return float(self.ridges[self.chosen])

    @property
    def accuracy(self) -> float:
        """The validation accuracy of the chosen ridge."""
        return float(self.validation_accuracy[self.chosen])


def _choose(scores: np.ndarray, Y_val: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Validation accuracy and squared error of ``scores`` ``(n_val, ridges, classes)``;
    the best accuracy, ties broken by the lowest squared error."""
    labels = Y_val.argmax(axis=1)
    accuracy = (scores.argmax(axis=2) == labels[:, None]).mean(axis=0)
    mse = ((scores - Y_val[:, None, :]) ** 2).sum(axis=2).mean(axis=0)
    best = np.flatnonzero(accuracy == accuracy.max())
    return accuracy, mse, int(best[np.argmin(mse[best])])


def _spectral_scores(
    values: np.ndarray, vectors: np.ndarray, rhs: np.ndarray, apply: Callable, absolute: np.ndarray
) -> np.ndarray:
    """``apply(V diag(1/(λ + e)) Vᵀ rhs)`` for every ridge ``λ`` of ``absolute``, as
    ``(n, ridges, classes)``: one product with the eigenvectors for all of them."""
    c = vectors.T @ rhs  # (d, classes)
    coef = c[None, :, :] / (values[None, :, None] + absolute[:, None, None])  # (ridges, d, classes)
    r, d, k = coef.shape
    solutions = vectors @ coef.transpose(1, 0, 2).reshape(d, r * k)
    return apply(solutions).reshape(-1, r, k)


def _affine(F: np.ndarray, mu: np.ndarray, B: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(F − μ) B + b`` in float64, ``CHUNK`` rows of ``F`` at a time."""
    out = np.empty((len(F), B.shape[1]))
    for i in range(0, len(F), CHUNK):
        out[i : i + CHUNK] = (F[i : i + CHUNK].astype(np.float64) - mu) @ B + b
    return out


def _scale(trace: float, n: int) -> float:
    """The mean diagonal of a centered kernel: the unit of the relative ridges."""
    if not trace > 0:
        raise ValueError("the features (kernel) of the training images are all equal: nothing to fit")
    return trace / n


def feature_ridge(
    F: np.ndarray,
    Y: np.ndarray,
    F_test: np.ndarray,
    ridges: np.ndarray = RIDGES,
    validation: float = VALIDATION,
) -> RidgeFit:
    """Ridge regression of ``Y`` (one-hot, ``(n, classes)``) on the features ``F``
    (``(n, dim)``, any float dtype), with an unpenalised intercept, in the primal: the
    last ``validation`` share of the rows (shuffle before) chooses the ridge, then all
    rows are refitted and ``F_test`` predicted.

    Memory: the float64 Gram ``dim × dim``, and during the eigendecomposition its
    eigenvectors and LAPACK's workspace (``syevd``: about ``2 dim²``): ``4 dim² · 8``
    bytes at the peak, 8.6 GB at ``dim = 16384``. Time: ``n dim²`` for the Gram (half
    of a full product), ``~4 dim³`` for the eigendecomposition and ``dim³ / 3`` for the
    refit's solve. :func:`run` streams: it adds the fitted rows' features to the Gram
    chunk by chunk and never holds them (:func:`ridge_from_moments`).
    """
    n_fit, _ = split(len(F), validation)
    m = _Moments(F.shape[1], Y.shape[1])
    m.add(F[:n_fit], Y[:n_fit])
    return ridge_from_moments(m, F[n_fit:], Y[n_fit:], F_test, ridges)


def split(n: int, validation: float = VALIDATION) -> tuple[int, int]:
    """``(n_fit, n_val)``: the first ``n_fit`` rows fit, the last ``n_val`` choose the ridge."""
    n_val = max(1, round(validation * n))
    if n - n_val < 1:
        raise ValueError(f"ridge regression needs at least 2 training images, got {n}")
    return n - n_val, n_val


def ridge_from_moments(
    m: _Moments, F_val: np.ndarray, Y_val: np.ndarray, F_test: np.ndarray, ridges: np.ndarray = RIDGES
) -> RidgeFit:
    """:func:`feature_ridge` from the moments ``m`` of the fitted rows (consumed: its Gram
    is overwritten) and the held-out rows ``F_val``, ``Y_val``."""
    n_fit, d = m.n, m.S.shape[0]
    m.center()
    values, vectors = np.linalg.eigh(m.S)
    values = np.maximum(values, 0.0)
    absolute = np.asarray(ridges) * _scale(values.sum(), n_fit)
    mu, ybar = m.means()
    scores = _spectral_scores(
        values,
        vectors,
        m.centered_cross(),
        lambda B: _affine(F_val, mu, B, np.tile(ybar, len(absolute))),
        absolute,
    )
    del vectors
    accuracy, mse, chosen = _choose(scores, Y_val)
    # The refit: the Gram of all training rows, from the fitted part's.
    m.center(sign=-1.0)
    m.add(F_val, Y_val)
    m.center()
    lam = ridges[chosen] * _scale(np.trace(m.S), m.n)
    m.S[np.diag_indices(d)] += lam
    beta = np.linalg.solve(m.S, m.centered_cross())
    del m.S
    mu, ybar = m.means()
    return RidgeFit(np.asarray(ridges), accuracy, mse, chosen, _affine(F_test, mu, beta, ybar))


def center_kernel(K: np.ndarray, K_test: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """The kernel of the features centered by their training mean: ``K`` (train ×
    train) and ``K_test`` (test × train) as ``⟨φ(x) − μ, φ(x') − μ⟩``."""
    rows = K.mean(axis=0)
    total = rows.mean()
    Kc = K - rows[:, None] - rows[None, :] + total
    if K_test is None:
        return Kc, None
    return Kc, K_test - K_test.mean(axis=1, keepdims=True) - rows[None, :] + total


def kernel_ridge(
    K: np.ndarray,
    K_test: np.ndarray,
    Y: np.ndarray,
    ridges: np.ndarray = RIDGES,
    validation: float = VALIDATION,
) -> RidgeFit:
    """:func:`feature_ridge` in the dual, from the kernel alone: ``K`` the training Gram
    ``(n, n)`` (rows in the same order as ``Y``: the last ``validation`` share holds out),
    ``K_test`` ``(n_test, n)``. With ``K = FFᵀ`` it gives :func:`feature_ridge`'s fit
    (the push-through identity), the intercept by centering the kernel."""
    n = len(K)
    n_fit, _ = split(n, validation)
    Kc, Kv = center_kernel(K[:n_fit, :n_fit], K[n_fit:, :n_fit])
    values, vectors = np.linalg.eigh(Kc)
    values = np.maximum(values, 0.0)
    absolute = np.asarray(ridges) * _scale(values.sum(), n_fit)
    ybar = Y[:n_fit].mean(axis=0)
    scores = _spectral_scores(
        values, vectors, Y[:n_fit] - ybar, lambda A: Kv @ A + np.tile(ybar, len(absolute)), absolute
    )
    accuracy, mse, chosen = _choose(scores, Y[n_fit:])
    Kc, Kt = center_kernel(K, K_test)
    lam = ridges[chosen] * _scale(np.trace(Kc), n)
    ybar = Y.mean(axis=0)
    alpha = np.linalg.solve(Kc + lam * np.eye(n), Y - ybar)
    return RidgeFit(np.asarray(ridges), accuracy, mse, chosen, Kt @ alpha + ybar)


# --------------------------------------------------------------------------- the studies


def peak_memory_mib() -> float:
    """The process's peak resident memory so far (``ru_maxrss``), in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB elsewhere


@dataclass(frozen=True)
class Dataset:
    name: str  # "mnist": the CSV's dataset column and file stem
    file: str  # "mnist.npz"
    title: str  # "MNIST"
    scale: float  # pixel scale before standardisation


MNIST = Dataset("mnist", "mnist.npz", "MNIST", 1 / 255)
CIFAR10 = Dataset("cifar10", "cifar10.npz", "CIFAR-10", 1 / 255)


def run(
    dataset: Dataset,
    out: Path,
    net: nk.CNN,
    dim: int,
    *,
    n_train: int | None = None,
    n_test: int | None = None,
    zca: bool = False,
    virtual: int = 0,
    widths: list[tuple[int, int]] | None = None,
    kind: str = "ntk",
    seed: int = 0,
    data: Path | None = None,
    ridges: np.ndarray = RIDGES,
    progress: bool = False,
    study: str = "features",
) -> dict[str, object]:
    """Features of ``dim`` dimensions of ``net`` (``widths``: per-layer ``(m, s)`` instead
    of the default rule) for ``n_train`` random training and ``n_test`` random test images
    (None: all), ridge regression on them (:func:`feature_ridge`), test accuracy.
    ``virtual``: that many one-pixel translations of each fitted training image join the
    fit (:class:`Virtual`; the held-out and test images are not translated). Prints
    each phase and writes ``{stem}.csv`` (one row, returned) and ``{stem}_ridge.csv``
    (the validation accuracy of every ridge) into ``out``, ``stem`` the ``study`` name
    with underscores."""
    if isinstance(virtual, bool) or not isinstance(virtual, (int, np.integer)) or virtual < 0:
        raise ValueError(f"virtual must be a count of copies (an int >= 0), got {virtual!r}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    stem = study.replace("-", "_")
    start = time.perf_counter()
    x_train, y_train, x_test, y_test = load(data, dataset.file)
    classes = int(max(y_train.max(), y_test.max())) + 1
    x_train, y_train = subset(x_train, y_train, n_train, seed)
    x_test, y_test = subset(x_test, y_test, n_test, seed + 1)
    # Built first: a dim that does not fit the network fails before the preprocessing.
    fm = net.feature_map(dim, kind=kind, seed=seed, input_shape=x_train.shape[1:], widths=widths)
    # The preprocessing is fitted on the images that fit the readout, not on the held-out
    # ones: the validation images are then new to it, as the test images are, and choose
    # the ridge honestly (ZCA fitted on fewer images than pixels whitens its own training
    # images differently from new ones).
    n_fit, n_val = split(len(x_train))
    prep = fit_preprocess(x_train[:n_fit], dataset.scale, zca=zca)
    times = {"load": time.perf_counter() - start}
    shape = "x".join(map(str, x_train.shape[1:]))
    print(f"{study}: {dataset.title}, {len(x_train)} train / {len(x_test)} test images of {shape}")
    print(f"network: {net}")
    print(f"features: kind {fm.kind}, dim {fm.dim}, seed {fm.seed}, widths (m, s) per layer {fm.widths()}")
    print(f"preprocessing: {prep.describe()}")
    if virtual:
        print(f"virtual examples: {virtual} one-pixel translation(s) of each of the {n_fit} fitted images")
    print(f"load: {times['load']:.1f} s (reading and fitting the preprocessing)")

    # The fitted images' features go into the Gram chunk by chunk (never held: at 60 000
    # images and dim 8192 they would be 2 GB); the held-out and test ones are kept.
    t = time.perf_counter()
    Y = one_hot(y_train, classes)
    fitted = Virtual(x_train[:n_fit], virtual, seed + 2) if virtual else x_train[:n_fit]
    Y_fitted = np.tile(Y[:n_fit], (1 + virtual, 1))
    moments = _Moments(fm.dim, classes)
    gram = 0.0
    for i, part in chunks(fm, fitted, prep, label="features train", progress=progress):
        g = time.perf_counter()
        moments.add(part, Y_fitted[i : i + len(part)])
        gram += time.perf_counter() - g
    F_val = transform(fm, x_train[n_fit:], prep, label="features held-out", progress=progress)
    times["features train"] = time.perf_counter() - t - gram
    print(
        f"features train: {times['features train']:.1f} s "
        f"({times['features train'] / (len(fitted) + n_val) * 1e3:.2f} ms per image)"
    )
    t = time.perf_counter()
    F_test = transform(fm, x_test, prep, label="features test", progress=progress)
    times["features test"] = time.perf_counter() - t
    print(f"features test: {times['features test']:.1f} s")

    t = time.perf_counter()
    fit = ridge_from_moments(moments, F_val, Y[n_fit:], F_test, ridges)
    times["fit"] = time.perf_counter() - t + gram
    print(
        f"fit: {times['fit']:.1f} s (Gram {gram:.1f} s; ridge {fit.ridge:.0e} × mean diagonal, chosen on {n_val} held-out "
        f"training images: validation accuracy {100 * fit.accuracy:.2f} %)"
    )
    t = time.perf_counter()
    predicted = fit.scores.argmax(axis=1)
    accuracy = float((predicted == y_test).mean())
    times["predict"] = time.perf_counter() - t
    print(f"predict: {times['predict']:.2f} s")
    peak = peak_memory_mib()
    print(f"peak memory: {peak:.0f} MiB")
    print(f"test accuracy: {100 * accuracy:.2f} %")

    row = {
        "dataset": dataset.name,
        "n_train": len(x_train),
        "n_test": len(x_test),
        "dim": fm.dim,
        "kind": fm.kind,
        "seed": fm.seed,
        "network": repr(net),
        "widths": str(fm.widths()),
        "preprocessing": prep.describe(),
        "ridge": fit.ridge,
        "validation_accuracy": fit.accuracy,
        "test_accuracy": accuracy,
        "time_load_s": times["load"],
        "time_features_train_s": times["features train"],
        "time_features_test_s": times["features test"],
        "time_fit_s": times["fit"],
        "time_predict_s": times["predict"],
        "peak_memory_mib": peak,
        "threads": nk.get_num_threads(),
        "virtual": virtual,
    }
    write_csv(out / f"{stem}.csv", {k: [v] for k, v in row.items()})
    write_csv(
        out / f"{stem}_ridge.csv",
        {
            "ridge": fit.ridges,
            "validation_accuracy": fit.validation_accuracy,
            "validation_mse": fit.validation_mse,
        },
    )
    print(f"{study}: CSV in {out} ({time.perf_counter() - start:.0f} s)")
    return row


def main(run: Callable, out: Path, quick: bool, *, dim: int | None, quick_widths: list, **options) -> None:
    """A study's command: ``run`` (its module's) on the whole dataset, or with ``quick``
    on ``QUICK_TRAIN`` / ``QUICK_TEST`` images with ``quick_widths`` (or ``dim``)."""
    if quick:
        widths = None if dim else quick_widths
        run(out, dim=dim, widths=widths, n_train=QUICK_TRAIN, n_test=QUICK_TEST, progress=False, **options)
    else:
        run(out, dim=dim, **options)


# --------------------------------------------------------------------------- features against the exact kernel

#: The network of the comparison, on MNIST averaged to 14×14 (2×2 boxes): the exact
#: kernel's cost grows as the square of the first layer's positions (12×12 here, 24×24
#: at full resolution: 16× dearer), and a few thousand images need ~10⁷ pairs.
EXACT_NET = nk.CNN(
    [nk.Layer(3, padding="valid", pool=nk.Pool.gaussian(2)), nk.Layer(3, pool=nk.Pool.global_average())]
)


def _halve(x: np.ndarray) -> np.ndarray:
    """Images averaged over 2×2 boxes (odd edges dropped), float64."""
    n, h, w, c = x.shape
    x = x[:, : h // 2 * 2, : w // 2 * 2].astype(np.float64)
    return x.reshape(n, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


@dataclass
class Images:
    """A comparison's data: preprocessed images and labels, and how to name them."""

    title: str
    preprocessing: str
    X: np.ndarray
    y: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray


def mnist_halved(n_train: int, n_test: int, data: Path | None = None) -> Images:
    """``n_train``/``n_test`` random MNIST images averaged to 14×14, standardised."""
    x_train, y_train, x_test, y_test = load(data, MNIST.file)
    x_train, y_train = subset(x_train, y_train, n_train, 0)
    x_test, y_test = subset(x_test, y_test, n_test, 1)
    x_train, x_test = _halve(x_train), _halve(x_test)
    prep = fit_preprocess(x_train, MNIST.scale)
    title = f"MNIST 14×14, {n_train} train / {n_test} test"
    return Images(title, f"2x2 box average, {prep.describe()}", prep(x_train), y_train, prep(x_test), y_test)


def digits(n_train: int = 1000, n_test: int = 797) -> Images:
    """scikit-learn's 8×8 digits as the demo splits them (1000 train, the other 797 test;
    the first ``n_train`` and ``n_test`` of each)."""
    X, y, tr, te = _demo.digits()
    tr, te = tr[:n_train], te[:n_test]
    title = f"digits 8×8, {n_train} train / {n_test} test"
    return Images(title, "pixels / 16", X[tr], y[tr], X[te], y[te])


def compare(
    out: Path,
    images: Images,
    *,
    dims: list[int],
    seeds: int,
    net: nk.CNN = EXACT_NET,
    kind: str = "ntk",
    ridges: np.ndarray = RIDGES,
    study: str = "features-exact",
) -> list[dict[str, object]]:
    """Test accuracy of features of each ``dim`` (``seeds`` draws each) against the exact
    kernel's, with the same ridge scheme (:func:`kernel_ridge`, on ``FFᵀ`` for the
    features: the dual is cheaper than ``dim²`` for a few thousand images, and the same
    estimator), on ``images``. Also the relative Frobenius error of ``FFᵀ`` against the
    exact training Gram. Writes ``{stem}.csv`` and ``{stem}.png``, ``stem`` the
    ``study`` name with underscores."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    stem = study.replace("-", "_")
    start = time.perf_counter()
    X, X_test, y_test = images.X, images.X_test, images.y_test
    Y = one_hot(images.y, int(max(images.y.max(), y_test.max())) + 1)
    print(f"{study}: {images.title} images")
    print(f"network: {net}, kind {kind}")
    print(f"preprocessing: {images.preprocessing}")

    t = time.perf_counter()
    K = net.kernel(X, kind=kind)
    K_test = net.kernel(X_test, X, kind=kind)
    fit = kernel_ridge(K, K_test, Y, ridges)
    exact = float((fit.scores.argmax(axis=1) == y_test).mean())
    seconds = time.perf_counter() - t
    print(f"exact kernel: test accuracy {100 * exact:.2f} % (ridge {fit.ridge:.0e}, {seconds:.1f} s)")
    rows = [
        {
            "method": "exact",
            "dim": None,
            "seed": None,
            "ridge": fit.ridge,
            "validation_accuracy": fit.accuracy,
            "test_accuracy": exact,
            "kernel_error": 0.0,
            "time_s": seconds,
        }
    ]
    norm = np.linalg.norm(K)
    for dim in dims:
        for seed in range(seeds):
            t = time.perf_counter()
            fm = net.feature_map(dim, kind=kind, seed=seed, input_shape=X.shape[1:])
            F = fm.transform(X).astype(np.float64)
            F_test = fm.transform(X_test).astype(np.float64)
            K_F = F @ F.T
            fit = kernel_ridge(K_F, F_test @ F.T, Y, ridges)
            accuracy = float((fit.scores.argmax(axis=1) == y_test).mean())
            error = float(np.linalg.norm(K_F - K) / norm)
            seconds = time.perf_counter() - t
            print(
                f"features dim {dim:6d} seed {seed}: test accuracy {100 * accuracy:.2f} %, "
                f"Gram error {error:.3f} (ridge {fit.ridge:.0e}, {seconds:.1f} s)"
            )
            rows.append(
                {
                    "method": "features",
                    "dim": dim,
                    "seed": seed,
                    "ridge": fit.ridge,
                    "validation_accuracy": fit.accuracy,
                    "test_accuracy": accuracy,
                    "kernel_error": error,
                    "time_s": seconds,
                }
            )
    write_csv(out / f"{stem}.csv", {k: [r[k] for r in rows] for k in rows[0]})
    _plot_compare(rows, out / f"{stem}.png", images.title)
    print(f"{study}: figure and CSV in {out} ({time.perf_counter() - start:.0f} s)")
    return rows


def _plot_compare(rows: list[dict], path: Path, title: str) -> None:
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    feats = [r for r in rows if r["method"] == "features"]
    exact = next(r for r in rows if r["method"] == "exact")
    dims = sorted({r["dim"] for r in feats})
    acc = np.array([[r["test_accuracy"] for r in feats if r["dim"] == d] for d in dims]) * 100
    err = np.array([[r["kernel_error"] for r in feats if r["dim"] == d] for d in dims])
    for d, a in zip(dims, acc):
        left.scatter([d] * len(a), a, s=12, color="C0", alpha=0.5)
    left.plot(dims, acc.mean(axis=1), "o-", color="C0", label="random features (mean over seeds)")
    left.axhline(100 * exact["test_accuracy"], color="k", ls="--", label="exact kernel")
    left.set(xscale="log", xlabel="feature dimension", ylabel="test accuracy (%)")
    left.set_xticks(dims, [str(d) for d in dims])
    left.set_xticks([], minor=True)
    left.set_title(f"Ridge regression, {title}", fontsize=10)
    left.legend(fontsize=8)
    mean = np.sqrt((err**2).mean(axis=1))
    right.scatter(np.repeat(dims, err.shape[1]), err.ravel(), s=12, color="C1", alpha=0.5)
    slope = loglog_slope(dims, mean) if len(dims) > 1 else math.nan
    right.plot(dims, mean, "o-", color="C1", label=f"RMS over seeds (slope {slope:.2f})")
    guide = np.array([dims[0], dims[-1]], dtype=float)
    right.plot(guide, mean[0] * (guide / guide[0]) ** -0.5, ":", color="gray", label="dim^-1/2")
    right.set(xscale="log", yscale="log", xlabel="feature dimension", ylabel="‖FFᵀ − K‖ / ‖K‖")
    right.set_xticks(dims, [str(d) for d in dims])
    right.set_xticks([], minor=True)
    right.set_title("Gram error on the training images", fontsize=10)
    right.legend(fontsize=8)
    save(fig, path)

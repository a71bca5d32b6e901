"""The finite-width network of spec §1 in NumPy: the object the kernels are limits of.

:class:`FiniteCNN` draws the weights of ``net`` at given widths and computes its
outputs, the gradients of its outputs with respect to every weight (a hand-written
backward pass through patch extraction, ReLU and pooling), its empirical kernels
``⟨∇f(x), ∇f(x')⟩`` (NTK) and readout-only kernel (RF), and trains it by full-batch
gradient descent on the squared loss. It exists to check the analytic kernels and the
predictions of :mod:`ntk_rs.predict` against the network they describe.

Patch extraction and pooling are linear maps along each spatial axis, stored as small
matrices built once from the network description and applied with ``tensordot``:
the backward pass applies their transposes.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .network import CNN, Layer, _positive_int, as_signals, check_kind
from .predict import _nonnegative


def patch_operator(length: int, size: int, padding: str) -> np.ndarray:
    """``M`` of shape ``(out, size, length)`` with ``(M a)[i, o] = a[i + v_o] / sqrt(size)``
    (zero where it reads padding): one axis of spec §3's patch extraction."""
    if padding == "valid":
        if size > length:
            raise ValueError(f"a 'valid' patch of size {size} does not fit an axis of length {length}")
        offsets, out = np.arange(size), length - size + 1
    else:
        offsets, out = np.arange(size) - (size - 1) // 2, length
    i, o = np.meshgrid(np.arange(out), np.arange(size), indexing="ij")
    src = i + offsets[o]
    if padding == "circular":
        src %= length
    keep = (src >= 0) & (src < length)
    M = np.zeros((out, size, length))
    M[i[keep], o[keep], src[keep]] = 1.0 / math.sqrt(size)
    return M


def pooling_operator(length: int, h: Sequence[float], stride: int, wrap: bool) -> np.ndarray:
    """``A`` of shape ``(ceil(length / stride), length)`` with
    ``(A z)[i] = Σ_j h[j] z[stride·i + j − (len(h) − 1)//2]``; an empty ``h`` is the mean."""
    if not h:
        return np.full((1, length), 1.0 / length)
    h = np.asarray(h, dtype=np.float64)
    i, j = np.meshgrid(np.arange(math.ceil(length / stride)), np.arange(len(h)), indexing="ij")
    src = stride * i + j - (len(h) - 1) // 2
    if wrap:
        src %= length
    keep = (src >= 0) & (src < length)
    A = np.zeros((i.shape[0], length))
    np.add.at(A, (i[keep], src[keep]), h[j[keep]])
    return A


def _apply(A: np.ndarray, a: np.ndarray, axis: int) -> np.ndarray:
    """``A`` (out, in) applied along ``axis`` of ``a``."""
    return np.moveaxis(np.tensordot(A, a, axes=(1, axis)), 0, axis)


def _flat(a: np.ndarray, keep: int) -> np.ndarray:
    """``a`` with axes ``1 … ndim−2`` merged (``keep = 1``: positions) or all but the
    first merged (``keep = 0``), also when ``a`` is empty."""
    if keep:
        return a.reshape(a.shape[0], math.prod(a.shape[1:-1]), a.shape[-1])
    return a.reshape(a.shape[0], math.prod(a.shape[1:]))


def _matmul(a: np.ndarray, B: np.ndarray) -> np.ndarray:
    """``a @ B`` over the last axis of ``a`` as one 2-D product (one BLAS call)."""
    return (a.reshape(-1, a.shape[-1]) @ B).reshape(*a.shape[:-1], B.shape[1])


@dataclass(frozen=True)
class _Stage:
    """One layer's linear maps at fixed input grid: patch operators, pooling matrices."""

    patches: tuple[np.ndarray, ...]  # one (out, s, in) per spatial axis
    pools: tuple[np.ndarray, ...]  # one (out, in) per spatial axis
    size: int  # |S|

    @classmethod
    def build(cls, layer: Layer, grid: tuple[int, ...], index: int) -> _Stage:
        sizes = layer.patch_sizes(len(grid), index)
        try:
            patches = tuple(patch_operator(L, s, layer.padding) for L, s in zip(grid, sizes))
        except ValueError as e:
            raise ValueError(f"layer {index}: {e}") from None
        pool = layer.pool
        h = () if pool.is_global else pool.h
        wrap = layer.padding == "circular"
        pools = tuple(pooling_operator(M.shape[0], h, pool.stride, wrap) for M in patches)
        return cls(patches, pools, math.prod(sizes))

    @property
    def out_grid(self) -> tuple[int, ...]:
        return tuple(A.shape[0] for A in self.pools)

    def extract(self, a: np.ndarray) -> np.ndarray:
        """Patches of ``a`` (n, *grid, m) as (n, *patch_grid, |S|·m)."""
        for axis, M in enumerate(self.patches, start=1):
            a = np.moveaxis(np.tensordot(M, a, axes=(2, axis)), [0, 1], [axis, -2])
        d = len(self.patches)
        return a.reshape(*a.shape[: d + 1], math.prod(a.shape[d + 1 :]))

    def extract_adjoint(self, p: np.ndarray, channels: int) -> np.ndarray:
        """The transpose of :meth:`extract`: from (n, *patch_grid, |S|·m) to (n, *grid, m)."""
        d = len(self.patches)
        p = p.reshape(*p.shape[: d + 1], *(M.shape[1] for M in self.patches), channels)
        for axis in range(d, 0, -1):
            M = self.patches[axis - 1]
            p = np.moveaxis(np.tensordot(M, p, axes=([0, 1], [axis, -2])), 0, axis)
        return p

    def pool(self, z: np.ndarray) -> np.ndarray:
        for axis, A in enumerate(self.pools, start=1):
            z = _apply(A, z, axis)
        return z

    def pool_adjoint(self, a: np.ndarray) -> np.ndarray:
        for axis, A in enumerate(self.pools, start=1):
            a = _apply(A.T, a, axis)
        return a


@dataclass
class _Forward:
    """What the backward pass needs from a forward pass."""

    patches: list[np.ndarray]  # (n, *grid_k, |S_k| m_{k-1}) per layer
    pre: list[np.ndarray]  # pre-activations ã^k, (n, *grid_k, m_k)
    last: np.ndarray  # a^K, (n, *grid_K, m_K)
    out: np.ndarray  # f, (n, outputs)


@dataclass(frozen=True)
class Trajectory:
    """Outputs recorded during :meth:`FiniteCNN.train`: ``train[i]`` (and ``test[i]``)
    are the outputs after ``steps[i]`` gradient steps, shape ``(len(steps), n, outputs)``."""

    steps: np.ndarray
    train: np.ndarray
    test: np.ndarray | None


def _widths(widths: object, depth: int) -> tuple[int, ...]:
    if isinstance(widths, (int, np.integer)) and not isinstance(widths, bool):
        widths = (widths,) * depth
    try:
        widths = tuple(widths)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"widths must be an integer or a sequence of integers, got {widths!r}") from None
    if len(widths) != depth:
        raise ValueError(f"widths must have one entry per layer ({depth}), got {len(widths)}")
    return tuple(_positive_int(m, "widths") for m in widths)


class FiniteCNN:
    """The network ``net`` of spec §1 at finite widths, with i.i.d. N(0, 1) weights.

    ``widths`` is one int for every layer or one per layer; ``input_shape`` is the shape
    of one signal, channels last (``(c,)``, ``(L, c)`` or ``(H, W, c)``); ``outputs`` is
    the number of readouts (independent ``w``, one per output); ``seed`` is anything
    :func:`numpy.random.default_rng` takes. ``params`` is the list
    ``[W¹, …, Wᴷ, w]`` with ``Wᵏ`` of shape ``(m_k, |S_k|·m_{k−1})`` acting on flattened
    patches (positions first, channels last) and ``w`` of shape
    ``(outputs, *final_grid, m_K)``.
    """

    def __init__(self, net: CNN, widths, input_shape, outputs: int = 1, seed=None) -> None:
        if not isinstance(net, CNN):
            raise TypeError(f"net must be a CNN, got {net!r}")
        self.net = net
        self.widths = _widths(widths, len(net))
        try:
            shape = tuple(operator.index(s) for s in input_shape)
        except TypeError:
            raise TypeError(f"input_shape must be a tuple of integers, got {input_shape!r}") from None
        if not 1 <= len(shape) <= 3 or min(shape) < 1:
            raise ValueError(f"input_shape must be (c,), (L, c) or (H, W, c) with sizes >= 1, got {shape}")
        self.input_shape = shape
        self.outputs = _positive_int(outputs, "outputs")
        grid, stages = shape[:-1], []
        for k, layer in enumerate(net.layers):
            stages.append(_Stage.build(layer, grid, k))
            grid = stages[-1].out_grid
        self._stages = stages
        rng = np.random.default_rng(seed)
        fan_in = (shape[-1], *self.widths[:-1])
        self.params = [
            rng.standard_normal((m, st.size * c)) for m, st, c in zip(self.widths, stages, fan_in)
        ] + [rng.standard_normal((self.outputs, *grid, self.widths[-1]))]
        #: sqrt(2 / m_{k−1}) before each layer (1 for the first) and before the readout.
        self.scales = (1.0, *(math.sqrt(2.0 / m) for m in self.widths))

    def __repr__(self) -> str:
        return (
            f"FiniteCNN({self.net!r}, widths={self.widths}, input_shape={self.input_shape}, "
            f"outputs={self.outputs})"
        )

    def _signals(self, X, name: str) -> np.ndarray:
        X = as_signals(X, name)
        if X.shape[1:] != self.input_shape:
            raise ValueError(f"{name} must hold signals of shape {self.input_shape}, got {X.shape[1:]}")
        return X

    def _forward(self, X: np.ndarray) -> _Forward:
        patches, pre, a = [], [], X
        for stage, W, scale in zip(self._stages, self.params, self.scales):
            p = stage.extract(a)
            z = scale * _matmul(p, W.T)
            patches.append(p)
            pre.append(z)
            a = stage.pool(np.maximum(z, 0.0))
        w = self.params[-1]
        out = self.scales[-1] * (_flat(a, 0) @ _flat(w, 0).T)
        return _Forward(patches, pre, a, out)

    def _backward(self, fw: _Forward, cotangent: np.ndarray):
        """Yields ``(k, δ)`` from the last layer down, ``δ = ∂⟨cotangent, f⟩/∂ãᵏ`` per signal."""
        w = self.params[-1]
        da = self.scales[-1] * (cotangent @ _flat(w, 0)).reshape(fw.last.shape)
        for k in range(len(self._stages) - 1, -1, -1):
            stage, z = self._stages[k], fw.pre[k]
            delta = stage.pool_adjoint(da) * (z > 0)  # relu'(0) = 0
            yield k, delta
            if k:
                dp = self.scales[k] * _matmul(delta, self.params[k])
                da = stage.extract_adjoint(dp, self.widths[k - 1])

    def __call__(self, X) -> np.ndarray:
        """Outputs ``f(X)``, shape ``(n, outputs)``."""
        return self._forward(self._signals(X, "X")).out

    def gradient(self, X, cotangent) -> list[np.ndarray]:
        """``∇_θ Σ_i ⟨cotangent_i, f(x_i)⟩`` for every array of :attr:`params`
        (``cotangent`` of shape ``(n, outputs)``): the gradient of the squared loss
        when ``cotangent = f(X) − Y``, one signal's gradient when it is one-hot."""
        X = self._signals(X, "X")
        return self._gradient(self._forward(X), self._targets(cotangent, len(X), "cotangent"))

    def _gradient(self, fw: _Forward, cotangent: np.ndarray) -> list[np.ndarray]:
        grads = [self.scales[-1] * np.tensordot(cotangent, fw.last, axes=(0, 0))]
        for k, delta in self._backward(fw, cotangent):
            p = fw.patches[k]
            grads.append(self.scales[k] * (delta.reshape(-1, delta.shape[-1]).T @ p.reshape(-1, p.shape[-1])))
        return grads[:0:-1] + grads[:1]

    def _targets(self, Y, n: int, name: str) -> np.ndarray:
        try:
            Y = np.asarray(Y, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"{name} must be a numeric array") from None
        if Y.ndim == 1 and self.outputs == 1:
            Y = Y[:, None]
        if Y.shape != (n, self.outputs):
            raise ValueError(f"{name} must have shape ({n}, {self.outputs}), got {Y.shape}")
        if not np.isfinite(Y).all():
            raise ValueError(f"{name} contains NaN or infinity")
        return Y

    def _features(self, X: np.ndarray, output: int):
        """Per layer ``(δ, patches)`` as (n, positions, ·), then the readout's input (n, ·)."""
        fw = self._forward(X)
        cot = np.zeros((len(X), self.outputs))
        cot[:, output] = 1.0
        feats = [(_flat(delta, 1), _flat(fw.patches[k], 1)) for k, delta in self._backward(fw, cot)]
        return feats[::-1], _flat(fw.last, 0)

    def kernel(self, X, Z=None, kind: str = "ntk", output: int = 0):
        """Empirical kernels of output ``output``, with the contract of
        :meth:`ntk_rs.CNN.kernel`: ``"ntk"`` is ``⟨∇_θ f(x), ∇_θ f(z)⟩`` over all weights,
        ``"rf"`` the same over the readout ``w`` only, ``"both"`` the pair ``(ntk, rf)``.

        Cost: per layer, two Gram matrices over all (signal, position) pairs.
        """
        kind = check_kind(kind)
        if isinstance(output, bool) or not isinstance(output, (int, np.integer)):
            raise TypeError(f"output must be an integer, got {output!r}")
        if not 0 <= output < self.outputs:
            raise ValueError(f"output must be in [0, {self.outputs}), got {output}")
        X = self._signals(X, "X")
        fx, lx = self._features(X, output)
        if Z is None or Z is X:
            Z, fz, lz = X, fx, lx
        else:
            Z = self._signals(Z, "Z")
            fz, lz = self._features(Z, output)
        rf = self.scales[-1] ** 2 * (lx @ lz.T)
        ntk = rf.copy()
        for scale, (dx, px), (dz, pz) in zip(self.scales, fx, fz):
            prod = np.tensordot(dx, dz, axes=(2, 2)) * np.tensordot(px, pz, axes=(2, 2))  # (n, U, m, U)
            ntk += scale**2 * prod.sum(axis=(1, 3))
        return {"ntk": ntk, "rf": rf, "both": (ntk, rf)}[kind]

    def train(self, X, Y, lr: float, steps: int, record=None, X_test=None) -> Trajectory:
        """Full-batch gradient descent on ``½ Σ_i ‖f(x_i) − y_i‖²``:
        ``θ ← θ − lr ∇_θ``, ``steps`` times, updating :attr:`params` in place.

        Records the outputs on ``X`` (and ``X_test``) before the steps listed in
        ``record`` (default every step, ``0 … steps``); step ``s`` of rate ``lr`` matches
        time ``t = s`` of :func:`ntk_rs.predict.gradient_flow` at the same ``lr``.
        """
        X = self._signals(X, "X")
        Y = self._targets(Y, len(X), "Y")
        lr = _nonnegative(lr, "lr", allow_zero=False)
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)):
            raise TypeError(f"steps must be an integer, got {steps!r}")
        if steps < 0:
            raise ValueError(f"steps must be >= 0, got {steps}")
        record = np.arange(steps + 1) if record is None else np.unique(np.asarray(record))
        if record.size == 0 or record.dtype.kind not in "iu" or record[0] < 0 or record[-1] > steps:
            raise ValueError(f"record must be non-empty integers in [0, steps={steps}]")
        X_test = None if X_test is None else self._signals(X_test, "X_test")
        train, test, keep = [], [], set(record.tolist())
        for s in range(steps + 1):
            fw = self._forward(X)
            if s in keep:
                train.append(fw.out)
                if X_test is not None:
                    test.append(self._forward(X_test).out)
            if s == steps:
                break
            for param, g in zip(self.params, self._gradient(fw, fw.out - Y)):
                np.subtract(param, lr * g, out=param)
        return Trajectory(record, np.array(train), None if X_test is None else np.array(test))

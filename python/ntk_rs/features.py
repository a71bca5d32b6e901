"""Random feature maps ``Φ_D(x)`` whose inner products approach the exact kernels:
``⟨Φ_D(x), Φ_D(x')⟩ ≈ net.kernel(x, x')`` (``docs/features.md``).

Bietti & Mairal (2019) write the CNN kernels as inner products of the maps
``x_k = A φ1(P x_{k−1})`` and ``y_k = A (φ0(P x_{k−1}) ⊗ P y_{k−1}, x_k)``. The map
here keeps the patches ``P`` and the pooling ``A`` exact and replaces φ1, φ0 by
arc-cosine random features (Cho & Saul 2009) of antithetic orthogonal directions
(Yu et al. 2016), and the tensor product by a TensorSketch (Pham & Pagh 2013).

This module chooses the widths, draws the random numbers from a seed with NumPy,
checks what users pass, and calls the compiled engine (``_core.features``), which
is a deterministic function of the draws. ``ntk_rs.reference_features`` computes
the same features in plain NumPy.
"""

from __future__ import annotations

import math
import operator
import threading
from collections.abc import Sequence

import numpy as np

from . import _core
from .network import (
    CNN,
    _positive_int,
    _writing,
    as_signals,
    check_dtype,
    check_kind,
    check_shape,
)
from .progress import Progress

Widths = list[tuple[int, int]]


# --------------------------------------------------------------------------- geometry


def grids(net: CNN, grid: tuple[int, ...]) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """Per layer ``(patch grid, pooled grid)`` for inputs on ``grid``, with the
    engine's refusals (spec §5): a ``valid`` patch larger than its grid, a
    ``circular`` patch or pooling filter longer than its grid."""
    current = tuple(grid)
    out = []
    for k, layer in enumerate(net.layers):
        sizes = layer.patch_sizes(len(current), k)
        if layer.padding == "valid":
            for length, s in zip(current, sizes):
                if s > length:
                    raise ValueError(
                        f"layer {k}: a 'valid' patch of size {s} does not fit a grid of length {length} "
                        f"(grid {list(current)}); the output would be empty"
                    )
            patched = tuple(length - s + 1 for length, s in zip(current, sizes))
        else:
            if layer.padding == "circular":
                for length, s in zip(current, sizes):
                    if s > length:
                        raise ValueError(
                            f"layer {k}: a 'circular' patch of size {s} is longer than the grid it reads "
                            f"(length {length}, grid {list(current)}) and would read positions twice; "
                            f"use a patch of at most {length}"
                        )
            patched = current
        pool = layer.pool
        if layer.padding == "circular" and not pool.is_global:
            taps = len(pool.h)
            for length in patched:
                if taps > length:
                    raise ValueError(
                        f"layer {k}: a 'circular' pooling filter of {taps} taps is longer than the grid it "
                        f"pools (length {length}) and would read positions twice; use at most {length} taps"
                    )
        pooled = (1,) * len(patched) if pool.is_global else tuple(-(-n // pool.stride) for n in patched)
        out.append((patched, pooled))
        current = pooled
    return out


def _known_positions(net: CNN) -> int | None:
    """``P_f`` where it does not depend on the inputs' grid: 1 after a global
    average pooling (every later grid has one position), else None."""
    return 1 if any(layer.pool.is_global for layer in net.layers) else None


# --------------------------------------------------------------------------- widths


def widths(
    net: CNN, dim: int, kind: str, final_positions: int, final_grid: tuple[int, ...] | None = None
) -> Widths:
    """Per layer ``(m_k, s_k)`` (RF features, NTK sketch size) of features of
    length ``dim`` for a network keeping ``final_positions`` positions (``P_f``)
    on its final grid (``final_grid``, for the message).

    The final layer takes ``w = dim / P_f`` per position (``P_f`` must divide
    ``dim``): ``s_K = w // 2``, ``m_K = w − s_K`` for the NTK (so
    ``P_f (s_K + m_K) = dim``), ``m_K = w`` for the RF kernel. Intermediate layers
    get ``m_k = max(64, 32 · round(dim / 256))`` and ``s_k = min(4 m_k, 4096)``
    (0 for the RF kernel); the rule lives in the engine (``features::widths``). Why (design study, ``docs/features.md``): the error is
    set by the intermediate widths and falls as ``dim^-1/2``; an eighth of ``dim``
    balances their cost with the final layer's under global pooling, and the
    sketches enter no matrix product (count sketches and FFTs), so four times the
    RF width costs little and lowers the NTK error most. Without global pooling
    (``P_f > 1``) the per-position width ``w`` sets the error: choose ``dim``
    accordingly, or pass ``widths=``.
    """
    kind = check_kind(kind)
    grid = None if final_grid is None else list(final_grid)
    return [tuple(w) for w in _core.feature_widths(len(net.layers), final_positions, grid, dim, kind)]


def _check_widths(value: object, net: CNN, kind: str) -> tuple[tuple[int, int], ...]:
    """User-given widths: one ``(m, s)`` per layer, ``m ≥ 1``, ``s ≥ 1`` unless ``kind`` is "rf"."""
    if isinstance(value, str | bytes) or not isinstance(value, Sequence | np.ndarray):
        raise TypeError(f"widths must be a sequence of (m, s) pairs, one per layer, got {value!r}")
    pairs = list(value)
    if len(pairs) != len(net.layers):
        raise ValueError(f"widths: the network has {len(net.layers)} layer(s), got {len(pairs)} (m, s) pairs")
    out = []
    for k, pair in enumerate(pairs):
        try:
            m, s = pair
        except (TypeError, ValueError):
            raise TypeError(f"widths[{k}] must be a pair (m, s), got {pair!r}") from None
        m = _positive_int(m, f"widths[{k}] (m)")
        if not isinstance(s, bool) and _is_zero(s):
            if kind != "rf":
                raise ValueError(
                    f"widths[{k}] (s) must be >= 1 for kind={kind!r} (the NTK sketch); s = 0 is for kind='rf'"
                )
            s = 0
        else:
            s = _positive_int(s, f"widths[{k}] (s)")
        out.append((m, s))
    return tuple(out)


def _is_zero(value: object) -> bool:
    try:
        return operator.index(value) == 0
    except TypeError:
        return False


# --------------------------------------------------------------------------- draws


def orthogonal_directions(rng: np.random.Generator, d: int, count: int) -> np.ndarray:
    """``(d, count)`` directions: blocks of at most ``d`` orthonormal columns (QR
    of a Gaussian ``d × b`` block, each column's sign fixed by ``sign(diag R)``,
    which makes the block Haar-distributed), scaled to norm ``sqrt(d)``: the
    "orthogonal random features" of Yu et al. 2016 with fixed norms. Every
    column is a uniform direction, and the arc-cosine features are positively
    homogeneous in it, so each feature stays unbiased; orthogonality within a
    block lowers the variance."""
    blocks = []
    left = count
    while left > 0:
        b = min(d, left)
        q, r = np.linalg.qr(rng.standard_normal((d, b)))
        blocks.append(q * np.where(np.diagonal(r) < 0, -1.0, 1.0))
        left -= b
    return np.ascontiguousarray(np.concatenate(blocks, axis=1) * math.sqrt(d))


def draw(seed: int, net: CNN, input_shape: tuple[int, ...], widths: Sequence[tuple[int, int]]) -> list:
    """The draws of every layer, as ``_core.features`` takes them:
    ``(W, m, s, bucket1, sign1, bucket2, sign2)`` (the last four None when ``s = 0``).

    ``np.random.SeedSequence(seed).spawn(K)`` gives one stream per layer, which
    draws in this order: ``W`` (``orthogonal_directions(dp, ceil(m/2))``, ``dp =
    |S_k| c_x``), ``bucket1`` (``m`` ints in ``[0, s)``), ``sign1`` (``m`` of
    ±1.0), ``bucket2`` and ``sign2`` (``dq = |S_k| (c_τ + c_x)`` each). The draws
    depend on the input channels and dimensionality (through ``dp``, ``dq``) and
    the widths, not on the grid; the same NumPy gives the same numbers (QR may
    round differently on another LAPACK).
    """
    dims, channels = len(input_shape) - 1, input_shape[-1]
    _check_draw_memory(net, dims, channels, widths)
    streams = np.random.SeedSequence(seed).spawn(len(net.layers))
    cx, ct = channels, 0
    out = []
    for k, (layer, (m, s), stream) in enumerate(zip(net.layers, widths, streams)):
        rng = np.random.default_rng(stream)
        taps = math.prod(layer.patch_sizes(dims, k))
        dp, dq = taps * cx, taps * (cx + ct)
        W = orthogonal_directions(rng, dp, -(-m // 2))
        if s > 0:
            b1 = rng.integers(0, s, size=m, dtype=np.int64)
            s1 = 2.0 * rng.integers(0, 2, size=m) - 1.0
            b2 = rng.integers(0, s, size=dq, dtype=np.int64)
            s2 = 2.0 * rng.integers(0, 2, size=dq) - 1.0
            out.append((W, m, s, b1, s1, b2, s2))
        else:
            out.append((W, m, 0, None, None, None, None))
        cx, ct = m, s
    return out


def _check_draw_memory(net: CNN, dims: int, channels: int, widths: Sequence[tuple[int, int]]) -> None:
    """A ``MemoryError`` naming the widths, before drawing, where the draws (float64
    directions, their QR blocks, int64 buckets) would not fit in the memory available."""
    total, cx, ct = 0, channels, 0
    for k, (layer, (m, s)) in enumerate(zip(net.layers, widths)):
        taps = math.prod(layer.patch_sizes(dims, k))
        dp, dq = taps * cx, taps * (cx + ct)
        # W, plus one Gaussian block and its QR factors while it is drawn.
        total += 8 * (dp * -(-m // 2) + 3 * dp * min(dp, -(-m // 2))) + (16 * (m + dq) if s else 0)
        cx, ct = m, s
    free = _core.available_memory()
    if free is not None and total > free:
        raise MemoryError(
            f"the random draws of this feature map need about {total / 2**30:.1f} GiB but "
            f"{free / 2**30:.1f} GiB is available (widths {list(widths)}); use a smaller dim or widths"
        )


def _seed(value: object) -> int:
    if value is None:
        # A fresh seed, kept: a pickled or copied map gives the same features.
        return int(np.random.SeedSequence().entropy) % 2**63
    if isinstance(value, bool):
        raise TypeError(f"seed must be a non-negative integer or None, got {value!r}")
    try:
        seed = operator.index(value)
    except TypeError:
        raise TypeError(f"seed must be a non-negative integer or None, got {value!r}") from None
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    return seed


def _input_shape(value: object) -> tuple[int, ...]:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence | np.ndarray):
        raise TypeError(f"input_shape must be a tuple (grid lengths, then channels), got {value!r}")
    shape = tuple(_positive_int(s, "input_shape", maximum=2**32 - 2) for s in value)
    check_shape((1, *shape), "input_shape")
    return shape


# --------------------------------------------------------------------------- the map


class FeatureMap:
    """An explicit random feature map of ``net``'s NTK or RF kernel; build it with
    :meth:`ntk_rs.CNN.feature_map`.

    ``fm.transform(X)`` returns features ``F`` with ``F Fᵀ ≈ net.kernel(X, kind=kind)``;
    maps with the same arguments and seed give the same features. The map is an
    immutable value: it stores its arguments and seed, draws its random numbers
    when first needed for an input shape (keeping them), and pickles without them.
    """

    __slots__ = (
        "_cache",
        "_dim",
        "_dtype",
        "_fixed",
        "_input_shape",
        "_kind",
        "_lock",
        "_net",
        "_normalize",
        "_seed",
        "_widths",
    )

    def __init__(
        self,
        net: CNN,
        dim: int | None,
        kind: str = "ntk",
        seed: int | None = None,
        dtype: str = "float32",
        *,
        input_shape: Sequence[int] | None = None,
        widths: Sequence[tuple[int, int]] | None = None,
        normalize: bool = True,
    ) -> None:
        if not isinstance(net, CNN):
            raise TypeError(f"net must be an ntk_rs.CNN, got {type(net).__name__}")
        kind = check_kind(kind)
        given = None if widths is None else _check_widths(widths, net, kind)
        if dim is None:
            if given is None:
                raise TypeError("dim must be an integer (it may be None only with widths=)")
        else:
            dim = _positive_int(dim, "dim")
        if not isinstance(normalize, bool | np.bool_):
            raise TypeError(f"normalize must be True or False, got {normalize!r}")
        shape = None if input_shape is None else _input_shape(input_shape)
        put = object.__setattr__
        put(self, "_net", net)
        put(self, "_dim", dim)
        put(self, "_kind", kind)
        put(self, "_seed", _seed(seed))
        put(self, "_dtype", check_dtype(dtype))
        put(self, "_input_shape", shape)
        put(self, "_widths", given)
        put(self, "_normalize", bool(normalize))
        put(self, "_cache", {})
        put(self, "_lock", threading.Lock())
        # Where the final grid is known now, so are the widths: check them here, not at transform.
        fixed = None
        if shape is not None:
            fixed = self._plan(shape)
        elif (positions := _known_positions(net)) is not None:
            fixed = self._resolve(positions, None)
        put(self, "_fixed", fixed)

    # ---------------------------------------------------------------- the value

    @property
    def net(self) -> CNN:
        return self._net

    @property
    def kind(self) -> str:
        return self._kind

    @property
    def seed(self) -> int:
        """The seed of the draws (the one drawn at construction where ``seed=None`` was passed)."""
        return self._seed

    @property
    def dtype(self) -> str:
        """The precision of the computation and of the features."""
        return self._dtype

    @property
    def input_shape(self) -> tuple[int, ...] | None:
        """The shape of one signal the map takes, or None for any the network fits."""
        return self._input_shape

    @property
    def normalize(self) -> bool:
        return self._normalize

    @property
    def dim(self):
        """The length of the features: an int, and ``(ntk_dim, rf_dim)`` for ``kind="both"``.
        Entries that depend on the inputs' grid are None until ``input_shape`` fixes it
        (only without global average pooling: the RF part of "both", or all of it with
        ``widths=`` and no ``dim``)."""
        if self._fixed is not None:
            ntk, rf = self._fixed[1]
        else:
            ntk, rf = (None, self._dim) if self._kind == "rf" else (self._dim, None)
        return (ntk, rf) if self._kind == "both" else ntk if self._kind == "ntk" else rf

    def _key(self) -> tuple:
        return (
            self._net,
            self._dim,
            self._kind,
            self._seed,
            self._dtype,
            self._input_shape,
            self._widths,
            self._normalize,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FeatureMap):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(
            f"a FeatureMap is immutable (cannot set {name!r}); build another with net.feature_map(...)"
        )

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"a FeatureMap is immutable (cannot delete {name!r})")

    def __reduce__(self):
        # The arguments and the seed, never the draws: they are regenerated where unpickled.
        return (_rebuild, self._key())

    def __repr__(self) -> str:
        args = [repr(self._net)]
        args.append(f"dim={self._dim!r}")
        args.append(f"kind={self._kind!r}")
        args.append(f"seed={self._seed!r}")
        args.append(f"dtype={self._dtype!r}")
        if self._input_shape is not None:
            args.append(f"input_shape={self._input_shape!r}")
        if self._widths is not None:
            args.append(f"widths={list(self._widths)!r}")
        if not self._normalize:
            args.append("normalize=False")
        return f"FeatureMap({', '.join(args)})"

    # ---------------------------------------------------------------- widths and draws

    def _resolve(self, positions: int, final_grid: tuple[int, ...] | None):
        """``(widths, (ntk_dim, rf_dim))`` for a network keeping ``positions`` final positions."""
        if self._widths is None:
            w = tuple(widths(self._net, self._dim, self._kind, positions, final_grid))
        else:
            w = self._widths
        m, s = w[-1]
        dims = (positions * (m + s), positions * m)
        got = dims[1] if self._kind == "rf" else dims[0]
        if self._dim is not None and got != self._dim:
            raise ValueError(
                f"dim: widths={list(w)} give features of length {got} (final grid of {positions} "
                f"position(s)), got dim={self._dim}; pass dim={got} or dim=None"
            )
        return w, dims

    def _plan(self, shape: tuple[int, ...]):
        """``(widths, (ntk_dim, rf_dim))`` for signals of ``shape``, checking that the network fits them."""
        self._net.engine_layers(len(shape) - 1)  # patch ranks: the messages of net.kernel
        final = grids(self._net, shape[:-1])[-1][1]
        return self._resolve(math.prod(final), final)

    def _shape(self, input_shape) -> tuple[int, ...]:
        if input_shape is None:
            if self._input_shape is None:
                raise ValueError(
                    "input_shape: this map takes signals of any shape the network fits, and its draws "
                    "depend on the channels (and its widths on the final grid): pass input_shape"
                )
            return self._input_shape
        shape = _input_shape(input_shape)
        if self._input_shape is not None and shape != self._input_shape:
            raise ValueError(f"input_shape must be the map's {self._input_shape}, got {shape}")
        return shape

    def widths(self, input_shape: Sequence[int] | None = None) -> Widths:
        """Per layer ``(m_k, s_k)``: RF features and NTK sketch size (see :func:`widths`),
        for signals of ``input_shape`` (default: the map's)."""
        if input_shape is None and self._fixed is not None:
            return list(self._fixed[0])
        if input_shape is None and self._widths is not None:
            return list(self._widths)
        return list(self._plan(self._shape(input_shape))[0])

    def draws(self, input_shape: Sequence[int] | None = None) -> tuple:
        """The random numbers for signals of ``input_shape`` (default: the map's), as
        ``_core.features`` and ``ntk_rs.reference_features`` take them (see :func:`draw`).
        A tuple of read-only arrays, kept by the map."""
        shape = self._shape(input_shape)
        return self._draws(shape, self._plan(shape)[0])

    def _draws(self, shape: tuple[int, ...], w: tuple) -> tuple:
        key = (len(shape) - 1, shape[-1], w)
        with self._lock:
            found = self._cache.get(key)
            if found is None:
                found = tuple(draw(self._seed, self._net, shape, w))
                for layer in found:
                    for a in layer:
                        if isinstance(a, np.ndarray):
                            a.flags.writeable = False
                self._cache[key] = found
        return found

    # ---------------------------------------------------------------- features

    def transform(self, X, *, out=None, progress=False, batch=None):
        """The features of the signals ``X`` (shapes as ``net.kernel``'s; channels last),
        shape ``(n, dim)`` in the map's dtype; a tuple ``(ntk, rf)`` for ``kind="both"``.

        ``out``: write into this C-contiguous array of the map's dtype and shape ``(n, dim)``
        (a tuple for "both"; a ``numpy.memmap`` is fine) and return it. ``progress``:
        ``True`` for a tqdm bar, or a callable ``f(images_done, images_total)``. ``batch``:
        images per batch of the engine (default: automatic); the features do not depend on
        it nor on the thread count. Ctrl-C stops the call; ``MemoryError`` before allocating
        where the working memory would not fit.
        """
        X = as_signals(X, "X")
        shape = X.shape[1:]
        if self._input_shape is not None and shape != self._input_shape:
            raise ValueError(
                f"X must hold signals of shape {self._input_shape} (the map's input_shape), got {shape}"
            )
        batch = 0 if batch is None else _positive_int(batch, "batch")
        layers = self._net.engine_layers(X.ndim - 2)
        w, (ntk_dim, rf_dim) = self._fixed if self._fixed is not None else self._plan(shape)
        if self._fixed is not None and self._input_shape is None:
            grids(self._net, shape[:-1])  # a global pooling fixed P_f; the network must still fit X
        n = len(X)
        kind = self._kind
        shapes = ((n, ntk_dim), (n, rf_dim))
        if out is None:
            outs = tuple(
                np.empty(shp, dtype=self._dtype) if kind in (k, "both") else None
                for k, shp in zip(("ntk", "rf"), shapes)
            )
            given = ()
        else:
            outs = _check_out(out, kind, shapes, self._dtype, X)
            given = tuple(o for o in outs if o is not None)
        draws = self._draws(shape, w)
        with _writing(given, (X, None)), Progress(progress, n, unit="image") as report:
            _core.features(
                layers,
                X,
                draws,
                kind,
                self._normalize,
                self._dtype,
                *outs,
                batch,
                report if report.active else None,
            )
        ntk, rf = outs
        return (ntk, rf) if kind == "both" else ntk if kind == "ntk" else rf


def _rebuild(net, dim, kind, seed, dtype, input_shape, widths, normalize) -> FeatureMap:
    return FeatureMap(
        net, dim, kind, seed, dtype, input_shape=input_shape, widths=widths, normalize=normalize
    )


def _check_out(out: object, kind: str, shapes: tuple, dtype: str, X: np.ndarray) -> tuple:
    """``out`` as the engine's ``(ntk, rf)`` pair (one of them None unless ``kind`` is
    "both"): writeable, aligned, C-contiguous arrays of ``dtype`` and the features'
    shapes that share no memory with ``X`` or each other (``network.check_out``'s messages)."""
    if kind == "both":
        if not (isinstance(out, tuple) and len(out) == 2):
            raise TypeError(
                f"out must be a tuple (ntk, rf) of two arrays for kind='both', got {type(out).__name__}"
            )
        named = (("out[0]", out[0], shapes[0]), ("out[1]", out[1], shapes[1]))
    else:
        named = (("out", out, shapes[0] if kind == "ntk" else shapes[1]),)
    for k, (name, arr, shape) in enumerate(named):
        if not isinstance(arr, np.ndarray):
            raise TypeError(
                f"{name} must be a numpy array (a numpy.memmap or a view is fine), got {type(arr).__name__}"
            )
        if arr.dtype != np.dtype(dtype):
            raise TypeError(
                f"{name} must have dtype {dtype} (native byte order), the feature map's, got {arr.dtype}"
            )
        if arr.shape != shape:
            raise ValueError(f"{name} must have shape {shape}, got {arr.shape}")
        if not arr.flags.writeable:
            raise ValueError(f"{name} is read-only")
        if not arr.flags.aligned:
            raise ValueError(f"{name} is not aligned (a memmap's offset must be a multiple of the item size)")
        if not arr.flags.c_contiguous:
            raise ValueError(
                f"{name} must be C-contiguous (row-major, e.g. from np.empty), got a strided view"
            )
        if np.shares_memory(arr, X):
            raise ValueError(f"{name} shares memory with X")
        for other_name, other, _ in named[:k]:
            if np.shares_memory(arr, other):
                raise ValueError(f"{name} shares memory with {other_name}")
    if kind == "both":
        return out
    return (out, None) if kind == "ntk" else (None, out)

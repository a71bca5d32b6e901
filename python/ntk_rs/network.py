"""Network descriptions (immutable values) and the checks on what users pass.

A :class:`CNN` is a tuple of :class:`Layer`; each layer has a patch size, a
padding mode and a :class:`Pool`. The conventions are those of spec §1–3:
patches are centred boxes normalised by ``1/|S|``, pooling is a 1-D filter
applied separably along every spatial axis.
"""

from __future__ import annotations

import math
import operator
import threading
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal, Union

import numpy as np

from . import _core, memory
from .progress import Progress

Padding = Literal["same", "valid", "circular"]
Kind = Literal["ntk", "rf", "both"]
Dtype = Literal["float64", "float32"]
PADDINGS = ("same", "valid", "circular")
KINDS = ("ntk", "rf", "both")
DTYPES = ("float64", "float32")
#: A layer as the compiled engine takes it: patch sizes, padding, pooling filter
#: (None for global average pooling) and stride.
EngineLayer = tuple[tuple[int, ...], str, tuple[float, ...] | None, int]


def _positive_int(value: object, name: str, maximum: int = 2**62) -> int:
    """``value`` as an int from 1 to ``maximum``, or a TypeError/ValueError naming ``name``."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    try:
        n = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {value!r}") from None
    if n < 1:
        raise ValueError(f"{name} must be >= 1, got {n}")
    if n > maximum:
        raise ValueError(f"{name} must be at most {maximum}, got {n}")
    return n


@dataclass(frozen=True, repr=False)
class Pool:
    """A linear pooling operator; build one with the named constructors.

    Equal pools describe the same operator: ``Pool.gaussian(2)`` equals
    ``Pool.gaussian(2, sigma=2 / sqrt(2))``.
    """

    kind: str
    params: tuple

    @classmethod
    def identity(cls) -> Pool:
        """No pooling: ``h = [1]``, stride 1."""
        return cls("identity", ())

    @classmethod
    def average(cls, size: int, stride: int | None = None) -> Pool:
        """Box filter ``h = [1/size] * size`` with ``stride`` (default ``size``)."""
        size = _positive_int(size, "size")
        stride = size if stride is None else _positive_int(stride, "stride")
        return cls("average", (("size", size), ("stride", stride)))

    @classmethod
    def gaussian(cls, stride: int, sigma: float | None = None) -> Pool:
        """Gaussian filter on ``j = -stride..stride`` (default ``sigma = stride/sqrt(2)``),
        normalised to sum 1, then subsampling by ``stride``: Bietti & Mairal's
        anti-aliasing pooling."""
        stride = _positive_int(stride, "stride")
        sigma = stride / math.sqrt(2) if sigma is None else _positive_float(sigma, "sigma")
        return cls("gaussian", (("stride", stride), ("sigma", sigma)))

    @classmethod
    def strided(cls, stride: int) -> Pool:
        """Subsampling only: ``h = [1]`` with ``stride``."""
        return cls("strided", (("stride", _positive_int(stride, "stride")),))

    @classmethod
    def global_average(cls) -> Pool:
        """The grid collapses to one position holding the mean."""
        return cls("global_average", ())

    @classmethod
    def filter(cls, h: Iterable[float], stride: int = 1) -> Pool:
        """Any non-negative 1-D filter ``h``, centred at ``(len(h) - 1) // 2``."""
        try:
            arr = np.asarray(h, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"h must be a 1-D sequence of numbers, got {h!r}") from None
        if arr.ndim != 1 or arr.size == 0:
            raise ValueError(f"h must be a non-empty 1-D filter, got shape {arr.shape}")
        if not np.isfinite(arr).all():
            raise ValueError(f"h must be finite, got {arr.tolist()}")
        if (arr < 0).any():
            raise ValueError(f"h must be non-negative, got {arr.tolist()}")
        stride = _positive_int(stride, "stride")
        return cls("filter", (("h", tuple(arr.tolist())), ("stride", stride)))

    @property
    def is_global(self) -> bool:
        return self.kind == "global_average"

    @property
    def stride(self) -> int:
        """Subsampling factor (1 for global pooling, which has no grid left)."""
        return dict(self.params).get("stride", 1)

    @property
    def h(self) -> tuple[float, ...]:
        """The 1-D filter (empty for global pooling)."""
        p = dict(self.params)
        if self.kind in ("identity", "strided"):
            return (1.0,)
        if self.kind == "average":
            return (1.0 / p["size"],) * p["size"]
        if self.kind == "gaussian":
            s, sigma = p["stride"], p["sigma"]
            # j/σ first: a tiny σ gives zeros off the centre (j/σ overflows to
            # infinity, never 0/0), the limit of the filter.
            w = [math.exp(-0.5 * (j / sigma) * (j / sigma)) for j in range(-s, s + 1)]
            total = math.fsum(w)
            return tuple(v / total for v in w)
        if self.kind == "filter":
            return p["h"]
        return ()

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params)
        return f"Pool.{self.kind}({args})"


def _positive_float(value: object, name: str) -> float:
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number, got {value!r}") from None
    if not (math.isfinite(x) and x > 0):
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")
    return x


PatchSize = Union[None, int, "tuple[int, ...]"]
NO_POOLING = Pool.identity()


@dataclass(frozen=True, repr=False)
class Layer:
    """One convolutional layer: patch extraction, ReLU, pooling.

    ``patch`` is ``None`` (a single position: fully connected, the only
    choice for vector inputs), an int ``s`` (an ``s × … × s`` box) or a
    tuple with one size per spatial axis.
    """

    patch: PatchSize = None
    padding: Padding = "same"
    pool: Pool = NO_POOLING

    def __post_init__(self) -> None:
        patch = self.patch
        if patch is not None:
            if isinstance(patch, (tuple, list)):
                patch = tuple(_positive_int(s, "patch") for s in patch)
                if not patch:
                    raise ValueError("patch must have at least one size, or be None")
            else:
                patch = _positive_int(patch, "patch")
            object.__setattr__(self, "patch", patch)
        if self.padding not in PADDINGS:
            raise ValueError(f"padding must be one of {PADDINGS}, got {self.padding!r}")
        if not isinstance(self.pool, Pool):
            raise TypeError(f"pool must be a Pool (e.g. Pool.average(2)), got {self.pool!r}")

    def patch_sizes(self, dims: int, index: int = 0) -> tuple[int, ...]:
        """Patch size along each of ``dims`` spatial axes."""
        if self.patch is None:
            return (1,) * dims
        if dims == 0:
            raise ValueError(
                f"layer {index}: patch must be None for vector inputs (no spatial axes), got {self.patch!r}"
            )
        if isinstance(self.patch, int):
            return (self.patch,) * dims
        if len(self.patch) != dims:
            raise ValueError(
                f"layer {index}: patch {self.patch!r} has {len(self.patch)} sizes but the "
                f"inputs have {dims} spatial axes"
            )
        return self.patch

    def __repr__(self) -> str:
        args = []
        if self.patch is not None:
            args.append(f"patch={self.patch!r}")
        if self.padding != "same":
            args.append(f"padding={self.padding!r}")
        if self.pool != NO_POOLING:
            args.append(f"pool={self.pool!r}")
        return f"Layer({', '.join(args)})"


def check_shape(shape: tuple[int, ...], name: str) -> None:
    """Signals are arrays of 2 to 4 dimensions, channels last, non-empty but for their number."""
    if not 2 <= len(shape) <= 4:
        raise ValueError(
            f"{name} must have shape (n, c), (n, L, c) or (n, H, W, c) (channels last), "
            f"got {len(shape)} dimension(s) with shape {shape}"
        )
    if any(s == 0 for s in shape[1:]):
        raise ValueError(f"{name}: every axis but the first must be non-empty, got shape {shape}")


def as_float64(value: object, name: str) -> np.ndarray:
    """``value`` as a float64 array (not copied when it already is one), or a
    TypeError naming ``name`` for non-numeric data."""
    if isinstance(value, np.ndarray) and value.dtype == np.float64:
        return value
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{name} must be a numeric array: {e}") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    return arr.astype(np.float64, copy=False)


def as_signals(X: object, name: str, offset: int = 0) -> np.ndarray:
    """``X`` as an aligned float64 array of 2 to 4 dimensions with finite
    values, without copying when it already is one. ``offset``: the index of
    ``X``'s first signal in a larger input, for the messages."""
    arr = as_float64(X, name)
    if not arr.flags.aligned:  # e.g. a memmap at an odd offset: the engine reads aligned floats
        arr = arr.copy()
    check_shape(arr.shape, name)
    check_finite(arr, name, offset)
    return arr


#: Bytes of input checked at a time for NaN and infinity.
_CHECK_BYTES = 8 << 20


def check_finite(arr: np.ndarray, name: str, offset: int = 0) -> None:
    """ValueError naming ``name`` and the first non-finite value's index (the
    first axis counted from ``offset``), checking a few MiB at a time: no
    temporary as large as the input."""
    step = max(1, _CHECK_BYTES // max(1, arr[:1].nbytes))
    for i in range(0, len(arr), step):
        part = arr[i : i + step]
        if not np.isfinite(part).all():
            bad = np.argwhere(~np.isfinite(part))[0]
            index = (offset + i + int(bad[0]), *(int(j) for j in bad[1:]))
            raise ValueError(f"{name} contains NaN or infinity (first at index {index})")


def check_out(out: object, kind: str, shape: tuple[int, int], inputs: tuple) -> tuple:
    """``out`` as the engine's ``(ntk, rf)`` pair of writeable float64
    arrays of ``shape`` (one of them None unless ``kind`` is "both")."""
    if kind == "both":
        if not (isinstance(out, tuple) and len(out) == 2):
            raise TypeError(
                f"out must be a tuple (ntk, rf) of two arrays for kind='both', got {type(out).__name__}"
            )
        named = (("out[0]", out[0]), ("out[1]", out[1]))
    else:
        named = (("out", out),)
    for k, (name, arr) in enumerate(named):
        if not isinstance(arr, np.ndarray):
            raise TypeError(
                f"{name} must be a numpy array (a numpy.memmap or a view is fine), got {type(arr).__name__}"
            )
        if arr.dtype != np.float64:
            raise TypeError(f"{name} must have dtype float64 (native byte order), got {arr.dtype}")
        if arr.shape != shape:
            raise ValueError(f"{name} must have shape {shape}, got {arr.shape}")
        if not arr.flags.writeable:
            raise ValueError(f"{name} is read-only")
        if not arr.flags.aligned:
            raise ValueError(f"{name} is not aligned to 8 bytes (a memmap's offset must be a multiple of 8)")
        others = [("X", inputs[0]), ("Z", inputs[1]), *named[:k]]
        for other_name, other in others:
            if other is not None and np.shares_memory(arr, other):
                raise ValueError(f"{name} shares memory with {other_name}")
    if kind == "both":
        return out
    return (out, None) if kind == "ntk" else (None, out)


#: The caller-provided outputs that calls in progress are writing, and its lock.
_WRITTEN: list[np.ndarray] = []
_WRITTEN_LOCK = threading.Lock()


@contextmanager
def _writing(outs: tuple, inputs: tuple):
    """Registers ``outs`` as written for the duration of a call: ``ValueError``
    naming ``out`` where a call in progress (in another thread) writes the same
    memory, and naming ``X`` or ``Z`` where it writes memory this call reads."""
    with _WRITTEN_LOCK:
        for name, arr in (("out", o) for o in outs):
            if any(np.shares_memory(arr, other) for other in _WRITTEN):
                raise ValueError(
                    f"{name} is being written by another call in progress (another thread): "
                    "give each concurrent call its own out"
                )
        for name, arr in zip(("X", "Z"), inputs):
            if arr is not None and any(np.shares_memory(arr, other) for other in _WRITTEN):
                raise ValueError(f"{name} shares memory with the out of another call in progress")
        _WRITTEN.extend(outs)
    try:
        yield
    finally:
        with _WRITTEN_LOCK:
            _WRITTEN[:] = [w for w in _WRITTEN if not any(w is o for o in outs)]


def check_kind(kind: object) -> str:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    return kind  # type: ignore[return-value]


def check_dtype(dtype: object) -> str:
    """The name of the precision ``dtype`` asks for: ``"float64"`` or ``"float32"``
    (NumPy dtypes and their aliases are accepted)."""
    if isinstance(dtype, str) and dtype in DTYPES:  # without NumPy's parsing (3 µs a call)
        return dtype
    if dtype is None or isinstance(dtype, bool):
        raise TypeError(f"dtype must be 'float64' or 'float32', got {dtype!r}")
    try:
        name = np.dtype(dtype).name  # type: ignore[call-overload]
    except TypeError:
        if isinstance(dtype, str):
            raise ValueError(f"dtype must be 'float64' or 'float32', got {dtype!r}") from None
        raise TypeError(f"dtype must be 'float64' or 'float32', got {dtype!r}") from None
    if name not in DTYPES:
        raise ValueError(f"dtype must be 'float64' or 'float32', got {dtype!r}")
    return name


def check_pair(X: np.ndarray, Z: np.ndarray) -> None:
    """X and Z must describe signals of the same kind and shape."""
    if X.ndim != Z.ndim:
        raise ValueError(
            f"X and Z must have the same number of spatial axes, got shapes {X.shape} and {Z.shape}"
        )
    if X.shape[-1] != Z.shape[-1]:
        raise ValueError(f"X has {X.shape[-1]} channels but Z has {Z.shape[-1]}")
    if X.shape[1:-1] != Z.shape[1:-1]:
        raise ValueError(f"X and Z must have the same spatial shape, got {X.shape[1:-1]} and {Z.shape[1:-1]}")


@dataclass(frozen=True, repr=False)
class CNN:
    """A deep convolutional ReLU network, described by its layers.

    Its kernels are those of the infinitely wide network of spec §1: the
    neural tangent kernel (``"ntk"``) and the random-feature kernel of
    training only the readout (``"rf"``).
    """

    layers: tuple[Layer, ...]

    def __init__(self, layers: Iterable[Layer]) -> None:
        if isinstance(layers, Layer) or not isinstance(layers, Iterable) or isinstance(layers, str | bytes):
            raise TypeError(f"layers must be a sequence of Layer, e.g. CNN([Layer(patch=3)]), got {layers!r}")
        layers = tuple(layers)
        if not layers:
            raise ValueError("layers: a network needs at least one layer")
        for k, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"layers[{k}] must be a Layer, got {layer!r}")
        object.__setattr__(self, "layers", layers)

    def __reduce__(self):
        return (CNN, (self.layers,))

    def __repr__(self) -> str:
        return f"CNN([{', '.join(map(repr, self.layers))}])"

    def __len__(self) -> int:
        return len(self.layers)

    def engine_layers(self, dims: int) -> tuple[EngineLayer, ...]:
        """The layers as the compiled engine takes them, for ``dims`` spatial axes:
        immutable, and kept per ``dims`` (building them was a tenth of the Python
        side of a small call)."""
        cache = self.__dict__.setdefault("_engine_layers", {})
        layers = cache.get(dims)
        if layers is None:
            layers = tuple(
                (
                    layer.patch_sizes(dims, k),
                    layer.padding,
                    None if layer.pool.is_global else tuple(layer.pool.h),
                    layer.pool.stride,
                )
                for k, layer in enumerate(self.layers)
            )
            cache[dims] = layers
        return layers

    def kernel(
        self,
        X,
        Z=None,
        kind: Kind = "ntk",
        dtype: Dtype = "float64",
        *,
        out=None,
        block_size=None,
        progress=False,
    ):
        """Gram matrix of the kernel between the signals of ``X`` and ``Z``.

        ``X`` has shape ``(n, c)`` (vectors), ``(n, L, c)`` (1-D) or
        ``(n, H, W, c)`` (2-D), channels last; ``Z`` likewise with ``m``
        signals, or ``None`` for ``X`` against itself (each unordered pair
        computed once and both triangles written, the diagonal without the
        precision loss of c = 1). ``kind`` is ``"ntk"``, ``"rf"`` or
        ``"both"`` (a tuple ``(ntk, rf)``). ``dtype`` is the precision of the
        computation: ``"float64"``, or ``"float32"`` (faster; relative error
        below 1e-3, see the README). Returns float64 arrays of shape
        ``(n, m)`` either way.

        ``out``: write into this float64 array of shape ``(n, m)`` (any
        strides; a ``numpy.memmap`` larger than memory is fine) and return
        it; a tuple ``(ntk, rf)`` for ``kind="both"``. ``block_size``: the
        work proceeds in blocks of this many signals a side, whose
        per-signal data bounds the working memory (default: blocks under
        1 GiB). ``progress``: ``True`` for a tqdm bar, or a callable
        ``f(pairs_done, pairs_total)``. Ctrl-C stops the call within a
        fraction of a second; entries already written to ``out`` are valid.
        Raises ``MemoryError`` before allocating when the estimated memory
        exceeds what is available, and ``ValueError`` where kernel values
        exceed float64's range (signals of any smaller scale are fine, in
        either ``dtype``).
        """
        kind = check_kind(kind)
        dtype = check_dtype(dtype)
        X = as_signals(X, "X")
        if Z is X:
            Z = None
        if Z is not None:
            Z = as_signals(Z, "Z")
            check_pair(X, Z)
        if block_size is not None:
            block_size = _positive_int(block_size, "block_size")
        layers = self.engine_layers(X.ndim - 2)
        n, m = len(X), len(X if Z is None else Z)
        outs = None if out is None else check_out(out, kind, (n, m), (X, Z))
        new_bytes = 0 if outs is not None else 8 * n * m * (2 if kind == "both" else 1)
        block = memory.plan(layers, X.shape[1:], dtype, n, m, block_size, new_bytes)
        if outs is None:
            outs = tuple(np.empty((n, m)) if kind in (k, "both") else None for k in ("ntk", "rf"))
        given = () if out is None else tuple(o for o in outs if o is not None)
        with _writing(given, (X, Z)), Progress(progress, n * (n + 1) // 2 if Z is None else n * m) as report:
            _core.kernel(layers, X, Z, *outs, block, dtype, report if report.active else None)
        return _pick(kind, outs)

    def kernel_diagonal(self, X, kind: Kind = "ntk", dtype: Dtype = "float64"):
        """``K(x_i, x_i)`` for every signal of ``X``, shape ``(n,)``, without the
        Gram matrix; equal, bit for bit, to ``np.diag(self.kernel(X, kind=kind, dtype=dtype))``."""
        kind = check_kind(kind)
        dtype = check_dtype(dtype)
        X = as_signals(X, "X")
        return _pick(kind, _core.kernel_diagonal(self.engine_layers(X.ndim - 2), X, kind, dtype))

    def norm(self, X, kind: Kind = "ntk"):
        """RKHS norms ``‖Φ(x_i)‖ = sqrt(K(x_i, x_i))`` of the signals of ``X``, shape ``(n,)``
        (a tuple ``(ntk, rf)`` for ``kind="both"``)."""
        return _per_kind(kind, np.sqrt, self.kernel_diagonal(X, kind))

    def distance(self, X, Z=None, kind: Kind = "ntk"):
        """RKHS distances ``‖Φ(x_i) − Φ(z_j)‖``, shape ``(n, m)`` (``Z=None``: ``X``
        against itself, zero diagonal), a tuple ``(ntk, rf)`` for ``kind="both"``.

        Computed from kernel values, ``sqrt(max(K(x,x) + K(z,z) − 2 K(x,z), 0))``, which
        cancels for nearly identical signals: measured on the two-layer kernels, pairs at
        an angle ≥ 1e-5 get distances to ~1e-6 relative, ~1e-7 to ~1e-2, and below ~1e-8
        (where the cosine rounds to 1) the result is noise. ``ntk_rs.sphere.two_layer_distance``
        is accurate at any angle.
        """
        K = self.kernel(X, Z, kind)
        dx = self.kernel_diagonal(X, kind)
        dz = dx if Z is None or Z is X else self.kernel_diagonal(Z, kind)
        return _per_kind(kind, _distances, K, dx, dz)

    def feature_map(
        self,
        dim,
        kind: Kind = "ntk",
        seed=None,
        dtype: Dtype = "float32",
        *,
        input_shape=None,
        widths=None,
        normalize=True,
    ):
        """A random feature map ``Φ`` into ``dim`` dimensions with ``⟨Φ(x), Φ(x')⟩ ≈
        self.kernel(x, x', kind)``: ``fm.transform(X)`` gives ``(n, dim)`` features (a
        tuple ``(ntk, rf)`` for ``kind="both"``; ``dim`` is the NTK one), linear in ``n``
        where the Gram matrix grows as ``n²``. See :class:`ntk_rs.features.FeatureMap`
        and ``docs/features.md``.

        ``seed``: an int, or ``None`` for a fresh one (kept by the map: ``fm.seed``).
        ``dtype``: the precision of the computation and the features. ``input_shape``:
        the shape of one signal, to fix the widths and draws now (otherwise they follow
        each input's shape; without global pooling the final grid's positions must
        divide ``dim``). ``widths``: per layer ``(m, s)`` instead of the default rule
        (``dim`` may then be None). ``normalize``: per-position norm matching (default;
        2–4× lower error, an ``O(1/m)`` bias); ``False`` gives exactly unbiased
        one-layer maps.
        """
        from .features import FeatureMap  # features imports this module

        if not (dim is None and widths is not None):
            dim = _positive_int(dim, "dim")
        return FeatureMap(
            self, dim, kind, seed, dtype, input_shape=input_shape, widths=widths, normalize=normalize
        )


def _distances(K: np.ndarray, dx: np.ndarray, dz: np.ndarray) -> np.ndarray:
    """``sqrt(max(dx_i + dz_j − 2 K_ij, 0))``; exactly 0 where ``K_ij = dx_i = dz_j``."""
    return np.sqrt(np.maximum(dx[:, None] + dz[None, :] - 2.0 * K, 0.0))


def _per_kind(kind: str, f, *results):
    """``f(*results)``, or for ``kind="both"`` (each result an ``(ntk, rf)`` pair) the pair
    of ``f`` on the NTK parts and on the RF parts."""
    return tuple(f(*parts) for parts in zip(*results)) if kind == "both" else f(*results)


def _pick(kind: str, results: tuple):
    """The engine's ``(ntk, rf)`` pair as ``kind`` asks for it."""
    ntk, rf = results
    if kind == "both":
        return ntk, rf
    return ntk if kind == "ntk" else rf

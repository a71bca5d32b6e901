"""Gram matrices as ``dask.array`` collections, for clusters (``pip install
'ntk_rs[dask]'``; dask is not a dependency of the core).

Each block of the result is one task that runs the Rust engine on a chunk of
``X`` and a chunk of ``Z`` with the GIL released, so threaded workers scale
as well as process workers; a symmetric Gram matrix computes each block
pair once and its lower blocks are transposes. The result is an ordinary
dask array: ``.compute()``, ``da.to_zarr``, ``da.store`` into a memmap, …

>>> from distributed import Client                          # doctest: +SKIP
>>> K = ntk_rs.dask.kernel(net, X, chunks=4096)             # doctest: +SKIP
>>> K.to_zarr("gram.zarr")                                  # doctest: +SKIP

:func:`features` transforms a dask array of signals with a random feature map,
one task per block of rows.
"""

from __future__ import annotations

import operator

import numpy as np

try:
    import dask
    import dask.array as da
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError("ntk_rs.dask needs dask: pip install 'ntk_rs[dask]'") from e

from . import memory
from .blocks import DEFAULT_BLOCK
from .features import FeatureMap
from .network import (
    CNN,
    Dtype,
    Kind,
    _positive_int,
    as_signals,
    check_dtype,
    check_kind,
    check_pair,
    check_shape,
)


def kernel(net: CNN, X, Z=None, chunks: int = DEFAULT_BLOCK, kind: Kind = "ntk", dtype: Dtype = "float64"):
    """The Gram matrix ``net.kernel(X, Z, kind, dtype)`` as a dask array (a tuple
    ``(ntk, rf)`` for ``kind="both"``) in blocks of ``chunks × chunks``
    signals; equal to it bit for bit.

    ``X`` and ``Z`` are NumPy arrays or dask arrays (for inputs that do not
    fit in the client's memory, e.g. ``da.from_zarr``); they are rechunked
    to ``chunks`` signals along the first axis and one chunk along the
    others. A task needs about ``8 · chunks²`` bytes per kind for its block
    plus the engine's per-signal data of ``2 · chunks`` signals.
    """
    if not isinstance(net, CNN):
        raise TypeError(f"net must be a CNN, got {type(net).__name__}")
    kind = check_kind(kind)
    dtype = check_dtype(dtype)
    chunks = _positive_int(chunks, "chunks")
    symmetric = Z is None or Z is X
    Xd = _signals(X, "X", chunks)
    Zd = Xd if symmetric else _signals(Z, "Z", chunks)
    check_pair(Xd, Zd)
    memory.footprint(net, Xd.shape[1:], dtype)  # a net that does not fit X fails here, not in a task
    tail = (0,) * (Xd.ndim - 1)
    token = tokenize(net, kind, dtype, Xd.name, Zd.name)
    blocks = f"ntk_rs-kernel-{token}"
    dsk = {}
    starts = [np.cumsum((0, *d.chunks[0][:-1])).tolist() for d in (Xd, Zd)]
    for i in range(Xd.numblocks[0]):
        for j in range(Zd.numblocks[0]):
            if symmetric and j < i:
                dsk[(blocks, i, j)] = (_mirror, (blocks, j, i))
            else:
                z = None if symmetric and i == j else (Zd.name, j, *tail)
                at = (starts[0][i], starts[1][j])
                dsk[(blocks, i, j)] = (_block, net, kind, dtype, (Xd.name, i, *tail), z, at)
    dependencies = [Xd] if symmetric else [Xd, Zd]
    out_chunks = (Xd.chunks[0], Zd.chunks[0])
    if kind != "both":
        return _array(blocks, dsk, dependencies, out_chunks)
    # Both kernels come from the same tasks; each array picks its part.
    parts = [
        {(f"ntk_rs-{part}-{token}", *key[1:]): (operator.getitem, key, index) for key in dsk}
        for index, part in enumerate(("ntk", "rf"))
    ]
    return tuple(_array(next(iter(p))[0], {**dsk, **p}, dependencies, out_chunks) for p in parts)


def _signals(X, name: str, chunks: int):
    """``X`` as a float64 dask array of ``chunks`` signals per chunk, one chunk along the other axes."""
    if not isinstance(X, da.Array):
        X = as_signals(X, name)
        return da.from_array(X, chunks=(chunks, *X.shape[1:]))
    check_shape(X.shape, name)
    if X.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {X.dtype}")
    return X.astype(np.float64).rechunk({0: chunks, **{a: -1 for a in range(1, X.ndim)}})


def _array(name: str, dsk: dict, dependencies: list, chunks: tuple):
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=dependencies)
    return da.Array(graph, name, chunks=chunks, dtype=np.float64, meta=np.empty((0, 0)))


def _block(net: CNN, kind: str, dtype: str, x: np.ndarray, z: np.ndarray | None, at: tuple[int, int]):
    """One block: ``x`` against ``z``, or against itself when ``z`` is None; ``at``: the
    index of their first signals in ``X`` and ``Z``, for the messages."""
    x = as_signals(x, "X", at[0])
    z = None if z is None else as_signals(z, "Z", at[1])
    return net.kernel(x, z, kind, dtype)


def _mirror(block):
    """The block below the diagonal from its mirror image above it."""
    return tuple(b.T for b in block) if isinstance(block, tuple) else block.T


def features(fm: FeatureMap, X, chunks: int | None = None):
    """``fm.transform(X)`` as a dask array of shape ``(n, fm.dim)`` and ``fm``'s dtype (a
    tuple ``(ntk, rf)`` for ``kind="both"``), equal to it bit for bit.

    ``X``: a dask array of signals (or a NumPy array), chunked along its first axis:
    one task transforms one block of rows (the other axes are rechunked to one chunk).
    ``chunks``: rows per block (default: ``X``'s own chunks; 4096 for NumPy inputs).
    The map travels to each worker once and draws its random numbers there once.
    """
    if not isinstance(fm, FeatureMap):
        raise TypeError(f"fm must be an ntk_rs.FeatureMap (net.feature_map(...)), got {type(fm).__name__}")
    if chunks is not None:
        chunks = _positive_int(chunks, "chunks")
    if isinstance(X, da.Array):
        check_shape(X.shape, "X")
        if X.dtype.kind not in "biuf":
            raise TypeError(f"X must hold real numbers, got dtype {X.dtype}")
        Xd = X.astype(np.float64).rechunk({0: chunks or X.chunks[0], **{a: -1 for a in range(1, X.ndim)}})
    else:
        X = as_signals(X, "X")
        Xd = da.from_array(X, chunks=(chunks or DEFAULT_BLOCK, *X.shape[1:]))
    shape = Xd.shape[1:]
    if fm.input_shape is not None and shape != fm.input_shape:
        raise ValueError(
            f"X must hold signals of shape {fm.input_shape} (the map's input_shape), got {shape}"
        )
    ntk_dim, rf_dim = fm._plan(shape)[1]  # a network or dim that does not fit X fails here, not in a task
    width = {"ntk": ntk_dim, "rf": rf_dim, "both": ntk_dim + rf_dim}[fm.kind]
    F = da.map_blocks(
        _features_block,
        Xd,
        dask.delayed(fm, pure=True),  # one key: each worker unpickles the map (and draws) once
        chunks=(Xd.chunks[0], (width,)),
        drop_axis=list(range(2, Xd.ndim)),
        dtype=np.dtype(fm.dtype),
        meta=np.empty((0, 0), dtype=fm.dtype),
        name=f"ntk_rs-features-{tokenize(fm, Xd.name)}",
    )
    return (F[:, :ntk_dim], F[:, ntk_dim:]) if fm.kind == "both" else F


def _features_block(x: np.ndarray, fm: FeatureMap, block_info=None) -> np.ndarray:
    """One block of rows; NaN and infinity are reported at their row in the whole ``X``."""
    x = as_signals(x, "X", block_info[0]["array-location"][0][0] if block_info else 0)
    out = fm.transform(x)
    return np.concatenate(out, axis=1) if fm.kind == "both" else out

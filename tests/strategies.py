"""Hypothesis strategies: random networks and the inputs they can take."""

import math

import numpy as np
from hypothesis import strategies as st

import ntk_rs as nk

PADDINGS = ("same", "valid", "circular")


@st.composite
def pools(draw):
    stride = st.integers(1, 3)
    return draw(
        st.one_of(
            st.just(nk.Pool.identity()),
            st.builds(nk.Pool.average, st.integers(1, 3), st.one_of(st.none(), stride)),
            st.builds(nk.Pool.gaussian, stride),
            st.builds(nk.Pool.strided, stride),
            st.just(nk.Pool.global_average()),
            st.builds(
                nk.Pool.filter,
                st.lists(st.sampled_from([0.0, 0.25, 0.5, 1.0, 1.5]), min_size=1, max_size=4),
                stride,
            ),
        )
    )


def _grid_after(grid, layer):
    sizes = layer.patch_sizes(len(grid))
    if layer.padding == "valid":
        grid = tuple(L - s + 1 for L, s in zip(grid, sizes))
    if layer.pool.is_global:
        return (1,) * len(grid)
    return tuple(math.ceil(L / layer.pool.stride) for L in grid)


@st.composite
def networks(draw, dims, grid, max_depth=4, max_patch=5):
    """A network of 1 to ``max_depth`` layers with patches of at most ``max_patch``
    positions per axis that inputs on ``grid`` fit: a 'valid' or 'circular' patch is
    shrunk to fit the grid it meets, and a 'circular' layer pools with a filter no longer
    than its grid (longer ones are refused, spec §5). 'same' patches and filters longer
    than the grid are kept: the engine clips them."""
    layers = []
    for _ in range(draw(st.integers(1, max_depth))):
        padding = draw(st.sampled_from(PADDINGS))
        if dims == 0:
            patch = None
        else:
            patch = draw(
                st.one_of(
                    st.none(),
                    st.integers(1, max_patch),
                    st.tuples(*[st.integers(1, max_patch)] * dims),
                )
            )
            if padding in ("valid", "circular") and patch is not None:
                sizes = (patch,) * dims if isinstance(patch, int) else patch
                patch = tuple(min(s, L) for s, L in zip(sizes, grid))
        pool = draw(pools())
        if padding == "circular" and dims and len(pool.h) > min(grid):
            pool = nk.Pool.strided(pool.stride)
        layer = nk.Layer(patch=patch, padding=padding, pool=pool)
        layers.append(layer)
        grid = _grid_after(grid, layer)
    return nk.CNN(layers)


@st.composite
def signals(draw, n, grid, channels):
    """``n`` signals with random values, zero regions and some all-zero signals."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, *grid, channels))
    for i in range(n):
        kind = draw(st.sampled_from(["dense", "zero-block", "sparse", "all-zero"]))
        if kind == "zero-block" and grid:
            lo = [rng.integers(0, L) for L in grid]
            hi = [rng.integers(a, L + 1) for a, L in zip(lo, grid)]
            X[(i, *[slice(a, b) for a, b in zip(lo, hi)])] = 0.0
        elif kind == "sparse":
            X[i][rng.random(X[i].shape) < 0.7] = 0.0
        elif kind == "all-zero":
            X[i] = 0.0
    return X


@st.composite
def problems(draw, max_n=3):
    """``(net, X, Z)`` with random dimensionality, network and inputs."""
    dims = draw(st.integers(0, 2))
    grid = tuple(draw(st.integers(1, 7 if dims == 2 else 12)) for _ in range(dims))
    channels = draw(st.integers(1, 3))
    net = draw(networks(dims, grid))
    X = draw(signals(draw(st.integers(1, max_n)), grid, channels))
    Z = draw(signals(draw(st.integers(1, max_n)), grid, channels))
    return net, X, Z

"""A plain NumPy transcription of spec §2–3: the oracle of the tests.

Written for clarity, not speed: every pair map is stored in full, with shape
``grid + grid``, and every patch or pooling step is a small matrix applied to
both arguments along one spatial axis. It never calls the compiled engine,
and it derives the pooling filters from the pools' parameters itself.
"""

from __future__ import annotations

import math

import numpy as np

from .network import CNN, Pool


def kappa0(c):
    """κ0(c) = 1 − arccos(c)/π, as arccos(−c)/π: accurate where κ0 is small
    (c near −1)."""
    return np.arccos(-c) / np.pi


def kappa1(c):
    """κ1(c) = (c (π − arccos c) + sqrt(1 − c²)) / π, as
    (c arccos(−c) + sqrt((1 − c)(1 + c))) / π: near c = −1 the two terms
    cancel, and π − arccos c and 1 − c² would each lose 1e-16 absolutely,
    1e-5 relatively of a κ1 of 5e-10 (found by a hypothesis draw)."""
    return (c * np.arccos(-c) + np.sqrt((1.0 - c) * (1.0 + c))) / np.pi


def pooling_filter(pool: Pool) -> tuple[np.ndarray, int] | None:
    """``(h, stride)`` of spec §3's named operators; None for global average."""
    p = dict(pool.params)
    if pool.kind == "identity":
        return np.ones(1), 1
    if pool.kind == "average":
        return np.full(p["size"], 1.0 / p["size"]), p["stride"]
    if pool.kind == "gaussian":
        s, sigma = p["stride"], p["sigma"]
        j = np.arange(-s, s + 1)
        with np.errstate(over="ignore"):  # a tiny σ: zeros off the centre
            h = np.exp(-0.5 * (j / sigma) * (j / sigma))
        return h / h.sum(), s
    if pool.kind == "strided":
        return np.ones(1), p["stride"]
    if pool.kind == "filter":
        return np.asarray(p["h"], dtype=float), p["stride"]
    assert pool.kind == "global_average"
    return None


def _index(p: int, length: int, wrap: bool) -> int | None:
    """Position ``p`` of an axis, wrapped, or None where it reads padding."""
    if wrap:
        return p % length
    return p if 0 <= p < length else None


def shift_matrices(length: int, size: int, padding: str) -> list[np.ndarray]:
    """``S_v`` for each patch offset ``v``: ``(S_v a)[i] = a[i + v]``."""
    if padding == "valid":
        offsets, out_len = range(size), length - size + 1
    else:
        offsets, out_len = [o - (size - 1) // 2 for o in range(size)], length
    mats = []
    for v in offsets:
        S = np.zeros((out_len, length))
        for i in range(out_len):
            a = _index(i + v, length, padding == "circular")
            if a is not None:
                S[i, a] = 1.0
        mats.append(S)
    return mats


def pooling_matrix(length: int, pool: Pool, wrap: bool) -> np.ndarray:
    """``A`` with ``(A a)[i] = Σ_j h[j] a[t i + j − (r − 1)//2]``."""
    filt = pooling_filter(pool)
    if filt is None:
        return np.full((1, length), 1.0 / length)
    h, t = filt
    c = (len(h) - 1) // 2
    A = np.zeros((math.ceil(length / t), length))
    for i in range(A.shape[0]):
        for j, w in enumerate(h):
            a = _index(t * i + j - c, length, wrap)
            if a is not None:
                A[i, a] += w
    return A


def _both(E: np.ndarray, M: np.ndarray, axis: int) -> np.ndarray:
    """Applies ``M`` to both arguments of the pair map ``E`` along ``axis``."""
    d = E.ndim // 2
    E = np.moveaxis(np.tensordot(M, E, axes=(1, axis)), 0, axis)
    return np.moveaxis(np.tensordot(M, E, axes=(1, d + axis)), 0, d + axis)


def _patch(E: np.ndarray, sizes: tuple[int, ...], padding: str) -> np.ndarray:
    """Σ[u, u'] = |S|⁻¹ Σ_v E[u + v, u' + v], one axis at a time."""
    for axis, s in enumerate(sizes):
        mats = shift_matrices(E.shape[axis], s, padding)
        E = sum(_both(E, S, axis) for S in mats) / s
    return E


def _pool(E: np.ndarray, pool: Pool, padding: str) -> np.ndarray:
    for axis in range(E.ndim // 2):
        E = _both(E, pooling_matrix(E.shape[axis], pool, padding == "circular"), axis)
    return E


def _diagonal(E: np.ndarray) -> np.ndarray:
    d = E.ndim // 2
    P = int(np.prod(E.shape[:d]))
    return np.diagonal(E.reshape(P, P)).reshape(E.shape[:d])


def _relu(Sigma, Nx, Ny, same):
    """``(B1, B0)``: ``N N' κ1(c)`` and ``κ0(c)``, zero where a norm is zero."""
    NN = np.multiply.outer(Nx, Ny)
    safe = np.where(NN > 0, NN, 1.0)
    c = np.clip(Sigma / safe, -1.0, 1.0)
    if same:  # a signal with itself: c = 1 exactly on the diagonal
        d = Sigma.ndim // 2
        P = int(np.prod(Sigma.shape[:d]))
        c = np.where(np.eye(P, dtype=bool).reshape(Sigma.shape), 1.0, c)
    B1 = np.where(NN > 0, NN * kappa1(c), 0.0)
    B0 = np.where(NN > 0, kappa0(c), 0.0)
    return B1, B0


def _layers(net: CNN, dims: int):
    return [(layer.patch_sizes(dims, k), layer.padding, layer.pool) for k, layer in enumerate(net.layers)]


def norm_maps(net: CNN, x: np.ndarray) -> list[np.ndarray]:
    """``N_k[u] = sqrt(Σ_k(x, x)[u, u])`` at every layer, for one signal."""
    G = np.tensordot(x, x, axes=(-1, -1))
    norms = []
    for sizes, padding, pool in _layers(net, x.ndim - 1):
        Sigma = _patch(G, sizes, padding)
        N = np.sqrt(np.maximum(_diagonal(Sigma), 0.0))
        norms.append(N)
        G = _pool(_relu(Sigma, N, N, True)[0], pool, padding)
    return norms


def pair(net: CNN, x, y, Nx, Ny, same: bool) -> tuple[float, float]:
    """``(K_NTK(x, y), K_RF(x, y))`` of one pair, given both signals' norm maps."""
    G = H = np.tensordot(x, y, axes=(-1, -1))
    for k, (sizes, padding, pool) in enumerate(_layers(net, x.ndim - 1)):
        Sigma, Gamma = _patch(G, sizes, padding), _patch(H, sizes, padding)
        B1, B0 = _relu(Sigma, Nx[k], Ny[k], same)
        G = _pool(B1, pool, padding)
        H = _pool(B0 * Gamma + B1, pool, padding)
    return float(_diagonal(H).sum()), float(_diagonal(G).sum())


def kernel_diagonal(net: CNN, X, kind: str = "ntk"):
    """Same contract as ``net.kernel_diagonal(X, kind)``: ``K(x_i, x_i)`` of every signal."""
    values = []
    for x in np.asarray(X, dtype=np.float64):
        N = norm_maps(net, x)
        values.append(pair(net, x, x, N, N, True))
    ntk, rf = np.array(values, dtype=np.float64).reshape(-1, 2).T
    return {"ntk": ntk, "rf": rf, "both": (ntk, rf)}[kind]


def kernel(net: CNN, X, Z=None, kind: str = "ntk"):
    """Same contract as ``net.kernel(X, Z, kind)``, computed in NumPy."""
    X = np.asarray(X, dtype=np.float64)
    symmetric = Z is None
    Z = X if symmetric else np.asarray(Z, dtype=np.float64)
    NX = [norm_maps(net, x) for x in X]
    NZ = NX if symmetric else [norm_maps(net, z) for z in Z]
    ntk = np.zeros((len(X), len(Z)))
    rf = np.zeros((len(X), len(Z)))
    for i, x in enumerate(X):
        for j, z in enumerate(Z):
            ntk[i, j], rf[i, j] = pair(net, x, z, NX[i], NZ[j], symmetric and i == j)
    return {"ntk": ntk, "rf": rf, "both": (ntk, rf)}[kind]

"""A plain NumPy transcription of the feature map's estimator: the oracle the
compiled engine (``_core.features``) is tested against.

Written for clarity, not speed: every patch offset and pooling step is a small
matrix applied along one spatial axis (the operators of ``ntk_rs.reference``,
spec §3), every count sketch a scatter-add (``np.add.at``). It never calls the compiled
engine; the random numbers come in as the ``draws`` that ``_core.features``
takes (``FeatureMap.draws``), so both compute the same deterministic function.

Per layer ``k`` and position ``u`` of its patch grid (``docs/features.md``,
Bietti & Mairal 2019 for the map being estimated)::

    p = P x_{k−1}[u],  q = P y_{k−1}[u],  y = (τ, x)        exact patches, |S|^{-1/2} scaled
    z = ±Wᵀp  (antithetic pairs, the first m of them)       Yu et al. 2016 directions
    r = sqrt(2/m) relu(z),  f0 = sqrt(2/m) 1[z > 0]         Cho & Saul 2009: E⟨r,r'⟩ = ‖p‖‖p'‖κ1, E⟨f0,f0'⟩ = κ0
    t = (C1 f0) ⊛ (C2 q)  (circular convolution)            Pham & Pagh 2013: E⟨t,t'⟩ = ⟨f0,f0'⟩⟨q,q'⟩
    normalize: r ← r ‖p‖/‖r‖,  t ← t ‖f0‖‖q‖/‖t‖            (0 stays 0)
    x_k = A r,  τ_k = A t                                   exact pooling
"""

from __future__ import annotations

import math

import numpy as np

from .network import CNN
from .reference import pooling_matrix, shift_matrices


def _along(M: np.ndarray, a: np.ndarray, axis: int) -> np.ndarray:
    """``M`` applied along spatial ``axis`` of ``a`` (shape ``(n, *grid, c)``)."""
    return np.moveaxis(np.tensordot(M, a, axes=(1, 1 + axis)), 0, 1 + axis)


def patches(a: np.ndarray, sizes: tuple[int, ...], padding: str) -> np.ndarray:
    """``(n, *grid, c)`` → ``(n, *patch_grid, |S| c)``: every position's patch, offsets
    row-major (first axis slowest), channels fastest, scaled by ``|S|^{-1/2}``;
    padding zeros outside the grid, or wrapped indices (spec §3.1–3.2). Vectors
    (no spatial axes) are their own patch."""
    shifts = [shift_matrices(a.shape[1 + axis], s, padding) for axis, s in enumerate(sizes)]
    parts = []
    for offset in np.ndindex(*sizes):
        b = a
        for axis, o in enumerate(offset):
            b = _along(shifts[axis][o], b, axis)
        parts.append(b)
    p = np.stack(parts, axis=-2)  # (n, *patch_grid, |S|, c)
    return p.reshape(*p.shape[:-2], -1) / math.sqrt(math.prod(sizes))


def pool(a: np.ndarray, layer_pool, padding: str) -> np.ndarray:
    """Spec §3.3's separable pooling of ``(n, *grid, c)``, wrapping for ``circular``."""
    for axis in range(a.ndim - 2):
        a = _along(pooling_matrix(a.shape[1 + axis], layer_pool, padding == "circular"), a, axis)
    return a


def count_sketch(a: np.ndarray, bucket: np.ndarray, sign: np.ndarray, s: int) -> np.ndarray:
    """``out[…, j] = Σ_{i: bucket[i] = j} sign[i] a[…, i]`` along the last axis."""
    out = np.zeros((*a.shape[:-1], s))
    np.add.at(out, (..., bucket), a * sign)
    return out


def circular_convolution(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``t[j] = Σ_i a[i] b[(j − i) mod s]`` along the last axis, by real FFTs."""
    s = a.shape[-1]
    return np.fft.irfft(np.fft.rfft(a) * np.fft.rfft(b), n=s)


def match_norms(f: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Rows ``f[…, :]`` rescaled to norms ``target``; rows of norm 0 stay 0."""
    norm = np.linalg.norm(f, axis=-1)
    scale = np.divide(target, norm, out=np.zeros_like(norm), where=norm > 0)
    return f * scale[..., None]


def features(net: CNN, X, draws, kind: str = "ntk", normalize: bool = True, conditioning=None):
    """The features of the signals ``X`` (``(n, *grid, c)``, channels last) under
    ``draws`` (one ``(W, m, s, bucket1, sign1, bucket2, sign2)`` per layer): an
    ``(n, dim)`` float64 array, or ``(ntk, rf)`` for ``kind="both"``.

    ``conditioning``: a dict that receives how far the computation is from its two
    discontinuities, for tests comparing implementations that round differently:
    ``"step"``, the smallest ``|z| / (‖p‖ ‖w‖)`` at non-zero patches (``1[z > 0]`` flips
    where it is at rounding level; above it, ``r`` is 0 or far from it), and ``"norms"``,
    the smallest ``‖t‖ / (‖f0‖ ‖q‖)`` at non-zero targets and count sketches of ``f0``
    (norm matching scales rounding noise up to a full vector where the sketch cancels)."""
    if kind not in ("ntk", "rf", "both"):
        raise ValueError(f"kind must be 'ntk', 'rf' or 'both', got {kind!r}")
    if len(draws) != len(net.layers):
        raise ValueError(f"draws: {len(net.layers)} layers but {len(draws)} draws")
    want_ntk = kind != "rf"
    x = np.asarray(X, dtype=np.float64)
    dims = x.ndim - 2
    tau = np.zeros((*x.shape[:-1], 0))  # τ_{-1} is empty: y_{-1} = x_{-1}
    if conditioning is not None:
        conditioning.update(step=np.inf, norms=np.inf)
    for k, (layer, (W, m, s, bucket1, sign1, bucket2, sign2)) in enumerate(zip(net.layers, draws)):
        sizes = layer.patch_sizes(dims, k)
        p = patches(x, sizes, layer.padding)
        if W.shape != (p.shape[-1], -(-m // 2)):
            raise ValueError(
                f"draws: layer {k}'s W must have shape {(p.shape[-1], -(-m // 2))}, got {W.shape}"
            )
        h = p @ W
        z = np.concatenate((h, -h), axis=-1)[..., :m]  # antithetic: +z for a < ⌈m/2⌉, then −z
        r = math.sqrt(2.0 / m) * np.maximum(z, 0.0)
        if conditioning is not None:
            scale = np.linalg.norm(p, axis=-1)[..., None] * np.linalg.norm(W, axis=0).max()
            _record(conditioning, "step", np.abs(h), scale)
        if normalize:
            r = match_norms(r, np.linalg.norm(p, axis=-1))
        if want_ntk:
            if s < 1:
                raise ValueError(f"draws: layer {k} has no NTK sketch (s = 0)")
            q = patches(np.concatenate((tau, x), axis=-1), sizes, layer.padding)
            f0 = math.sqrt(2.0 / m) * (z > 0.0)
            a1 = count_sketch(f0, bucket1, sign1, s)
            t = circular_convolution(a1, count_sketch(q, bucket2, sign2, s))
            target = np.linalg.norm(f0, axis=-1) * np.linalg.norm(q, axis=-1)
            if conditioning is not None:  # a1 = 0 is exact in any order: sums of ±sqrt(2/m)
                _record(conditioning, "norms", np.linalg.norm(t, axis=-1), target * (a1 != 0).any(axis=-1))
            if normalize:
                t = match_norms(t, target)
            tau = pool(t, layer.pool, layer.padding)
        x = pool(r, layer.pool, layer.padding)
    n = len(x)
    rf = x.reshape(n, -1)
    if not want_ntk:
        return rf
    ntk = np.concatenate((tau, x), axis=-1).reshape(n, -1)
    return (ntk, rf) if kind == "both" else ntk


def _record(conditioning: dict, key: str, values: np.ndarray, scale: np.ndarray) -> None:
    """The smallest ``values / scale`` where ``scale > 0`` into ``conditioning[key]``."""
    scale = np.broadcast_to(scale, values.shape)
    if (scale > 0).any():
        conditioning[key] = min(conditioning[key], float((values[scale > 0] / scale[scale > 0]).min()))

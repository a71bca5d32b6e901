"""Deformations of batches of 2-D images, ``L_τ x(u) = x(u − τ(u))``, for stability studies.

Images are channels-last batches ``(n, H, W, c)``, as ``CNN.kernel`` takes them. A
displacement field ``τ`` is in pixels, of shape ``(H, W, 2)`` (one field for every
image) or ``(n, H, W, 2)`` (one per image); ``τ[..., 0]`` moves along rows (axis 1 of
the batch) and ``τ[..., 1]`` along columns. Interpolation is scipy's
``ndimage.map_coordinates``: install the ``theory`` extra (``pip install 'ntk_rs[theory]'``).
"""

from __future__ import annotations

import numpy as np

from .network import _positive_int, as_signals

#: Boundary modes of ``scipy.ndimage.map_coordinates``.
MODES = ("grid-constant", "constant", "nearest", "reflect", "mirror", "grid-mirror", "wrap", "grid-wrap")


def _ndimage():
    try:
        from scipy import ndimage
    except ImportError:
        raise ImportError(
            "ntk_rs.deform needs scipy; install it with: pip install 'ntk_rs[theory]'"
        ) from None
    return ndimage


def _images(X: object) -> np.ndarray:
    X = as_signals(X, "X")
    if X.ndim != 4:
        raise ValueError(f"X must be a batch of 2-D images of shape (n, H, W, c), got shape {X.shape}")
    return X


def _displacements(tau: object) -> np.ndarray:
    """``tau`` as a finite float64 array, or a TypeError/ValueError naming it."""
    try:
        arr = np.asarray(tau, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"tau must be a real array of displacements, got {type(tau).__name__}") from None
    if not np.isfinite(arr).all():
        raise ValueError("tau contains NaN or infinity")
    return arr


def _fields(tau: object, n: int, grid: tuple[int, int]) -> np.ndarray:
    """``tau`` as a finite ``(n, H, W, 2)`` array, broadcasting one ``(H, W, 2)`` field."""
    arr = _displacements(tau)
    if arr.shape not in ((*grid, 2), (n, *grid, 2)):
        raise ValueError(f"tau must have shape {(*grid, 2)} or {(n, *grid, 2)}, got {arr.shape}")
    return np.broadcast_to(arr, (n, *grid, 2))


def deform(X, tau, *, order: int = 3, mode: str = "grid-constant") -> np.ndarray:
    """``L_τ x(u) = x(u − τ(u))`` at every pixel ``u`` of every image of ``X``.

    ``x`` between pixels is its spline interpolant of degree ``order`` (0 to 5; 3 is
    smooth, 1 is bilinear); outside the grid it follows ``mode`` (default
    ``"grid-constant"``: zero, the blank background of images such as digits).
    Returns a float64 array of the shape of ``X``."""
    ndimage = _ndimage()
    X = _images(X)
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or not 0 <= order <= 5:
        raise ValueError(f"order must be an integer from 0 to 5, got {order!r}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    n, H, W, c = X.shape
    tau = _fields(tau, n, (H, W))
    grid = np.stack(np.meshgrid(np.arange(H), np.arange(W), indexing="ij"))  # (2, H, W)
    out = np.empty_like(X)
    for i in range(n):
        coords = grid - np.moveaxis(tau[i], -1, 0)
        for ch in range(c):
            out[i, :, :, ch] = ndimage.map_coordinates(X[i, :, :, ch], coords, order=order, mode=mode)
    return out


def translate(X, shift, *, order: int = 3, mode: str = "grid-constant") -> np.ndarray:
    """``x(u − shift)``: every image moved by ``shift = (rows, columns)`` pixels (a
    deformation with constant τ; integer shifts are exact)."""
    X = _images(X)
    try:
        s = np.asarray(shift, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"shift must be a pair of numbers, got {shift!r}") from None
    if s.shape != (2,) or not np.isfinite(s).all():
        raise ValueError(f"shift must be a finite pair (rows, columns), got {shift!r}")
    return deform(X, np.broadcast_to(s, (*X.shape[1:3], 2)), order=order, mode=mode)


def gradient_norm(tau) -> np.ndarray | float:
    """``‖∇τ‖∞``: the largest operator (spectral) norm over the grid of the Jacobian
    ``∂τ_a/∂u_b`` (central differences, one-sided at the edges), for a field of shape
    ``(H, W, 2)`` (a float) or each field of a batch ``(n, H, W, 2)`` (shape ``(n,)``)."""
    arr = _displacements(tau)
    if arr.ndim not in (3, 4) or arr.shape[-1] != 2 or min(arr.shape[-3:-1]) < 2:
        raise ValueError(f"tau must have shape (H, W, 2) or (n, H, W, 2) with H, W >= 2, got {arr.shape}")
    rows, cols = np.gradient(arr, axis=(-3, -2))
    jacobian = np.stack((rows, cols), axis=-1)  # [..., a, b] = ∂τ_a/∂u_b
    norms = np.linalg.norm(jacobian, ord=2, axis=(-2, -1)).max(axis=(-2, -1))
    return float(norms) if arr.ndim == 3 else norms


def random_fields(n: int, shape: tuple[int, int], max_grad: float, *, scale: float = 3.0, seed=None):
    """``n`` random smooth displacement fields on an ``H × W`` grid, each scaled so that
    its :func:`gradient_norm` is exactly ``max_grad``: white noise smoothed by a
    Gaussian of ``scale`` pixels (the correlation length; the displacements are then
    about ``max_grad × scale`` pixels). Shape ``(n, H, W, 2)``. ``seed``: an int or a
    ``numpy.random.Generator``. ``‖∇τ‖∞ < 1`` keeps ``u − τ(u)`` invertible; Bietti &
    Mairal's stability bound assumes ``≤ 1/2``."""
    ndimage = _ndimage()
    n = _positive_int(n, "n")
    if (
        not isinstance(shape, (tuple, list))
        or len(shape) != 2
        or not all(isinstance(s, (int, np.integer)) and s >= 2 for s in shape)
    ):
        raise ValueError(f"shape must be a pair of integers >= 2 (H, W), got {shape!r}")
    for name, value in (("max_grad", max_grad), ("scale", scale)):
        if not isinstance(value, (int, float, np.integer, np.floating)) or not np.isfinite(value):
            raise ValueError(f"{name} must be a finite number, got {value!r}")
    if max_grad < 0:
        raise ValueError(f"max_grad must be >= 0, got {max_grad!r}")
    if scale <= 0:
        raise ValueError(f"scale must be > 0, got {scale!r}")
    noise = np.random.default_rng(seed).standard_normal((n, *shape, 2))
    fields = ndimage.gaussian_filter(noise, sigma=(0, scale, scale, 0), mode="reflect")
    return fields * (max_grad / gradient_norm(fields))[:, None, None, None]

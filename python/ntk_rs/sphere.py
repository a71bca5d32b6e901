"""Two-layer ReLU kernels on the sphere: arc-cosine kernels, the NTK, their Mercer spectra.

For ``x, y`` on the sphere ``S^{p-1}`` the two-layer kernels of spec §2 are
functions of ``u = ⟨x, y⟩`` only: ``κ0`` (step), ``κ1`` (ReLU, the random-feature
kernel) and ``κ_NTK(u) = u κ0(u) + κ1(u)``. By Funk–Hecke such a kernel is
diagonal in spherical harmonics,

    κ(⟨x, y⟩) = Σ_k μ_k Σ_j Y_kj(x) Y_kj(y) = Σ_k μ_k N(p, k) P_k(⟨x, y⟩),

with ``Y_kj`` orthonormal for the uniform probability measure, ``N(p, k)`` the
number of harmonics of degree ``k`` and ``P_k`` the Legendre (Gegenbauer)
polynomial of dimension ``p`` with ``P_k(1) = 1``. The ``μ_k`` of κ0, κ1 and the
NTK have closed forms (derived in the docstrings below), evaluated in log space
with log-gamma so that they do not overflow for large ``k`` and ``p`` (relative
error ~1e-10 at k = 10⁴); any other κ goes through quadrature. Numpy only.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .network import as_float64

KERNELS = ("k0", "k1", "ntk")
#: κ(1) for each named kernel: the squared feature norm of a unit vector.
KAPPA_AT_ONE = {"k0": 1.0, "k1": 1.0, "ntk": 2.0}
#: The two-layer kernel of each ``kind`` of ``CNN.kernel``.
KIND_KERNEL = {"ntk": "ntk", "rf": "k1"}
#: Nodes per panel of the composite Gauss–Legendre rule of the quadrature path.
QUADRATURE_PANEL = 32

_lgamma = np.vectorize(math.lgamma, otypes=[float])


def _real_array(value: object, name: str) -> np.ndarray:
    """``value`` as a finite float64 array, or a TypeError/ValueError naming ``name``."""
    arr = as_float64(value, name)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinity")
    return arr


def _cosines(u: object) -> np.ndarray:
    return np.clip(_real_array(u, "u"), -1.0, 1.0)


def _result(arr: np.ndarray):
    """0-d arrays come back as Python floats."""
    return float(arr) if arr.ndim == 0 else arr


# ---------------------------------------------------------------- kernels


def kappa0(u):
    """Arc-cosine kernel of degree 0 (step function): ``1 − arccos(u)/π``.

    ``u`` is clipped to [−1, 1]; exact at ``u = −1, 0, 1`` (0, 1/2, 1)."""
    u = _cosines(u)
    return _result(1.0 - np.arccos(u) / np.pi)


def kappa1(u):
    """Arc-cosine kernel of degree 1 (ReLU): ``(u (π − arccos u) + sqrt(1 − u²))/π``.

    ``u`` is clipped to [−1, 1]; exact at ``u = −1, 0, 1`` (0, 1/π, 1)."""
    u = _cosines(u)
    return _result((u * (np.pi - np.arccos(u)) + np.sqrt((1.0 - u) * (1.0 + u))) / np.pi)


def kappa_ntk(u):
    """Two-layer NTK on the sphere: ``u κ0(u) + κ1(u)``; exact at ``u = −1, 0, 1`` (0, 1/π, 2)."""
    u = _cosines(u)
    return _result(u * kappa0(u) + kappa1(u))


def kappa0_derivative(u):
    """``κ0'(u) = 1 / (π sqrt(1 − u²))``; ``+inf`` at ``u = ±1``, where it is not defined
    (the one-sided derivatives are infinite)."""
    u = _cosines(u)
    with np.errstate(divide="ignore"):
        return _result(1.0 / (np.pi * np.sqrt((1.0 - u) * (1.0 + u))))


def kappa1_derivative(u):
    """``κ1'(u) = κ0(u)``, defined on all of [−1, 1] (one-sided at the ends)."""
    return kappa0(u)


def kappa_ntk_derivative(u):
    """``κ_NTK'(u) = 2 κ0(u) + u κ0'(u)``: ``+inf`` at ``u = 1`` and ``−inf`` at ``u = −1``
    (one-sided limits; the NTK is not differentiable there)."""
    u = _cosines(u)
    return _result(2.0 * kappa0(u) + u * kappa0_derivative(u))


# ------------------------------------------------- accurate distances near u = 1


def _sin_minus_x_cos(theta: np.ndarray) -> np.ndarray:
    """``sin θ − θ cos θ`` without the cancellation of its two ~θ terms at small θ
    (Taylor series ``Σ_n (−1)^{n+1} 2n θ^{2n+1} / (2n+1)!`` below θ = 1/4)."""
    coef = [0.0] + [(-1.0) ** (n + 1) * 2 * n / math.factorial(2 * n + 1) for n in range(1, 7)]
    small = theta * np.polynomial.polynomial.polyval(theta * theta, coef)
    return np.where(theta < 0.25, small, np.sin(theta) - theta * np.cos(theta))


def kappa_gap(theta, kernel: str = "ntk"):
    """``κ(1) − κ(cos θ)`` for ``θ`` in [0, π], with small relative error even as θ → 0,
    where ``κ(1) − κ(u)`` computed from ``u`` loses all its digits.

    ``kernel`` is ``"k0"``, ``"k1"`` or ``"ntk"``. Half the squared feature distance of
    two unit vectors at angle θ: ``‖Φ(x) − Φ(y)‖² = 2 (κ(1) − κ(cos θ))``."""
    kernel = _check_kernel_name(kernel)
    theta = _real_array(theta, "theta")
    if (theta < 0).any() or (theta > np.pi).any():
        raise ValueError("theta must lie in [0, π]")
    gap0 = theta / np.pi
    if kernel == "k0":
        return _result(gap0)
    one_minus_cos = 2.0 * np.sin(theta / 2) ** 2
    gap1 = one_minus_cos - _sin_minus_x_cos(theta) / np.pi
    if kernel == "k1":
        return _result(gap1)
    # 2 − u κ0(u) − κ1(u) = (1 − u) + u (1 − κ0(u)) + (1 − κ1(u))
    return _result(one_minus_cos + np.cos(theta) * gap0 + gap1)


def angle(x, y):
    """Angles between the rows of ``x`` and ``y`` (broadcast), accurate also for nearly
    parallel vectors: ``atan2(‖d⊥‖, ⟨x̂, y⟩)`` where ``d⊥`` is the part of ``d = x − y``
    orthogonal to ``x̂ = x/‖x‖``, so the small quantity comes from the difference.
    Vectors of any finite size are fine (each is first scaled by a power of two).

    Rows of zeros have no direction: a ValueError."""
    x, y = _vector_pair(x, y)
    x, y = x / _binary_scale(x), y / _binary_scale(y)
    nx, ny = np.linalg.norm(x, axis=-1), np.linalg.norm(y, axis=-1)
    if (nx == 0).any() or (ny == 0).any():
        raise ValueError("angle: x and y must have no zero rows")
    return _result(_angle(x, nx, y))


def _binary_scale(*vectors: np.ndarray) -> np.ndarray:
    """A power of two per row (broadcast over ``vectors``, the last axis kept) near the
    largest magnitude, 1 for zero rows: dividing by it is exact, and the rows' norms
    then neither overflow nor underflow (``np.linalg.norm`` does from ~1e±154)."""
    largest = np.max(
        [np.max(np.abs(v), axis=-1, keepdims=True) for v in np.broadcast_arrays(*vectors)], axis=0
    )
    return np.ldexp(1.0, np.frexp(largest)[1])


def _vector_pair(x: object, y: object):
    """x, y as finite float arrays of vectors (last axis) of one dimension."""
    x, y = _real_array(x, "x"), _real_array(y, "y")
    for v, name in ((x, "x"), (y, "y")):
        if v.ndim == 0:
            raise ValueError(f"{name} must have at least one axis (vectors along the last), got a scalar")
    if x.shape[-1] != y.shape[-1]:
        raise ValueError(f"x and y must have the same dimension, got {x.shape[-1]} and {y.shape[-1]}")
    try:
        np.broadcast_shapes(x.shape[:-1], y.shape[:-1])
    except ValueError:
        raise ValueError(
            f"x and y must hold as many vectors (or shapes that broadcast), got shapes {x.shape} and {y.shape}"
        ) from None
    return x, y


def _angle(x, nx, y):
    xh = x / nx[..., None]
    d = x - y
    perp = d - np.sum(d * xh, axis=-1, keepdims=True) * xh
    return np.clip(np.arctan2(np.linalg.norm(perp, axis=-1), np.sum(xh * y, axis=-1)), 0.0, np.pi)


def two_layer_distance(x, y, kind: str = "ntk"):
    """``‖Φ(x) − Φ(y)‖`` for the two-layer kernel ``K(x, y) = ‖x‖ ‖y‖ κ(u)`` of
    ``CNN([Layer()])``, between matched rows of ``x`` and ``y`` (broadcast).

    ``kind`` is ``"ntk"`` (κ_NTK) or ``"rf"`` (κ1), as for ``CNN.kernel``. Computed as
    ``κ(1) (‖x‖ − ‖y‖)² + 2 ‖x‖ ‖y‖ (κ(1) − κ(cos θ))``, non-negative terms whose small
    factors come from ``x − y`` (``‖x‖ − ‖y‖ = ⟨x − y, x + y⟩ / (‖x‖ + ‖y‖)``, θ from
    :func:`angle`, the gap from :func:`kappa_gap`), so it keeps its relative accuracy
    for nearly identical pairs, where ``K(x, x) + K(y, y) − 2 K(x, y)`` cancels, and for
    vectors of any finite size."""
    if kind not in KIND_KERNEL:
        raise ValueError(f"kind must be one of {tuple(KIND_KERNEL)}, got {kind!r}")
    kernel = KIND_KERNEL[kind]
    x, y = _vector_pair(x, y)
    # The distance is homogeneous of degree 1 in the pair: computed on the pair scaled
    # by a common power of two (exactly), then scaled back.
    scale = _binary_scale(x, y)
    x, y = x / scale, y / scale
    nx, ny = np.linalg.norm(x, axis=-1), np.linalg.norm(y, axis=-1)
    both = (nx > 0) & (ny > 0)
    # Where a vector is zero its feature is zero and the angle does not matter.
    theta = np.where(both, _angle(x, np.where(both, nx, 1.0), y), 0.0)
    total = nx + ny
    radial = np.sum((x - y) * (x + y), axis=-1) / np.where(total > 0, total, 1.0)
    sq = KAPPA_AT_ONE[kernel] * radial**2 + 2.0 * nx * ny * kappa_gap(theta, kernel)
    return _result(np.sqrt(sq) * scale[..., 0])


# ---------------------------------------------------------------- Mercer spectrum


def _check_kernel_name(kernel: object, callables: bool = False) -> str:
    """``kernel`` as one of :data:`KERNELS`, or a ValueError that offers callables
    only where the caller takes them."""
    if kernel not in KERNELS:
        also = " or a callable" if callables else ""
        raise ValueError(f"kernel must be one of {KERNELS}{also}, got {kernel!r}")
    return kernel  # type: ignore[return-value]


def _integer(value: object, name: str, minimum: int) -> int:
    """``value`` as an int >= ``minimum``, or a TypeError/ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _check_dim(dim: object) -> int:
    """The dimension p of R^p, whose sphere S^(p-1) needs p >= 2."""
    return _integer(dim, "dim", 2)


def _check_degrees(k: object, name: str) -> np.ndarray:
    arr = np.asarray(k)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must be a non-negative integer or an array of them, got {k!r}")
    if (arr < 0).any():
        raise ValueError(f"{name} must be >= 0, got {k!r}")
    if arr.size and arr.max() > INT64_MAX:  # uint64 beyond int64 would wrap to negative degrees
        raise ValueError(f"{name} must be at most 2^63 - 1 in an array, got {arr.max()}")
    return arr.astype(np.int64)


#: The largest N(p, k) an int64 array of :func:`harmonic_dimension` holds.
INT64_MAX = int(np.iinfo(np.int64).max)
#: log N(p, k) comes from the exact N where k − 1 and p − 2 are both below this.
_EXACT_BELOW = 64


def _stirling_correction(x: np.ndarray) -> np.ndarray:
    """``log Γ(x) − ((x − ½) log x − x + ½ log 2π)`` for ``x >= 64``, to double precision."""
    inv = 1.0 / x
    inv2 = inv * inv
    return inv * (1 / 12 - inv2 * (1 / 360 - inv2 * (1 / 1260 - inv2 / 1680)))


def _log_rising(m: np.ndarray, r: np.ndarray) -> np.ndarray:
    """``log Γ(m + r + 1) − log Γ(m + 1)`` for ``m >= 63`` and ``0 <= r <= m``, without the
    cancellation of the two log-gammas when ``m`` is large (at m = 10⁹ they are ~2e10 and
    their difference would lose ~4e-6): Stirling's series with the difference of the
    logarithms as ``log1p``."""
    x = m + 1
    return (
        (x - 0.5) * np.log1p(r / x)
        + r * np.log(x + r)
        - r
        + _stirling_correction(x + r)
        - _stirling_correction(x)
    )


def _log_harmonic_dimension(p: int, k: np.ndarray) -> np.ndarray:
    """log N(p, k), with N(p, k) = (2k + p − 2)/k · C(k + p − 3, k − 1) and N(p, 0) = 1,
    to ~1e-15 relative for every int64 ``k``: ``log C(m + r, r)`` with
    ``r = min(k − 1, p − 2)`` and ``m = max(k − 1, p − 2)`` by :func:`_log_rising`, or
    where both are below 64 the logarithm of the exact count."""
    kk = np.maximum(k, 1).astype(np.float64)
    r = np.minimum(kk - 1, p - 2)
    m = np.maximum(kk - 1, p - 2)
    exact = (m < _EXACT_BELOW) | (k == 0)
    ms, rs = np.where(exact, _EXACT_BELOW, m), np.where(exact, 0.0, r)
    logn = np.log(2 + (p - 2) / kk) + _log_rising(ms, rs) - _lgamma(rs + 1)
    if exact.any():
        small = {d: math.log(_exact_harmonic_dimension(p, d)) for d in np.unique(k[exact]).tolist()}
        logn = np.where(exact, np.vectorize(small.get, otypes=[float])(np.where(exact, k, 0)), logn)
    return logn


def _exact_harmonic_dimension(p: int, k: int) -> int:
    """N(p, k) as a Python int, exactly."""
    if k == 0:
        return 1
    return (2 * k + p - 2) * math.comb(k + p - 3, k - 1) // k


def harmonic_dimension(dim: int, k, log: bool = False):
    """``N(dim, k)``: the number of linearly independent spherical harmonics of degree
    ``k`` on ``S^{dim−1}`` (1 for k = 0; 2 for k ≥ 1 on the circle; 2k + 1 on S²).

    An exact integer count: a Python int for an integer ``k`` (of any size), an int64
    array of the shape of an integer array ``k``. Where some value of an array exceeds
    int64 (2⁶³ − 1, e.g. N(10, k) from k ≈ 2·10⁵, N(1000, k) from k = 6) it raises a
    ``ValueError``: pass ``log=True``, or the degrees one at a time as Python ints.
    ``log=True`` returns ``log N`` as float64 (a float for an integer ``k``), to a few
    units of rounding for every ``k`` up to 2⁶³ − 1, finite where ``N`` itself
    overflows any number type."""
    p = _check_dim(dim)
    if np.ndim(k) == 0 and isinstance(k, (int, np.integer, np.ndarray)) and not isinstance(k, bool):
        degree = _integer(k.item() if isinstance(k, np.ndarray) else k, "k", 0)
        if not log:
            return _exact_harmonic_dimension(p, degree)
        if degree > INT64_MAX:  # beyond the float64 formula's degrees: from the exact value
            return math.log(_exact_harmonic_dimension(p, degree))
        return float(_log_harmonic_dimension(p, np.array(degree)))
    k = _check_degrees(k, "k")
    logn = _log_harmonic_dimension(p, k)
    if log:
        return _result(logn)
    # log N is accurate to ~1e-15 relative: degrees whose N is clearly above int64 are
    # refused from it, the others by their exact value.
    bad = k[logn > math.log(INT64_MAX) * (1 + 1e-12)]
    degrees = np.unique(k[logn <= math.log(INT64_MAX) * (1 + 1e-12)])
    values = [_exact_harmonic_dimension(p, int(d)) for d in degrees]
    bad = [*bad.tolist(), *(int(d) for d, v in zip(degrees, values) if v > INT64_MAX)]
    if bad:
        raise _too_large(p, min(bad))
    return np.array(values, dtype=np.int64)[np.searchsorted(degrees, k)]


def _too_large(p: int, k: int) -> ValueError:
    digits = _log_harmonic_dimension(p, np.array(k)) / math.log(10)
    return ValueError(
        f"N({p}, k) exceeds int64 (2^63 - 1) at k = {k} (about 10^{float(digits):.1f}): pass log=True "
        f"for log N, or each k as a Python int for its exact value"
    )


def legendre(dim: int, kmax: int, u):
    """``P_k(u)`` for ``k = 0 … kmax``: the Legendre polynomials of dimension ``dim``
    (Gegenbauer ``C_k^{(dim−2)/2}`` normalised to ``P_k(1) = 1``; Chebyshev ``T_k``
    for dim = 2), by their three-term recurrence. Shape ``(kmax + 1, *u.shape)``."""
    p = _check_dim(dim)
    kmax = _integer(kmax, "kmax", 0)
    return np.stack(list(_legendre_sequence(p, kmax, _cosines(u))))


def _legendre_sequence(p: int, kmax: int, u: np.ndarray):
    """Yield P_0(u) … P_kmax(u): P_{k+1} = ((2k + p − 2) u P_k − k P_{k−1}) / (k + p − 2)."""
    prev, cur = np.zeros_like(u), np.ones_like(u)
    for k in range(kmax + 1):
        yield cur
        prev, cur = cur, (((2 * k + p - 2) * u * cur - k * prev) / (k + p - 2) if k else u)


def _log_step_coefficients(p: int, k: np.ndarray) -> np.ndarray:
    """log |λ_k| of the step function ``1{t > 0}``, ``λ_k = E_v[1{⟨v, x⟩ > 0} P_k(⟨v, x⟩)]``.

    λ_0 = 1/2; for odd k (Rodrigues' formula, one integration, then Legendre's
    duplication formula) |λ_k| = Γ(p/2)/(2π) · Γ(k/2)/Γ((k+p)/2); even k ≥ 2: 0."""
    kk = np.maximum(k, 1).astype(np.float64)
    log = math.lgamma(p / 2) - math.log(2 * math.pi) + _lgamma(kk / 2) - _lgamma((kk + p) / 2)
    log = np.where(k % 2 == 1, log, -np.inf)
    return np.where(k == 0, math.log(0.5), log)


def _log_relu_coefficients(p: int, k: np.ndarray) -> np.ndarray:
    """log |λ_k| of the ReLU ``max(t, 0)``, ``λ_k = E_v[max(⟨v, x⟩, 0) P_k(⟨v, x⟩)]``.

    λ_1 = E[t²]/2 = 1/(2p); for even k (Rodrigues' formula, two integrations, then the
    duplication formula) |λ_k| = Γ(p/2)/(4π) · |Γ((k−1)/2)|/Γ((k+p+1)/2); odd k ≥ 3: 0."""
    kk = np.where(k % 2 == 0, k, 0).astype(np.float64)  # Γ((k−1)/2) has a pole at k = 1
    log = math.lgamma(p / 2) - math.log(4 * math.pi) + _lgamma((kk - 1) / 2) - _lgamma((kk + p + 1) / 2)
    log = np.where(k % 2 == 0, log, -np.inf)
    return np.where(k == 1, -math.log(2 * p), log)


def _log_mercer_closed(kernel: str, p: int, kmax: int) -> np.ndarray:
    """log μ_k, k = 0 … kmax, from the closed forms.

    With w ~ N(0, I_p) = r v, κ0(⟨x,y⟩) = 2 E[1{w·x>0} 1{w·y>0}] and
    κ1(⟨x,y⟩) = 2 E[(w·x)+ (w·y)+] = 2p E_v[(v·x)+ (v·y)+]; Funk–Hecke then gives
    μ_k(κ0) = 2 λ_k(step)² and μ_k(κ1) = 2p λ_k(relu)². For the NTK, u κ0(u) follows
    from the coefficients a_k = μ_k(κ0) N(p, k) of κ0 = Σ a_k P_k and the recurrence
    u P_k = (k P_{k−1} + (k + p − 2) P_{k+1}) / (2k + p − 2) (u P_0 = P_1): all terms are
    non-negative, so they are added in log space without cancellation."""
    k = np.arange(kmax + 2)  # one degree beyond kmax, for the NTK's u κ0 term
    if kernel == "k1":
        return math.log(2 * p) + 2 * _log_relu_coefficients(p, k[:-1])
    log0 = math.log(2) + 2 * _log_step_coefficients(p, k)
    if kernel == "k0":
        return log0[:-1]
    loga = log0 + _log_harmonic_dimension(p, k)
    j = k[:-1].astype(np.float64)
    # Coefficient of P_j in u κ0(u): from a_{j+1} (down) and a_{j−1} (up).
    down = loga[1:] + np.log((j + 1) / (2 * j + p))
    with np.errstate(divide="ignore", invalid="ignore"):
        up_factor = np.where(j == 1, 1.0, (j + p - 3) / (2 * j + p - 4))
    up = np.concatenate(([-np.inf], loga[:-2] + np.log(up_factor[1:])))
    log_u_k0 = np.logaddexp(down, up) - _log_harmonic_dimension(p, k[:-1])
    return np.logaddexp(log_u_k0, _log_mercer_closed("k1", p, kmax))


def _mercer_quadrature(kappa: Callable, p: int, kmax: int, nodes: int) -> np.ndarray:
    """μ_k = c_p ∫_0^π κ(cos θ) P_k(cos θ) sin^{p−2}θ dθ, c_p = Γ(p/2)/(√π Γ((p−1)/2)), by
    composite Gauss–Legendre in θ (the arc-cosine kernels are smooth in θ, not in u = cos θ;
    panels of 32 nodes avoid the cubic cost of computing one rule with many nodes)."""
    t, w = np.polynomial.legendre.leggauss(QUADRATURE_PANEL)
    panels = -(-nodes // QUADRATURE_PANEL)
    half = np.pi / (2 * panels)
    theta = ((2 * np.arange(panels)[:, None] + 1 + t) * half).ravel()
    logc = math.lgamma(p / 2) - 0.5 * math.log(math.pi) - math.lgamma((p - 1) / 2)
    weight = np.tile(w * half, panels) * np.exp(logc + (p - 2) * np.log(np.sin(theta)))
    u = np.cos(theta)
    values = np.asarray(kappa(u), dtype=np.float64)
    if values.shape != u.shape or not np.isfinite(values).all():
        raise ValueError(
            f"kernel must map an array of cosines to finite values of the same shape, got shape {values.shape}"
        )
    fw = values * weight
    return np.array([fw @ pk for pk in _legendre_sequence(p, kmax, u)])


MERCER_KAPPAS = {"k0": kappa0, "k1": kappa1, "ntk": kappa_ntk}


def mercer_eigenvalues(
    kernel: str | Callable,
    dim: int,
    kmax: int,
    *,
    method: str = "closed",
    log: bool = False,
    nodes: int | None = None,
) -> np.ndarray:
    """Mercer eigenvalues ``μ_k``, ``k = 0 … kmax``, of ``κ(⟨x, y⟩)`` on ``S^{dim−1}`` with
    the uniform probability measure: ``κ(u) = Σ_k μ_k N(dim, k) P_k(u)``.

    ``kernel`` is ``"k0"``, ``"k1"``, ``"ntk"`` or a callable κ taking an array of cosines.
    ``method="closed"`` (named kernels only) evaluates exact closed forms in log space:
    finite, without overflow, for k up to 10⁴ and dim up to 10³ and beyond, to ~1e-10
    relative; ``method="quadrature"`` (any kernel; the only one for callables)
    integrates Funk–Hecke's formula with about ``nodes`` Gauss–Legendre nodes in
    θ = arccos u (default ``2 kmax + 200``): ~1e-14 absolute for κ smooth in θ, as the
    arc-cosine kernels are, so only while μ_k is well above that. ``log=True`` returns ``log μ_k`` (``-inf`` where
    μ_k = 0; closed forms only), useful where μ_k underflows float64 (large dim and k).

    Properties (Bietti & Mairal 2019, Prop. "Mercer decomposition"): for the NTK and κ1,
    μ_k = 0 for odd k ≥ 3 and μ_0, μ_1 > 0; over even k, μ_k ~ C k^{−dim} (NTK) and
    ~ C k^{−dim−2} (κ1). κ0 has μ_k = 0 for even k ≥ 2."""
    p = _check_dim(dim)
    kmax = _integer(kmax, "kmax", 0)
    if method not in ("closed", "quadrature"):
        raise ValueError(f"method must be 'closed' or 'quadrature', got {method!r}")
    if callable(kernel):
        if method == "closed":
            method = "quadrature"
        kappa = kernel
    else:
        kappa = MERCER_KAPPAS[_check_kernel_name(kernel, callables=True)]
    if method == "closed":
        logmu = _log_mercer_closed(kernel, p, kmax)  # type: ignore[arg-type]
        return logmu if log else np.exp(logmu)
    if log:
        raise ValueError("log=True needs method='closed' (quadrature cannot resolve tiny μ_k)")
    if nodes is None:
        nodes = 2 * kmax + 200
    nodes = _integer(nodes, "nodes", kmax + 1)
    return _mercer_quadrature(kappa, p, kmax, nodes)

"""ntk_rs.sphere: arc-cosine kernels, accurate two-layer distances, Mercer spectra.

Expected values come from independent sources: exact values of the κ's, the Rust
engine's two-layer kernel, finite differences, Fourier series on the circle, exact
rational integrals of Legendre polynomials, quadrature and identities."""

import math
import warnings
from fractions import Fraction

import numpy as np
import pytest
from scipy import special

import ntk_rs as nk
from ntk_rs import sphere

TWO_LAYER = nk.CNN([nk.Layer()])


def unit_pair(theta, dim=7, seed=0):
    """Two unit vectors whose angle is ``theta`` to rounding: ``e_a`` and
    ``cos θ e_a + sin θ e_b`` for random axes a ≠ b and signs (exact operations)."""
    rng = np.random.default_rng(seed)
    a, b = rng.choice(dim, size=2, replace=False)
    signs = rng.choice([-1.0, 1.0], size=dim)
    x, y = np.zeros(dim), np.zeros(dim)
    x[a] = 1.0
    y[a], y[b] = np.cos(theta), np.sin(theta)
    return signs * x, signs * y


# ---------------------------------------------------------------- κ's


def test_exact_values_at_minus_one_zero_one():
    u = np.array([-1.0, 0.0, 1.0])
    assert sphere.kappa0(u).tolist() == [0.0, 0.5, 1.0]
    assert sphere.kappa1(u).tolist() == [0.0, 1 / math.pi, 1.0]
    assert sphere.kappa_ntk(u).tolist() == [0.0, 1 / math.pi, 2.0]
    assert sphere.kappa0(1) == 1.0 and isinstance(sphere.kappa0(1), float)


def test_inputs_are_clipped_to_the_interval():
    assert sphere.kappa0([1.5, -7.0]).tolist() == [1.0, 0.0]
    assert sphere.kappa_ntk(np.float32(2.0)) == 2.0


def test_kappas_match_the_engine_two_layer_kernel():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((20, 5))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    U = X @ X.T
    ntk, rf = TWO_LAYER.kernel(X, kind="both")
    off = ~np.eye(20, dtype=bool)
    np.testing.assert_allclose(sphere.kappa_ntk(U)[off], ntk[off], rtol=1e-12)
    np.testing.assert_allclose(sphere.kappa1(U)[off], rf[off], rtol=1e-12)


def test_kappas_from_the_angle():
    theta = np.linspace(0, np.pi, 41)
    u = np.cos(theta)
    np.testing.assert_allclose(sphere.kappa0(u), (np.pi - theta) / np.pi, atol=1e-14)
    k1 = (np.sin(theta) + (np.pi - theta) * np.cos(theta)) / np.pi
    np.testing.assert_allclose(sphere.kappa1(u), k1, atol=1e-14)


def test_derivatives_match_finite_differences():
    u = np.linspace(-0.95, 0.95, 39)
    h = 1e-6
    for f, df in (
        (sphere.kappa0, sphere.kappa0_derivative),
        (sphere.kappa1, sphere.kappa1_derivative),
        (sphere.kappa_ntk, sphere.kappa_ntk_derivative),
    ):
        np.testing.assert_allclose(df(u), (f(u + h) - f(u - h)) / (2 * h), rtol=1e-7)


def test_derivatives_at_the_ends_are_the_one_sided_limits():
    assert sphere.kappa0_derivative([-1.0, 1.0]).tolist() == [np.inf, np.inf]
    assert sphere.kappa1_derivative([-1.0, 1.0]).tolist() == [0.0, 1.0]
    assert sphere.kappa_ntk_derivative([-1.0, 1.0]).tolist() == [-np.inf, np.inf]


@pytest.mark.parametrize(
    "f",
    [sphere.kappa0, sphere.kappa1, sphere.kappa_ntk, sphere.kappa0_derivative, sphere.kappa_ntk_derivative],
)
def test_kappa_bad_input(f):
    with pytest.raises(ValueError, match="u contains NaN"):
        f([0.5, np.nan])
    with pytest.raises(TypeError, match="u must hold real numbers"):
        f(["a"])
    with pytest.raises(TypeError, match="u must hold real numbers"):
        f(1j)


# ------------------------------------------------- gaps, angles, two-layer distances


@pytest.mark.parametrize("kernel", sphere.KERNELS)
def test_gap_equals_the_difference_away_from_zero(kernel):
    theta = np.linspace(0.05, np.pi, 60)
    kappa = sphere.MERCER_KAPPAS[kernel]
    np.testing.assert_allclose(
        sphere.kappa_gap(theta, kernel), kappa(1.0) - kappa(np.cos(theta)), rtol=1e-13, atol=1e-15
    )


def test_gap_series_at_small_angles():
    # Taylor expansions at θ = 0, derived by hand:
    # κ0: θ/π;  κ1: θ²/2 − θ³/(3π) − θ⁴/24 + θ⁵/(30π);
    # NTK: θ/π + θ² − 5θ³/(6π) − θ⁴/12 + 3θ⁵/(40π).
    t = np.array([1e-12, 1e-9, 1e-6, 1e-4, 1e-3])
    np.testing.assert_allclose(sphere.kappa_gap(t, "k0"), t / np.pi, rtol=1e-15)
    k1 = t**2 / 2 - t**3 / (3 * np.pi) - t**4 / 24 + t**5 / (30 * np.pi)
    np.testing.assert_allclose(sphere.kappa_gap(t, "k1"), k1, rtol=1e-13)
    ntk = t / np.pi + t**2 - 5 * t**3 / (6 * np.pi) - t**4 / 12 + 3 * t**5 / (40 * np.pi)
    np.testing.assert_allclose(sphere.kappa_gap(t, "ntk"), ntk, rtol=1e-13)


def test_gap_is_continuous_where_the_series_hands_over():
    theta = np.array([0.25 - 1e-12, 0.25, 0.25 + 1e-12])
    direct = 1.0 - sphere.kappa1(np.cos(theta))
    np.testing.assert_allclose(sphere.kappa_gap(theta, "k1"), direct, rtol=1e-13)


def test_gap_bad_input():
    with pytest.raises(ValueError, match=r"theta must lie in \[0, π\]"):
        sphere.kappa_gap(-0.1)
    with pytest.raises(ValueError, match="theta must lie"):
        sphere.kappa_gap(4.0)
    with pytest.raises(ValueError, match="kernel must be one of"):
        sphere.kappa_gap(0.1, "rbf")
    # kappa_gap takes no callables, and its message does not offer them.
    with pytest.raises(ValueError, match=r"kernel must be one of \('k0', 'k1', 'ntk'\), got 'rf'$"):
        sphere.kappa_gap(0.1, "rf")


def test_angle_is_accurate_for_nearly_parallel_vectors():
    for theta in (1e-12, 1e-7, 0.3, 3.0):
        x, y = unit_pair(theta)
        assert sphere.angle(3 * x, 0.5 * y) == pytest.approx(theta, rel=1e-10)
    assert sphere.angle(np.eye(3), np.eye(3)[::-1]).tolist() == [np.pi / 2, 0.0, np.pi / 2]
    with pytest.raises(ValueError, match="no zero rows"):
        sphere.angle(np.zeros(3), np.ones(3))
    with pytest.raises(ValueError, match="x must have at least one axis"):
        sphere.angle(1.0, 2.0)


@pytest.mark.parametrize("kind", ["ntk", "rf"])
def test_two_layer_distance_matches_the_engine(kind):
    rng = np.random.default_rng(2)
    X = rng.standard_normal((6, 4)) * rng.uniform(0.1, 5, size=(6, 1))
    Z = rng.standard_normal((5, 4))
    want = TWO_LAYER.distance(X, Z, kind=kind)
    got = sphere.two_layer_distance(X[:, None, :], Z[None, :, :], kind)
    np.testing.assert_allclose(got, want, rtol=1e-9)


def test_two_layer_distance_to_zero_is_the_norm():
    y = np.array([3.0, 4.0])
    assert sphere.two_layer_distance(np.zeros(2), y, "ntk") == pytest.approx(5 * math.sqrt(2), rel=1e-15)
    assert sphere.two_layer_distance(y, np.zeros(2), "rf") == pytest.approx(5.0, rel=1e-15)
    assert sphere.two_layer_distance(np.zeros(2), np.zeros(2)) == 0.0


@pytest.mark.parametrize("scale", [1e-300, 1e-200, 1e-160, 1e160, 1e200, 1e300])
def test_angle_and_distance_at_any_scale(scale):
    """Angles are scale-free and the distance is homogeneous of degree 1, also where
    squared norms under- or overflow float64 (they did from ~1e±154: 'no zero rows', NaN
    or 0). Expected values by hand: θ, and sqrt(2 (κ(1) − κ(cos θ))) for unit vectors."""
    theta = 1.0
    x, y = unit_pair(theta)
    u = math.cos(theta)
    k0 = 1 - math.acos(u) / math.pi
    k1 = (u * (math.pi - math.acos(u)) + math.sqrt(1 - u * u)) / math.pi
    want = {"ntk": math.sqrt(2 * (2 - (u * k0 + k1))), "rf": math.sqrt(2 * (1 - k1))}
    assert sphere.angle(scale * x, scale * y) == pytest.approx(theta, rel=1e-14)
    assert sphere.angle(scale * x, y / scale) == pytest.approx(theta, rel=1e-14)
    for kind in ("ntk", "rf"):
        got = sphere.two_layer_distance(scale * x, scale * y, kind)
        assert got == pytest.approx(scale * want[kind], rel=1e-14)
        rows = sphere.two_layer_distance(scale * np.stack([x, y]), scale * x, kind)
        np.testing.assert_allclose(rows, [0.0, scale * want[kind]], rtol=1e-14)
    # Nearly identical pairs keep their relative accuracy at any scale.
    x, y = unit_pair(1e-9)
    assert sphere.angle(scale * x, scale * y) == pytest.approx(1e-9, rel=1e-6)


def test_two_layer_distance_bad_input():
    with pytest.raises(ValueError, match="kind must be one of"):
        sphere.two_layer_distance(np.ones(2), np.ones(2), "k1")
    with pytest.raises(ValueError, match="same dimension"):
        sphere.two_layer_distance(np.ones(2), np.ones(3))
    # Matched rows of different counts: named as such, not NumPy's broadcast error.
    for f in (sphere.two_layer_distance, sphere.angle):
        with pytest.raises(ValueError, match=r"as many vectors .* \(3, 4\) and \(2, 4\)"):
            f(np.ones((3, 4)), np.ones((2, 4)))
    with pytest.raises(ValueError, match="y contains NaN"):
        sphere.two_layer_distance(np.ones(2), [1.0, np.nan])


# ---------------------------------------------------------------- smoothness


def test_the_two_layer_ntk_map_is_not_lipschitz():
    """On the sphere ‖Φ(x) − Φ(y)‖ / ‖x − y‖ ≈ sqrt(2/(πθ)) ∝ (1 − u)^{−1/4}, unbounded."""
    theta = np.logspace(-12, -2, 11)
    ratios = []
    for t in theta:
        x, y = unit_pair(t)
        ratios.append(sphere.two_layer_distance(x, y, "ntk") / np.linalg.norm(x - y))
    ratios = np.array(ratios)
    one_minus_u = 2 * np.sin(theta / 2) ** 2
    slope = np.polyfit(np.log(one_minus_u), np.log(ratios), 1)[0]
    assert slope == pytest.approx(-0.25, abs=0.01)
    np.testing.assert_allclose(ratios[:6] * np.sqrt(theta[:6]), math.sqrt(2 / math.pi), rtol=1e-4)
    assert ratios[0] > 1e5


def test_the_rf_map_is_one_lipschitz():
    """‖Φ(x) − Φ(y)‖² = (‖x‖−‖y‖)² + 2‖x‖‖y‖(1 − κ1(u)) ≤ ‖x − y‖² since κ1(u) ≥ u."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((500, 6)) * np.exp(rng.uniform(-3, 3, size=(500, 1)))
    Y = X + rng.standard_normal((500, 6)) * np.exp(rng.uniform(-30, 2, size=(500, 1)))
    ratio = sphere.two_layer_distance(X, Y, "rf") / np.linalg.norm(X - Y, axis=1)
    assert (ratio <= 1 + 1e-12).all()
    x, y = unit_pair(1e-9)
    assert sphere.two_layer_distance(x, y, "rf") / np.linalg.norm(x - y) == pytest.approx(1, abs=1e-8)


def test_the_holder_bound_of_the_two_layer_ntk():
    """‖Φ(x) − Φ(y)‖ ≤ sqrt(min(‖x‖,‖y‖) ‖x − y‖) + 2 ‖x − y‖ (Bietti & Mairal 2019)."""
    rng = np.random.default_rng(4)
    n = 4000
    X = rng.standard_normal((n, 5)) * np.exp(rng.uniform(-4, 4, size=(n, 1)))
    far = rng.standard_normal((n, 5)) * np.exp(rng.uniform(-4, 4, size=(n, 1)))
    near = X + rng.standard_normal((n, 5)) * np.linalg.norm(X, axis=1, keepdims=True) * np.exp(
        rng.uniform(-30, 0, size=(n, 1))
    )
    for Y in (far, near):
        gap = np.linalg.norm(X - Y, axis=1)
        small = np.minimum(np.linalg.norm(X, axis=1), np.linalg.norm(Y, axis=1))
        bound = np.sqrt(small * gap) + 2 * gap
        d = sphere.two_layer_distance(X, Y, "ntk")
        assert (d <= bound * (1 + 1e-12)).all()
    # Near-identical pairs on the sphere come within 20% of the bound: it is tight.
    x, y = unit_pair(1e-10)
    assert sphere.two_layer_distance(x, y) > 0.79 * np.sqrt(np.linalg.norm(x - y))


# ---------------------------------------------------------------- Mercer spectrum


def _harmonic_polynomials(p, k):
    """N(p, k) as the dimension of the homogeneous harmonic polynomials of degree k in p
    variables: C(k+p−1, p−1) − C(k+p−3, p−1) (all homogeneous ones, less those that are
    |x|² times one of degree k − 2), exact integers."""
    return math.comb(k + p - 1, p - 1) - (math.comb(k + p - 3, p - 1) if k >= 2 else 0)


INT64_MAX = 2**63 - 1


def test_harmonic_dimension_small_cases():
    k = np.arange(8)
    assert sphere.harmonic_dimension(3, k).tolist() == (2 * k + 1).tolist()
    assert sphere.harmonic_dimension(2, k).tolist() == [1] + [2] * 7
    assert sphere.harmonic_dimension(4, k).tolist() == ((k + 1) ** 2).tolist()
    assert sphere.harmonic_dimension(3, 2) == 5


@pytest.mark.parametrize("p", [2, 3, 4, 5, 6, 7, 10, 20, 57, 100, 1000])
def test_harmonic_dimension_is_an_exact_integer(p):
    ks = [k for k in range(400) if _harmonic_polynomials(p, k) <= INT64_MAX]
    want = [_harmonic_polynomials(p, k) for k in ks]
    for k, n in zip(ks, want):
        got = sphere.harmonic_dimension(p, k)
        assert type(got) is int and got == n
        for same in (np.int64(k), np.uint16(k) if k < 2**16 else np.int64(k), np.array(k)):
            assert type(sphere.harmonic_dimension(p, same)) is int
            assert sphere.harmonic_dimension(p, same) == n
    arr = sphere.harmonic_dimension(p, np.array(ks[::-1]).reshape(1, -1))
    assert arr.dtype == np.int64 and arr.shape == (1, len(ks))
    assert arr[0].tolist() == want[::-1]


def _first_beyond_int64(p):
    """The first degree whose N(p, k) exceeds int64, by bisection (N grows with k for p >= 3)."""
    low, high = 0, 1
    while _harmonic_polynomials(p, high) <= INT64_MAX:
        low, high = high, 2 * high
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if _harmonic_polynomials(p, mid) <= INT64_MAX else (low, mid)
    return high


def test_harmonic_dimension_beyond_int64():
    # A Python int for an integer degree, of any size.
    for p, k in ((1000, 10**4), (57, 333), (10, 10**6)):
        assert sphere.harmonic_dimension(p, k) == _harmonic_polynomials(p, k) > INT64_MAX
    assert sphere.harmonic_dimension(3, 10**30) == 2 * 10**30 + 1
    # Arrays are int64 up to the last degree that fits, then a ValueError naming the first
    # degree that does not and the way out.
    for p in (4, 5, 10, 1000):
        first = _first_beyond_int64(p)
        fits = np.array([0, first // 2, first - 1])
        last = sphere.harmonic_dimension(p, fits)
        assert last.dtype == np.int64 and last.tolist() == [_harmonic_polynomials(p, k) for k in fits]
        for degrees in (np.array([0, first - 1, first]), np.array([first, 0]), np.array([first + 5, first])):
            with pytest.raises(ValueError, match=rf"N\({p}, k\) exceeds int64 .* k = {first} .*log=True"):
                sphere.harmonic_dimension(p, degrees)
    # uint64 degrees beyond int64 are refused, not wrapped to negative ones.
    with pytest.raises(ValueError, match="k must be at most"):
        sphere.harmonic_dimension(3, np.array([2**64 - 1], dtype=np.uint64))


def test_log_harmonic_dimension_is_accurate():
    """log N to ~1e-15 relative for every int64 degree, against the log of the exact count
    (log-gamma differences lost 4e-6 of it at k = 10⁹)."""
    for p in (2, 3, 4, 10, 57, 64, 65, 66, 100, 1000):
        ks = [0, 1, 2, 3, 10, 62, 63, 64, 65, 66, 100, 1000, 10**4, 10**6, 10**9, 10**12, 10**15]
        ks += [10**18, INT64_MAX] if p <= 100 else []
        want = np.array([math.log(_harmonic_polynomials(p, k)) for k in ks])
        got = sphere.harmonic_dimension(p, np.array(ks), log=True)
        assert got.dtype == np.float64
        np.testing.assert_allclose(got, want, rtol=3e-15, atol=0)
        scalar = sphere.harmonic_dimension(p, ks[-1], log=True)
        assert type(scalar) is float and scalar == pytest.approx(want[-1], rel=3e-15)
    for p, k in ((1000, 10**4), (57, 333), (3, 10**4), (3, 10**30)):
        exact = math.log(_harmonic_polynomials(p, k))
        assert sphere.harmonic_dimension(p, k, log=True) == pytest.approx(exact, rel=3e-15)


def test_legendre_matches_scipy():
    u = np.linspace(-1, 1, 11)
    for p in (2, 3, 6, 40):
        P = sphere.legendre(p, 12, u)
        assert P.shape == (13, 11)
        for k in range(13):
            if p == 2:
                want = special.eval_chebyt(k, u)
            else:
                want = special.eval_gegenbauer(k, (p - 2) / 2, u) / special.eval_gegenbauer(
                    k, (p - 2) / 2, 1.0
                )
            np.testing.assert_allclose(P[k], want, atol=1e-12)


@pytest.mark.parametrize("dim", [2, 3, 4, 5, 7, 10, 50])
@pytest.mark.parametrize("kernel", sphere.KERNELS)
def test_closed_forms_match_quadrature(kernel, dim):
    closed = sphere.mercer_eigenvalues(kernel, dim, 40)
    quad = sphere.mercer_eigenvalues(kernel, dim, 40, method="quadrature")
    np.testing.assert_allclose(closed, quad, rtol=1e-11, atol=3e-14)


def test_circle_fourier_coefficients_up_to_large_k():
    """On S¹ (dim 2), P_k = T_k and μ_k are half the Fourier cosine coefficients of
    κ(cos θ): by hand, κ0 → 2/(π²k²) for odd k, κ1 → 4/(π²(k²−1)²) for even k ≥ 2."""
    k = np.arange(10**4 + 1)
    mu0 = sphere.mercer_eigenvalues("k0", 2, 10**4)
    mu1 = sphere.mercer_eigenvalues("k1", 2, 10**4)
    odd, even = k[1::2], k[2::2]
    # log-gamma of arguments ~1e4 limits the relative accuracy to ~1e-10.
    np.testing.assert_allclose(mu0[1::2], 2 / (np.pi**2 * odd**2), rtol=2e-10)
    np.testing.assert_allclose(mu1[2::2], 4 / (np.pi**2 * (even**2 - 1.0) ** 2), rtol=2e-10)


def _legendre_exact(kmax):
    """Legendre polynomials on S² as exact rational coefficient lists (Bonnet's recurrence)."""
    polys = [[Fraction(1)], [Fraction(0), Fraction(1)]]
    for k in range(1, kmax):
        a = [Fraction(0)] + [(2 * k + 1) * c for c in polys[k]]
        b = [k * c for c in polys[k - 1]] + [Fraction(0)] * 2
        polys.append([(x - y) / (k + 1) for x, y in zip(a, b)])
    return polys


def test_sphere_s2_against_exact_rational_integrals():
    """On S² (dim 3) the uniform measure makes u uniform on [−1, 1], and
    μ_k(κ0) = 2 (½ ∫_0^1 P_k)², μ_k(κ1) = 6 (½ ∫_0^1 t P_k)²: exact in rationals."""
    kmax = 90
    polys = _legendre_exact(kmax)
    step = [sum(c / (j + 1) for j, c in enumerate(P)) / 2 for P in polys]
    relu = [sum(c / (j + 2) for j, c in enumerate(P)) / 2 for P in polys]
    want0 = np.array([float(2 * s * s) for s in step])
    want1 = np.array([float(6 * r * r) for r in relu])
    np.testing.assert_allclose(sphere.mercer_eigenvalues("k0", 3, kmax), want0, rtol=1e-12)
    np.testing.assert_allclose(sphere.mercer_eigenvalues("k1", 3, kmax), want1, rtol=1e-12)


def test_callable_kernel_by_quadrature():
    # On S²: u² = (1 + 2 P_2(u)) / 3, and N(3, 2) = 5.
    mu = sphere.mercer_eigenvalues(lambda u: u**2, 3, 4)
    np.testing.assert_allclose(mu, [1 / 3, 0, 2 / 15, 0, 0], atol=1e-15)


@pytest.mark.parametrize("dim", [2, 3, 10, 1000])
def test_zeros_and_positivity(dim):
    for kernel, zero_from in (("ntk", 3), ("k1", 3)):
        mu = sphere.mercer_eigenvalues(kernel, dim, 60)
        assert mu[0] > 0 and mu[1] > 0 and (mu[2::2] > 0).all()
        assert (mu[zero_from::2] == 0).all()
    mu0 = sphere.mercer_eigenvalues("k0", dim, 60)
    assert (mu0[1::2] > 0).all() and (mu0[2::2] == 0).all()


@pytest.mark.parametrize("dim", [2, 3, 5, 10])
@pytest.mark.parametrize("kernel", sphere.KERNELS)
def test_reconstruction(kernel, dim):
    """κ(u) = Σ μ_k N(p,k) P_k(u); every term is ≥ 0 at u = 1 and |P_k| ≤ 1, so the
    truncation error anywhere is at most the (computable) tail at u = 1."""
    kmax = 400
    coef = sphere.mercer_eigenvalues(kernel, dim, kmax) * sphere.harmonic_dimension(dim, np.arange(kmax + 1))
    tail = sphere.KAPPA_AT_ONE[kernel] - coef.sum()
    assert 0 <= tail < 0.02
    u = np.linspace(-1, 1, 101)
    series = coef @ sphere.legendre(dim, kmax, u)
    assert np.abs(series - sphere.MERCER_KAPPAS[kernel](u)).max() <= tail + 1e-12
    inner = np.abs(u) < 0.9  # away from ±1 the series converges much faster
    np.testing.assert_allclose(series[inner], sphere.MERCER_KAPPAS[kernel](u[inner]), atol=2e-4)


@pytest.mark.parametrize("dim", [2, 3, 5, 10])
def test_decay_exponents(dim):
    """Over large even k, μ_k ~ C k^{−p} for the NTK and ~ C k^{−p−2} for κ1."""
    kmax = 10**4
    k = np.arange(kmax // 2, kmax + 1, 2)
    for kernel, exponent in (("ntk", -dim), ("k1", -dim - 2)):
        logmu = sphere.mercer_eigenvalues(kernel, dim, kmax, log=True)[k]
        slope = np.polyfit(np.log(k), logmu, 1)[0]
        assert slope == pytest.approx(exponent, abs=0.01)


def test_large_degree_and_dimension_without_overflow():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for kernel in sphere.KERNELS:
            logmu = sphere.mercer_eigenvalues(kernel, 1000, 10**4, log=True)
            mu = sphere.mercer_eigenvalues(kernel, 1000, 10**4)
            assert not np.isnan(logmu).any() and (logmu < np.inf).all()
            assert np.isfinite(mu).all() and (mu >= 0).all()
            nonzero = np.exp(logmu) > 0
            np.testing.assert_allclose(mu[nonzero], np.exp(logmu[nonzero]), rtol=1e-12)
            # Sum rule Σ μ_k N(p, k) = κ(1), up to the tail beyond k = 10⁴.
            logn = sphere.harmonic_dimension(1000, np.arange(10**4 + 1), log=True)
            total = np.exp(np.logaddexp.reduce(logmu + logn))
            assert total == pytest.approx(sphere.KAPPA_AT_ONE[kernel], rel=1e-3)
            assert total <= sphere.KAPPA_AT_ONE[kernel] * (1 + 1e-12)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: sphere.mercer_eigenvalues("rbf", 3, 5), ValueError, "kernel must be one of"),
        (lambda: sphere.mercer_eigenvalues("ntk", 1, 5), ValueError, "dim must be >= 2"),
        (lambda: sphere.mercer_eigenvalues("ntk", 3.0, 5), TypeError, "dim must be an integer"),
        (lambda: sphere.mercer_eigenvalues("ntk", 3, -1), ValueError, "kmax must be >= 0"),
        (lambda: sphere.mercer_eigenvalues("ntk", 3, 2.5), TypeError, "kmax must be an integer"),
        (lambda: sphere.mercer_eigenvalues("ntk", 3, 5, method="exact"), ValueError, "method must be"),
        (
            lambda: sphere.mercer_eigenvalues("ntk", 3, 5, method="quadrature", log=True),
            ValueError,
            "log=True needs method='closed'",
        ),
        (
            lambda: sphere.mercer_eigenvalues("ntk", 3, 50, method="quadrature", nodes=20),
            ValueError,
            "nodes must be >= 51",
        ),
        (lambda: sphere.mercer_eigenvalues(lambda u: 1.0, 3, 5), ValueError, "same shape"),
        (
            lambda: sphere.mercer_eigenvalues(lambda u: np.full_like(u, np.nan), 3, 5),
            ValueError,
            "finite values",
        ),
        (lambda: sphere.harmonic_dimension(3, -1), ValueError, "k must be >= 0"),
        (lambda: sphere.harmonic_dimension(3, 1.5), TypeError, "k must be a non-negative integer"),
        (lambda: sphere.legendre(3, -2, 0.5), ValueError, "kmax must be >= 0"),
    ],
)
def test_bad_arguments(call, error, message):
    with pytest.raises(error, match=message):
        call()

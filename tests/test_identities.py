"""The mathematical identities of spec §4, independent of the reference."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import ntk_rs as nk
from ntk_rs.reference import kappa0, kappa1
from strategies import networks, problems, signals

RTOL = 1e-7


def close(actual, expected):
    scale = np.abs(expected).max(initial=0.0)
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=RTOL * scale)


@given(problems())
def test_swapping_arguments_transposes(problem):
    net, X, Z = problem
    for a, b in zip(net.kernel(X, Z, kind="both"), net.kernel(Z, X, kind="both")):
        close(a, b.T)


@given(problems(max_n=6))
def test_gram_matrices_are_positive_semidefinite(problem):
    net, X, _ = problem
    for K in net.kernel(X, kind="both"):
        eig = np.linalg.eigvalsh(K)
        assert eig.min() >= -1e-9 * max(eig.max(), 1e-300)


@given(problems(), st.data())
def test_homogeneity(problem, data):
    net, X, Z = problem
    # Powers of two scale every intermediate exactly: the result is bitwise exact.
    a = 2.0 ** np.array(data.draw(st.lists(st.integers(-3, 3), min_size=len(X), max_size=len(X))))
    b = 2.0 ** np.array(data.draw(st.lists(st.integers(-3, 3), min_size=len(Z), max_size=len(Z))))
    shape = (-1,) + (1,) * (X.ndim - 1)
    for scaled, plain in zip(
        net.kernel(X * a.reshape(shape), Z * b.reshape(shape), kind="both"),
        net.kernel(X, Z, kind="both"),
    ):
        np.testing.assert_array_equal(scaled, np.outer(a, b) * plain)
    # Any positive factors: equal up to rounding.
    a = data.draw(st.floats(0.1, 10.0))
    close(net.kernel(a * X, Z), a * net.kernel(X, Z))


@st.composite
def shift_invariant_problems(draw):
    dims = draw(st.integers(1, 2))
    grid = tuple(draw(st.integers(2, 7)) for _ in range(dims))
    depth = draw(st.integers(1, 3))
    layers = []
    for _ in range(depth - 1):
        pool = draw(
            st.sampled_from(
                [
                    nk.Pool.identity(),
                    nk.Pool.gaussian(1),
                    nk.Pool.filter([0.5, 1.0, 0.25]),
                    nk.Pool.average(3, 1),
                ]
            )
        )
        # Circular patches and filters longer than the grid are refused (spec §5).
        patch = draw(st.one_of(st.none(), st.integers(1, min(4, *grid))))
        if len(pool.h) > min(grid):
            pool = nk.Pool.identity()
        layers.append(nk.Layer(patch=patch, padding="circular", pool=pool))
    last = draw(st.integers(1, min(4, *grid)))
    layers.append(nk.Layer(patch=last, padding="circular", pool=nk.Pool.global_average()))
    X = draw(signals(2, grid, 2))
    shift = tuple(draw(st.integers(-5, 5)) for _ in range(dims))
    return nk.CNN(layers), X, shift


@given(shift_invariant_problems())
def test_circular_shift_invariance(problem):
    net, X, shift = problem
    axes = tuple(range(1, 1 + len(shift)))
    shifted = np.roll(X, shift, axis=axes)
    for a, b in zip(net.kernel(shifted, X, kind="both"), net.kernel(X, X, kind="both")):
        close(a, b)


def closed_forms(x, y):
    """Two-layer kernels (spec §2): ‖x‖‖y‖ κ(u) with u the cosine."""
    nx, ny = np.linalg.norm(x, axis=-1), np.linalg.norm(y, axis=-1)
    norms = np.multiply.outer(nx, ny)
    u = np.clip(np.einsum("...c,...c->...", x[:, None], y[None, :]) / np.where(norms > 0, norms, 1), -1, 1)
    return norms * (u * kappa0(u) + kappa1(u)), norms * kappa1(u)


@given(signals(4, (), 5), signals(3, (), 5))
def test_one_layer_on_vectors_is_the_two_layer_closed_form(X, Z):
    net = nk.CNN([nk.Layer()])
    ntk, rf = net.kernel(X, Z, kind="both")
    want_ntk, want_rf = closed_forms(X, Z)
    close(ntk, want_ntk)
    close(rf, want_rf)
    # Self-pairs have u = 1 exactly: K_NTK(x, x) = 2‖x‖², K_RF(x, x) = ‖x‖².
    ntk, rf = net.kernel(X, kind="both")
    sq = (X**2).sum(axis=1)
    np.testing.assert_allclose(np.diag(ntk), 2 * sq, rtol=1e-14)
    np.testing.assert_allclose(np.diag(rf), sq, rtol=1e-14)


@given(signals(3, (6,), 2), signals(2, (6,), 2))
def test_pointwise_layer_on_signals_sums_two_layer_kernels_over_positions(X, Z):
    # Patch of one position, no pooling, trace readout: K = Σ_u k(x[u], z[u]).
    net = nk.CNN([nk.Layer(patch=None)])
    ntk, rf = net.kernel(X, Z, kind="both")
    parts = [closed_forms(X[:, u], Z[:, u]) for u in range(X.shape[1])]
    close(ntk, sum(p[0] for p in parts))
    close(rf, sum(p[1] for p in parts))


@given(st.data())
def test_zero_signals_give_zero_rows(data):
    dims = data.draw(st.integers(0, 2))
    grid = (5,) * dims
    net = data.draw(networks(dims, grid))
    X = data.draw(signals(3, grid, 2))
    X[1] = 0.0
    for K in net.kernel(X, kind="both"):
        assert np.isfinite(K).all()
        assert (K[1] == 0).all() and (K[:, 1] == 0).all()


@pytest.mark.parametrize("kind", ["ntk", "rf"])
def test_self_pairs_do_not_lose_precision(kind):
    # K(x, x) through kernel(X) computes c = 1 exactly on the diagonal, so
    # the homogeneity identity holds to the last bits there even for a scale
    # that is not a power of two.
    net = nk.CNN([nk.Layer(patch=3), nk.Layer(patch=3, pool=nk.Pool.global_average())])
    X = np.random.default_rng(1).standard_normal((3, 9, 9, 2))
    k1 = np.diag(net.kernel(X, kind=kind))
    k3 = np.diag(net.kernel(3.0 * X, kind=kind))
    np.testing.assert_allclose(k3, 9.0 * k1, rtol=1e-13)

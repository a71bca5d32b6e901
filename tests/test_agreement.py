"""The engine against the NumPy reference, on random networks and inputs."""

import numpy as np
from hypothesis import given

import ntk_rs as nk
from ntk_rs import reference
from strategies import problems

# spec §4: κ1 (and κ0) have infinite slopes at c = ±1, so two correct float64
# implementations differ by ~1e-8 relative to the product of norms there. An
# entry is compared relative to itself and, where it cancels towards zero (at
# c = −1 the two-layer NTK is exactly 0), relative to its Cauchy–Schwarz scale
# sqrt(K(x, x) K(z, z)), taken from the reference.
RTOL = 1e-7


def assert_kernel_close(actual, expected, diag_x, diag_z):
    assert actual.shape == expected.shape
    scale = np.sqrt(np.outer(np.abs(diag_x), np.abs(diag_z)))
    error, bound = np.abs(actual - expected), RTOL * (np.abs(expected) + scale)
    worst = np.unravel_index(np.argmax(error - bound), error.shape) if error.size else ()
    assert (error <= bound).all(), f"entry {worst}: got {actual[worst]!r}, want {expected[worst]!r}"


@given(problems())
def test_cross_kernel_matches_reference(problem):
    net, X, Z = problem
    ntk, rf = net.kernel(X, Z, kind="both")
    ref_ntk, ref_rf = reference.kernel(net, X, Z, kind="both")
    (dx_ntk, dx_rf), (dz_ntk, dz_rf) = (reference.kernel_diagonal(net, S, "both") for S in (X, Z))
    assert ntk.shape == rf.shape == (len(X), len(Z))
    assert_kernel_close(ntk, ref_ntk, dx_ntk, dz_ntk)
    assert_kernel_close(rf, ref_rf, dx_rf, dz_rf)
    # One pass for both kinds computes exactly what separate passes do.
    np.testing.assert_array_equal(net.kernel(X, Z, kind="ntk"), ntk)
    np.testing.assert_array_equal(net.kernel(X, Z, kind="rf"), rf)


@given(problems())
def test_gram_matches_reference_and_cross_kernel(problem):
    net, X, _ = problem
    ntk, rf = net.kernel(X, kind="both")
    ref_ntk, ref_rf = reference.kernel(net, X, kind="both")
    diagonals = (np.diag(ref_ntk), np.diag(ref_rf))
    assert_kernel_close(ntk, ref_ntk, *diagonals[:1] * 2)
    assert_kernel_close(rf, ref_rf, *diagonals[1:] * 2)
    np.testing.assert_array_equal(ntk, ntk.T)
    # The reference's own diagonal is its kernel_diagonal.
    np.testing.assert_array_equal(reference.kernel_diagonal(net, X, "ntk"), diagonals[0])
    for got, full, d in zip((ntk, rf), net.kernel(X, X.copy(), kind="both"), diagonals):
        assert_kernel_close(got, full, d, d)


def test_rf_is_ntk_of_the_readout_only_on_a_known_case():
    # One fully connected layer on orthogonal unit vectors: u = 0, so
    # K_RF = κ1(0) = 1/π and K_NTK = κ1(0) + 0·κ0(0) = 1/π; the diagonal is
    # K_RF = κ1(1) = 1 and K_NTK = 1 + κ0(1) = 2.
    net = nk.CNN([nk.Layer()])
    ntk, rf = net.kernel(np.eye(3), kind="both")
    np.testing.assert_allclose(rf, np.where(np.eye(3) > 0, 1.0, 1 / np.pi), rtol=1e-15)
    np.testing.assert_allclose(ntk, np.where(np.eye(3) > 0, 2.0, 1 / np.pi), rtol=1e-15)

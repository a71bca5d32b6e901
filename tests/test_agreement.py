"""The engine against the NumPy reference, on random networks and inputs."""

import numpy as np
from hypothesis import given

import ntk_rs as nk
from ntk_rs import reference
from strategies import problems

# SPEC §4: κ1 has an infinite slope at c = 1, so two correct float64
# implementations differ by ~1e-8 relative; entries that cancel to near zero
# are compared against the scale of the matrix.
RTOL = 1e-7


def assert_kernel_close(actual, expected):
    scale = np.abs(expected).max(initial=0.0)
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=RTOL * scale)


@given(problems())
def test_cross_kernel_matches_reference(problem):
    net, X, Z = problem
    ntk, rf = net.kernel(X, Z, kind="both")
    ref_ntk, ref_rf = reference.kernel(net, X, Z, kind="both")
    assert ntk.shape == rf.shape == (len(X), len(Z))
    assert_kernel_close(ntk, ref_ntk)
    assert_kernel_close(rf, ref_rf)
    # One pass for both kinds computes exactly what separate passes do.
    np.testing.assert_array_equal(net.kernel(X, Z, kind="ntk"), ntk)
    np.testing.assert_array_equal(net.kernel(X, Z, kind="rf"), rf)


@given(problems())
def test_gram_matches_reference_and_cross_kernel(problem):
    net, X, _ = problem
    ntk, rf = net.kernel(X, kind="both")
    ref_ntk, ref_rf = reference.kernel(net, X, kind="both")
    assert_kernel_close(ntk, ref_ntk)
    assert_kernel_close(rf, ref_rf)
    np.testing.assert_array_equal(ntk, ntk.T)
    for got, full in zip((ntk, rf), net.kernel(X, X.copy(), kind="both")):
        assert_kernel_close(got, full)


def test_rf_is_ntk_of_the_readout_only_on_a_known_case():
    # One fully connected layer on orthogonal unit vectors: u = 0, so
    # K_RF = κ1(0) = 1/π and K_NTK = κ1(0) + 0·κ0(0) = 1/π; the diagonal is
    # K_RF = κ1(1) = 1 and K_NTK = 1 + κ0(1) = 2.
    net = nk.CNN([nk.Layer()])
    ntk, rf = net.kernel(np.eye(3), kind="both")
    np.testing.assert_allclose(rf, np.where(np.eye(3) > 0, 1.0, 1 / np.pi), rtol=1e-15)
    np.testing.assert_allclose(ntk, np.where(np.eye(3) > 0, 2.0, 1 / np.pi), rtol=1e-15)

"""Gradient-flow predictions against closed forms computed another way (matrix
exponential, linear solves, explicit iteration), and every bad input."""

import numpy as np
import pytest
from scipy.linalg import expm

import ntk_rs as nk
from ntk_rs.predict import GradientFlow, accuracy, classify, gradient_flow, kernel_regression, one_hot


def problem(rank=None, n=7, m=4, k=2, seed=0):
    """A PSD kernel on n training and m test points (of rank ``rank``), targets, outputs at init."""
    rng = np.random.default_rng(seed)
    F = rng.standard_normal((n + m, rank or n + m))
    G = F @ F.T
    return (
        G[:n, :n],
        G[n:, :n],
        rng.standard_normal((n, k)),
        rng.standard_normal((n, k)),
        rng.standard_normal((m, k)),
    )


@pytest.mark.parametrize("rank", [None, 3])
@pytest.mark.parametrize("ridge", [0.0, 0.3])
def test_matches_the_matrix_exponential_formula(rank, ridge):
    K, Ks, Y, f0, f0s = problem(rank)
    lr, n = 0.07, len(K)
    Kr = K + ridge * np.eye(n)
    inverse = np.linalg.pinv(Kr) if ridge == 0 else np.linalg.inv(Kr)
    times = np.array([0.0, 0.5, 3.0, 40.0])
    got = gradient_flow(K, Ks, Y, times, f0_train=f0, f0_test=f0s, lr=lr, ridge=ridge)
    assert got.shape == (4, 4, 2)
    for t, g in zip(times, got):
        want = f0s + Ks @ inverse @ (np.eye(n) - expm(-lr * t * Kr)) @ (Y - f0)
        np.testing.assert_allclose(g, want, rtol=1e-9, atol=1e-9 * np.abs(want).max())
    np.testing.assert_array_equal(got[0], f0s)  # t = 0: the initial outputs


def test_solves_the_gradient_flow_ode():
    # d f_t(x)/dt = −η Σ_i K(x, x_i) (f_t(x_i) − y_i), by central differences in t.
    K, Ks, Y, f0, f0s = problem(rank=4)
    flow = GradientFlow(K, Y, f0=f0, lr=0.1)
    t, h = 2.0, 1e-4
    train, test = flow.predict(None, t), flow.predict(Ks, [t - h, t + h], f0s)
    np.testing.assert_allclose((test[1] - test[0]) / (2 * h), -0.1 * Ks @ (train - Y), rtol=1e-6)


def test_infinite_time_is_kernel_ridge_regression_and_the_min_norm_interpolant():
    K, Ks, Y, _, _ = problem()
    np.testing.assert_allclose(
        kernel_regression(K, Ks, Y, ridge=0.5), Ks @ np.linalg.solve(K + 0.5 * np.eye(7), Y), rtol=1e-10
    )
    Kd, Ksd, Yd, _, _ = problem(rank=3)
    # Rank 3 < n: the interpolant of minimum norm, through the pseudo-inverse.
    interp = kernel_regression(Kd, Ksd, Yd)
    np.testing.assert_allclose(interp, Ksd @ np.linalg.pinv(Kd, rcond=1e-10) @ Yd, rtol=1e-7, atol=1e-9)
    # ... approached continuously as t grows.
    late = gradient_flow(Kd, Ksd, Yd, 1e6, lr=1.0)
    np.testing.assert_allclose(late, interp, rtol=1e-6, atol=1e-8)


def test_duplicate_inputs_and_zero_kernels_are_finite():
    # A repeated training input makes K exactly singular, an all-zero input adds a zero row
    # (spec §2). The Gram matrix of x0, x1, x2, x0, 0 is taken from the Gram matrix of
    # x0, x1, x2, 0 so that the duplicate rows are bitwise equal: net.kernel resolves
    # near-identical inputs only to ~1e-8 (spec §4), which a ridge would absorb.
    x = np.concatenate([np.random.default_rng(0).random((3, 5, 5, 1)), np.zeros((1, 5, 5, 1))])
    net = nk.CNN([nk.Layer(patch=3), nk.Layer(patch=3, pool=nk.Pool.global_average())])
    order = [0, 1, 2, 0, 3]
    K = net.kernel(x)[np.ix_(order, order)]
    Y = np.arange(5.0)[:, None] * [1.0, -1.0]
    out = gradient_flow(K, K[:3], Y, [0.0, 10.0, np.inf], lr=0.01)
    assert np.isfinite(out).all()
    # The least-squares interpolant: the duplicate pair's targets 0 and 3 are averaged.
    np.testing.assert_allclose(out[-1], np.array([[1.5], [1.0], [2.0]]) * [1.0, -1.0], rtol=1e-7)
    np.testing.assert_array_equal(gradient_flow(np.zeros((2, 2)), np.zeros((1, 2)), [1.0, 2.0]), [0.0])


def test_discrete_time_is_gradient_descent_on_the_linear_model():
    K, Ks, Y, f0, f0s = problem(rank=5)
    lr = 1.5 / np.linalg.eigvalsh(K)[-1]  # past 1/λ_max: the (1 − ηλ)^t branch with 1 − ηλ < 0
    got = gradient_flow(K, Ks, Y, [0, 1, 7], f0_train=f0, f0_test=f0s, lr=lr, discrete=True)
    train, test = f0.copy(), f0s.copy()
    for step in range(8):
        if step in (0, 1, 7):
            np.testing.assert_allclose(got[[0, 1, 7].index(step)], test, rtol=1e-9, atol=1e-9)
        residual = train - Y
        train, test = train - lr * K @ residual, test - lr * Ks @ residual
    np.testing.assert_allclose(
        gradient_flow(K, Ks, Y, np.inf, lr=lr, discrete=True), kernel_regression(K, Ks, Y), rtol=1e-8
    )


def test_shapes_and_training_outputs():
    K, Ks, Y, f0, _ = problem()
    flow = GradientFlow(K, Y[:, 0], lr=0.1, ridge=0.2)
    assert flow.predict(Ks).shape == (4,) and flow.predict(Ks, [1.0, 2.0]).shape == (2, 4)
    assert flow.coefficients([1.0, 2.0, 3.0]).shape == (3, 7)
    np.testing.assert_array_equal(flow.predict(None, 2.0), flow.predict(K, 2.0))
    flow0 = GradientFlow(K, Y, f0=f0, lr=0.1)
    np.testing.assert_array_equal(flow0.predict(None, 1.0), flow0.predict(K, 1.0, f0_test=f0))
    np.testing.assert_allclose(flow0.predict(None, np.inf), Y, rtol=1e-8)  # interpolation


def test_classification_helpers():
    labels = np.array(["b", "a", "c", "a"])
    targets, classes = one_hot(labels)
    np.testing.assert_array_equal(classes, ["a", "b", "c"])
    np.testing.assert_array_equal(targets, [[0, 1, 0], [1, 0, 0], [0, 0, 1], [1, 0, 0]])
    K, Ks, _, _, _ = problem(n=4, m=4)
    predicted = classify(K, Ks, labels, ridge=0.1)
    scores = Ks @ np.linalg.solve(K + 0.1 * np.eye(4), targets)
    np.testing.assert_array_equal(predicted, classes[scores.argmax(axis=1)])
    assert accuracy(["a", "b", "c"], ["a", "b", "b"]) == pytest.approx(2 / 3)


K0, KS0, Y0, F0, FS0 = problem()
BAD = [
    (lambda: GradientFlow(np.ones((3, 2)), Y0), ValueError, "K_train must be square"),
    (lambda: GradientFlow(np.ones(3), Y0), ValueError, "K_train must be a 2-D array"),
    (lambda: GradientFlow(np.zeros((0, 0)), np.zeros(0)), ValueError, "at least one"),
    (lambda: GradientFlow([["a"]], [1.0]), TypeError, "K_train must be a numeric"),
    (lambda: GradientFlow(np.triu(K0), Y0), ValueError, "K_train must be symmetric"),
    (lambda: GradientFlow(K0 * np.nan, Y0), ValueError, "K_train contains NaN"),
    (lambda: GradientFlow(K0, Y0[:5]), ValueError, r"Y must have shape \(7,\) or \(7, k\)"),
    (lambda: GradientFlow(K0, Y0[:, :, None]), ValueError, "Y must have shape"),
    (lambda: GradientFlow(K0, Y0 * np.inf), ValueError, "Y contains NaN"),
    (lambda: GradientFlow(K0, Y0, f0=F0[:, :1]), ValueError, r"f0 must have shape \(7, 2\)"),
    (lambda: GradientFlow(K0, Y0, lr=0), ValueError, "lr must be finite and > 0"),
    (lambda: GradientFlow(K0, Y0, lr=np.nan), ValueError, "lr must be finite"),
    (lambda: GradientFlow(K0, Y0, lr="fast"), TypeError, "lr must be a number"),
    (lambda: GradientFlow(K0, Y0, ridge=-1), ValueError, "ridge must be finite and >= 0"),
    (lambda: GradientFlow(K0, Y0, rcond=-1), ValueError, "rcond must be"),
    (lambda: gradient_flow(K0, KS0.T, Y0), ValueError, r"K_test_train must have shape \(m, 7\)"),
    (lambda: gradient_flow(K0, KS0 * np.nan, Y0), ValueError, "K_test_train contains NaN"),
    (lambda: gradient_flow(K0, KS0, Y0, -1.0), ValueError, "t must be >= 0"),
    (lambda: gradient_flow(K0, KS0, Y0, np.nan), ValueError, "t must be >= 0"),
    (lambda: gradient_flow(K0, KS0, Y0, [[1.0]]), ValueError, "t must be a number or a 1-D"),
    (lambda: gradient_flow(K0, KS0, Y0, "soon"), TypeError, "t must be a number"),
    (lambda: gradient_flow(K0, KS0, Y0, 1.5, discrete=True), ValueError, "must hold integers"),
    (lambda: gradient_flow(K0, KS0, Y0, lr=10.0, discrete=True), ValueError, "gradient descent diverges"),
    (
        lambda: gradient_flow(K0, KS0, Y0, 10**6, lr=10.0, discrete=True),
        ValueError,
        "gradient descent diverges.*after 1e\\+06 steps its outputs exceed float64",
    ),
    (lambda: gradient_flow(K0, KS0, Y0, f0_train=F0), ValueError, "f0_test must be given exactly when"),
    (lambda: gradient_flow(K0, KS0, Y0, f0_test=FS0), ValueError, "f0_test must be given exactly when"),
    (
        lambda: gradient_flow(K0, KS0, Y0, f0_train=F0, f0_test=FS0[:2]),
        ValueError,
        r"f0_test must have shape \(4, 2\)",
    ),
    (lambda: GradientFlow(K0, Y0).predict(None, 1.0, FS0), ValueError, "on the training inputs f0 is used"),
    (lambda: one_hot([]), ValueError, "labels must be a non-empty 1-D"),
    # One label per training input, said in terms of the labels (not of their one-hot targets).
    (
        lambda: classify(K0, KS0, np.arange(6) % 3),
        ValueError,
        r"labels must have one entry per training input \(K_train has 7 rows\), got 6",
    ),
    (lambda: accuracy([1, 2], [1]), ValueError, "same length|one length"),
]


@pytest.mark.parametrize(("call", "error", "match"), BAD)
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_a_diverging_descent_is_exact_while_its_outputs_stay_finite():
    """A few steps of a diverging descent are what gradient descent gives: the
    iterates ``f_{t+1} = f_t − η K (f_t − Y)`` on the training inputs (f0 = 0)."""
    lr = 2.5 / np.linalg.eigvalsh(K0)[-1]
    f = np.zeros_like(Y0)
    for _ in range(3):
        f = f - lr * K0 @ (f - Y0)
    got = GradientFlow(K0, Y0, lr=lr, discrete=True).predict(None, t=3)
    np.testing.assert_allclose(got, f, rtol=1e-9, atol=1e-9 * np.abs(f).max())

"""The finite-width network of spec §1 against finite differences, the NumPy reference's
operators and, at growing width, the analytic kernels and predictions."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from threadpoolctl import threadpool_limits

import ntk_rs as nk
from ntk_rs import reference
from ntk_rs.finite import FiniteCNN, patch_operator, pooling_operator
from ntk_rs.predict import GradientFlow
from strategies import networks, pools, signals


@pytest.fixture(autouse=True)
def one_blas_thread():
    """The matrices here are tiny: BLAS threads only add synchronisation, which made
    these tests up to 40 times slower on a busy 2-core machine."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


@st.composite
def small_problems(draw, max_grid=(6, 6, 4), max_depth=3):
    """``(net, X)``: a random network of every kind on a few small signals."""
    dims = draw(st.integers(0, 2))
    grid = tuple(draw(st.integers(1, max_grid[dims])) for _ in range(dims))
    net = draw(networks(dims, grid, max_depth=max_depth, max_patch=3))
    return net, draw(signals(3, grid, draw(st.integers(1, 3))))


@given(st.integers(1, 9), st.integers(1, 5), st.sampled_from(["same", "valid", "circular"]))
def test_patch_operator_is_the_references_shift_matrices(length, size, padding):
    if padding == "valid" and size > length:
        with pytest.raises(ValueError, match="does not fit"):
            patch_operator(length, size, padding)
        return
    M = patch_operator(length, size, padding)
    want = np.stack(reference.shift_matrices(length, size, padding), axis=1) / np.sqrt(size)
    np.testing.assert_array_equal(M, want)


@given(st.integers(1, 9), pools(), st.booleans())
def test_pooling_operator_is_the_references_matrix(length, pool, wrap):
    # The finite network reads the pool's description (h, stride); the reference derives
    # the filters from the pool's parameters itself.
    A = pooling_operator(length, () if pool.is_global else pool.h, pool.stride, wrap)
    np.testing.assert_allclose(A, reference.pooling_matrix(length, pool, wrap), rtol=1e-15, atol=0)


@settings(max_examples=40)
@given(small_problems(), st.integers(0, 2**32 - 1))
def test_gradients_match_finite_differences(problem, seed):
    net, X = problem
    model = FiniteCNN(net, (5, 4, 6)[: len(net)], X.shape[1:], outputs=2, seed=seed)
    rng = np.random.default_rng(seed)
    cot = rng.standard_normal((len(X), 2))
    grads = model.gradient(X, cot)
    assert [g.shape for g in grads] == [p.shape for p in model.params]
    eps = 1e-6
    for param, grad in zip(model.params, grads):
        direction = rng.standard_normal(param.shape)
        base = param.copy()
        param[...] = base + eps * direction
        up = np.sum(cot * model(X))
        param[...] = base - eps * direction
        down = np.sum(cot * model(X))
        param[...] = base
        # ReLU kinks within eps of a pre-activation have probability ~0 with Gaussian weights.
        np.testing.assert_allclose((up - down) / (2 * eps), np.sum(grad * direction), rtol=1e-5, atol=1e-8)


@settings(max_examples=30)
@given(small_problems(), st.integers(0, 2**32 - 1))
def test_empirical_kernels_are_gram_matrices_of_the_gradients(problem, seed):
    net, X = problem
    model = FiniteCNN(net, 4, X.shape[1:], outputs=2, seed=seed)
    Z = X[::-1] + 0.5
    for output in (0, 1):

        def jacobian(S, output=output):
            rows = []
            for i in range(len(S)):
                cot = np.zeros((len(S), 2))
                cot[i, output] = 1.0
                rows.append(np.concatenate([g.ravel() for g in model.gradient(S, cot)]))
            return np.array(rows)

        JX, JZ = jacobian(X), jacobian(Z)
        ntk, rf = model.kernel(X, Z, kind="both", output=output)
        # The readout of output 1 gets no gradient from output 0: its block is zero.
        JX_w = JX[:, -model.params[-1].size :].reshape(len(X), 2, -1)[:, output]
        JZ_w = JZ[:, -model.params[-1].size :].reshape(len(Z), 2, -1)[:, output]
        np.testing.assert_allclose(ntk, JX @ JZ.T, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(rf, JX_w @ JZ_w.T, rtol=1e-10, atol=1e-12)
    for gram, cross in zip(model.kernel(X, kind="both"), model.kernel(X, X.copy(), kind="both")):
        np.testing.assert_allclose(gram, cross, rtol=1e-12, atol=1e-14)


def _relative_errors(net, X, widths, seeds):
    """Relative Frobenius errors of each seed's empirical kernels, shape
    ``(widths, seeds, 2)``, and of their average over seeds, ``(widths, 2)``."""
    limit = np.array(net.kernel(X, kind="both"))
    emp = np.array(
        [
            [FiniteCNN(net, w, X.shape[1:], seed=s).kernel(X, kind="both") for s in range(seeds)]
            for w in widths
        ]
    )
    scale = np.linalg.norm(limit, axis=(1, 2))
    per_seed = np.linalg.norm(emp - limit, axis=(-2, -1)) / scale
    average = np.linalg.norm(emp.mean(axis=1) - limit, axis=(-2, -1)) / scale
    return per_seed, average


@settings(max_examples=12, derandomize=True)
@given(small_problems(max_grid=(6, 6, 3), max_depth=3))
def test_empirical_kernels_converge_to_the_analytic_kernels(problem):
    """The per-seed error shrinks like width^-1/2 and the average over seeds is unbiased:
    its error is that of one seed over sqrt(seeds). A wrong convention anywhere (patch,
    padding, pooling, scale, relu'(0)) leaves a bias that stops the decrease."""
    net, X = problem
    if not np.any(net.kernel(X)):
        return  # all-zero signals: both kernels are exactly 0 (checked in test_zero_inputs)
    seeds = 8
    widths = 16 * 4 ** np.arange(4) if X.ndim < 4 else 8 * 4 ** np.arange(4)
    per_seed, average = _relative_errors(net, X, widths, seeds)
    rms = np.sqrt((per_seed**2).mean(axis=1))  # (widths, kinds)
    for kind in range(2):
        slope = np.polyfit(np.log(widths), np.log(rms[:, kind]), 1)[0]
        assert -0.8 < slope < -0.3, (kind, slope, rms[:, kind])  # predicted -1/2
        assert average[-1, kind] < 3 * rms[-1, kind] / np.sqrt(seeds), (kind, average[-1], rms[-1])


def test_zero_inputs_give_zero_kernels_and_outputs():
    net = nk.CNN([nk.Layer(patch=3), nk.Layer(patch=2, pool=nk.Pool.global_average())])
    X = np.zeros((2, 5, 5, 1))
    model = FiniteCNN(net, 7, X.shape[1:], seed=0)
    np.testing.assert_array_equal(model(X), 0.0)
    for K in model.kernel(X, kind="both"):
        np.testing.assert_array_equal(K, 0.0)


def test_no_signals_give_empty_results():
    net = nk.CNN(
        [nk.Layer(patch=3, pool=nk.Pool.gaussian(2)), nk.Layer(patch=2, pool=nk.Pool.global_average())]
    )
    model = FiniteCNN(net, 5, (6, 5, 2), outputs=3, seed=0)
    empty, X = np.zeros((0, 6, 5, 2)), np.ones((2, 6, 5, 2))
    assert model(empty).shape == (0, 3)
    assert model.kernel(empty).shape == (0, 0) and model.kernel(X, empty).shape == (2, 0)
    for g, p in zip(model.gradient(empty, np.zeros((0, 3))), model.params):
        np.testing.assert_array_equal(g, np.zeros_like(p))


def test_gradient_descent_follows_the_ntk_prediction_closer_as_width_grows():
    """Lee et al. 2019: the trained network stays within O(width^-1/2) of the kernel
    prediction started from its own initial outputs, at every time."""
    net = nk.CNN(
        [
            nk.Layer(patch=3, pool=nk.Pool.average(2)),
            nk.Layer(patch=2, padding="circular", pool=nk.Pool.global_average()),
        ]
    )
    rng = np.random.default_rng(0)
    X, X_test, Y = rng.standard_normal((6, 4, 2)), rng.standard_normal((3, 4, 2)), rng.standard_normal((6, 1))
    K, K_test = net.kernel(X), net.kernel(X_test, X)
    lr, steps = 1.0 / np.linalg.eigvalsh(K)[-1], [5, 20]
    gaps = []
    for width in (16, 256):
        sq = []
        for seed in range(4):
            model = FiniteCNN(net, width, X.shape[1:], seed=seed)
            f0, f0_test = model(X), model(X_test)
            run = model.train(X, Y, lr, steps[-1], record=steps, X_test=X_test)
            flow = GradientFlow(K, Y, f0=f0, lr=lr, discrete=True)
            want_train, want_test = flow.predict(None, run.steps), flow.predict(K_test, run.steps, f0_test)
            sq.append(np.mean((run.test - want_test) ** 2) / np.mean(want_test**2))
            sq.append(np.mean((run.train - want_train) ** 2) / np.mean(want_train**2))
        gaps.append(np.sqrt(np.mean(sq)))
    assert gaps[1] < 0.5 * gaps[0], gaps  # predicted ratio sqrt(16/256) = 0.25
    assert gaps[1] < 0.25, gaps


def test_training_decreases_the_loss_and_records_what_it_says():
    net = nk.CNN([nk.Layer()])
    rng = np.random.default_rng(1)
    X, Y = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    model = FiniteCNN(net, 64, (3,), outputs=2, seed=0)
    before = [p.copy() for p in model.params]
    f0 = model(X)
    grads = model.gradient(X, f0 - Y)
    run = model.train(X, Y, lr=0.05, steps=3, record=[3, 0, 1])
    np.testing.assert_array_equal(run.steps, [0, 1, 3])
    assert run.train.shape == (3, 5, 2) and run.test is None
    np.testing.assert_array_equal(run.train[0], f0)
    # One step is θ − lr ∇½‖f − Y‖², and the loss goes down.
    again = FiniteCNN(net, 64, (3,), outputs=2, seed=0)
    for p, b, g in zip(again.params, before, grads):
        p[...] = b - 0.05 * g
    np.testing.assert_allclose(run.train[1], again(X), rtol=1e-12)
    losses = [np.sum((f - Y) ** 2) for f in run.train]
    assert losses[0] > losses[1] > losses[2]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"net": "net"}, TypeError, "net must be a CNN"),
        ({"widths": 0}, ValueError, "widths must be >= 1"),
        ({"widths": (4, 4)}, ValueError, "one entry per layer"),
        ({"widths": 2.5}, TypeError, "widths must be"),
        ({"widths": (True,)}, TypeError, "widths must be an integer"),
        ({"input_shape": (0, 1)}, ValueError, "input_shape"),
        ({"input_shape": "abc"}, TypeError, "input_shape"),
        (
            {"input_shape": (4, 1), "net": nk.CNN([nk.Layer(patch=5, padding="valid")])},
            ValueError,
            "layer 0.*does not fit",
        ),
        (
            {"input_shape": (3,), "net": nk.CNN([nk.Layer(patch=3)])},
            ValueError,
            "patch must be None for vector",
        ),
        ({"outputs": 0}, ValueError, "outputs must be >= 1"),
        ({"outputs": 1.5}, TypeError, "outputs must be an integer"),
    ],
)
def test_bad_construction(kwargs, error, match):
    args = {"net": nk.CNN([nk.Layer()]), "widths": 4, "input_shape": (3,)} | kwargs
    with pytest.raises(error, match=match):
        FiniteCNN(**args)


def test_bad_calls():
    model = FiniteCNN(nk.CNN([nk.Layer()]), 4, (3,), seed=0)
    X, Y = np.ones((2, 3)), np.ones((2, 1))
    cases = [
        (lambda: model(np.ones((2, 4))), ValueError, r"X must hold signals of shape \(3,\)"),
        (lambda: model(np.full((2, 3), np.nan)), ValueError, "X contains NaN"),
        (lambda: model.gradient(X, np.ones((3, 1))), ValueError, r"cotangent must have shape \(2, 1\)"),
        (lambda: model.kernel(X, kind="x"), ValueError, "kind must be one of"),
        (lambda: model.kernel(X, output=1), ValueError, "output must be in"),
        (lambda: model.kernel(X, np.ones((2, 3, 1))), ValueError, "Z must hold signals"),
        (lambda: model.train(X, Y, lr=-1, steps=2), ValueError, "lr must be finite and > 0"),
        (lambda: model.train(X, Y, lr=np.nan, steps=2), ValueError, "lr must be finite"),
        # Not numbers: a TypeError naming lr (float() had raised its own, unnamed errors).
        (lambda: model.train(X, Y, lr="fast", steps=2), TypeError, "lr must be a number, got 'fast'"),
        (lambda: model.train(X, Y, lr=None, steps=2), TypeError, "lr must be a number, got None"),
        (lambda: model.train(X, Y, lr=0.1, steps=-1), ValueError, "steps must be >= 0"),
        (lambda: model.train(X, Y, lr=0.1, steps=2.0), TypeError, "steps must be an integer"),
        (lambda: model.train(X, Y, lr=0.1, steps=2, record=[5]), ValueError, "record must be"),
        (lambda: model.train(X, Y, lr=0.1, steps=2, record=[0.5]), ValueError, "record must be"),
        (lambda: model.train(X, Y * np.inf, lr=0.1, steps=2), ValueError, "Y contains NaN"),
        (lambda: model.train(X, np.ones((2, 2)), lr=0.1, steps=2), ValueError, r"Y must have shape \(2, 1\)"),
    ]
    for call, error, match in cases:
        with pytest.raises(error, match=match):
            call()

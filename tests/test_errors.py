"""Every bad input raises a clear ValueError or TypeError naming the problem."""

import re
import subprocess
import sys

import numpy as np
import pytest

import ntk_rs as nk

NET2D = nk.CNN([nk.Layer(patch=3), nk.Layer(patch=3, pool=nk.Pool.global_average())])
X2D = np.ones((2, 5, 5, 1))


@pytest.mark.parametrize(
    "X, message",
    [
        (np.ones(3), "got 1 dimension"),
        (np.ones((1, 2, 3, 4, 5)), "got 5 dimension"),
        (np.ones((2, 0, 3)), "must be non-empty"),
        (np.ones((2, 4, 0)), "must be non-empty"),
    ],
)
def test_wrong_shapes(X, message):
    with pytest.raises(ValueError, match=f"X.*{message}|{message}"):
        nk.CNN([nk.Layer(patch=1)]).kernel(X)


def test_mismatched_x_and_z():
    net = nk.CNN([nk.Layer(patch=3)])
    with pytest.raises(ValueError, match="X has 1 channels but Z has 2"):
        net.kernel(X2D, np.ones((2, 5, 5, 2)))
    with pytest.raises(ValueError, match="same number of spatial axes"):
        net.kernel(X2D, np.ones((2, 5, 1)))
    with pytest.raises(ValueError, match="same spatial shape"):
        net.kernel(X2D, np.ones((2, 5, 6, 1)))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("argument", ["X", "Z"])
def test_non_finite_values(bad, argument):
    Y = X2D.copy()
    Y[1, 2, 3, 0] = bad
    args = (Y, None) if argument == "X" else (X2D, Y)
    with pytest.raises(
        ValueError, match=re.escape(f"{argument} contains NaN or infinity (first at index (1, 2, 3, 0))")
    ):
        NET2D.kernel(*args)


NETS = {
    "recursion": NET2D,
    "diagonal path": nk.CNN([nk.Layer(patch=3), nk.Layer(patch=3)]),
    "vectors": nk.CNN([nk.Layer(), nk.Layer()]),
}


def signals(net, n, seed):
    shape = (n, 7) if net is NETS["vectors"] else (n, 5, 5, 2)
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize("net", list(NETS.values()), ids=list(NETS))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_signals_of_any_scale_give_their_kernels(net, dtype):
    # Homogeneity (spec §4) for scales whose squares leave float64 (1e160)
    # and whose kernels leave float32's range in both directions.
    X, Z = signals(net, 3, 0), signals(net, 2, 1)
    K, Kz = net.kernel(X, Z, kind="both"), net.kernel(Z)
    for a, b in [(1e160, 1e-150), (1e-150, 1e-100), (1e30, 1e25)]:
        ntk, rf = net.kernel(a * X, b * Z, kind="both", dtype=dtype)
        rtol = 1e-12 if dtype == "float64" else 1e-4
        np.testing.assert_allclose(ntk, a * b * K[0], rtol=rtol)
        np.testing.assert_allclose(rf, a * b * K[1], rtol=rtol)
        np.testing.assert_allclose(net.kernel_diagonal(b * Z, dtype=dtype), b * b * np.diag(Kz), rtol=rtol)


@pytest.mark.parametrize("net", list(NETS.values()), ids=list(NETS))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_kernels_beyond_float64_are_an_error(net, dtype):
    X = signals(net, 3, 0)
    X[1] *= 1e200  # K(x1, x1) ~ 1e400; K(x0, x0) stays finite
    with pytest.raises(ValueError, match=r"^X: kernel values exceed float64's range.*scale the signals down"):
        net.kernel(X, dtype=dtype)
    with pytest.raises(ValueError, match=r"^X, Z: kernel values exceed float64's range"):
        net.kernel(X[1:2], X, dtype=dtype)
    with pytest.raises(ValueError, match=r"^X: kernel values exceed float64's range"):
        net.kernel_diagonal(X, dtype=dtype)


@pytest.mark.parametrize(
    "X",
    [np.array([["a", "b"]]), np.array([[1 + 2j, 3]]), np.array([[object(), 1]], dtype=object), [[1, 2], [3]]],
)
def test_non_numeric_data(X):
    with pytest.raises(TypeError, match="X must"):
        nk.CNN([nk.Layer()]).kernel(X)


@pytest.mark.parametrize(
    "make, error, message",
    [
        (lambda: nk.Layer(patch=0), ValueError, "patch must be >= 1, got 0"),
        (lambda: nk.Layer(patch=-2), ValueError, "patch must be >= 1"),
        (lambda: nk.Layer(patch=2.5), TypeError, "patch must be an integer"),
        (lambda: nk.Layer(patch="3"), TypeError, "patch must be an integer"),
        (lambda: nk.Layer(patch=True), TypeError, "patch must be an integer"),
        (lambda: nk.Layer(patch=(3, 0)), ValueError, "patch must be >= 1"),
        (lambda: nk.Layer(patch=()), ValueError, "at least one size"),
        (lambda: nk.Layer(padding="reflect"), ValueError, "padding must be one of"),
        (lambda: nk.Layer(pool="average"), TypeError, "pool must be a Pool"),
        (lambda: nk.Pool.average(0), ValueError, "size must be >= 1"),
        (lambda: nk.Pool.average(2.0), TypeError, "size must be an integer"),
        (lambda: nk.Pool.average(2, stride=0), ValueError, "stride must be >= 1"),
        (lambda: nk.Pool.gaussian(0), ValueError, "stride must be >= 1"),
        (lambda: nk.Pool.gaussian(1.5), TypeError, "stride must be an integer"),
        (lambda: nk.Pool.gaussian(2, sigma=0), ValueError, "sigma must be finite and > 0"),
        (lambda: nk.Pool.gaussian(2, sigma=float("nan")), ValueError, "sigma must be finite"),
        (lambda: nk.Pool.strided(-1), ValueError, "stride must be >= 1"),
        (lambda: nk.Pool.filter([]), ValueError, "non-empty 1-D filter"),
        (lambda: nk.Pool.filter([[1.0]]), ValueError, "non-empty 1-D filter"),
        (lambda: nk.Pool.filter([1.0, np.nan]), ValueError, "h must be finite"),
        (lambda: nk.Pool.filter([1.0, np.inf]), ValueError, "h must be finite"),
        (lambda: nk.Pool.filter([1.0, -0.5]), ValueError, "h must be non-negative"),
        (lambda: nk.Pool.filter(["a"]), TypeError, "h must be a 1-D sequence"),
        (lambda: nk.Pool.filter([1.0], stride=0), ValueError, "stride must be >= 1"),
        (lambda: nk.CNN([]), ValueError, "at least one layer"),
        (lambda: nk.CNN(nk.Layer()), TypeError, "sequence of Layer"),
        (lambda: nk.CNN([nk.Layer(), "conv"]), TypeError, r"layers\[1\] must be a Layer"),
    ],
)
def test_bad_network_descriptions(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_valid_patch_that_does_not_fit():
    net = nk.CNN([nk.Layer(patch=3, padding="valid"), nk.Layer(patch=4, padding="valid")])
    with pytest.raises(
        ValueError, match="layer 1: a 'valid' patch of size 4 does not fit a grid of length 3"
    ):
        net.kernel(X2D)


def test_patch_rank_and_vector_inputs():
    with pytest.raises(ValueError, match="layer 0: patch must be None for vector inputs"):
        nk.CNN([nk.Layer(patch=1)]).kernel(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"layer 1: patch \(3, 3\) has 2 sizes but the inputs have 1"):
        nk.CNN([nk.Layer(patch=3), nk.Layer(patch=(3, 3))]).kernel(np.ones((2, 5, 1)))


def test_unknown_kind():
    with pytest.raises(ValueError, match="kind must be one of"):
        NET2D.kernel(X2D, kind="nngp")


@pytest.mark.parametrize("n, m", [(0, 3), (3, 0), (0, 0)])
def test_empty_inputs_give_empty_results(n, m):
    X, Z = np.ones((n, 5, 5, 1)), np.ones((m, 5, 5, 1))
    ntk, rf = NET2D.kernel(X, Z, kind="both")
    assert ntk.shape == rf.shape == (n, m) and ntk.dtype == np.float64
    assert NET2D.kernel(np.ones((0, 5, 5, 1))).shape == (0, 0)


def test_bad_thread_counts():
    with pytest.raises(ValueError, match="n must be >= 1"):
        nk.set_num_threads(0)
    with pytest.raises(TypeError, match="positive integer or None"):
        nk.set_num_threads(2.0)


def test_bad_thread_environment_variable():
    code = "import numpy as np, ntk_rs as nk; nk.CNN([nk.Layer()]).kernel(np.ones((2, 3)))"
    env = {"NTK_RS_NUM_THREADS": "lots", "PATH": ""}
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    assert run.returncode != 0
    assert (
        "ValueError: NTK_RS_NUM_THREADS must be an integer from 1 to " in run.stderr
        and '"lots"' in run.stderr
    )

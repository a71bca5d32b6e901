"""``dtype="float32"``: its accuracy against float64 on the benchmark
workloads (the bound the README states), and its argument."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import ntk_rs as nk

# The workloads of benches/bench.py, so that the stated bound covers exactly them.
_spec = importlib.util.spec_from_file_location("bench", Path(__file__).parents[1] / "benches" / "bench.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

#: README: float32 results are within this relative error of float64.
FLOAT32_RTOL = 1e-3


@pytest.mark.parametrize("name", list(bench.WORKLOADS))
def test_float32_is_float64_to_1e_3(name):
    net, X = bench.network(name), bench.signals(bench.WORKLOADS[name][0], 3, seed=5)
    for single, double in zip(
        net.kernel(X, kind="both", dtype="float32"), net.kernel(X, kind="both", dtype="float64")
    ):
        assert single.dtype == np.float64
        # The kernels of these networks are positive: entry by entry.
        assert (double > 0).all()
        assert np.max(np.abs(single - double) / double) <= FLOAT32_RTOL
        # And much closer in fact: single precision, not a cruder method.
        assert np.max(np.abs(single - double) / double) <= 1e-4


def test_float32_keeps_the_guarantees_of_float64():
    net = nk.CNN([nk.Layer(3, pool=nk.Pool.average(2)), nk.Layer(3, pool=nk.Pool.global_average())])
    X = np.random.default_rng(2).standard_normal((5, 9, 8, 2))
    ntk, rf = net.kernel(X, kind="both", dtype="float32")
    np.testing.assert_array_equal(net.kernel(X, dtype="float32"), ntk)
    np.testing.assert_array_equal(net.kernel(X, kind="rf", dtype="float32"), rf)
    np.testing.assert_array_equal(ntk, ntk.T)
    np.testing.assert_array_equal(net.kernel_diagonal(X, dtype="float32"), np.diag(ntk))
    before = nk.get_num_threads()
    try:
        nk.set_num_threads(1)
        np.testing.assert_array_equal(net.kernel(X, dtype="float32"), ntk)
    finally:
        nk.set_num_threads(before)
    # Zero signals still give zero rows.
    X[1] = 0.0
    assert (net.kernel(X, dtype="float32")[1] == 0).all()


@pytest.mark.parametrize("dtype", ["float32", np.float32, np.dtype("float32"), "f4"])
def test_float32_spellings(dtype):
    X = np.random.default_rng(0).standard_normal((2, 6))
    net = nk.CNN([nk.Layer()])
    np.testing.assert_array_equal(net.kernel(X, dtype=dtype), net.kernel(X, dtype="float32"))


@pytest.mark.parametrize(
    ("dtype", "error"),
    [
        ("float16", ValueError),
        ("int64", ValueError),
        ("double precision", ValueError),
        (None, TypeError),
        (3, TypeError),
    ],
)
def test_bad_dtype(dtype, error):
    net, X = nk.CNN([nk.Layer()]), np.ones((2, 3))
    with pytest.raises(error, match="dtype must be 'float64' or 'float32'"):
        net.kernel(X, dtype=dtype)
    with pytest.raises(error, match="dtype must be 'float64' or 'float32'"):
        net.kernel_diagonal(X, dtype=dtype)

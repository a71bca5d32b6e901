"""Network values, input conversion, threads."""

import pickle
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import FrozenInstanceError

import numpy as np
import pytest

import ntk_rs as nk
from ntk_rs import CNN, Layer, Pool, reference

NET = CNN(
    [
        Layer(patch=3, pool=Pool.gaussian(stride=2)),
        Layer(patch=(3, 2), padding="circular", pool=Pool.filter([0.25, 0.5, 0.25])),
        Layer(patch=3, padding="valid", pool=Pool.global_average()),
    ]
)


def images(n, seed=0, shape=(10, 10, 3)):
    return np.random.default_rng(seed).standard_normal((n, *shape))


def test_values_repr_equality_hash_pickle():
    again = eval(repr(NET), {"CNN": CNN, "Layer": Layer, "Pool": Pool})
    assert again == NET and hash(again) == hash(NET)
    assert pickle.loads(pickle.dumps(NET)) == NET
    assert Pool.gaussian(2) == Pool.gaussian(2, sigma=2 / np.sqrt(2))
    assert Pool.average(2) == Pool.average(2, stride=2) != Pool.average(2, stride=1)
    assert Layer(patch=[3, 3]) == Layer(patch=(3, 3)) != Layer(patch=3)
    assert len({NET, again, CNN([Layer()])}) == 2
    with pytest.raises(FrozenInstanceError):
        NET.layers = ()
    with pytest.raises(FrozenInstanceError):
        NET.layers[0].patch = 5


def test_engine_layers_are_kept_per_number_of_axes():
    net = CNN([Layer(patch=3, pool=Pool.average(2)), Layer(patch=(3, 1), pool=Pool.global_average())])
    assert net.engine_layers(2) is net.engine_layers(2)
    assert net.engine_layers(2) == (((3, 3), "same", (0.5, 0.5), 2), ((3, 1), "same", None, 1))
    for _ in range(2):  # a mismatch is an error every time, never a kept value
        with pytest.raises(ValueError, match="layer 1: patch"):
            net.engine_layers(1)
    # What is kept is no part of the network's value.
    assert net == CNN(net.layers) and hash(net) == hash(CNN(net.layers))
    assert pickle.loads(pickle.dumps(net)) == net
    # One network on signals of one, then two spatial axes, then one again.
    shared = CNN([Layer(patch=3), Layer(patch=3, pool=Pool.global_average())])
    for shape in [(7, 2), (5, 6, 2), (7, 2)]:
        X = images(3, shape=shape)
        want = reference.kernel(CNN(shared.layers), X)
        np.testing.assert_allclose(shared.kernel(X), want, rtol=1e-12)


def test_named_pools_have_the_filters_of_the_spec():
    assert Pool.identity().h == (1.0,) and Pool.identity().stride == 1
    assert Pool.average(4).h == (0.25,) * 4 and Pool.average(4).stride == 4
    assert Pool.strided(3).h == (1.0,) and Pool.strided(3).stride == 3
    h = np.array(Pool.gaussian(2).h)
    want = np.exp(-(np.arange(-2, 3) ** 2) / 2.0 / 2.0)  # sigma² = 2
    np.testing.assert_allclose(h, want / want.sum(), rtol=1e-15)
    assert Pool.global_average().is_global and Pool.global_average().h == ()


def test_kinds():
    X = images(3)
    ntk, rf = NET.kernel(X, kind="both")
    np.testing.assert_array_equal(NET.kernel(X), ntk)
    np.testing.assert_array_equal(NET.kernel(X, kind="rf"), rf)
    # The NTK adds non-negative terms to the RF kernel on the diagonal.
    assert (np.diag(ntk) > np.diag(rf)).all()


@pytest.mark.parametrize(
    "convert",
    [
        lambda X: X[:, ::2, ::-1, :],
        lambda X: np.asfortranarray(X[:, ::2, ::-1, :]),
        lambda X: np.moveaxis(np.moveaxis(X[:, ::2, ::-1, :], 3, 0).copy(), 0, 3),
        lambda X: X[:, ::2, ::-1, :].astype(np.float32),
        lambda X: X[:, ::2, ::-1, :].astype(np.int16),
        lambda X: X[:, ::2, ::-1, :].tolist(),
    ],
)
def test_any_layout_and_real_dtype(convert):
    # Small integers: exact in every dtype above, so results are bitwise equal.
    X = np.random.default_rng(0).integers(-3, 4, size=(3, 12, 7, 2)).astype(np.float64)
    want = NET.kernel(np.ascontiguousarray(X[:, ::2, ::-1, :]))
    np.testing.assert_array_equal(NET.kernel(convert(X)), want)


@pytest.mark.parametrize("kind", ["ntk", "rf", "both"])
def test_diagonal_is_the_gram_diagonal_bit_for_bit(kind):
    X = images(5, 3)
    diag, full = NET.kernel_diagonal(X, kind=kind), NET.kernel(X, kind=kind)
    for d, K in zip(*((diag, full) if kind == "both" else ((diag,), (full,)))):
        assert d.shape == (5,)
        np.testing.assert_array_equal(d, np.diag(K))
    assert NET.kernel_diagonal(np.ones((0, 10, 10, 3))).shape == (0,)
    with pytest.raises(ValueError, match="kind must be one of"):
        NET.kernel_diagonal(X, kind="x")
    with pytest.raises(ValueError, match="X contains NaN"):
        NET.kernel_diagonal(X * np.nan)


def test_same_object_uses_the_symmetric_path():
    X = images(4)
    np.testing.assert_array_equal(NET.kernel(X, X), NET.kernel(X))


def test_results_do_not_depend_on_the_thread_count():
    X, Z = images(9, 1), images(5, 2)
    before = nk.get_num_threads()
    try:
        results = []
        for t in (1, 2, 3, 7):
            nk.set_num_threads(t)
            assert nk.get_num_threads() == t
            results.append(NET.kernel(X, kind="both") + NET.kernel(X, Z, kind="both"))
        for r in results[1:]:
            for a, b in zip(r, results[0]):
                np.testing.assert_array_equal(a, b)
    finally:
        nk.set_num_threads(before)


def test_default_threads_from_environment():
    code = "import ntk_rs as nk; print(nk.get_num_threads())"
    run = subprocess.run(
        [sys.executable, "-c", code],
        env={"NTK_RS_NUM_THREADS": "3"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.stdout.strip() == "3", run.stderr


def test_concurrent_calls_from_python_threads():
    inputs = [images(5, seed) for seed in range(6)]
    want = [NET.kernel(X, kind="both") for X in inputs]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda X: NET.kernel(X, kind="both"), inputs * 2))
    for g, w in zip(got, want * 2):
        np.testing.assert_array_equal(g[0], w[0])
        np.testing.assert_array_equal(g[1], w[1])


def test_output_is_a_fresh_float64_array():
    K = NET.kernel(images(3))
    assert K.dtype == np.float64 and K.flags.c_contiguous and K.flags.writeable and K.shape == (3, 3)

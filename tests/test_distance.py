"""CNN.norm and CNN.distance: RKHS norms and distances from kernel values."""

import numpy as np
import pytest

from ntk_rs import CNN, Layer, Pool, sphere

NET = CNN(
    [
        Layer(patch=3, pool=Pool.gaussian(stride=2)),
        Layer(patch=3, pool=Pool.global_average()),
    ]
)


def images(n, seed):
    return np.random.default_rng(seed).random((n, 9, 9, 2))


@pytest.mark.parametrize("kind", ["ntk", "rf"])
def test_two_layer_distances_are_the_closed_forms(kind):
    rng = np.random.default_rng(0)
    X, Z = rng.standard_normal((5, 3)), rng.standard_normal((4, 3))
    got = CNN([Layer()]).distance(X, Z, kind=kind)
    assert got.shape == (5, 4)
    np.testing.assert_allclose(got, sphere.two_layer_distance(X[:, None], Z[None], kind), rtol=1e-9)
    norms = np.linalg.norm(X, axis=1) * np.sqrt(sphere.KAPPA_AT_ONE[sphere.KIND_KERNEL[kind]])
    np.testing.assert_allclose(CNN([Layer()]).norm(X, kind=kind), norms, rtol=1e-14)


@pytest.mark.parametrize("kind", ["ntk", "rf"])
def test_precision_for_nearly_identical_pairs(kind):
    """The documented limit: from kernel values, pairs at an angle ≥ 1e-5 keep ~1e-6
    relative accuracy (against the cancellation-free closed form)."""
    theta = np.logspace(-5, 0, 11)
    x = np.zeros((11, 4))
    x[:, 0] = 1.0
    y = np.zeros((11, 4))
    y[:, 0], y[:, 1] = np.cos(theta), np.sin(theta)
    got = CNN([Layer()]).distance(x[:1], y, kind=kind)[0]
    np.testing.assert_allclose(got, sphere.two_layer_distance(x, y, kind), rtol=1e-5)


def test_metric_properties_and_homogeneity():
    X, Z = images(4, 1), images(3, 2)
    D = NET.distance(X)
    assert D.shape == (4, 4)
    assert (np.diag(D) == 0).all() and (D[~np.eye(4, dtype=bool)] > 0).all()
    np.testing.assert_allclose(D, D.T, rtol=1e-12)
    # Triangle inequality through every third point.
    assert (D[:, None, :] <= D[:, :, None] + D[None, :, :] + 1e-12).all()
    # K(a x, a z) = a² K(x, z), so distances and norms scale by a.
    np.testing.assert_allclose(NET.distance(3 * X, 3 * Z), 3 * NET.distance(X, Z), rtol=1e-10)
    np.testing.assert_allclose(NET.norm(0.5 * X), 0.5 * NET.norm(X), rtol=1e-12)
    np.testing.assert_allclose(NET.distance(Z, X), NET.distance(X, Z).T, rtol=1e-12)


def test_distance_to_the_zero_signal_is_the_norm():
    # Zero patches give zero features (spec §2), so ‖Φ(x) − Φ(0)‖ = ‖Φ(x)‖.
    X = images(3, 3)
    for kind in ("ntk", "rf"):
        D = NET.distance(X, np.zeros((1, 9, 9, 2)), kind=kind)
        np.testing.assert_allclose(D[:, 0], NET.norm(X, kind=kind), rtol=1e-14)


def test_both_kinds_at_once():
    X, Z = images(3, 4), images(2, 5)
    ntk, rf = NET.distance(X, Z, kind="both")
    np.testing.assert_array_equal(ntk, NET.distance(X, Z, kind="ntk"))
    np.testing.assert_array_equal(rf, NET.distance(X, Z, kind="rf"))
    n_ntk, n_rf = NET.norm(X, kind="both")
    np.testing.assert_array_equal(n_ntk, NET.norm(X))
    np.testing.assert_array_equal(n_rf, NET.norm(X, kind="rf"))
    # The NTK adds the κ0 terms to the RF kernel: larger norms.
    assert (n_ntk > n_rf).all()


def test_same_object_is_the_symmetric_case():
    X = images(3, 6)
    np.testing.assert_array_equal(NET.distance(X, X), NET.distance(X))


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: NET.distance(images(2, 0), kind="cosine"), ValueError, "kind must be one of"),
        (lambda: NET.norm(images(2, 0), kind="nngp"), ValueError, "kind must be one of"),
        (lambda: NET.distance(np.ones(4)), ValueError, "X must have shape"),
        (
            lambda: NET.distance(images(2, 0), np.ones((2, 9, 9, 3))),
            ValueError,
            "X has 2 channels but Z has 3",
        ),
        (lambda: NET.distance(images(2, 0), [[["a"]]]), TypeError, "Z must"),
        (lambda: NET.norm(np.full((1, 9, 9, 2), np.nan)), ValueError, "X contains NaN"),
    ],
)
def test_bad_arguments(call, error, message):
    with pytest.raises(error, match=message):
        call()

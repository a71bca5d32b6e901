"""Statistical properties of the random feature maps (``docs/features.md``): one-layer
maps are unbiased, and the error of every map falls as ``dim^-1/2``.

Each test runs on the compiled engine and on the NumPy reference
(``ntk_rs.reference_features``, the same estimator written plainly), so the
estimator is tested even where the engine is not built. Seeds are fixed: the
tests are deterministic, and their thresholds are statistical (a z-test, a fitted
slope), not loose tolerances.
"""

from functools import cache

import numpy as np
import pytest

import ntk_rs as nk
from ntk_rs import reference_features

L, P = nk.Layer, nk.Pool


@pytest.fixture(params=["engine", "reference"])
def transform(request):
    """``transform(fm, X)``: ``fm``'s features of ``X`` from the engine or the reference."""
    if request.param == "engine":
        if not hasattr(nk._core, "features"):
            pytest.skip("the compiled engine has no features() yet")
        return lambda fm, X: fm.transform(X)

    def reference(fm, X):
        return reference_features.features(fm.net, X, fm.draws(X.shape[1:]), fm.kind, fm.normalize)

    return reference


def signals(shape, n=4, seed=0):
    """``n`` signals, the second all zero (the zero-norm rule) and the third half zero."""
    X = np.random.default_rng(seed).standard_normal((n, *shape))
    X[1] = 0.0
    X[2, ..., : max(1, shape[-1] // 2)] = 0.0
    return X


#: One-layer networks and their inputs' shape.
ONE_LAYER = {
    "conv-global": (nk.CNN([L(3, pool=P.global_average())]), (5, 4, 2)),
    "fully-connected": (nk.CNN([L()]), (4,)),
}
SEEDS = 200


@pytest.mark.parametrize("name", ONE_LAYER)
def test_one_layer_maps_without_normalization_are_unbiased(transform, name):
    """The mean of ⟨Φ(x), Φ(x')⟩ over 200 seeds is the kernel within 4 standard errors,
    entry by entry, for both kernels (Cho & Saul 2009: E⟨r, r'⟩ = ‖p‖‖p'‖κ1 and
    E⟨f0, f0'⟩ = κ0; Pham & Pagh 2013: the sketch is unbiased). An odd m checks the
    antithetic pairs' unpaired last feature. Entries no draw changes (the zero signal's)
    must be exact."""
    net, shape = ONE_LAYER[name]
    X = signals(shape)
    exact = net.kernel(X, kind="both")
    grams = [[], []]
    for seed in range(SEEDS):
        fm = net.feature_map(None, "both", seed, "float64", widths=[(9, 8)], normalize=False)
        for part, F in zip(grams, transform(fm, X)):
            part.append(F @ F.T)
    upper = np.triu_indices(len(X))
    for kind, gram, draws in zip(("ntk", "rf"), exact, grams):
        G, K = np.array(draws), gram[upper]
        mean, se = G.mean(axis=0)[upper], G.std(axis=0, ddof=1)[upper] / np.sqrt(SEEDS)
        fixed = se == 0
        assert fixed.sum() == len(X)  # the zero signal's row
        np.testing.assert_allclose(mean[fixed], K[fixed], atol=1e-12, err_msg=kind)
        z = (mean[~fixed] - K[~fixed]) / se[~fixed]
        assert np.abs(z).max() < 4, f"{kind}: z = {np.round(z, 2)}"


#: One-layer networks for the convergence test, their inputs' shape and the dims (default
#: widths: the final layer takes dim / P_f per position). Dims start where the per-position
#: width is large enough (≥ 32) for the Monte-Carlo rate; below, the O(1/m) terms of norm
#: matching steepen the curve.
ONE_LAYER_CONVERGENCE = {
    "1d-same-average": (nk.CNN([L(3, pool=P.average(2))]), (8, 3), [128, 256, 512, 1280]),
    "2d-valid-gaussian": (nk.CNN([L(2, "valid", P.gaussian(2))]), (5, 5, 3), [128, 256, 512, 1280]),
    "2d-circular-strided": (nk.CNN([L(3, "circular", P.strided(2))]), (4, 4, 2), [128, 256, 512, 1280]),
    "1d-valid-global": (nk.CNN([L(3, "valid", P.global_average())]), (8, 3), [64, 128, 256, 640]),
    "2d-same-global": (nk.CNN([L(3, pool=P.global_average())]), (5, 4, 2), [64, 128, 256, 640]),
}
#: Two-layer networks: the τ channels travel through the second layer's patches and pooling.
DEEP_CONVERGENCE = {
    "1d-valid-average-then-global": (
        nk.CNN([L(3, "valid", P.average(2)), L(2, pool=P.global_average())]),
        (8, 2),
    ),
    "2d-circular-strided-then-global": (
        nk.CNN([L(3, "circular", P.strided(2)), L(2, "circular", P.global_average())]),
        (4, 4, 1),
    ),
}


def relative_errors(transform, net, X, kind, maps):
    """``(dims, errors)``: per list of maps, the features' length and the relative
    Frobenius error of F Fᵀ against the exact Gram matrix, averaged over the maps."""
    K = net.kernel(X, kind=kind)
    dims, errors = [], []
    for fms in maps:
        runs = []
        for fm in fms:
            F = transform(fm, X)
            runs.append(np.linalg.norm(F @ F.T - K) / np.linalg.norm(K))
        dims.append(F.shape[1])
        errors.append(np.mean(runs))
    return dims, errors


def assert_slope(dims, errors):
    """The log-log slope of the error against dim is the Monte-Carlo rate, -1/2."""
    assert dims[-1] >= 10 * dims[0]
    slope = np.polyfit(np.log(dims), np.log(errors), 1)[0]
    assert -0.75 <= slope <= -0.3, f"slope {slope:.2f}, dims {dims}, errors {np.round(errors, 4)}"


@cache
def feature_map(net, dim, kind, seed, widths=None):
    """One map per arguments, shared by both backends: drawing (QR) is much of the time."""
    return net.feature_map(dim, kind, seed, "float64", widths=widths)


@pytest.mark.parametrize("kind", ["ntk", "rf"])
@pytest.mark.parametrize("name", ONE_LAYER_CONVERGENCE)
def test_the_error_of_one_layer_maps_falls_as_dim_to_the_minus_half(transform, name, kind):
    """Default widths and norm matching, 16 seeds per dim; the first three networks keep 4
    final positions (P_f > 1), the others pool globally."""
    net, shape, dims = ONE_LAYER_CONVERGENCE[name]
    maps = [[feature_map(net, dim, kind, seed) for seed in range(16)] for dim in dims]
    assert_slope(*relative_errors(transform, net, signals(shape, n=6, seed=1), kind, maps))


@pytest.mark.parametrize("kind", ["ntk", "rf"])
@pytest.mark.parametrize("name", DEEP_CONVERGENCE)
def test_the_error_of_deep_maps_falls_as_dim_to_the_minus_half(transform, name, kind):
    """Widths growing together, ``[(m, 4m), (2m, 2m)]`` (``[(m, 0), (2m, 0)]`` for the RF
    kernel) for m = 32 … 320, 8 seeds each: the default rule's intermediate width stays
    at 64 below dim = 512, and its wide layers would make the test's draws slow."""
    net, shape = DEEP_CONVERGENCE[name]
    maps = [
        [
            feature_map(
                net, None, kind, seed, ((m, 4 * m), (2 * m, 2 * m)) if kind == "ntk" else ((m, 0), (2 * m, 0))
            )
            for seed in range(8)
        ]
        for m in (32, 64, 128, 320)
    ]
    assert_slope(*relative_errors(transform, net, signals(shape, n=6, seed=1), kind, maps))

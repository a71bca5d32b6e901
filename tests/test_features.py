"""Random feature maps (``net.feature_map``): the compiled engine against the NumPy
reference, determinism, values, the argument checks, and the scikit-learn and dask
integrations. The statistics of the estimator are in ``test_features_stats.py``."""

import pickle
import re

import numpy as np
import pytest
from hypothesis import assume, given, note
from hypothesis import strategies as st

import ntk_rs as nk
from ntk_rs import features, reference_features
from strategies import networks, signals

pytestmark = pytest.mark.skipif(
    not hasattr(nk._core, "features"), reason="the compiled engine has no features() yet"
)

L, P = nk.Layer, nk.Pool
NET = nk.CNN([L(3, pool=P.gaussian(2)), L(2, "valid")])  # 6×5 → 3×3 → 2×2: P_f = 4
SHAPE = (6, 5, 2)


def images(n, seed=0, shape=SHAPE):
    return np.random.default_rng(seed).standard_normal((n, *shape))


def reference(fm, X):
    return reference_features.features(fm.net, X, fm.draws(X.shape[1:]), fm.kind, fm.normalize)


def assert_matches(got, want, dtype):
    """Equal to the reference, entry by entry, to ``rtol`` of each row's norm (float64:
    rounding of sums in another order; float32: of the whole computation)."""
    rtol = 1e-10 if dtype == "float64" else 1e-4
    got, want = (got, want) if isinstance(want, tuple) else ((got,), (want,))
    for g, w in zip(got, want):
        assert g.dtype == np.dtype(dtype) and g.shape == w.shape
        scale = np.linalg.norm(w, axis=1, keepdims=True)
        err = np.abs(g - w)
        worst = float((err / np.where(scale > 0, scale, 1)).max(initial=0))
        assert (err <= rtol * scale).all(), f"max error {worst:.2e} of the row norm"


# --------------------------------------------------------------------------- engine = reference


@st.composite
def cases(draw):
    """A small random network, its inputs, and a random map of it: any kind, small
    widths (odd m included), with or without norm matching."""
    dims = draw(st.integers(0, 2))
    grid = tuple(draw(st.integers(1, 6 if dims == 2 else 10)) for _ in range(dims))
    channels = draw(st.integers(1, 3))
    net = draw(networks(dims, grid, max_depth=3, max_patch=4))
    X = draw(signals(draw(st.integers(1, 3)), grid, channels))
    kind = draw(st.sampled_from(["ntk", "rf", "both"]))
    least = 0 if kind == "rf" else 1
    widths = [(draw(st.integers(1, 9)), draw(st.integers(least, 9))) for _ in net.layers]
    return net, X, kind, widths, draw(st.booleans()), draw(st.integers(0, 2**63))


def well_conditioned(fm, X, dtype) -> bool:
    """Whether implementations that round differently can agree on ``X``: no pre-activation
    ``z`` at rounding level (the step ``1[z > 0]`` flips there), and, with norm matching, no
    ``r`` or ``t`` that cancels to rounding level (it is rescaled to a full vector: the
    direction of rounding noise). Tiny sketches of degenerate inputs hit the latter: one
    channel, s = 1, ``t`` = x − x."""
    found = {}
    reference_features.features(fm.net, X, fm.draws(X.shape[1:]), fm.kind, False, conditioning=found)
    margin = 1e-9 if dtype == "float64" else 1e-4
    return found["step"] > margin and (not fm.normalize or found["norms"] > margin)


@given(cases())
def test_the_engine_computes_the_reference_estimator(case):
    net, X, kind, widths, normalize, seed = case
    for dtype in ("float64", "float32"):
        fm = net.feature_map(None, kind, seed, dtype, widths=widths, normalize=normalize)
        if not well_conditioned(fm, X, dtype):
            note("a step or a norm at rounding level: not compared")
            assume(False)
        assert_matches(fm.transform(X), reference(fm, X), dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(
    ("net", "shape", "dim"),
    [
        (NET, SHAPE, 1024),
        (nk.CNN([L(3, "circular", P.strided(2)), L(3, pool=P.global_average())]), (6, 2), 512),
        (nk.CNN([L(), L()]), (5,), 257),
        # Circular padding wraps the pooling filters too: 7×5 → 7×5 → 4×3, P_f = 12.
        (nk.CNN([L(3, "circular", P.gaussian(1)), L(2, "circular", P.average(2))]), (7, 5, 2), 384),
    ],
)
def test_default_widths_on_the_reference(net, shape, dim, dtype):
    fm = net.feature_map(dim, "both", 3, dtype)
    X = images(3, shape=shape)
    assert_matches(fm.transform(X), reference(fm, X), dtype)


# --------------------------------------------------------------------------- determinism


def test_features_depend_on_the_seed_only():
    X = images(4)
    fm = NET.feature_map(64, seed=7)
    F = fm.transform(X)
    np.testing.assert_array_equal(NET.feature_map(64, seed=7).transform(X), F)
    assert not np.array_equal(NET.feature_map(64, seed=8).transform(X), F)
    fresh = NET.feature_map(64)  # seed=None: one is drawn and kept
    assert isinstance(fresh.seed, int) and fresh.seed != NET.feature_map(64).seed
    np.testing.assert_array_equal(fresh.transform(X), NET.feature_map(64, seed=fresh.seed).transform(X))


def test_pickles_hold_the_arguments_not_the_draws():
    X = images(3)
    fm = NET.feature_map(1024, "both", None, "float64", input_shape=SHAPE, normalize=False)
    want = fm.transform(X)
    data = pickle.dumps(fm)
    assert len(data) < 2000  # W alone is 18 × 64 floats here
    again = pickle.loads(data)
    assert again == fm and hash(again) == hash(fm) and again.seed == fm.seed
    for got, w in zip(again.transform(X), want):
        np.testing.assert_array_equal(got, w)


def test_features_do_not_depend_on_batches_or_threads():
    X = images(7)
    fm = NET.feature_map(256, "both", 0)
    ntk, rf = fm.transform(X)
    try:
        for threads in (1, 2, 3):
            nk.set_num_threads(threads)
            for batch in (None, 1, 2, 5, 100):
                got = fm.transform(X, batch=batch)
                np.testing.assert_array_equal(got[0], ntk)
                np.testing.assert_array_equal(got[1], rf)
    finally:
        nk.set_num_threads(None)
    for i in range(len(X)):  # one image alone: its row of the batch
        np.testing.assert_array_equal(fm.transform(X[i : i + 1])[0][0], ntk[i])


def test_kinds_share_their_draws():
    """The NTK map of kind "both" is that of kind "ntk", and its RF map is the x part of
    every final position's (τ, x) (docs/features.md)."""
    X = images(3)
    ntk, rf = NET.feature_map(400, "both", 5).transform(X)
    np.testing.assert_array_equal(ntk, NET.feature_map(400, "ntk", 5).transform(X))
    (m, s) = NET.feature_map(400, "both", 5).widths(SHAPE)[-1]
    np.testing.assert_array_equal(ntk.reshape(3, 4, s + m)[..., s:].reshape(3, -1), rf)


def test_out_progress_and_empty_inputs(tmp_path):
    X = images(5)
    fm = NET.feature_map(128, "rf", 1, "float64")
    want = fm.transform(X)
    out = np.lib.format.open_memmap(tmp_path / "F.npy", mode="w+", dtype=np.float64, shape=(5, 128))
    assert fm.transform(X, out=out) is out
    np.testing.assert_array_equal(out, want)
    calls = []
    fm.transform(images(40), progress=lambda done, total: calls.append((done, total)))
    assert all(total == 40 and 0 <= done <= 40 for done, total in calls)
    assert fm.transform(np.empty((0, *SHAPE))).shape == (0, 128)
    ntk, rf = NET.feature_map(400, "both").transform(np.empty((0, *SHAPE)))
    assert ntk.shape == (0, 400) and rf.shape == (0, 200)


# --------------------------------------------------------------------------- the value


def test_widths_follow_the_rule():
    one = nk.CNN([L()])
    assert features.widths(NET, 4096, "ntk", 1) == [(512, 2048), (2048, 2048)]
    assert features.widths(NET, 4096, "rf", 1) == [(512, 0), (4096, 0)]
    assert features.widths(NET, 4096, "ntk", 4) == [(512, 2048), (512, 512)]
    assert features.widths(one, 101, "ntk", 1) == [(51, 50)]
    assert features.widths(NET, 100, "both", 4) == [(64, 256), (13, 12)]
    assert features.widths(NET, 40960, "ntk", 1)[0] == (5120, 4096)  # the sketch is capped
    assert features.widths(NET, 640, "ntk", 1)[0] == (96, 384)  # 32 · round(2.5): halves round up
    msg = r"dim: .* 4 position\(s\) on its final grid \[2, 2\] .* multiple of 4 .* got 4098 \(nearest: 4096 or 4100\)"
    with pytest.raises(ValueError, match=msg):
        features.widths(NET, 4098, "ntk", 4, (2, 2))
    with pytest.raises(ValueError, match=r"at least 8, got 4 \(nearest: 8\)"):
        features.widths(NET, 4, "ntk", 4)
    assert features.widths(NET, 4, "rf", 4)[-1] == (1, 0)


def test_dims_widths_and_draws_of_a_map():
    fm = NET.feature_map(400, "both", 0)  # no global pooling: P_f follows the inputs
    assert fm.dim == (400, None) and fm.input_shape is None
    with pytest.raises(ValueError, match="pass input_shape"):
        fm.widths()
    assert fm.widths(SHAPE) == [(64, 256), (50, 50)]
    fixed = NET.feature_map(400, "both", 0, input_shape=SHAPE)
    assert fixed.dim == (400, 200) and fixed.widths() == [(64, 256), (50, 50)]
    pooled = nk.CNN([L(3, pool=P.global_average())]).feature_map(101, "both")
    assert pooled.dim == (101, 51) and pooled.widths() == [(51, 50)]
    given_widths = NET.feature_map(None, "ntk", widths=[(5, 3), (4, 2)])
    assert given_widths.dim is None and given_widths.widths() == [(5, 3), (4, 2)]
    assert given_widths.transform(images(2)).shape == (2, 24)
    W, m, s, b1, s1, b2, s2 = fixed.draws()[1]
    assert W.shape == (4 * 64, 25) and (m, s) == (50, 50) and W.dtype == np.float64
    assert b1.shape == s1.shape == (50,) and b2.shape == s2.shape == (4 * (64 + 256),)
    assert b1.dtype == np.int64 and set(np.unique(s2)) <= {-1.0, 1.0}
    assert not W.flags.writeable and fixed.draws() is fixed.draws()
    # Fixed-norm orthogonal directions: blocks of dp orthogonal columns of norm sqrt(dp).
    W0 = fixed.draws()[0][0]  # dp = 18, 32 columns: a block of 18, one of 14
    np.testing.assert_allclose(W0[:, :18].T @ W0[:, :18], 18 * np.eye(18), atol=1e-12)
    np.testing.assert_allclose(W0[:, 18:].T @ W0[:, 18:], 18 * np.eye(14), atol=1e-12)
    rf = NET.feature_map(400, "rf", 0).draws(SHAPE)
    assert rf[0][2:] == (0, None, None, None, None)


def test_maps_are_immutable_values():
    fm = NET.feature_map(64, seed=3, input_shape=SHAPE)
    assert (
        fm == NET.feature_map(64, seed=3, input_shape=SHAPE) != NET.feature_map(64, seed=4, input_shape=SHAPE)
    )
    assert (
        fm != NET.feature_map(64, seed=3) and len({fm, NET.feature_map(64, seed=3, input_shape=SHAPE)}) == 1
    )
    assert repr(fm).startswith("FeatureMap(CNN([") and "dim=64, kind='ntk', seed=3, dtype='float32'" in repr(
        fm
    )
    assert isinstance(fm, nk.FeatureMap)
    with pytest.raises(AttributeError, match="immutable"):
        fm.dim = 128
    with pytest.raises(AttributeError, match="immutable"):
        fm._seed = 4
    with pytest.raises(AttributeError, match="immutable"):
        del fm._seed


# --------------------------------------------------------------------------- argument checks


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: NET.feature_map(0), ValueError, "dim must be >= 1"),
        (lambda: NET.feature_map("64"), TypeError, "dim must be an integer"),
        (lambda: NET.feature_map(None), TypeError, "dim must be an integer"),
        (lambda: NET.feature_map(64, "ntks"), ValueError, "kind must be one of"),
        (lambda: NET.feature_map(64, dtype="float16"), ValueError, "dtype must be 'float64' or 'float32'"),
        (lambda: NET.feature_map(64, seed=-1), ValueError, "seed must be >= 0"),
        (lambda: NET.feature_map(64, seed=1.5), TypeError, "seed must be a non-negative integer"),
        (lambda: NET.feature_map(64, normalize="yes"), TypeError, "normalize must be True or False"),
        (lambda: NET.feature_map(64, input_shape=(6, 0, 2)), ValueError, "input_shape must be >= 1"),
        (lambda: NET.feature_map(64, input_shape=5), TypeError, "input_shape must be a tuple"),
        (lambda: NET.feature_map(64, input_shape=(6, 5, 2, 2, 1)), ValueError, "input_shape must have shape"),
        (lambda: NET.feature_map(66, input_shape=SHAPE), ValueError, r"dim: .*final grid \[2, 2\].*got 66"),
        (
            lambda: NET.feature_map(64, input_shape=(2, 2, 1)),
            ValueError,
            "layer 1: a 'valid' patch of size 2",
        ),
        (lambda: NET.feature_map(64, input_shape=(4,)), ValueError, "patch must be None for vector inputs"),
        (lambda: NET.feature_map(64, widths=[(4, 4)]), ValueError, "widths: the network has 2 layer"),
        (lambda: NET.feature_map(64, widths=[(4, 4), (0, 4)]), ValueError, r"widths\[1\] \(m\) must be >= 1"),
        (lambda: NET.feature_map(64, widths=[(4, 0), (4, 4)]), ValueError, r"s = 0 is for kind='rf'"),
        (lambda: NET.feature_map(64, widths=[4, 4]), TypeError, r"widths\[0\] must be a pair"),
        (lambda: NET.feature_map(64, widths="wide"), TypeError, "widths must be a sequence"),
        (
            lambda: NET.feature_map(64, widths=[(4, 4), (4, 4)], input_shape=SHAPE),
            ValueError,
            r"give features of length 32 .* got dim=64; pass dim=32",
        ),
        (lambda: nk.FeatureMap("net", 64), TypeError, "net must be an ntk_rs.CNN"),
    ],
)
def test_bad_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_bad_inputs_and_outputs():
    fm = NET.feature_map(64, seed=0, input_shape=SHAPE)
    X = images(3)
    with pytest.raises(
        ValueError,
        match=re.escape("X must hold signals of shape (6, 5, 2) (the map's input_shape), got (6, 5, 1)"),
    ):
        fm.transform(images(3, shape=(6, 5, 1)))
    bad = X.copy()
    bad[1, 2, 0, 1] = np.nan
    with pytest.raises(
        ValueError, match=re.escape("X contains NaN or infinity (first at index (1, 2, 0, 1))")
    ):
        fm.transform(bad)
    with pytest.raises(TypeError, match="X must hold real numbers"):
        fm.transform(np.full((1, *SHAPE), "a"))
    with pytest.raises(ValueError, match="X must have shape"):
        fm.transform(np.ones(5))
    with pytest.raises(ValueError, match="batch must be >= 1"):
        fm.transform(X, batch=0)
    with pytest.raises(ValueError, match=re.escape("out must have shape (3, 64), got (3, 65)")):
        fm.transform(X, out=np.empty((3, 65), np.float32))
    with pytest.raises(TypeError, match="out must have dtype float32"):
        fm.transform(X, out=np.empty((3, 64)))
    with pytest.raises(TypeError, match="out must be a numpy array"):
        fm.transform(X, out=[[0.0] * 64] * 3)
    with pytest.raises(ValueError, match="out must be C-contiguous"):
        fm.transform(X, out=np.empty((64, 3), np.float32).T)
    readonly = np.empty((3, 64), np.float32)
    readonly.flags.writeable = False
    with pytest.raises(ValueError, match="out is read-only"):
        fm.transform(X, out=readonly)
    shared = np.zeros(3 * 64 + X.size)  # out over X's memory
    fm64 = NET.feature_map(64, seed=0, dtype="float64")
    with pytest.raises(ValueError, match="out shares memory with X"):
        fm64.transform(shared[: X.size].reshape(X.shape), out=shared[:192].reshape(3, 64))
    both = NET.feature_map(64, "both", 0)
    with pytest.raises(TypeError, match=r"out must be a tuple \(ntk, rf\)"):
        both.transform(X, out=np.empty((3, 64), np.float32))
    buf = np.empty((3, 64), np.float32)
    with pytest.raises(ValueError, match=re.escape(r"out[1] must have shape (3, 32)")):
        both.transform(X, out=(buf, buf))
    with pytest.raises(ValueError, match=re.escape(r"out[1] shares memory with out[0]")):
        flat = np.empty(192, np.float32)
        both.transform(X, out=(flat.reshape(3, 64), flat[96:].reshape(3, 32)))
    with pytest.raises(
        ValueError, match=re.escape("dim: the network keeps 4 position(s) on its final grid [2, 2]")
    ):
        NET.feature_map(66).transform(X)  # P_f is known only now
    with pytest.raises(ValueError, match="layer 1: a 'valid' patch of size 2 does not fit"):
        NET.feature_map(64).transform(images(2, shape=(2, 2, 1)))


# --------------------------------------------------------------------------- scikit-learn


def test_scikit_learn_checks():
    pytest.importorskip("sklearn")
    from sklearn.utils.estimator_checks import check_estimator

    from ntk_rs.sklearn import NTKFeatures

    for estimator, expected in [
        (NTKFeatures(dim=256, seed=0), {}),
        (NTKFeatures(nk.CNN([L(), L()]), dim=130, kind="rf", seed=1, dtype="float64"), {}),
        (
            NTKFeatures(dim=64),
            {
                "check_fit_idempotent": "seed=None draws new features at each fit, as Nystroem(random_state=None) "
                "does (scikit-learn's checks fix random_state, not seed)",
            },
        ),
    ]:
        check_estimator(estimator, expected_failed_checks=expected)


def test_scikit_learn_pipeline_on_digits():
    pytest.importorskip("sklearn")
    from sklearn.datasets import load_digits
    from sklearn.linear_model import RidgeClassifierCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler

    from ntk_rs.sklearn import NTKFeatures

    X, y = load_digits(return_X_y=True)
    X, y = X[:300], y[:300]
    net = nk.CNN([L(3, pool=P.average(2)), L(2, pool=P.global_average())])
    features = NTKFeatures(net, dim=1024, seed=0, input_shape=(8, 8, 1))
    pipe = make_pipeline(MinMaxScaler(), features, RidgeClassifierCV(alphas=np.logspace(-3, 3, 7)))
    pipe.fit(X[:200], y[:200])
    assert pipe.score(X[200:], y[200:]) > 0.85
    fitted = pipe[1]
    assert (
        fitted.feature_map_.dim == 1024 and fitted.input_shape_ == (8, 8, 1) and fitted.n_features_in_ == 64
    )
    assert list(fitted.get_feature_names_out()[:2]) == ["ntkfeatures0", "ntkfeatures1"]
    assert fitted.transform(X[:3] / 16).dtype == np.float32
    # The same features as the map itself.
    images = X[:5].reshape(-1, 8, 8, 1) / 16
    model = NTKFeatures(net, dim=1024, seed=0).fit(images)
    np.testing.assert_array_equal(model.transform(images), net.feature_map(1024, seed=0).transform(images))
    with pytest.raises(
        ValueError,
        match=re.escape("X must hold signals of shape (8, 8, 1), as the training inputs, got (8, 7, 1)"),
    ):
        model.transform(np.ones((2, 8, 7, 1)))
    with pytest.raises(ValueError, match="kind must be 'ntk' or 'rf'"):
        NTKFeatures(kind="both").fit(images)
    with pytest.raises(TypeError, match=r"net must be an ntk_rs\.CNN"):
        NTKFeatures("cnn").fit(images)


# --------------------------------------------------------------------------- dask


def test_dask_features_are_the_maps_features():
    da = pytest.importorskip("dask.array")
    nkd = pytest.importorskip("ntk_rs.dask")
    X = images(11)
    fm = NET.feature_map(128, "both", 0)
    ntk, rf = nkd.features(fm, da.from_array(X, chunks=(4, 3, 5, 2)))
    assert ntk.chunks == ((4, 4, 3), (128,)) and rf.chunks == ((4, 4, 3), (64,)) and ntk.dtype == np.float32
    import dask

    got = dask.compute(ntk, rf, scheduler="threads")
    for g, w in zip(got, fm.transform(X)):
        np.testing.assert_array_equal(g, w)
    F = nkd.features(NET.feature_map(128, "rf", 0, "float64"), X, chunks=5)
    np.testing.assert_array_equal(F.compute(), NET.feature_map(128, "rf", 0, "float64").transform(X))
    X[9, 1, 2, 0] = np.inf
    with pytest.raises(
        ValueError, match=re.escape("X contains NaN or infinity (first at index (9, 1, 2, 0))")
    ):
        nkd.features(fm, da.from_array(X, chunks=(4, 6, 5, 2)))[0].compute(scheduler="synchronous")
    with pytest.raises(TypeError, match=r"fm must be an ntk_rs\.FeatureMap"):
        nkd.features(NET, X)
    with pytest.raises(ValueError, match="dim: the network keeps 4"):
        nkd.features(NET.feature_map(66), da.from_array(images(3), chunks=2))

"""The scikit-learn estimators: scikit-learn's own checks, model selection, and the
predictions against closed forms."""

import re

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import ntk_rs as nk
from ntk_rs.sklearn import NTKClassifier, NTKRegressor


@parametrize_with_checks([NTKRegressor(), NTKClassifier(), NTKClassifier(kind="rf", ridge=1e-3, t=50.0)])
def test_scikit_learn_checks(estimator, check):
    check(estimator)


def two_layer_ntk(X, Z):
    """spec §2's closed form for one fully connected layer."""
    norms = np.outer(np.linalg.norm(X, axis=1), np.linalg.norm(Z, axis=1))
    u = np.clip(X @ Z.T / norms, -1, 1)
    k0 = 1 - np.arccos(u) / np.pi
    k1 = (u * (np.pi - np.arccos(u)) + np.sqrt(1 - u * u)) / np.pi
    return norms * (u * k0 + k1)


def test_regressor_is_kernel_ridge_regression_with_a_relative_ridge():
    rng = np.random.default_rng(0)
    X, Z, y = rng.standard_normal((20, 4)), rng.standard_normal((6, 4)), rng.standard_normal((20, 3))
    K = two_layer_ntk(X, X)
    scale = np.trace(K) / len(K)
    want = two_layer_ntk(Z, X) @ np.linalg.solve(K + 0.1 * scale * np.eye(20), y)
    model = NTKRegressor(ridge=0.1).fit(X, y)
    np.testing.assert_allclose(model.predict(Z), want, rtol=1e-7)
    # Scale-free parameters: the kernel is homogeneous (spec §4), the predictions are not moved.
    np.testing.assert_allclose(NTKRegressor(ridge=0.1).fit(3 * X, y).predict(3 * Z), want, rtol=1e-7)
    # Finite t: gradient flow with learning rate 1 / mean diagonal (eigen-decomposition by hand).
    mu, V = np.linalg.eigh(K)
    coef = V @ ((1 - np.exp(-mu * 2.0 / scale)) / mu * (V.T @ y[:, 0]))
    np.testing.assert_allclose(
        NTKRegressor(t=2.0).fit(X, y[:, 0]).predict(Z), two_layer_ntk(Z, X) @ coef, rtol=1e-7
    )


def digits(n=150):
    data = load_digits()
    return data.data[:n], data.target[:n]  # rows of 64 pixels in 0..16


NET = nk.CNN([nk.Layer(patch=3, pool=nk.Pool.average(4)), nk.Layer(patch=2)])


def test_classifier_in_a_pipeline_and_grid_search_on_digits():
    X, y = digits()
    pipe = make_pipeline(MinMaxScaler(), NTKClassifier(NET, input_shape=(8, 8, 1)))
    search = GridSearchCV(pipe, {"ntkclassifier__ridge": [0.0, 1e-2]}, cv=2)
    search.fit(X[:100], y[:100])
    assert search.best_score_ > 0.8
    assert search.score(X[100:], y[100:]) > 0.85
    # 4-D images work without input_shape.
    images = X.reshape(-1, 8, 8, 1) / 16
    model = NTKClassifier(NET, kind="rf").fit(images[:100], y[:100])
    assert model.score(images[100:], y[100:]) > 0.85
    assert model.decision_function(images[100:]).shape == (50, 10)
    # Images of another shape are named as such (scikit-learn's check spoke of "7 features").
    for other in (np.ones((2, 7, 7, 1)), np.ones((2, 8, 7, 1)), np.ones((2, 8, 8)), np.ones((2, 64))):
        with pytest.raises(
            ValueError,
            match=rf"X must hold signals of shape \(8, 8, 1\).*got {re.escape(str(other.shape[1:]))}",
        ):
            model.predict(other)


def test_classifier_scores_are_not_probabilities_but_calibrate():
    """No predict_proba (scores of regression on one-hot targets); a calibrated
    classifier on its decision_function gives probabilities."""
    from sklearn.calibration import CalibratedClassifierCV

    X, y = digits()
    images = X.reshape(-1, 8, 8, 1) / 16
    model = NTKClassifier(NET)
    assert not hasattr(model, "predict_proba")
    calibrated = CalibratedClassifierCV(model, cv=2).fit(images[:100], y[:100])
    proba = calibrated.predict_proba(images[100:])
    assert proba.shape == (50, 10) and np.allclose(proba.sum(axis=1), 1) and (proba >= 0).all()
    assert (calibrated.classes_[proba.argmax(axis=1)] == y[100:]).mean() > 0.8


def test_bad_parameters_and_unfitted_use():
    X, y = np.random.default_rng(0).standard_normal((6, 4)), np.arange(6) % 2
    with pytest.raises(ValueError, match="kind must be 'ntk' or 'rf'"):
        NTKClassifier(kind="both").fit(X, y)
    with pytest.raises(TypeError, match=r"net must be an ntk_rs\.CNN"):
        NTKClassifier(net="cnn").fit(X, y)
    with pytest.raises(ValueError, match=r"input_shape \(2, 3\) needs X of shape \(n, 6\)"):
        NTKClassifier(input_shape=(2, 3)).fit(X, y)
    with pytest.raises(ValueError, match="t must be >= 0"):
        NTKRegressor(t=-1.0).fit(X, y)
    with pytest.raises(ValueError, match="patch must be None for vector inputs"):
        NTKRegressor(nk.CNN([nk.Layer(patch=3)])).fit(X, y)
    with pytest.raises(ValueError, match="t must be a number or None"):
        NTKRegressor(t=[1.0, 2.0]).fit(X, y)
    with pytest.raises(ValueError, match="ridge must be finite and >= 0"):
        NTKRegressor(ridge=-1.0).fit(X, y)
    with pytest.raises(TypeError, match="ridge must be a number"):
        NTKRegressor(ridge="big").fit(X, y)
    with pytest.raises(NotFittedError):
        NTKRegressor().predict(X)

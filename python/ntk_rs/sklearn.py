"""scikit-learn estimators: the infinitely wide network, trained, as a regressor or classifier.

Needs scikit-learn (the ``demo`` extra); the rest of ntk_rs does not import it.

Both estimators compute ``net.kernel`` between the training inputs at ``fit`` and from
new inputs to them at ``predict``, and return the predictions of
:mod:`ntk_rs.predict`. ``ridge`` and ``t`` are scale-free: with
``κ = mean(diag K_train)``, the ridge is ``ridge · κ`` and the learning rate ``1 / κ``,
so scaling the inputs (which scales the kernel, spec §4) does not change the predictions.

:class:`NTKFeatures` is a transformer instead: the random features of
:meth:`ntk_rs.CNN.feature_map`, for linear models on many more inputs than a Gram
matrix holds (``make_pipeline(NTKFeatures(net, 16384), RidgeClassifierCV())``).
"""

from __future__ import annotations

import numpy as np

try:
    from sklearn.base import (
        BaseEstimator,
        ClassifierMixin,
        ClassNamePrefixFeaturesOutMixin,
        RegressorMixin,
        TransformerMixin,
        is_regressor,
    )
    from sklearn.utils import check_random_state
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError("ntk_rs.sklearn needs scikit-learn >= 1.6: pip install 'ntk_rs[demo]'") from e

from .network import CNN, Layer
from .predict import GradientFlow, _nonnegative, one_hot


class _KernelModel(BaseEstimator):
    """Shared parameters, fitting and kernel evaluation of the two estimators.

    ``net``: the :class:`ntk_rs.CNN` (default ``None``: one fully connected hidden
    layer, ``CNN([Layer()])``); ``kind``: ``"ntk"`` (the whole network is trained) or
    ``"rf"`` (only the readout); ``ridge``: ``λ / mean(diag K)``; ``t``: gradient-flow
    time at learning rate ``1 / mean(diag K)``, i.e. ``exp(−t K / mean(diag K))`` in the
    formula of :mod:`ntk_rs.predict` (``None``: to convergence, ``t = ∞``);
    ``input_shape``: the shape of one signal, to reshape 2-D feature matrices of
    pipelines into signals (``None``: ``X`` is used as given, 2-D rows being vectors).
    """

    def __init__(
        self, net: CNN | None = None, kind: str = "ntk", ridge: float = 0.0, t=None, input_shape=None
    ):
        self.net = net
        self.kind = kind
        self.ridge = ridge
        self.t = t
        self.input_shape = input_shape

    def _signals(self, X, y="no_validation", reset: bool = False):
        """Validated inputs with the signal shape the network takes (and targets, if given)."""
        if isinstance(y, str) and y == "no_validation":
            X, y = validate_data(self, X, reset=reset, allow_nd=True, dtype=np.float64), None
        else:
            X, y = validate_data(
                self,
                X,
                y,
                reset=reset,
                allow_nd=True,
                dtype=np.float64,
                multi_output=True,
                y_numeric=is_regressor(self),
            )
        if self.input_shape is not None:
            shape = tuple(self.input_shape)
            if X.ndim != 2 or X.shape[1] != np.prod(shape):
                raise ValueError(f"input_shape {shape} needs X of shape (n, {np.prod(shape)}), got {X.shape}")
            X = X.reshape(len(X), *shape)
        return X, y

    def _check_signal_shape(self, X) -> None:
        """Signals of the training shape, said in those terms: for images and 1-D signals
        scikit-learn's check would count their first axis as 'features'."""
        if self.input_shape is not None:
            return
        try:
            shape = np.shape(X)[1:]
        except (ValueError, TypeError):  # ragged, or no shape to read: validate_data says why
            return
        want = self.X_fit_.shape[1:]
        if shape != want and max(len(shape), len(want)) > 1:
            raise ValueError(f"X must hold signals of shape {want}, as the training inputs, got {shape}")

    def _network(self) -> CNN:
        if self.kind not in ("ntk", "rf"):
            raise ValueError(f"kind must be 'ntk' or 'rf', got {self.kind!r}")
        net = CNN([Layer()]) if self.net is None else self.net
        if not isinstance(net, CNN):
            raise TypeError(f"net must be an ntk_rs.CNN or None, got {net!r}")
        return net

    def _fit(self, X, targets: np.ndarray) -> None:
        net = self._network()
        if self.t is not None and np.ndim(self.t) != 0:
            raise ValueError(f"t must be a number or None, got {self.t!r}")
        ridge = _nonnegative(self.ridge, "ridge")
        K = net.kernel(X, kind=self.kind)
        scale = float(np.mean(np.diag(K))) or 1.0  # an all-zero kernel has no scale
        flow = GradientFlow(K, targets, lr=1.0 / scale, ridge=ridge * scale)
        #: ``α`` of ``f(x) = K(x, X_fit_) α``
        self.dual_coef_ = flow.coefficients(np.inf if self.t is None else self.t)
        # A copy: predictions must not depend on whether X is the training array itself
        # (net.kernel takes the symmetric path for it, exact on the diagonal).
        self.X_fit_ = X.copy()

    def _outputs(self, X) -> np.ndarray:
        check_is_fitted(self)
        self._check_signal_shape(X)
        X, _ = self._signals(X)
        return self._network().kernel(X, self.X_fit_, kind=self.kind) @ self.dual_coef_


class NTKRegressor(RegressorMixin, _KernelModel):
    """The regression of an infinitely wide network trained on the squared loss."""

    __doc__ += "\n\n" + _KernelModel.__doc__

    def fit(self, X, y):
        X, y = self._signals(X, y, reset=True)
        self._fit(X, y)
        return self

    def predict(self, X) -> np.ndarray:
        return self._outputs(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


class NTKClassifier(ClassifierMixin, _KernelModel):
    """Classification by regression on one-hot targets, as the NTK demo on digits.

    It has no ``predict_proba``: the trained network's outputs are regression scores
    on one-hot targets, not probabilities (they need not lie in [0, 1] nor sum to 1),
    as for scikit-learn's ``RidgeClassifier``. For probabilities, calibrate the scores
    of :meth:`decision_function`, e.g. with
    ``sklearn.calibration.CalibratedClassifierCV(NTKClassifier(...))``.
    """

    __doc__ += "\n\n" + _KernelModel.__doc__

    def fit(self, X, y):
        X, y = self._signals(X, y, reset=True)
        check_classification_targets(y)
        targets, self.classes_ = one_hot(column_or_1d(y, warn=True))
        self._fit(X, targets)
        return self

    def decision_function(self, X) -> np.ndarray:
        """The network's outputs, one column per class of :attr:`classes_`; with two
        classes, as scikit-learn expects, the second output minus the first."""
        scores = self._outputs(X)
        return scores[:, 1] - scores[:, 0] if scores.shape[1] == 2 else scores

    def predict(self, X) -> np.ndarray:
        scores = self._outputs(X)
        return self.classes_[scores.argmax(axis=1)]


class NTKFeatures(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Random features of the network's kernel, as scikit-learn's ``Nystroem`` or
    ``PolynomialCountSketch``: ``transform(X)`` gives ``F`` with ``F Fᵀ ≈
    net.kernel(X, kind=kind)``, so a linear model on ``F`` approximates the kernel
    model in time and memory linear in the number of inputs.

    ``net``: the :class:`ntk_rs.CNN` (default ``None``: one fully connected hidden
    layer, ``CNN([Layer()])``); ``dim``: the number of features (without global
    average pooling, a multiple of the final grid's positions); ``kind``: ``"ntk"`` or
    ``"rf"``; ``seed``: an int, a ``numpy.random.RandomState``, or ``None`` (an int
    drawn at ``fit`` from NumPy's global generator, so each fit draws other features);
    ``input_shape``: the shape of one signal, to reshape 2-D feature matrices of
    pipelines into signals (``None``: ``X`` is used as given, 2-D rows being vectors);
    ``dtype``: the precision of the computation and of the features.

    Fitted attributes: ``feature_map_`` (the :class:`ntk_rs.FeatureMap`), ``seed_``,
    ``input_shape_``, ``n_features_in_``.
    """

    def __init__(
        self, net: CNN | None = None, dim=4096, kind="ntk", seed=None, input_shape=None, dtype="float32"
    ):
        self.net = net
        self.dim = dim
        self.kind = kind
        self.seed = seed
        self.input_shape = input_shape
        self.dtype = dtype

    def fit(self, X, y=None):
        """Validates ``X``, learns the signals' shape and draws the map (``y`` is ignored)."""
        if self.kind not in ("ntk", "rf"):
            raise ValueError(f"kind must be 'ntk' or 'rf' (one array of features), got {self.kind!r}")
        net = CNN([Layer()]) if self.net is None else self.net
        if not isinstance(net, CNN):
            raise TypeError(f"net must be an ntk_rs.CNN or None, got {net!r}")
        X = self._signals(X, reset=True)
        if isinstance(self.seed, int | np.integer) and not isinstance(self.seed, bool):
            self.seed_ = int(self.seed)
        else:
            self.seed_ = int(check_random_state(self.seed).randint(np.iinfo(np.int32).max))
        self.input_shape_ = X.shape[1:]
        self.feature_map_ = net.feature_map(
            self.dim, self.kind, self.seed_, self.dtype, input_shape=self.input_shape_
        )
        return self

    def transform(self, X):
        """The features of ``X``: shape ``(n, dim)``, of ``dtype``."""
        check_is_fitted(self)
        if self.input_shape is None:
            try:
                shape = np.shape(X)[1:]
            except (ValueError, TypeError):  # ragged, or no shape to read: validate_data says why
                shape = self.input_shape_
            want = self.input_shape_
            if shape != want and max(len(shape), len(want)) > 1:
                raise ValueError(f"X must hold signals of shape {want}, as the training inputs, got {shape}")
        return self.feature_map_.transform(self._signals(X, reset=False))

    def _signals(self, X, reset: bool) -> np.ndarray:
        X = validate_data(self, X, reset=reset, allow_nd=True, dtype=np.float64)
        if self.input_shape is not None:
            shape = tuple(self.input_shape)
            if X.ndim != 2 or X.shape[1] != np.prod(shape):
                raise ValueError(f"input_shape {shape} needs X of shape (n, {np.prod(shape)}), got {X.shape}")
            X = X.reshape(len(X), *shape)
        return X

    @property
    def _n_features_out(self) -> int:
        return self.feature_map_.dim

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # seed=None draws other features at every fit.
        tags.non_deterministic = self.seed is None
        dtype = self.dtype if self.dtype in ("float32", "float64") else None
        tags.transformer_tags.preserves_dtype = [dtype] if dtype else []
        return tags

"""The demo's network and data, in one place: ``python -m ntk_rs demo`` runs on them,
the features-exact study compares with them, ``tools/demo_selection.py`` chose them."""

from __future__ import annotations

import numpy as np

import ntk_rs as nk

#: Chosen on the 1000 training digits alone by 10×10-fold cross-validation among 33
#: candidates that fit the demo's time budget (``tools/demo_selection.py``): a 4×4
#: patch without padding and Gaussian pooling (σ = 3, stride 2), then a 3×3 patch and
#: global average pooling.
NET = nk.CNN(
    [
        nk.Layer(patch=4, padding="valid", pool=nk.Pool.gaussian(stride=2, sigma=3.0)),
        nk.Layer(patch=3, pool=nk.Pool.global_average()),
    ]
)


def digits(train: int = 1000) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn's 8×8 digits as the demo splits them: images ``(1797, 8, 8, 1)`` in
    [0, 1], labels, and the indices of the first ``train`` and of the other digits in
    ``np.random.default_rng(0).permutation`` order. ImportError without scikit-learn."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ImportError("the digits need scikit-learn: pip install 'ntk_rs[demo]'") from None
    data = load_digits()
    X = data.images[..., None] / 16.0
    order = np.random.default_rng(0).permutation(len(X))
    return X, data.target, order[:train], order[train:]

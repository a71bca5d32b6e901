"""Random features against the exact kernel on MNIST and digits: test accuracy of ridge regression as dim grows.

``python -m ntk_rs.experiments features-exact --out DIR [--quick] [--data DIR]``: on
2000 training and 500 test MNIST images averaged to 14×14, the exact NTK of
``_features.EXACT_NET`` (3 million pairs: ~10 minutes on 2 cores), and on
scikit-learn's digits (the demo's network and split, 1000 / 797), random features of
dims 512 … 16384, two draws each, all fitted by the same ridge regression with the
ridge chosen on a held-out tenth of the training images (``_features.compare``).
Quick: 120 / 60 images of each, dims 256 … 1024, one draw. Writes
``features_exact.{csv,png}`` (MNIST) and ``features_exact_digits.{csv,png}``: accuracy
against dim with the exact kernel's as a horizontal line, and the Gram error
``‖FFᵀ − K‖ / ‖K‖`` against dim.
"""

from __future__ import annotations

from pathlib import Path

from .. import _demo
from . import _features

DIMS = [512, 1024, 2048, 4096, 8192, 16384]
QUICK_DIMS = [256, 512, 1024]


def main(out: Path, quick: bool, data: Path | None = None) -> None:
    if quick:
        _features.compare(out, _features.mnist_halved(120, 60, data), dims=QUICK_DIMS, seeds=1)
        _features.compare(
            out,
            _features.digits(120, 60),
            dims=QUICK_DIMS,
            seeds=1,
            net=_demo.NET,
            study="features-exact-digits",
        )
    else:
        _features.compare(out, _features.mnist_halved(2000, 500, data), dims=DIMS, seeds=2)
        _features.compare(
            out, _features.digits(), dims=DIMS, seeds=2, net=_demo.NET, study="features-exact-digits"
        )

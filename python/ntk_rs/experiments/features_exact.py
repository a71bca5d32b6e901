"""Random features against the exact kernel on MNIST: test accuracy of ridge regression as dim grows.

``python -m ntk_rs.experiments features-exact --out DIR [--quick] [--data DIR]``: on
2000 training and 500 test MNIST images averaged to 14×14 (quick: 120 and 60), the
exact NTK of ``_features.EXACT_NET`` (3 million pairs: ~10 minutes on 2 cores) and
random features of dims 512 … 16384 (quick: 256 … 1024, one draw), two draws each,
all fitted by the same ridge regression with the ridge chosen on a held-out tenth of
the training images (``_features.compare``). Writes
``features_exact.csv`` and ``features_exact.png``: accuracy against dim with the exact
kernel's as a horizontal line, and the Gram error ``‖FFᵀ − K‖ / ‖K‖`` against dim.
"""

from __future__ import annotations

from pathlib import Path

from . import _features

DIMS = [512, 1024, 2048, 4096, 8192, 16384]


def main(out: Path, quick: bool, data: Path | None = None) -> None:
    if quick:
        _features.compare(out, n_train=120, n_test=60, dims=[256, 512, 1024], seeds=1, data=data)
    else:
        _features.compare(out, n_train=2000, n_test=500, dims=DIMS, seeds=2, data=data)

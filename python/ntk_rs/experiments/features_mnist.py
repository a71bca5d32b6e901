"""Random features of a 3-layer CNN kernel on all of MNIST: ridge readout, test accuracy, time and memory.

``python -m ntk_rs.experiments features-mnist --out DIR [--quick] [--data DIR] [--dim N]``
reads ``mnist.npz`` (Keras' layout) from ``--data`` (default ``../shared/data`` beside
the checkout), computes ``net.feature_map(dim).transform`` of the 60 000 training and
10 000 test images, fits ridge regression on the one-hot labels with the ridge chosen on
a held-out tenth of the training set (``_features.feature_ridge``), and prints and
writes (``features_mnist.csv``) the test accuracy, each phase's time and the peak
memory. Preprocessing: pixels / 255, then standardised with the training set's mean
and standard deviation. ``--quick``: 2000 train / 500 test images, dim 1024.
"""

from __future__ import annotations

from pathlib import Path

import ntk_rs as nk

from . import _features

#: Conv 5×5 "valid" (28 → 24) → Gaussian pooling stride 2 (→ 12) → conv 3×3 → Gaussian
#: pooling stride 2 (→ 6) → conv 3×3 → global average. The 5×5 first patch sees a
#: stroke and its surroundings; the anti-aliased Gaussian pooling (Bietti & Mairal 2019)
#: gives stability to small deformations; global pooling makes the final grid a single
#: position, so that all of ``dim`` describes one vector (``docs/features.md``, widths).
NET = nk.CNN(
    [
        nk.Layer(5, padding="valid", pool=nk.Pool.gaussian(2)),
        nk.Layer(3, pool=nk.Pool.gaussian(2)),
        nk.Layer(3, pool=nk.Pool.global_average()),
    ]
)
#: Features of the full run: the intermediate layers get dim / 8 = 2048 RF features,
#: the final one 8192 RF features and an 8192-long sketch; the fit's Gram is 2 GiB.
DIM = 16384
QUICK_DIM = 1024
QUICK_TRAIN, QUICK_TEST = 2000, 500


def run(
    out: Path,
    *,
    net: nk.CNN = NET,
    dim: int = DIM,
    widths: list[tuple[int, int]] | None = None,
    n_train: int | None = None,
    n_test: int | None = None,
    seed: int = 0,
    data: Path | None = None,
    progress: bool = True,
) -> dict[str, object]:
    """The study with every choice open (network, ``dim``, per-layer ``widths``, sizes):
    see :func:`ntk_rs.experiments._features.run`. Returns the CSV's row."""
    return _features.run(
        _features.MNIST,
        out,
        net,
        dim,
        n_train=n_train,
        n_test=n_test,
        widths=widths,
        seed=seed,
        data=data,
        progress=progress,
        study="features-mnist",
    )


def main(out: Path, quick: bool, data: Path | None = None, dim: int | None = None) -> None:
    if quick:
        run(out, dim=dim or QUICK_DIM, n_train=QUICK_TRAIN, n_test=QUICK_TEST, data=data, progress=False)
    else:
        run(out, dim=dim or DIM, data=data)

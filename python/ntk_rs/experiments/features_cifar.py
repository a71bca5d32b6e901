"""Random features of a 4-layer CNN kernel on all of CIFAR-10 (ZCA-whitened): ridge readout, test accuracy, time and memory.

``python -m ntk_rs.experiments features-cifar --out DIR [--quick] [--data DIR] [--dim N]
[--no-zca]`` reads ``cifar10.npz`` (Keras' layout, NHWC) from ``--data`` (default
``../shared/data`` beside the checkout), computes ``net.feature_map(dim).transform`` of
the 50 000 training and 10 000 test images, fits ridge regression on the one-hot labels
with the ridge chosen on a held-out tenth of the training set
(``_features.feature_ridge``), and prints and writes (``features_cifar.csv``) the test
accuracy, each phase's time and the peak memory.

Preprocessing: pixels / 255, standardised per channel, then ZCA whitening of the images
with a small regulariser (``_features.zca_fit``), both fitted on the training images
(the tenth held out for the ridge excluded); ``--no-zca`` or ``zca=False`` turns the
whitening off. ZCA is on by default because kernel methods on CIFAR-10 whiten, as the
literature does (Arora et al. 2019; Shankar et al. 2020), and gain several points from
it (quick run: 56 % with, 44 % without). ``--quick``: 2000 train / 500 test images,
dim 1024.
"""

from __future__ import annotations

from pathlib import Path

import ntk_rs as nk

from . import _features

#: Four conv 3×3 layers, the first three with Gaussian pooling stride 2 (32 → 16 → 8 →
#: 4), the last averaging 2×2 blocks (4 → 2): a final grid of 2×2 positions, whose
#: features are concatenated, rather than global pooling. Keeping a few positions keeps
#: where in the image a pattern sits (sky above, ground below), which global pooling
#: discards and which CIFAR-10's classes depend on (Mairal 2016; Bietti & Mairal 2019;
#: the local average pooling of Li et al. 2019 gains several points over global). The
#: Gaussian pooling anti-aliases the subsampling (stability to small deformations).
NET = nk.CNN(
    [
        nk.Layer(3, pool=nk.Pool.gaussian(2)),
        nk.Layer(3, pool=nk.Pool.gaussian(2)),
        nk.Layer(3, pool=nk.Pool.gaussian(2)),
        nk.Layer(3, pool=nk.Pool.average(2)),
    ]
)
#: Features of the full run: 4 final positions of 4096 (2048 RF features and a 2048-long
#: sketch each); the intermediate layers get dim / 8 = 2048 RF features. Pass ``widths``
#: to :func:`run` to trade the intermediate widths against the final ones.
DIM = 16384
QUICK_DIM = 1024
QUICK_TRAIN, QUICK_TEST = 2000, 500


def run(
    out: Path,
    *,
    net: nk.CNN = NET,
    dim: int = DIM,
    widths: list[tuple[int, int]] | None = None,
    zca: bool = True,
    n_train: int | None = None,
    n_test: int | None = None,
    seed: int = 0,
    data: Path | None = None,
    progress: bool = True,
) -> dict[str, object]:
    """The study with every choice open (network, ``dim``, per-layer ``widths``, ZCA,
    sizes): see :func:`ntk_rs.experiments._features.run`. Returns the CSV's row."""
    return _features.run(
        _features.CIFAR10,
        out,
        net,
        dim,
        n_train=n_train,
        n_test=n_test,
        zca=zca,
        widths=widths,
        seed=seed,
        data=data,
        progress=progress,
        study="features-cifar",
    )


def main(out: Path, quick: bool, data: Path | None = None, dim: int | None = None, zca: bool = True) -> None:
    if quick:
        run(
            out,
            dim=dim or QUICK_DIM,
            zca=zca,
            n_train=QUICK_TRAIN,
            n_test=QUICK_TEST,
            data=data,
            progress=False,
        )
    else:
        run(out, dim=dim or DIM, zca=zca, data=data)

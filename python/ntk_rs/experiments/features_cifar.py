"""Random features of a 3-layer CNN kernel on all of CIFAR-10 (ZCA-whitened): ridge readout, test accuracy, time and memory.

``python -m ntk_rs.experiments features-cifar --out DIR [--quick] [--data DIR] [--dim N]
[--kind rf|ntk] [--no-zca]`` reads ``cifar10.npz`` (Keras' layout, NHWC) from ``--data``
(default ``../shared/data`` beside the checkout), computes the features of the 50 000
training and 10 000 test images (``NET``, ``KIND``, ``WIDTHS``; ``--dim N`` instead
gives the library's default widths for ``dim = N``, a multiple of the 16 final
positions), fits ridge regression on the one-hot labels with the ridge chosen on a
held-out tenth of the training set (``_features.ridge_from_moments``), and prints and
writes (``features_cifar.csv``) the test accuracy, each phase's time and the peak memory.

Preprocessing: pixels / 255, standardised per channel, then ZCA whitening of the images
with a small regulariser (``_features.zca_fit``), both fitted on the training images
(the tenth held out for the ridge excluded); ``--no-zca`` or ``zca=False`` turns the
whitening off. ZCA is on by default because kernel methods on CIFAR-10 whiten, as the
literature does (Arora et al. 2019; Shankar et al. 2020), and gain several points from
it (quick run, dim 512: 47.8 % with, 42.2 % without). ``--quick``: 2000 train / 500
test images, dim 512.
"""

from __future__ import annotations

from pathlib import Path

import ntk_rs as nk

from . import _features

#: Three conv 3×3 layers, each with Gaussian pooling stride 2 (32 → 16 → 8 → 4): a final
#: grid of 4×4 positions, whose features are concatenated, rather than global pooling.
#: Keeping a few positions keeps where in the image a pattern sits (sky above, ground
#: below), which global pooling discards and which CIFAR-10's classes depend on (Mairal
#: 2016; Bietti & Mairal 2019; the local average pooling of Li et al. 2019 gains several
#: points over global). The Gaussian pooling anti-aliases the subsampling (stability to
#: small deformations). On 10 000 training images it gains 4 points over two layers
#: with an 8×8 grid (docs/features.md, "Full datasets").
NET = nk.CNN(
    [
        nk.Layer(3, pool=nk.Pool.gaussian(2)),
        nk.Layer(3, pool=nk.Pool.gaussian(2)),
        nk.Layer(3, pool=nk.Pool.gaussian(2)),
    ]
)
#: The RF kernel by default: its features cost a third of the NTK's at equal widths.
KIND = "rf"
#: Per-layer ``(m, s)`` of the full run, by kind: 768 features per position of the 4×4
#: grid (dim 12288) and 512 in the intermediate layers: 77.0 % in 14 minutes and 7.0 GB
#: (512 per position, dim 8192: 75.7 %, 10 minutes, 3.5 GB; the fit's eigendecomposition
#: needs ``4 dim² · 8`` bytes, so 8 GiB ends near dim 13000). The NTK's 384 + 384 per
#: position keep its dim, and so the fit's cost, the same.
WIDTHS = {"rf": [(512, 0), (512, 0), (768, 0)], "ntk": [(512, 2048), (512, 2048), (384, 384)]}
#: ``--quick``: 2000 train / 500 test images, 32 features per position (dim 512).
QUICK_WIDTHS = {"rf": [(64, 0), (64, 0), (32, 0)], "ntk": [(64, 256), (64, 256), (16, 16)]}


def run(
    out: Path,
    *,
    net: nk.CNN = NET,
    dim: int | None = None,
    widths: list[tuple[int, int]] | None = None,
    kind: str = KIND,
    zca: bool = True,
    **options,
) -> dict[str, object]:
    """The study with every choice open (network, ``dim`` or per-layer ``widths``,
    ``kind``, ZCA; ``options``: ``n_train``, ``n_test``, ``seed``, ``data``,
    ``progress``): see :func:`ntk_rs.experiments._features.run`. Without ``dim`` and
    ``widths``, ``WIDTHS[kind]``. Returns the CSV's row."""
    if dim is None and widths is None:
        widths = WIDTHS[kind]
    options = {"progress": True, **options}
    return _features.run(
        _features.CIFAR10, out, net, dim, widths=widths, kind=kind, zca=zca, study="features-cifar", **options
    )


def main(
    out: Path,
    quick: bool,
    data: Path | None = None,
    dim: int | None = None,
    kind: str = KIND,
    zca: bool = True,
) -> None:
    _features.main(run, out, quick, dim=dim, quick_widths=QUICK_WIDTHS[kind], kind=kind, data=data, zca=zca)

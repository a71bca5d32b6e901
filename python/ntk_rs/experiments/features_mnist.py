"""Random features of a 2-layer CNN kernel on all of MNIST: ridge readout, test accuracy, time and memory.

``python -m ntk_rs.experiments features-mnist --out DIR [--quick] [--data DIR] [--dim N]
[--kind rf|ntk]`` reads ``mnist.npz`` (Keras' layout) from ``--data`` (default
``../shared/data`` beside the checkout), computes the features of the 60 000 training
and 10 000 test images (``NET``, ``KIND``, ``WIDTHS``; ``--dim N`` instead gives the
library's default widths for ``dim = N``, a multiple of the 36 final positions), fits
ridge regression on the one-hot labels with the ridge chosen on a held-out tenth of the
training set (``_features.ridge_from_moments``), and prints and writes
(``features_mnist.csv``) the test accuracy, each phase's time and the peak memory.
Preprocessing: pixels / 255, then standardised with the training set's mean and
standard deviation.
``--quick``: 2000 train / 500 test images, dim 576.
"""

from __future__ import annotations

from pathlib import Path

import ntk_rs as nk

from . import _features

#: Conv 5×5 "valid" (28 → 24) → Gaussian pooling stride 2 (→ 12) → conv 3×3 → Gaussian
#: pooling stride 2 (→ 6): a final grid of 6×6 positions, whose features are
#: concatenated. The 5×5 first patch sees a stroke and its surroundings; the anti-aliased
#: Gaussian pooling (Bietti & Mairal 2019) gives stability to small deformations; the
#: final grid keeps where each stroke sits, which global pooling discards: on all of MNIST
#: it gains 0.4 points over a 3-layer network ending in global pooling (98.83 %), and
#: more layers or a coarser grid gain nothing (docs/features.md, "Full datasets").
NET = nk.CNN(
    [
        nk.Layer(5, padding="valid", pool=nk.Pool.gaussian(2)),
        nk.Layer(3, pool=nk.Pool.gaussian(2)),
    ]
)
#: The RF kernel by default: as accurate as the NTK here at a third of the cost (the
#: NTK's sketches dominate its time).
KIND = "rf"
#: Per-layer ``(m, s)`` of the full run, by kind: 256 features per position of the 6×6
#: grid, dim 9216; the first layer's 256 are enough (1024 gained nothing). The NTK's
#: 128 + 128 per position keep its dim, and so the fit's cost, the same.
WIDTHS = {"rf": [(256, 0), (256, 0)], "ntk": [(256, 1024), (128, 128)]}
#: ``--quick``: 2000 train / 500 test images, 16 features per position (dim 576).
QUICK_WIDTHS = {"rf": [(64, 0), (16, 0)], "ntk": [(64, 256), (8, 8)]}
#: Virtual examples (Decoste & Schölkopf 2002): one-pixel translations of each fitted
#: training image added to the fit (``_features.Virtual``).
VIRTUAL = 2


def run(
    out: Path,
    *,
    net: nk.CNN = NET,
    dim: int | None = None,
    widths: list[tuple[int, int]] | None = None,
    kind: str = KIND,
    virtual: int = VIRTUAL,
    **options,
) -> dict[str, object]:
    """The study with every choice open (network, ``dim`` or per-layer ``widths``,
    ``kind``, virtual examples; ``options``: ``n_train``, ``n_test``, ``seed``, ``data``,
    ``progress``): see :func:`ntk_rs.experiments._features.run`. Without ``dim`` and
    ``widths``, ``WIDTHS[kind]``. Returns the CSV's row."""
    if dim is None and widths is None:
        widths = WIDTHS[kind]
    options = {"progress": True, **options}
    return _features.run(
        _features.MNIST,
        out,
        net,
        dim,
        widths=widths,
        kind=kind,
        virtual=virtual,
        study="features-mnist",
        **options,
    )


def main(
    out: Path,
    quick: bool,
    data: Path | None = None,
    dim: int | None = None,
    kind: str = KIND,
    virtual: int = VIRTUAL,
) -> None:
    _features.main(
        run, out, quick, dim=dim, quick_widths=QUICK_WIDTHS[kind], kind=kind, data=data, virtual=virtual
    )

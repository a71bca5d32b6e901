"""Deformation stability of deep CNN kernels on digits: relative RKHS distance against ‖∇τ‖∞ and pooling scale"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .. import deform
from ..network import CNN, Layer, Pool
from ._common import loglog_slope, pyplot, save, write_csv

#: Input pixels per position of the last layer's grid (two stride-2 poolings before it).
LAST_GRID_STEP = 4


def digits(count: int, zoom: int, pad: int) -> np.ndarray:
    """The first ``count`` digits of classes 0, 1, …, upsampled by a cubic spline (a
    smooth, anti-aliased version of the 8×8 image), ink scaled to [0, 1], zero-padded."""
    try:
        from scipy import ndimage
        from sklearn.datasets import load_digits
    except ImportError:
        raise ImportError(
            "the stability study needs scipy and scikit-learn: pip install 'ntk_rs[theory,demo]'"
        ) from None
    data = load_digits()
    first = [int(np.flatnonzero(data.target == c)[0]) for c in range(count)]
    images = np.clip(ndimage.zoom(data.images[first] / 16.0, (1, zoom, zoom), order=3), 0.0, None)
    return np.pad(images, ((0, 0), (pad, pad), (pad, pad)))[..., None]


def network(sigma: float | None) -> CNN:
    """Three 3×3 layers; Gaussian pooling with stride 2 after the first two, then a
    stride-1 Gaussian of ``sigma`` positions on the last grid, or global pooling (None)."""
    if sigma is None:
        last = Pool.global_average()
    else:
        j = np.arange(-math.ceil(3 * sigma), math.ceil(3 * sigma) + 1)
        h = np.exp(-(j**2) / (2 * sigma**2))
        last = Pool.filter(h / h.sum())
    return CNN(
        [
            Layer(patch=3, pool=Pool.gaussian(2)),
            Layer(patch=3, pool=Pool.gaussian(2)),
            Layer(patch=3, pool=last),
        ]
    )


def quartile_band(ax, x, values: np.ndarray, color) -> None:
    """Shade between the 25% and 75% quantiles of ``values`` (one column per x; the
    curves are medians over digits and fields)."""
    low, high = np.quantile(values, [0.25, 0.75], axis=0)
    ax.fill_between(x, low, high, color=color, alpha=0.2, lw=0)


def relative_distances(net: CNN, x: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """‖Φ(y) − Φ(x)‖ / ‖Φ(x)‖ for every y in Y, NTK and RF."""
    dist = net.distance(x[None], Y, kind="both")
    norm = net.norm(x[None], kind="both")
    return dist[0][0] / norm[0][0], dist[1][0] / norm[1][0]


def deformation_study(images, strengths, fields_per_image, net, rng) -> dict[str, np.ndarray]:
    """Relative distances of L_τ x (τ = t τ₁, ‖∇τ₁‖∞ = 1) and, as a control, of x plus
    Gaussian noise with the same input-space norm as L_τ x − x."""
    rows: dict[str, list] = {
        k: [] for k in ("image", "field", "grad_norm", "input", "ntk", "rf", "ntk_noise", "rf_noise")
    }
    H, W = images.shape[1:3]
    for i, x in enumerate(images):
        fields = deform.random_fields(fields_per_image, (H, W), 1.0, scale=3.0, seed=rng)
        for f, field in enumerate(fields):
            moved = np.stack([deform.deform(x[None], t * field)[0] for t in strengths])
            change = np.linalg.norm((moved - x).reshape(len(moved), -1), axis=1)
            noise = rng.standard_normal(moved.shape)
            noise *= (change / np.linalg.norm(noise.reshape(len(noise), -1), axis=1))[:, None, None, None]
            ntk, rf = relative_distances(net, x, moved)
            ntk_noise, rf_noise = relative_distances(net, x, x + noise)
            for key, values in (
                ("image", np.full(len(strengths), i)),
                ("field", np.full(len(strengths), f)),
                ("grad_norm", strengths),
                ("input", change / np.linalg.norm(x)),
                ("ntk", ntk),
                ("rf", rf),
                ("ntk_noise", ntk_noise),
                ("rf_noise", rf_noise),
            ):
                rows[key].extend(values)
    return {k: np.asarray(v) for k, v in rows.items()}


def translation_study(images, sigmas, shifts) -> dict[str, np.ndarray]:
    rows: dict[str, list] = {k: [] for k in ("image", "shift", "sigma_n", "ntk", "rf")}
    for sigma in sigmas:
        net = network(sigma)
        for i, x in enumerate(images):
            moved = np.stack([deform.translate(x[None], (0, s))[0] for s in shifts])
            ntk, rf = relative_distances(net, x, moved)
            rows["image"] += [i] * len(shifts)
            rows["shift"] += list(shifts)
            rows["sigma_n"] += [np.inf if sigma is None else LAST_GRID_STEP * sigma] * len(shifts)
            rows["ntk"] += ntk.tolist()
            rows["rf"] += rf.tolist()
    return {k: np.asarray(v) for k, v in rows.items()}


def main(out: Path, quick: bool) -> None:
    plt = pyplot()
    rng = np.random.default_rng(0)
    if quick:
        images = digits(2, zoom=2, pad=2)
        strengths, fields, sigmas, shifts = np.array([0.003, 0.03, 0.3]), 1, (1.0, 2.0, None), (2,)
    else:
        images = digits(8, zoom=3, pad=4)
        strengths, fields, sigmas, shifts = (
            np.logspace(-3, math.log10(0.5), 10),
            2,
            (0.5, 1.0, 2.0, 4.0, None),
            (1, 2, 4),
        )
    deform_sigma = 2.0
    d = deformation_study(images, strengths, fields, network(deform_sigma), rng)
    t = translation_study(images, sigmas, shifts)

    fig, (ax_def, ax_ctrl, ax_tr) = plt.subplots(1, 3, figsize=(14, 4.2))
    small = strengths <= 0.03
    fitted = {}
    for key, color, label in (
        ("ntk", "C0", "NTK"),
        ("rf", "C1", "RF"),
        ("input", "0.5", "input, ‖L_τx − x‖/‖x‖"),
    ):
        values = d[key].reshape(-1, len(strengths))
        median = np.median(values, axis=0)
        fitted[key] = (loglog_slope(strengths[small], median[small]), loglog_slope(strengths, median))
        ax_def.loglog(
            strengths, median, "o-", color=color, ms=3, label=f"{label} (slope {fitted[key][0]:.2f})"
        )
        quartile_band(ax_def, strengths, values, color)
    ax_def.set(
        xlabel="‖∇τ‖∞",
        ylabel="‖Φ(L_τx) − Φ(x)‖ / ‖Φ(x)‖",
        title=f"deformations, σ_n = {LAST_GRID_STEP * deform_sigma:g} px (slopes: ‖∇τ‖∞ ≤ 0.03)",
    )
    ax_def.legend(fontsize=8)

    for key, color, label in (("ntk", "C0", "NTK"), ("rf", "C1", "RF")):
        ratio = (d[key] / d[f"{key}_noise"]).reshape(-1, len(strengths))
        ax_ctrl.semilogx(strengths, np.median(ratio, axis=0), "o-", color=color, ms=3, label=label)
        quartile_band(ax_ctrl, strengths, ratio, color)
    ax_ctrl.axhline(1, color="k", lw=0.8)
    ax_ctrl.set(
        xlabel="‖∇τ‖∞",
        ylabel="distance for L_τx / for noise of equal input norm",
        title="deformation against additive noise",
    )
    ax_ctrl.legend(fontsize=8)

    finite = np.isfinite(t["sigma_n"])
    scales = np.unique(t["sigma_n"][finite])
    shown_global = 2 * scales.max()
    decay = {}
    for s, marker in zip(shifts, "osd"):
        for key, color in (("ntk", "C0"), ("rf", "C1")):
            pick = t["shift"] == s
            mean = np.array([t[key][pick & (t["sigma_n"] == g)].mean() for g in scales])
            ax_tr.loglog(scales, mean, marker + "-", color=color, ms=4)
            ax_tr.loglog([shown_global], [t[key][pick & ~finite].mean()], marker, color=color, ms=5)
            decay[key, s] = loglog_slope(scales, mean)
        ax_tr.plot([], [], marker, color="0.3", label=f"shift {s} px")
    ax_tr.plot([], [], "-", color="C0", label="NTK")
    ax_tr.plot([], [], "-", color="C1", label="RF")
    ax_tr.set_xticks([*scales, shown_global], [f"{g:g}" for g in scales] + ["global"])
    ax_tr.minorticks_off()
    ax_tr.set(
        xlabel="σ_n: last pooling scale, input pixels",
        ylabel="‖Φ(x shifted) − Φ(x)‖ / ‖Φ(x)‖",
        title="translations",
    )
    ax_tr.legend(fontsize=8)
    save(fig, out / "stability.png")
    write_csv(out / "stability_deformations.csv", d)
    write_csv(out / "stability_translations.csv", t)
    H, W = images.shape[1:3]
    print(f"{len(images)} digits of {H}x{W} pixels, {fields} smooth fields each (scale 3 px)")
    for key in ("ntk", "rf", "input"):
        print(
            f"{key:>5}: relative distance ~ ‖∇τ‖∞^{fitted[key][0]:.3f} for ‖∇τ‖∞ <= 0.03, "
            f"^{fitted[key][1]:.3f} over [{strengths[0]:g}, {strengths[-1]:g}]"
        )
    for key in ("ntk", "rf"):
        ratio = d[key] / d[f"{key}_noise"]
        print(
            f"{key:>5}: deformation / noise-control distance: mean {ratio.mean():.3f}, range [{ratio.min():.3f}, {ratio.max():.3f}]"
        )
    for (key, s), slope in decay.items():
        print(
            f"{key:>5}: shift {s} px: relative distance ~ σ_n^{slope:.3f} for σ_n in [{scales[0]:g}, {scales[-1]:g}] px"
        )

"""Smoothness of two-layer kernel maps: the NTK map is not Lipschitz, the RF map is; Hölder bound"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import sphere
from ..network import CNN, Layer
from ._common import loglog_slope, pyplot, save, write_csv

DIM = 10


def sphere_pairs(theta: np.ndarray):
    """Unit vectors e_0 and cos θ e_0 + sin θ e_1 in R^DIM: the angle is θ to rounding."""
    x = np.zeros((len(theta), DIM))
    y = np.zeros((len(theta), DIM))
    x[:, 0] = 1.0
    y[:, 0], y[:, 1] = np.cos(theta), np.sin(theta)
    return x, y


def random_pairs(n: int, rng: np.random.Generator):
    """Pairs with norms over 8 decades: n independent ones and n nearly identical ones
    (relative differences from 1e-13 to 1)."""
    x = rng.standard_normal((2 * n, DIM)) * np.exp(rng.uniform(-4, 4, size=(2 * n, 1)))
    far = rng.standard_normal((n, DIM)) * np.exp(rng.uniform(-4, 4, size=(n, 1)))
    scale = np.linalg.norm(x[n:], axis=1, keepdims=True) * np.exp(rng.uniform(-30, 0, size=(n, 1)))
    near = x[n:] + rng.standard_normal((n, DIM)) * scale / np.sqrt(DIM)
    return x, np.concatenate([far, near])


def main(out: Path, quick: bool) -> None:
    plt = pyplot()
    theta = np.logspace(-12, np.log10(3.0), 15 if quick else 61)
    x, y = sphere_pairs(theta)
    gap = np.linalg.norm(x - y, axis=1)
    exact = {kind: sphere.two_layer_distance(x, y, kind) / gap for kind in ("ntk", "rf")}
    from_kernel = {kind: CNN([Layer()]).distance(x[:1], y, kind=kind)[0] / gap for kind in ("ntk", "rf")}
    small = theta <= 1e-3
    one_minus_u = 2 * np.sin(theta / 2) ** 2
    slope = loglog_slope(one_minus_u[small], exact["ntk"][small])
    bad = {kind: theta[np.abs(from_kernel[kind] / exact[kind] - 1) > 0.01].max(initial=0.0) for kind in exact}

    fig, (ax_ratio, ax_holder) = plt.subplots(1, 2, figsize=(10, 4))
    for kind, color, label in (("ntk", "C0", "NTK"), ("rf", "C1", "RF")):
        ax_ratio.loglog(gap, exact[kind], "-", color=color, label=f"{label}, closed form")
        ax_ratio.loglog(
            gap,
            np.where(from_kernel[kind] > 0, from_kernel[kind], np.nan),
            "x",
            color=color,
            ms=4,
            label=f"{label}, from kernel values",
        )
    ax_ratio.loglog(gap, np.sqrt(2 / (np.pi * theta)), "k:", lw=1, label="sqrt(2/(πθ))")
    ax_ratio.set(
        xlabel="‖x − y‖  (unit x, y at angle θ)",
        ylabel="‖Φ(x) − Φ(y)‖ / ‖x − y‖",
        title=f"NTK ratio ∝ (1−u)^{slope:.3f}: not Lipschitz",
    )
    ax_ratio.legend(fontsize=8)

    pairs_x, pairs_y = random_pairs(150 if quick else 3000, np.random.default_rng(0))
    dist_in = np.linalg.norm(pairs_x - pairs_y, axis=1)
    smaller = np.minimum(np.linalg.norm(pairs_x, axis=1), np.linalg.norm(pairs_y, axis=1))
    bound = np.sqrt(smaller * dist_in) + 2 * dist_in
    dist_ntk = sphere.two_layer_distance(pairs_x, pairs_y, "ntk")
    ax_holder.semilogx(dist_in / smaller, dist_ntk / bound, ".", ms=2, alpha=0.5)
    ax_holder.axhline(1, color="k", lw=0.8)
    ax_holder.set_ylim(0, 1.05)
    ax_holder.set(
        xlabel="‖x − y‖ / min(‖x‖, ‖y‖)",
        ylabel="‖Φ(x) − Φ(y)‖ / Hölder bound",
        title=f"NTK Hölder bound: max ratio {np.max(dist_ntk / bound):.3f} ≤ 1",
    )
    save(fig, out / "smoothness.png")

    write_csv(
        out / "smoothness_ratio.csv",
        {
            "theta": theta,
            "input_distance": gap,
            "ntk_ratio": exact["ntk"],
            "rf_ratio": exact["rf"],
            "ntk_ratio_from_kernel": from_kernel["ntk"],
            "rf_ratio_from_kernel": from_kernel["rf"],
        },
    )
    write_csv(
        out / "smoothness_holder.csv",
        {
            "norm_x": np.linalg.norm(pairs_x, axis=1),
            "norm_y": np.linalg.norm(pairs_y, axis=1),
            "input_distance": dist_in,
            "ntk_distance": dist_ntk,
            "holder_bound": bound,
        },
    )
    print(
        f"NTK: ratio ∝ (1 − u)^{slope:.4f} for θ ≤ 1e-3 (predicted −1/4); "
        f"ratio {exact['ntk'][0]:.3g} at θ = {theta[0]:.0e}"
    )
    print(f"RF: max ratio {exact['rf'].max():.6f} (1-Lipschitz)")
    print(f"Hölder bound: max of distance / bound over {len(bound)} pairs = {np.max(dist_ntk / bound):.4f}")
    for kind in exact:
        print(f"{kind}: distances from kernel values are off by > 1% for angles up to {bad[kind]:.1e}")

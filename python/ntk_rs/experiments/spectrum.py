"""Mercer spectrum of the two-layer NTK and RF kernel on the sphere: decay k^-p against k^-(p+2)"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import sphere
from ._common import loglog_slope, pyplot, save, write_csv

KERNELS = {"ntk": "NTK", "k1": "RF (κ1)"}
SHOWN = (3, 10)  # dimensions drawn in the left panel (all in the right one)


def main(out: Path, quick: bool) -> None:
    dims = (3, 10) if quick else (3, 5, 10, 25)
    kmax = 400 if quick else 10_000
    kcheck = 40  # degrees also computed by quadrature, as an independent check
    plt = pyplot()
    fig, (ax_mu, ax_slope) = plt.subplots(1, 2, figsize=(10, 4))
    k = np.arange(kmax + 1)
    even = k[2::2]
    table: dict[str, list] = {"dim": [], "kernel": [], "k": [], "mu": [], "mu_quadrature": []}
    slopes: dict[str, list] = {"dim": [], "kernel": [], "fitted_slope": [], "predicted_slope": []}
    for color, dim in zip(plt.rcParams["axes.prop_cycle"].by_key()["color"], dims):
        for kernel, style in zip(KERNELS, ("-", "--")):
            logmu = sphere.mercer_eigenvalues(kernel, dim, kmax, log=True)
            quad = sphere.mercer_eigenvalues(kernel, dim, kcheck, method="quadrature")
            if dim in SHOWN:
                ax_mu.plot(even, np.exp(logmu[2::2]), style, color=color, lw=1.2)
                resolved = (quad[2::2] > 1e-12) & (logmu[2 : kcheck + 1 : 2] > -np.inf)
                ax_mu.plot(
                    k[2 : kcheck + 1 : 2][resolved], quad[2::2][resolved], "o", ms=3, mfc="none", color=color
                )
            # Local exponent between consecutive even degrees.
            local = np.diff(logmu[2::2]) / np.diff(np.log(even))
            ax_slope.semilogx(even[1:], local, style, color=color, lw=1.2)
            predicted = -dim if kernel == "ntk" else -dim - 2
            ax_slope.axhline(predicted, color=color, lw=0.6, ls=":")
            top = even[even >= kmax // 2]
            slopes["dim"].append(dim)
            slopes["kernel"].append(kernel)
            slopes["fitted_slope"].append(loglog_slope(top, np.exp(logmu[top])))
            slopes["predicted_slope"].append(predicted)
            table["dim"] += [dim] * (kmax + 1)
            table["kernel"] += [kernel] * (kmax + 1)
            table["k"] += k.tolist()
            table["mu"] += np.exp(logmu).tolist()
            table["mu_quadrature"] += quad.tolist() + [""] * (kmax - kcheck)
        ax_slope.plot([], [], color=color, label=f"p = {dim}")
    ax_mu.plot([], [], "k-", label="NTK")
    ax_mu.plot([], [], "k--", label="RF (κ1)")
    ax_mu.plot([], [], "ko", ms=3, mfc="none", label="quadrature")
    ax_mu.set(
        xscale="log",
        yscale="log",
        xlabel="degree k (even)",
        ylabel="μ_k",
        title="Mercer eigenvalues on S^(p−1), p = 3 and 10",
    )
    ax_mu.legend(fontsize=8)
    ax_slope.legend(fontsize=8)
    ax_slope.set(
        xlabel="degree k (even)",
        ylabel="local exponent d log μ_k / d log k",
        title="exponents → −p (NTK) and −p−2 (RF), dotted",
    )
    save(fig, out / "spectrum.png")
    write_csv(out / "spectrum.csv", table)
    write_csv(out / "spectrum_slopes.csv", slopes)
    for row in zip(*slopes.values()):
        print(
            "dim {} {:>3}: fitted slope over k in [{}, {}] = {:.3f} (predicted {})".format(
                *row[:2], kmax // 2, kmax, *row[2:]
            )
        )

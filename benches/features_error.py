"""The Gram error of the feature maps against the exact kernels, as a function of
``dim``, on real CIFAR-10 and MNIST images (``../shared/data``).

For each network, the first ``n`` test images (per-channel standardised with the
training set's statistics), the exact ``net.kernel(X, kind="both")`` in float64,
and for every ``dim`` and seed the relative Frobenius error
``‖F Fᵀ − K‖_F / ‖K‖_F`` of float32 features. Writes
``docs/features_error.csv`` and ``docs/features_error.png``.

Run: ``python benches/features_error.py [--n 100] [--seeds 2] [--data DIR]``.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np

import ntk_rs as nk

ROOT = Path(__file__).resolve().parent.parent
DIMS = (1024, 2048, 4096, 8192, 16384)


def networks() -> dict[str, tuple[str, nk.CNN]]:
    """name → (dataset, network): the benches' cifar-pool, and networks with valid or
    circular padding and strided pooling, on CIFAR; a strided network on MNIST."""
    L, P = nk.Layer, nk.Pool
    return {
        "cifar-pool": (
            "cifar10",
            nk.CNN([L(3, pool=P.gaussian(2)), L(3, pool=P.gaussian(2)), L(3, pool=P.global_average())]),
        ),
        "cifar-valid-strided": (
            "cifar10",
            nk.CNN(
                [
                    L(3, padding="valid", pool=P.average(2)),
                    L(3, padding="valid", pool=P.strided(2)),
                    L(3, pool=P.global_average()),
                ]
            ),
        ),
        "cifar-circular": (
            "cifar10",
            nk.CNN(
                [
                    L(3, padding="circular", pool=P.gaussian(2)),
                    L(3, padding="circular", pool=P.gaussian(2)),
                    L(3, padding="circular", pool=P.global_average()),
                ]
            ),
        ),
        "mnist-strided": (
            "mnist",
            nk.CNN(
                [
                    L(5, padding="valid", pool=P.gaussian(2)),
                    L(3, pool=P.gaussian(2)),
                    L(3, pool=P.global_average()),
                ]
            ),
        ),
    }


def images(data: Path, name: str, n: int) -> np.ndarray:
    with np.load(data / f"{name}.npz") as f:
        train, test = f["x_train"], f["x_test"][:n]
    if train.ndim == 3:
        train, test = train[..., None], test[..., None]
    mean = train.mean(axis=(0, 1, 2))
    std = train.std(axis=(0, 1, 2))
    return ((test - mean) / std).astype(np.float64)


def relative_error(F: np.ndarray, K: np.ndarray) -> float:
    F = F.astype(np.float64)
    return float(np.linalg.norm(F @ F.T - K) / np.linalg.norm(K))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args()
    rows = []
    for name, (dataset, net) in networks().items():
        X = images(args.data, dataset, args.n)
        start = time.perf_counter()
        K_ntk, K_rf = net.kernel(X, kind="both")
        print(f"{name}: exact kernels of {args.n} images in {time.perf_counter() - start:.1f} s")
        for dim in DIMS:
            for seed in range(args.seeds):
                fm = net.feature_map(dim, kind="both", seed=seed)
                start = time.perf_counter()
                F_ntk, F_rf = fm.transform(X)
                seconds = time.perf_counter() - start
                row = {
                    "network": name,
                    "dim": dim,
                    "seed": seed,
                    "ntk_error": relative_error(F_ntk, K_ntk),
                    "rf_error": relative_error(F_rf, K_rf),
                    "ms_per_image": 1e3 * seconds / len(X),
                }
                rows.append(row)
                print(
                    f"  dim {dim:6d} seed {seed}: NTK {row['ntk_error']:.4f} RF {row['rf_error']:.4f} ({row['ms_per_image']:.1f} ms/img)"
                )
    args.out.mkdir(exist_ok=True)
    with open(args.out / "features_error.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    plot(rows, args.out / "features_error.png", args.n)


def plot(rows: list[dict], path: Path, n: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, kind in zip(axes, ("ntk", "rf")):
        for name in dict.fromkeys(r["network"] for r in rows):
            dims = sorted({r["dim"] for r in rows if r["network"] == name})
            mean = [
                np.mean([r[f"{kind}_error"] for r in rows if r["network"] == name and r["dim"] == d])
                for d in dims
            ]
            slope = np.polyfit(np.log(dims), np.log(mean), 1)[0]
            ax.loglog(dims, mean, "o-", label=f"{name} (slope {slope:.2f})")
        ax.axhline(0.05, color="grey", lw=0.8, ls=":")
        ax.set_title(f"{kind.upper()} kernel")
        ax.set_xlabel("dim")
        ax.legend(fontsize=8)
    axes[0].set_ylabel(f"relative Frobenius error of F Fᵀ ({n} test images)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"wrote {path} (and its CSV)")


if __name__ == "__main__":
    main()

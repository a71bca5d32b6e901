"""Test accuracy and time against ``dim`` on all of MNIST and CIFAR-10: the README's
figure of the full-dataset feature runs.

``run`` makes one full study per final width (features per final position) with the
study's network and intermediate widths (``features_mnist.WIDTHS``,
``features_cifar.WIDTHS``), each into ``DIR/{dataset}_{width}``:

    python benches/features_sweep.py run mnist 64 128 256 384 --out DIR [--data DIR] [--virtual N]

(MNIST's runs take ``--virtual`` copies of each image, 0 unless given: the README's
line is without them, its square the default study with two.)

``plot`` collects the rows of every study CSV (``*.csv`` but ``*_ridge.csv``) under the given folders into
``docs/features_sweep.csv`` and draws ``docs/features_sweep.png``:

    python benches/features_sweep.py plot DIR [DIR ...]
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import ntk_rs as nk
from ntk_rs.experiments import features_cifar, features_mnist

ROOT = Path(__file__).resolve().parent.parent
STUDIES = {"mnist": features_mnist, "cifar10": features_cifar}
COLUMNS = [
    "dataset",
    "kind",
    "dim",
    "widths",
    "n_train",
    "n_test",
    "test_accuracy",
    "time_total_s",
    "time_features_s",
    "time_fit_s",
    "peak_memory_mib",
    "threads",
    "virtual",
]
#: Arora et al. 2019, Table 1: the exact CNTK on all of CIFAR-10 (GPU-weeks).
CIFAR_EXACT = {"exact CNTK-GAP, depth 4": 0.7593, "exact CNTK-V, depth 4": 0.6552}


def run(dataset: str, final: list[int], out: Path, data: Path | None, kind: str, virtual: int) -> None:
    study = STUDIES[dataset]
    options = {"virtual": virtual} if dataset == "mnist" else {}
    for width in final:
        *inner, _ = study.WIDTHS[kind]
        last = (width, 0) if kind == "rf" else (width // 2, width // 2)
        study.run(out / f"{dataset}_{width}", widths=[*inner, last], kind=kind, data=data, **options)


def collect(folders: list[Path]) -> list[dict]:
    rows = []
    for folder in folders:
        for path in sorted(folder.rglob("*.csv")):
            if path.stem.endswith("_ridge") or path.stem == "features_sweep":
                continue
            with path.open() as f:
                for r in csv.DictReader(f):
                    features = float(r["time_features_train_s"]) + float(r["time_features_test_s"])
                    fit = float(r["time_fit_s"])
                    r["time_features_s"] = features
                    r["time_total_s"] = float(r["time_load_s"]) + features + fit + float(r["time_predict_s"])
                    r.setdefault("virtual", "0")  # runs from before the option
                    rows.append({k: r[k] for k in COLUMNS})
    rows.sort(key=lambda r: (r["dataset"], r["kind"], int(r["virtual"]), int(r["dim"])))
    return rows


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, dataset, title in (
        (axes[0], "mnist", "MNIST 60k / 10k"),
        (axes[1], "cifar10", "CIFAR-10 50k / 10k"),
    ):
        mine = [r for r in rows if r["dataset"] == dataset]
        for kind, virtual in sorted({(r["kind"], int(r["virtual"])) for r in mine}):
            part = [r for r in mine if (r["kind"], int(r["virtual"])) == (kind, virtual)]
            dims = [int(r["dim"]) for r in part]
            acc = [100 * float(r["test_accuracy"]) for r in part]
            extra = f" + {virtual} virtual examples" if virtual else ""
            ax.plot(dims, acc, "o-" if len(part) > 1 else "s", label=f"{kind.upper()} features{extra}")
            for d, a, r in zip(dims, acc, part):
                ax.annotate(
                    f"{float(r['time_total_s']) / 60:.0f} min",
                    (d, a),
                    textcoords="offset points",
                    xytext=(4, -12),
                    fontsize=8,
                )
        if dataset == "cifar10":
            for i, (label, value) in enumerate(CIFAR_EXACT.items()):
                ax.axhline(100 * value, color=f"C{i + 2}", ls="--", lw=1, label=label)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("dim")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(title)
        ax.legend(fontsize=8, loc="lower right")
        ax.grid(alpha=0.3)
    fig.suptitle(
        f"Random features, ridge readout, end to end on 2 cores (ntk_rs {nk.__version__})", fontsize=10
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="one full study per final width")
    r.add_argument("dataset", choices=sorted(STUDIES))
    r.add_argument("final", type=int, nargs="+", help="features per final position")
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--data", type=Path, default=None)
    r.add_argument("--kind", choices=("rf", "ntk"), default="rf")
    r.add_argument("--virtual", type=int, default=0, help="MNIST: translated copies of each image")
    p = sub.add_parser("plot", help="docs/features_sweep.csv and .png from the runs' CSVs")
    p.add_argument("folders", type=Path, nargs="+")
    p.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args()
    if args.command == "run":
        run(args.dataset, args.final, args.out, args.data, args.kind, args.virtual)
        return
    rows = collect(args.folders)
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "features_sweep.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    plot(rows, args.out / "features_sweep.png")
    print(f"{len(rows)} runs: {args.out / 'features_sweep.csv'}, {args.out / 'features_sweep.png'}")


if __name__ == "__main__":
    main()

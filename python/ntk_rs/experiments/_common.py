"""What the studies share: matplotlib on demand, CSV output, fitted log-log slopes."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np


def pyplot():
    """matplotlib.pyplot with a file-only backend, or an ImportError naming the extra."""
    try:
        import matplotlib
    except ImportError:
        raise ImportError("the figures need matplotlib: pip install 'ntk_rs[plots]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def write_csv(path: Path, columns: dict[str, object]) -> None:
    """One column per entry, all of the same length."""
    names = list(columns)
    values = [np.asarray(columns[name]).tolist() for name in names]
    with open(path, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(names)
        out.writerows(zip(*values))


def save(fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    pyplot().close(fig)


def loglog_slope(x, y) -> float:
    """Least-squares slope of log y against log x."""
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])

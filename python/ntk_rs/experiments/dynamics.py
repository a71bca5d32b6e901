"""Finite networks against their kernels on digits: kernel error and training dynamics as width grows."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

import ntk_rs as nk
from ntk_rs.finite import FiniteCNN
from ntk_rs.predict import GradientFlow

from ._common import loglog_slope, pyplot, save, write_csv

#: Conv 3×3 → ReLU → Gaussian pooling (stride 2) → conv 1×1 → ReLU → global average → readout.
NET = nk.CNN([nk.Layer(patch=3, pool=nk.Pool.gaussian(stride=2)), nk.Layer(pool=nk.Pool.global_average())])


def _digits(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random digits as (n, 8, 8, 1) images in [0, 1] and their one-hot targets."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ImportError(
            "the dynamics study loads scikit-learn's digits: pip install 'ntk_rs[demo]'"
        ) from None

    data = load_digits()
    pick = np.random.default_rng(seed).permutation(len(data.target))[:n]
    return data.images[pick, ..., None] / 16.0, np.eye(10)[data.target[pick]]


def kernel_error(widths: list[int], seeds: int, group: int, n: int) -> list[tuple]:
    """Rows ``(width, networks, index, kind, error)``: relative Frobenius distance to
    ``net.kernel``, on ``n`` digits, of the empirical kernel of one network
    (``networks = 1``, ``index`` its seed) or of the average over ``group`` networks
    (``networks = group``, ``index`` the group of consecutive seeds). The weights of
    each width are drawn independently of the other widths' (seed ``(width, index)``)."""
    X, _ = _digits(n)
    limit = np.array(NET.kernel(X, kind="both"))  # (ntk, rf)
    scale = np.linalg.norm(limit, axis=(1, 2))
    rows = []
    for width in widths:
        emp = np.array(
            [FiniteCNN(NET, width, X.shape[1:], seed=(width, s)).kernel(X, kind="both") for s in range(seeds)]
        )
        averages = emp.reshape(seeds // group, group, *emp.shape[1:]).mean(axis=1)
        for networks, kernels in ((1, emp), (group, averages)):
            errors = np.linalg.norm(kernels - limit, axis=(-2, -1)) / scale
            rows += [
                (width, networks, i, kind, e[k])
                for i, e in enumerate(errors)
                for k, kind in enumerate(("ntk", "rf"))
            ]
    return rows


def training(widths: list[int], seeds: int, n_train: int, n_test: int, steps: int) -> tuple[list, list]:
    """Gradient descent on the squared loss at learning rate ``0.5 / λ_max(K_NTK)``, on
    digits from which the mean training image is subtracted (without it the kernel's
    constant mode is ~500 times its next one and limits the learning rate). At finite
    width the ten outputs couple (their cross terms vanish only as ``width^-1/2``) and
    raise the largest eigenvalue of the empirical NTK: at ``1 / λ_max`` the narrow
    networks oscillate.

    Each network is trained with its initial function subtracted (targets ``Y + f_0``,
    outputs ``f_t − f_0``): ``f_0`` is a random function whose size does not shrink with
    width, and without it the limit is the NTK prediction from that random start rather
    than the deterministic mean prediction plotted. Returns rows
    ``(width, seed, step, train_mse, test_mse)`` (``width = 0``: the NTK prediction)
    and ``(width, seed, gap)``, the RMS distance between the network's test outputs and the
    prediction over all recorded steps, relative to the RMS prediction.
    """
    X, Y = _digits(n_train + n_test, seed=1)
    X = X - X[:n_train].mean(axis=0)
    X, X_test, Y, Y_test = X[:n_train], X[n_train:], Y[:n_train], Y[n_train:]
    K, K_test = NET.kernel(X), NET.kernel(X_test, X)
    lr = 0.5 / np.linalg.eigvalsh(K)[-1]
    record = np.unique(np.geomspace(1, steps, 40).astype(int))
    flow = GradientFlow(K, Y, lr=lr, discrete=True)
    want_train, want_test = flow.predict(None, record), flow.predict(K_test, record)

    def mse(out, target):
        return ((out - target) ** 2).sum(axis=-1).mean(axis=-1)

    curves = [(0, 0, s, a, b) for s, a, b in zip(record, mse(want_train, Y), mse(want_test, Y_test))]
    gaps = []
    for width in widths:
        for seed in range(seeds):
            model = FiniteCNN(NET, width, X.shape[1:], outputs=10, seed=(width, seed))
            f0, f0_test = model(X), model(X_test)
            run = model.train(X, Y + f0, lr, steps, record=record, X_test=X_test)
            train, test = run.train - f0, run.test - f0_test
            curves += [(width, seed, s, a, b) for s, a, b in zip(record, mse(train, Y), mse(test, Y_test))]
            gap = np.sqrt(np.mean((test - want_test) ** 2) / np.mean(want_test**2))
            gaps.append((width, seed, gap))
    return curves, gaps


def _rate(ax, widths, values, style: str, color, label: str) -> None:
    """``values`` against ``widths``, the fitted log-log slope in the label."""
    ax.plot(widths, values, style, color=color, label=f"{label} (slope {loglog_slope(widths, values):.2f})")


def _rate_axes(ax, widths, anchor: float, ylabel: str, title: str) -> None:
    """Log-log axes over widths with a ``width^-1/2`` guide from ``anchor``."""
    w = np.array([widths[0], widths[-1]], dtype=float)
    ax.plot(w, anchor * (w / w[0]) ** -0.5, ":", color="gray", label="width^-1/2")
    ax.set(xscale="log", yscale="log", xlabel="width m (every layer)", ylabel=ylabel)
    ax.set_xticks(widths, [str(int(v)) for v in widths])
    ax.set_xticks([], minor=True)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7)


def plot_kernel_error(rows: list[tuple], path: Path) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    widths = sorted({r[0] for r in rows})
    group = max(r[1] for r in rows)
    rms = {}
    for kind, color in (("ntk", "C0"), ("rf", "C1")):
        for networks, style in ((1, "o-"), (group, "s--")):
            errors = [[r[4] for r in rows if r[0] == w and r[1] == networks and r[3] == kind] for w in widths]
            rms[kind, networks] = np.sqrt([np.mean(np.square(e)) for e in errors])
            if networks == 1:
                ax.scatter(
                    np.repeat(widths, [len(e) for e in errors]),
                    np.concatenate(errors),
                    s=5,
                    color=color,
                    alpha=0.3,
                )
            label = "one network" if networks == 1 else f"average of {group}"
            _rate(ax, widths, rms[kind, networks], style, color, f"{kind.upper()}, {label} (RMS)")
    _rate_axes(
        ax, widths, rms["ntk", 1][0], "relative Frobenius error", "Empirical kernels vs net.kernel, digits"
    )
    save(fig, path)


def plot_training(curves: list[tuple], gaps: list[tuple], path: Path) -> None:
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4), gridspec_kw={"width_ratios": [2, 1]})
    c = np.array(curves)
    widths = sorted({int(w) for w in c[:, 0]} - {0})
    for i, width in enumerate(widths):
        d = c[(c[:, 0] == width) & (c[:, 1] == 0)]
        color = plt.cm.viridis(i / max(len(widths) - 1, 1))
        left.plot(d[:, 2], d[:, 3], color=color, lw=1, label=f"width {width}, train")
        left.plot(d[:, 2], d[:, 4], color=color, lw=2, label=f"width {width}, test")
    d = c[c[:, 0] == 0]
    left.plot(d[:, 2], d[:, 3], "k--", lw=1, label="NTK prediction, train")
    left.plot(d[:, 2], d[:, 4], "k--", lw=2, label="NTK prediction, test")
    left.set(xscale="log", yscale="log", xlabel="gradient descent step", ylabel="mean squared error")
    left.set_title("Training on digits: finite networks and the NTK prediction", fontsize=10)
    left.legend(fontsize=7, ncol=2)
    g = np.array(gaps)
    right.scatter(g[:, 0], g[:, 2], s=10, color="C0", alpha=0.5)
    mean = np.array([g[g[:, 0] == w, 2].mean() for w in widths])
    _rate(right, widths, mean, "o-", "C0", "mean over seeds")
    _rate_axes(right, widths, mean[0], "relative RMS gap to the prediction", "Test outputs: network vs NTK")
    save(fig, path)


def main(out: Path, quick: bool) -> None:
    start = time.perf_counter()
    if quick:
        errors = kernel_error([8, 32, 128], seeds=4, group=2, n=4)
        curves, gaps = training([8, 32], seeds=1, n_train=12, n_test=12, steps=20)
    else:
        errors = kernel_error([16, 32, 64, 128, 256, 512, 1024], seeds=16, group=4, n=12)
        curves, gaps = training([32, 128, 512], seeds=2, n_train=32, n_test=256, steps=2000)
    tables = {
        "dynamics_kernel_error.csv": (["width", "networks", "index", "kind", "relative_error"], errors),
        "dynamics_training.csv": (["width", "seed", "step", "train_mse", "test_mse"], curves),
        "dynamics_gap.csv": (["width", "seed", "relative_rms_gap"], gaps),
    }
    for name, (header, rows) in tables.items():
        write_csv(out / name, dict(zip(header, zip(*rows))))
    plot_kernel_error(errors, out / "dynamics_kernel_error.png")
    plot_training(curves, gaps, out / "dynamics_training.png")
    print(f"dynamics: figures and CSV in {out} ({time.perf_counter() - start:.0f} s)")

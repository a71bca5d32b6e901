"""Command line: ``python -m ntk_rs demo``."""

from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np

import ntk_rs as nk
from ntk_rs import _demo
from ntk_rs.predict import accuracy, classify


def demo(train: int, ridge: float, threads: int | None) -> None:
    """NTK and RF kernel regression on scikit-learn's 8×8 handwritten digits.

    The network and the precision were chosen on the 1000 training digits alone, by
    10×10-fold cross-validation among 33 candidates whose kernels fit the demo's time
    budget (``tools/demo_selection.py`` holds the candidates, the rule and the table):
    a 4×4 patch without padding and Gaussian pooling (σ = 3, stride 2), then a 3×3
    patch and global average pooling, in float32 (float64 made the same cross-validated
    errors and is slower).
    """
    t0 = time.perf_counter()
    try:
        X, y, tr, te = _demo.digits(train)
    except ImportError:
        sys.exit("the demo needs scikit-learn: pip install 'ntk_rs[demo]'")
    if threads is not None:
        nk.set_num_threads(threads)
    net = _demo.NET
    dtype = "float32"
    print(f"network: {net}, {dtype}")
    print(f"data: scikit-learn digits, {len(tr)} train and {len(te)} test images of 8x8 pixels")
    print(f"loaded in {time.perf_counter() - t0:.1f} s")
    pairs = len(tr) * (len(tr) + 1) // 2 + len(te) * len(tr)
    start = time.perf_counter()
    # Progress on stderr: one line rewritten in a terminal, a line per quarter elsewhere.
    tty = sys.stderr.isatty()
    step = 1 if tty else 25
    shown = [-1]

    def show(done: int) -> None:
        percent = 100 * done // pairs // step * step
        if percent != shown[0]:
            shown[0] = percent
            line = f"kernels: {percent:3d} % of {pairs} pairs, {time.perf_counter() - start:.1f} s"
            print("\r" + line if tty else line, end="" if tty else "\n", file=sys.stderr, flush=True)

    kernels = []
    before = 0
    for args in ((X[tr],), (X[te], X[tr])):
        kernels.append(
            net.kernel(*args, kind="both", dtype=dtype, progress=lambda d, _, b=before: show(b + d))
        )
        before += len(tr) * (len(tr) + 1) // 2
    if tty:
        print("\r\033[K", end="", file=sys.stderr, flush=True)
    seconds = time.perf_counter() - start
    (train_ntk, train_rf), (test_ntk, test_rf) = kernels
    print(
        f"kernels: {pairs} pairs (NTK and RF together) in {seconds:.1f} s "
        f"on {nk.get_num_threads()} threads ({seconds / pairs * 1e6:.1f} us per pair)"
    )
    for name, K, K_test in (("NTK", train_ntk, test_ntk), ("RF ", train_rf, test_rf)):
        # The infinitely trained wide network: kernel ridge regression on one-hot targets,
        # ridge relative to the mean diagonal.
        start = time.perf_counter()
        predicted = classify(K, K_test, y[tr], ridge=ridge * np.trace(K) / len(K))
        print(
            f"{name} kernel regression: test accuracy {accuracy(predicted, y[te]):.2%} "
            f"({time.perf_counter() - start:.2f} s)"
        )
    print(f"total {time.perf_counter() - t0:.1f} s")


def _threads(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {value!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {n}")
    return n


def _ridge(value: str) -> float:
    try:
        r = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {value!r}") from None
    if not (math.isfinite(r) and r >= 0):
        raise argparse.ArgumentTypeError(f"must be finite and >= 0, got {value}")
    return r


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ntk_rs")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="NTK and RF kernel regression on scikit-learn's digits")
    p.add_argument("--train", type=int, default=1000, help="training images (default 1000; the rest test)")
    p.add_argument("--ridge", type=_ridge, default=1e-6, help="ridge relative to the mean diagonal")
    p.add_argument("--threads", type=_threads, default=None, help="threads (default: all cores)")
    args = parser.parse_args(argv)
    if not 1 <= args.train < 1797:
        parser.error("--train must be between 1 and 1796")
    demo(args.train, args.ridge, args.threads)


if __name__ == "__main__":
    main()

"""Command line: ``python -m ntk_rs demo``."""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import ntk_rs as nk
from ntk_rs.predict import accuracy, classify


def demo(train: int, ridge: float, threads: int | None) -> None:
    """NTK and RF kernel regression on scikit-learn's 8×8 handwritten digits."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        sys.exit("the demo needs scikit-learn: pip install 'ntk_rs[demo]'")
    if threads is not None:
        nk.set_num_threads(threads)
    digits = load_digits()
    X = digits.images[..., None] / 16.0  # (1797, 8, 8, 1), values in [0, 1]
    y = digits.target
    order = np.random.default_rng(0).permutation(len(X))
    tr, te = order[:train], order[train:]
    net = nk.CNN(
        [
            nk.Layer(patch=3, pool=nk.Pool.gaussian(stride=2)),
            nk.Layer(patch=3, pool=nk.Pool.global_average()),
        ]
    )
    print(f"network: {net}")
    print(f"digits: {len(tr)} train, {len(te)} test images of 8x8 pixels")
    start = time.perf_counter()
    train_ntk, train_rf = net.kernel(X[tr], kind="both")
    test_ntk, test_rf = net.kernel(X[te], X[tr], kind="both")
    seconds = time.perf_counter() - start
    pairs = len(tr) * (len(tr) + 1) // 2 + len(te) * len(tr)
    print(
        f"kernels: {pairs} pairs (NTK and RF together) in {seconds:.1f} s "
        f"on {nk.get_num_threads()} threads ({seconds / pairs * 1e6:.1f} us per pair)"
    )
    for name, K, K_test in (("NTK", train_ntk, test_ntk), ("RF ", train_rf, test_rf)):
        # The infinitely trained wide network: kernel ridge regression on one-hot targets,
        # ridge relative to the mean diagonal.
        predicted = classify(K, K_test, y[tr], ridge=ridge * np.trace(K) / len(K))
        print(f"{name} kernel regression: test accuracy {accuracy(predicted, y[te]):.2%}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ntk_rs")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="NTK and RF kernel regression on scikit-learn's digits")
    p.add_argument("--train", type=int, default=1000, help="training images (default 1000; the rest test)")
    p.add_argument("--ridge", type=float, default=1e-6, help="ridge relative to the mean diagonal")
    p.add_argument("--threads", type=int, default=None, help="threads (default: all cores)")
    args = parser.parse_args(argv)
    if not 1 <= args.train < 1797:
        parser.error("--train must be between 1 and 1796")
    demo(args.train, args.ridge, args.threads)


if __name__ == "__main__":
    main()

"""``python -m ntk_rs.experiments NAME --out DIR [--quick] [--data DIR] [--dim N] [--kind K] [--virtual N] [--no-zca]``."""

from __future__ import annotations

import argparse
import importlib
import inspect
from pathlib import Path

from . import available


def _integer(value: str, least: int) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {value!r}") from None
    if n < least:
        raise argparse.ArgumentTypeError(f"must be >= {least}, got {n}")
    return n


def _positive(value: str) -> int:
    return _integer(value, 1)


def _count(value: str) -> int:
    return _integer(value, 0)


def main(argv: list[str] | None = None) -> None:
    # Study names as the command line writes them: features_mnist is features-mnist.
    studies = {name.replace("_", "-"): (name, doc) for name, doc in available().items()}
    parser = argparse.ArgumentParser(prog="python -m ntk_rs.experiments")
    parser.add_argument(
        "study",
        type=lambda s: s.replace("_", "-"),
        choices=sorted(studies),
        help="; ".join(f"{k}: {doc}" for k, (_, doc) in sorted(studies.items())),
    )
    parser.add_argument("--out", type=Path, required=True, help="folder for the figures and CSV files")
    parser.add_argument("--quick", action="store_true", help="a small, fast version (used by the tests)")
    # Options of some studies only: passed to a study's main where it takes the keyword.
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="folder of the datasets (default: ../shared/data beside the checkout)",
    )
    parser.add_argument("--dim", type=_positive, default=None, help="feature dimension (feature studies)")
    parser.add_argument(
        "--kind",
        choices=("ntk", "rf"),
        default=None,
        help="the kernel whose features to use (feature studies)",
    )
    parser.add_argument(
        "--virtual",
        type=_count,
        default=None,
        help="one-pixel translations of each training image added to the fit (features-mnist)",
    )
    parser.add_argument(
        "--no-zca", dest="zca", action="store_false", default=None, help="no ZCA whitening (features-cifar)"
    )
    args = parser.parse_args(argv)
    name = studies[args.study][0]
    study = importlib.import_module(f"{__package__}.{name}")
    accepted = inspect.signature(study.main).parameters
    options = {}
    for key, flag in (
        ("data", "--data"),
        ("dim", "--dim"),
        ("kind", "--kind"),
        ("virtual", "--virtual"),
        ("zca", "--no-zca"),
    ):
        value = getattr(args, key)
        if value is not None:
            if key not in accepted:
                parser.error(f"{flag}: the study {args.study} takes no such option")
            options[key] = value
    args.out.mkdir(parents=True, exist_ok=True)
    study.main(args.out, args.quick, **options)


if __name__ == "__main__":
    main()

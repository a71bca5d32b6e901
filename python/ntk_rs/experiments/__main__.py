"""``python -m ntk_rs.experiments NAME --out DIR [--quick]``."""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

from . import available


def main(argv: list[str] | None = None) -> None:
    studies = available()
    parser = argparse.ArgumentParser(prog="python -m ntk_rs.experiments")
    parser.add_argument(
        "study", choices=sorted(studies), help="; ".join(f"{k}: {v}" for k, v in sorted(studies.items()))
    )
    parser.add_argument("--out", type=Path, required=True, help="folder for the figures and CSV files")
    parser.add_argument("--quick", action="store_true", help="a small, fast version (used by the tests)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    importlib.import_module(f"{__package__}.{args.study}").main(args.out, args.quick)


if __name__ == "__main__":
    main()

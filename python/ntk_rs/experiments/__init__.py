"""Figure-making studies, one module each: ``python -m ntk_rs.experiments NAME --out DIR``.

Each study module defines ``main(out: pathlib.Path, quick: bool) -> None`` that writes
PNG figures (matplotlib, the ``plots`` extra) and the numbers behind them as CSV into
``out``, and a one-line module docstring that the command line lists.
"""

from __future__ import annotations

import importlib
import pkgutil


def available() -> dict[str, str]:
    """Study name -> first line of its docstring."""
    names = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "main"):
            names[info.name] = (module.__doc__ or "").strip().splitlines()[0]
    return names

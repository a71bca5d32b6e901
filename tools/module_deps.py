"""The module graph of the Rust engine (``src/``), from its ``use`` paths, and
its cycles.

Each module's references to other modules of the crate (``crate::a::b``,
``super::…``, ``use child::…``), outside its ``#[cfg(test)] mod tests`` and
its comments, are edges of the graph. ``docs/design.md`` draws it; the test
``tests/test_layout.py`` checks that it has no cycle.

Run: ``python tools/module_deps.py [--depth N]`` prints the edges between
modules up to ``N`` path segments (default 2) and the cycles, if any.
"""

from __future__ import annotations

import argparse
import re
from collections import defaultdict
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
EXTERNAL = {"std", "core", "crate", "super", "self", "ndarray", "rayon", "num_traits", "pyo3", "numpy"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "mod":
        parts.pop()
    return "::".join(parts) if parts != ["lib"] else "crate"


def references(path: Path, module: str) -> set[str]:
    """Paths of modules (or of their items) that ``module``'s code names."""
    text = path.read_text().split("#[cfg(test)]\nmod tests")[0]
    text = re.sub(r"//.*", "", text)
    parent = module.rsplit("::", 1)[0] if "::" in module else "crate"
    refs = set(re.findall(r"crate::([a-z_]+(?:::[a-z_]+)*)", text))
    for name in re.findall(r"super::\{?([A-Za-z_]*)", text):
        refs.add(name if parent == "crate" else f"{parent}::{name}")
    # Children named by a path (`use child::…`, `child::item`); names that
    # are not children resolve to `module` itself and are dropped.
    for child in set(re.findall(r"\b([a-z_]+)::", text)) - EXTERNAL:
        refs.add(child if module == "crate" else f"{module}::{child}")
    return refs


def graph(depth: int) -> dict[str, set[str]]:
    files = {module_name(p): p for p in SRC.rglob("*.rs")}

    def resolve(ref: str) -> str | None:
        parts = ref.split("::")
        for i in range(len(parts), 0, -1):
            if "::".join(parts[:i]) in files:
                return "::".join(parts[:i])
        return None

    edges: dict[str, set[str]] = defaultdict(set)
    for module, path in files.items():
        for ref in references(path, module):
            target = resolve(ref)
            if target is None or target == module:
                continue
            a, b = ("::".join(m.split("::")[:depth]) for m in (module, target))
            if a != b:
                edges[a].add(b)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every elementary cycle, each once (from its smallest module)."""
    found = []
    for start in sorted(edges):
        stack = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in edges.get(node, ()):
                if nxt == start:
                    found.append(path)
                elif nxt > start and nxt not in path:
                    stack.append((nxt, [*path, nxt]))
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--depth", type=int, default=2)
    depth = parser.parse_args().depth
    edges = graph(depth)
    for module in sorted(edges):
        print(f"{module} -> {', '.join(sorted(edges[module]))}")
    found = cycles(edges)
    print("cycles:", found or "none")


if __name__ == "__main__":
    main()

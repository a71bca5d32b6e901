"""The engine's module graph (``tools/module_deps.py``, drawn in ``docs/design.md``)
has no import cycle."""

import importlib.util
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parent.parent / "tools" / "module_deps.py"


@pytest.fixture(scope="module")
def deps():
    spec = importlib.util.spec_from_file_location("module_deps", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_the_engine_has_no_import_cycle(deps, depth):
    edges = deps.graph(depth)
    assert edges["gram"] >= {"pair", "signal", "threads"}  # the graph is read, not empty
    assert deps.cycles(edges) == []


def test_a_cycle_is_found(deps):
    edges = deps.graph(1)
    edges["simd"] = {*edges.get("simd", ()), "gram"}
    assert any({"simd", "gram"} <= set(cycle) for cycle in deps.cycles(edges))

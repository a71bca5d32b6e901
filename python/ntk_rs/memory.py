"""Working memory of a Gram matrix computation: the estimate, what the
machine still has, and the guard that raises a ``MemoryError`` before
allocating rather than swapping, aborting or being killed.

The engine does the arithmetic (in checked integer arithmetic, from the
network and the input shape, before anything is built) and the guard; this
module is its Python face. What the guard compares:

- the outputs a call creates, the per-signal data of one block's rows and
  columns, and one workspace per thread (``footprint`` gives the last two);
- with the least of: the kernel's ``MemAvailable``, the room left in the
  process's memory cgroup (SLURM, containers), the room left under its
  address-space and data limits (``ulimit -v``, ``ulimit -d``), and the
  ``$NTK_RS_MEMORY_LIMIT`` budget in bytes, if set.

A network whose plan alone would not fit (global pooling on a very long
axis, say) is refused the same way, before the plan is built.
"""

from __future__ import annotations

from . import _core

#: By default a block's per-signal data stays under this many bytes.
BLOCK_MEMORY: int = _core.BLOCK_MEMORY
#: Environment variable: a budget in bytes that the guard never exceeds.
MEMORY_LIMIT_ENV: str = _core.MEMORY_LIMIT_ENV


def footprint(net, shape: tuple[int, ...], dtype: str = "float64") -> tuple[int, int]:
    """``(per_signal, per_thread)``: bytes of working memory of ``net.kernel``
    for each signal of a block's rows and columns and for each thread, on
    signals of ``shape`` (one signal: its grid, then channels), computing in
    ``dtype``. Raises ``ValueError`` where ``net`` does not fit such signals, and
    ``MemoryError`` where its plan alone would not fit in memory."""
    from .network import CNN, _positive_int, check_dtype, check_shape  # network imports this module

    if not isinstance(net, CNN):
        raise TypeError(f"net must be a CNN, got {type(net).__name__}")
    if not isinstance(shape, tuple | list):
        raise TypeError(f"shape must be a tuple (grid lengths, then channels), got {type(shape).__name__}")
    shape = tuple(_positive_int(s, "shape", maximum=2**32 - 2) for s in shape)
    check_shape((1, *shape), "shape")
    return _core.footprint(net.engine_layers(len(shape) - 1), list(shape), check_dtype(dtype))


def plan(
    layers: tuple, shape: tuple[int, ...], dtype: str, n: int, m: int, block_size: int | None, new_bytes: int
) -> int:
    """The block size of a call on ``n × m`` pairs of signals of ``shape`` through
    ``layers`` (``CNN.engine_layers``), computing in ``dtype``, that allocates
    ``new_bytes`` of outputs; raises ``MemoryError`` when the call would need more
    memory than is available, naming the part that dominates (the output, the
    blocks or the threads) and what to change. Ctrl-C interrupts it."""
    return _core.prepare(list(layers), list(shape), n, m, dtype, block_size, new_bytes)


def available() -> int | None:
    """Bytes this process can still allocate, as the guard sees them (see the
    module doc); None where unknown (not Linux, no budget set)."""
    return _core.available_memory()

"""Working memory of a Gram matrix computation: the estimate, what the
machine still has, the default block size, and the guard that raises a
``MemoryError`` before allocating rather than swapping or being killed.

The estimate counts what a call allocates: the outputs it creates, the
per-signal data of one block's rows and columns, and one workspace per
thread (``_core.footprint`` asks the engine's plan for the last two).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from . import _core

#: By default a block's per-signal data stays under this many bytes.
BLOCK_MEMORY = 1 << 30
#: Smaller estimates skip the guard: reading ``/proc`` costs about 0.2 ms,
#: half the fixed cost of a small call, and cannot matter at this size.
GUARD_FROM = 32 << 20


def footprint(net, shape: tuple[int, ...], dtype: str = "float64") -> tuple[int, int]:
    """``(per_signal, per_thread)``: bytes of working memory of ``net.kernel``
    for each signal of a block's rows and columns and for each thread, on
    signals of ``shape`` (one signal: its grid, then channels), computing in
    ``dtype``. Raises ``ValueError`` where ``net`` does not fit such signals."""
    from .network import CNN, _positive_int, check_dtype, check_shape  # network imports this module

    if not isinstance(net, CNN):
        raise TypeError(f"net must be a CNN, got {type(net).__name__}")
    if not isinstance(shape, tuple | list):
        raise TypeError(f"shape must be a tuple (grid lengths, then channels), got {type(shape).__name__}")
    shape = tuple(_positive_int(s, "shape") for s in shape)
    check_shape((1, *shape), "shape")
    return _core.footprint(net.engine_layers(len(shape) - 1), list(shape), check_dtype(dtype))


def default_block(per_signal: int) -> int:
    """Signals per block side such that a block's rows and columns stay
    under ``BLOCK_MEMORY``."""
    return max(1, BLOCK_MEMORY // (2 * per_signal))


def plan(
    layers: tuple, shape: tuple[int, ...], dtype: str, n: int, m: int, block_size: int | None, new_bytes: int
) -> int:
    """The block size of a call on ``n × m`` pairs of signals of ``shape`` through
    ``layers`` (``CNN.engine_layers``), computing in ``dtype``, that allocates
    ``new_bytes`` of outputs; raises ``MemoryError`` when the estimate exceeds the
    available memory."""
    per_signal, per_thread = _engine_footprint(layers, tuple(shape), dtype)
    block = min(default_block(per_signal) if block_size is None else block_size, max(n, m, 1))
    threads = _core.get_num_threads()
    signals = per_signal * (min(block, n) + min(block, m))
    estimate = new_bytes + signals + per_thread * threads
    free = available() if estimate >= GUARD_FROM else None
    if free is not None and estimate > free:
        if new_bytes > free // 2:
            advice = "pass out= (e.g. a numpy.memmap on disk, or use ntk_rs.blocks.GramJob)"
        else:
            advice = f"pass a smaller block_size (now {block}; memory grows linearly with it)"
        raise MemoryError(
            f"ntk_rs needs about {_size(estimate)} but {_size(free)} is available: "
            f"{_size(new_bytes)} for the output, {_size(signals)} for blocks of {block} signals "
            f"({_size(per_signal)} each), {_size(per_thread * threads)} for {threads} threads; {advice}"
        )
    return block


@lru_cache(maxsize=64)
def _engine_footprint(layers: tuple, shape: tuple[int, ...], dtype: str) -> tuple[int, int]:
    """``_core.footprint``, remembered: it builds the network's plans, up to
    0.6 ms (cifar-gap), more than the whole of a small call."""
    return _core.footprint(list(layers), list(shape), dtype)


def available() -> int | None:
    """Bytes this process can still allocate without swapping: the kernel's
    ``MemAvailable``, capped by the room left in its memory cgroup (where
    job schedulers such as SLURM and containers put their limits); None
    where unknown (not Linux)."""
    try:
        meminfo = Path("/proc/meminfo").read_text()
    except OSError:
        return None
    free = next(
        (int(line.split()[1]) * 1024 for line in meminfo.splitlines() if line.startswith("MemAvailable:")),
        None,
    )
    room = _cgroup_room()
    return free if room is None else room if free is None else min(free, room)


def _cgroup_room() -> int | None:
    """Limit minus usage of this process's memory cgroup, not counting file
    cache (reclaimable, and large after writing a memmap); None without a limit."""
    try:
        entries = [line.split(":", 2) for line in Path("/proc/self/cgroup").read_text().splitlines()]
    except OSError:
        return None
    for _, controllers, path in entries:
        if controllers == "":  # cgroup v2
            files = ("memory.max", "memory.current", "file")
            roots = [Path("/sys/fs/cgroup") / path.lstrip("/"), Path("/sys/fs/cgroup")]
        elif "memory" in controllers.split(","):  # cgroup v1
            files = ("memory.limit_in_bytes", "memory.usage_in_bytes", "total_cache")
            roots = [Path("/sys/fs/cgroup/memory") / path.lstrip("/"), Path("/sys/fs/cgroup/memory")]
        else:
            continue
        for root in roots:
            try:
                limit, usage = ((root / f).read_text().strip() for f in files[:2])
                stat = dict(line.split() for line in (root / "memory.stat").read_text().splitlines())
            except (OSError, ValueError):
                continue
            if not limit.isdigit() or int(limit) >= 1 << 60:  # "max", or v1's "unlimited"
                return None
            return int(limit) - int(usage) + int(stat.get(files[2], 0))
    return None


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"

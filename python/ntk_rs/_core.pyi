"""Stubs of the compiled engine. Use the public API in ``ntk_rs`` instead."""

from collections.abc import Callable, Sequence
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

NUM_THREADS_ENV: str
MEMORY_LIMIT_ENV: str
BLOCK_MEMORY: int

LayerArgs: TypeAlias = tuple[tuple[int, ...], str, Sequence[float] | None, int]

def kernel(
    layers: Sequence[LayerArgs],
    x: npt.NDArray[np.float64],
    z: npt.NDArray[np.float64] | None,
    ntk: npt.NDArray[np.float64] | None,
    rf: npt.NDArray[np.float64] | None,
    block: int,
    dtype: str,
    progress: Callable[[int], object] | None,
) -> None:
    """Writes the Gram matrices into ``ntk`` and ``rf`` (either may be None) in blocks
    of ``block`` signals a side, calling ``progress(pairs_done)`` as they advance."""

def prepare(
    layers: Sequence[LayerArgs],
    shape: list[int],
    n: int,
    m: int,
    dtype: str,
    block: int | None,
    outputs: int,
) -> int:
    """The block size of a call on ``n × m`` pairs after the memory check (``MemoryError``
    naming the part that does not fit); ``outputs``: bytes of outputs the caller allocates."""

def available_memory() -> int | None:
    """Bytes the memory guard counts as available, or None where unknown."""

def _panic_for_tests(where_: str) -> None:
    """Panics in the call (``"call"``) or in a worker (``"worker"``): a ``RuntimeError``."""

def footprint(layers: Sequence[LayerArgs], shape: list[int], dtype: str) -> tuple[int, int]:
    """Bytes of working memory ``(per_signal, per_thread)`` for signals of ``shape``
    with maps in ``dtype``."""

def kernel_diagonal(
    layers: Sequence[LayerArgs], x: npt.NDArray[np.float64], kind: str, dtype: str
) -> tuple[npt.NDArray[np.float64] | None, npt.NDArray[np.float64] | None]:
    """Self-kernels ``(ntk, rf)``; the one ``kind`` does not ask for is None."""

DrawArgs: TypeAlias = tuple[
    npt.NDArray[np.float64],
    int,
    int,
    npt.NDArray[np.int64] | None,
    npt.NDArray[np.float64] | None,
    npt.NDArray[np.int64] | None,
    npt.NDArray[np.float64] | None,
]

def features(
    layers: Sequence[LayerArgs],
    x: npt.NDArray[np.float64],
    draws: Sequence[DrawArgs],
    kind: str,
    normalize: bool,
    dtype: str,
    ntk: npt.NDArray[np.floating] | None,
    rf: npt.NDArray[np.floating] | None,
    batch: int,
    progress: Callable[[int], object] | None,
) -> None:
    """Writes the ``kind`` features of ``x`` (``(n, *grid, c)``) under ``draws`` (per layer
    ``(W, m, s, bucket1, sign1, bucket2, sign2)``, the last four None when ``s == 0``)
    into ``ntk`` and ``rf`` (None where not asked for; C-contiguous arrays of
    ``dtype``, the precision), ``batch`` images at a time (0: automatic; the results do not
    depend on it), calling ``progress(images_done)`` as they advance."""

def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...

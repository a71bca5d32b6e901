"""Stubs of the compiled engine. Use the public API in ``ntk_rs`` instead."""

from typing import TypeAlias

import numpy as np
import numpy.typing as npt

NUM_THREADS_ENV: str

LayerArgs: TypeAlias = tuple[tuple[int, ...], str, list[float] | None, int]

def kernel(
    layers: list[LayerArgs],
    x: npt.NDArray[np.float64],
    z: npt.NDArray[np.float64] | None,
    kind: str,
    dtype: str,
) -> tuple[npt.NDArray[np.float64] | None, npt.NDArray[np.float64] | None]:
    """Gram matrices ``(ntk, rf)``; the one ``kind`` does not ask for is None."""

def kernel_diagonal(
    layers: list[LayerArgs], x: npt.NDArray[np.float64], kind: str, dtype: str
) -> tuple[npt.NDArray[np.float64] | None, npt.NDArray[np.float64] | None]:
    """Self-kernels ``(ntk, rf)``; the one ``kind`` does not ask for is None."""

def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...

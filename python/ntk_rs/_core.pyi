"""Stubs of the compiled engine. Use the public API in ``ntk_rs`` instead."""

from typing import Optional

import numpy as np
import numpy.typing as npt

NUM_THREADS_ENV: str

LayerArgs = tuple[tuple[int, ...], str, Optional[list[float]], int]

def kernel(
    layers: list[LayerArgs],
    x: npt.NDArray[np.float64],
    z: Optional[npt.NDArray[np.float64]],
    kind: str,
) -> tuple[Optional[npt.NDArray[np.float64]], Optional[npt.NDArray[np.float64]]]:
    """Gram matrices ``(ntk, rf)``; the one ``kind`` does not ask for is None."""

def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...

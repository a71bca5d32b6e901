"""ntk_rs: exact neural tangent and random-feature kernels of deep
convolutional ReLU networks, computed in Rust on all CPU cores. What is computed is
defined in the repository's ``docs/spec.md``, which docstrings cite as "spec §n".

>>> import numpy as np, ntk_rs as nk
>>> net = nk.CNN([nk.Layer(patch=3), nk.Layer(patch=3, pool=nk.Pool.global_average())])
>>> K = net.kernel(np.ones((4, 8, 8, 1)))
>>> K.shape
(4, 4)
"""

from __future__ import annotations

import operator

from . import _core
from .features import FeatureMap
from .network import CNN, Layer, Pool

__all__ = ["CNN", "NUM_THREADS_ENV", "FeatureMap", "Layer", "Pool", "get_num_threads", "set_num_threads"]
__version__ = "0.1.0"

#: Environment variable read for the default thread count.
NUM_THREADS_ENV: str = _core.NUM_THREADS_ENV


def set_num_threads(n: int | None) -> None:
    """Compute on ``n`` threads from now on; ``None`` restores the default
    (``$NTK_RS_NUM_THREADS`` if set, else one per core). Results do not depend
    on the thread count."""
    if n is None:
        _core.set_num_threads(0)
        return
    if isinstance(n, bool):
        raise TypeError(f"n must be a positive integer or None, got {n!r}")
    try:
        n = operator.index(n)  # NumPy integers too
    except TypeError:
        raise TypeError(f"n must be a positive integer or None, got {n!r}") from None
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    _core.set_num_threads(min(n, 2**63))  # larger counts are refused by the engine as too many


def get_num_threads() -> int:
    """The number of threads computations run on."""
    return _core.get_num_threads()

"""Progress of long computations, fed with the number of pairs done so far:
a tqdm bar (``progress=True``) or a callback ``progress(done, total)``.

The engine's workers only count pairs; the thread waiting for them reads the
count every 50 ms and calls this with the GIL held, so reporting costs the
computation nothing.
"""

from __future__ import annotations

from collections.abc import Callable


class Progress:
    """Reports to a tqdm bar or a callback; a context manager that closes the bar.

    ``progress`` is ``False``/``None`` (off), ``True`` (a tqdm bar) or a
    callable ``(done, total)``; ``initial`` units (pairs, or images for feature
    maps: ``unit``) count as already done.
    """

    def __init__(
        self,
        progress: bool | Callable[[int, int], object] | None,
        total: int,
        initial: int = 0,
        unit: str = "pair",
    ):
        self.total = total
        self._bar = None
        self._callback = None
        if progress is True:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                raise ImportError(
                    "progress=True needs tqdm: pip install 'ntk_rs[progress]', or pass a callback "
                    "progress=f called as f(pairs_done, pairs_total)"
                ) from None
            self._bar = tqdm(total=total, initial=initial, unit=unit, unit_scale=True, desc="ntk_rs")
        elif callable(progress):
            self._callback = progress
        elif progress not in (False, None):
            raise TypeError(f"progress must be True, False or a callable (done, total), got {progress!r}")

    @property
    def active(self) -> bool:
        return self._bar is not None or self._callback is not None

    def __call__(self, done: int) -> None:
        """``done`` pairs of ``total`` are finished (monotone)."""
        if self._bar is not None:
            self._bar.update(done - self._bar.n)
        if self._callback is not None:
            self._callback(done, self.total)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.close()

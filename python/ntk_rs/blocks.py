"""Resumable Gram matrices: a :class:`GramJob` computes a Gram matrix into
``.npy`` files block by block, records each finished block, and when run
again after a crash or a kill computes only the missing blocks.

>>> job = GramJob(net, X, None, "gram/")        # doctest: +SKIP
>>> K = job.run(progress=True)                  # a read-only numpy.memmap
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from . import memory
from .network import CNN, Dtype, Kind, _pick, _positive_int, as_signals, check_dtype, check_kind, check_pair
from .progress import Progress

#: Signals per block side: a block of 4096 × 4096 pairs is the unit of work
#: recorded (and of work lost to a crash), 128 MiB of output.
DEFAULT_BLOCK = 4096
_FORMAT = 1


def block_slices(n: int, block: int) -> list[slice]:
    """The blocks of ``block`` signals covering ``range(n)``."""
    return [slice(i, min(i + block, n)) for i in range(0, n, block)]


def block_pairs(rows: slice, cols: slice, diagonal: bool) -> int:
    """Pairs a block computes (its upper triangle when on the diagonal of a symmetric Gram matrix)."""
    r, c = rows.stop - rows.start, cols.stop - cols.start
    return r * (r + 1) // 2 if diagonal else r * c


class GramJob:
    """The Gram matrix of ``net`` between ``X`` and ``Z`` (``None``: ``X``
    against itself), computed into the directory ``path`` in blocks of
    ``block_size`` signals a side.

    ``path`` holds ``ntk.npy`` and/or ``rf.npy`` (as ``kind`` asks), ``done.npy``
    (which blocks are finished) and ``job.json`` (what the job computes,
    with SHA-256 digests of the inputs). Opening an existing ``path`` resumes
    its job; a different job there (network, inputs, kind, dtype or block size)
    raises ``ValueError``. A block is marked done only after its entries are
    flushed to disk, so a kill at any moment loses at most the blocks in
    progress. A symmetric job computes each block pair once (blocks on and
    above the diagonal) and writes the mirror too. The result equals one
    ``net.kernel(X, Z, kind, dtype)`` call bit for bit. One process should run a
    job at a time; spread a job over machines with :mod:`ntk_rs.dask`.
    """

    def __init__(
        self,
        net: CNN,
        X,
        Z,
        path,
        *,
        kind: Kind = "ntk",
        dtype: Dtype = "float64",
        block_size: int = DEFAULT_BLOCK,
    ):
        if not isinstance(net, CNN):
            raise TypeError(f"net must be a CNN, got {type(net).__name__}")
        self.net = net
        self.kind = check_kind(kind)
        self.dtype = check_dtype(dtype)
        self.X = as_signals(X, "X")
        self.Z = None if Z is None or Z is X else as_signals(Z, "Z")
        if self.Z is not None:
            check_pair(self.X, self.Z)
        self.block_size = _positive_int(block_size, "block_size")
        # A net that does not fit X fails here, before anything is written.
        memory.footprint(net, self.X.shape[1:], self.dtype)
        self.path = Path(path)
        n, m = len(self.X), len(self.X if self.Z is None else self.Z)
        self.rows, self.cols = block_slices(n, self.block_size), block_slices(m, self.block_size)
        self.names = [k for k in ("ntk", "rf") if kind in (k, "both")]
        meta = {
            "format": _FORMAT,
            "net": repr(net),
            "kind": self.kind,
            "dtype": self.dtype,
            "shape": [n, m],
            "block_size": self.block_size,
            "X": _digest(self.X),
            "Z": None if self.Z is None else _digest(self.Z),
        }
        self._open(meta, (n, m))

    @property
    def symmetric(self) -> bool:
        return self.Z is None

    @property
    def blocks(self) -> list[tuple[int, int]]:
        """Every block ``(i, j)`` the job computes (``j >= i`` when symmetric)."""
        return [
            (i, j) for i in range(len(self.rows)) for j in range(i if self.symmetric else 0, len(self.cols))
        ]

    def missing(self) -> list[tuple[int, int]]:
        """The blocks not finished yet."""
        return [b for b in self.blocks if not self._done[b]]

    def run(self, progress=False):
        """Computes the missing blocks and returns :meth:`result`.
        ``progress``: ``True`` for a tqdm bar over the whole job, or a
        callable ``f(pairs_done, pairs_total)``."""
        pairs = {
            b: block_pairs(self.rows[b[0]], self.cols[b[1]], self.symmetric and b[0] == b[1])
            for b in self.blocks
        }
        missing = self.missing()
        done = sum(pairs.values()) - sum(pairs[b] for b in missing)
        with Progress(progress, sum(pairs.values()), initial=done) as report:
            for b in missing:
                self._compute(b, (lambda d, _, base=done: report(base + d)) if report.active else False)
                done += pairs[b]
        return self.result()

    def result(self):
        """The Gram matrix (a tuple ``(ntk, rf)`` for ``kind="both"``) as
        read-only memmaps; ``ValueError`` while blocks are missing."""
        if missing := self.missing():
            raise ValueError(f"{len(missing)} of {len(self.blocks)} blocks are missing: call run()")
        return _pick(
            self.kind,
            tuple(np.load(self._file(k), mmap_mode="r") if k in self.names else None for k in ("ntk", "rf")),
        )

    def _compute(self, block: tuple[int, int], progress) -> None:
        i, j = block
        rows, cols = self.rows[i], self.cols[j]
        views = tuple(self._outputs[k][rows, cols] for k in self.names)
        diagonal = self.symmetric and i == j
        Z = None if diagonal else (self.X if self.Z is None else self.Z)[cols]
        self.net.kernel(
            self.X[rows],
            Z,
            self.kind,
            self.dtype,
            out=views if len(views) > 1 else views[0],
            progress=progress,
        )
        for k in self.names:
            if self.symmetric and not diagonal:
                self._outputs[k][cols, rows] = self._outputs[k][rows, cols].T
            self._outputs[k].flush()
        self._done[block] = True
        self._done.flush()

    def _file(self, name: str) -> Path:
        return self.path / f"{name}.npy"

    def _open(self, meta: dict, shape: tuple[int, int]) -> None:
        """Resumes the job in ``path``, or creates it; ``job.json`` is written
        last, so a job whose creation was interrupted is created again."""
        info = self.path / "job.json"
        mode = "r+"
        if info.exists():
            found = json.loads(info.read_text())
            for key, value in meta.items():
                if found.get(key) != value:
                    raise ValueError(
                        f"path {str(self.path)!r} holds a different job ({key}: {found.get(key)!r}, "
                        f"not {value!r}): use another path, or delete it to start over"
                    )
        else:
            self.path.mkdir(parents=True, exist_ok=True)
            mode = "w+"
        self._outputs = {
            k: np.lib.format.open_memmap(self._file(k), mode=mode, dtype=np.float64, shape=shape)
            for k in self.names
        }
        self._done = np.lib.format.open_memmap(
            self.path / "done.npy", mode=mode, dtype=np.bool_, shape=(len(self.rows), len(self.cols))
        )
        if mode == "w+":
            self._done.flush()
            tmp = info.with_suffix(".tmp")
            tmp.write_text(json.dumps(meta, indent=1))
            os.replace(tmp, info)


def _digest(X: np.ndarray) -> str:
    """SHA-256 of the shape and float64 values, read a few MiB at a time."""
    h = hashlib.sha256(repr(X.shape).encode())
    step = max(1, (8 << 20) // max(1, X[:1].nbytes))
    for i in range(0, len(X), step):
        h.update(np.ascontiguousarray(X[i : i + step]).data)
    return h.hexdigest()

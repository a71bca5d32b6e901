"""Resumable Gram matrices: a :class:`GramJob` computes a Gram matrix into
``.npy`` files block by block, records each finished block with a checksum
of its entries, and when run again after a crash or a kill computes only the
missing blocks. Damaged files are detected when the job is opened: blocks
whose entries no longer match their checksum are computed again.

>>> job = GramJob(net, X, None, "gram/")        # doctest: +SKIP
>>> K = job.run(progress=True)                  # a read-only numpy.memmap
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path

import numpy as np

from . import memory
from .network import CNN, Dtype, Kind, _pick, _positive_int, as_signals, check_dtype, check_kind, check_pair
from .progress import Progress

#: Signals per block side: a block of 4096 × 4096 pairs is the unit of work
#: recorded (and of work lost to a crash), 128 MiB of output.
DEFAULT_BLOCK = 4096
_FORMAT = 2


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

    ``path`` holds ``ntk.npy`` and/or ``rf.npy`` (as ``kind`` asks), ``blocks.npy``
    (a checksum of every finished block's entries, 0 for a block not done) and
    ``job.json`` (what the job computes, with SHA-256 digests of the inputs).
    Opening an existing ``path`` resumes its job; a different job there (network,
    inputs, kind, dtype or block size) raises ``ValueError``, and so does a
    ``job.json`` that cannot be read. A block is recorded only after its entries
    are flushed to disk, so a kill at any moment loses at most the blocks in
    progress. Opening also verifies the files: a data file that is missing,
    truncated or whose header does not describe the job, a ``blocks.npy`` that
    cannot be read, and any block whose entries no longer match their checksum
    (a flipped byte) make those blocks missing again, with a ``RuntimeWarning``
    that says what was found; :meth:`run` computes them. So :meth:`result`
    returns only entries that match their checksums as of opening.

    A symmetric job computes each block pair once (blocks on and above the
    diagonal) and writes the mirror too. The result equals one
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
        self.shape = (n, m)
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
        self._open(meta)

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
        return [b for b in self.blocks if not self._sums[b].all()]

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
        self._sums[block] = [self._checksum(k, block) for k in self.names]
        self._sums.flush()

    def _checksum(self, name: str, block: tuple[int, int]) -> int:
        """A 64-bit digest of the block's entries in ``name`` (and of its mirror
        when symmetric), never 0 (which marks a block not done)."""
        i, j = block
        h = hashlib.blake2b(digest_size=8)
        regions = [(self.rows[i], self.cols[j])]
        if self.symmetric and i != j:
            regions.append((self.cols[j], self.rows[i]))
        for rows, cols in regions:
            h.update(np.ascontiguousarray(self._outputs[name][rows, cols]).data)
        return int.from_bytes(h.digest(), "little") or 1

    def _file(self, name: str) -> Path:
        return self.path / f"{name}.npy"

    def _open(self, meta: dict) -> None:
        """Resumes the job in ``path`` after verifying its files, or creates it;
        ``job.json`` is written last, so a job whose creation was interrupted is
        created again."""
        info = self.path / "job.json"
        sums_shape = (len(self.rows), len(self.cols), len(self.names))
        if not info.exists():
            self.path.mkdir(parents=True, exist_ok=True)
            self._outputs = {k: _create(self._file(k), self.shape, np.float64) for k in self.names}
            self._sums = _create(self.path / "blocks.npy", sums_shape, np.uint64)
            tmp = info.with_suffix(".tmp")
            tmp.write_text(json.dumps(meta, indent=1))
            os.replace(tmp, info)
            return
        try:
            found = json.loads(info.read_text())
            if not isinstance(found, dict):
                raise ValueError("not a JSON object")
        except (ValueError, UnicodeDecodeError) as e:
            raise ValueError(
                f"path {str(self.path)!r}: job.json is damaged ({e}), so the job it holds is unknown: "
                "delete the folder to start over"
            ) from None
        for key, value in meta.items():
            if found.get(key) != value:
                raise ValueError(
                    f"path {str(self.path)!r} holds a different job ({key}: {found.get(key)!r}, "
                    f"not {value!r}): use another path, or delete it to start over"
                )
        damage = []
        self._outputs = {}
        for k in self.names:
            self._outputs[k], problem = _reopen(self._file(k), self.shape, np.float64)
            if problem:
                damage.append(f"{k}.npy {problem}")
        self._sums, problem = _reopen(self.path / "blocks.npy", sums_shape, np.uint64)
        if problem:
            damage.append(f"blocks.npy {problem}: every block is computed again")
            self._sums[...] = 0
        bad = 0
        for b in self.blocks:
            if self._sums[b].all() and any(
                int(self._sums[b][c]) != self._checksum(k, b) for c, k in enumerate(self.names)
            ):
                self._sums[b] = 0
                bad += 1
        if bad:
            damage.append(f"{bad} of {len(self.blocks)} finished blocks no longer match their checksums")
        if damage:
            self._sums.flush()
            warnings.warn(
                f"GramJob at {str(self.path)!r}: {'; '.join(damage)}; run() computes the blocks affected again",
                RuntimeWarning,
                stacklevel=3,
            )


def _create(file: Path, shape: tuple, dtype) -> np.memmap:
    """A new ``.npy`` file of zeros (replacing any), open for writing."""
    array = np.lib.format.open_memmap(file, mode="w+", dtype=dtype, shape=shape)
    array.flush()
    return array


def _reopen(file: Path, shape: tuple, dtype) -> tuple[np.memmap, str | None]:
    """``file`` open for writing if its header describes ``shape`` and ``dtype``
    and it holds every entry; else a new file of zeros in its place, with what
    was wrong."""
    try:
        with open(file, "rb") as f:
            version = np.lib.format.read_magic(f)
            read = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            header = read(f)  # (shape, fortran_order, dtype)
            offset = f.tell()
    except FileNotFoundError:
        return _create(file, shape, dtype), "is missing"
    except (ValueError, OSError, SyntaxError) as e:
        return _create(file, shape, dtype), f"has a damaged header ({e})"
    if header != (shape, False, np.dtype(dtype)):
        return _create(file, shape, dtype), f"describes {header}, not {shape} {np.dtype(dtype)}"
    size = offset + int(np.prod(shape)) * np.dtype(dtype).itemsize
    if file.stat().st_size != size:
        # Extended with zeros (or cut) to its size: the blocks it lost fail their checksums.
        with open(file, "r+b") as f:
            f.truncate(size)
        problem = f"has {file.stat().st_size} bytes, not {size}"
        return np.lib.format.open_memmap(file, mode="r+"), problem
    return np.lib.format.open_memmap(file, mode="r+"), None


def _digest(X: np.ndarray) -> str:
    """SHA-256 of the shape and float64 values, read a few MiB at a time."""
    h = hashlib.sha256(repr(X.shape).encode())
    step = max(1, (8 << 20) // max(1, X[:1].nbytes))
    for i in range(0, len(X), step):
        h.update(np.ascontiguousarray(X[i : i + step]).data)
    return h.hexdigest()

"""Resumable Gram matrices (ntk_rs.blocks.GramJob)."""

import json
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

import ntk_rs as nk
from ntk_rs.blocks import GramJob

NET = nk.CNN([nk.Layer(patch=3, pool=nk.Pool.average(2)), nk.Layer(patch=2, pool=nk.Pool.global_average())])


def images(n, seed=0):
    return np.random.default_rng(seed).standard_normal((n, 6, 5, 2))


class Counting(nk.CNN):
    """NET, recording the row and column offsets of every block it computes."""

    def __init__(self, layers, calls):
        super().__init__(layers)
        object.__setattr__(self, "calls", calls)

    def kernel(self, X, Z=None, *args, **kwargs):
        self.calls.append((len(X), None if Z is None else len(Z)))
        return super().kernel(X, Z, *args, **kwargs)


@pytest.mark.parametrize("kind", ["ntk", "rf", "both"])
def test_symmetric_job_equals_one_call_and_computes_each_block_pair_once(tmp_path, kind):
    X = images(23)
    calls = []
    job = GramJob(Counting(NET.layers, calls), X, None, tmp_path, kind=kind, block_size=5)
    got = job.run()
    want = NET.kernel(X, kind=kind)
    for g, w in zip(*((got, want) if kind == "both" else ((got,), (want,)))):
        assert isinstance(g, np.memmap) and not g.flags.writeable
        np.testing.assert_array_equal(g, w)
    # 5 row blocks: 5 diagonal blocks (Z None) and 10 above the diagonal.
    assert len(calls) == 15 and sum(z is None for _, z in calls) == 5
    assert job.missing() == []


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_cross_job_equals_one_call(tmp_path, dtype):
    X, Z = images(9), images(7, 1)
    job = GramJob(NET, X, Z, tmp_path, dtype=dtype, block_size=4)
    assert len(job.blocks) == 3 * 2
    want = NET.kernel(X, Z, dtype=dtype)
    np.testing.assert_array_equal(job.run(), want)
    np.testing.assert_array_equal(np.load(tmp_path / "ntk.npy"), want)


def test_an_interrupted_job_resumes_with_the_missing_blocks(tmp_path):
    X = images(20)

    def crash_after_three_blocks(done, total):
        if done > 3 * 28:  # a diagonal block of 7 signals has 28 pairs, the others 49
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        GramJob(NET, X, None, tmp_path, block_size=7).run(progress=crash_after_three_blocks)
    calls = []
    job = GramJob(Counting(NET.layers, calls), X, None, tmp_path, block_size=7)
    assert 0 < len(job.missing()) < len(job.blocks) == 6
    missing = len(job.missing())
    seen = []
    np.testing.assert_array_equal(job.run(progress=lambda d, t: seen.append((d, t))), NET.kernel(X))
    assert len(calls) == missing
    assert seen[-1] == (20 * 21 // 2, 20 * 21 // 2)


def test_a_killed_job_resumes(tmp_path):
    """A process killed (SIGKILL) in its third block; the next run computes the rest."""
    X = images(20)
    np.save(tmp_path / "X.npy", X)
    script = textwrap.dedent(
        f"""
        import os, signal, numpy as np, ntk_rs as nk
        from ntk_rs.blocks import GramJob
        class KilledInThirdBlock(nk.CNN):
            def kernel(self, *args, **kwargs):
                calls = self.__dict__.setdefault("count", [])
                calls.append(1)
                if len(calls) == 3:
                    os.kill(os.getpid(), signal.SIGKILL)
                return super().kernel(*args, **kwargs)
        net = KilledInThirdBlock({NET.layers!r})
        GramJob(net, np.load({str(tmp_path / "X.npy")!r}), None, {str(tmp_path / "job")!r}, block_size=7).run()
        """
    )
    env_globals = "from ntk_rs import Layer, Pool\n"
    run = subprocess.run(
        [sys.executable, "-c", env_globals + script], capture_output=True, text=True, check=False
    )
    assert run.returncode == -9, run.stderr
    job = GramJob(NET, X, None, tmp_path / "job", block_size=7)
    assert len(job.missing()) == 4
    np.testing.assert_array_equal(job.run(), NET.kernel(X))


def test_a_different_job_in_the_same_place_is_refused(tmp_path):
    X = images(6)
    GramJob(NET, X, None, tmp_path, block_size=4)
    other_net = nk.CNN([nk.Layer(patch=3), nk.Layer(patch=2, pool=nk.Pool.global_average())])
    for args, kwargs, field in [
        ((NET, X + 1, None), {}, "X"),
        ((NET, X, images(3)), {}, "shape"),
        ((other_net, X, None), {}, "net"),
        ((NET, X, None), {"kind": "rf"}, "kind"),
        ((NET, X, None), {"dtype": "float32"}, "dtype"),
        ((NET, X, None), {"block_size": 3}, "block_size"),
    ]:
        with pytest.raises(ValueError, match=f"holds a different job \\({field}:"):
            GramJob(*args, tmp_path, **kwargs, **({"block_size": 4} if "block_size" not in kwargs else {}))
    assert json.loads((tmp_path / "job.json").read_text())["block_size"] == 4


def test_bad_arguments(tmp_path):
    with pytest.raises(TypeError, match="net must be a CNN"):
        GramJob("net", images(3), None, tmp_path)
    with pytest.raises(ValueError, match="block_size must be >= 1"):
        GramJob(NET, images(3), None, tmp_path, block_size=0)
    with pytest.raises(ValueError, match="valid"):
        GramJob(nk.CNN([nk.Layer(patch=9, padding="valid")]), images(3), None, tmp_path / "unfit")
    assert not (tmp_path / "unfit").exists()
    with pytest.raises(ValueError, match="X contains NaN"):
        GramJob(NET, images(3) * np.nan, None, tmp_path)
    job = GramJob(NET, images(3), None, tmp_path)
    with pytest.raises(ValueError, match="1 of 1 blocks are missing: call run"):
        job.result()


def finished_job(path, kind="ntk"):
    """A finished symmetric job of 20 images in blocks of 7 (6 blocks), and its result."""
    X = images(20)
    job = GramJob(NET, X, None, path, kind=kind, block_size=7)
    job.run()
    return X, NET.kernel(X, kind=kind)


def reopen(path, X, kind="ntk", warning=None):
    """The job at ``path`` reopened (with the warning ``warning``, or none) and run."""
    if warning is None:
        job = GramJob(NET, X, None, path, kind=kind, block_size=7)
    else:
        with pytest.warns(RuntimeWarning, match=warning):
            job = GramJob(NET, X, None, path, kind=kind, block_size=7)
    missing = job.missing()
    return missing, job.run()


def test_a_truncated_data_file_is_detected_and_its_blocks_computed_again(tmp_path):
    X, want = finished_job(tmp_path)
    size = (tmp_path / "ntk.npy").stat().st_size
    os.truncate(tmp_path / "ntk.npy", size - 8 * 20 * 3)  # the last three rows
    missing, got = reopen(tmp_path, X, warning="ntk.npy has .* bytes.*no longer match their checksums")
    # Rows 17-19 belong to the blocks (2, 2), and by the mirror (0, 2) and (1, 2).
    assert missing == [(0, 2), (1, 2), (2, 2)]
    np.testing.assert_array_equal(got, want)


def test_a_flipped_byte_in_a_finished_block_is_detected(tmp_path):
    X, want = finished_job(tmp_path)
    data = bytearray((tmp_path / "ntk.npy").read_bytes())
    header = len(data) - 8 * 20 * 20
    data[header + 8 * (3 * 20 + 9) + 2] ^= 0x10  # entry (3, 9): block (0, 1)
    (tmp_path / "ntk.npy").write_bytes(bytes(data))
    missing, got = reopen(tmp_path, X, warning="1 of 6 finished blocks no longer match")
    assert missing == [(0, 1)]
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("kind", ["rf", "both"])
def test_a_deleted_data_file_is_computed_again(tmp_path, kind):
    X, want = finished_job(tmp_path, kind)
    (tmp_path / "rf.npy").unlink()
    missing, got = reopen(tmp_path, X, kind, warning="rf.npy is missing")
    assert len(missing) == 6
    for g, w in zip(got if kind == "both" else (got,), want if kind == "both" else (want,)):
        np.testing.assert_array_equal(g, w)


def test_a_damaged_data_header_is_detected(tmp_path):
    X, want = finished_job(tmp_path)
    data = bytearray((tmp_path / "ntk.npy").read_bytes())
    data[:6] = b"\x00NUMPX"
    (tmp_path / "ntk.npy").write_bytes(bytes(data))
    missing, got = reopen(tmp_path, X, warning="ntk.npy has a damaged header")
    assert len(missing) == 6
    np.testing.assert_array_equal(got, want)


def test_a_damaged_record_of_blocks_is_detected(tmp_path):
    X, want = finished_job(tmp_path)
    record = tmp_path / "blocks.npy"
    sums = np.load(record)
    sums[1, 2, 0] ^= 1  # a checksum that no longer matches
    np.save(record, sums)
    missing, got = reopen(tmp_path, X, warning="1 of 6 finished blocks")
    assert missing == [(1, 2)]
    np.testing.assert_array_equal(got, want)
    record.write_bytes(record.read_bytes()[:40])  # cut in its header
    missing, got = reopen(tmp_path, X, warning="blocks.npy has a damaged header.*every block")
    assert len(missing) == 6
    np.testing.assert_array_equal(got, want)
    record.unlink()
    missing, _ = reopen(tmp_path, X, warning="blocks.npy is missing")
    assert len(missing) == 6


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", "\udcff"])
def test_a_damaged_job_description_is_a_clear_error(tmp_path, text):
    X, _ = finished_job(tmp_path)
    (tmp_path / "job.json").write_text(text, errors="surrogateescape")
    with pytest.raises(ValueError, match=r"job.json is damaged .*delete the folder to start over"):
        GramJob(NET, X, None, tmp_path, block_size=7)


def test_an_intact_job_reopens_without_warnings(tmp_path):
    X, want = finished_job(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        missing, got = reopen(tmp_path, X)
    assert missing == []
    np.testing.assert_array_equal(got, want)

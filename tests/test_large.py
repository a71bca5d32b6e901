"""Large Gram matrices on one machine: out=, blocks, progress, Ctrl-C, the memory guard."""

import _thread
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import ntk_rs as nk
from ntk_rs import memory, reference

NET = nk.CNN([nk.Layer(patch=3, pool=nk.Pool.average(2)), nk.Layer(patch=2, pool=nk.Pool.global_average())])
#: Cheap pairs (1-D, 16 positions) for calls that must run long: 2000 × 2000 pairs take ~30 s on 2 cores.
SLOW_NET = nk.CNN([nk.Layer(patch=3), nk.Layer(patch=3, pool=nk.Pool.global_average())])


def images(n, seed=0):
    return np.random.default_rng(seed).standard_normal((n, 6, 5, 2))


def signals_1d(n, seed=0, length=16):
    return np.random.default_rng(seed).standard_normal((n, length, 1))


#: Signals long enough that a call on 2000 of them lasts far longer than it
#: takes a loaded machine to deliver Ctrl-C (about 25 s; at length 16 it took
#: 3 s, and the Ctrl-C tests failed under load when the call ended first).
SLOW_LENGTH = 48


@pytest.mark.parametrize("block_size", [1, 2, 5, 11, 100])
def test_block_size_does_not_change_the_results(block_size):
    X, Z = images(11), images(4, 1)
    for args in ((X,), (X, Z)):
        want = NET.kernel(*args, kind="both", block_size=10**6)
        got = NET.kernel(*args, kind="both", block_size=block_size)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
        np.testing.assert_allclose(got[0], reference.kernel(NET, *args), rtol=1e-8)


@pytest.mark.parametrize(
    "view",
    [
        lambda a: a,
        lambda a: a.T,  # Fortran order
        lambda a: a[::-1, ::2],  # negative and non-unit strides
    ],
)
def test_out_receives_both_triangles_and_is_returned(view):
    X = images(7)
    want = NET.kernel(X)
    base = np.full((14, 14), np.nan)
    out = view(base)[:7, :7]
    assert NET.kernel(X, out=out, block_size=3) is out
    np.testing.assert_array_equal(out, want)
    assert np.isnan(base).sum() == 14 * 14 - 49  # nothing written outside the view


def test_out_for_both_kinds_and_cross_kernels():
    X, Z = images(5), images(3, 1)
    outs = (np.zeros((5, 3)), np.zeros((5, 3)))
    got = NET.kernel(X, Z, kind="both", out=outs)
    assert got[0] is outs[0] and got[1] is outs[1]
    want = NET.kernel(X, Z, kind="both")
    np.testing.assert_array_equal(outs[0], want[0])
    np.testing.assert_array_equal(outs[1], want[1])


def test_out_can_be_a_memmap(tmp_path):
    X = images(9)
    out = np.lib.format.open_memmap(tmp_path / "K.npy", mode="w+", dtype=np.float64, shape=(9, 9))
    NET.kernel(X, kind="rf", out=out, block_size=4)
    out.flush()
    np.testing.assert_array_equal(np.load(tmp_path / "K.npy"), NET.kernel(X, kind="rf"))


def test_bad_out():
    X = images(4)
    K = np.zeros((4, 4))
    readonly = np.zeros((4, 4))
    readonly.flags.writeable = False
    unaligned = np.frombuffer(bytearray(8 * 16 + 1), dtype=np.uint8)[1:].view(np.float64).reshape(4, 4)
    cases = [
        (dict(out=K.tolist()), TypeError, "out must be a numpy array"),
        (dict(out=K.astype(np.float32)), TypeError, "out must have dtype float64"),
        (dict(out=K.astype(">f8")), TypeError, "out must have dtype float64"),
        (dict(out=np.zeros((4, 3))), ValueError, r"out must have shape \(4, 4\), got \(4, 3\)"),
        (dict(out=np.zeros(16)), ValueError, "out must have shape"),
        (dict(out=readonly), ValueError, "out is read-only"),
        (dict(out=unaligned), ValueError, "out is not aligned"),
        (dict(kind="both", out=K), TypeError, r"tuple \(ntk, rf\)"),
        (dict(kind="both", out=(K, K)), ValueError, r"out\[1\] shares memory with out\[0\]"),
        (dict(kind="both", out=(K, None)), TypeError, r"out\[1\] must be a numpy array"),
    ]
    for kwargs, error, message in cases:
        with pytest.raises(error, match=message):
            NET.kernel(X, **kwargs)
    buffer = np.zeros((4, 30))
    X2 = buffer[:, :30].reshape(4, 6, 5, 1)
    with pytest.raises(ValueError, match="out shares memory with X"):
        NET.kernel(X2, out=buffer[:, :4])


@pytest.mark.parametrize(
    "bad, error", [(0, ValueError), (-3, ValueError), (2.5, TypeError), (True, TypeError)]
)
def test_bad_block_size(bad, error):
    with pytest.raises(error, match="block_size"):
        NET.kernel(images(3), block_size=bad)


def test_progress_callback_is_monotone_and_ends_at_the_total():
    X, Z = signals_1d(300), signals_1d(200, 1)
    for args, total in (((X,), 300 * 301 // 2), ((X, Z), 300 * 200)):
        seen = []
        SLOW_NET.kernel(*args, block_size=64, progress=lambda d, t, seen=seen: seen.append((d, t)))
        assert seen and all(t == total for _, t in seen)
        done = [d for d, _ in seen]
        assert done == sorted(set(done)) and done[-1] == total


def test_progress_bar_and_bad_progress(capsys):
    pytest.importorskip("tqdm")
    K = NET.kernel(images(5), progress=True)
    np.testing.assert_array_equal(K, NET.kernel(images(5)))
    bar = capsys.readouterr().err
    assert "100%" in bar and "pair/s" in bar
    with pytest.raises(TypeError, match="progress must be"):
        NET.kernel(images(5), progress="yes")


def test_progress_bar_without_tqdm(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # import fails
    with pytest.raises(ImportError, match=r"progress=True needs tqdm: pip install 'ntk_rs\[progress\]'"):
        NET.kernel(images(5), progress=True)


def test_an_exception_in_the_callback_stops_the_work():
    def stop(done, total):
        raise RuntimeError("enough")

    started = time.perf_counter()
    with pytest.raises(RuntimeError, match="enough"):
        SLOW_NET.kernel(signals_1d(2000), signals_1d(2000, 1), progress=stop)
    assert time.perf_counter() - started < 5  # liveness, not a benchmark: the whole call takes ~30 s
    assert_no_work_continues()


def assert_no_work_continues():
    """The process uses (almost) no CPU once a call has returned."""
    before = time.process_time()
    time.sleep(0.3)
    assert time.process_time() - before < 0.1


def test_keyboard_interrupt_stops_the_call_and_keeps_finished_entries():
    X, Z = signals_1d(2000, length=SLOW_LENGTH), signals_1d(2000, 1, length=SLOW_LENGTH)
    out = np.full((2000, 2000), np.nan)
    interrupted = []

    def interrupt_once(done, total):
        """Ctrl-C as soon as some pairs are done (the flag a SIGINT handler sets)."""
        if not interrupted:
            interrupted.append(time.perf_counter())
            _thread.interrupt_main()

    # Python's handler even where SIGINT is inherited as ignored (a job started
    # with & by a non-interactive shell): interrupt_main does nothing then.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            SLOW_NET.kernel(X, Z, out=out, block_size=64, progress=interrupt_once)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert time.perf_counter() - interrupted[0] < 2  # liveness: the whole call takes ~50 s
    assert_no_work_continues()
    written = ~np.isnan(out)
    assert 0 < written.sum() < out.size
    rows, cols = np.flatnonzero(written.any(axis=1)), np.flatnonzero(written.any(axis=0))
    written = written[np.ix_(rows, cols)]
    np.testing.assert_array_equal(
        out[np.ix_(rows, cols)][written], SLOW_NET.kernel(X[rows], Z[cols])[written]
    )


def test_ctrl_c_in_a_subprocess():
    script = textwrap.dedent(
        f"""
        import signal, sys, time, numpy as np, ntk_rs as nk
        # Python's handler even where SIGINT was inherited as ignored.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        net = nk.CNN([nk.Layer(patch=3), nk.Layer(patch=3, pool=nk.Pool.global_average())])
        X = np.random.default_rng(0).standard_normal((2000, {SLOW_LENGTH}, 1))
        def started(done, total):
            if not started.said:
                print("started", flush=True)
                started.said = True
        started.said = False
        try:
            net.kernel(X, progress=started)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "started"
    child.send_signal(signal.SIGINT)
    sent = time.perf_counter()
    out, _ = child.communicate(timeout=10)
    assert out.strip() == "interrupted" and child.returncode == 0
    assert time.perf_counter() - sent < 3  # liveness: the whole call takes ~25 s


def test_memory_guard_for_an_output_larger_than_memory():
    X = np.ones((10**6, 1))  # a 10⁶ × 10⁶ Gram matrix: 8 TB
    with pytest.raises(MemoryError, match=r"7\.3 TiB for the output.*pass out="):
        nk.CNN([nk.Layer()]).kernel(X)


def test_memory_guard_names_the_block_size(monkeypatch):
    X = images(40)
    want = NET.kernel(X)
    per_signal, per_thread = memory.footprint(NET, (6, 5, 2))
    # The signal's 6·5·2 values and its norm maps and their inverses on the
    # 6×5 and 3×3 grids.
    assert per_signal == 8 * (60 + 2 * (30 + 9))
    assert memory.footprint(NET, (6, 5, 2), "float32")[0] == 4 * (60 + 2 * (30 + 9))
    threads = nk.get_num_threads()
    # A budget with room for blocks of 10 signals (rows and columns) but not 20.
    monkeypatch.setenv(memory.MEMORY_LIMIT_ENV, str(per_signal * 30 + per_thread * threads))
    assert memory.available() == per_signal * 30 + per_thread * threads
    out = np.zeros((40, 40))
    NET.kernel(X, out=out, block_size=10)
    np.testing.assert_array_equal(out, want)
    with pytest.raises(MemoryError, match=r"for blocks of 20 signals.*; or pass a smaller block_size"):
        NET.kernel(X, out=out, block_size=20)
    monkeypatch.setenv(memory.MEMORY_LIMIT_ENV, "lots")
    with pytest.raises(ValueError, match="NTK_RS_MEMORY_LIMIT must be a number of bytes"):
        NET.kernel(X, out=out, block_size=20)


def test_footprint_rejects_bad_arguments():
    for args, error, message in [
        (("net", (6, 5, 2)), TypeError, "net must be a CNN"),
        ((NET, 3), TypeError, "shape must be a tuple"),
        ((NET, (6, -5, 2)), ValueError, "shape must be >= 1"),
        ((NET, (2, 6, 5, 2)), ValueError, "shape must have shape"),
        ((NET, (6, 5, 2), "float16"), ValueError, "dtype must be"),
        ((nk.CNN([nk.Layer(patch=9, padding="valid")]), (6, 5, 2)), ValueError, "valid"),
    ]:
        with pytest.raises(error, match=message):
            memory.footprint(*args)
    assert memory.footprint(NET, [6, 5, 2], np.float32) == memory.footprint(NET, (6, 5, 2), "float32")


def test_available_memory_is_known_on_linux():
    if not sys.platform.startswith("linux"):
        pytest.skip("the memory guard reads /proc")
    free = memory.available()
    assert free is not None and 0 < free

"""Adversarial inputs, each in a subprocess whose address space is limited
(``RLIMIT_AS``), so that a crash, an abort or the OOM killer would fail the case
instead of pytest: every case ends in a result or in the exception it names, and
the message names the argument.

The classes (issue "Reliability"): sizes that would exhaust memory, work that
would grow without bound, raw exceptions from deep inside, valid calls refused
with a wrong message, and panics crossing into Python.
"""

import json
import subprocess
import sys
import textwrap

import pytest

#: Address space of a case's process: room for NumPy, the engine and small
#: inputs, far from what the large cases would need.
LIMIT = 3 << 30

RUNNER = textwrap.dedent(
    """
    import json, resource, sys
    resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
    import numpy as np
    import ntk_rs as nk
    from ntk_rs import CNN, Layer, Pool
    try:
        result = None
        exec(compile(sys.argv[1], "<case>", "exec"))
        print(json.dumps({{"ok": True, "result": result}}))
    except BaseException as e:
        print(json.dumps({{"type": type(e).__name__, "message": str(e), "base": not isinstance(e, Exception)}}))
    """
)


def run(code: str, limit: int = LIMIT, timeout: float = 120) -> dict:
    """Runs ``code`` (which may set ``result``) in a limited subprocess; what it ended with."""
    proc = subprocess.run(
        [sys.executable, "-c", RUNNER.format(limit=limit), textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={"NTK_RS_NUM_THREADS": "2", "PATH": "", "OPENBLAS_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, f"the process died ({proc.returncode}): {proc.stderr[-2000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def raises(code: str, error: str, *names: str, **kwargs) -> str:
    """``code`` raises ``error`` whose message contains each of ``names``."""
    out = run(code, **kwargs)
    assert out.get("type") == error, out
    for name in names:
        assert name in out["message"], out
    return out["message"]


# ---- sizes that would exhaust memory: MemoryError, before anything is built

GAP = "CNN([Layer(patch=3), Layer(patch=3, pool=Pool.global_average())])"


@pytest.mark.parametrize(
    ("code", "names"),
    [
        # Global pooling on a long 1-D axis: the plan alone would take ~100 TiB.
        (f"{GAP}.kernel(np.random.randn(2, 300000, 1))", ["the plan of the network"]),
        (f"{GAP}.kernel_diagonal(np.random.randn(2, 300000, 1))", ["the plan of the network"]),
        (f"nk.memory.footprint({GAP}, (300000, 1))", ["the plan of the network"]),
        (
            f"from ntk_rs.blocks import GramJob; GramJob({GAP}, np.ones((2, 300000, 1)), None, 'job')",
            ["plan"],
        ),
        # 512×512 images under global pooling: a thread's workspace is GiBs.
        (f"{GAP}.kernel(np.random.rand(2, 512, 512, 3))", ["for 2 threads", "one thread's workspace"]),
        (f"{GAP}.kernel_diagonal(np.random.rand(2, 512, 512, 3))", ["for 2 threads"]),
        (f"{GAP}.norm(np.random.rand(2, 512, 512, 3))", ["for 2 threads"]),
        (f"{GAP}.distance(np.random.rand(2, 512, 512, 3))", ["for 2 threads"]),
        # An output larger than the address space allows.
        ("CNN([Layer()]).kernel(np.random.rand(30000, 3))", ["for the output", "pass out="]),
        ("CNN([Layer()]).kernel(np.random.rand(20000, 3), kind='both')", ["for the output"]),
    ],
)
def test_sizes_beyond_memory_are_memory_errors(code, names):
    raises(code, "MemoryError", *names)


def test_a_budget_is_a_memory_limit_too():
    code = """
    import os
    os.environ["NTK_RS_MEMORY_LIMIT"] = str(10 << 20)
    CNN([Layer()]).kernel(np.random.rand(2000, 3))
    """
    raises(code, "MemoryError", "10.0 MiB is available", "for the output")


def test_dask_blocks_of_a_network_too_large_are_refused_before_any_task():
    pytest.importorskip("dask")
    raises(
        f"import ntk_rs.dask; ntk_rs.dask.kernel({GAP}, np.ones((4, 300000, 1)), chunks=2)",
        "MemoryError",
        "plan",
    )


# ---- steps larger than the grid: clipped where exact, else refused naming the layer


def test_a_same_patch_larger_than_the_grid_is_clipped_exactly():
    # One layer: Σ scales by 1/s² with the patch size s (spec §3), so does the kernel.
    code = """
    X = np.random.default_rng(0).random((4, 8, 8, 2))
    a = CNN([Layer(patch=10**8)]).kernel(X, kind="rf")
    b = CNN([Layer(patch=10**9)]).kernel(X, kind="rf")
    result = float(np.abs(a - 100 * b).max() / np.abs(a).max())
    """
    assert run(code)["result"] < 1e-12


def test_a_filter_longer_than_the_grid_is_clipped_exactly():
    code = """
    X = np.random.default_rng(0).random((3, 16, 16, 1))
    long = CNN([Layer(patch=3, pool=Pool.average(30000))]).kernel(X)
    # The 30000 taps of 1/30000 reach at most 15 positions each way: 31 taps are read.
    short = CNN([Layer(patch=3, pool=Pool.filter([1 / 30000] * 31, stride=30000))]).kernel(X)
    result = float(np.abs(long - short).max() / np.abs(short).max())
    """
    assert run(code)["result"] < 1e-12


@pytest.mark.parametrize(
    ("code", "names"),
    [
        (
            "CNN([Layer(patch=9, padding='circular')]).kernel(np.ones((2, 8, 8, 1)))",
            ["layer 0", "'circular' patch of size 9"],
        ),
        (
            "CNN([Layer(padding='circular', pool=Pool.average(9, 1))]).kernel(np.ones((2, 8, 1)))",
            ["layer 0", "pooling filter of 9 taps"],
        ),
        (
            "CNN([Layer(patch=9, padding='valid')]).kernel(np.ones((2, 8, 8, 1)))",
            ["layer 0", "'valid' patch"],
        ),
    ],
)
def test_circular_and_valid_steps_larger_than_the_grid_are_refused(code, names):
    raises(code, "ValueError", *names)


# ---- raw exceptions from deep inside: clear errors naming the argument


@pytest.mark.parametrize(
    ("code", "error", "names"),
    [
        ("nk.set_num_threads(10**6)", "ValueError", ["n:", "at most"]),
        ("nk.set_num_threads(2**80)", "ValueError", ["n:", "at most"]),
        ("nk.set_num_threads(-3)", "ValueError", ["n must be >= 1"]),
        ("nk.set_num_threads('four')", "TypeError", ["n must be a positive integer"]),
        ("CNN(None)", "TypeError", ["layers must be a sequence"]),
        ("CNN(5)", "TypeError", ["layers must be a sequence"]),
        ("CNN('ab')", "TypeError", ["layers must be a sequence"]),
        ("CNN([])", "ValueError", ["layers"]),
        ("Pool.gaussian(2, sigma=float('nan'))", "ValueError", ["sigma"]),
        ("CNN([Layer()]).kernel(np.array([[1 + 2j, 3]]))", "TypeError", ["X must hold real numbers"]),
        ("CNN([Layer()]).kernel(np.array([[None, 3]], dtype=object))", "TypeError", ["X"]),
        ("CNN([Layer()]).kernel(np.ones((2, 3)), block_size=0)", "ValueError", ["block_size"]),
        ("CNN([Layer()]).kernel(np.ones((2, 3)), block_size=2**70)", "ValueError", ["block_size"]),
        (
            "CNN([Layer()]).kernel(np.ones((2, 3)), out=np.ones((2, 3)))",
            "ValueError",
            ["out must have shape"],
        ),
        ("nk.memory.footprint(CNN([Layer()]), (2**70, 3))", "ValueError", ["shape"]),
        (
            "from ntk_rs.predict import GradientFlow; GradientFlow(np.eye(2), [1, 2], lr=5, discrete=True).predict(None, t=10**6)",
            "ValueError",
            ["diverges"],
        ),
    ],
)
def test_bad_arguments_get_clear_errors(code, error, names):
    raises(code, error, *names)


def test_a_gaussian_of_a_tiny_sigma_is_its_limit():
    code = """
    X = np.random.default_rng(0).random((3, 8, 8, 1))
    a = CNN([Layer(patch=3, pool=Pool.gaussian(2, sigma=1e-300))]).kernel(X)
    b = CNN([Layer(patch=3, pool=Pool.filter([0, 0, 1, 0, 0], stride=2))]).kernel(X)
    result = float(np.abs(a - b).max())
    """
    assert run(code)["result"] == 0.0


# ---- panics never reach Python as anything but a RuntimeError


@pytest.mark.parametrize("where", ["call", "worker"])
def test_a_panic_becomes_a_runtime_error(where):
    out = run(f"nk._core._panic_for_tests({where!r})")
    assert out["type"] == "RuntimeError" and not out["base"], out
    assert "ntk_rs internal error" in out["message"] and "test panic" in out["message"]


def test_the_engine_keeps_working_after_a_panic():
    code = """
    try:
        nk._core._panic_for_tests("worker")
    except RuntimeError:
        pass
    result = float(CNN([Layer()]).kernel(np.ones((2, 3)))[0, 1])
    """
    assert run(code)["result"] == pytest.approx(6.0)


# ---- valid calls that were refused with a wrong message


def test_non_overlapping_views_of_one_buffer_are_valid_outputs():
    code = """
    X = np.random.default_rng(0).random((4, 5))
    net = CNN([Layer(), Layer()])
    B = np.zeros((4, 8))
    net.kernel(X, kind="both", out=(B[:, :4], B[:, 4:]))
    ntk, rf = net.kernel(X, kind="both")
    result = bool((B[:, :4] == ntk).all() and (B[:, 4:] == rf).all())
    """
    assert run(code)["result"] is True


def test_one_output_written_by_two_calls_at_once_is_refused_naming_out():
    code = """
    import threading
    X = np.random.default_rng(0).random((600, 8, 8, 1))
    net = CNN([Layer(patch=3), Layer(patch=3, pool=Pool.global_average())])
    out = np.zeros((600, 600))
    errors, started = [], threading.Event()
    def first():
        started.set()
        net.kernel(X, out=out)
    t = threading.Thread(target=first)
    t.start(); started.wait()
    import time; time.sleep(0.3)
    try:
        net.kernel(X[:10], X[:10], out=out[:10, :10])
    except ValueError as e:
        errors.append(str(e))
    t.join()
    result = errors
    """
    errors = run(code)["result"]
    assert len(errors) == 1 and errors[0].startswith("out is being written by another call"), errors


_FEATURE_NET = "net = CNN([Layer(3, pool=Pool.gaussian(2)), Layer(3, pool=Pool.global_average())])\n"


@pytest.mark.parametrize(
    ("code", "error", "names"),
    [
        # Draws too large for memory: refused before drawing, naming the widths.
        (
            _FEATURE_NET + "net.feature_map(2**20).transform(np.random.rand(2, 8, 8, 1))",
            "MemoryError",
            ("widths",),
        ),
        (
            _FEATURE_NET
            + "net.feature_map(64, widths=[(10**9, 2), (32, 32)]).transform(np.random.rand(2, 8, 8, 1))",
            "MemoryError",
            ("widths",),
        ),
        # An output larger than memory: NumPy's MemoryError before the engine.
        (_FEATURE_NET + "net.feature_map(2**40).transform(np.random.rand(2, 8, 8, 1))", "MemoryError", ()),
        # A batch whose buffers exceed memory: the engine's guard.
        (
            _FEATURE_NET + "net.feature_map(256).transform(np.random.rand(4, 64, 64, 1), batch=10**9)",
            "MemoryError",
            ("batch",),
        ),
        (
            _FEATURE_NET + "net.feature_map(64).transform(np.full((2, 8, 8, 1), np.nan))",
            "ValueError",
            ("X", "NaN"),
        ),
    ],
)
def test_feature_maps_refuse_what_would_crash(code, error, names):
    """Feature maps in a process of 3 GiB: each case ends in its exception, never a crash."""
    raises(code, error, *names)

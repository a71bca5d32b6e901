"""Times ``net.kernel`` on the benchmark workloads and compares it, on the
same pairs, with the NumPy reference and (when available) neural-tangents.

    python benches/bench.py [--workload NAME] [--n N] [--threads T]
                            [--dtype float64|float32] [--json OUT]
    python benches/bench.py --all --readme     # regenerate README's table

Each run prints and (with ``--json``) appends one JSON record per line:
workload, shapes, n, unique pairs, seconds, ms per pair, threads, dtype, CPU
model, commit, and the comparisons. neural-tangents is imported if it is
importable here, or run in another interpreter given by ``--nt-python``
(e.g. a separate venv with jax); it is never a dependency of the package. It
computes the same kernels up to a constant factor (the fan-in normalisation
of its first layer, and of its readout after ``Flatten``), which the
comparison measures and checks to be constant.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MARKERS = ("<!-- bench:start -->", "<!-- bench:end -->")
#: name -> (input shape without the batch axis, neural-tangents layers or None).
#: The neural-tangents layers are ("conv", patch) with ReLU after, ("avg", size),
#: ("gap",), ("flatten",), ("dense",) with ReLU after; the readout is added.
WORKLOADS = {
    "cifar-gap": ((32, 32, 3), [("conv", 3), ("conv", 3), ("conv", 3), ("gap",)]),
    # neural-tangents has no Gaussian pooling.
    "cifar-pool": ((32, 32, 3), None),
    "mnist1d": ((40, 1), [("conv", 5), ("avg", 2), ("conv", 5), ("avg", 2), ("conv", 5), ("gap",)]),
    "digits": ((8, 8, 1), [("conv", 3), ("conv", 3), ("conv", 3), ("gap",)]),
    "cifar-v": ((32, 32, 3), [("conv", 3), ("conv", 3), ("conv", 3), ("flatten",)]),
    "fc": ((784,), [("dense",)] * 5),
}


def network(name: str):
    """The ntk_rs network of a workload (imported here: the neural-tangents
    worker runs where ntk_rs is not installed)."""
    import ntk_rs as nk

    gap = nk.Pool.global_average()
    return {
        "cifar-gap": nk.CNN([nk.Layer(3), nk.Layer(3), nk.Layer(3, pool=gap)]),
        "cifar-pool": nk.CNN(
            [
                nk.Layer(3, pool=nk.Pool.gaussian(2)),
                nk.Layer(3, pool=nk.Pool.gaussian(2)),
                nk.Layer(3, pool=gap),
            ]
        ),
        "mnist1d": nk.CNN(
            [
                nk.Layer(5, pool=nk.Pool.average(2)),
                nk.Layer(5, pool=nk.Pool.average(2)),
                nk.Layer(5, pool=gap),
            ]
        ),
        "digits": nk.CNN([nk.Layer(3), nk.Layer(3), nk.Layer(3, pool=gap)]),
        "cifar-v": nk.CNN([nk.Layer(3), nk.Layer(3), nk.Layer(3)]),
        "fc": nk.CNN([nk.Layer() for _ in range(5)]),
    }[name]


#: Images the slow comparisons use (the first ones of the timed set).
REFERENCE_N = {"cifar-gap": 2, "cifar-pool": 2, "cifar-v": 3}
NT_N = {"cifar-gap": 4, "cifar-v": 8}


def signals(shape: tuple[int, ...], n: int, seed: int = 0) -> np.ndarray:
    """Deterministic inputs: standard normal, as most benchmarks use."""
    return np.random.default_rng(seed).standard_normal((n, *shape))


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        )
        dirty = subprocess.run(["git", "diff", "--quiet", "HEAD"], check=False, cwd=ROOT).returncode != 0
        return out.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def timed(fn, repeat: int = 1, budget: float = 1.0):
    """``(result, best seconds)`` over at least ``repeat`` calls, repeated
    until ``budget`` seconds have passed (so that calls of a few milliseconds,
    where timer noise and fixed costs vary most, are timed many times)."""
    best, result, spent, calls = math.inf, None, 0.0, 0
    while calls < repeat or spent < budget:
        start = time.perf_counter()
        result = fn()
        elapsed = time.perf_counter() - start
        best, spent, calls = min(best, elapsed), spent + elapsed, calls + 1
    return result, best


def max_rel(a: np.ndarray, b: np.ndarray) -> float:
    """Largest ``|a − b| / |b|`` entry by entry (the kernels here are positive)."""
    return float(np.max(np.abs(a - b) / np.abs(b)))


# --- neural-tangents -------------------------------------------------------------------


def nt_measure(layers, X: np.ndarray) -> dict:
    """Times neural-tangents' NTK and NNGP of ``X`` with itself (this interpreter)."""
    # The package's top-level import reaches tensorflow only through its
    # `experimental` subpackage, which this measurement does not use.
    import types

    sys.modules.setdefault("neural_tangents.experimental", types.ModuleType("neural_tangents.experimental"))
    import jax

    jax.config.update("jax_enable_x64", True)
    from neural_tangents import stax

    dims = X.ndim - 2
    seq, first = [], True
    for layer in layers:
        kind = layer[0]
        w_std = 1.0 if first else math.sqrt(2.0)
        if kind == "conv":
            seq += [stax.Conv(1, (layer[1],) * dims, padding="SAME", W_std=w_std), stax.Relu()]
            first = False
        elif kind == "dense":
            seq += [stax.Dense(1, W_std=w_std), stax.Relu()]
            first = False
        elif kind == "avg":
            seq += [stax.AvgPool((layer[1],) * dims, strides=(layer[1],) * dims, padding="SAME")]
        elif kind == "gap":
            seq += [stax.GlobalAvgPool()]
        elif kind == "flatten":
            seq += [stax.Flatten()]
    seq.append(stax.Dense(1, W_std=math.sqrt(2.0)))
    kernel_fn = jax.jit(stax.serial(*seq)[2], static_argnames="get")
    x = jax.numpy.asarray(X)
    # Compile first (not timed).
    jax.block_until_ready(kernel_fn(x, None, get=("ntk", "nngp")))
    (ntk, nngp), seconds = timed(lambda: jax.block_until_ready(kernel_fn(x, None, get=("ntk", "nngp"))))
    return {
        "ntk": np.asarray(ntk),
        "rf": np.asarray(nngp),
        "seconds": seconds,
        "version": __import__("neural_tangents").__version__,
    }


def nt_compare(name: str, X: np.ndarray, ours: tuple[np.ndarray, np.ndarray], ours_ms: float, python):
    """neural-tangents on the first images of ``X``: time and agreement."""
    layers = WORKLOADS[name][1]
    if layers is None:
        return {"nt": "not expressible in neural-tangents (Gaussian pooling)"}
    m = NT_N.get(name, min(len(X), 16))
    Xs = X[:m]
    try:
        if python is None:
            out = nt_measure(layers, Xs)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                np.save(Path(tmp) / "x.npy", Xs)
                cmd = [python, __file__, "--nt-worker", name, str(Path(tmp))]
                subprocess.run(cmd, check=True, capture_output=True, text=True)
                with np.load(Path(tmp) / "nt.npz") as z:
                    out = {k: z[k] for k in z.files}
                out["seconds"] = float(out["seconds"])
                out["version"] = str(out["version"])
    except (ImportError, subprocess.CalledProcessError, OSError) as e:
        detail = getattr(e, "stderr", "") or str(e)
        return {"nt": f"unavailable: {detail.strip().splitlines()[-1] if detail.strip() else e!r}"}
    ntk, rf = (k[:m, :m] for k in ours)
    ratio = ntk / out["ntk"]
    rf_ratio = rf / out["rf"]
    both = np.concatenate([ratio.ravel(), rf_ratio.ravel()])
    per_entry = out["seconds"] / (m * m) * 1e3
    return {
        "nt_version": out["version"],
        "nt_n": m,
        "nt_ms_per_entry": per_entry,
        "nt_speedup": per_entry / ours_ms,
        "nt_factor": float(np.median(both)),
        "nt_factor_spread": float((both.max() - both.min()) / np.median(both)),
    }


def nt_worker(name: str, folder: str) -> None:
    """Entry point of ``--nt-worker``: measure in this interpreter, save results."""
    X = np.load(Path(folder) / "x.npy")
    out = nt_measure(WORKLOADS[name][1], X)
    np.savez(Path(folder) / "nt.npz", **out)


# --- one run ----------------------------------------------------------------------------


def run(name: str, n: int, threads: int, dtype: str, compare: bool, nt_python) -> dict:
    import ntk_rs as nk
    from ntk_rs import reference

    shape, net = WORKLOADS[name][0], network(name)
    X = signals(shape, n)
    nk.set_num_threads(threads)
    net.kernel(X[: min(n, 2)], kind="both", dtype=dtype)  # warm up (threads, pages)
    (ntk, rf), seconds = timed(lambda: net.kernel(X, kind="both", dtype=dtype), repeat=2 if n <= 64 else 1)
    pairs = n * (n + 1) // 2
    record = {
        "workload": name,
        "shape": list(shape),
        "network": repr(net),
        "n": n,
        "pairs": pairs,
        "seconds": seconds,
        "ms_per_pair": seconds / pairs * 1e3,
        "threads": threads,
        "dtype": dtype,
        "kind": "both",
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "commit": commit(),
        "date": datetime.date.today().isoformat(),
    }
    if compare:
        if dtype == "float32":
            full = net.kernel(X, kind="both", dtype="float64")
            record["float32_max_rel_err"] = max(max_rel(ntk, full[0]), max_rel(rf, full[1]))
        m = REFERENCE_N.get(name, min(n, 6))
        ref = reference.kernel(net, X[:m], kind="both")
        record["reference_n"] = m
        record["reference_max_rel_err"] = max(max_rel(ntk[:m, :m], ref[0]), max_rel(rf[:m, :m], ref[1]))
        if dtype == "float64":
            record.update(nt_compare(name, X, (ntk, rf), record["ms_per_pair"], nt_python))
    return record


def show(r: dict) -> None:
    line = (
        f"{r['workload']:>10} n={r['n']:<4} {r['dtype']} {r['threads']} thr: "
        f"{r['ms_per_pair']:.4f} ms/pair ({r['seconds']:.2f} s, {r['pairs']} pairs)"
    )
    if "reference_max_rel_err" in r:
        line += f"  vs reference: {r['reference_max_rel_err']:.1e}"
    if "float32_max_rel_err" in r:
        line += f"  vs float64: {r['float32_max_rel_err']:.1e}"
    if "nt_speedup" in r:
        line += (
            f"  neural-tangents {r['nt_ms_per_entry']:.3f} ms/entry: {r['nt_speedup']:.0f}x"
            f" (factor {r['nt_factor']:.4g}, spread {r['nt_factor_spread']:.1e})"
        )
    elif "nt" in r:
        line += f"  neural-tangents: {r['nt']}"
    print(line, flush=True)


# --- README table -------------------------------------------------------------------------


def ms(r: dict | None) -> str:
    return f"{r['ms_per_pair']:.3g} ms" if r else "–"


def table(records: list[dict]) -> str:
    """The README block: one row per workload, from an ``--all`` run."""
    by = {(r["workload"], r["dtype"], r["threads"]): r for r in records}
    cores = max(r["threads"] for r in records)
    first = records[0]
    lines = [
        MARKERS[0],
        f"Measured by `python benches/bench.py --all --readme` on {first['date']}, commit "
        f'`{first["commit"]}`, {first["cpu"]} ({first["cores"]} cores), `kind="both"` (NTK and RF '
        f"in one pass), `kernel(X)` of n standard-normal signals; ms per unique pair (wall time / "
        f"(n(n+1)/2)).",
        "",
        f"| workload | n | float64, {cores} threads | float64, 1 thread | 1→{cores} threads "
        f"| float32, {cores} threads | float32 speed-up | float32 max rel. error "
        "| neural-tangents (float64) | vs neural-tangents | max rel. diff. vs reference |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in WORKLOADS:
        f64 = by.get((name, "float64", cores))
        f32 = by.get((name, "float32", cores))
        one = by.get((name, "float64", 1))
        if f64 is None:
            continue
        cells = [name, str(f64["n"]), ms(f64), ms(one)]
        cells.append(f"{one['ms_per_pair'] / f64['ms_per_pair']:.2f}×" if one else "–")
        cells.append(ms(f32))
        cells.append(f"{f64['ms_per_pair'] / f32['ms_per_pair']:.2f}×" if f32 else "–")
        cells.append(f"{f32['float32_max_rel_err']:.1e}" if f32 and "float32_max_rel_err" in f32 else "–")
        if "nt_ms_per_entry" in f64:
            cells.append(f"{f64['nt_ms_per_entry']:.3g} ms/entry (n={f64['nt_n']})")
            cells.append(f"{f64['nt_speedup']:.0f}×")
        else:
            cells += [f64.get("nt", "–").split(":")[0], "–"]
        cells.append(f"{f64['reference_max_rel_err']:.1e}" if "reference_max_rel_err" in f64 else "–")
        lines.append("| " + " | ".join(cells) + " |")
    lines.append(MARKERS[1])
    return "\n".join(lines)


def write_readme(block: str) -> None:
    text = README.read_text()
    start, end = text.index(MARKERS[0]), text.index(MARKERS[1]) + len(MARKERS[1])
    README.write_text(text[:start] + block + text[end:])


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--nt-worker":
        nt_worker(sys.argv[2], sys.argv[3])
        return
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workload", choices=list(WORKLOADS), action="append", help="default: all")
    p.add_argument("--n", type=int, default=64, help="signals (default 64)")
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="default: all cores")
    p.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    p.add_argument("--json", type=Path, help="append one JSON record per run to this file")
    p.add_argument("--no-compare", action="store_true", help="time only (no reference, neural-tangents)")
    p.add_argument("--nt-python", help="interpreter with neural-tangents, if not importable here")
    p.add_argument(
        "--all", action="store_true", help="every workload: float64 and float32 on all cores, float64 on 1"
    )
    p.add_argument("--readme", action="store_true", help="with --all: rewrite README's results table")
    args = p.parse_args()
    if args.readme and not args.all:
        p.error("--readme needs --all")
    names = args.workload or list(WORKLOADS)
    if args.all:
        runs = [(w, args.threads, d) for w in names for d in ("float64", "float32")]
        runs += [(w, 1, "float64") for w in names]
    else:
        runs = [(w, args.threads, args.dtype) for w in names]
    records = []
    for name, threads, dtype in runs:
        compare = not args.no_compare and threads == args.threads
        r = run(name, args.n, threads, dtype, compare, args.nt_python)
        show(r)
        records.append(r)
        if args.json:
            with args.json.open("a") as f:
                f.write(json.dumps(r) + "\n")
    if args.readme:
        write_readme(table(records))
        print(f"rewrote the results table in {README}")


if __name__ == "__main__":
    main()

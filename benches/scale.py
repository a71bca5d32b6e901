"""A large Gram matrix three ways: one ``net.kernel`` call, a resumable
``GramJob`` on disk, and ``ntk_rs.dask`` on a ``distributed.LocalCluster``.
Reports the median wall-clock time, CPU time (all processes of the way,
less sensitive than wall time to other load on the machine) and peak memory
(VmHWM) of each.

    python benches/scale.py                 # n = 2048 digits, 3 rounds
    python benches/scale.py --n 512 --rounds 1

Workload: scikit-learn's digits (8×8×1, scaled to [0, 1], repeated to reach
n), three layers of patch 3 with global average pooling last, the NTK in
float64. Each way runs in a fresh process, the ways interleaved round by
round, so that machine noise spreads over all of them. The call and the
GramJob use the ntk_rs pool (one thread per core unless
$NTK_RS_NUM_THREADS says otherwise); the cluster has one worker process per
thread of that pool, each with one dask thread and one ntk_rs thread.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import ntk_rs as nk

NET = nk.CNN([nk.Layer(patch=3), nk.Layer(patch=3), nk.Layer(patch=3, pool=nk.Pool.global_average())])
WAYS = ("call", "gramjob", "dask")


def digits(n: int) -> np.ndarray:
    from sklearn.datasets import load_digits

    images = load_digits().images[..., None] / 16.0
    return np.resize(images, (n, 8, 8, 1))


def peak_memory() -> int:
    """This process's peak resident memory (VmHWM), in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def run_way(way: str, n: int, block: int) -> dict:
    """One way, in this process: seconds of the computation and peak memory."""
    X = digits(n)
    result: dict = {}
    started, cpu = time.perf_counter(), time.process_time()
    if way == "call":
        K = NET.kernel(X)
    elif way == "gramjob":
        from ntk_rs.blocks import GramJob

        with tempfile.TemporaryDirectory() as path:
            K = np.array(GramJob(NET, X, None, path, block_size=block).run())
    else:
        import distributed

        import ntk_rs.dask

        threads = nk.get_num_threads()
        with (
            distributed.LocalCluster(
                n_workers=threads,
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",
                env={nk.NUM_THREADS_ENV: "1"},
            ) as cluster,
            distributed.Client(cluster) as client,
        ):
            client.wait_for_workers(threads)
            result["startup_s"] = time.perf_counter() - started
            workers_cpu = sum(client.run(time.process_time).values())
            started, cpu = time.perf_counter(), time.process_time()
            K = client.compute(ntk_rs.dask.kernel(NET, X, chunks=block)).result()
            cpu -= sum(client.run(time.process_time).values()) - workers_cpu
            result["worker_peak_bytes"] = max(client.run(peak_memory).values())
    result.update(
        seconds=time.perf_counter() - started,
        cpu_seconds=time.process_time() - cpu,
        peak_bytes=peak_memory(),
        checksum=hashlib.sha256(np.ascontiguousarray(K).tobytes()).hexdigest(),
    )
    return result


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    return f"{cpu}, {os.cpu_count()} cores, Linux {platform.release()}, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=2048, help="signals (default 2048)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the three ways (default 3)")
    parser.add_argument("--gramjob-block", type=int, default=512, help="GramJob block_size (default 512)")
    parser.add_argument("--dask-chunks", type=int, default=256, help="ntk_rs.dask chunks (default 256)")
    parser.add_argument("--way", choices=WAYS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.way:
        block = args.gramjob_block if args.way == "gramjob" else args.dask_chunks
        print(json.dumps(run_way(args.way, args.n, block)))
        return

    pairs = args.n * (args.n + 1) // 2
    print(f"machine: {machine()}")
    print(f"ntk_rs threads: {nk.get_num_threads()}; dtype float64; kind ntk")
    print(f"workload: digits 8x8x1 repeated to n = {args.n} ({pairs} pairs), {NET!r}")
    print(
        f"GramJob block_size {args.gramjob_block}; dask chunks {args.dask_chunks} on a LocalCluster of "
        f"{nk.get_num_threads()} worker processes x 1 thread x 1 ntk_rs thread"
    )
    runs: dict[str, list[dict]] = {way: [] for way in WAYS}
    print(f"medians of {args.rounds} rounds; CPU time counts every process of a way")
    for r in range(args.rounds):
        for way in WAYS:
            cmd = [sys.executable, __file__, "--way", way, "--n", str(args.n)]
            cmd += ["--gramjob-block", str(args.gramjob_block), "--dask-chunks", str(args.dask_chunks)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            runs[way].append(json.loads(out.strip().splitlines()[-1]))
            last = runs[way][-1]
            print(
                f"  round {r + 1} {way:8s} {last['seconds']:8.2f} s, CPU {last['cpu_seconds']:8.2f} s",
                flush=True,
            )
    checksums = {way: {run["checksum"] for run in results} for way, results in runs.items()}
    assert len(set().union(*checksums.values())) == 1, f"the ways disagree (SHA-256 of K): {checksums}"

    def median(way: str, key: str) -> float:
        return statistics.median(run[key] for run in runs[way])

    base, base_cpu = median("call", "seconds"), median("call", "cpu_seconds")
    print(f"\n{'way':8s} {'wall s':>8s} {'vs call':>8s} {'CPU s':>8s} {'vs call':>8s} {'peak MiB':>9s}")
    for way in WAYS:
        seconds, cpu, peak = median(way, "seconds"), median(way, "cpu_seconds"), median(way, "peak_bytes")
        line = f"{way:8s} {seconds:8.2f} {seconds / base - 1:+8.1%} {cpu:8.2f} {cpu / base_cpu - 1:+8.1%} {peak / 2**20:9.0f}"
        if way == "dask":
            workers, startup = median(way, "worker_peak_bytes") / 2**20, median(way, "startup_s")
            line += (
                f"  (client; each worker {workers:.0f} MiB; cluster start-up {startup:.1f} s, not counted)"
            )
        print(line)


if __name__ == "__main__":
    main()

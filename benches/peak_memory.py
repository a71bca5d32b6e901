"""Peak memory of one ``net.kernel(X)`` call against what it must hold: the
output and the engine's working memory (per-signal data and one workspace
per thread, ``ntk_rs.memory.footprint``).

    python benches/peak_memory.py                      # cifar-gap, n = 256, float64
    python benches/peak_memory.py --workload cifar-pool --n 128 --dtype float32

Peak resident memory (VmHWM, Linux) is read before the call (interpreter,
NumPy, inputs) and after it; the difference is what the call added.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from bench import WORKLOADS, network, signals
from scale import peak_memory

import ntk_rs as nk
from ntk_rs import memory

MiB = 1 << 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workload", choices=sorted(WORKLOADS), default="cifar-gap")
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    parser.add_argument("--kind", choices=("ntk", "rf", "both"), default="ntk")
    args = parser.parse_args()
    net = network(args.workload)
    X = signals(WORKLOADS[args.workload][0], args.n)
    before = peak_memory()
    start = time.perf_counter()
    K = net.kernel(X, kind=args.kind, dtype=args.dtype)
    seconds = time.perf_counter() - start
    added = peak_memory() - before
    outputs = sum(k.nbytes for k in (K if isinstance(K, tuple) else (K,)))
    per_signal, per_thread = memory.footprint(net, X.shape[1:], args.dtype)
    threads = nk.get_num_threads()
    print(
        f"{args.workload} n={args.n} {args.dtype} kind={args.kind}, {threads} threads, {seconds:.1f} s\n"
        f"  peak before the call {before / MiB:.1f} MiB, added by the call {added / MiB:.1f} MiB\n"
        f"  output {outputs / MiB:.2f} MiB + per-signal data {per_signal * args.n / MiB:.2f} MiB "
        f"({per_signal / 1024:.1f} KiB x {args.n}) + workspaces {per_thread * threads / MiB:.2f} MiB "
        f"({per_thread / MiB:.2f} MiB x {threads} threads) = "
        f"{(outputs + per_signal * args.n + per_thread * threads) / MiB:.2f} MiB"
    )
    assert np.isfinite(K if not isinstance(K, tuple) else K[0]).all()


if __name__ == "__main__":
    main()

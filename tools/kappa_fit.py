"""The minimax polynomial of the fast arc-cosine kernels of
``src/kappa/arccos.rs``, and checks of their error in high precision.

The arc-cosine is reduced to ``asin(x) = x + x z F(z)`` for
``z = x² ∈ [0, 1/4]``, with ``F(z) = (asin √z − √z) / (z √z)`` (see the module
doc of ``src/kappa/arccos.rs``). ``F`` is fitted with a Remez exchange for the
smallest relative error, the coefficients are rounded to the target
precision, and the relative error of the rounded polynomial (evaluated
exactly) is measured on a dense grid. (The tables live in ``src/simd/real.rs``, one
per precision, divided by π at compile time.)

Run: ``python tools/kappa_fit.py`` (needs mpmath); it prints Rust constant
tables and the measured bounds for a range of degrees. ``--check FILE`` (``-`` for stdin) instead
reads the output of ``cargo run --release --example kappa_sweep`` and
reports, per variant, the largest error of the Rust κ0 and κ1 against
mpmath, and whether it is within the bound ``src/kappa/arccos.rs`` documents.
"""

from __future__ import annotations

import mpmath as mp
import numpy as np

mp.mp.dps = 50


def F(z):
    if z == 0:
        return mp.mpf(1) / 6
    s = mp.sqrt(z)
    return (mp.asin(s) - s) / (z * s)


def horner(coef, x):
    acc = mp.mpf(0)
    for c in reversed(coef):
        acc = acc * x + c
    return acc


def remez(f, a, b, degree, iterations=30, grid=4000):
    """Coefficients (lowest first) of the degree-``degree`` polynomial with
    the smallest maximum relative error to ``f`` on ``[a, b]``."""
    a, b = mp.mpf(a), mp.mpf(b)
    n = degree + 2
    xs = [(a + b) / 2 - (b - a) / 2 * mp.cos(mp.pi * i / (n - 1)) for i in range(n)]
    dense = [a + (b - a) * mp.mpf(i) / grid for i in range(grid + 1)]
    fd = [f(x) for x in dense]
    coef = None
    for _ in range(iterations):
        A = mp.matrix(n, n)
        rhs = mp.matrix(n, 1)
        for i, x in enumerate(xs):
            fx = f(x)
            for k in range(degree + 1):
                A[i, k] = x**k
            A[i, degree + 1] = (-1) ** i * fx
            rhs[i] = fx
        sol = mp.lu_solve(A, rhs)
        coef = [sol[k] for k in range(degree + 1)]
        err = [(horner(coef, x) - fx) / fx for x, fx in zip(dense, fd)]
        # Alternating extrema of the error on the grid.
        ext = [0]
        for i in range(1, grid):
            if (err[i] - err[i - 1]) * (err[i + 1] - err[i]) <= 0:
                ext.append(i)
        ext.append(grid)
        # Merge same-sign neighbours keeping the largest.
        merged = []
        for i in ext:
            if merged and mp.sign(err[merged[-1]]) == mp.sign(err[i]):
                if abs(err[i]) > abs(err[merged[-1]]):
                    merged[-1] = i
            else:
                merged.append(i)
        while len(merged) > n:
            # Drop the smaller end.
            if abs(err[merged[0]]) < abs(err[merged[-1]]):
                merged.pop(0)
            else:
                merged.pop()
        if len(merged) < n:
            break
        xs = [dense[i] for i in merged]
    return coef


def rounded(coef, dtype):
    return [dtype(float(c)) for c in coef]


def max_rel_error(f, coef, a, b, points=20000):
    a, b = mp.mpf(a), mp.mpf(b)
    worst = mp.mpf(0)
    for i in range(points + 1):
        x = a + (b - a) * mp.mpf(i) / points
        fx = f(x)
        worst = max(worst, abs((horner([mp.mpf(float(c)) for c in coef], x) - fx) / fx))
    return worst


def report(name, f, a, b, degree, dtype):
    coef = rounded(remez(f, a, b, degree), dtype)
    err = max_rel_error(f, coef, a, b)
    print(
        f"// {name}: degree {degree}, {np.dtype(dtype).name}, max relative error {mp.nstr(err, 3)}"
        f" = 2^{mp.nstr(mp.log(err, 2), 4)}"
    )
    print("[" + ", ".join(str(dtype(c)) for c in coef) + "]")
    return err


#: The bounds of src/kappa/arccos.rs: variant prefix -> (κ0, κ1).
BOUNDS = {"f64": (3e-16, 5e-16), "f32": (1.5e-7, 3e-7)}


def kappa0(c):
    return 1 - mp.acos(c) / mp.pi


def kappa1(c):
    return (c * (mp.pi - mp.acos(c)) + mp.sqrt(1 - c * c)) / mp.pi


def check(lines) -> bool:
    worst = {}
    for line in lines:
        name, c, k0, k1 = line.split()
        c = mp.mpf(float(c))
        e0 = abs(mp.mpf(float(k0)) - kappa0(c))
        e1 = abs(mp.mpf(float(k1)) - kappa1(c))
        w = worst.setdefault(name, [0, 0, 0])
        w[0], w[1], w[2] = max(w[0], e0), max(w[1], e1), w[2] + 1
    ok = True
    for name, (e0, e1, count) in worst.items():
        b0, b1 = BOUNDS[name.split("-")[0]]
        within = e0 <= b0 and e1 <= b1
        ok &= within
        print(
            f"{name:8} {count} points: max |Δκ0| = {mp.nstr(e0, 3)} (bound {b0}), "
            f"max |Δκ1| = {mp.nstr(e1, 3)} (bound {b1}): {'ok' if within else 'EXCEEDED'}"
        )
    return ok


if __name__ == "__main__":
    import sys

    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        source = sys.stdin if sys.argv[2] == "-" else open(sys.argv[2])
        sys.exit(0 if check(source) else 1)
    for dtype, degrees in ((np.float64, range(8, 13)), (np.float32, range(2, 6))):
        for d in degrees:
            report("F (asin)", F, 0, 0.25, d, dtype)

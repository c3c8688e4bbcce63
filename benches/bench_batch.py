"""Batches against single points through the Python API: the shipped CAMB_LCDM_CMB, one point
through ``emu._core.eval`` and batches of 64 and 1024 through ``emu._core.eval_batch``, taking
turns in one process (docs/benchmarks.md).

Run once per thread count (the count is read once per process):
``ZELOS_NUM_THREADS=1 .venv/bin/python benches/bench_batch.py``, then with ``2`` (or unset: one
thread per core). Inputs vary between calls, drawn in the middle half of the training box.
"""

from __future__ import annotations

import os
import time

import numpy as np

import zelos


def median_per_point(run, repeats: int = 7) -> float:
    """Median over ``repeats`` rounds of seconds per point; ``run(r)`` returns the points it did."""
    times = []
    for r in range(repeats):
        t0 = time.perf_counter()
        points = run(r)
        times.append((time.perf_counter() - t0) / points)
    return sorted(times)[repeats // 2]


def main() -> None:
    emu = zelos.get_emulator("CAMB_LCDM_CMB")
    core = emu._core
    lower, upper = np.array(emu.lower), np.array(emu.upper)
    x = lower + (upper - lower) * (0.25 + 0.5 * np.random.default_rng(1).random((4096, len(lower))))

    def single(r):
        for i in range(200):
            core.eval(x[(r * 200 + i) % len(x)])
        return 200

    results = {"one point": median_per_point(single)}
    for n in (64, 1024):
        def batch(r, n=n):
            calls = max(2, 2048 // n)
            for c in range(calls):
                start = ((r * calls + c) * n) % (len(x) - n)
                core.eval_batch(x[start:start + n])
            return calls * n
        results[f"batch of {n}"] = median_per_point(batch)
    one = results["one point"]
    threads = os.environ.get("ZELOS_NUM_THREADS", "one per core")
    print(f"ZELOS_NUM_THREADS={threads}: " + ", ".join(
        f"{what} {t * 1e6:.0f} us a point ({one / t:.2f}x)" for what, t in results.items()))


if __name__ == "__main__":
    main()

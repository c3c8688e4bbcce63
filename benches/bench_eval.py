"""Evaluation speed through the Python API, side by side with a numpy forward pass of the same
weights in the same process (docs/benchmarks.md).

Run: `make bench` or `OPENBLAS_NUM_THREADS=1 .venv/bin/python benches/bench_eval.py`.
Inputs vary between calls (a fixed input flatters tanh and the caches).
"""

from __future__ import annotations

import os
import platform
import tempfile
import time

import numpy as np

import zelos
from zelos import _zelos
from zelos.reference import NumpyModel
from zelos.testing import LCDM, random_archive

NETWORKS = [
    ("6 -> 5x128 -> 200, tanh", dict(hidden=5, width=128, n_out=200, activation="tanh")),
    ("6 -> 4x512 -> 2500, cosmopower", dict(hidden=4, width=512, n_out=2500, activation="cosmopower")),
]


def per_call(fn, inputs, repeats=7, min_time=0.2):
    """Median seconds per call over `repeats` rounds, cycling through `inputs`."""
    n = len(inputs)
    calls = 1
    while True:  # calibrate the round length
        t0 = time.perf_counter()
        for i in range(calls):
            fn(inputs[i % n])
        if time.perf_counter() - t0 > min_time / repeats:
            break
        calls *= 2
    rounds = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for i in range(calls):
            fn(inputs[i % n])
        rounds.append((time.perf_counter() - t0) / calls)
    return float(np.median(rounds))


def main():
    rng = np.random.default_rng(0)
    names = list(LCDM)
    lo = np.array([LCDM[k][0] for k in names])
    hi = np.array([LCDM[k][1] for k in names])
    points = lo + (hi - lo) * rng.uniform(size=(256, 6))
    dicts = [dict(zip(names, p)) for p in points]
    batches = [lo + (hi - lo) * rng.uniform(size=(1024, 6)) for _ in range(4)]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}; numpy {np.__version__}\n")
    print("| network | weights | numpy, 1 point | zelos `emu(dict)` | zelos `emu.eval_flat(x)` | speed-up (dict / flat) "
          "| numpy, batch 1024 | zelos, batch 1024 | speed-up |")
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for label, kw in NETWORKS:
            for dtype in (np.float32, np.float64):
                path = os.path.join(tmp, f"{kw['activation']}-{dtype.__name__}.tar.gz")
                random_archive(path, dtype=dtype, seed=1, **kw)
                emu = zelos.load(path)
                ref = NumpyModel.from_members(_zelos.read_archive_members(path))
                np.testing.assert_allclose(emu.eval_flat(points[0]), ref(points[0]), rtol=1e-4, atol=1e-4)
                t_np = per_call(ref, points)
                t_dict = per_call(emu, dicts)
                t_flat = per_call(emu.eval_flat, points)
                t_np_b = per_call(ref, batches, repeats=5) / 1024
                t_z_b = per_call(emu, batches, repeats=5) / 1024
                us = lambda t: f"{t * 1e6:.1f} us"  # noqa: E731
                print(f"| {label} | {dtype.__name__} | {us(t_np)} | {us(t_dict)} | {us(t_flat)} "
                      f"| {t_np / t_dict:.1f}x / {t_np / t_flat:.1f}x | {us(t_np_b)}/pt | {us(t_z_b)}/pt | {t_np_b / t_z_b:.1f}x |")


if __name__ == "__main__":
    main()

"""CosmoPower's TT network three ways, side by side in one process (docs/benchmarks.md):
zelos (the Rust core through Python), zelos.jax (jit), and cosmopower-jax itself.

Run: `OPENBLAS_NUM_THREADS=1 .venv/bin/python benches/bench_cosmopower.py` (needs jax and
cosmopower-jax: `pip install 'zelos[cosmopower]'`). The network is cosmopower-jax's shipped
`cmb_tt.pkl`, imported with `zelos import cosmopower` (float32, as trained). Inputs vary between
calls; the evaluators take turns, round after round (so a busy machine slows them alike), and
every figure is the median over rounds of the time per call; JAX results are waited for
(`block_until_ready`), and jitted functions are compiled before timing.
"""

from __future__ import annotations

import os
import platform
import tempfile
import time

import numpy as np

import jax  # noqa: E402
from cosmopower_jax import cosmopower_jax as cpj_module  # noqa: E402

import zelos  # noqa: E402
import zelos.jax as zjax  # noqa: E402
from zelos.importers.cosmopower_archive import import_cosmopower  # noqa: E402

MODELS = os.path.join(os.path.dirname(cpj_module.__file__), "trained_models")
# A box around the Planck 2018 posterior (inside the networks' training region).
RANGES = {"omega_b": [0.020, 0.025], "omega_cdm": [0.10, 0.14], "h": [0.60, 0.80], "tau_reio": [0.03, 0.10],
          "n_s": [0.92, 1.00], "ln10^{10}A_s": [2.90, 3.20]}


def interleaved(cases: list, rounds: int, round_time: float = 0.03) -> list:
    """Median seconds per call of each `(function, inputs)`, timed in turns: each round runs every
    function on a block of calls (as many as fill `round_time`), cycling through its inputs."""
    blocks = []
    for fn, inputs in cases:  # calibrate each function's block
        calls = 1
        while True:
            t0 = time.perf_counter()
            for i in range(calls):
                fn(inputs[i % len(inputs)])
            if time.perf_counter() - t0 > round_time:
                break
            calls *= 2
        blocks.append(calls)
    times = [[] for _ in cases]
    for _ in range(rounds):
        for (fn, inputs), calls, out in zip(cases, blocks, times):
            t0 = time.perf_counter()
            for i in range(calls):
                fn(inputs[i % len(inputs)])
            out.append((time.perf_counter() - t0) / calls)
    return [float(np.median(t)) for t in times]


def main():
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "CosmoPower_TT.tar.gz")
        import_cosmopower([("tt", os.path.join(MODELS, "cmb_tt.pkl"))], path, RANGES, class_version="2.9.4")
        emu = zelos.load(path)
        f = zjax.load(path)
    cp = cpj_module.CosmoPowerJAX(probe="cmb_tt", verbose=False)

    rng = np.random.default_rng(0)
    lo, hi = emu.lower, emu.upper
    points = lo + (hi - lo) * rng.uniform(size=(256, len(lo)))
    dicts = [dict(zip(emu.parameters, p)) for p in points]
    batches = [lo + (hi - lo) * rng.uniform(size=(1024, len(lo))) for _ in range(4)]

    # The same numbers from all three (C_ell times the factor zelos folds in).
    ell = emu.grids["ell"]
    to_dl = ell * (ell + 1) / (2 * np.pi) * 2.7255e12**2 / 1e12
    np.testing.assert_allclose(emu.eval_flat(points[0]), np.asarray(cp.predict(points[0])) * to_dl, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(f.flat(points[0])), emu.eval_flat(points[0]), rtol=1e-5)

    flat_jit = jax.jit(f.flat)
    cp_jit = jax.jit(cp.predict)
    wait = lambda fn: (lambda x: fn(x).block_until_ready())  # noqa: E731
    for fn in (flat_jit, cp_jit):  # compile for both shapes before timing
        fn(points[0]).block_until_ready()
        fn(batches[0]).block_until_ready()

    # (label, single-point function and inputs, batch function or None)
    rows = [
        ("zelos `emu(dict)`", emu, dicts, None),
        ("zelos `emu.eval_flat(x)`; batch `emu(X)`", emu.eval_flat, points, emu),
        ("zelos.jax, `jax.jit(f.flat)`", wait(flat_jit), points, wait(flat_jit)),
        ("cosmopower-jax `predict`", wait(cp.predict), points, wait(cp.predict)),
        ("cosmopower-jax, `jax.jit(predict)`", wait(cp_jit), points, wait(cp_jit)),
    ]
    single = interleaved([(fn, inputs) for _, fn, inputs, _ in rows], rounds=31)
    timed = [(fn, batches) for *_, fn in rows if fn is not None]
    per_point = iter(t / 1024 for t in interleaved(timed, rounds=11, round_time=0.2))
    batch = [None if fn is None else next(per_point) for *_, fn in rows]
    ref, ref_batch = single[3], batch[3]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; jax {jax.__version__} "
          f"({jax.devices()[0].platform}); OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}\n")
    print("CosmoPower TT (cosmopower-jax `cmb_tt.pkl`, 6 -> 4x512 -> 2507, float32)\n")
    print("| evaluator | 1 point | speed-up vs cosmopower-jax `predict` | batch 1024, per point | speed-up |")
    print("|---|---|---|---|---|")
    for (label, *_), t, tb in zip(rows, single, batch):
        b = "-" if tb is None else f"{tb * 1e6:.1f} us | {ref_batch / tb:.1f}x"
        print(f"| {label} | {t * 1e6:.1f} us | {ref / t:.1f}x | {b if tb is not None else '- | -'} |")

if __name__ == "__main__":
    main()

"""P(k, z) on a user's grid (200 k x 30 z) from the shipped P(k) emulators, one point and batches,
side by side with the spline fitted per call that `Emulator.pk` used before (docs/benchmarks.md).

Run: `OPENBLAS_NUM_THREADS=1 .venv/bin/python benches/bench_pk.py`.
Parameters vary between calls (drawn in the training box); k and z are the same each call, as
in a loop over a chain's points.
"""

from __future__ import annotations

import numpy as np

import zelos
from zelos import pk_interp
from zelos.interpolate import pk_spline
from zelos.shipped import shipped_names

from bench_eval import per_call  # same folder: the same timing loop

N_K, N_Z = 200, 30


def spline_per_call(emulator, k, z, output):
    """The previous numpy path: a bicubic spline fitted to ln P at every call (P returned)."""
    def pk(params):
        grid = emulator(params)[output]
        spline = pk_spline(emulator.grids["z_pk"], emulator.grids["k"], grid)
        return spline(z, k)
    return pk


#: (emulator, nonlinear): the non-linear emulator's P(k) network is one of its two big ones
CASES = (("CAMB_LCDM_linear_Pk", False), ("CAMB_linear_matter_power", False), ("CAMB_nonlinear_matter_power", True))


def main():
    rows = []
    for name, nonlinear in [c for c in CASES if c[0] in shipped_names()]:
        e = zelos.get_emulator(name)
        output = "pk_nonlin" if nonlinear else "pk_lin"
        k_grid, z_grid = e.grids["k"], e.grids["z_pk"]
        k = np.geomspace(k_grid[0] * 1.01, k_grid[-1] * 0.99, N_K)
        z = np.linspace(z_grid[0], min(z_grid[-1], 3.0), N_Z)
        rng = np.random.default_rng(0)
        points = [dict(zip(e.parameters, rng.uniform(e.lower, e.upper))) for _ in range(64)]
        points = [p for p in points if _inside(e, p)]
        arrays = [np.array([p[n] for n in e.parameters]) for p in points]
        # what `Emulator.pk` did before it ran the P(k) network alone: every network, then the spline
        axes = {n: info.axes for n, info in e.outputs.items()}
        q = pk_interp.query(e.name, axes, e.grids, k, z, nonlinear, False)

        def every_network(p):
            return pk_interp.numpy_pk(q, e(p), p, e.name, e.parameters)
        np.testing.assert_allclose(e.pk(points[0], k, z, nonlinear), spline_per_call(e, k, z, output)(points[0]),
                                   rtol=1e-10)
        t_eval = per_call(e, points)
        t_pk = per_call(lambda p: e.pk(p, k, z, nonlinear), points)
        t_every = per_call(every_network, points)
        t_old = per_call(spline_per_call(e, k, z, output), points)
        batch = np.array(arrays)
        t_batch = per_call(lambda b: e.pk(b, k, z, nonlinear), [batch]) / len(batch)
        rows.append((f"{name} `{output}`", len(z_grid), len(k_grid), t_eval, t_pk, t_every, t_old, t_batch))
    print("| emulator, output (grid z x k) | every network, 1 point | `emu.pk(params, k, z)`, 1 point | "
          "the same through every network | spline fitted per call | speed-up | `emu.pk` batch of 64, per point |")
    print("|---|---|---|---|---|---|---|")
    for name, nz, nk, t_eval, t_pk, t_every, t_old, t_batch in rows:
        print(f"| {name} ({nz} x {nk}) | {t_eval * 1e6:.0f} us | {t_pk * 1e6:.0f} us | {t_every * 1e6:.0f} us | "
              f"{t_old * 1e6:.0f} us | {t_old / t_pk:.1f}x | {t_batch * 1e6:.0f} us |")


def _inside(e, p) -> bool:
    try:
        e(p)
        return True
    except zelos.OutOfRange:
        return False


if __name__ == "__main__":
    main()

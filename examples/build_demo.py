"""`make demo`: build a small emulator of CAMB with zelos, then check it against CAMB itself.

1. `zelos build specs/demo_camb_pk.yaml`: 450 real CAMB runs (resumable), training in Rust,
   accuracy on held-out points, an archive with its report.
2. Load the archive, evaluate P(k, z), sigma8 and the Jacobian at a new point, and compare with a
   direct CAMB call at that point; save a plot to demo-out/demo_pk.png.
"""

from __future__ import annotations

import os
import time

import numpy as np

import zelos
from zelos.build import BuildOptions, build

HERE = os.path.dirname(os.path.abspath(__file__))
SPEC = os.path.join(HERE, "..", "specs", "demo_camb_pk.yaml")
OUT = os.path.join(HERE, "..", "demo-out")


def camb_reference(params: dict, k: np.ndarray, z: list) -> dict:
    """The same CAMB driver and settings the emulator was trained on, at `k` and `z`."""
    from dataclasses import replace

    from zelos.build.plan import plan
    from zelos.drivers import get_driver

    spec = zelos.load_spec(SPEC)
    request = replace(plan(spec).request, k=np.asarray(k), z_pk=np.asarray(z, float))
    return get_driver("camb", spec["code"]["settings"], request, version=spec["code"]["version"]).compute(params)


def main():
    os.makedirs(OUT, exist_ok=True)
    result = build(SPEC, BuildOptions(out_dir=OUT))
    print()
    emu = zelos.load(result.path)
    print(emu)
    params = {"ombh2": 0.02237, "omch2": 0.1200, "H0": 67.36, "logA": 3.044, "ns": 0.9649}
    k = np.logspace(-3, np.log10(0.9), 40)
    z = [0.0, 0.7, 1.5]
    t0 = time.perf_counter()
    for _ in range(100):
        out = emu(params)
    t_emu = (time.perf_counter() - t0) / 100
    pk_emu = emu(params, k=k, z=z)
    t0 = time.perf_counter()
    reference = camb_reference(params, k, z)
    t_camb = time.perf_counter() - t0
    pk_camb, s8_camb = reference["pk_lin"], float(reference["sigma8"])
    rel = np.abs(pk_emu / pk_camb - 1)
    print(f"\nAt Planck 2018 ({', '.join(f'{p}={v}' for p, v in params.items())}):")
    print(f"  sigma8: zelos {float(out['sigma8']):.5f}, CAMB {s8_camb:.5f} (rel. diff {abs(float(out['sigma8']) / s8_camb - 1):.1e})")
    print(f"  P(k, z) for k in [1e-3, 0.9]/Mpc, z in {z} (between grid points): "
          f"max rel. diff {rel.max():.1e}, median {np.median(rel):.1e}")
    print(f"  one emulator call: {t_emu * 1e6:.0f} us; one CAMB call: {t_camb:.2f} s ({t_camb / t_emu:,.0f}x)")
    jac = emu.jacobian(params)["sigma8"]
    print("  d sigma8 / d params: " + ", ".join(f"{p} {v:+.3g}" for p, v in zip(emu.parameters, jac)))
    acc = emu.report["accuracy"]
    print(f"  held-out accuracy from the report: pk_lin max {acc['pk_lin']['rel']['max']:.1e}, "
          f"sigma8 max {acc['sigma8']['rel']['max']:.1e}")
    _plot(k, z, pk_emu, pk_camb, os.path.join(OUT, "demo_pk.png"))


def _plot(k, z, pk_emu, pk_camb, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(2, 1, figsize=(6, 6), sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    for i, zi in enumerate(z):
        a.loglog(k, pk_camb[i], color=f"C{i}", label=f"CAMB z={zi}")
        a.loglog(k, pk_emu[i], "--", color="k", lw=0.8)
        b.semilogx(k, pk_emu[i] / pk_camb[i] - 1, color=f"C{i}")
    a.set_ylabel("P(k) [Mpc^3]")
    a.legend(title="dashed: zelos")
    b.set_ylabel("zelos / CAMB - 1")
    b.set_xlabel("k [1/Mpc]")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"  plot: {os.path.relpath(path)}")


if __name__ == "__main__":
    main()

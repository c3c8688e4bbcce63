"""DES Y1 cosmic shear from an emulated P(k, z) against CAMB's: the check weak-lensing users look at.

For each of N points drawn inside the emulator's box (a fixed seed), the Limber C_ell of the four
DES Y1 source bins (auto and cross, 10 spectra) for ell from 20 to 3000 are computed from the
emulator's P(k, z) and from CAMB's at the same point, with the same background and integration
(zelos.build.shear). Prints the worst relative error per bin pair and writes the plot.

    python examples/des_y1_shear.py [--emulator CAMB_linear_matter_power] [--points 8]
        [--nz ../shared/data/des_y1_nz/DES_1YR_final_nz_source.dat] [--plot docs/img/des_y1_shear.png]
"""

import argparse
import os

import numpy as np

import zelos
from zelos.build.shear import plot, read_nz, shear_accuracy
from zelos.spec import constraint_filter

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_NZ = os.path.join(HERE, "..", "..", "shared", "data", "des_y1_nz", "DES_1YR_final_nz_source.dat")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--emulator", default="CAMB_linear_matter_power")
    p.add_argument("--points", type=int, default=8)
    p.add_argument("--nz", default=DEFAULT_NZ)
    p.add_argument("--nonlinear", action="store_true")
    p.add_argument("--plot", default="des_y1_shear.png")
    p.add_argument("--seed", type=int, default=11)
    args = p.parse_args(argv)

    emulator = zelos.get_emulator(args.emulator)
    bins = read_nz(args.nz)
    rng = np.random.default_rng(args.seed)
    # Inside the box, away from its faces (where the trust region would send a chain to the code).
    # Inside its constraints too (CAMB_linear_matter_power: w + wa <= -0.7).
    accept = constraint_filter(list(emulator.parameters), emulator.spec.get("constraints") or [])
    lo, hi = emulator.lower, emulator.upper
    points = np.zeros((0, len(lo)))
    while len(points) < args.points:
        draw = lo + (hi - lo) * rng.uniform(0.1, 0.9, size=(args.points, len(lo)))
        points = np.concatenate([points, draw if accept is None else draw[accept(draw)]])[:args.points]
    results = [shear_accuracy(emulator, row, bins, nonlinear=args.nonlinear) for row in points]
    worst = np.max([np.abs(r["relative_error"]) for r in results], axis=(0, 2))
    print(f"{emulator.name}: DES Y1 shear C_ell, ell 20-3000, {args.points} points; worst |relative error| per pair:")
    for (i, j), w in zip(results[0]["pairs"], worst):
        print(f"  bins {i}-{j}: {w:.2e}")
    print(f"  all: max {worst.max():.2e}")
    plot(results, args.plot, title=f"{emulator.name} {'non-linear' if args.nonlinear else 'linear'} P(k, z)")
    print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()

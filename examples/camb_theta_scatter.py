"""How reproducible is CAMB itself? Its theta_MC -> H0 root finder as the floor of BAO and SN accuracy.

CAMB turns `cosmomc_theta` into H0 with `brentq(..., rtol=5e-5)` (CAMBparams.set_H0_for_theta),
so H0, and every distance with it, scatters from point to point by up to about 1e-5. This runs
Cobaya's camb, with a shipped emulator's settings, at points of that emulator's design twice:
as Cobaya runs it, and with the root finder made tight (rtol 1e-13). It prints how far H0 and
each likelihood's log L move between the two: what no emulator of CAMB can get under, measured
on real likelihoods. Only the background is computed (a tenth of a second a point).

    python examples/camb_theta_scatter.py [--emulator CAMB_w0wa_CMB] [--points 1000] \
        [--likelihoods bao.desi_dr2 sn.union3] [-p PACKAGES_PATH]

Result: docs/accuracy.md ("How reproducible CAMB itself is").
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import scipy.optimize

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TIGHT = {"on": False}
_brentq = scipy.optimize.brentq


def _brentq_switchable(f, a, b, **kwargs):
    """scipy's brentq, with CAMB's rtol=5e-5 replaced by a tight one while TIGHT is on (CAMB
    imports brentq from scipy.optimize inside set_H0_for_theta, at each call)."""
    if TIGHT["on"]:
        kwargs.update(rtol=1e-13, xtol=1e-12)
    return _brentq(f, a, b, **kwargs)


def design_points(emulator, n: int) -> np.ndarray:
    from zelos.build.design import draw
    from zelos.build.plan import plan

    train, _ = draw(plan(emulator.spec), os.getcwd())
    return train[:n]


def camb_model(emulator, likelihoods: list, packages_path: str):
    from cobaya.model import get_model
    from zelos.build.validate import cobaya_params

    settings = dict(emulator.spec["code"].get("settings") or {})
    return get_model({"likelihood": {name: None for name in likelihoods}, "packages_path": packages_path,
                      "params": cobaya_params(emulator, derived=["H0"]), "debug": False,
                      "theory": {"camb": {"extra_args": settings}}})


def loglikes(model, names: list, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`(log L of each likelihood [n, n_like], H0 [n])` at the points."""
    logls, h0 = [], []
    for x in points:
        ll, derived = model.loglikes(dict(zip(names, map(float, x))), as_dict=True)
        logls.append([ll[name] for name in model.likelihood])
        h0.append(derived["H0"])
    return np.array(logls), np.array(h0)


def table(label: str, values: np.ndarray, mask: np.ndarray) -> str:
    v = values[mask]
    q = np.percentile(v, [50, 90, 99])
    return f"| {label} ({mask.sum()}) | {q[0]:.2g} | {q[1]:.2g} | {q[2]:.2g} | {v.max():.2g} |"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--emulator", default="CAMB_w0wa_CMB", help="a shipped emulator whose design and settings to use")
    ap.add_argument("--points", type=int, default=1000)
    ap.add_argument("--likelihoods", nargs="+", default=["bao.desi_dr2", "sn.union3"])
    ap.add_argument("-p", "--packages-path", default=os.environ.get("COBAYA_PACKAGES_PATH")
                    or os.path.join(ROOT, "..", "shared", "data", "cobaya_packages"))
    args = ap.parse_args(argv)

    import zelos
    from zelos.build.design import shell_split

    scipy.optimize.brentq = _brentq_switchable
    emulator = zelos.get_emulator(args.emulator)
    names = list(emulator.parameters)
    points = design_points(emulator, args.points)
    as_run, h0 = loglikes(camb_model(emulator, args.likelihoods, args.packages_path), names, points)
    TIGHT["on"] = True
    tight, h0_tight = loglikes(camb_model(emulator, args.likelihoods, args.packages_path), names, points)

    split = shell_split(emulator.spec, points)
    core = np.ones(len(points), bool) if split is None else split[0]
    print(f"{args.emulator}: {len(points)} points of its design ({core.sum()} in its core); camb as Cobaya "
          f"runs it against the same with a tight theta -> H0 solve\n")
    print("| quantity (points) | median | p90 | p99 | max |\n|---|---|---|---|---|")
    print(table("H0, relative, core", np.abs(h0 / h0_tight - 1), core))
    for j, name in enumerate(args.likelihoods):
        diff = np.abs(as_run[:, j] - tight[:, j])
        chi2 = -2 * tight[:, j]
        near = core & (chi2 < chi2[core].min() + 25)
        print(table(f"{name} abs. delta log L, core", diff, core))
        print(table(f"{name} abs. delta log L, near its best", diff, near))
    return 0


if __name__ == "__main__":
    sys.exit(main())

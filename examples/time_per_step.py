"""Time per likelihood evaluation with `theory: zelos` and with `theory: camb`, side by side, per
component (Cobaya's own timers, `timing: true`), for the demo chains (docs/cobaya.md).

    python examples/time_per_step.py              # Planck-lite + DESI DR2 + Union3 on CAMB_LCDM_CMB
    python examples/time_per_step.py --bao-sn     # DESI DR2 + Union3 on CAMB_LCDM_background
    python examples/time_per_step.py --rsd        # SDSS BAO + f sigma8 (DR16) (+ CAMB_LCDM_growth)

Both models are timed in one run, alternating, at the same points drawn from the example's
reference distribution (inside the emulator's trust region): the machines these notes are
written on are shared, so the ratios are what to read. CAMB runs with one OpenMP thread unless
OMP_NUM_THREADS says otherwise.
"""

from __future__ import annotations

import argparse
import copy
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

from demo_chain import DEMOS, demo_info  # noqa: E402  (same folder)


def timed_model(info: dict, theory: dict):
    from cobaya.model import get_model

    trial = copy.deepcopy({k: info[k] for k in ("likelihood", "params", "packages_path")})
    trial["theory"] = theory
    trial["timing"] = True
    if "camb" in theory:
        trial["params"].pop("S8", None)  # Cobaya's camb has no S8 (zelos emulates it)
    return get_model(trial)


def per_component_ms(model) -> dict:
    """Cobaya's average time per call of each component (the first call, which sets up caches,
    is left out by Cobaya's timer), in ms."""
    times = {}
    for component in model.components:
        timer = getattr(component, "timer", None)
        if timer is not None and timer.n > 1:
            times[component.get_name()] = 1e3 * timer.get_time_avg()
    return times


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bao-sn", action="store_true", help="the DESI DR2 + Union3 example")
    parser.add_argument("--rsd", action="store_true", help="the SDSS BAO + f sigma8 (DR16) example")
    parser.add_argument("-n", type=int, default=None, help="points (default 12 for Planck, 40 for RSD, 200 for BAO+SN)")
    args = parser.parse_args(argv)
    demo = "rsd" if args.rsd else "bao-sn" if args.bao_sn else "planck"
    n = args.n or (200 if args.bao_sn else 40 if args.rsd else 12)
    info = demo_info(demo)
    info["theory"]["zelos"].pop("log", None)
    info["theory"]["zelos"]["spot_check"] = 0
    models = {"zelos": timed_model(info, {"zelos": info["theory"]["zelos"]}),
              "camb": timed_model(info, {"camb": {"extra_args": dict(DEMOS[demo][4])}})}
    points = [models["zelos"].prior.reference() for _ in range(n + 1)]
    wall = dict.fromkeys(models, 0.0)
    for i, point in enumerate(points):
        for name, model in models.items():  # alternating: both see the same machine load
            t0 = time.perf_counter()
            model.logposterior(point)
            if i:  # the first point sets up caches
                wall[name] += time.perf_counter() - t0
    served = models["zelos"].theory["zelos"].summary()
    times = {name: per_component_ms(model) for name, model in models.items()}
    rows = sorted(set(times["zelos"]) | set(times["camb"]), key=lambda c: (c not in ("zelos", "camb", "camb.transfers"), c))
    print(f"{DEMOS[demo][5]}: {n} points from the reference distribution "
          f"({served['emulated']} of {served['calls']} emulated), ms per call (Cobaya's timers)\n")
    print("| component | zelos | camb |\n| --- | --- | --- |")
    for row in rows:
        z, c = times["zelos"].get(row), times["camb"].get(row)
        print(f"| `{row}` | {'' if z is None else f'{z:.3g}'} | {'' if c is None else f'{c:.4g}'} |")
    z_ms, c_ms = 1e3 * wall["zelos"] / n, 1e3 * wall["camb"] / n
    print(f"| **whole evaluation (wall)** | **{z_ms:.3g}** | **{c_ms:.4g}** ({c_ms / z_ms:.0f}x) |")
    for model in models.values():
        model.close()


if __name__ == "__main__":
    main()

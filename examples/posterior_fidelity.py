"""Posterior fidelity: is the chain run on the emulator the chain CAMB would have given?

Reweights a thinned sample of a finished `theory: zelos` chain (by default the one `make demo`
writes) with exact likelihoods from CAMB, run through Cobaya with the emulator's own settings:
importance weights w = exp(log L_camb - log L_zelos), and reports, for each parameter, how far
its posterior mean moves, in units of its posterior standard deviation. The priors are the same
on both sides, so only the likelihoods enter. CAMB runs in parallel worker processes.

    python examples/posterior_fidelity.py [CHAIN_ROOT] [--points 400] [--processes 2] \
        [--plot PNG --plot-params w wa] [--upper-limit mnu]

With ``--plot``, the thinned sample's 2-D contours (68% and 95%) as the emulator weights them and
as CAMB's likelihoods reweight them, in one getdist plot. With ``--upper-limit NAME``, the 95%
upper limit of NAME (a one-tailed bound, as quoted for Sum m_nu) from both weightings and their
relative difference (target: within 2%).

Result and command: docs/accuracy.md.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEFAULT_CHAIN = os.path.join(ROOT, "demo-out", "chains", "planck_lite_desi_union3")
BURN_IN = 0.3

_MODEL = {}  # per worker process: the Cobaya model with CAMB


def camb_info(updated: dict) -> dict:
    """The chain's own input (its .updated.yaml), with the emulator's code in place of zelos."""
    import zelos

    info = {k: copy.deepcopy(updated[k]) for k in ("likelihood", "params")}
    zelos_opts = updated["theory"]["zelos"]
    emulator = zelos.get_emulator(zelos_opts["emulators"][0])
    code = emulator.spec["code"]
    extra = dict(code.get("settings") or {})
    extra.update({k: v for k, v in (zelos_opts.get("extra_args") or {}).items() if v is not None})
    info["theory"] = {code["name"]: {"extra_args": extra}}
    info["packages_path"] = updated.get("packages_path")
    # Derived parameters do not change the likelihood; sigma8 is kept because asking CAMB for
    # it switches on the transfer functions, as when the emulator was trained (docs/drivers.md).
    info["params"] = {k: v for k, v in info["params"].items() if _is_input(v) or k == "sigma8"}
    return info


def _is_input(value) -> bool:
    """A sampled (prior) or fixed (value) parameter, as opposed to a derived one."""
    if isinstance(value, dict):
        return "prior" in value or "value" in value
    return value is not None


def _init(info):
    os.environ["OMP_NUM_THREADS"] = "1"
    from cobaya.model import get_model

    _MODEL["model"] = get_model(info)


def _loglike(point: dict) -> float:
    logls = _MODEL["model"].loglikes(point, as_dict=False, return_derived=False)
    return float(np.sum(logls))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("chain", nargs="?", default=DEFAULT_CHAIN, help="the chain's output root (default: make demo's)")
    ap.add_argument("--points", type=int, default=400, help="thinned sample size (default 400)")
    ap.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--json", help="write the result here too")
    ap.add_argument("--plot", help="write the contours of --plot-params, zelos against CAMB-reweighted, here")
    ap.add_argument("--plot-params", nargs=2, default=["w", "wa"], metavar=("X", "Y"))
    ap.add_argument("--upper-limit", metavar="NAME", help="also compare NAME's 95%% upper limits (e.g. mnu)")
    args = ap.parse_args(argv)

    from cobaya import load_samples

    with open(args.chain + ".updated.yaml") as f:
        updated = yaml.safe_load(f)
    samples = load_samples(args.chain, skip=BURN_IN, combined=True)
    data = samples.data if hasattr(samples, "data") else samples
    sampled = [p for p, v in updated["params"].items()
               if isinstance(v, dict) and "prior" in v]
    rows = np.linspace(0, len(data) - 1, min(args.points, len(data))).astype(int)
    thin = data.iloc[rows]
    weights = thin["weight"].to_numpy(float)
    loglike_zelos = -0.5 * thin["chi2"].to_numpy(float)
    points = [{p: float(r[p]) for p in sampled} for _, r in thin.iterrows()]

    info = camb_info(updated)
    t0 = time.perf_counter()
    print(f"posterior fidelity: {len(points)} points of {args.chain} through {list(info['theory'])[0]}, "
          f"{args.processes} processes", flush=True)
    with ProcessPoolExecutor(args.processes, initializer=_init, initargs=(info,)) as pool:
        loglike_code = np.array(list(pool.map(_loglike, points, chunksize=4)))
    seconds = time.perf_counter() - t0

    delta = loglike_code - loglike_zelos
    iw = weights * np.exp(delta - delta.max())
    ess = iw.sum() ** 2 / (iw ** 2).sum()
    # Every parameter of the chain, sampled and derived, that varies.
    names = [c for c in data.columns if c not in ("weight", "minuslogpost", "minuslogprior", "chi2")
             and not c.startswith(("chi2__", "minuslogprior__")) and np.std(thin[c]) > 0]
    result = {"chain": os.path.relpath(args.chain, ROOT), "points": len(points),
              "effective_sample_size": float(ess), "delta_loglike": {
                  "median_abs": float(np.median(np.abs(delta))), "max_abs": float(np.abs(delta).max()),
                  "mean": float(delta.mean())},
              "seconds": seconds, "shift_in_sigma": {}}
    print(f"\n|log L_camb - log L_zelos|: median {np.median(np.abs(delta)):.3f}, max {np.abs(delta).max():.3f}; "
          f"importance-sample ESS {ess:.0f} of {len(points)}")
    print(f"{'parameter':<14} {'mean (zelos)':>14} {'mean (camb)':>14} {'sigma':>11} {'shift/sigma':>12}")
    for name in names:
        x = thin[name].to_numpy(float)
        mean = np.average(x, weights=weights)
        sigma = np.sqrt(np.average((x - mean) ** 2, weights=weights))
        mean_code = np.average(x, weights=iw)
        shift = (mean_code - mean) / sigma
        result["shift_in_sigma"][name] = float(shift)
        print(f"{name:<14} {mean:>14.6g} {mean_code:>14.6g} {sigma:>11.4g} {shift:>+12.4f}")
    worst = max(result["shift_in_sigma"].items(), key=lambda kv: abs(kv[1]))
    print(f"\nlargest shift: {worst[0]} {worst[1]:+.4f} sigma (target: under 0.05); CAMB time {seconds:.0f} s")
    ok = abs(worst[1]) < 0.05
    if args.upper_limit:
        x = thin[args.upper_limit].to_numpy(float)
        ours, theirs = weighted_quantile(x, weights, 0.95), weighted_quantile(x, iw, 0.95)
        rel = (ours - theirs) / theirs if theirs != 0 else float("nan")
        result["upper_limit_95"] = {"parameter": args.upper_limit, "zelos": ours, "camb": theirs, "relative": rel}
        print(f"{args.upper_limit} < {ours:.4g} (95%, zelos) against < {theirs:.4g} (reweighted with CAMB): "
              f"{rel:+.2%} (target: within 2%)")
        ok = ok and bool(abs(rel) < 0.02)  # NaN (a limit at 0) fails
    if args.plot:
        _plot(thin, weights, iw, args.plot_params, args.plot, updated)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return 0 if ok else 1


def weighted_quantile(x: np.ndarray, weights: np.ndarray, q: float) -> float:
    """The ``q`` quantile of samples ``x`` with ``weights`` (linear between the samples' cumulative
    weights at their centres)."""
    order = np.argsort(x)
    x, w = x[order], weights[order]
    cum = (np.cumsum(w) - 0.5 * w) / w.sum()
    return float(np.interp(q, cum, x))


def _plot(thin, weights, iw, params, path, updated):
    """One getdist plot: the 2-D contours of ``params`` from the emulator's weights and from the
    same points reweighted with CAMB's likelihoods."""
    from getdist import MCSamples, plots

    x = thin[params].to_numpy(float)
    labels = [(updated["params"].get(p) or {}).get("latex", p) if isinstance(updated["params"].get(p), dict)
              else p for p in params]
    zelos_s = MCSamples(samples=x, weights=weights, names=params, labels=labels, label="zelos",
                        settings={"smooth_scale_2D": 0.4})
    camb_s = MCSamples(samples=x, weights=iw, names=params, labels=labels, label="reweighted with CAMB",
                       settings={"smooth_scale_2D": 0.4})
    g = plots.get_single_plotter(width_inch=4.5)
    g.plot_2d([zelos_s, camb_s], *params, filled=[True, False], colors=["C0", "k"], lws=[1.0, 1.5])
    g.add_legend(["zelos", "reweighted with CAMB"], legend_loc="upper right")
    g.export(path)
    print(f"contours: {path}")


if __name__ == "__main__":
    sys.exit(main())

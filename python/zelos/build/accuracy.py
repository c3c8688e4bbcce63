"""Accuracy of an emulator on held-out points, measured against the code's own outputs.

For every output: the relative error |emulated - true| / |true| of each value, summarised over
test points by the worst value of each point (max, and 68/95/99th percentiles over points);
for CMB spectra also the error in units of cosmic variance per multipole; for derived scalars
the absolute and the relative error. TE changes sign, so its relative error is taken against
sqrt(TT EE), the scale of its cosmic variance.
"""

from __future__ import annotations

import numpy as np

from ..serving.compare import relative_scale  # TE against sqrt(TT EE): one definition

PERCENTILES = (68, 95, 99)


def summarise(values: np.ndarray) -> dict:
    values = np.asarray(values, dtype=float)
    out = {"max": float(values.max()), "mean": float(values.mean())}
    for q in PERCENTILES:
        out[f"p{q}"] = float(np.percentile(values, q))
    return out


def cosmic_variance(name: str, truth: dict, ell: np.ndarray) -> np.ndarray | None:
    """sigma_CV of D_ell for each test point and ell (full sky, no noise), or None."""
    factor = np.sqrt(2.0 / (2.0 * ell + 1.0))
    if name in ("dl_tt", "dl_ee", "dl_bb", "dl_pp"):
        return factor * np.abs(truth[name])
    if name == "dl_te" and "dl_tt" in truth and "dl_ee" in truth:
        return np.sqrt((truth["dl_tt"] * truth["dl_ee"] + truth["dl_te"] ** 2) / (2.0 * ell + 1.0))
    return None


def relative_error(name: str, emulated: np.ndarray, truth: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(absolute error, relative error, zero)`` of output ``name``, ``zero`` marking the entries
    whose scale (:func:`relative_scale`) is exactly 0. There (D_A and D_M at z = 0) a relative error
    means nothing: it is set to 0, so those entries count in absolute terms only."""
    err = np.abs(np.asarray(emulated, float) - truth[name])
    scale = relative_scale(name, truth)
    zero = scale == 0
    return err, np.where(zero, 0.0, err / np.where(zero, 1.0, scale)), zero


def measure(emulated: dict, truth: dict, grids: dict, axes: dict) -> tuple[dict, dict]:
    """`(accuracy report per output, curves for plots)`; dicts of `[n_test, *shape]` arrays."""
    report, curves = {}, {}
    for name, true in truth.items():
        err, rel, zero = relative_error(name, emulated[name], truth)
        if true.ndim == 1:  # scalars: one value per point
            report[name] = {"abs": summarise(err), "rel": summarise(rel)}
            curves[name] = {"rel_per_point": rel}
            continue
        worst = rel.reshape(len(rel), -1).max(axis=1)
        entry = {"rel": summarise(worst)}
        if zero.any():
            entry["abs_where_code_is_zero"] = {"entries": int(zero.sum()), "max": float(err[zero].max())}
        curve = {"axis": axes[name][-1], "x": grids[axes[name][-1]], "rel_per_point": worst,
                 # over points (and over z for P(k, z)): where along the axis errors sit
                 "rel_p95": np.percentile(rel.reshape(-1, rel.shape[-1]), 95, axis=0),
                 "rel_max": rel.reshape(-1, rel.shape[-1]).max(axis=0)}
        if axes[name] == ("ell",):
            cv = cosmic_variance(name, truth, grids["ell"])
            if cv is not None:
                in_cv = err / np.maximum(cv, 1e-300)
                entry["cosmic_variance"] = {
                    "max_over_ell": summarise(in_cv.max(axis=1)),
                    "mean_over_ell": summarise(in_cv.mean(axis=1)),
                }
                curve["cv_p95"] = np.percentile(in_cv, 95, axis=0)
        report[name] = entry
        curves[name] = curve
    return report, curves


def headline(report: dict) -> tuple[float, str]:
    """The largest relative error over every output (worst test point), and which output."""
    worst = max(report.items(), key=lambda kv: kv[1]["rel"]["max"])
    return worst[1]["rel"]["max"], worst[0]

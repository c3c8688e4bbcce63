"""`zelos report LOGDIR...`: what the point logs say about where a chain left the emulator.

Reads the run statistics the plugins keep in the log folders (``stats.*.json``: calls, emulated
share, fallbacks by reason, time per path, spot checks; :mod:`zelos.runstats`) and every record
of the point logs (docs/trust-regions.md, "The point log"), counts the records by reason and by
nearest emulator, and, given the emulator archive (``--archive``, else the emulator the log
names, found as ``get_emulator`` finds it), says which parameters pushed points outside its
trust region: outside the box, per parameter how many points and how far in box half-widths;
inside the box but outside the Mahalanobis ellipsoid, each parameter's share of the squared
distance. Plots the fallback points over the training points in 2-D projections. Writes
`report.md`, `report.json` and `plots/*.png` to `--out` (default `LOGDIR/report/`).
See docs/active-learning.md.
"""

from __future__ import annotations

import collections
import itertools
import json
import os

import numpy as np

from ..runstats import add_up, read_run_stats
from .records import NOT_TRAINING, REFUSED, load_records, points_of, torn_lines_text

__all__ = ["analyse", "write_report", "report", "find_archive", "mahalanobis_shares"]


# -- the archive --------------------------------------------------------------------------------
def _load(name):
    from ..emulator import get_emulator

    return get_emulator(name, out_of_range="ignore")


def find_archive(records: list) -> tuple:
    """``(emulator or None, note)``: the emulator the fallback records name as ``nearest``
    (most named first), resolved as ``get_emulator`` resolves a name: an archive path, or an
    emulator shipped with zelos. ``note`` says, when none is found, which names were tried."""
    named = collections.Counter(r["nearest"] for r in records if r.get("nearest"))
    tried = []
    for name, _ in named.most_common():
        base = name.split("#", 1)[0]  # the plugins key a second emulator of one name `NAME#2`
        try:
            return _load(base), None
        except Exception as e:  # noqa: BLE001 -- a name the log gives need not be an archive here
            tried.append(f"`{base}` ({e})")
    if not tried:
        return None, ("no archive: the log names no emulator (no point fell outside every trust region); "
                      "pass --archive for the per-parameter attribution and plots")
    return None, ("no archive found for the per-parameter attribution and plots: " + "; ".join(tried)
                  + "; pass --archive PATH")


def _box(emulator) -> tuple:
    region = emulator.region
    return np.asarray(region["lower"], float), np.asarray(region["upper"], float)


def _ellipsoid(emulator) -> dict | None:
    """The archive's Mahalanobis method as the router checks it: ``mean``, ``covariance``
    (stored, else the training points' as the core computes them) and ``threshold``; None
    when its trust region checks none."""
    from ..routing import TrustRegion

    trust = TrustRegion.from_emulator(emulator)
    if "mahalanobis" not in trust.methods:
        return None
    region = emulator.region
    if region.get("mean") is not None and region.get("covariance") is not None:
        mean, cov = np.asarray(region["mean"], float), np.asarray(region["covariance"], float)
    else:
        points = np.asarray(region["points"], float)
        mean, cov = points.mean(axis=0), np.cov(points, rowvar=False)
    return {"mean": mean, "covariance": cov, "threshold": float(trust.mahalanobis_threshold)}


def mahalanobis_shares(x, mean, covariance) -> tuple:
    """``(shares [n, p], distances [n])``: each parameter's share of the squared Mahalanobis
    distance, ``d_j (C^-1 d)_j / d^2`` with ``d = x - mean``. The shares sum to 1; a point moved
    from the mean along one parameter gives that parameter all of it. A share is negative when
    the parameter's offset runs along the training correlation with another's (it makes the
    point less unusual than the other offset alone)."""
    delta = np.atleast_2d(np.asarray(x, float)) - mean
    terms = delta * np.linalg.solve(covariance, delta.T).T
    d2 = terms.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return terms / d2[:, None], np.sqrt(d2)


# -- the analysis -------------------------------------------------------------------------------
def _box_attribution(x, lo, hi, names) -> dict:
    centre, half = (lo + hi) / 2, (hi - lo) / 2
    per = {}
    for j, p in enumerate(names):
        # Half-widths beyond the box edge (0 inside): |x - centre| / half - 1.
        excess = np.maximum(np.abs(x[:, j] - centre[j]) / half[j] - 1.0, 0.0)
        outside = excess > 0
        per[p] = {"outside": int(outside.sum()), "below": int((x[:, j] < lo[j]).sum()),
                  "above": int((x[:, j] > hi[j]).sum()),
                  "max_excess": float(excess.max()) if outside.any() else 0.0,
                  "median_excess": float(np.median(excess[outside])) if outside.any() else 0.0,
                  "box": [float(lo[j]), float(hi[j])]}
    return per


def _ellipsoid_attribution(x, in_box, ellipsoid, names, per) -> dict:
    """Adds ``ellipsoid_top`` (the points, inside the box but outside the ellipsoid, where the
    parameter has the largest share of the squared distance) and ``ellipsoid_share`` (its mean
    share over them) to ``per``; returns the ellipsoid's summary."""
    shares, dist = mahalanobis_shares(x, ellipsoid["mean"], ellipsoid["covariance"]) if len(x) else (
        np.zeros((0, len(names))), np.zeros(0))
    outside = in_box & (dist > ellipsoid["threshold"])
    top = np.argmax(shares[outside], axis=1) if outside.any() else np.zeros(0, int)
    for j, p in enumerate(names):
        per[p]["ellipsoid_top"] = int((top == j).sum())
        per[p]["ellipsoid_share"] = float(shares[outside, j].mean()) if outside.any() else 0.0
    out = {"threshold": ellipsoid["threshold"], "outside": int(outside.sum())}
    if outside.any():
        out["distance"] = {"median": float(np.median(dist[outside])), "max": float(dist[outside].max())}
    return out


def _attribution(fallbacks: list, emulator) -> dict:
    names = list(emulator.parameters)
    x, _ = points_of(fallbacks, names)
    lo, hi = _box(emulator)
    per = _box_attribution(x, lo, hi, names)
    in_box = np.all((x >= lo) & (x <= hi), axis=1)
    out = {"archive": {"name": emulator.name, "sha256": emulator.sha256, "path": emulator.path},
           "parameters": per, "with_parameters": len(x), "inside_box": int(in_box.sum())}
    ellipsoid = _ellipsoid(emulator)
    if ellipsoid is not None:
        out["ellipsoid"] = _ellipsoid_attribution(x, in_box, ellipsoid, names, per)
    return out


def _spot_checks(records: list) -> dict | None:
    """The logged spot checks: how many, worst relative error per output and worst
    |logp(emulated) - logp(code)| per likelihood (Cobaya logs both)."""
    checks = [r for r in records if r["reason"] == "spot_check"]
    if not checks:
        return None
    worst = {"max_rel_diff.": collections.defaultdict(float), "delta_logp.": collections.defaultdict(float)}
    for r in checks:
        for k, v in r["outputs"].items():
            for prefix, table in worst.items():
                if k.startswith(prefix):
                    name = k[len(prefix):]
                    table[name] = max(table[name], float(np.max(np.abs(v))))
    return {"n": len(checks), "max_relative_error": dict(worst["max_rel_diff."]),
            "max_abs_delta_logp": dict(worst["delta_logp."])}


def analyse(records: list, emulator=None, runs: list | None = None) -> dict:
    """The summary as a dict (what `report.json` holds). `emulator`: a `zelos.Emulator` whose
    trust region the per-parameter attribution uses (none without it); `runs`: the plugins'
    run statistics (:func:`zelos.runstats.read_run_stats`), added up under ``runs``."""
    fallbacks = [r for r in records if r["reason"] not in NOT_TRAINING + REFUSED]
    out = {
        "runs": add_up(runs) if runs else None,
        "points_logged": len(records),
        "fallbacks": len(fallbacks),
        "by_reason": dict(collections.Counter(r["reason"] for r in records).most_common()),
        "by_nearest": dict(collections.Counter(r.get("nearest") or "-" for r in fallbacks).most_common()),
        "logs": sorted({r["log"] for r in records}),
        "with_outputs": sum(bool(r["outputs"]) for r in fallbacks),
    }
    distances = [r["distance"] for r in fallbacks if r.get("distance") is not None]
    if distances:
        out["distance"] = {"median": float(np.median(distances)), "max": float(np.max(distances))}
    spot = _spot_checks(records)
    if spot:
        out["spot_checks"] = spot
    if emulator is not None:
        out.update(_attribution(fallbacks, emulator))
    return out


# -- what it says -------------------------------------------------------------------------------
def _runs_lines(r: dict | None) -> list:
    if r is None:
        return ["no run statistics (stats.*.json) in the log folder(s): the number of calls and the emulated "
                "fraction are unknown (the zelos Cobaya and MontePython plugins write them beside their point log)"]
    frac = f" ({100 * r['emulated_fraction']:.1f}%)" if r["emulated_fraction"] is not None else ""
    lines = [f"{r['calls']} calls in {r['processes']} process(es): {r['emulated']} emulated{frac}, "
             f"{r['fallback']} computed by the code" + (f", {r['failed']} failed" if r["failed"] else "")
             + (f" ({r['not_final']} process(es) not closed: running, or ended without closing; counted to "
                "their last save)" if r["not_final"] else "")]
    if r.get("refused"):
        lines.append(f"{r['refused']} points refused before any computation (log-likelihood -inf): "
                     + ", ".join(f"{k} {v}" for k, v in (r.get("refused_by_reason") or {}).items()))
    if r["fallbacks_by_reason"]:
        lines.append("fallbacks by reason (every call): "
                     + ", ".join(f"{k} {v}" for k, v in r["fallbacks_by_reason"].items()))
    lines.append(_time_line(r["seconds"], r["seconds_per_call"]))
    if r["rest"]:
        lines.append(f"{r['rest']} runs of the code for what no emulator provides: "
                     + ", ".join(f"{k} ({v})" for k, v in r["rest_by_reason"].items()))
    return lines


def _time_line(sec: dict, per: dict) -> str:
    emulated = f"emulated {sec.get('emulated', 0):.3g} s" + (
        f" ({1e6 * per['emulated']:.0f} us each)" if per["emulated"] else "")
    fallback = f"fallback {sec.get('fallback', 0):.3g} s" + (
        f" ({1e3 * per['fallback']:.1f} ms each)" if per["fallback"] else "")
    return f"time: {emulated}, {fallback}, spot checks {sec.get('spot_check', 0):.3g} s"


def _parameter_order(per: dict) -> list:
    """Parameters that pushed most points out (of the box, or of the ellipsoid) first."""
    return sorted(per, key=lambda p: -(per[p]["outside"] + per[p].get("ellipsoid_top", 0)))


def summary_text(s: dict) -> str:
    lines = _runs_lines(s.get("runs"))
    if s.get("stats_unreadable"):  # a file claimed but not yet written, or not one of zelos's
        lines.append(f"{len(s['stats_unreadable'])} stats file(s) not read: {', '.join(s['stats_unreadable'])}")
    lines.append(f"{s['points_logged']} points logged ({s['fallbacks']} fallbacks, {s['with_outputs']} with "
                 f"computed outputs) in {len(s['logs'])} log(s)")
    lines += torn_lines_text(s.get("torn_lines") or [], s["points_logged"])
    if s["by_reason"]:
        lines.append("logged by reason: " + ", ".join(f"{k} {v}" for k, v in s["by_reason"].items()))
    if s["fallbacks"]:
        lines.append("nearest emulator: " + ", ".join(f"{k} {v}" for k, v in s["by_nearest"].items()))
    if "distance" in s:
        lines.append(f"distance beyond the region: median {s['distance']['median']:.3g}, max {s['distance']['max']:.3g}")
    if s.get("archive_note"):
        lines.append(s["archive_note"])
    if "parameters" in s:
        lines += _attribution_lines(s)
    if "spot_checks" in s:
        lines += _spot_lines(s["spot_checks"])
    return "\n".join(lines)


def _attribution_lines(s: dict) -> list:
    ell = s.get("ellipsoid")
    lines = [f"trust region of {s['archive']['name']}: {s['inside_box']} of the {s['with_parameters']} fallback "
             "points inside its box"
             + (f", {ell['outside']} of them outside its Mahalanobis ellipsoid (threshold {ell['threshold']:.3g})"
                if ell else "")]
    head = f"  {'parameter':<14}{'outside':>8}{'below':>7}{'above':>7}{'max excess':>12}{'median':>9}"
    lines.append(head + (f"{'ellipsoid top':>15}{'mean share':>12}" if ell else "")
                 + "  (excess: box half-widths beyond the edge"
                 + ("; share: of the squared Mahalanobis distance)" if ell else ")"))
    for p in _parameter_order(s["parameters"]):
        v = s["parameters"][p]
        lines.append(f"  {p:<14}{v['outside']:>8}{v['below']:>7}{v['above']:>7}{v['max_excess']:>12.3g}"
                     f"{v['median_excess']:>9.3g}"
                     + (f"{v['ellipsoid_top']:>15}{v['ellipsoid_share']:>12.2f}" if ell else ""))
    return lines


def _spot_lines(sc: dict) -> list:
    lines = [f"spot checks logged: {sc['n']}, worst relative error "
             + ", ".join(f"{k} {v:.2g}" for k, v in sc["max_relative_error"].items())]
    if sc["max_abs_delta_logp"]:
        lines.append("  max |delta logp| (emulated - code) per likelihood: "
                     + ", ".join(f"{k} {v:.3g}" for k, v in sc["max_abs_delta_logp"].items()))
    return lines


def _ellipse(ax, ellipsoid, a, b) -> None:
    """The ellipsoid's shadow on parameters (a, b): the ellipse of their 2x2 covariance at the
    threshold (a point outside it is outside the ellipsoid)."""
    cov = ellipsoid["covariance"][np.ix_([a, b], [a, b])]
    t = np.linspace(0, 2 * np.pi, 200)
    xy = ellipsoid["mean"][[a, b], None] + ellipsoid["threshold"] * np.linalg.cholesky(cov) @ np.vstack(
        [np.cos(t), np.sin(t)])
    ax.plot(xy[0], xy[1], "k--", lw=1, label="ellipsoid")


def plots(records: list, emulator, out_dir: str, max_pairs: int = 6, per: dict | None = None) -> list:
    """2-D projections of the fallback points over the training points, box and ellipsoid; the
    PNG paths. Pairs: the parameters that pushed most points outside first (``per``: the
    attribution, else the box counts)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(emulator.parameters)
    x, _ = points_of([r for r in records if r["reason"] not in NOT_TRAINING + REFUSED], names)
    lo, hi = _box(emulator)
    ellipsoid = _ellipsoid(emulator)
    train = emulator.region.get("points")
    order = ([names.index(p) for p in _parameter_order(per)] if per else
             np.argsort([-np.sum((x[:, j] < lo[j]) | (x[:, j] > hi[j])) for j in range(len(names))], kind="stable"))
    os.makedirs(os.path.join(out_dir, "plots"), exist_ok=True)
    paths = []
    for a, b in list(itertools.combinations(order, 2))[:max_pairs]:
        fig, ax = plt.subplots(figsize=(4.5, 4))
        if train is not None:
            ax.scatter(train[:, a], train[:, b], s=6, c="0.6", label="training points")
        ax.add_patch(plt.Rectangle((lo[a], lo[b]), hi[a] - lo[a], hi[b] - lo[b], fill=False, ec="k", lw=1,
                                   label="box"))
        if ellipsoid is not None:
            _ellipse(ax, ellipsoid, a, b)
        ax.scatter(x[:, a], x[:, b], s=10, c="tab:red", label="fallback points")
        ax.set_xlabel(names[a])
        ax.set_ylabel(names[b])
        ax.legend(fontsize=7)
        fig.tight_layout()
        path = os.path.join(out_dir, "plots", f"fallbacks_{names[a]}_{names[b]}.png")
        fig.savefig(path, dpi=90)
        plt.close(fig)
        paths.append(path)
    return paths


def _runs_markdown(r: dict | None) -> list:
    if r is None:
        return []
    frac = f"{100 * r['emulated_fraction']:.1f}%" if r["emulated_fraction"] is not None else "-"
    md = ["## Calls", "", "| processes | calls | emulated | emulated fraction | computed by the code | failed |",
          "|---|---|---|---|---|---|",
          f"| {r['processes']} | {r['calls']} | {r['emulated']} | {frac} | {r['fallback']} | {r['failed']} |", ""]
    if r["fallbacks_by_reason"]:
        md += ["| fallback reason | calls |", "|---|---|"]
        md += [f"| {k} | {v} |" for k, v in r["fallbacks_by_reason"].items()] + [""]
    return md


def _parameters_markdown(s: dict) -> list:
    ell = s.get("ellipsoid")
    md = ["## Which parameters pushed points outside", "",
          "| parameter | box | outside | below | above | max excess | median excess |"
          + (" ellipsoid top | mean share |" if ell else ""),
          "|---|---|---|---|---|---|---|" + ("---|---|" if ell else "")]
    for p in _parameter_order(s["parameters"]):
        v = s["parameters"][p]
        md.append(f"| `{p}` | [{v['box'][0]:.4g}, {v['box'][1]:.4g}] | {v['outside']} | {v['below']} | "
                  f"{v['above']} | {v['max_excess']:.3g} | {v['median_excess']:.3g} |"
                  + (f" {v['ellipsoid_top']} | {v['ellipsoid_share']:.2f} |" if ell else ""))
    md += ["", "Excess: distance beyond the box edge in box half-widths (0 inside)."]
    if ell:
        md.append(f"Ellipsoid: of the {ell['outside']} points inside the box but beyond the Mahalanobis threshold "
                  f"{ell['threshold']:.3g}, how many have the parameter as the largest contributor to the squared "
                  "distance (top), and its mean share of it (the shares of a point sum to 1; negative: an offset "
                  "along the training correlation with another parameter).")
    return md + [""]


def _spot_markdown(sc: dict) -> list:
    md = ["## Spot checks", "", f"{sc['n']} logged.", "", "| output | max relative error |", "|---|---|"]
    md += [f"| {k} | {v:.3g} |" for k, v in sc["max_relative_error"].items()]
    if sc["max_abs_delta_logp"]:
        md += ["", "| likelihood | max \\|delta logp\\| |", "|---|---|"]
        md += [f"| {k} | {v:.3g} |" for k, v in sc["max_abs_delta_logp"].items()]
    return md + [""]


def write_report(s: dict, out_dir: str, png: list) -> str:
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "report.json"), "w", encoding="utf-8") as f:
        json.dump(s, f, indent=1)
    md = ["# zelos point-log report", "", "Logs: " + ", ".join(f"`{d}`" for d in s["logs"]), "",
          "```", summary_text(s), "```", ""]
    md += _runs_markdown(s.get("runs"))
    if "parameters" in s:
        md += _parameters_markdown(s)
    if "spot_checks" in s:
        md += _spot_markdown(s["spot_checks"])
    if png:
        md += ["## Fallback points over the training region", ""]
        md += [f"![{os.path.basename(p)}](plots/{os.path.basename(p)})" for p in png]
    path = os.path.join(out_dir, "report.md")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(md) + "\n")
    return path


def report(logdirs, archive=None, out_dir: str | None = None, log=print) -> dict:
    """`zelos report`: prints the summary, writes report.md/json and plots; returns the summary.
    `archive`: a path or a name `get_emulator` knows; else the emulator the log names."""
    logdirs = [logdirs] if isinstance(logdirs, (str, os.PathLike)) else list(logdirs)
    torn = []
    records = load_records(logdirs, torn)  # said in the summary (summary_text)
    runs, unreadable = read_run_stats(logdirs)
    emulator, note = (_load(archive), None) if archive is not None else find_archive(records)
    s = analyse(records, emulator, runs)
    s["torn_lines"] = torn
    s["archive_note"] = note
    s["stats_files"] = [r["file"] for r in runs]
    s["stats_unreadable"] = unreadable
    base = logdirs[0] if os.path.isdir(logdirs[0]) else os.path.dirname(os.path.abspath(logdirs[0]))
    out_dir = out_dir or os.path.join(base, "report")
    png = plots(records, emulator, out_dir, per=s["parameters"]) if emulator is not None and s["fallbacks"] else []
    s["plots"] = png
    path = write_report(s, out_dir, png)
    log(summary_text(s))
    log(f"Report: {path}")
    return s

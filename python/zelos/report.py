"""`zelos report LOGDIR...`: what the point logs say about where a chain left the emulator.

Reads every record of the point logs (docs/trust-regions.md, "The point log"), counts them by
reason and by nearest emulator, and, given the emulator archive, says which parameters pushed
points outside its box (per parameter: how many points lie outside, and how far in box
half-widths) and plots the fallback points over the training points in 2-D projections.
Writes `report.md`, `report.json` and `plots/*.png` to `--out` (default `LOGDIR/report/`).
See docs/active-learning.md.
"""

from __future__ import annotations

import collections
import itertools
import json
import os

import numpy as np

from .routing import read_point_log

__all__ = ["load_records", "analyse", "write_report", "report"]

#: Records that carry no computed outputs for training (the spot checks log error measures).
NOT_TRAINING = ("spot_check",)


def load_records(logdirs) -> list:
    """Every record of every log (a folder or one `points.*.jsonl` file), each with `log`: its source."""
    records = []
    for d in [logdirs] if isinstance(logdirs, (str, os.PathLike)) else logdirs:
        for r in read_point_log(d):
            r["log"] = os.path.abspath(os.fspath(d))
            records.append(r)
    return records


def _box(emulator) -> tuple:
    region = emulator.region
    return np.asarray(region["lower"], float), np.asarray(region["upper"], float)


def analyse(records: list, emulator=None) -> dict:
    """The summary as a dict (what `report.json` holds). `emulator`: a `zelos.Emulator` whose
    box the per-parameter attribution uses (none without it)."""
    fallbacks = [r for r in records if r["reason"] not in NOT_TRAINING]
    out = {
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
    checks = [r for r in records if r["reason"] == "spot_check"]
    if checks:
        worst = collections.defaultdict(float)
        for r in checks:
            for k, v in r["outputs"].items():
                if k.startswith("max_rel_diff."):
                    worst[k.split(".", 1)[1]] = max(worst[k.split(".", 1)[1]], float(np.max(v)))
        out["spot_checks"] = {"n": len(checks), "max_relative_error": dict(worst)}
    if emulator is not None:
        names = list(emulator.parameters)
        x, _ = points_of(fallbacks, names)
        lo, hi = _box(emulator)
        centre, half = (lo + hi) / 2, (hi - lo) / 2
        out["archive"] = {"name": emulator.name, "sha256": emulator.sha256, "path": emulator.path}
        per = {}
        for j, p in enumerate(names):
            # Half-widths beyond the box edge (0 inside): |x - centre| / half - 1.
            excess = np.maximum(np.abs(x[:, j] - centre[j]) / half[j] - 1.0, 0.0) if len(x) else np.zeros(0)
            outside = excess > 0
            per[p] = {"outside": int(outside.sum()),
                      "below": int((x[:, j] < lo[j]).sum()) if len(x) else 0,
                      "above": int((x[:, j] > hi[j]).sum()) if len(x) else 0,
                      "max_excess": float(excess.max()) if outside.any() else 0.0,
                      "median_excess": float(np.median(excess[outside])) if outside.any() else 0.0,
                      "box": [float(lo[j]), float(hi[j])]}
        out["parameters"] = per
        out["inside_box"] = int(np.all((x >= lo) & (x <= hi), axis=1).sum()) if len(x) else 0
    return out


def points_of(records: list, names: list) -> tuple:
    """`(points [n, len(names)], records kept)`: the records that give every parameter in `names`."""
    kept = [r for r in records if all(n in r["parameters"] for n in names)]
    x = np.array([[r["parameters"][n] for n in names] for r in kept], float).reshape(len(kept), len(names))
    return x, kept


def summary_text(s: dict) -> str:
    lines = [f"{s['points_logged']} points logged ({s['fallbacks']} fallbacks, {s['with_outputs']} with computed "
             f"outputs) in {len(s['logs'])} log(s)",
             "fallbacks by reason: " + ", ".join(f"{k} {v}" for k, v in s["by_reason"].items())]
    if s["fallbacks"]:
        lines.append("nearest emulator: " + ", ".join(f"{k} {v}" for k, v in s["by_nearest"].items()))
    if "distance" in s:
        lines.append(f"distance beyond the region: median {s['distance']['median']:.3g}, max {s['distance']['max']:.3g}")
    if "parameters" in s:
        lines.append(f"box of {s['archive']['name']}: {s['inside_box']} of the fallback points inside it")
        lines.append(f"  {'parameter':<14}{'outside':>8}{'below':>7}{'above':>7}{'max excess':>12}{'median':>9}"
                     "  (box half-widths beyond the edge)")
        for p, v in sorted(s["parameters"].items(), key=lambda kv: -kv[1]["outside"]):
            lines.append(f"  {p:<14}{v['outside']:>8}{v['below']:>7}{v['above']:>7}{v['max_excess']:>12.3g}"
                         f"{v['median_excess']:>9.3g}")
    if "spot_checks" in s:
        sc = s["spot_checks"]
        lines.append(f"spot checks: {sc['n']}, worst relative error "
                     + ", ".join(f"{k} {v:.2g}" for k, v in sc["max_relative_error"].items()))
    return "\n".join(lines)


def plots(records: list, emulator, out_dir: str, max_pairs: int = 6) -> list:
    """2-D projections of the fallback points over the training points and box; the PNG paths.
    Pairs: the parameters that pushed most points outside first."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(emulator.parameters)
    x, _ = points_of([r for r in records if r["reason"] not in NOT_TRAINING], names)
    lo, hi = _box(emulator)
    train = emulator.region.get("points")
    order = np.argsort([-np.sum((x[:, j] < lo[j]) | (x[:, j] > hi[j])) for j in range(len(names))], kind="stable")
    os.makedirs(os.path.join(out_dir, "plots"), exist_ok=True)
    paths = []
    for a, b in list(itertools.combinations(order, 2))[:max_pairs]:
        fig, ax = plt.subplots(figsize=(4.5, 4))
        if train is not None:
            ax.scatter(train[:, a], train[:, b], s=6, c="0.6", label="training points")
        ax.add_patch(plt.Rectangle((lo[a], lo[b]), hi[a] - lo[a], hi[b] - lo[b], fill=False, ec="k", lw=1,
                                   label="box"))
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


def write_report(s: dict, out_dir: str, png: list) -> str:
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "report.json"), "w", encoding="utf-8") as f:
        json.dump(s, f, indent=1)
    md = ["# zelos point-log report", "", "Logs: " + ", ".join(f"`{d}`" for d in s["logs"]), "",
          "```", summary_text(s), "```", ""]
    if "parameters" in s:
        md += ["## Which parameters pushed points outside", "",
               "| parameter | box | outside | below | above | max excess | median excess |", "|---|---|---|---|---|---|---|"]
        for p, v in sorted(s["parameters"].items(), key=lambda kv: -kv[1]["outside"]):
            md.append(f"| `{p}` | [{v['box'][0]:.4g}, {v['box'][1]:.4g}] | {v['outside']} | {v['below']} | "
                      f"{v['above']} | {v['max_excess']:.3g} | {v['median_excess']:.3g} |")
        md += ["", "Excess: distance beyond the box edge in box half-widths (0 inside).", ""]
    if png:
        md += ["## Fallback points over the training region", ""]
        md += [f"![{os.path.basename(p)}](plots/{os.path.basename(p)})" for p in png]
    path = os.path.join(out_dir, "report.md")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(md) + "\n")
    return path


def report(logdirs, archive=None, out_dir: str | None = None, log=print) -> dict:
    """`zelos report`: prints the summary, writes report.md/json and plots; returns the summary."""
    logdirs = [logdirs] if isinstance(logdirs, (str, os.PathLike)) else list(logdirs)
    records = load_records(logdirs)
    emulator = None
    if archive is None:  # a record's `nearest` may name an archive path
        archive = next((r["nearest"] for r in records if r.get("nearest") and os.path.isfile(r["nearest"])), None)
    if archive is not None:
        from .emulator import load

        emulator = load(archive, out_of_range="ignore")
    s = analyse(records, emulator)
    base = logdirs[0] if os.path.isdir(logdirs[0]) else os.path.dirname(os.path.abspath(logdirs[0]))
    out_dir = out_dir or os.path.join(base, "report")
    png = plots(records, emulator, out_dir) if emulator is not None and s["fallbacks"] else []
    s["plots"] = png
    path = write_report(s, out_dir, png)
    log(summary_text(s))
    log(f"Report: {path}")
    return s

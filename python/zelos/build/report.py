"""The build report: report.json, report.md and PNG plots (archive members)."""

from __future__ import annotations

import io
import os
import platform
import socket
import sys
from datetime import datetime, timezone

import numpy as np


def versions(driver) -> dict:
    import numpy
    import scipy

    from .. import __version__

    out = {"zelos": __version__, "python": platform.python_version(), "numpy": numpy.__version__,
           "scipy": scipy.__version__}
    out[driver.code] = driver.installed_version
    return out


def provenance() -> dict:
    return {
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "command": " ".join(sys.argv),
    }


def markdown(report: dict) -> str:
    """A human-readable report.md."""
    lines = [f"# {report['name']} {report['version']}", ""]
    s = report["spec"]
    lines += [f"Emulates **{s['code']['name']} {s['code']['version']}** "
              f"(installed {report['code']['installed_version']}"
              + (", version mismatch overridden" if report["code"]["mismatch_override"] else "") + ")",
              f"over {', '.join(f'`{p}` in [{lo:g}, {hi:g}]' for p, (lo, hi) in _ranges(s))}.", ""]
    b = report["built"]
    lines += [f"Built {b['finished']} on `{b['host']}` ({b['platform']}, {b['cpus']} CPUs) in {b['seconds']['total']:.0f} s "
              f"(code {b['seconds']['generation']:.0f} s, training {b['seconds']['training']:.0f} s).", ""]
    d = report["data"]
    core = " (drawn from the design's core)" if d.get("validation_from") == "core" else ""
    background = (f" The `background` network also trained on {d['background_points']} points of the same design "
                  "where the code computed the background alone (`sampling.background_points`)."
                  if d.get("background_points") else "")
    lines += [f"Points: {d['train']} training, {d['validation']} validation{core}, {d['test']} held-out test, "
              f"{d['failed']} failed in the code (skipped).{background}", ""]
    lines += ["## Accuracy on held-out points", "",
              "Relative error |emulated - code| / |code|, worst value of each test point; percentiles over test points.", "",
              "| output | max | p99 | p95 | p68 | cosmic variance: max over ell, p95 |", "|---|---|---|---|---|---|"]
    for name, a in report["accuracy"].items():
        r = a["rel"]
        cv = a.get("cosmic_variance", {}).get("max_over_ell", {}).get("p95")
        lines.append(f"| `{name}` | {r['max']:.2e} | {r['p99']:.2e} | {r['p95']:.2e} | {r['p68']:.2e} | "
                     + (f"{cv:.3f}" if cv is not None else "-") + " |")
    lines += ["", "## Training", "", "| network | architecture | PCA | epochs (best) | validation loss | stop |",
              "|---|---|---|---|---|---|"]
    for name, t in report["training"].items():
        pca = "-" if t["pca_components"] is None else f"{t['pca_components']} ({t['pca_explained_variance']:.6f})"
        lines.append(f"| `{name}` | {t['architecture']} | {pca} | {t['epochs_run']} ({t['best_epoch']}) | "
                     f"{t['best_val_loss']:.3e} | {t['stop']} |")
    lines += ["", "## Versions", ""] + [f"- {k} {v}" for k, v in report["versions"].items()]
    lines += ["", f"Spec sha256: `{report['spec_sha256']}`", ""]
    return "\n".join(lines)


def _ranges(spec: dict):
    from .plan import parameter_range

    return [(p, parameter_range(v)) for p, v in spec["parameters"].items()]


def plots(curves: dict, title: str) -> dict:
    """`{archive member name: PNG bytes}`: error along ell or k, and a histogram per output."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return {}
    out = {}
    arrays = {n: c for n, c in curves.items() if "x" in c}
    if arrays:
        fig, axes = plt.subplots(len(arrays), 1, figsize=(7, 2.6 * len(arrays)), squeeze=False)
        for ax, (name, c) in zip(axes[:, 0], arrays.items()):
            ax.plot(c["x"], c["rel_p95"], label="95% of test points")
            ax.plot(c["x"], c["rel_max"], lw=0.7, label="worst test point")
            if "cv_p95" in c:
                ax2 = ax.twinx()
                ax2.plot(c["x"], c["cv_p95"], color="C3", lw=0.7, label="95%: error / cosmic variance")
                ax2.set_ylabel("/ sigma_CV", color="C3")
            ax.set_yscale("log")
            ax.set_xscale("log" if c["axis"] == "k" else "linear")
            ax.set_xlabel({"ell": "multipole ell", "k": "k [1/Mpc]"}.get(c["axis"], c["axis"]))
            ax.set_ylabel(f"{name}: rel. error")
            ax.legend(fontsize=7, loc="upper left")
        fig.suptitle(f"{title}: error along each output")
        fig.tight_layout()
        out["plots/error_along_axis.png"] = _png(fig, plt)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, c in curves.items():
        values = np.maximum(c["rel_per_point"], 1e-12)
        ax.hist(np.log10(values), bins=30, histtype="step", label=name)
    ax.set_xlabel("log10 relative error (worst value of each test point)")
    ax.set_ylabel("test points")
    ax.legend(fontsize=7)
    fig.suptitle(f"{title}: error histogram")
    fig.tight_layout()
    out["plots/error_histogram.png"] = _png(fig, plt)
    return out


def _png(fig, plt) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def accuracy_summary(report: dict) -> str:
    """One line on an archive's accuracy for start-up logs: its validation on real likelihoods
    (`zelos validate`) where it has one, else the worst held-out relative error and its output."""
    validated = (report.get("likelihood_accuracy") or {}).get("likelihoods")
    if validated:
        # full names: a short form would make bao.desi_dr2 and bao.sdss_dr16_baoplus_lrg both "bao"
        worst = ", ".join(f"{name} {v['abs_delta_chi2_p99']:.2g}" for name, v in validated.items())
        return f"validated at held-out points, p99 |delta chi2|: {worst}"
    summary = report.get("summary") or {}
    if summary.get("max_relative_error") is None:
        return "accuracy not reported"
    return f"max rel. error {summary['max_relative_error']:.2g} ({summary.get('worst_output', '?')}) on held-out points"

"""P(k, z) accuracy where users evaluate it: on a grid dense in k and z, between the emulator's nodes.

The build's report compares P(k, z) on the emulator's own grid (its training nodes). Users call
``emulator.pk(params, k, z)`` anywhere in range, where the emulator's bicubic spline in (z, ln k)
adds its own error to the network's. This module runs the code at held-out points on a grid that
puts points between every pair of the emulator's redshift nodes and k nodes, and compares.

    >>> section = dense_pk_accuracy("CAMB_linear_matter_power", points)   # doctest: +SKIP

``zelos validate ARCHIVE --dense-pk`` runs it on the build's held-out points and writes the result
into the archive's report (``dense_pk_accuracy``) and report.md.
"""

from __future__ import annotations

import multiprocessing
import os
import time

import numpy as np

from ..drivers import ComputationError, OutputRequest, get_driver
from .validate import progress_bar

PERCENTILES = (50, 95, 99)


def dense_grid(k_nodes: np.ndarray, z_nodes: np.ndarray, per_interval: int = 3,
               n_k: int | None = None) -> tuple:
    """``(k, z)``: ``per_interval`` redshifts inside each interval between z nodes (besides the
    nodes themselves), and ``n_k`` log-spaced k (default 2 per k node) that fall between the
    nodes, both ends kept inside the emulator's range."""
    z_nodes = np.asarray(z_nodes, dtype=float)
    inner = [a + (b - a) * np.arange(1, per_interval + 1) / (per_interval + 1)
             for a, b in zip(z_nodes[:-1], z_nodes[1:])]
    z = np.unique(np.concatenate([z_nodes, *inner]))
    k_nodes = np.asarray(k_nodes, dtype=float)
    lo, hi = np.log(k_nodes[0]), np.log(k_nodes[-1])
    n_k = n_k or 2 * len(k_nodes)
    # Offset by half a step so that (apart from the ends) no dense k falls on a node.
    inside = np.exp(lo + (np.arange(n_k - 2) + 0.5) * (hi - lo) / (n_k - 2))
    k = np.concatenate([[k_nodes[0]], inside, [k_nodes[-1]]])
    return k, z


def box_points(archive, n: int, seed: int = 0) -> np.ndarray:
    """``n`` points uniform in the emulator's region: its box, and its spec's `constraints` (for
    an archive whose build store is not at hand)."""
    from .. import get_emulator
    from ..spec import constraint_filter

    emulator = get_emulator(archive) if isinstance(archive, (str, os.PathLike)) else archive
    accept = constraint_filter(list(emulator.parameters), emulator.spec.get("constraints") or [])
    rng = np.random.default_rng(seed)
    kept, have = [], 0
    while have < n:
        x = emulator.lower + (emulator.upper - emulator.lower) * rng.uniform(size=(n, len(emulator.parameters)))
        if accept is not None:
            x = x[accept(x)]
        kept.append(x)
        have += len(x)
    return np.concatenate(kept)[:n]


def _compute(job):
    code, settings, version, request, names, row = job
    driver = get_driver(code, settings, OutputRequest(**request), version=version, threads=1)
    try:
        return driver.compute(dict(zip(names, row)))
    except ComputationError as e:
        return str(e)


def dense_pk_accuracy(archive, points, nonlinear: bool = False, per_interval: int = 3,
                      n_k: int | None = None, processes: int | None = None, progress: bool = True) -> dict:
    """Relative error of ``emulator.pk`` against the code on the dense grid of :func:`dense_grid`
    at each of ``points`` (rows in the emulator's parameter order).

    Returns the report section: percentiles over points of each point's worst |error| over the
    grid, the same restricted to the redshifts between nodes, the worst error at each dense
    redshift (where between nodes the spline matters) and the grid used."""
    from .. import get_emulator

    emulator = get_emulator(archive) if isinstance(archive, (str, os.PathLike)) else archive
    spec = emulator.spec
    output = "pk_nonlin" if nonlinear else "pk_lin"
    if output not in emulator.outputs:
        raise ValueError(f"{emulator.name}: no {output} output to check")
    k, z = dense_grid(emulator.grids["k"], emulator.grids["z_pk"], per_interval, n_k)
    request = {"pk_linear": not nonlinear, "pk_nonlinear": nonlinear, "k": k, "z_pk": z}
    code = spec["code"]
    points = np.atleast_2d(np.asarray(points, dtype=float))
    jobs = [(code["name"], code.get("settings", {}), code.get("version"), request, list(emulator.parameters), row)
            for row in points]
    t0 = time.time()
    results = _run(jobs, processes, progress)
    seconds = time.time() - t0

    worst, worst_between, failed, by_z = [], [], 0, np.zeros(len(z))
    between = ~np.isin(z, emulator.grids["z_pk"])
    for row, truth in zip(points, results):
        if isinstance(truth, str):
            failed += 1
            continue
        ours = emulator.pk(row, k, z, nonlinear=nonlinear)
        err = np.abs(ours / truth[output] - 1.0)  # (z, k)
        worst.append(err.max())
        worst_between.append(err[between].max())
        by_z = np.maximum(by_z, err.max(axis=1))
    worst, worst_between = np.array(worst), np.array(worst_between)
    if not len(worst):
        raise ComputationError(f"{emulator.name}: the code failed at every one of {len(points)} points")
    return {
        "output": output,
        "points": int(len(worst)),
        "failed": failed,
        "grid": {"k_min": float(k[0]), "k_max": float(k[-1]), "n_k": int(len(k)), "z": [float(v) for v in z],
                 "z_between_nodes": int(between.sum())},
        "worst_relative_error": _stats(worst),
        "worst_relative_error_between_z_nodes": _stats(worst_between),
        "max_relative_error_by_z": [float(v) for v in by_z],
        "code_seconds": round(seconds, 1),
    }


def _stats(values: np.ndarray) -> dict:
    out = {f"p{q}": float(np.percentile(values, q)) for q in PERCENTILES}
    out["max"] = float(values.max())
    return out


def _run(jobs, processes, progress):
    processes = processes or os.cpu_count() or 1
    bar = progress_bar(len(jobs), "dense P(k)", progress)
    try:
        if processes == 1:
            return _collect(map(_compute, jobs), bar)
        # spawn: CAMB's Fortran state is not fork-safe once loaded in the parent.
        with multiprocessing.get_context("spawn").Pool(processes) as pool:
            return _collect(pool.imap(_compute, jobs), bar)
    finally:
        bar.close()


def _collect(results, bar) -> list:
    out = []
    for result in results:
        out.append(result)
        bar.update(1)
    return out


def markdown(section: dict) -> str:
    """The report.md block for a :func:`dense_pk_accuracy` section."""
    g = section["grid"]
    lines = [
        "## P(k, z) accuracy on a dense grid",
        "",
        f"`{section['output']}` against the code at {section['points']} points "
        f"({section.get('points_from', 'held out')}) on {g['n_k']} k from "
        f"{g['k_min']:.3g} to {g['k_max']:.3g} /Mpc and {len(g['z'])} redshifts ({g['z_between_nodes']} of them "
        "between the emulator's nodes); each point's worst relative error over the grid:",
        "",
        "| where | p50 | p95 | p99 | max |",
        "|---|---|---|---|---|",
    ]
    for label, key in (("whole grid", "worst_relative_error"),
                       ("between z nodes", "worst_relative_error_between_z_nodes")):
        s = section[key]
        lines.append(f"| {label} | {s['p50']:.2e} | {s['p95']:.2e} | {s['p99']:.2e} | {s['max']:.2e} |")
    if section.get("failed"):
        lines += ["", f"The code failed at {section['failed']} points (left out)."]
    if section.get("command"):
        lines += ["", f"Reproduce: `{section['command']}`"]
    return "\n".join(lines) + "\n"

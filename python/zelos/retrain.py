"""`zelos retrain ARCHIVE --points LOGDIR... [--extra N]`: a new emulator trained on the parent's
training set plus the points a chain logged outside it (see docs/active-learning.md).

1. The parent's training and test sets are read from its build folder (`report.json`
   `data.workdir`); nothing there is recomputed.
2. Logged fallback records that give every parameter of the archive are kept, failed/non-finite
   ones dropped, duplicates (and points already in the training set) removed. Records that also
   carry every output of the archive (as the router's own log does) are used as they are; records
   that carry other outputs (a Cobaya chain logs what its likelihoods asked for, e.g. `Hubble`
   at the DESI redshifts, not the archive's grid) give their points only, and the archive's
   outputs there are computed with the spec's driver. A fraction (`holdout`, at least one) goes
   to the held-out test set, the rest to training.
3. `extra` new points are drawn uniformly in the ellipsoid of `sigmas` standard deviations of
   the logged points' mean and covariance (CONNECT-style) and computed with the spec's driver.
4. The spec's box is widened to hold every new point (plus 1e-3 of its width on each side that
   moved), its `version` derived from the parent's (:func:`derived_version`: 1.0.0 -> 1.0.0+r1
   -> 1.0.0+r2), written as `OUT/NAME.retrain.yaml`, and the emulator is rebuilt from the
   merged points with `zelos.build.build(..., points=...)` into `OUT/NAME.tar.gz`. Its report
   records `lineage: {parent_sha256, parent_name, parent_version, version, logs, added_points,
   logged_train, logged_test, recomputed, extra, parent_test, box}`; its build folder
   `OUT/NAME.build` holds the merged sets, so retrains chain.
"""

from __future__ import annotations

import copy
import os
import re

import numpy as np
import yaml

from .build import BuildOptions
from .build.accuracy import relative_error
from .build.pipeline import build
from .generate import _Store, _points_sha256, load_training_set
from .report import NOT_TRAINING, load_records

__all__ = ["derived_version", "logged_locations", "logged_points", "retrain"]

MARGIN = 1e-3


def derived_version(version: str) -> str:
    """The version of a retrained emulator: the parent's with a retrain count in its semver build
    metadata. ``1.0.0`` -> ``1.0.0+r1``, ``1.0.0+r1`` -> ``1.0.0+r2``, ``1.0.0+cpu`` ->
    ``1.0.0+cpu.r1``. The count is the number of retrains since the released version (the
    parent's sha256, in the report's lineage, says exactly which archive it came from)."""
    base, plus, meta = str(version).partition("+")
    parts = meta.split(".") if plus else []
    m = re.fullmatch(r"r(\d+)", parts[-1]) if parts else None
    if m:
        parts[-1] = f"r{int(m.group(1)) + 1}"
    else:
        parts.append("r1")
    return f"{base}+{'.'.join(parts)}"


def _usable(r: dict, names: list, fixed: dict | None) -> bool:
    if r["reason"] in NOT_TRAINING or not all(n in r["parameters"] for n in names):
        return False
    # A point computed with another value of a parameter this emulator holds fixed is not its data.
    return not any(k in r["parameters"] and not np.isclose(r["parameters"][k], v) for k, v in (fixed or {}).items())


def _emulator_names(record: dict, names) -> dict:
    """A Cobaya chain logs CAMB's ``As`` (Planck-style chains sample logA and pass As); an
    emulator that takes ``logA`` gets it back, as the plugin does (cobaya/params.py)."""
    params = record.get("parameters") or {}
    if "logA" in names and "logA" not in params and "As" in params:
        record = dict(record, parameters=dict(params, logA=float(np.log(1e10 * params["As"]))))
    return record


def logged_points(records: list, names: list, outputs: list, fixed: dict | None = None) -> tuple:
    """`(x [n, p], {output: [n, ...]})`: the usable, deduplicated logged points that carry every
    output of the archive."""
    seen, xs, outs = set(), [], {o: [] for o in outputs}
    for r in records:
        if not _usable(r, names, fixed) or not all(o in r["outputs"] for o in outputs):
            continue
        x = tuple(float(r["parameters"][n]) for n in names)
        vals = {o: np.asarray(r["outputs"][o], float) for o in outputs}
        if x in seen or not np.all(np.isfinite(x)) or not all(np.all(np.isfinite(v)) for v in vals.values()):
            continue
        seen.add(x)
        xs.append(x)
        for o in outputs:
            outs[o].append(vals[o])
    return np.array(xs, float).reshape(len(xs), len(names)), outs


def logged_locations(records: list, names: list, outputs: list, fixed: dict | None = None) -> np.ndarray:
    """`x [n, p]`: the usable, deduplicated logged points that lack some output of the archive
    (their outputs are computed by the spec's driver), none of them among :func:`logged_points`'."""
    with_outputs = {tuple(p) for p in logged_points(records, names, outputs, fixed)[0]}
    seen, xs = set(with_outputs), []
    for r in records:
        if not _usable(r, names, fixed) or all(o in r["outputs"] for o in outputs):
            continue
        x = tuple(float(r["parameters"][n]) for n in names)
        if x in seen or not np.all(np.isfinite(x)):
            continue
        seen.add(x)
        xs.append(x)
    return np.array(xs, float).reshape(len(xs), len(names))


def _write_store(store_dir: str, layout: dict, points: np.ndarray, known: int, params, outputs: dict) -> None:
    """A training-set store for `points` whose first `known` rows are already computed (`params`,
    `outputs`); `generate` computes the rest when the build runs."""
    layout = {**layout, "n_points": len(points), "points_sha256": _points_sha256(points)}
    store = _Store(store_dir, layout)
    try:
        for i in range(known):
            if i in store.done:
                continue
            flat = np.concatenate([np.asarray(outputs[o["name"]][i], float).reshape(-1) for o in layout["outputs"]])
            store.record(i, points[i], True, flat.astype("<f4").tobytes(), 0.0)
    finally:
        store.close()


def retrain(archive: str, logdirs, extra: int = 0, out_dir: str | None = None, *, sigmas: float = 3.0,
            holdout: float = 0.2, seed: int = 0, processes: int | None = None, progress: bool = True, log=print):
    """Retrains `archive` with the logged points; returns the `BuildResult` of the new archive."""
    from .emulator import load
    from .sampling import ellipsoid

    logdirs = [logdirs] if isinstance(logdirs, (str, os.PathLike)) else list(logdirs)
    parent = load(archive, out_of_range="ignore")
    spec, rep = copy.deepcopy(parent.spec), parent.report
    workdir = (rep.get("data") or {}).get("workdir")
    stores = [os.path.join(workdir, s) for s in ("train", "test")] if workdir else []
    if not stores or not all(os.path.isfile(os.path.join(s, "layout.json")) for s in stores):
        raise FileNotFoundError(
            f"{archive}: its training set is not where its report says (data.workdir = {workdir!r}); "
            "retrain needs the build folder (`zelos build --workdir`) next to the archive")
    train, test = (load_training_set(s) for s in stores)
    names = list(parent.parameters)
    if train.names != names:
        raise ValueError(f"{workdir}: training set parameters {train.names} differ from the archive's {names}")
    outputs = [o["name"] for o in train.layout["outputs"]]
    fixed = {k: v for k, v in spec["code"].get("settings", {}).items() if isinstance(v, (int, float))}
    records = [_emulator_names(r, names) for r in load_records(logdirs)]
    x_out, outs = logged_points(records, names, outputs, fixed)
    x_loc = logged_locations(records, names, outputs, fixed)
    # Outputs of the archive's names but not its shapes (another grid): the points only.
    fits = np.array([all(np.shape(outs[o][i]) == train.outputs[o].shape[1:] for o in outputs)
                     for i in range(len(x_out))], bool)
    if not fits.all():
        x_loc = np.vstack([x_out[~fits], x_loc])
        x_out, outs = x_out[fits], {o: [v for v, f in zip(vs, fits) if f] for o, vs in outs.items()}
    # Logged points first (outputs known), then those whose outputs the driver computes.
    x = np.vstack([x_out, x_loc])
    has_out = np.arange(len(x)) < len(x_out)
    logged_out = {o: np.array(v) for o, v in outs.items()}
    known = {tuple(p) for p in np.vstack([train.params, test.params])}
    new = np.array([tuple(p) not in known for p in x], bool)
    out_row = np.cumsum(has_out) - 1  # row of each point in `logged_out`
    x, has_out, out_row = x[new], has_out[new], out_row[new]
    if not len(x):
        raise ValueError(f"no usable logged points in {', '.join(map(str, logdirs))} (need records with every "
                         f"parameter {names})")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    n_test = max(1, int(round(holdout * len(x)))) if len(x) >= 2 else 0
    test_idx, train_idx = order[:n_test], order[n_test:]
    # Within each split, points with outputs first: the store takes those as already computed.
    test_idx = np.concatenate([test_idx[has_out[test_idx]], test_idx[~has_out[test_idx]]]).astype(int)
    train_idx = np.concatenate([train_idx[has_out[train_idx]], train_idx[~has_out[train_idx]]]).astype(int)
    extra_x = np.zeros((0, len(names)))
    if extra:
        cov = np.cov(x, rowvar=False) if len(x) > len(names) else np.diag(np.var(x, axis=0) + 1e-12)
        extra_x = ellipsoid(x.mean(axis=0), np.atleast_2d(cov), sigmas, int(extra), seed)
    train_pts = np.vstack([train.params, x[train_idx], extra_x])
    test_pts = np.vstack([test.params, x[test_idx]])

    # The derived spec: the box widened to hold every point, a derived version.
    everything = np.vstack([train_pts, test_pts])
    box = {}
    for j, p in enumerate(names):
        entry = spec["parameters"][p]
        lo, hi = entry["range"] if isinstance(entry, dict) else entry
        width = float(hi) - float(lo)
        new_lo = float(min(float(lo), everything[:, j].min() - (MARGIN * width if everything[:, j].min() < lo else 0)))
        new_hi = float(max(float(hi), everything[:, j].max() + (MARGIN * width if everything[:, j].max() > hi else 0)))
        if isinstance(entry, dict):
            entry["range"] = [new_lo, new_hi]
        else:
            spec["parameters"][p] = [new_lo, new_hi]
        box[p] = {"parent": [float(lo), float(hi)], "new": [new_lo, new_hi]}
    spec["version"] = derived_version(parent.spec["version"])
    out_dir = out_dir or "."
    os.makedirs(out_dir, exist_ok=True)
    name = spec["name"]
    spec_path = os.path.join(out_dir, f"{name}.retrain.yaml")
    with open(spec_path, "w", encoding="utf-8") as f:
        f.write(f"# Derived by `zelos retrain` from {os.path.basename(archive)} (version {parent.spec['version']}, "
                f"sha256 {parent.sha256});\n# the parameter box is widened to hold the logged points.\n")
        yaml.safe_dump(spec, f, sort_keys=False)

    new_workdir = os.path.join(out_dir, f"{name}.build")
    for store, pts, base, idx in (("train", train_pts, train, train_idx), ("test", test_pts, test, test_idx)):
        with_out = idx[has_out[idx]]
        known_out = {o: np.concatenate([base.outputs[o], logged_out[o][out_row[with_out]].reshape(
            len(with_out), *base.outputs[o].shape[1:])]) for o in outputs}
        _write_store(os.path.join(new_workdir, store), train.layout, pts, len(base.params) + len(with_out),
                     pts, known_out)
    recomputed = int((~has_out).sum())
    lineage = {"parent_sha256": parent.sha256, "parent_name": parent.name, "parent_version": parent.spec["version"],
               "version": spec["version"], "logs": [os.path.abspath(os.fspath(d)) for d in logdirs],
               "added_points": int(len(x) + len(extra_x)), "logged_train": int(len(train_idx)),
               "logged_test": int(len(test_idx)), "recomputed": recomputed, "extra": int(len(extra_x)),
               "parent_test": int(len(test.params)), "box": box}
    log(f"Retraining {name} {parent.spec['version']} -> {spec['version']}: {len(train.params)} + {len(train_idx)} "
        f"logged + {len(extra_x)} new training points, {len(test.params)} + {len(test_idx)} logged held-out points"
        + (f" ({recomputed} logged points carry other outputs than the archive's: computed by "
           f"{spec['code']['name']})" if recomputed else ""))
    result = build(spec_path, BuildOptions(out_dir=out_dir, workdir=new_workdir, processes=processes,
                                           progress=progress), log=log, points=(train_pts, test_pts), lineage=lineage)
    if len(test_idx):
        held = load_training_set(os.path.join(new_workdir, "test"))
        logged = held.indices >= len(test.params)
        if logged.any():
            emu = load(result.path, out_of_range="ignore")
            got = emu(held.params[logged])
            truth = {o: held.outputs[o][logged] for o in outputs}
            # As the build's accuracy report: TE relative to sqrt(TT EE), entries that are 0 skipped.
            err = max(float(relative_error(o, got[o], truth)[1].max()) for o in outputs)
            log(f"Held-out logged points: maximum relative error {err:.2g}")
    return result

"""`zelos retrain ARCHIVE --points LOGDIR... [--extra N] [--workdir DIR]`: a new emulator trained on
the parent's training set plus the points a chain logged outside it (see docs/active-learning.md).

1. The parent's training and test sets are read from its build folder, never recomputed. Archives
   do not carry them: the folder is `--workdir` when given, else the one its report records
   (`data.workdir`), else `NAME.build` beside the archive (the build's default layout, found
   again after the whole output folder moved), else `STEM/NAME.build` (online retraining's
   layout). A folder is used only if its sets are the archive's: same parameters, outputs,
   code settings, the very training points the archive holds and as many test points as its
   report counts (:func:`training_set_folder`).
2. Logged fallback records that give every parameter of the archive are kept; spot checks,
   records computed with another value of a parameter the spec holds fixed, failed (non-finite)
   ones, duplicates and points already in the parent's sets are dropped and counted
   (:func:`screen`); with `keep_box`, so are points outside the spec's box or constraints
   (`outside_box`: a chain's far proposals would otherwise widen the box). Records that also carry
   every output of the archive on its grids (the router's own log; MontePython's; a Cobaya
   chain's, whose fallback points are logged in the schema of the emulator that would serve
   them, with its grids as `grid.AXIS`:
   :mod:`zelos.serving.schema`) are used as they are (`reused`); records that carry other
   outputs (Cobaya logs written before that carry only what the likelihoods asked for, e.g.
   `Hubble` at the DESI redshifts, or another emulator's grids) give their points only, and the
   archive's outputs there are computed with the spec's driver (`recomputed`). A fraction
   (`holdout`, at least one) goes to the held-out test set, the rest to training.
3. `extra` new points are drawn uniformly in the ellipsoid of `sigmas` standard deviations of
   the logged points' mean and covariance (CONNECT-style) and computed with the spec's driver.
4. The new trust region is that of the points the network trains on (parent's training points,
   logged training points, extra points; those whose computation failed left out), never of
   held-out points: the spec's box is widened to hold them (plus 1e-3 of its width on each side
   that moved), and where the parent's Mahalanobis threshold would leave a new training point
   out it becomes the `pico` fraction that holds them all. The derived spec gets a `version`
   derived from the parent's (:func:`derived_version`: 1.0.0 -> 1.0.0+r1 -> 1.0.0+r2), is
   written as `OUT/NAME.retrain.yaml`, and the emulator is rebuilt from the merged points with
   `zelos.build.build(..., points=...)` into `OUT/NAME.tar.gz`. Its report records
   `lineage: {parent_sha256, parent_name, parent_version, version, logs, training_set,
   added_points, logged_train, logged_test, reused, recomputed, extra, computed, failed,
   parent_test, dropped, box, threshold}` (the new points are computed before the build, so its
   `data.computed` is 0 and `lineage.computed` counts them); its build folder `OUT/NAME.build`
   holds the merged sets, so retrains chain.
"""

from __future__ import annotations

import collections
import copy
import functools
import os
import re

import numpy as np
import yaml

from .._zelos import ZelosError
from ..build import BuildOptions
from ..build.accuracy import relative_error
from ..build.generate import generate
from ..build.pipeline import build
from ..build.store import StoreWriter, load_training_set, points_sha256, read_layout, stored_points
from ..serving.schema import GRID_PREFIX
from .records import NOT_TRAINING, emulator_names, load_records

__all__ = ["RetrainError", "TrainingSetNotFound", "derived_version", "logged_locations", "logged_points", "retrain",
           "screen", "training_set_folder"]

MARGIN = 1e-3
#: The spec's trust section where it has none (docs/spec.md).
DEFAULT_TRUST = {"method": ["box", "mahalanobis"], "threshold": {"chi2_quantile": 0.999}}


class RetrainError(ZelosError, ValueError):
    """A retrain that cannot be done with what it was given (no usable logged point...)."""


class TrainingSetNotFound(ZelosError, FileNotFoundError):
    """No folder tried holds the training set that made the archive."""


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


# -- where the parent's training set is ------------------------------------------------------------

def _candidates(archive, emulator, workdir=None) -> list:
    """``[(where, folder)]`` in the order tried."""
    if workdir:
        return [("--workdir", os.fspath(workdir))]
    recorded = (emulator.report.get("data") or {}).get("workdir")
    path = os.path.abspath(os.fspath(archive))
    stem = path[:-len(".tar.gz")] if path.endswith(".tar.gz") else os.path.splitext(path)[0]
    found = [("data.workdir: where its build was", recorded),
             ("beside the archive: the build's default OUT/NAME.build",
              os.path.join(os.path.dirname(path), f"{emulator.name}.build")),
             ("online retraining's layout STEM/NAME.build", os.path.join(stem, f"{emulator.name}.build"))]
    seen, out = set(), []
    for where, folder in found:
        if folder and os.path.abspath(folder) not in seen:
            seen.add(os.path.abspath(folder))
            out.append((where, folder))
    return out


def _mismatch(emulator, folder: str) -> str | None:
    """Why ``folder`` does not hold the sets ``emulator`` was built from (None: it does)."""
    stores = [os.path.join(folder, s) for s in ("train", "test")]
    missing = [s for s in stores if not os.path.isfile(os.path.join(s, "layout.json"))]
    if missing:
        return f"no training set there (no {os.path.join(missing[0], 'layout.json')})"
    layout = read_layout(stores[0])
    if list(layout["names"]) != list(emulator.parameters):
        return f"its parameters {layout['names']} are not the archive's {list(emulator.parameters)}"
    shapes = {o["name"]: tuple(o["shape"]) for o in layout["outputs"]}
    if shapes != {k: tuple(v.shape) for k, v in emulator.outputs.items()}:
        return f"its outputs {sorted(shapes)} (or their shapes) are not the archive's {sorted(emulator.outputs)}"
    code, driver = emulator.spec["code"], layout.get("driver") or {}
    for key, want in (("code", code["name"]), ("settings", code.get("settings"))):
        if key in driver and driver[key] != want:
            return f"it was computed with {key} {driver[key]!r}, the archive's spec says {want!r}"
    # The archive stores the points it was trained on: the surest sign it is this set.
    trained, data = emulator.region.get("points"), emulator.report.get("data") or {}
    points = stored_points(stores[0])
    if trained is not None and not np.array_equal(np.asarray(trained, float), points):
        return f"its {len(points)} training points are not the {len(trained)} the archive was trained on"
    if trained is None and len(points) != data.get("train", 0) + data.get("validation", 0):
        return (f"it holds {len(points)} training points, the archive's report "
                f"{data.get('train')} + {data.get('validation')}")
    n_test = len(stored_points(stores[1]))
    if "test" in data and n_test != data["test"]:
        return f"its test set holds {n_test} points, the archive's report {data['test']}"
    return None


def training_set_folder(archive, emulator=None, workdir=None) -> str:
    """The build folder holding the training and test sets `archive` was built from: `workdir`
    if given, else the first of its report's `data.workdir`, `NAME.build` beside it, and
    `STEM/NAME.build` whose sets are the archive's. Raises :class:`TrainingSetNotFound` naming
    every folder tried and why it was not used."""
    from ..emulator import load

    emulator = emulator or load(os.fspath(archive), out_of_range="ignore")
    tried = []
    for where, folder in _candidates(archive, emulator, workdir):
        why = _mismatch(emulator, folder)
        if why is None:
            return folder
        tried.append(f"  {folder} ({where}): {why}")
    raise TrainingSetNotFound(
        f"{archive}: the training set it was built from is not found; tried\n" + "\n".join(tried) + "\n"
        "Archives do not carry their training sets (shipped and hub archives included): `zelos build` keeps them in "
        "its workdir (default OUT/NAME.build). Pass that folder with --workdir, or rebuild the emulator with "
        "`zelos build` (the archive's spec.yaml is its spec) and retrain the archive that build writes.")


# -- the logged points ------------------------------------------------------------------------------

def _usable(r: dict, names: list, fixed: dict | None) -> bool:
    if r["reason"] in NOT_TRAINING or not all(n in r["parameters"] for n in names):
        return False
    # A point computed with another value of a parameter this emulator holds fixed is not its data.
    return not any(k in r["parameters"] and not np.isclose(r["parameters"][k], v) for k, v in (fixed or {}).items())


def _on_grids(r: dict, grids: dict | None) -> bool:
    """Whether the grids a record names (``grid.AXIS``: outputs logged in an emulator's schema,
    :mod:`zelos.serving.schema`) are the archive's ``grids``; a record naming none is taken to be
    on them (the router's and MontePython's logs), as its output shapes are checked."""
    named = {k[len(GRID_PREFIX):]: v for k, v in (r.get("outputs") or {}).items() if k.startswith(GRID_PREFIX)}
    if not named or grids is None:
        return True
    return all(axis in named and np.shape(named[axis]) == np.shape(g) and np.allclose(named[axis], g, rtol=1e-9,
                                                                                      atol=0.0)
               for axis, g in grids.items())


def _kind(r: dict, names: list, outputs: list, fixed: dict | None, grids: dict | None = None) -> str:
    """``unusable`` (spot check, a parameter missing or another fixed value), ``failed``
    (non-finite), ``outputs`` (carries every output of the archive, on its ``grids`` where the
    record names its grids) or ``location``."""
    if not _usable(r, names, fixed):
        return "unusable"
    if not all(np.isfinite(float(r["parameters"][n])) for n in names):
        return "failed"
    if not all(o in r["outputs"] for o in outputs) or not _on_grids(r, grids):
        return "location"
    return "outputs" if all(np.all(np.isfinite(r["outputs"][o])) for o in outputs) else "failed"


def screen(records: list, names: list, outputs: list, fixed: dict | None = None, grids: dict | None = None) -> tuple:
    """`(x_out [n, p], {output: [n arrays]}, x_loc [m, p], dropped)`: the distinct usable logged
    points that carry every output of the archive (on its `grids`, `{axis: values}`, where a
    record names the grids of its outputs), those that do not (their outputs are computed by
    the spec's driver), and how many records were dropped, by why (`unusable`, `failed`,
    `duplicate`)."""
    kinds = [_kind(r, names, outputs, fixed, grids) for r in records]
    dropped = collections.Counter({"unusable": 0, "failed": 0, "duplicate": 0})
    dropped.update(k for k in kinds if k in ("unusable", "failed"))
    seen, xs, outs, locs = set(), [], {o: [] for o in outputs}, []
    # Records with outputs first: a point logged both ways keeps the outputs it was logged with.
    for wanted in ("outputs", "location"):
        for r, kind in zip(records, kinds):
            if kind != wanted:
                continue
            x = tuple(float(r["parameters"][n]) for n in names)
            if x in seen:
                dropped["duplicate"] += 1
                continue
            seen.add(x)
            if kind == "location":
                locs.append(x)
                continue
            xs.append(x)
            for o in outputs:
                outs[o].append(np.asarray(r["outputs"][o], float))
    p = len(names)
    return np.array(xs, float).reshape(len(xs), p), outs, np.array(locs, float).reshape(len(locs), p), dict(dropped)


def logged_points(records: list, names: list, outputs: list, fixed: dict | None = None,
                  grids: dict | None = None) -> tuple:
    """`(x [n, p], {output: [n, ...]})`: the usable, deduplicated logged points that carry every
    output of the archive (:func:`screen`)."""
    x, outs, _, _ = screen(records, names, outputs, fixed, grids)
    return x, outs


def logged_locations(records: list, names: list, outputs: list, fixed: dict | None = None,
                     grids: dict | None = None) -> np.ndarray:
    """`x [n, p]`: the usable, deduplicated logged points that lack some output of the archive
    (their outputs are computed by the spec's driver), none of them among :func:`logged_points`'."""
    return screen(records, names, outputs, fixed, grids)[2]


# -- the new sets -----------------------------------------------------------------------------------

def in_spec_region(spec: dict, names: list, x: np.ndarray) -> np.ndarray:
    """Which rows of `x` (columns: `names`) lie in the spec's box and satisfy its `constraints`."""
    from ..spec import constraint_filter

    x = np.atleast_2d(x)
    box = np.array([_range(spec["parameters"][n]) for n in names], float).reshape(len(names), 2)
    ok = ((x >= box[:, 0]) & (x <= box[:, 1])).all(axis=1)
    accept = constraint_filter(names, spec.get("constraints") or [])
    return ok if accept is None else ok & accept(x)


def _extra_points(mean, cov, sigmas: float, n: int, seed: int, accept=None) -> np.ndarray:
    """`n` points uniform in the ellipsoid of `sigmas` around `mean`, `cov`; with `accept`, only
    points it accepts (drawn in growing rounds; fewer than `n` if the ellipsoid barely meets it)."""
    from ..build.sampling import ellipsoid

    if accept is None:
        return ellipsoid(mean, cov, sigmas, n, seed)
    for factor in (2, 8, 32, 128):
        x = ellipsoid(mean, cov, sigmas, n * factor, seed)
        x = x[accept(x)]
        if len(x) >= n:
            break
    return x[:n]


def _write_store(store_dir: str, layout: dict, points: np.ndarray, known: int, params, outputs: dict) -> None:
    """A training-set store for `points` whose first `known` rows are already computed (`params`,
    `outputs`); :func:`_compute_new_points` computes the rest."""
    layout = {**layout, "n_points": len(points), "points_sha256": points_sha256(points)}
    store = StoreWriter(store_dir, layout)
    try:
        for i in range(known):
            if i in store.done:
                continue
            flat = np.concatenate([np.asarray(outputs[o["name"]][i], float).reshape(-1) for o in layout["outputs"]])
            store.record(i, points[i], True, flat.astype("<f4").tobytes(), 0.0)
    finally:
        store.close()


def _driver_factory(spec: dict):
    """The driver the build makes from `spec` (the box and trust settings do not enter it)."""
    from ..build.plan import plan as make_plan
    from ..drivers import get_driver

    code = spec["code"]
    return functools.partial(get_driver, code["name"], code["settings"], make_plan(spec).request,
                             version=code["version"])


def _compute_new_points(workdir: str, spec: dict, sets: dict, names: list, processes, progress) -> int:
    """Computes the points of the new stores (`sets`: `{store: points}`) whose outputs are not
    there yet (logged with other outputs, extra), before the build, which then reuses them: the
    trust region is drawn around the training points that succeeded. Returns how many it computed."""
    todo = {store: points for store, points in sets.items()  # held-out first, as the build
            if len(stored_points(os.path.join(workdir, store))) < len(points)}
    if not todo:
        return 0
    factory = _driver_factory(spec)
    return sum(generate(factory, points, names, os.path.join(workdir, store), processes=processes,
                        progress=progress).stats.computed for store, points in todo.items())


# -- the derived spec -------------------------------------------------------------------------------

def _range(entry) -> tuple:
    lo, hi = entry["range"] if isinstance(entry, dict) else entry
    return float(lo), float(hi)


def _widen_box(spec: dict, names: list, points: np.ndarray) -> dict:
    """Widens the spec's box to hold `points` (plus `MARGIN` of the width on each side that
    moved); returns `{parameter: {parent: [lo, hi], new: [lo, hi]}}`."""
    box = {}
    for j, p in enumerate(names):
        entry = spec["parameters"][p]
        lo, hi = _range(entry)
        width, below, above = hi - lo, float(points[:, j].min()), float(points[:, j].max())
        new = [below - MARGIN * width if below < lo else lo, above + MARGIN * width if above > hi else hi]
        if isinstance(entry, dict):
            entry["range"] = new
        else:
            spec["parameters"][p] = new
        box[p] = {"parent": [lo, hi], "new": new}
    return box


def _mahalanobis(names: list, points: np.ndarray, threshold: dict, box: dict):
    """The Mahalanobis part of the region the build draws around `points` (region_tensors)."""
    from ..routing import TrustRegion

    return TrustRegion(names, ["mahalanobis"], lower=[box[p]["new"][0] for p in names],
                       upper=[box[p]["new"][1] for p in names], mean=points.mean(axis=0),
                       covariance=np.atleast_2d(np.cov(points, rowvar=False)), points=points, **threshold)


def _widen_threshold(spec: dict, names: list, trained: np.ndarray, new: np.ndarray, box: dict) -> dict:
    """Where the parent's Mahalanobis threshold, applied to the merged training points, leaves a
    new training point out (a chain that went far along one axis), the threshold becomes
    `pico: f`, the smallest fraction of the farthest training point's distance (plus `MARGIN`)
    that holds every new one. Returns `{parent: threshold, new: threshold}`."""
    trust = spec.setdefault("trust", copy.deepcopy(DEFAULT_TRUST))
    methods = trust.setdefault("method", list(DEFAULT_TRUST["method"]))
    parent = dict(trust.setdefault("threshold", dict(DEFAULT_TRUST["threshold"])))
    if "mahalanobis" not in ([methods] if isinstance(methods, str) else methods) or not len(new) \
            or len(trained) <= len(names):
        return {"parent": parent, "new": parent}
    region = _mahalanobis(names, trained, parent, box)
    farthest_new = max(region.decide(x).distance for x in new)
    if farthest_new <= region.mahalanobis_threshold:
        return {"parent": parent, "new": parent}
    farthest = _mahalanobis(names, trained, {"pico": 1.0}, box).mahalanobis_threshold
    trust["threshold"] = {"pico": float(min(1.0, farthest_new * (1 + MARGIN) / farthest))}
    return {"parent": parent, "new": dict(trust["threshold"])}


def _write_spec(path: str, spec: dict, archive: str, parent) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"# Derived by `zelos retrain` from {os.path.basename(os.fspath(archive))} (version "
                f"{parent.spec['version']}, sha256 {parent.sha256});\n# the trust region (box, Mahalanobis "
                "threshold) is widened to hold the points it trains on.\n")
        yaml.safe_dump(spec, f, sort_keys=False)


# -- the retrain ------------------------------------------------------------------------------------

def _held_out_summary(result, new_workdir: str, parent_test: int, outputs: list, log) -> None:
    """Logs how the new emulator does on the held-out logged points (no training point among them)."""
    from ..emulator import load
    from ..routing import TrustRegion

    held = load_training_set(os.path.join(new_workdir, "test"))
    logged = held.indices >= parent_test
    if not logged.any():
        return
    emu = load(result.path, out_of_range="ignore")
    got = emu(held.params[logged])
    truth = {o: held.outputs[o][logged] for o in outputs}
    # As the build's accuracy report: TE relative to sqrt(TT EE), entries that are 0 skipped.
    err = max(float(relative_error(o, got[o], truth)[1].max()) for o in outputs)
    inside = int(TrustRegion.from_emulator(emu).decide_batch(held.params[logged])[0].sum())
    log(f"Held-out logged points: {inside} of {int(logged.sum())} in the new trust region; maximum relative "
        f"error {err:.2g}")


def retrain(archive: str, logdirs, extra: int = 0, out_dir: str | None = None, *, sigmas: float = 3.0,
            holdout: float = 0.2, seed: int = 0, processes: int | None = None, progress: bool = True,
            workdir: str | None = None, keep_box: bool = False, log=print):
    """Retrains `archive` with the logged points; returns the `BuildResult` of the new archive.
    `workdir`: the parent's build folder, if not one :func:`training_set_folder` finds.
    `keep_box`: logged and extra points outside the spec's box or `constraints` are left out
    (counted as `dropped["outside_box"]`), so that the region grows only inside the box (the
    Mahalanobis threshold widens; the box stays)."""
    from ..emulator import load

    logdirs = [logdirs] if isinstance(logdirs, (str, os.PathLike)) else list(logdirs)
    parent = load(archive, out_of_range="ignore")
    spec = copy.deepcopy(parent.spec)
    parent_workdir = training_set_folder(archive, parent, workdir)
    train, test = (load_training_set(os.path.join(parent_workdir, s)) for s in ("train", "test"))
    names = list(parent.parameters)
    outputs = [o["name"] for o in train.layout["outputs"]]
    fixed = parent.fixed_settings  # a point logged with another value of one is not this emulator's data
    records = [emulator_names(r, names) for r in load_records(logdirs)]
    x_out, outs, x_loc, dropped = screen(records, names, outputs, fixed, parent.grids)
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
    dropped["known"] = int((~new).sum())
    out_row = np.cumsum(has_out) - 1  # row of each point in `logged_out`
    x, has_out, out_row = x[new], has_out[new], out_row[new]
    if keep_box:
        inside = in_spec_region(spec, names, x)
        dropped["outside_box"] = int((~inside).sum())
        x, has_out, out_row = x[inside], has_out[inside], out_row[inside]
    if not len(x):
        raise RetrainError(f"no usable logged points in {', '.join(map(str, logdirs))} (need records with every "
                           f"parameter {names}; dropped: {dropped})")
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
        extra_x = _extra_points(x.mean(axis=0), np.atleast_2d(cov), sigmas, int(extra), seed,
                                (lambda y: in_spec_region(spec, names, y)) if keep_box else None)
        if len(extra_x) < extra:
            log(f"--extra {extra}: only {len(extra_x)} of the ellipsoid's points lie in the spec's box and constraints")
    train_pts = np.vstack([train.params, x[train_idx], extra_x])
    test_pts = np.vstack([test.params, x[test_idx]])

    out_dir = out_dir or "."
    os.makedirs(out_dir, exist_ok=True)
    name = spec["name"]
    new_workdir = os.path.join(out_dir, f"{name}.build")
    for store, pts, base, idx in (("train", train_pts, train, train_idx), ("test", test_pts, test, test_idx)):
        with_out = idx[has_out[idx]]
        known_out = {o: np.concatenate([base.outputs[o], logged_out[o][out_row[with_out]].reshape(
            len(with_out), *base.outputs[o].shape[1:])]) for o in outputs}
        _write_store(os.path.join(new_workdir, store), train.layout, pts, len(base.params) + len(with_out),
                     pts, known_out)
    recomputed, reused = int((~has_out).sum()), int(has_out.sum())
    log(f"Logged points: {reused} with the archive's outputs, reused as logged; {recomputed} without them (logged "
        f"with other outputs, or another emulator's grids), computed again with {spec['code']['name']}")
    if recomputed or len(extra_x):
        log(f"Computing the new points with {spec['code']['name']}: {recomputed} logged points that carry other "
            f"outputs than the archive's, {len(extra_x)} extra points")
    computed = _compute_new_points(new_workdir, parent.spec, {"test": test_pts, "train": train_pts}, names,
                                   processes, progress)

    # The derived spec: the trust region of the points trained on (held-out ones excluded).
    trained, trained_idx = stored_points(os.path.join(new_workdir, "train"), with_indices=True)
    box = _widen_box(spec, names, trained)
    threshold = _widen_threshold(spec, names, trained, trained[trained_idx >= len(train.params)], box)
    spec["version"] = derived_version(parent.spec["version"])
    spec_path = os.path.join(out_dir, f"{name}.retrain.yaml")
    _write_spec(spec_path, spec, archive, parent)

    lineage = {"parent_sha256": parent.sha256, "parent_name": parent.name, "parent_version": parent.spec["version"],
               "version": spec["version"], "logs": [os.path.abspath(os.fspath(d)) for d in logdirs],
               "training_set": os.path.abspath(parent_workdir),
               "added_points": int(len(x) + len(extra_x)), "logged_train": int(len(train_idx)),
               "logged_test": int(len(test_idx)), "reused": reused, "recomputed": recomputed,
               "extra": int(len(extra_x)),
               "computed": computed, "failed": int(len(train_pts) - len(trained)),
               "parent_test": int(len(test.params)),
               "dropped": dropped, "box": box, "threshold": threshold}
    log(f"Retraining {name} {parent.spec['version']} -> {spec['version']}: {len(train.params)} + {len(train_idx)} "
        f"logged + {len(extra_x)} new training points, {len(test.params)} + {len(test_idx)} logged held-out points "
        f"(training set from {parent_workdir}; logged records dropped: {dropped})")
    result = build(spec_path, BuildOptions(out_dir=out_dir, workdir=new_workdir, processes=processes,
                                           progress=progress), log=log, points=(train_pts, test_pts), lineage=lineage)
    if len(test_idx):
        _held_out_summary(result, new_workdir, len(test.params), outputs, log)
    return result

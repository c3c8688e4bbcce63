"""The build, step by step, as `zelos build` prints it."""

from __future__ import annotations

import functools
import hashlib
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from .. import _zelos
from ..drivers import get_driver
from ..spec import canonical_yaml, load_spec
from . import accuracy, assemble, design, report, store
from .generate import generate
from .plan import background_only, plan as make_plan
from .train import train_all

WIDTH = 36


class BuildError(_zelos.ZelosError, RuntimeError):
    """A build that cannot go on with what it was given (e.g. too few points the code computed)."""


@dataclass
class BuildOptions:
    out_dir: str = "."
    #: Where training sets live (kept, so that rebuilds and retrains never recompute a point);
    #: default `OUT_DIR/NAME.build`.
    workdir: str | None = None
    processes: int | None = None
    scheduler: str | None = None
    allow_version_mismatch: bool = False
    progress: bool = True
    plots: bool = True


@dataclass
class BuildResult:
    path: str
    sha256: str
    report: dict = field(repr=False)


@contextmanager
def step(label: str, log, bars: bool = False):
    """`>>> label ...... [done]`. A step that shows progress bars announces itself first and
    prints the finished line again once its bars are gone."""
    line = f">>> {label} {'.' * max(3, WIDTH - len(label))}"
    log(line, end="\n" if bars else " ", flush=True)
    started = time.perf_counter()
    try:
        yield
    except BaseException:
        log(f"{line} [failed]" if bars else "[failed]")
        raise
    log(f"{line if bars else ''}{' ' if bars else ''}[done] ({time.perf_counter() - started:.1f} s)")


def build(spec_path: str, options: BuildOptions | None = None, log=print, *, points=None,
          lineage: dict | None = None) -> BuildResult:
    """Builds the emulator `spec_path` describes; returns the archive path and its report.

    `points`: `(train_points, test_points)` to use instead of the spec's `sampling` design (as
    `zelos retrain` does; points already in the workdir's stores are not recomputed).
    `lineage`: recorded as the report's `lineage`."""
    options = options or BuildOptions()
    started = time.perf_counter()
    spec = load_spec(spec_path)
    canonical = canonical_yaml(spec_path)
    plan = make_plan(spec)
    name, code = spec["name"], spec["code"]
    # Made now, not at export: a missing --out must not surface after hours of the code.
    os.makedirs(options.out_dir, exist_ok=True)
    workdir = options.workdir or os.path.join(options.out_dir, f"{name}.build")
    os.makedirs(workdir, exist_ok=True)
    def factory_for(request):
        return functools.partial(get_driver, code["name"], code["settings"], request, version=code["version"],
                                 allow_version_mismatch=options.allow_version_mismatch)

    factory = factory_for(plan.request)

    with step(f"Checking code {code['name']}=={code['version']}", log):
        driver = factory()
    if getattr(driver, "version_note", None):
        log(f"    warning: {driver.version_note}")

    with step("Building training set", log, bars=options.progress):
        train_points, test_points = points if points is not None else design.draw(
            plan, os.path.dirname(os.path.abspath(spec_path)))
        t0 = time.perf_counter()
        run = functools.partial(generate, factory, names=plan.parameters, processes=options.processes,
                                scheduler=options.scheduler, progress=options.progress)
        # Held-out points first: a long generation stopped early can still be validated.
        for points_, sub in ((test_points, "test"), (train_points, "train")):
            if points is None:
                fit_store_to_design(os.path.join(workdir, sub), points_, spec["sampling"]["design"], log)
        test_set = run(points=test_points, store_dir=os.path.join(workdir, "test"))
        train_set = run(points=train_points, store_dir=os.path.join(workdir, "train"))
        background_set = _background_set(plan, spec_path, workdir, factory_for(background_only(plan.request)),
                                         options, log)
        generation_seconds = time.perf_counter() - t0
    failed = len(train_set.failures) + len(test_set.failures)
    if failed:
        log(f"    {failed} points failed in {code['name']} and were skipped (listed in the report)")
    if len(train_set.params) < 2 or len(test_set.params) < 1:
        failures = train_set.failures + test_set.failures
        first = " ".join(str(failures[0][2]).split()) if failures else None
        raise BuildError(f"{name}: too few successful points to train ({len(train_set.params)} training, "
                         f"{len(test_set.params)} test; {failed} of {len(train_points) + len(test_points)} failed in "
                         f"{code['name']}" + (f", the first with: {first}" if first else "")
                         + f"); every failure is listed in {workdir}")

    with step("Training model", log, bars=options.progress):
        t0 = time.perf_counter()
        extra = None if background_set is None else {"background": (background_set.params, background_set.outputs)}
        shift, scale, trained, split = train_all(plan, train_set.params, train_set.outputs, progress=options.progress,
                                                 log=log, extra=extra)
        training_seconds = time.perf_counter() - t0
    model, tensors = assemble.model_and_weights(plan, shift, scale, trained)
    region = assemble.region_tensors(plan, train_set.params)

    with step("Evaluating accuracy", log):
        # Measured on the archive itself, through the same code path users will call.
        provisional = os.path.join(workdir, f"{name}.provisional.tar.gz")
        _write(provisional, canonical, model, tensors, region, {"provisional": True}, "provisional\n")
        from ..emulator import load

        emulator = load(provisional, out_of_range="ignore")
        emulated = emulator(test_set.params)
        truth = {k: np.asarray(v, float) for k, v in test_set.outputs.items()}
        axes = {o.name: o.axes for o in emulator.outputs.values()}
        acc, curves = accuracy.measure(emulated, truth, plan.grids, axes)
        os.remove(provisional)

    worst, worst_name = accuracy.headline(acc)
    total = time.perf_counter() - started
    rep = {
        "zelos_report": 1,
        "name": name,
        "version": spec["version"],
        "spec": spec,
        "spec_sha256": hashlib.sha256(canonical.encode()).hexdigest(),
        "code": {"name": code["name"], "version": code["version"], "installed_version": driver.installed_version,
                 "mismatch_override": bool(getattr(driver, "version_note", None)),
                 "note": getattr(driver, "version_note", None)},
        "built": {**report.provenance(), "seconds": {"generation": generation_seconds, "training": training_seconds,
                                                     "total": total}},
        "versions": report.versions(driver),
        "data": {"design": spec["sampling"]["design"], "train": split["train"], "validation": split["validation"],
                 "validation_from": split["validation_from"],
                 "test": len(test_set.params), "failed": failed,
                 "background_points": None if background_set is None else len(background_set.params),
                 "computed": train_set.stats.computed + test_set.stats.computed,
                 "reused": train_set.stats.already_done + test_set.stats.already_done, "workdir": os.path.abspath(workdir),
                 "failures": [{"params": list(map(float, p)), "error": e} for _, p, e in
                              (train_set.failures + test_set.failures)[:100]]},
        "training": {tn.network.name: tn.summary for tn in trained},
        "accuracy": acc,
        "summary": {"max_relative_error": worst, "worst_output": worst_name},
    }
    if lineage is not None:
        rep["lineage"] = lineage
    md = report.markdown(rep)
    extra = report.plots(curves, name) if options.plots else {}
    path = os.path.join(options.out_dir, f"{name}.tar.gz")
    log(f"Report: trained in {total:.0f} s, maximum relative error {worst:.2g} (`{worst_name}`) "
        f"over {len(test_set.params)} held-out points")
    log(f"Exporting emulator to {path}")
    sha = _write(path, canonical, model, tensors, region, rep, md, extra)
    return BuildResult(path=path, sha256=sha, report=rep)


def _background_set(plan, spec_path: str, workdir: str, factory, options, log):
    """The points of ``sampling.background_points``, with the background alone computed by
    ``factory``'s driver (the workdir's ``background`` store), or None without them. Their
    failures are skipped and said in the log: they are not the design's points."""
    points = design.background_points(plan, os.path.dirname(os.path.abspath(spec_path)))
    if points is None:
        return None
    store_dir = os.path.join(workdir, "background")
    fit_store_to_design(store_dir, points, plan.spec["sampling"]["design"], log)
    result = generate(factory, points, names=plan.parameters, store_dir=store_dir, processes=options.processes,
                      scheduler=options.scheduler, progress=options.progress)
    if result.failures:
        log(f"    {len(result.failures)} of {len(points)} background points failed in the code and were skipped")
    return result


#: Designs whose first m points for n are the points for m: their stores can shrink or grow.
PREFIX_STABLE = ("sobol", "ellipsoid")


def fit_store_to_design(store_dir: str, points, design_name: str, log) -> None:
    """A store made for another number of points of a prefix-stable design is rewritten for
    `points` (its finished points kept): `sampling.points` lowered to what a long generation
    finished, or raised in a later sitting, or drawn where the arithmetic rounded differently.
    Anything else is left to generate()'s own check."""
    if design_name not in PREFIX_STABLE or not os.path.exists(os.path.join(store_dir, store.LAYOUT)):
        return
    old = store.read_layout(store_dir)
    same_size = old["n_points"] == len(points)
    if same_size and old["points_sha256"] == store.points_sha256(points):
        return
    # Same size but other bytes: the same design drawn on a machine whose arithmetic rounds
    # differently (a store carried by `zelos store pack`); resize_store checks every point
    # agrees to 1e-12.
    kept = store.resize_store(store_dir, points)
    if same_size:
        log(f"    {store_dir}: the design's points agree with the stored ones to 1e-12 (rounded differently "
            "where they were drawn): store re-keyed")
    else:
        log(f"    {store_dir}: made for {old['n_points']} points of this `{design_name}` design, now {len(points)}: "
            f"kept the {kept} finished")


def _write(path, canonical, model, tensors, region, rep, md, extra=None) -> str:
    return _zelos.write_emulator_archive(path, canonical, assemble.dumps(model), tensors, region,
                                         assemble.dumps(rep), md, extra or {})

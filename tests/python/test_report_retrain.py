"""`zelos report` and `zelos retrain` end to end with the tiny CAMB spec: an emulator on a narrow
box, fallback points outside it logged with real CAMB outputs, the report, a retrain, and the
fallback rate of a second pass over the same points before and after (printed; run with -s).
Also: which logged records a retrain keeps, the trust region it draws (around the points it
trains on, never held-out ones), where it finds the parent's training set, and the command line."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import yaml

pytest.importorskip("camb")

import zelos
from zelos.build import BuildOptions, build
from zelos.build.plan import plan as make_plan
from zelos.drivers import get_driver
from zelos.build.store import load_training_set
from zelos.learning.point_report import report
from zelos.learning.retrain import TrainingSetNotFound, retrain, training_set_folder
from zelos.routing import PointLog, Router, TrustRegion

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = os.path.join(ROOT, "specs", "tiny_test.yaml")
NARROW = {"ombh2": [0.0215, 0.0235], "omch2": [0.11, 0.13], "H0": [66.0, 72.0]}
OUTPUTS = ["H", "D_M", "rdrag"]


def quiet(*a, **k):
    pass


def _spec_file(folder, **sampling) -> str:
    """The tiny spec on the NARROW box (with `sampling`/`epochs` overrides for cheap builds)."""
    spec = yaml.safe_load(open(TINY))
    spec["parameters"] = NARROW
    epochs = sampling.pop("epochs", None)
    spec["sampling"].update(sampling)
    if epochs:
        spec["training"]["epochs"] = epochs
    path = os.path.join(folder, "narrow.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(spec, f, sort_keys=False)
    return path


@pytest.fixture(scope="module")
def narrow(tmp_path_factory):
    """The parent: the tiny spec on the NARROW box, built with its build folder (retrains read it)."""
    d = tmp_path_factory.mktemp("narrow")
    return build(_spec_file(str(d)), BuildOptions(out_dir=str(d / "v1"), progress=False, plots=False), log=quiet)


@pytest.fixture(scope="module")
def driver(narrow):
    """The spec's own CAMB driver: real outputs for the logged points."""
    spec = zelos.load(narrow.path).spec
    return get_driver("camb", spec["code"]["settings"], make_plan(spec).request, version=spec["code"]["version"])


def _fallback_rate(archive, points, outputs, log=None, driver=None):
    router = Router({"tiny": archive}, point_log=log)
    n = 0
    for p in points:
        _, fallbacks = router.evaluate(p, outputs)
        if fallbacks:
            n += 1
            if log is not None:
                out = driver.compute(p)
                router.log_fallback(p, fallbacks, {o: out[o] for o in outputs})
    if router.point_log is not None:
        router.point_log.close()
    return n / len(points)


def _write_log(logdir, rows) -> str:
    """A real point log: `rows` of `(parameters, reason, outputs or None)`."""
    with PointLog(str(logdir)) as log:
        for params, reason, outputs in rows:
            log.log(params, reason=reason, outputs=outputs)
    return str(logdir)


def _outputs(driver, params: dict) -> dict:
    out = driver.compute(params)
    return {o: np.asarray(out[o], float) for o in OUTPUTS}


def _logged_split(result, n_parent_train: int) -> tuple:
    """`(logged training points, held-out logged points)` of a retrain, read from its stores."""
    workdir, lineage = result.report["data"]["workdir"], result.report["lineage"]
    train = load_training_set(os.path.join(workdir, "train"))
    test = load_training_set(os.path.join(workdir, "test"))
    logged = (train.indices >= n_parent_train) & (train.indices < n_parent_train + lineage["logged_train"])
    return train.params[logged], test.params[test.indices >= lineage["parent_test"]]


def _inside(archive, x) -> np.ndarray:
    """The archive's own full trust-region check (box, Mahalanobis...), point by point."""
    return TrustRegion.from_emulator(zelos.load(archive)).decide_batch(np.atleast_2d(x))[0]


def test_report_and_retrain(narrow, driver, tmp_path, capsys):
    parent = narrow

    # A "chain" that went further in H0 (and a little in omch2) than the box.
    rng = np.random.default_rng(5)
    n = 40
    pts = [{"ombh2": float(rng.uniform(0.0218, 0.0232)), "omch2": float(rng.uniform(0.112, 0.134)),
            "H0": float(rng.uniform(63.0, 77.0))} for _ in range(n)]
    logdir = tmp_path / "log"
    before = _fallback_rate(parent.path, pts, OUTPUTS, log=str(logdir), driver=driver)

    # Report: counts, reasons, attribution, files.
    s = report([str(logdir)], archive=parent.path, log=quiet)
    x = np.array([[p[k] for k in NARROW] for p in pts])
    lo, hi = np.array([v[0] for v in NARROW.values()]), np.array([v[1] for v in NARROW.values()])
    out_h0 = int(((x[:, 2] < lo[2]) | (x[:, 2] > hi[2])).sum())
    assert s["points_logged"] == s["fallbacks"] == round(before * n) and s["with_outputs"] == s["fallbacks"]
    assert set(s["by_reason"]) == {"outside_every_region"} and set(s["by_nearest"]) == {"tiny"}
    assert s["parameters"]["H0"]["outside"] == out_h0
    assert s["parameters"]["ombh2"]["outside"] == 0
    assert s["parameters"]["omch2"]["outside"] == int((x[:, 1] > hi[1]).sum()) > 0
    assert s["parameters"]["H0"]["max_excess"] == pytest.approx(np.max(np.abs(x[:, 2] - 69.0) / 3.0 - 1), rel=1e-9)
    assert max(s["parameters"], key=lambda p: s["parameters"][p]["outside"]) == "H0"
    rdir = logdir / "report"
    assert (rdir / "report.md").exists() and json.loads((rdir / "report.json").read_text())["fallbacks"] == s["fallbacks"]
    assert s["plots"] and all(os.path.getsize(p) > 1000 for p in s["plots"])

    # Retrain: logged points + 8 new ones around them.
    result = retrain(parent.path, [str(logdir)], extra=8, out_dir=str(tmp_path / "v2"), processes=0,
                     progress=False, log=quiet)
    lineage = result.report["lineage"]
    assert lineage["parent_sha256"] == parent.sha256 and lineage["logs"] == [str(logdir)]
    assert lineage["training_set"] == parent.report["data"]["workdir"]
    assert result.report["version"] == lineage["version"] == "0.1.0+r1" and lineage["parent_version"] == "0.1.0"
    assert lineage["recomputed"] == 0  # the router's log carries the archive's own outputs
    assert lineage["added_points"] == s["fallbacks"] + 8 and lineage["logged_test"] >= 1
    assert result.report["data"]["test"] == 16 + lineage["logged_test"]
    assert result.report["accuracy"] and result.report["summary"]["max_relative_error"] < 1
    child = zelos.load(result.path)
    region = child.region
    assert list(child.parameters) == list(NARROW)
    # The new trust region holds every logged point it trained on (the whole check, not the box).
    logged_train, _ = _logged_split(result, len(zelos.load(parent.path).region["points"]))
    assert len(logged_train) == lineage["logged_train"] and _inside(result.path, logged_train).all()
    after = _fallback_rate(result.path, pts, OUTPUTS)
    assert after < before
    # No point of the parent's build folder was computed again: only the 8 extra ones (before the
    # build, which reused everything).
    assert lineage["computed"] == 8 and result.report["data"]["computed"] == 0
    with capsys.disabled():
        print(f"\n[active learning] fallback rate over the same {n} points: before {before:.0%}, after retrain "
              f"{after:.0%} (parent box H0 {NARROW['H0']}, new {region['lower'][2]:.2f}..{region['upper'][2]:.2f}; "
              f"max rel. error {result.report['summary']['max_relative_error']:.2g})")


def _beyond_each_face(half_widths: float) -> list:
    """One point beyond each face of the NARROW box, `half_widths` from its centre along one axis
    (the others at the centre): a held-out one lies beyond every other point on its axis."""
    centre = {p: 0.5 * (lo + hi) for p, (lo, hi) in NARROW.items()}
    return [dict(centre, **{p: centre[p] + side * half_widths * 0.5 * (hi - lo)})
            for p, (lo, hi) in NARROW.items() for side in (-1, 1)]


def test_the_new_trust_region_is_that_of_the_training_points(narrow, driver, tmp_path):
    points = _beyond_each_face(4.0)
    log = _write_log(tmp_path / "log", [(p, "outside_every_region", _outputs(driver, p)) for p in points])
    result = retrain(narrow.path, [log], out_dir=str(tmp_path / "v2"), holdout=0.5, processes=0, progress=False,
                     log=quiet)
    lineage = result.report["lineage"]
    parent_points = zelos.load(narrow.path).region["points"]
    logged_train, held = _logged_split(result, len(parent_points))
    assert len(logged_train) == len(held) == 3

    child = zelos.load(result.path)
    trained = child.region["points"]
    # The region data are those of the training points: the parent's and the logged training ones.
    np.testing.assert_array_equal(trained, np.vstack([parent_points, logged_train]))
    lower, upper = trained.min(axis=0), trained.max(axis=0)
    for j, p in enumerate(NARROW):
        lo, hi = NARROW[p]
        assert lineage["box"][p]["parent"] == [lo, hi]
        assert lineage["box"][p]["new"] == [child.region["lower"][j], child.region["upper"][j]]
        assert child.region["lower"][j] == pytest.approx(lower[j] - 1e-3 * (hi - lo) if lower[j] < lo else lo)
        assert child.region["upper"][j] == pytest.approx(upper[j] + 1e-3 * (hi - lo) if upper[j] > hi else hi)
    # Every logged training point is inside the full new region: 4 half-widths out is beyond the
    # parent's Mahalanobis threshold, which the retrain widened to hold them.
    assert _inside(result.path, logged_train).all()
    assert lineage["threshold"]["parent"] == {"chi2_quantile": 0.999}
    assert set(lineage["threshold"]["new"]) == {"pico"}
    assert child.spec["trust"]["threshold"] == lineage["threshold"]["new"]
    # Each held-out logged point was outside the old region and lies beyond every training point:
    # the network never saw anything there, so the new region leaves it out.
    assert not _inside(narrow.path, held).any()
    assert (((held < lower) | (held > upper)).any(axis=1)).all()
    assert not _inside(result.path, held).any()


def test_retrain_keeps_each_good_logged_point_once(narrow, driver, tmp_path):
    parent_train = zelos.load(narrow.path).region["points"]
    names = list(NARROW)
    pa, pe, pf, pg = ({"ombh2": 0.0226, "omch2": 0.135 + 0.002 * i, "H0": 73.0 + i} for i in range(4))
    pb = {"ombh2": 0.0226, "omch2": 0.121, "H0": 75.0}
    known = dict(zip(names, map(float, parent_train[0])))
    broken = {o: v.copy() for o, v in _outputs(driver, pb).items()}
    broken["H"][2] = np.nan
    rows = [
        (pa, "outside_every_region", _outputs(driver, pa)),
        (pa, "outside_every_region", _outputs(driver, pa)),  # duplicate
        (pb, "outside_every_region", broken),  # failed: a non-finite output
        (dict(pa, ombh2=float("nan")), "non_finite_input", None),  # failed: a non-finite parameter
        (pg, "spot_check", _outputs(driver, pg)),  # unusable: a spot check is no fallback
        ({"ombh2": 0.0226, "omch2": 0.12}, "missing_parameter", None),  # unusable: no H0
        (dict(pg, H0=74.5, mnu=0.1), "outside_every_region", _outputs(driver, pg)),  # unusable: another mnu
        (known, "outside_every_region", _outputs(driver, known)),  # already in the training set
        (pe, "outside_every_region", {o: np.full_like(v, np.nan) for o, v in _outputs(driver, pe).items()}),  # failed
        (pe, "outside_every_region", _outputs(driver, pe)),  # ...then logged again, fine: kept
        (pf, "outside_every_region", {"Hubble": np.ones(3)}),  # other outputs: computed again
        (pf, "outside_every_region", {"Hubble": np.ones(3)}),  # duplicate
        (pa, "outside_every_region", None),  # duplicate of a point logged with its outputs
        (pg, "outside_every_region", _outputs(driver, pg)),
    ]
    log = _write_log(tmp_path / "log", rows)
    result = retrain(narrow.path, [log], out_dir=str(tmp_path / "v2"), processes=0, progress=False, log=quiet)
    lineage = result.report["lineage"]
    assert lineage["dropped"] == {"unusable": 3, "failed": 3, "duplicate": 3, "known": 1}
    assert lineage["added_points"] == lineage["logged_train"] + lineage["logged_test"] == 4
    assert lineage["logged_test"] == 1 and lineage["recomputed"] == 1 and lineage["failed"] == 0
    train, test = (load_training_set(os.path.join(result.report["data"]["workdir"], s)) for s in ("train", "test"))
    n_train = len(parent_train)
    added = np.vstack([train.params[n_train:], test.params[lineage["parent_test"]:]])
    assert sorted(map(tuple, added)) == sorted(tuple(p[n] for n in names) for p in (pa, pe, pf, pg))
    # A point logged both failed and fine is stored once, with the outputs of the fine record.
    hits = [(store, row) for store in (train, test)
            for row in np.flatnonzero((store.params == [pe[n] for n in names]).all(axis=1))]
    assert len(hits) == 1
    store, row = hits[0]
    np.testing.assert_allclose(store.outputs["H"][row], _outputs(driver, pe)["H"], rtol=1e-6)


def test_a_record_on_other_grids_is_computed_again(narrow, driver, tmp_path):
    # Outputs logged in another emulator's schema (same names and shapes, its own z grid) are not
    # this archive's: the point is kept, its outputs computed again; on the archive's grid, reused.
    grid = {f"grid.{axis}": np.asarray(g, float) for axis, g in zelos.load(narrow.path).grids.items()}
    other = {k: v * 1.01 for k, v in grid.items()}
    pa, pb = ({"ombh2": 0.0226, "omch2": 0.121, "H0": 74.0 + i} for i in range(2))
    log = _write_log(tmp_path / "log", [(pa, "outside_every_region", {**_outputs(driver, pa), **grid}),
                                        (pb, "outside_every_region", {**_outputs(driver, pb), **other})])
    lines = []
    result = retrain(narrow.path, [log], out_dir=str(tmp_path / "v2"), processes=0, progress=False,
                     log=lambda *a, **k: lines.append(" ".join(map(str, a))))
    lineage = result.report["lineage"]
    assert lineage["reused"] == 1 and lineage["recomputed"] == 1 and lineage["computed"] == 1
    assert any("1 with the archive's outputs, reused as logged; 1 without them" in line for line in lines), lines


def _theory_likelihood(_self=None):
    """A likelihood of the background alone: H at two redshifts and rdrag (Cobaya's external form)."""
    h = _self.provider.get_Hubble([0.5, 1.2])
    return float(-0.5 * ((h[0] - 90.0) ** 2 + (h[1] - 130.0) ** 2) / 100.0 - (_self.provider.get_param("rdrag")
                                                                                - 147.0) ** 2 / 2.0)


def test_cobaya_logs_fallback_points_in_the_emulators_schema_and_retrain_reuses_them(narrow, driver, tmp_path,
                                                                                     monkeypatch):
    pytest.importorskip("cobaya")
    from cobaya.model import get_model
    from zelos.drivers.camb import CambDriver

    logdir = tmp_path / "log"
    info = {"theory": {"zelos": {"emulators": [narrow.path], "log": str(logdir), "check_at_start": False}},
            "likelihood": {"bg": {"external": _theory_likelihood, "requires": {"Hubble": {"z": [0.5, 1.2]},
                                                                                "rdrag": None}}},
            "params": {p: {"prior": {"min": lo - 5 * (hi - lo), "max": hi + 5 * (hi - lo)}} for p, (lo, hi)
                       in NARROW.items()}}
    outside = [{"ombh2": 0.0226, "omch2": 0.121, "H0": 75.0}, {"ombh2": 0.0221, "omch2": 0.135, "H0": 62.5}]
    model = get_model(info)
    try:
        for point in outside:
            assert np.isfinite(model.loglikes(point)[0]).all()
        assert model.theory["zelos"].summary()["fallbacks_by_reason"] == {"outside_every_region": 2}
    finally:
        model.close()
    records = zelos.read_point_log(str(logdir))
    assert len(records) == 2
    emu = zelos.load(narrow.path)
    for point, record in zip(outside, records):
        assert record["parameters"] == point
        truth = driver.compute(point)  # the emulator's own driver, run again here to compare
        for name in OUTPUTS:
            np.testing.assert_allclose(record["outputs"][name], truth[name], rtol=1e-6, err_msg=name)
            assert record["outputs"][name].shape == emu.outputs[name].shape
        for axis, grid in emu.grids.items():
            np.testing.assert_array_equal(record["outputs"][f"grid.{axis}"], grid)
        assert record["outputs"]["Hubble"].shape == (2,)  # and what the likelihood asked for, as before

    calls = []
    original = CambDriver.compute
    monkeypatch.setattr(CambDriver, "compute", lambda self, params: calls.append(params) or original(self, params))
    lines = []
    result = retrain(narrow.path, [str(logdir)], out_dir=str(tmp_path / "v2"), processes=0, progress=False,
                     log=lambda *a, **k: lines.append(" ".join(map(str, a))))
    lineage = result.report["lineage"]
    assert calls == []  # CAMB never ran: the logged outputs were trained on as they are
    assert lineage["reused"] == lineage["added_points"] == 2
    assert lineage["recomputed"] == lineage["computed"] == 0 and result.report["data"]["computed"] == 0
    assert any("2 with the archive's outputs, reused as logged; 0 without them" in line for line in lines), lines
    train, test = (load_training_set(os.path.join(result.report["data"]["workdir"], s)) for s in ("train", "test"))
    for point, record in zip(outside, records):
        x = [point[n] for n in NARROW]
        [(store, row)] = [(st, r) for st in (train, test) for r in np.flatnonzero((st.params == x).all(axis=1))]
        np.testing.assert_allclose(store.outputs["H"][row], record["outputs"]["H"], rtol=1e-6)


@pytest.fixture(scope="module")
def moved(tmp_path_factory):
    """A cheap parent built in one folder, which was then moved with its build folder (the path
    its report records is gone)."""
    d = tmp_path_factory.mktemp("moved")
    spec = _spec_file(str(d), points=12, test_points=3, epochs=3)
    build(spec, BuildOptions(out_dir=str(d / "built"), progress=False, plots=False), log=quiet)
    os.rename(d / "built", d / "moved")
    return str(d / "moved" / "tiny_test.tar.gz")


def test_the_training_set_is_found_where_the_build_left_it(narrow, moved, tmp_path):
    beside = os.path.join(os.path.dirname(moved), "tiny_test.build")
    assert not os.path.exists(zelos.load(moved).report["data"]["workdir"])
    assert training_set_folder(moved) == beside
    assert training_set_folder(moved, workdir=beside) == beside
    # Another build's training set (same spec, other points) is not this archive's.
    other = narrow.report["data"]["workdir"]
    with pytest.raises(TrainingSetNotFound, match="training points are not the 12 the archive was trained on"):
        training_set_folder(moved, workdir=other)
    # An archive alone (as from a hub): every folder tried is named, and what to do.
    alone = tmp_path / "tiny_test.tar.gz"
    shutil.copy(moved, alone)
    with pytest.raises(TrainingSetNotFound) as e:
        training_set_folder(str(alone))
    message = str(e.value)
    assert "data.workdir" in message and str(tmp_path / "tiny_test.build") in message
    assert "--workdir" in message and "zelos build" in message


def test_the_command_line_retrains_an_archive_whose_folder_moved(narrow, moved, driver, tmp_path):
    points = _beyond_each_face(2.5)
    log = _write_log(tmp_path / "log", [(p, "outside_every_region", _outputs(driver, p)) for p in points])
    out = tmp_path / "v2"
    cmd = [sys.executable, "-m", "zelos", "retrain", moved, "--points", log, "--processes", "0", "--quiet"]
    proc = subprocess.run(cmd + ["--out", str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Retraining tiny_test 0.1.0 -> 0.1.0+r1" in proc.stdout and "Against the parent:" in proc.stdout
    child = zelos.load(str(out / "tiny_test.tar.gz"))
    lineage = child.report["lineage"]
    assert lineage["parent_sha256"] == zelos.load(moved).sha256
    assert lineage["training_set"] == os.path.join(os.path.dirname(moved), "tiny_test.build")
    assert lineage["logged_train"] + lineage["logged_test"] == len(points)
    # A --workdir that holds another archive's training set: a clear refusal, no traceback.
    proc = subprocess.run(cmd + ["--out", str(tmp_path / "v3"), "--workdir", narrow.report["data"]["workdir"]],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and proc.stderr.startswith("zelos retrain: ") and "Traceback" not in proc.stderr
    assert "not the 12 the archive was trained on" in proc.stderr


def test_retrain_without_build_folder(tmp_path):
    spec = yaml.safe_load(open(TINY))
    spec_path = tmp_path / "s.yaml"
    spec["sampling"]["points"], spec["sampling"]["test_points"], spec["training"]["epochs"] = 8, 2, 2
    spec_path.write_text(yaml.safe_dump(spec))
    res = build(str(spec_path), BuildOptions(out_dir=str(tmp_path), progress=False, plots=False),
                log=quiet)
    shutil.rmtree(res.report["data"]["workdir"])
    with pytest.raises(FileNotFoundError, match="data.workdir"):
        retrain(res.path, [str(tmp_path)], out_dir=str(tmp_path / "o"), log=quiet)


def test_a_retrained_spec_has_a_derived_version():
    from zelos.learning.retrain import derived_version

    assert derived_version("1.0.0") == "1.0.0+r1"
    assert derived_version("1.0.0+r1") == "1.0.0+r2"
    assert derived_version("1.0.0+r9") == "1.0.0+r10"
    assert derived_version("2.1+cpu") == "2.1+cpu.r1"
    assert derived_version("2.1+cpu.r3") == "2.1+cpu.r4"


def test_a_planck_style_chain_logs_As_and_the_retrain_reads_logA():
    # Cobaya's Planck-style chains sample logA and pass CAMB's As to the theory.
    from zelos.learning.records import emulator_names

    record = {"parameters": {"ombh2": 0.0224, "As": 2.1e-9}, "outputs": {}}
    out = emulator_names(record, ["ombh2", "logA"])
    assert out["parameters"]["logA"] == pytest.approx(np.log(21.0), rel=1e-12)
    assert "logA" not in record["parameters"]  # the record itself is left alone
    assert emulator_names(record, ["ombh2", "As"]) is record


def test_keep_box_leaves_points_beyond_the_spec_box_to_the_code(narrow, driver, tmp_path):
    # A chain's far proposals widened the w0wa box and made a retrain 5-20x worse
    # (docs/active-learning.md): with keep_box they are dropped and the box stays the spec's.
    names = list(NARROW)
    inside = [{"ombh2": 0.0216, "omch2": 0.111, "H0": 71.8}, {"ombh2": 0.0234, "omch2": 0.129, "H0": 66.3}]
    beyond = [{"ombh2": 0.0226, "omch2": 0.121, "H0": 75.0}, {"ombh2": 0.0250, "omch2": 0.121, "H0": 68.0}]
    log = _write_log(tmp_path / "log", [(p, "outside_every_region", _outputs(driver, p)) for p in inside + beyond])
    result = retrain(narrow.path, [log], extra=6, sigmas=3.0, out_dir=str(tmp_path / "v2"), processes=0,
                     progress=False, keep_box=True, log=quiet)
    lineage = result.report["lineage"]
    assert lineage["dropped"]["outside_box"] == 2
    assert lineage["added_points"] == 2 + 6 and lineage["extra"] == 6
    new = zelos.load(result.path)
    for p in names:
        assert list(new.spec["parameters"][p]["range"] if isinstance(new.spec["parameters"][p], dict)
                    else new.spec["parameters"][p]) == NARROW[p], p
        assert lineage["box"][p]["new"] == lineage["box"][p]["parent"], p
    train = load_training_set(os.path.join(result.report["data"]["workdir"], "train"))
    lo, hi = np.array([NARROW[n] for n in names]).T
    assert ((train.params >= lo) & (train.params <= hi)).all()


def test_the_spec_region_holds_its_constraints():
    from zelos.learning.retrain import in_spec_region

    spec = {"parameters": {"w": {"range": [-3.0, 1.0]}, "wa": [-3.0, 2.0]},
            "constraints": [{"terms": {"w": 1.0, "wa": 1.0}, "max": -0.7}]}
    x = np.array([[-1.0, 0.0], [-0.5, 0.0], [-0.5, -0.3], [-3.5, 0.0], [-1.0, 2.5]])
    assert in_spec_region(spec, ["w", "wa"], x).tolist() == [True, False, True, False, False]

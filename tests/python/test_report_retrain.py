"""`zelos report` and `zelos retrain` end to end with the tiny CAMB spec: an emulator on a narrow
box, fallback points outside it logged with real CAMB outputs, the report, a retrain, and the
fallback rate of a second pass over the same points before and after (printed; run with -s)."""

import json
import os

import numpy as np
import pytest
import yaml

pytest.importorskip("camb")

import zelos
from zelos.build import BuildOptions, build
from zelos.build.plan import plan as make_plan
from zelos.drivers import get_driver
from zelos.report import report
from zelos.retrain import retrain
from zelos.routing import Router

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = os.path.join(ROOT, "specs", "tiny_test.yaml")
NARROW = {"ombh2": [0.0215, 0.0235], "omch2": [0.11, 0.13], "H0": [66.0, 72.0]}


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


def test_report_and_retrain(tmp_path, capsys):
    spec = yaml.safe_load(open(TINY))
    spec["parameters"] = NARROW
    spec_path = tmp_path / "narrow.yaml"
    spec_path.write_text(yaml.safe_dump(spec, sort_keys=False))
    parent = build(str(spec_path), BuildOptions(out_dir=str(tmp_path / "v1"), progress=False, plots=False),
                   log=lambda *a, **k: None)

    # A "chain" that went further in H0 (and a little in omch2) than the box.
    rng = np.random.default_rng(5)
    n = 40
    pts = [{"ombh2": float(rng.uniform(0.0218, 0.0232)), "omch2": float(rng.uniform(0.112, 0.134)),
            "H0": float(rng.uniform(63.0, 77.0))} for _ in range(n)]
    zspec = zelos.load_spec(str(spec_path))
    driver = get_driver("camb", zspec["code"]["settings"], make_plan(zspec).request, version=zspec["code"]["version"])
    outputs = ["H", "D_M", "rdrag"]
    logdir = tmp_path / "log"
    before = _fallback_rate(parent.path, pts, outputs, log=str(logdir), driver=driver)

    # Report: counts, reasons, attribution, files.
    s = report([str(logdir)], archive=parent.path, log=lambda *a, **k: None)
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
                     progress=False, log=lambda *a, **k: None)
    lineage = result.report["lineage"]
    assert lineage["parent_sha256"] == parent.sha256 and lineage["logs"] == [str(logdir)]
    assert result.report["version"] == lineage["version"] == "0.1.0+r1" and lineage["parent_version"] == "0.1.0"
    assert lineage["recomputed"] == 0  # the router's log carries the archive's own outputs
    assert lineage["added_points"] == s["fallbacks"] + 8 and lineage["logged_test"] >= 1
    assert result.report["data"]["test"] == 16 + lineage["logged_test"]
    assert result.report["accuracy"] and result.report["summary"]["max_relative_error"] < 1
    child = zelos.load(result.path)
    region = child.region
    assert list(child.parameters) == list(NARROW)
    assert np.all(x >= region["lower"]) and np.all(x <= region["upper"])
    after = _fallback_rate(result.path, pts, outputs)
    assert after < before
    # No point was recomputed from the parent's build folder.
    assert result.report["data"]["computed"] == 8
    with capsys.disabled():
        print(f"\n[active learning] fallback rate over the same {n} points: before {before:.0%}, after retrain "
              f"{after:.0%} (parent box H0 {NARROW['H0']}, new {region['lower'][2]:.2f}..{region['upper'][2]:.2f}; "
              f"max rel. error {result.report['summary']['max_relative_error']:.2g})")


def test_retrain_without_build_folder(tmp_path):
    spec = yaml.safe_load(open(TINY))
    spec_path = tmp_path / "s.yaml"
    spec["sampling"]["points"], spec["sampling"]["test_points"], spec["training"]["epochs"] = 8, 2, 2
    spec_path.write_text(yaml.safe_dump(spec))
    res = build(str(spec_path), BuildOptions(out_dir=str(tmp_path), progress=False, plots=False),
                log=lambda *a, **k: None)
    import shutil

    shutil.rmtree(res.report["data"]["workdir"])
    with pytest.raises(FileNotFoundError, match="data.workdir"):
        retrain(res.path, [str(tmp_path)], out_dir=str(tmp_path / "o"), log=lambda *a, **k: None)


def test_a_retrained_spec_has_a_derived_version():
    from zelos.retrain import derived_version

    assert derived_version("1.0.0") == "1.0.0+r1"
    assert derived_version("1.0.0+r1") == "1.0.0+r2"
    assert derived_version("1.0.0+r9") == "1.0.0+r10"
    assert derived_version("2.1+cpu") == "2.1+cpu.r1"
    assert derived_version("2.1+cpu.r3") == "2.1+cpu.r4"


def test_a_planck_style_chain_logs_As_and_the_retrain_reads_logA():
    # Cobaya's Planck-style chains sample logA and pass CAMB's As to the theory.
    from zelos.retrain import _emulator_names

    record = {"parameters": {"ombh2": 0.0224, "As": 2.1e-9}, "outputs": {}}
    out = _emulator_names(record, ["ombh2", "logA"])
    assert out["parameters"]["logA"] == pytest.approx(np.log(21.0), rel=1e-12)
    assert "logA" not in record["parameters"]  # the record itself is left alone
    assert _emulator_names(record, ["ombh2", "As"]) is record

"""`zelos report` on what real runs leave in their point-log folder: a Cobaya model (real CAMB,
DESI DR2 BAO + Union3) and the MontePython plugin (real CAMB behind the shipped background
emulator).

- the report's calls, emulated fraction and fallbacks by reason are the plugin's own counts
  (from the `stats.HOST.PID.json` each process keeps beside its point log, also mid-run);
- a point inside the box but outside the Mahalanobis ellipsoid, pushed out along one parameter,
  is put down to that parameter;
- the spot checks' |delta logp| per likelihood; the emulator named in the log is found by name
  when it ships with zelos, and the report says so when it cannot be found;
- the `zelos report` command writes report.md, report.json and the plots.

The Cobaya emulator is CAMB_LCDM_background's spec on a narrow box with a small ellipsoid
(chi-square 0.2 quantile, about 1 sigma, inside the box's 1.7 sigma), built once and cached
under build-out/tests/.
"""

import json
import logging
import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("camb")

import zelos  # noqa: E402
from zelos.learning.point_report import mahalanobis_shares, report  # noqa: E402
from zelos.runstats import read_run_stats  # noqa: E402
from small_specs import small_background_spec  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGES = os.path.normpath(os.path.join(ROOT, "..", "shared", "data", "cobaya_packages"))
NARROW = {"ombh2": [0.0212, 0.0232], "omch2": [0.110, 0.130], "H0": [66.8, 70.6]}
PARAMS = {
    "ombh2": {"prior": {"min": 0.019, "max": 0.026}, "ref": 0.0222},
    "omch2": {"prior": {"min": 0.08, "max": 0.16}, "ref": 0.119},
    "H0": {"prior": {"min": 50, "max": 90}, "ref": 68.5},
    "rdrag": None,
}
LIKES = {"bao.desi_dr2": None, "sn.union3": None}
QUIET = dict(log=lambda *a, **k: None)

needs_data = pytest.mark.skipif(
    not os.path.isdir(os.path.join(PACKAGES, "data", "bao_data")),
    reason=f"the likelihood data are not at {PACKAGES} (see ../shared/data/README.md)")


@pytest.fixture(autouse=True)
def _keep_logging():
    """Cobaya adds root handlers on this test's captured stdout: take them away afterwards."""
    handlers, level = logging.root.handlers[:], logging.root.level
    yield
    logging.root.handlers[:] = handlers
    logging.root.setLevel(level)


def tight_spec() -> dict:
    spec = small_background_spec("report_tight_background", "Test fixture: a narrow box and a small trust "
                                 "ellipsoid inside it.", NARROW, epochs=300, points=150, test_points=30)
    spec["trust"] = {"method": ["box", "mahalanobis"], "threshold": {"chi2_quantile": 0.2}}
    return spec


@pytest.fixture(scope="module")
def tight(cached_build):
    return cached_build("report", tight_spec(), log=lambda *a, **k: None)


def pushed_out(emulator, parameter, near) -> dict:
    """A point inside the box and outside the ellipsoid: ``near`` (a point close to the mean)
    moved along ``parameter`` alone to 1.3 times the threshold distance."""
    region, names = emulator.region, list(emulator.parameters)
    mean, cov = region["mean"], region["covariance"]
    threshold = zelos.TrustRegion.from_emulator(emulator).mahalanobis_threshold
    j = names.index(parameter)
    x = np.array([near[n] for n in names])
    direction = np.eye(len(names))[j]
    # d(t)^2 = (x + t e_j - mean)^T C^-1 (x + t e_j - mean): solve for d = 1.3 threshold, t > 0
    p, delta = np.linalg.inv(cov), x - mean
    a, b, c = direction @ p @ direction, 2 * direction @ p @ delta, delta @ p @ delta - (1.3 * threshold) ** 2
    x[j] += (-b + np.sqrt(b * b - 4 * a * c)) / (2 * a)
    assert region["lower"][j] < x[j] < region["upper"][j], "the ellipsoid must be inside the box there"
    return dict(zip(names, map(float, x)))


def test_mahalanobis_shares_put_a_move_along_one_parameter_down_to_it():
    cov = np.array([[1.0, 0.8, 0.0], [0.8, 1.0, 0.0], [0.0, 0.0, 4.0]])
    mean = np.zeros(3)
    shares, d = mahalanobis_shares([[0.0, 3.0, 0.0], [0.0, 0.0, 6.0], [2.0, 2.0, 0.0]], mean, cov)
    np.testing.assert_allclose(shares.sum(axis=1), 1.0)
    np.testing.assert_allclose(shares[0], [0, 1, 0], atol=1e-12)  # along omch2-like axis 1 alone
    np.testing.assert_allclose(shares[1], [0, 0, 1], atol=1e-12)
    np.testing.assert_allclose(shares[2], [0.5, 0.5, 0], atol=1e-12)  # along the correlation: shared
    assert d[1] == pytest.approx(3.0)


@needs_data
def test_cobaya_run_report_counts_attribution_spot_checks_and_cli(tight, tmp_path):
    from cobaya.model import get_model

    emu = zelos.load(tight, out_of_range="ignore")
    mean = dict(zip(emu.parameters, map(float, emu.region["mean"])))
    near = {k: v * (1 + 1e-3) for k, v in mean.items()}
    other = {k: v * (1 - 2e-3) for k, v in mean.items()}
    points = [mean, near,
              pushed_out(emu, "H0", near), pushed_out(emu, "H0", other), pushed_out(emu, "omch2", near),
              dict(near, H0=72.5)]  # outside the box in H0
    log = tmp_path / "log"
    info = {"theory": {"zelos": {"emulators": [tight], "log": str(log), "spot_check": 1.0, "spot_check_seed": 1,
                                 "report_every": 1e-9}},  # a progress line, and a save, every call
            "likelihood": LIKES, "params": PARAMS, "packages_path": PACKAGES}
    model = get_model(info)
    theory = model.theory["zelos"]
    try:
        for p in points:
            assert np.isfinite(model.logposterior(p).logpost)
        # Mid-run: the stats file is there with the counts so far (a crash loses one interval).
        (run,), _ = read_run_stats(str(log))
        mid = theory.summary()
        assert run["calls"] == mid["calls"] == len(points) and not run["final"]
    finally:
        model.close()
    summary = theory.summary()
    assert summary["emulated"] == 2 and summary["fallbacks_by_reason"] == {"outside_every_region": 4}

    s = report([str(log)], archive=tight, **QUIET)
    r = s["runs"]
    # The report's counts are the plugin's own.
    assert (r["calls"], r["emulated"], r["fallback"]) == (summary["calls"], summary["emulated"], summary["fallback"])
    assert r["emulated_fraction"] == pytest.approx(summary["emulated"] / summary["calls"])
    assert r["fallbacks_by_reason"] == summary["fallbacks_by_reason"]
    assert r["processes"] == 1 and r["not_final"] == 0 and r["spot_checks"] == summary["spot_checks"] == 2
    # Attribution: one point out of the box in H0; three inside it but out of the ellipsoid, two
    # pushed along H0 and one along omch2.
    per = s["parameters"]
    assert per["H0"]["outside"] == 1 and per["omch2"]["outside"] == per["ombh2"]["outside"] == 0
    assert s["inside_box"] == 3 and s["ellipsoid"]["outside"] == 3
    assert (per["H0"]["ellipsoid_top"], per["omch2"]["ellipsoid_top"], per["ombh2"]["ellipsoid_top"]) == (2, 1, 0)
    # each pushed point's share of its own parameter is close to 1 (the others barely moved)
    assert per["H0"]["ellipsoid_share"] == pytest.approx(2 / 3, abs=0.05)
    assert per["omch2"]["ellipsoid_share"] == pytest.approx(1 / 3, abs=0.05)
    # Spot checks: |delta logp| per likelihood, as the plugin measured it.
    sc = s["spot_checks"]
    assert sc["n"] == 2 and set(sc["max_abs_delta_logp"]) == set(LIKES)
    for like, v in summary["spot_check_max_abs_delta_logp"].items():
        assert sc["max_abs_delta_logp"][like] == pytest.approx(v, rel=1e-12)
        assert r["spot_check_max_abs_delta_logp"][like] == pytest.approx(v, rel=1e-12)

    # Without --archive: the log names `report_tight_background`, neither a file nor shipped.
    s2 = report([str(log)], out_dir=str(tmp_path / "r2"), **QUIET)
    assert "parameters" not in s2 and "report_tight_background" in s2["archive_note"]
    assert "--archive" in s2["archive_note"] and s2["runs"]["calls"] == summary["calls"]

    # The command: prints the summary and writes its files.
    out = tmp_path / "cli"
    proc = subprocess.run([sys.executable, "-m", "zelos", "report", str(log), "--archive", tight, "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"{summary['calls']} calls in 1 process(es): 2 emulated (33.3%)" in proc.stdout
    assert "max |delta logp|" in proc.stdout and "ellipsoid top" in proc.stdout
    md = (out / "report.md").read_text()
    assert "## Calls" in md and "| bao.desi_dr2 |" in md and "ellipsoid top" in md
    assert json.loads((out / "report.json").read_text())["runs"]["calls"] == summary["calls"]
    pngs = list((out / "plots").glob("*.png"))
    assert len(pngs) == 3 and all(p.stat().st_size > 1000 for p in pngs)


def test_montepython_run_report_finds_the_shipped_emulator_by_name(tmp_path):
    import zelos.montepython as zmp

    bg = {"omega_b": 0.0224, "omega_cdm": 0.119, "N_ur": 2.0328, "N_ncdm": 1, "m_ncdm": 0.06,
          "zelos_emulators": ["CAMB_LCDM_background"], "zelos_log": str(tmp_path), "zelos_report_every": 1e-9}
    z = zmp.Class()
    for h in (0.68, 0.80, 0.70, 0.55):  # 0.80 and 0.55: H0 outside the box (60-76)
        z.struct_cleanup()
        z.set(dict(bg, h=h))
        z.compute()
        z.rs_drag()
    (run,), _ = read_run_stats(str(tmp_path))
    assert run["calls"] == 4 and not run["final"]
    z.close()
    summary = z.summary()
    s = report([str(tmp_path)], **QUIET)
    assert s["archive_note"] is None and s["archive"]["name"] == "CAMB_LCDM_background"
    assert (s["runs"]["calls"], s["runs"]["emulated"]) == (summary["calls"], summary["emulated"]) == (4, 2)
    assert s["runs"]["emulated_fraction"] == 0.5 and s["runs"]["not_final"] == 0
    assert s["parameters"]["H0"]["outside"] == 2 and s["parameters"]["H0"]["below"] == 1
    assert s["fallbacks"] == 2 and s["plots"]

"""sigma8_z and fsigma8 from an emulator in Cobaya: the shipped CAMB_LCDM_growth beside
CAMB_LCDM_background, with real Cobaya, real CAMB and the real SDSS DR16 BAO + f sigma8
likelihoods (BOSS DR12 + eBOSS LRG, eBOSS QSO; ../shared/data/cobaya_packages)."""

import math
import os

import numpy as np
import pytest

pytest.importorskip("cobaya", reason="cobaya is not installed (pip install zelos[cobaya])")

import zelos  # noqa: E402
from cobaya.model import get_model  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGES = os.path.normpath(os.path.join(ROOT, "..", "shared", "data", "cobaya_packages"))
LIKES = {"bao.sdss_dr16_baoplus_lrg": None, "bao.sdss_dr16_baoplus_qso": None}
EMULATORS = ["CAMB_LCDM_background", "CAMB_LCDM_growth"]
# The growth spec's code.settings (the background's are the same).
CAMB_ARGS = {"mnu": 0.06, "num_massive_neutrinos": 1, "nnu": 3.046, "omk": 0.0}
PARAMS = {"ombh2": None, "omch2": None, "H0": None, "logA": {"prior": {"min": 2.5, "max": 3.6}, "drop": True},
          "As": {"value": "lambda logA: 1e-10 * np.exp(logA)"}, "ns": None,
          "sigma8": {"derived": True}, "S8": {"derived": True}}
INSIDE = [
    {"ombh2": 0.0224, "omch2": 0.1190, "H0": 68.0, "logA": 3.045, "ns": 0.965},
    {"ombh2": 0.0219, "omch2": 0.1100, "H0": 66.0, "logA": 2.950, "ns": 0.950},
    {"ombh2": 0.0230, "omch2": 0.1300, "H0": 71.0, "logA": 3.150, "ns": 0.985},
]
# ns beyond the growth emulator's box (0.90-1.02); the background emulator does not take ns.
OUTSIDE = {"ombh2": 0.0224, "omch2": 0.1190, "H0": 68.0, "logA": 3.045, "ns": 1.05}
Z = [0.0, 0.38, 0.698, 1.2, 2.4]

pytestmark = pytest.mark.skipif(
    not os.path.isdir(os.path.join(PACKAGES, "data", "bao_data")),
    reason=f"the likelihood data are not at {PACKAGES} (see ../shared/data/README.md)")


def _params(camb=False):
    out = {}
    for name, value in PARAMS.items():
        out[name] = value if value is not None else {"prior": {"min": -1e3, "max": 1e3}}
    if camb:  # Cobaya's CAMB has no S8: the usual definition, from its sigma8 and omegam
        out["omegam"] = {"derived": True}
        out["S8"] = {"derived": "lambda sigma8, omegam: sigma8 * np.sqrt(omegam / 0.3)"}
    return out


def _model(theory, extra=None):
    model = get_model({"theory": theory, "likelihood": LIKES, "params": _params(camb="camb" in theory),
                       "packages_path": PACKAGES})
    # what an RSD or weak-lensing likelihood would also ask for
    model.add_requirements({"sigma8_z": {"z": Z}, "fsigma8": {"z": Z[1:]}, **(extra or {})})
    return model


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    log = tmp_path_factory.mktemp("points")
    mz = _model({"zelos": {"emulators": EMULATORS, "log": str(log)}})
    mc = _model({"camb": {"extra_args": dict(CAMB_ARGS)}})
    yield mz, mc, log
    mz.close()
    mc.close()


def _evaluate(model, point):
    result = model.logposterior(point)
    p = model.provider
    return (np.asarray(result.loglikes), np.asarray(p.get_sigma8_z(Z)), np.asarray(p.get_fsigma8(Z[1:])),
            dict(zip(model.parameterization.derived_params(), result.derived)))


def _documented(name, output):
    return zelos.get_emulator(name).report["accuracy"][output]["rel"]["max"]


def test_growth_requirements_are_emulated_within_the_documented_accuracy(models):
    mz, mc, _ = models
    for point in INSIDE:
        lz, s8z, fs8z, dz = _evaluate(mz, point)
        lc, s8c, fs8c, dc = _evaluate(mc, point)
        # eBOSS measures f sigma8 to 4-10% and D/r_d to 1-2%: a 1e-4 error is far below 0.01 in log L
        np.testing.assert_allclose(lz, lc, atol=0.01, err_msg=str(point))
        # the spline between grid redshifts adds < 1e-6 to the network's error
        np.testing.assert_allclose(s8z, s8c, rtol=2 * _documented("CAMB_LCDM_growth", "sigma8_z") + 1e-6)
        np.testing.assert_allclose(fs8z, fs8c, rtol=2 * _documented("CAMB_LCDM_growth", "fsigma8") + 1e-6)
        for name in ("sigma8", "S8"):
            assert dz[name] == pytest.approx(dc[name], rel=2 * _documented("CAMB_LCDM_growth", name)), name
    summary = mz.theory["zelos"].summary()
    assert summary["fallback"] == 0 and summary["emulated"] == summary["calls"] >= len(INSIDE), summary


def test_start_up_says_which_emulator_serves_the_growth(caplog):
    import logging

    caplog.set_level(logging.INFO)
    model = _model({"zelos": {"emulators": EMULATORS}})
    try:
        text = caplog.text
        assert "fsigma8: emulated (fsigma8 <- CAMB_LCDM_growth)" in text, text
        assert "sigma8_z: emulated (sigma8_z <- CAMB_LCDM_growth)" in text, text
        assert "Hubble: emulated (H <- CAMB_LCDM_background)" in text, text
    finally:
        model.close()


def test_outside_the_growth_box_the_point_is_camb_to_round_off_and_logged(models):
    mz, mc, log = models
    lz, s8z, fs8z, dz = _evaluate(mz, OUTSIDE)
    lc, s8c, fs8c, dc = _evaluate(mc, OUTSIDE)
    np.testing.assert_allclose(lz, lc, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(s8z, s8c, rtol=1e-12)
    np.testing.assert_allclose(fs8z, fs8c, rtol=1e-12)
    assert dz["S8"] == pytest.approx(dc["S8"], rel=1e-12)
    mz.theory["zelos"]._point_log.flush()
    records = [r for r in zelos.read_point_log(str(log)) if r["reason"] == "outside_every_region"]
    assert records, "the point computed by CAMB is in the log"
    last = records[-1]
    assert last["parameters"]["ns"] == pytest.approx(1.05) and "ns" in last["detail"], last["detail"]
    # logged at every redshift asked for (the likelihoods' and ours), with those redshifts
    z_logged = list(np.asarray(last["outputs"]["fsigma8.z"]))
    mine = np.asarray(last["outputs"]["fsigma8"])[[z_logged.index(z) for z in Z[1:]]]
    np.testing.assert_allclose(mine, fs8c, rtol=1e-12)


def test_a_redshift_beyond_the_grid_goes_to_camb():
    """fsigma8 at z = 3 (the grid ends at 2.5): computed by CAMB at every point, said at start-up."""
    point = dict(INSIDE[0])
    mz = get_model({"theory": {"zelos": {"emulators": EMULATORS}}, "likelihood": LIKES, "params": _params(),
                    "packages_path": PACKAGES})
    mc = get_model({"theory": {"camb": {"extra_args": dict(CAMB_ARGS)}}, "likelihood": LIKES, "params": _params(True),
                    "packages_path": PACKAGES})
    try:
        for m in (mz, mc):
            m.add_requirements({"fsigma8": {"z": [0.5, 3.0]}})
            m.logposterior(point)
        assert [n.label for n in mz.theory["zelos"]._rest_needs] == ["fsigma8"]
        np.testing.assert_allclose(mz.provider.get_fsigma8([0.5, 3.0]), mc.provider.get_fsigma8([0.5, 3.0]),
                                   rtol=1e-12)
    finally:
        mz.close()
        mc.close()


def test_the_shipped_growth_emulator_agrees_with_camb_between_its_redshifts():
    """The archive itself, splined between its grid's redshifts, near the box's edges in logA."""
    from scipy.interpolate import CubicSpline

    emu = zelos.get_emulator("CAMB_LCDM_growth")
    assert emu.parameters == ("ombh2", "omch2", "H0", "logA", "ns")
    grid = emu.grids[emu.outputs["sigma8_z"].axes[0]]
    z = [0.05, 0.33, 0.77, 1.91]
    bound = 2 * max(_documented("CAMB_LCDM_growth", o) for o in ("sigma8_z", "fsigma8")) + 1e-6
    for logA in (2.85, 3.25):
        point = {"ombh2": 0.0222, "omch2": 0.118, "H0": 67.5, "logA": logA, "ns": 0.96}
        params = {**{k: v for k, v in point.items() if k != "logA"}, "As": 1e-10 * math.exp(logA)}
        camb = get_model({"theory": {"camb": {"extra_args": dict(CAMB_ARGS)}}, "likelihood": {"one": None},
                          "params": params})
        camb.add_requirements({"sigma8_z": {"z": z}, "fsigma8": {"z": z}})
        camb.logposterior({})
        out = emu(point)
        np.testing.assert_allclose(CubicSpline(grid, out["sigma8_z"])(z), camb.provider.get_sigma8_z(z), rtol=bound)
        np.testing.assert_allclose(CubicSpline(grid, out["fsigma8"])(z), camb.provider.get_fsigma8(z), rtol=bound)
        camb.close()

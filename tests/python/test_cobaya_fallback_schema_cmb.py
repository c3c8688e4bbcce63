"""A CMB emulator's fallback points are logged as training data: a Planck-lite run with
CAMB_LCDM_CMB, at a point outside its region, logs the emulator's own outputs (lensed D_l to
l = 2508, phi-phi, H and D_A on its z grid, sigma8 and the other derived parameters) read from
Cobaya's CAMB run, equal to what the emulator's own CAMB driver computes at that point, so that
`zelos retrain` trains on them without running CAMB again.

Cobaya's camb sets `Want_cl_2D_array` False where camb.set_params sets True; until the driver
knew that this field changes only how C_l are stored, no CMB fallback point was reusable."""

import os

import numpy as np
import pytest

pytest.importorskip("cobaya", reason="cobaya is not installed (pip install zelos-cosmo[cobaya])")

import zelos  # noqa: E402
from cobaya.model import get_model  # noqa: E402

from zelos.build.plan import plan as make_plan  # noqa: E402
from zelos.drivers import get_driver  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGES = os.path.normpath(os.path.join(ROOT, "..", "shared", "data", "cobaya_packages"))
NAME = "CAMB_LCDM_CMB"

pytestmark = pytest.mark.skipif(not os.path.isdir(os.path.join(PACKAGES, "data")),
                                reason=f"the likelihood data are not at {PACKAGES}")

PARAMS = {"ombh2": 0.02237, "omch2": {"prior": {"min": 0.08, "max": 0.16}}, "cosmomc_theta": 0.0104092,
          "tau": 0.0544, "logA": {"value": 3.044, "drop": True}, "As": "lambda logA: 1e-10 * np.exp(logA)",
          "ns": 0.9649, "A_planck": 1.0}


def test_a_cmb_fallback_point_is_logged_in_the_emulators_schema(tmp_path):
    logdir = tmp_path / "log"
    info = {"likelihood": {"planck_2018_highl_plik.TTTEEE_lite_native": None}, "params": PARAMS,
            "packages_path": PACKAGES,
            "theory": {"zelos": {"emulators": [NAME], "log": str(logdir), "check_at_start": False}}}
    point = {"omch2": 0.145}  # Planck's sigma(omch2) is 0.0012: far outside the region
    model = get_model(info)
    try:
        assert np.isfinite(model.loglikes(point)[0]).all()
        assert model.theory["zelos"].summary()["fallbacks_by_reason"] == {"outside_every_region": 1}
    finally:
        model.close()
    [record] = zelos.read_point_log(str(logdir))

    emu = zelos.get_emulator(NAME)
    full = {**{k: v for k, v in PARAMS.items() if not isinstance(v, (dict, str))}, **point}
    inputs = {"logA": 3.044, **full}
    missing = [o for o in emu.outputs if o not in record["outputs"]]
    assert not missing, f"not logged in {NAME}'s schema: {missing}"
    spec = emu.spec
    driver = get_driver("camb", spec["code"]["settings"], make_plan(spec).request, version=spec["code"]["version"])
    truth = driver.compute({p: inputs[p] for p in emu.parameters})
    for name in emu.outputs:
        logged = record["outputs"][name]
        assert logged.shape == emu.outputs[name].shape, name
        np.testing.assert_allclose(logged, truth[name], rtol=1e-6, atol=1e-12, err_msg=name)
    for axis, grid in emu.grids.items():
        np.testing.assert_array_equal(record["outputs"][f"grid.{axis}"], grid)

"""Switching between CMB emulators in one run: a Planck-lite + DESI DR2 chain that samples w and
wa as Cobaya's camb takes them, with the ΛCDM and the w0wa CMB emulators loaded, sends a point at
w = -1, wa = 0 to CAMB_LCDM_CMB (both cover it; the ΛCDM one has the smaller validated Δχ² on
every likelihood both were checked on, and the router ranks by that) and a w0wa point to
CAMB_w0wa_CMB, the only one that varies w and wa; each agrees with Cobaya's camb at the same
point (PPF dark energy). The order holds for the two emulators loaded in either order."""

import os

import numpy as np
import pytest

pytest.importorskip("cobaya", reason="cobaya is not installed (pip install zelos-cosmo[cobaya])")

import zelos  # noqa: E402
from cobaya.model import get_model  # noqa: E402

from zelos.shipped import shipped_names  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGES = os.path.normpath(os.path.join(ROOT, "..", "shared", "data", "cobaya_packages"))
LIKES = {"planck_2018_highl_plik.TTTEEE_lite_native": None, "bao.desi_dr2": None}
LCDM, W0WA = "CAMB_LCDM_CMB", "CAMB_w0wa_CMB"

pytestmark = [pytest.mark.skipif(not os.path.isdir(os.path.join(PACKAGES, "data")),
                                 reason=f"the likelihood data are not at {PACKAGES}"),
              pytest.mark.skipif(W0WA not in shipped_names(), reason=f"{W0WA} is not shipped yet")]

PARAMS = {"ombh2": 0.02237, "omch2": {"prior": {"min": 0.11, "max": 0.13}}, "cosmomc_theta": 0.0104092,
          "tau": 0.0544, "logA": {"value": 3.044, "drop": True}, "As": "lambda logA: 1e-10 * np.exp(logA)",
          "ns": 0.9649, "A_planck": 1.0, "w": {"prior": {"min": -2.0, "max": 0.0}},
          "wa": {"prior": {"min": -3.0, "max": 1.0}}}


@pytest.fixture(scope="module")
def models():
    info = {"likelihood": LIKES, "params": PARAMS, "packages_path": PACKAGES}
    # The w0wa emulator listed first: the rank, not the order of the list, decides.
    mz = get_model({**info, "theory": {"zelos": {"emulators": [W0WA, LCDM], "check_at_start": False}}})
    settings = dict(zelos.get_emulator(W0WA).spec["code"]["settings"])
    mc = get_model({**info, "theory": {"camb": {"extra_args": settings}}})
    yield mz, mc
    mz.close()
    mc.close()


def test_lcdm_points_go_to_the_lcdm_cmb_emulator_and_w0wa_points_to_the_w0wa_one(models):
    mz, mc = models
    for (w, wa), expected in (((-1.0, 0.0), LCDM), ((-0.75, -0.9), W0WA), ((-0.55, -1.5), W0WA)):
        point = {"omch2": 0.1195, "w": w, "wa": wa}
        ours, theirs = mz.loglikes(point)[0], mc.loglikes(point)[0]
        assert mz.theory["zelos"].last_emulators == (expected,), (w, wa)
        # plik-lite and DESI log-likelihoods: a few hundredths at most (docs/accuracy.md)
        np.testing.assert_allclose(ours, theirs, atol=0.05, err_msg=f"w = {w}, wa = {wa}")
    served = mz.theory["zelos"].summary()["emulated_by"]
    assert served == {LCDM: 1, W0WA: 2}

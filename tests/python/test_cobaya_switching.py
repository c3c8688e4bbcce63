"""Switching without datafiles: with `emulators` left out, the Cobaya theory loads every shipped
emulator and sends each point to the most accurate one that covers it. On DESI DR2 + Union3 a
flat LCDM point (w = -1, wa = 0) goes to CAMB_LCDM_background, a w0wa point or one with another
neutrino mass to CAMB_extended_background (which the run does not give mnu, nnu, omk: they are
where the fallback holds them), a point beyond both to CAMB; each agrees with Cobaya's CAMB."""

import logging
import os

import numpy as np
import pytest

pytest.importorskip("cobaya", reason="cobaya is not installed (pip install zelos-cosmo[cobaya])")

import zelos  # noqa: E402
from cobaya.model import get_model  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGES = os.path.normpath(os.path.join(ROOT, "..", "shared", "data", "cobaya_packages"))
LIKES = {"bao.desi_dr2": None, "sn.union3": None}
LCDM, EXTENDED = "CAMB_LCDM_background", "CAMB_extended_background"

pytestmark = pytest.mark.skipif(not os.path.isdir(os.path.join(PACKAGES, "data")),
                                reason=f"the likelihood data are not at {PACKAGES}")


def params(*varied):
    p = {"ombh2": 0.0224, "omch2": {"prior": {"min": 0.10, "max": 0.14}}, "H0": {"prior": {"min": 60, "max": 75}}}
    ranges = {"w": (-3.0, -0.4), "wa": (-2.5, 0.2), "mnu": (0.0, 0.5)}
    p.update({name: {"prior": {"min": ranges[name][0], "max": ranges[name][1]}} for name in varied})
    return p


def camb_settings(emulator=LCDM):
    """What the fallback computes with: the LCDM emulators' settings, PPF dark energy."""
    settings = dict(zelos.get_emulator(emulator).spec["code"]["settings"])
    return {**settings, "dark_energy_model": "ppf"}


@pytest.fixture(scope="module")
def w0wa_models():
    info = {"likelihood": LIKES, "params": params("w", "wa"), "packages_path": PACKAGES}
    mz = get_model({**info, "theory": {"zelos": {}}})  # `emulators` left out: every shipped one
    mc = get_model({**info, "theory": {"camb": {"extra_args": camb_settings()}}})
    yield mz, mc
    mz.close()
    mc.close()


def agreement(mz, mc, point):
    a, b = mz.loglikes(point)[0], mc.loglikes(point)[0]
    return np.abs(np.asarray(a) - np.asarray(b)), mz.theory["zelos"].last_emulators


def test_lcdm_points_go_to_the_lcdm_emulator_and_w0wa_points_to_the_extended_one(w0wa_models):
    mz, mc = w0wa_models
    assert EXTENDED in zelos.shipped.shipped_names()
    diff, used = agreement(mz, mc, dict(omch2=0.12, H0=68.0, w=-1.0, wa=0.0))
    assert used == (LCDM,) and np.all(diff < 0.02), diff
    for w, wa in ((-0.8, -0.6), (-0.7, -1.0), (-1.2, 0.1)):
        diff, used = agreement(mz, mc, dict(omch2=0.118, H0=67.0, w=w, wa=wa))
        assert used == (EXTENDED,) and np.all(diff < 0.05), (w, wa, diff)
    served = mz.theory["zelos"].summary()["emulated_by"]
    assert served[LCDM] >= 1 and served[EXTENDED] >= 3


def test_a_point_beyond_every_region_is_computed_by_camb(w0wa_models):
    mz, mc = w0wa_models
    zelos_theory = mz.theory["zelos"]
    before = zelos_theory.summary()["fallbacks_by_reason"].get("outside_every_region", 0)
    point = dict(omch2=0.12, H0=68.0, w=-2.5, wa=0.0)  # w below the extended emulator's box (-2)
    a, b = mz.loglikes(point)[0], mc.loglikes(point)[0]
    assert zelos_theory.summary()["fallbacks_by_reason"]["outside_every_region"] == before + 1
    np.testing.assert_allclose(a, b, rtol=1e-9)


def test_start_up_says_which_emulator_serves_which_parameters(caplog):
    caplog.set_level(logging.INFO)
    m = get_model({"likelihood": LIKES, "params": params("mnu"), "packages_path": PACKAGES,
                   "theory": {"zelos": {"emulators": "all"}}})
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert f"emulator {EXTENDED} " in text and "over (ombh2, omch2, H0, w, wa, mnu, nnu, omk) serves" in text
    assert f"start-up check: {EXTENDED} agrees with camb" in text
    mc = get_model({"likelihood": LIKES, "params": params("mnu"), "packages_path": PACKAGES,
                    "theory": {"camb": {"extra_args": {k: v for k, v in camb_settings().items() if k != "mnu"}}}})
    # a neutrino mass other than the LCDM emulators' 0.06 eV: the extended emulator
    diff, used = agreement(m, mc, dict(omch2=0.12, H0=68.0, mnu=0.25))
    assert used == (EXTENDED,) and np.all(diff < 0.05), diff
    diff, used = agreement(m, mc, dict(omch2=0.12, H0=68.0, mnu=0.06))
    assert used == (LCDM,) and np.all(diff < 0.02), diff
    m.close()
    mc.close()

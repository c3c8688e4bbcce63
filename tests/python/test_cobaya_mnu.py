"""Σm_ν chains on the shipped CMB emulators: with CAMB_LCDM_CMB and CAMB_mnu_CMB loaded in one
Planck-lite + lensing + DESI DR2 run that samples `mnu` as Cobaya's camb takes it, every point
goes to CAMB_mnu_CMB (the ΛCDM emulator holds mnu at 0.06 eV in one massive eigenstate and
serves none of them), near mnu = 0 too, where DESI pushes the posterior; each agrees with
Cobaya's camb with the emulator's settings (three degenerate eigenstates). The same with
`emulators: all`, where CAMB_extended_background and the matter-power emulators (one massive
eigenstate) are loaded too: the fallback takes the neutrino split of the best-ranked emulator
this run can use, not of one that holds mnu fixed (cobaya/fallback_settings.py)."""

import os

import numpy as np
import pytest

pytest.importorskip("cobaya", reason="cobaya is not installed (pip install zelos-cosmo[cobaya])")

import zelos  # noqa: E402
from cobaya.model import get_model  # noqa: E402

from zelos.shipped import shipped_names  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGES = os.path.normpath(os.path.join(ROOT, "..", "shared", "data", "cobaya_packages"))
LIKES = {"planck_2018_highl_plik.TTTEEE_lite_native": None, "planck_2018_lensing.native": None,
         "bao.desi_dr2": None}
LCDM, MNU = "CAMB_LCDM_CMB", "CAMB_mnu_CMB"

pytestmark = [pytest.mark.skipif(not os.path.isdir(os.path.join(PACKAGES, "data")),
                                 reason=f"the likelihood data are not at {PACKAGES}"),
              pytest.mark.skipif(MNU not in shipped_names(), reason=f"{MNU} is not shipped yet")]

PARAMS = {"ombh2": 0.02242, "omch2": {"prior": {"min": 0.11, "max": 0.13}}, "cosmomc_theta": 0.0104105,
          "tau": 0.057, "logA": {"value": 3.05, "drop": True}, "As": "lambda logA: 1e-10 * np.exp(logA)",
          "ns": 0.967, "A_planck": 1.0, "mnu": {"prior": {"min": 0.0, "max": 5.0}},
          # Asked of both: for Cobaya's camb it switches on the transfer functions, as when the
          # emulator was trained; without them CAMB's lensed C_l move by 1.5e-4 (0.1 in plik's log L)
          "sigma8": None}


@pytest.fixture(scope="module", params=[[LCDM, MNU], "all"], ids=["listed", "all"])
def models(request):
    info = {"likelihood": LIKES, "params": PARAMS, "packages_path": PACKAGES}
    mz = get_model({**info, "theory": {"zelos": {"emulators": request.param, "check_at_start": False}}})
    settings = dict(zelos.get_emulator(MNU).spec["code"]["settings"])
    mc = get_model({**info, "theory": {"camb": {"extra_args": settings}}})
    yield mz, mc
    mz.close()
    mc.close()


@pytest.mark.parametrize("mnu", [0.005, 0.21])
def test_sampled_neutrino_masses_go_to_the_mnu_emulator_and_agree_with_camb(models, mnu):
    mz, mc = models
    point = {"omch2": 0.1186, "mnu": mnu}
    ours, theirs = mz.loglikes(point)[0], mc.loglikes(point)[0]
    assert mz.theory["zelos"].last_emulators == (MNU,), mnu
    # plik-lite, lensing and DESI log-likelihoods: a few hundredths at most (docs/accuracy.md)
    np.testing.assert_allclose(ours, theirs, atol=0.05, err_msg=f"mnu = {mnu}")


def test_the_fallback_uses_the_mnu_emulators_neutrinos(models):
    mz, _ = models
    theory = mz.theory["zelos"]
    assert theory._settings["num_massive_neutrinos"] == 3
    assert theory._settings["neutrino_hierarchy"] == "degenerate"
    assert MNU not in theory._excluded

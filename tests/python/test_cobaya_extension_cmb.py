"""Extension-model chains on the shipped CMB emulators (Σm_ν, N_eff): with CAMB_LCDM_CMB and the
extension's emulator loaded in one Planck-lite + lensing + DESI DR2 run that samples the extension
parameter as Cobaya's camb takes it (`mnu`, `nnu`), every point goes to the extension's emulator
(the ΛCDM one holds mnu at 0.06 eV in one massive eigenstate and N_eff at 3.046, and serves none
of them), near Σm_ν = 0 too, where DESI pushes the posterior; each agrees with Cobaya's camb with
the emulator's settings. The same with `emulators: all`, where CAMB_extended_background and the
matter-power emulators (one massive eigenstate) are loaded too: the fallback takes the settings
of the best-ranked emulator this run can use, not of one that holds the parameter fixed
(cobaya/fallback_settings.py): three degenerate eigenstates for Σm_ν."""

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
LCDM = "CAMB_LCDM_CMB"
# parameter -> (its emulator, its prior, values tested: neither a training point)
MODELS = {"mnu": ("CAMB_mnu_CMB", {"min": 0.0, "max": 5.0}, (0.005, 0.21)),
          "nnu": ("CAMB_nnu_CMB", {"min": 2.0, "max": 4.5}, (2.71, 3.37))}

pytestmark = pytest.mark.skipif(not os.path.isdir(os.path.join(PACKAGES, "data")),
                                reason=f"the likelihood data are not at {PACKAGES}")

PARAMS = {"ombh2": 0.02242, "omch2": {"prior": {"min": 0.11, "max": 0.13}}, "cosmomc_theta": 0.0104105,
          "tau": 0.057, "logA": {"value": 3.05, "drop": True}, "As": "lambda logA: 1e-10 * np.exp(logA)",
          "ns": 0.967, "A_planck": 1.0,
          # Asked of both: for Cobaya's camb it switches on the transfer functions, as when the
          # emulator was trained; without them CAMB's lensed C_l move by 1.5e-4 (0.1 in plik's log L)
          "sigma8": None}

CASES = [(p, e) for p in MODELS for e in ("listed", "all")]


@pytest.fixture(scope="module", params=CASES, ids=[f"{p}-{e}" for p, e in CASES])
def models(request):
    parameter, emulators = request.param
    name, prior, _ = MODELS[parameter]
    if name not in shipped_names():
        pytest.skip(f"{name} is not shipped yet")
    info = {"likelihood": LIKES, "params": {**PARAMS, parameter: {"prior": prior}}, "packages_path": PACKAGES}
    listed = [LCDM, name] if emulators == "listed" else "all"
    mz = get_model({**info, "theory": {"zelos": {"emulators": listed, "check_at_start": False}}})
    settings = dict(zelos.get_emulator(name).spec["code"]["settings"])
    mc = get_model({**info, "theory": {"camb": {"extra_args": settings}}})
    yield parameter, mz, mc
    mz.close()
    mc.close()


def test_sampled_extension_parameters_go_to_their_emulator_and_agree_with_camb(models):
    parameter, mz, mc = models
    name, _, values = MODELS[parameter]
    for value in values:
        point = {"omch2": 0.1186, parameter: value}
        ours, theirs = mz.loglikes(point)[0], mc.loglikes(point)[0]
        assert mz.theory["zelos"].last_emulators == (name,), (parameter, value)
        # plik-lite, lensing and DESI log-likelihoods: a few hundredths at most (docs/accuracy.md)
        np.testing.assert_allclose(ours, theirs, atol=0.05, err_msg=f"{parameter} = {value}")


def test_the_fallback_uses_the_extension_emulators_settings(models):
    parameter, mz, _ = models
    name = MODELS[parameter][0]
    theory = mz.theory["zelos"]
    settings = zelos.get_emulator(name).spec["code"]["settings"]
    for key, value in settings.items():
        if key != parameter:
            assert theory._settings.get(key) == value, key
    assert name not in theory._excluded

"""Extension-model chains on the shipped CMB emulators (Σm_ν, N_eff, Ω_k): with CAMB_LCDM_CMB and the
extension's emulator loaded in one Planck-lite + lensing + DESI DR2 run that samples the extension
parameter as Cobaya's camb takes it (`mnu`, `nnu`, `omk`), every point goes to the extension's emulator
(the ΛCDM one holds mnu at 0.06 eV in one massive eigenstate, N_eff at 3.046 and Ω_k at 0, and serves none
of them), near Σm_ν = 0 too, where DESI pushes the posterior; each agrees with Cobaya's camb with
the emulator's settings. The same with `emulators: all`, where CAMB_extended_background and the
matter-power emulators (one massive eigenstate) are loaded too: the fallback takes the settings
of the best-ranked emulator this run can use, not of one that holds the parameter fixed
(cobaya/fallback_settings.py): three degenerate eigenstates for Σm_ν. There the C_l come from the
extension's emulator; DESI's H and r_drag may come from CAMB_extended_background, which ranks above
CAMB_nnu_CMB (one ranking number per emulator: docs/cobaya.md)."""

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
PLANCK = {"ombh2": 0.02242, "omch2": 0.1186, "cosmomc_theta": 0.0104105, "tau": 0.057, "logA": 3.05, "ns": 0.967}
# parameter -> (its emulator, its prior, points tested: none a training point). N_eff moves along
# its Planck degeneracy (more N_eff, more omega_c, omega_b and n_s, a smaller theta_MC): at
# Planck's other values N_eff = 2.7 lies 9 sigma out, where no chain goes and no region reaches.
MODELS = {"mnu": ("CAMB_mnu_CMB", {"min": 0.0, "max": 5.0}, ({**PLANCK, "mnu": 0.005}, {**PLANCK, "mnu": 0.21})),
          "nnu": ("CAMB_nnu_CMB", {"min": 2.0, "max": 4.5}, (
              {"ombh2": 0.02213, "omch2": 0.1160, "cosmomc_theta": 0.0104136, "tau": 0.0588, "logA": 3.043,
               "ns": 0.954, "nnu": 2.76},
              {"ombh2": 0.02264, "omch2": 0.1240, "cosmomc_theta": 0.0104046, "tau": 0.0621, "logA": 3.071,
               "ns": 0.9767, "nnu": 3.34})),
          # Omega_k within the CMB + BAO posterior (sigma 0.0019), on both sides of flat
          "omk": ("CAMB_omk_CMB", {"min": -0.1, "max": 0.1}, ({**PLANCK, "omk": -0.0042}, {**PLANCK, "omk": 0.0031}))}

pytestmark = pytest.mark.skipif(not os.path.isdir(os.path.join(PACKAGES, "data")),
                                reason=f"the likelihood data are not at {PACKAGES}")

PARAMS = {"ombh2": {"prior": {"min": 0.019, "max": 0.025}}, "omch2": {"prior": {"min": 0.10, "max": 0.14}},
          "cosmomc_theta": {"prior": {"min": 0.0103, "max": 0.0105}}, "tau": {"prior": {"min": 0.01, "max": 0.1}},
          "logA": {"prior": {"min": 2.9, "max": 3.2}, "drop": True}, "As": "lambda logA: 1e-10 * np.exp(logA)",
          "ns": {"prior": {"min": 0.9, "max": 1.02}}, "A_planck": 1.0,
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
    yield parameter, emulators, mz, mc
    mz.close()
    mc.close()


def test_sampled_extension_parameters_go_to_their_emulator_and_agree_with_camb(models):
    parameter, emulators, mz, mc = models
    name, _, points = MODELS[parameter]
    for point in points:
        ours, theirs = mz.loglikes(point)[0], mc.loglikes(point)[0]
        served_by = mz.theory["zelos"].last_emulators
        if emulators == "listed":
            assert served_by == (name,), point
        else:  # `all`: DESI's H and r_drag may come from the extension background emulator if it ranks higher
            assert name in served_by and set(served_by) <= {name, "CAMB_extended_background"}, point
        # plik-lite, lensing and DESI log-likelihoods within what docs/accuracy.md states for the
        # emulators: a few hundredths (CAMB_omk_CMB 1.1's plik-lite p99 |delta chi2| within its
        # 5-sigma core is 0.12, 0.06 in log L; 1.0's was 0.62 before CAMB's C_l noise in omk was removed)
        atol = 0.05
        np.testing.assert_allclose(ours, theirs, atol=atol, err_msg=f"{parameter} = {point[parameter]}")


def test_the_fallback_uses_the_extension_emulators_settings(models):
    parameter, _, mz, _ = models
    name = MODELS[parameter][0]
    theory = mz.theory["zelos"]
    settings = zelos.get_emulator(name).spec["code"]["settings"]
    for key, value in settings.items():
        if key != parameter:
            assert theory._settings.get(key) == value, key
    assert name not in theory._excluded

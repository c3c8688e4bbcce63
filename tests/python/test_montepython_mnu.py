"""MontePython with the Σm_ν CMB emulator: a .param file in CAMB's names for the six ΛCDM
parameters and CLASS's for the neutrinos (one species of degeneracy 3, as CLASS writes three
degenerate eigenstates; N_ur completing N_eff = 3.046) is served by CAMB_mnu_CMB, with CAMB_LCDM_CMB
loaded beside it (it holds one 0.06 eV eigenstate: not this run's physics), and its lensed C_l
equal CAMB's at that point within the emulator's accuracy."""

import numpy as np
import pytest

camb = pytest.importorskip("camb")

import zelos.montepython as zmp  # noqa: E402
import zelos.routing  # noqa: E402
from zelos.shipped import shipped_names  # noqa: E402

MNU = "CAMB_mnu_CMB"
pytestmark = pytest.mark.skipif(MNU not in shipped_names(), reason=f"{MNU} is not shipped yet")

POINT = {"ombh2": 0.02241, "omch2": 0.1193, "cosmomc_theta": 0.0104098, "tau": 0.056, "logA": 3.047, "ns": 0.966}
T_NCDM = 0.71611  # CLASS's default
N_UR = 3.046 - 3 * (T_NCDM / (4.0 / 11.0) ** (1.0 / 3.0)) ** 4  # N_eff = 3.046 before the masses matter
LMAX = 2500


@pytest.mark.parametrize("mnu, emulators", [(0.02, ["CAMB_LCDM_CMB", MNU]), (0.15, ["CAMB_LCDM_CMB", MNU]),
                                            (0.15, ["all"])], ids=["0.02-listed", "0.15-listed", "0.15-all"])
def test_a_class_style_mnu_run_is_served_by_the_mnu_emulator_and_equals_camb(mnu, emulators):
    cosmo = zmp.Class()
    cosmo.set({**POINT, "N_ur": N_UR, "N_ncdm": 1, "deg_ncdm": 3, "m_ncdm": mnu / 3, "output": "tCl pCl lCl",
               "lensing": "yes", "l_max_scalars": LMAX, "non_linear": "hmcode",
               "zelos_emulators": emulators})
    cosmo.compute(["lensing"])
    try:
        p = cosmo._point
        assert p.mode == "emulated" and p.keys["dl_tt"] == MNU
        cl = cosmo.lensed_cl(LMAX)
        assert cosmo.summary()["fallback"] == 0
        if emulators == ["all"]:  # loaded in the router's rank order (validated first), as Cobaya's `all`
            (plan,) = cosmo._plans.values()
            keys = list(plan.emulators)
            assert keys == zelos.routing.Router(plan.emulators).keys() and keys != sorted(keys)
    finally:
        cosmo.close()
    pars = camb.set_params(ombh2=POINT["ombh2"], omch2=POINT["omch2"], cosmomc_theta=POINT["cosmomc_theta"],
                           tau=POINT["tau"], As=1e-10 * np.exp(POINT["logA"]), ns=POINT["ns"], mnu=mnu,
                           num_massive_neutrinos=3, neutrino_hierarchy="degenerate", nnu=3.046, lmax=LMAX,
                           lens_potential_accuracy=1)
    truth = camb.get_results(pars).get_lensed_scalar_cls(lmax=LMAX, CMB_unit=None, raw_cl=True)
    ell = slice(30, LMAX + 1)  # beyond the reionization bump, as the report measures
    np.testing.assert_allclose(cl["tt"][ell], truth[ell, 0], rtol=5e-3)
    np.testing.assert_allclose(cl["ee"][ell], truth[ell, 1], rtol=1e-2)

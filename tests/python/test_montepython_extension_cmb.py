"""MontePython with the extension CMB emulators: a .param file in CAMB's names for the six ΛCDM
parameters and CLASS's for the neutrinos is served by the extension's emulator, with CAMB_LCDM_CMB
loaded beside it (it holds one 0.06 eV eigenstate and N_eff = 3.046: not this run's physics), or
with `all`, and its lensed C_l equal CAMB's at that point within the emulator's accuracy.
- Σm_ν (CAMB_mnu_CMB): one species of degeneracy 3, as CLASS writes three degenerate eigenstates,
  N_ur completing N_eff = 3.046;
- N_eff (CAMB_nnu_CMB): one 0.06 eV species and N_ur = N_eff minus its share;
- Ω_k (CAMB_omk_CMB): CLASS's `Omega_k`, CAMB's `omk`, neutrinos as Planck's."""

import numpy as np
import pytest

camb = pytest.importorskip("camb")

import zelos.montepython as zmp  # noqa: E402
import zelos.routing  # noqa: E402
from zelos.shipped import shipped_names  # noqa: E402

POINT = {"ombh2": 0.02241, "omch2": 0.1193, "cosmomc_theta": 0.0104098, "tau": 0.056, "logA": 3.047, "ns": 0.966}
T_NCDM = 0.71611  # CLASS's default
SHARE = (T_NCDM / (4.0 / 11.0) ** (1.0 / 3.0)) ** 4  # one massive species' N_eff before its mass matters
LMAX = 2500


# N_eff along its Planck degeneracy (more N_eff, more omega_c, omega_b and n_s): at POINT's other
# values N_eff = 2.8 lies far outside every region a chain needs.
NNU_POINTS = {2.79: {"ombh2": 0.02216, "omch2": 0.1165, "cosmomc_theta": 0.0104131, "tau": 0.059, "logA": 3.045,
                     "ns": 0.9552},
              3.33: {"ombh2": 0.02262, "omch2": 0.1238, "cosmomc_theta": 0.0104049, "tau": 0.062, "logA": 3.07,
                     "ns": 0.9762}}


def _mnu(mnu):
    """(emulator, CLASS's neutrinos, CAMB's, the other parameters) for Σm_ν in three degenerate eigenstates."""
    return ("CAMB_mnu_CMB", {"N_ur": 3.046 - 3 * SHARE, "N_ncdm": 1, "deg_ncdm": 3, "m_ncdm": mnu / 3},
            {"mnu": mnu, "num_massive_neutrinos": 3, "neutrino_hierarchy": "degenerate", "nnu": 3.046}, POINT)


def _nnu(nnu):
    """(emulator, CLASS's neutrinos, CAMB's, the other parameters) for N_eff with one 0.06 eV eigenstate."""
    return ("CAMB_nnu_CMB", {"N_ur": nnu - SHARE, "N_ncdm": 1, "m_ncdm": 0.06},
            {"mnu": 0.06, "num_massive_neutrinos": 1, "nnu": nnu}, NNU_POINTS[nnu])


def _omk(omk):
    """(emulator, CLASS's inputs, CAMB's, the other parameters) for Omega_k, neutrinos as Planck's."""
    return ("CAMB_omk_CMB", {"Omega_k": omk, "N_ur": 3.046 - SHARE, "N_ncdm": 1, "m_ncdm": 0.06},
            {"mnu": 0.06, "num_massive_neutrinos": 1, "nnu": 3.046, "omk": omk}, POINT)


CASES = [(_mnu(0.02), "listed"), (_mnu(0.15), "listed"), (_mnu(0.15), "all"), (_nnu(3.33), "listed"),
         (_nnu(2.79), "all"), (_omk(-0.0042), "listed"), (_omk(0.0031), "all")]


@pytest.mark.parametrize("case, emulators", CASES, ids=["mnu0.02-listed", "mnu0.15-listed", "mnu0.15-all",
                                                         "nnu3.33-listed", "nnu2.79-all", "omk-0.0042-listed",
                                                         "omk0.0031-all"])
def test_a_class_style_extension_run_is_served_by_its_emulator_and_equals_camb(case, emulators):
    name, neutrinos, camb_neutrinos, point = case
    if name not in shipped_names():
        pytest.skip(f"{name} is not shipped yet")
    cosmo = zmp.Class()
    cosmo.set({**point, **neutrinos, "output": "tCl pCl lCl", "lensing": "yes", "l_max_scalars": LMAX,
               "non_linear": "hmcode", "zelos_emulators": ["CAMB_LCDM_CMB", name] if emulators == "listed" else "all"})
    cosmo.compute(["lensing"])
    try:
        p = cosmo._point
        assert p.mode == "emulated" and p.keys["dl_tt"] == name
        cl = cosmo.lensed_cl(LMAX)
        assert cosmo.summary()["fallback"] == 0
        if emulators == "all":  # loaded in the router's rank order (validated first), as Cobaya's `all`
            (plan,) = cosmo._plans.values()
            keys = list(plan.emulators)
            assert keys == zelos.routing.Router(plan.emulators).keys() and keys != sorted(keys)
            # HMcode's feedback variant, listed by the non-linear P(k) emulator that cannot serve
            # this run, does not reach CAMB's lensing here: the CMB emulators choose its default
            assert plan.settings.get("halofit_version", "mead2020") == "mead2020"
    finally:
        cosmo.close()
    pars = camb.set_params(ombh2=point["ombh2"], omch2=point["omch2"], cosmomc_theta=point["cosmomc_theta"],
                           tau=point["tau"], As=1e-10 * np.exp(point["logA"]), ns=point["ns"], lmax=LMAX,
                           lens_potential_accuracy=1, **camb_neutrinos)
    truth = camb.get_results(pars).get_lensed_scalar_cls(lmax=LMAX, CMB_unit=None, raw_cl=True)
    ell = slice(30, LMAX + 1)  # beyond the reionization bump, as the report measures
    np.testing.assert_allclose(cl["tt"][ell], truth[ell, 0], rtol=5e-3)
    np.testing.assert_allclose(cl["ee"][ell], truth[ell, 1], rtol=1e-2)

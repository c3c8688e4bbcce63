"""MontePython's non-linear P(k) from CAMB_nonlinear_matter_power: a .param file that asks CLASS
for HMcode-2020 with baryonic feedback (``non_linear: hmcode``, ``hmcode_version:
2020_baryonic_feedback``, ``log10T_heat_hmcode``) at a w0wa + massive-neutrino point gets ``pk``,
``pk_lin`` and ``sigma`` from the emulator, and they equal classy's own at that point (CLASS's and
CAMB's HMcode-2020 agree to about 0.5% there: the translation, not only the emulator, is tested)."""

import numpy as np
import pytest

classy = pytest.importorskip("classy")

import zelos.montepython as zmp  # noqa: E402

NAME = "CAMB_nonlinear_matter_power"
CLASS_ARGS = {"omega_b": 0.0223, "omega_cdm": 0.121, "h": 0.66, "N_ur": 2.0328, "N_ncdm": 1, "m_ncdm": 0.15,
              "Omega_Lambda": 0.0, "w0_fld": -0.85, "wa_fld": -0.6, "A_s": 2.05e-9, "n_s": 0.962, "tau_reio": 0.055,
              "output": "mPk", "non_linear": "hmcode", "hmcode_version": "2020_baryonic_feedback",
              "log10T_heat_hmcode": 8.1, "P_k_max_1/Mpc": 30.0, "z_max_pk": 2.0}
K = [0.003, 0.05, 0.2, 1.0, 5.0, 20.0]
Z = [0.0, 0.8, 2.0]


def _accessors(cosmo):
    pk = np.array([[cosmo.pk(k, z) for k in K] for z in Z])
    pk_lin = np.array([[cosmo.pk_lin(k, z) for k in K] for z in Z])
    return pk, pk_lin, cosmo.sigma(np.array([4.0, 8.0]), np.array(Z), h_units=True)


def test_hmcode_with_feedback_is_emulated_and_equals_classys():
    cosmo = zmp.Class()
    cosmo.struct_cleanup()
    cosmo.set(dict(CLASS_ARGS, zelos_emulators="all"))
    cosmo.compute(["lensing"])
    ours = _accessors(cosmo)
    assert cosmo._point.mode == "emulated"
    assert cosmo._point.keys["pk_nonlin"] == NAME
    assert cosmo.summary()["rest"] == 0 and cosmo.summary()["fallback"] == 0  # no CAMB at all
    cosmo.close()

    truth = classy.Class()
    truth.set(CLASS_ARGS)
    truth.compute()
    theirs = _accessors(truth)
    truth.struct_cleanup()
    # feedback matters at these k, so a dropped log10T_heat_hmcode would show
    assert abs(theirs[0][0, -1] / theirs[1][0, -1]) > 5
    for mine, classys in zip(ours, theirs):
        np.testing.assert_allclose(mine, classys, rtol=1e-2)


def test_the_feedback_temperature_reaches_the_emulator():
    """log10T_heat_hmcode is CAMB's HMCode_logT_AGN: hotter AGN, less power at k = 5 /Mpc."""
    values = []
    for logt in (7.5, 8.2):
        cosmo = zmp.Class()
        cosmo.set(dict(CLASS_ARGS, zelos_emulators="all", log10T_heat_hmcode=logt))
        cosmo.compute(["lensing"])
        assert cosmo._point.mode == "emulated"
        values.append(cosmo.pk(5.0, 0.0))
        cosmo.close()
    assert values[1] < 0.9 * values[0]

"""The CLASS driver (zelos.drivers.classy) against classy 3.4.1 called directly.

One CMB + P(k) run at l_max 150 (massless neutrinos: a few seconds on 2 cores), the rest
background only.
"""

import math

import numpy as np
import pytest

classy = pytest.importorskip("classy", reason="classy is not installed (pip install classy)")

from zelos.drivers import ComputationError, OutputRequest, VersionMismatch, get_driver  # noqa: E402
from zelos.drivers.classy import ClassyDriver  # noqa: E402

C = 299792.458
POINT = {"omega_b": 0.02237, "omega_cdm": 0.1200, "h": 0.6736, "tau_reio": 0.0544, "ln10^{10}A_s": 3.044,
         "n_s": 0.9649}
Z_BG = np.array([0.0, 0.3, 1.0, 2.5])
ALL_DERIVED = ("H0", "sigma8", "S8", "rdrag", "thetastar", "zdrag", "zstar", "rstar", "age", "omegam", "omegal", "zre")


def direct(**args):
    c = classy.Class()
    c.set({**POINT, **args})
    c.compute()
    return c


def test_background_and_derived_match_classy():
    request = OutputRequest(background=("H", "D_A", "D_M", "D_V"), z_bg=Z_BG,
                            derived=tuple(d for d in ALL_DERIVED if d not in ("sigma8", "S8")))
    driver = get_driver("classy", {"N_ur": 2.0308, "N_ncdm": 1, "m_ncdm": 0.06}, request, version="3.4.1")
    assert driver.class_args(POINT)["output"] == ""
    out = driver.compute(POINT)
    assert list(out) == request.names() and driver.output_shapes()["H"] == (4,)
    c = direct(N_ur=2.0308, N_ncdm=1, m_ncdm=0.06)
    np.testing.assert_array_equal(out["H"], c.Hubble(Z_BG) * C)
    np.testing.assert_array_equal(out["D_A"], c.angular_distance(Z_BG))
    np.testing.assert_allclose(out["D_M"], c.angular_distance(Z_BG) * (1 + Z_BG), rtol=1e-15)
    np.testing.assert_allclose(out["D_V"][1:], np.cbrt(Z_BG[1:] * out["D_M"][1:] ** 2 * C / out["H"][1:]), rtol=1e-15)
    d = c.get_current_derived_parameters(["rs_d", "100*theta_star", "z_d", "z_star", "rs_star", "age", "Omega_m",
                                          "z_reio", "Omega_Lambda", "H0"])
    for name, key in (("rdrag", "rs_d"), ("thetastar", "100*theta_star"), ("zdrag", "z_d"), ("zstar", "z_star"),
                      ("rstar", "rs_star"), ("age", "age"), ("omegam", "Omega_m"), ("zre", "z_reio"),
                      ("omegal", "Omega_Lambda"), ("H0", "H0")):
        assert float(out[name]) == d[key], name
    assert driver.describe()["code"] == "classy" and driver.describe()["version"] == "3.4.1"


def test_growth_functions_match_cobayas_classy_calls():
    """sigma8(z) and f sigma8(z) as Cobaya's classy computes `sigma8_z` and `fsigma8`:
    sigma(8 Mpc/h, z) and effective_f_sigma8(z, 0.1)."""
    z = np.array([0.0, 0.5, 1.48])
    request = OutputRequest(background=("sigma8_z", "fsigma8"), z_bg=z)
    driver = get_driver("classy", {}, request)
    args = driver.class_args(POINT)
    assert args["output"] == "mPk" and args["z_max_pk"] == 1.48
    out = driver.compute(POINT)
    c = direct(output="mPk", **{"P_k_max_1/Mpc": args["P_k_max_1/Mpc"], "z_max_pk": 1.48})
    np.testing.assert_array_equal(out["sigma8_z"], [c.sigma(8.0, zi, h_units=True) for zi in z])
    np.testing.assert_array_equal(out["fsigma8"], [c.effective_f_sigma8(zi, 0.1) for zi in z])
    assert out["sigma8_z"][0] == pytest.approx(c.sigma8(), rel=1e-4)


def test_cmb_and_matter_power_match_classy():
    k, z_pk = np.logspace(-3, math.log10(0.5), 20), np.array([0.0, 1.0])
    request = OutputRequest(spectra=("tt", "te", "ee", "pp"), lmax=150, pk_linear=True, k=k, z_pk=z_pk,
                            derived=("sigma8", "S8"))
    driver = ClassyDriver({}, request)
    args = driver.class_args(POINT)
    assert args["output"] == "tCl pCl lCl mPk" and args["lensing"] == "yes" and args["l_max_scalars"] == 150
    out = driver.compute(POINT)
    c = direct(**{k_: v for k_, v in args.items()})
    ell = np.arange(2, 151)
    cl, t = c.lensed_cl(150), c.T_cmb() * 1e6
    for s in ("tt", "te", "ee"):
        np.testing.assert_allclose(out[f"dl_{s}"], cl[s][2:] * ell * (ell + 1) / (2 * np.pi) * t**2, rtol=1e-14)
    np.testing.assert_allclose(out["dl_pp"], cl["pp"][2:] * (ell * (ell + 1.0)) ** 2 / (2 * np.pi), rtol=1e-14)
    np.testing.assert_allclose(out["pk_lin"], [[c.pk_lin(kk, zz) for kk in k] for zz in z_pk], rtol=1e-14)
    assert float(out["sigma8"]) == c.sigma8() and float(out["S8"]) == pytest.approx(c.S8(), rel=1e-14)


def test_set_up_errors_and_failing_points():
    request = OutputRequest(background=("H",), z_bg=[0.5])
    with pytest.raises(VersionMismatch, match=r"spec pins classy==3.2.0 but classy 3.4.1 is installed"):
        ClassyDriver({}, request, version="3.2.0")
    assert "3.2.0" in ClassyDriver({}, request, version="3.2.0", allow_version_mismatch=True).version_note
    with pytest.raises(ValueError, match=r"settings \['output'\] are set from the requested outputs"):
        ClassyDriver({"output": "tCl"}, request)
    with pytest.raises(ValueError, match="needs the model in code.settings"):
        ClassyDriver({}, OutputRequest(pk_nonlinear=True, k=[0.1, 0.2], z_pk=[0.0]))
    driver = ClassyDriver({"N_ur": 3.044}, request)
    with pytest.raises(ValueError, match=r"\['N_ur'\] given both"):
        driver.compute({**POINT, "N_ur": 2.0})
    with pytest.raises(ValueError, match="did not read input parameter"):
        driver.compute({**POINT, "omega_bee": 0.02})
    with pytest.raises(ComputationError, match="CLASS failed at"):
        driver.compute({**POINT, "omega_cdm": -0.5})
    assert driver.compute(POINT)["H"].shape == (1,)  # the object is reusable after a failure

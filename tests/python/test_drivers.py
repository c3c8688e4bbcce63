"""The CAMB driver against the Cobaya reference values and against direct CAMB calls."""

import math

import numpy as np
import pytest

camb = pytest.importorskip("camb", reason="the CAMB driver needs camb (pip install camb==2.0.5)")

from zelos.drivers import ComputationError, OutputRequest, VersionMismatch, get_driver  # noqa: E402
from zelos.drivers.camb import CambDriver  # noqa: E402

# Planck 2018 best fit; reference values from camb 2.0.5 through Cobaya 3.6.2 (shared/data/README.md).
BEST_FIT = dict(ombh2=0.022383, omch2=0.12011, cosmomc_theta=0.0104090, tau=0.0543, logA=3.0448, ns=0.96605)
SETTINGS = dict(mnu=0.06, num_massive_neutrinos=1, lens_potential_accuracy=1)
LMAX = 1000
ALL_DERIVED = ("H0", "sigma8", "S8", "rdrag", "thetastar", "zdrag", "zstar", "rstar", "age", "omegam",
               "omegal", "zre")
Z_BG = np.array([0.0, 0.3, 1.0, 2.5])
BACKGROUND_ONLY = OutputRequest(background=("H",), z_bg=[0.5], derived=("rdrag",))


def direct_kwargs(**extra):
    """The keywords a hand-written CAMB call uses for the best fit."""
    kw = {k: v for k, v in BEST_FIT.items() if k != "logA"}
    kw["As"] = 1e-10 * math.exp(BEST_FIT["logA"])
    kw.update(SETTINGS)
    kw.update(extra)
    return {k: v for k, v in kw.items() if v is not None}


@pytest.fixture(scope="module")
def planck():
    request = OutputRequest(spectra=("tt", "te", "ee", "bb", "pp"), lmax=LMAX, background=("H", "D_A", "D_M", "D_V"),
                            z_bg=Z_BG, derived=ALL_DERIVED)
    driver = CambDriver(SETTINGS, request, version="2.0.5")
    return driver, driver.compute(BEST_FIT)


@pytest.fixture(scope="module")
def direct():
    camb.set_feedback_level(0)
    pars = camb.set_params(**direct_kwargs(lmax=LMAX, WantTransfer=True, redshifts=[0.0]))
    return pars, camb.get_results(pars)


def test_planck_best_fit_matches_cobaya(planck):
    _, out = planck
    assert out["H0"] == pytest.approx(67.305, abs=0.01)
    assert out["sigma8"] == pytest.approx(0.81194, abs=1e-4)
    assert out["rdrag"] == pytest.approx(147.059, abs=0.01)
    assert out["thetastar"] == pytest.approx(1.04112, abs=1e-4)  # 100 theta_*
    assert out["S8"] == pytest.approx(out["sigma8"] * math.sqrt(out["omegam"] / 0.3), rel=1e-14)
    assert out["age"] == pytest.approx(13.80, abs=0.01)
    assert 7.0 < out["zre"] < 8.5
    assert out["omegam"] + out["omegal"] == pytest.approx(1.0, abs=1e-4)  # flat; radiation is ~1e-4


def test_shapes_names_and_dtypes(planck):
    driver, out = planck
    shapes = driver.output_shapes()
    assert list(out) == list(shapes) == ["dl_tt", "dl_te", "dl_ee", "dl_bb", "dl_pp", "H", "D_A", "D_M", "D_V",
                                         *ALL_DERIVED]
    for name, value in out.items():
        assert value.shape == shapes[name] and value.dtype == np.float64, name
    assert shapes["dl_tt"] == (LMAX - 2 + 1,)
    assert shapes["D_V"] == (len(Z_BG),)


def test_cmb_matches_direct_camb(planck, direct):
    _, out = planck
    pars, results = direct
    powers = results.get_cmb_power_spectra(pars, CMB_unit="muK", lmax=LMAX)
    np.testing.assert_allclose(out["dl_tt"], powers["total"][2:LMAX + 1, 0], rtol=1e-10)
    np.testing.assert_allclose(out["dl_te"], powers["total"][2:LMAX + 1, 3], rtol=1e-10)
    np.testing.assert_allclose(out["dl_pp"], powers["lens_potential"][2:LMAX + 1, 0], rtol=1e-10)
    assert out["dl_tt"][218 - 2] == pytest.approx(5750, rel=0.03)  # the first peak, in muK^2


def test_background_matches_direct_camb(planck, direct):
    _, out = planck
    _, results = direct
    np.testing.assert_allclose(out["H"], results.hubble_parameter(Z_BG), rtol=1e-12)
    D_A = results.angular_diameter_distance(Z_BG)
    np.testing.assert_allclose(out["D_A"], D_A, rtol=1e-12)
    np.testing.assert_allclose(out["D_M"], (1 + Z_BG) * D_A, rtol=1e-12)
    z = Z_BG[1:]
    dv = (z * ((1 + z) * D_A[1:]) ** 2 * 299792.458 / out["H"][1:]) ** (1 / 3)
    np.testing.assert_allclose(out["D_V"][1:], dv, rtol=1e-12)
    assert out["D_V"][0] == 0.0
    assert out["D_M"][2] == pytest.approx(results.comoving_radial_distance(1.0), rel=1e-6)  # flat


def test_unlensed_differs_from_lensed():
    request = OutputRequest(spectra=("tt",), lmin=30, lmax=300, lensed=False)
    settings = dict(SETTINGS, lens_potential_accuracy=0)
    out = CambDriver(settings, request).compute(BEST_FIT)
    pars = camb.set_params(**direct_kwargs(lmax=300, lens_potential_accuracy=0))
    unlensed = camb.get_results(pars).get_cmb_power_spectra(pars, CMB_unit="muK", lmax=300)["unlensed_total"]
    np.testing.assert_allclose(out["dl_tt"], unlensed[30:301, 0], rtol=1e-10)
    assert out["dl_tt"].shape == (271,)


@pytest.mark.parametrize("nonlinear", [False, True])
def test_matter_power_on_the_requested_grid(nonlinear):
    params = dict(BEST_FIT, H0=67.3)
    del params["cosmomc_theta"]
    kmax = 5.0 if nonlinear else 1.2  # what the driver picks for k <= 1/Mpc
    pars = camb.set_params(**direct_kwargs(H0=67.3, cosmomc_theta=None, WantTransfer=True, redshifts=[1.5, 0.0],
                                           kmax=kmax, WantCls=False, Want_CMB=False, lens_potential_accuracy=None))
    if nonlinear:
        pars.NonLinear = camb.model.NonLinear_pk
    kh, z, pk = camb.get_results(pars).get_matter_power_spectrum(minkh=1e-3, maxkh=1.0, npoints=30)
    h = 0.673
    request = OutputRequest(pk_linear=not nonlinear, pk_nonlinear=nonlinear, k=kh * h, z_pk=[0.0, 1.5])
    driver = CambDriver(dict(mnu=0.06, num_massive_neutrinos=1), request)
    name = "pk_nonlin" if nonlinear else "pk_lin"
    out = driver.compute(params)[name]
    assert out.shape == driver.output_shapes()[name] == (2, 30)
    assert list(z) == [0.0, 1.5]
    np.testing.assert_allclose(out, pk / h**3, rtol=2e-5)  # CAMB's own interpolation, in Mpc^3
    assert np.all(out[1] < out[0])  # growth


def test_run_gives_camb_objects_with_the_lensing_a_class_run_asks_for():
    # MontePython's CAMB side reads classy's accessors from the driver's CAMB objects: a CLASS run
    # without `non_linear` gets linear lensing, one with it CAMB's model for P(k) and lensing both;
    # left out, the request's model (the build's). The C_l differ where lensing is non-linear.
    driver = CambDriver(SETTINGS, OutputRequest(spectra=("tt",), lmax=LMAX))
    runs = {model: driver.run(BEST_FIT, nonlinear=model) for model in (None, "none", "mead2020")}
    kinds = {model: pars.NonLinear for model, (pars, _) in runs.items()}
    assert kinds == {None: camb.model.NonLinear_lens, "none": camb.model.NonLinear_none,
                     "mead2020": camb.model.NonLinear_both}
    assert runs["mead2020"][0].NonLinearModel.halofit_version == "mead2020"
    tt = {m: r.get_cmb_power_spectra(CMB_unit="muK", lmax=LMAX)["total"][2:, 0] for m, (_, r) in runs.items()}
    np.testing.assert_allclose(tt[None], driver.compute(BEST_FIT)["dl_tt"], rtol=1e-12)
    np.testing.assert_allclose(tt["mead2020"], tt[None], rtol=1e-8)  # both lens with HMcode 2020
    assert np.max(np.abs(tt["none"] / tt[None] - 1)) > 1e-4


def test_derived_only_runs_background_only():
    request = OutputRequest(derived=("H0", "rdrag", "zstar", "thetastar", "zre"))
    out = CambDriver(SETTINGS, request).compute(BEST_FIT)  # lens_potential_accuracy is dropped: no C_l
    # What the driver asks for without C_l (Want_CMB changes rdrag at the 1e-6 level).
    pars = camb.set_params(**direct_kwargs(lens_potential_accuracy=None, WantCls=False, Want_CMB=False))
    derived = camb.get_background(pars).get_derived_params()
    assert out["rdrag"] == pytest.approx(derived["rdrag"], rel=1e-10)
    assert out["zstar"] == pytest.approx(derived["zstar"], rel=1e-10)
    assert out["zre"] == pytest.approx(camb.get_zre_from_tau(pars, BEST_FIT["tau"]), rel=1e-8)


def test_growth_functions_equal_cobayas_camb_on_the_grid():
    """sigma8(z) and f sigma8(z) are what Cobaya's CAMB returns for `sigma8_z` and `fsigma8`:
    the driver gives the grid's redshifts to CAMB as transfer redshifts, so no interpolation."""
    from cobaya.model import get_model

    z = np.array([0.0, 0.38, 0.51, 0.698, 1.48, 2.5])
    request = OutputRequest(background=("sigma8_z", "fsigma8", "H"), z_bg=z, derived=("sigma8",))
    settings = {"mnu": 0.06, "num_massive_neutrinos": 1}
    point = {k: v for k, v in BEST_FIT.items() if k != "cosmomc_theta"} | {"H0": 67.3}
    out = CambDriver(settings, request).compute(point)
    assert out["sigma8_z"][0] == pytest.approx(float(out["sigma8"]), rel=1e-12)
    assert np.all(np.diff(out["sigma8_z"]) < 0)  # structure grows

    params = {k: v for k, v in point.items() if k != "logA"} | {"As": 1e-10 * math.exp(point["logA"])}
    model = get_model({"theory": {"camb": {"extra_args": settings}}, "likelihood": {"one": None}, "params": params})
    model.add_requirements({"sigma8_z": {"z": list(z)}, "fsigma8": {"z": list(z[1:])}})
    model.logposterior({})
    np.testing.assert_allclose(out["sigma8_z"], model.provider.get_sigma8_z(z), rtol=1e-7)
    np.testing.assert_allclose(out["fsigma8"][1:], model.provider.get_fsigma8(z[1:]), rtol=1e-7)
    model.close()


def test_version_mismatch_is_refused_or_noted():
    with pytest.raises(VersionMismatch, match=r"spec pins camb==1\.9\.9 but camb 2\.0\.5 is installed; "
                                              r"install camb==1\.9\.9 or pass --allow-version-mismatch"):
        CambDriver(SETTINGS, BACKGROUND_ONLY, version="1.9.9")
    driver = CambDriver(SETTINGS, BACKGROUND_ONLY, version="1.9.9", allow_version_mismatch=True)
    assert "camb==1.9.9" in driver.version_note
    assert CambDriver(SETTINGS, BACKGROUND_ONLY, version="2.0.5").version_note is None
    assert issubclass(VersionMismatch, ValueError)


def test_failing_point_raises_computation_error():
    driver = CambDriver(SETTINGS, BACKGROUND_ONLY)
    with pytest.raises(ComputationError, match=r"(?s)CAMB failed at \{ombh2: -1.*stops expanding"):
        driver.compute(dict(BEST_FIT, ombh2=-1.0))
    with pytest.raises(ComputationError, match="No solution for H0"):
        driver.compute(dict(BEST_FIT, omch2=5.0))


@pytest.mark.parametrize("change, message", [
    (dict(H0=67.0), r"exactly one of H0, cosmomc_theta, thetastar .*\['H0', 'cosmomc_theta'\]"),
    (dict(cosmomc_theta=None), r"exactly one of H0, cosmomc_theta, thetastar .*none"),
    (dict(thetastar=0.0104), r"exactly one of .*\['cosmomc_theta', 'thetastar'\]"),
    (dict(cosmomc_theta=1.0409), r"cosmomc_theta=1.0409 looks like 100 theta"),
    (dict(As=2e-9), "logA or As, not both"),
    (dict(mnu=0.1), r"\['mnu'\] given both as parameters and in code.settings"),
    (dict(lmax=2000), r"\['lmax'\] cannot be parameters"),
    (dict(not_a_camb_name=1.0), "Unrecognized parameter: not_a_camb_name"),
])
def test_parameter_errors(change, message):
    params = {k: v for k, v in dict(BEST_FIT, **change).items() if v is not None}
    with pytest.raises(ValueError, match=message) as info:
        CambDriver(SETTINGS, BACKGROUND_ONLY).compute(params)
    assert not isinstance(info.value, ComputationError)  # a set-up error, not a property of the point


def test_hubble_from_settings_and_thetastar_input():
    params = {k: v for k, v in BEST_FIT.items() if k != "cosmomc_theta"}
    out = CambDriver(dict(SETTINGS, H0=67.0), BACKGROUND_ONLY).compute(params)
    assert out["H"][0] > 67.0
    request = OutputRequest(derived=("H0", "thetastar"))
    out = CambDriver(SETTINGS, request).compute(dict(params, thetastar=0.0104112))
    assert out["thetastar"] == pytest.approx(1.04112, rel=1e-5)  # input theta_*, output 100 theta_*


def test_settings_that_the_request_owns_are_refused():
    with pytest.raises(ValueError, match=r"settings \['kmax', 'lmax'\] are set from the requested outputs"):
        CambDriver(dict(SETTINGS, lmax=3000, kmax=2.0), BACKGROUND_ONLY)


def test_request_validation():
    with pytest.raises(ValueError, match="spectra"):
        OutputRequest(spectra=("tt", "xx"), lmax=10)
    with pytest.raises(ValueError, match="lmin <= lmax"):
        OutputRequest(spectra=("tt",), lmax=1)
    with pytest.raises(ValueError, match="strictly ascending"):
        OutputRequest(pk_linear=True, k=[0.1, 0.01], z_pk=[0.0])
    with pytest.raises(ValueError, match="nothing requested"):
        OutputRequest()
    assert OutputRequest(derived=["H0"]) == OutputRequest(derived=("H0",))


def test_get_driver():
    assert isinstance(get_driver("camb", SETTINGS, BACKGROUND_ONLY), CambDriver)
    pytest.importorskip("classy")
    from zelos.drivers.classy import ClassyDriver

    assert isinstance(get_driver("classy", {}, BACKGROUND_ONLY), ClassyDriver)  # tests/python/test_classy_driver.py
    with pytest.raises(ValueError, match="unknown code"):
        get_driver("cmbfast", {}, BACKGROUND_ONLY)


def test_threads_setting_reaches_camb():
    before = camb.config.ThreadNum
    try:
        CambDriver(SETTINGS, BACKGROUND_ONLY, threads=1).compute(BEST_FIT)
        assert camb.config.ThreadNum == 1
    finally:
        camb.config.ThreadNum = before


def test_read_run_takes_outputs_from_a_run_made_elsewhere_only_where_it_computed_them_as_the_driver():
    request = OutputRequest(spectra=("tt",), lmax=300, pk_linear=True, k=np.geomspace(1e-3, 0.5, 12),
                            z_pk=[0.0, 1.0], background=("H", "D_M"), z_bg=[0.5, 1.5], derived=("rdrag", "sigma8"))
    driver = CambDriver({"mnu": 0.06}, request)
    point = dict(ombh2=0.0224, omch2=0.12, H0=68.0, As=2.1e-9, ns=0.965)
    truth = driver.compute(point)
    # The driver's own run: every output, exactly.
    same = camb.get_results(camb.set_params(**driver.camb_kwargs(point)))
    out, missing = driver.read_run(same, point)
    assert missing == {} and list(out) == list(truth)
    for name in truth:
        np.testing.assert_array_equal(out[name], truth[name])
    # A background run of the same point (as Cobaya's CAMB for a BAO likelihood): the background
    # and thermal outputs (rdrag to 2e-8: CAMB's thermal history with and without perturbations);
    # C_l, P(k) and sigma8 left out, naming what differs.
    background = camb.get_background(camb.set_params(ombh2=0.0224, omch2=0.12, H0=68.0, mnu=0.06))
    out, missing = driver.read_run(background, point)
    assert sorted(out) == ["D_M", "H", "rdrag"] and sorted(missing) == ["dl_tt", "pk_lin", "sigma8"]
    assert all("the run's CAMB settings differ from this driver's" in why for why in missing.values())
    for name in out:
        np.testing.assert_allclose(out[name], truth[name], rtol=1e-7)
    # A run with another lmax: its C_l are not the driver's (CAMB's lensing depends on it).
    other = camb.get_results(camb.set_params(**{**driver.camb_kwargs(point), "lmax": 400}))
    assert "dl_tt" in driver.read_run(other, point)[1]
    # Another point, or another neutrino mass: nothing.
    for kw in (dict(H0=70.0), dict(mnu=0.1)):
        run = camb.get_background(camb.set_params(**{**dict(ombh2=0.0224, omch2=0.12, H0=68.0, mnu=0.06), **kw}))
        out, missing = driver.read_run(run, point)
        assert out == {} and sorted(missing) == sorted(truth), kw

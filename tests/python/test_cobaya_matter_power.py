"""The shipped P(k) emulators served to Cobaya, against Cobaya's own camb with each emulator's
settings at the same w0wa + massive-neutrino point: CAMB_linear_matter_power's Pk_interpolator
and sigma8; CAMB_nonlinear_matter_power's HMcode-2020 non-linear Pk_interpolator with its
baryonic feedback given, the linear one beside it, sigma8 and f sigma8."""

import copy

import numpy as np
import pytest

cobaya = pytest.importorskip("cobaya")
from cobaya.model import get_model  # noqa: E402

import zelos  # noqa: E402


def _model(theory: dict, point: dict, requirements: dict):
    class PkUser(cobaya.likelihood.Likelihood):
        def get_requirements(self):
            return copy.deepcopy(requirements)  # Cobaya consumes what it is given

        def logp(self, **params):
            return 0.0

    params = {name: value for name, value in point.items() if name != "logA"}
    params["As"] = 1e-10 * np.exp(point["logA"])
    params["sigma8"] = None
    return get_model({"theory": theory, "likelihood": {"pk": PkUser}, "params": params})


def _camb_like(name: str, keys) -> dict:
    """Cobaya's camb with the emulator's settings among ``keys``."""
    settings = zelos.get_emulator(name).spec["code"]["settings"]
    return {"camb": {"extra_args": {key: settings[key] for key in keys}}}


def _both(name: str, camb_keys, point: dict, requirements: dict, read):
    """``read(model)`` with the emulator (which must answer the point itself) and with camb."""
    zelos_model = _model({"zelos": {"emulators": [name]}}, point, requirements)
    camb_model = _model(_camb_like(name, camb_keys), point, requirements)
    try:
        zelos_model.loglikes({})
        ours = read(zelos_model.likelihood["pk"].provider)
        assert zelos_model.theory["zelos"].summary()["emulated"] == 1  # the emulator, not CAMB
        camb_model.loglikes({})
        truth = read(camb_model.likelihood["pk"].provider)
    finally:
        zelos_model.close()
        camb_model.close()
    return ours, truth


LINEAR_Z = [0.0, 0.6, 1.3, 4.5]
LINEAR_K = np.geomspace(2e-4, 20.0, 40)
LINEAR_POINT = {"ombh2": 0.0222, "omch2": 0.123, "H0": 66.0, "logA": 3.07, "ns": 0.97, "w": -0.8, "wa": -0.9,
                "mnu": 0.2}


def test_cobaya_gets_the_w0wa_massive_neutrino_power_spectrum_from_the_emulator():
    def read(provider):
        interp = provider.get_Pk_interpolator(nonlinear=False)
        return np.array([interp.P(z, LINEAR_K) for z in LINEAR_Z]), provider.get_param("sigma8")

    requirements = {"Pk_interpolator": {"z": LINEAR_Z, "k_max": 25.0, "nonlinear": False}, "sigma8": None}
    ours, truth = _both("CAMB_linear_matter_power", ("dark_energy_model", "num_massive_neutrinos", "nnu"),
                        LINEAR_POINT, requirements, read)
    # The emulator's held-out accuracy (docs/accuracy.md) and Cobaya's own k interpolation.
    np.testing.assert_allclose(ours[0], truth[0], rtol=1e-2)
    assert ours[1] == pytest.approx(truth[1], rel=3e-3)


HMCODE_Z = [0.0, 0.6, 1.3, 3.3]
HMCODE_K = np.geomspace(2e-4, 40.0, 50)
HMCODE_POINT = {"ombh2": 0.0226, "omch2": 0.117, "H0": 71.0, "logA": 3.02, "ns": 0.955, "w": -0.9, "wa": -0.5,
                "mnu": 0.12, "HMCode_logT_AGN": 8.05}


def test_cobaya_gets_hmcode_with_feedback_from_the_emulator_as_camb_computes_it():
    def read(provider):
        pk = {nl: np.array([provider.get_Pk_interpolator(nonlinear=nl).P(z, HMCODE_K) for z in HMCODE_Z])
              for nl in (False, True)}
        return pk, provider.get_param("sigma8"), provider.get_fsigma8([0.38, 1.48])

    requirements = {"Pk_interpolator": {"z": HMCODE_Z, "k_max": 45.0, "nonlinear": (False, True)}, "sigma8": None,
                    "fsigma8": {"z": [0.38, 1.48]}}
    ours, truth = _both("CAMB_nonlinear_matter_power",
                        ("dark_energy_model", "num_massive_neutrinos", "nnu", "halofit_version"),
                        HMCODE_POINT, requirements, read)
    # feedback matters here, so the test would see it dropped: 8.05 against CAMB's default 7.8
    assert np.abs(truth[0][True][0, -1] / truth[0][False][0, -1]) > 5
    # the emulators' held-out accuracy (docs/accuracy.md) and Cobaya's own k interpolation
    np.testing.assert_allclose(ours[0][False], truth[0][False], rtol=1e-2)
    np.testing.assert_allclose(ours[0][True], truth[0][True], rtol=1e-2)
    assert ours[1] == pytest.approx(truth[1], rel=3e-3)
    np.testing.assert_allclose(ours[2], truth[2], rtol=3e-3)

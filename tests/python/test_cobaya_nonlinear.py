"""CAMB_nonlinear_matter_power served to Cobaya: the HMcode-2020 non-linear Pk_interpolator, with
its baryonic feedback sampled, and the linear one beside it, against Cobaya's own camb with the
emulator's settings at the same w0wa + massive-neutrino point."""

import numpy as np
import pytest

cobaya = pytest.importorskip("cobaya")
from cobaya.model import get_model  # noqa: E402

import zelos  # noqa: E402

NAME = "CAMB_nonlinear_matter_power"
Z = [0.0, 0.6, 1.3, 3.3]
K = np.geomspace(2e-4, 40.0, 50)
POINT = {"ombh2": 0.0226, "omch2": 0.117, "H0": 71.0, "logA": 3.02, "ns": 0.955, "w": -0.9, "wa": -0.5,
         "mnu": 0.12, "HMCode_logT_AGN": 8.05}


class PkUser(cobaya.likelihood.Likelihood):
    def get_requirements(self):
        return {"Pk_interpolator": {"z": Z, "k_max": 45.0, "nonlinear": (False, True)}, "sigma8": None,
                "fsigma8": {"z": [0.38, 1.48]}}

    def logp(self, **params):
        return 0.0


def _model(theory: dict):
    params = {name: value for name, value in POINT.items() if name != "logA"}
    params["As"] = 1e-10 * np.exp(POINT["logA"])
    params["sigma8"] = None
    return get_model({"theory": theory, "likelihood": {"pk": PkUser}, "params": params})


def _outputs(model):
    model.loglikes({})
    provider = model.likelihood["pk"].provider
    pk = {nl: np.array([provider.get_Pk_interpolator(nonlinear=nl).P(z, K) for z in Z]) for nl in (False, True)}
    return pk, provider.get_param("sigma8"), provider.get_fsigma8([0.38, 1.48])


def test_cobaya_gets_hmcode_with_feedback_from_the_emulator_as_camb_computes_it():
    settings = zelos.get_emulator(NAME).spec["code"]["settings"]
    zelos_model = _model({"zelos": {"emulators": [NAME]}})
    camb_model = _model({"camb": {"extra_args": {key: settings[key] for key in
                                                 ("dark_energy_model", "num_massive_neutrinos", "nnu",
                                                  "halofit_version")}}})
    try:
        ours = _outputs(zelos_model)
        assert zelos_model.theory["zelos"].summary()["emulated"] == 1  # the emulator, not CAMB
        truth = _outputs(camb_model)
    finally:
        zelos_model.close()
        camb_model.close()
    # feedback matters here, so the test would see it dropped: 8.05 against CAMB's default 7.8
    assert np.abs(truth[0][True][0, -1] / truth[0][False][0, -1]) > 5
    # the emulators' held-out accuracy (docs/accuracy.md) and Cobaya's own k interpolation
    np.testing.assert_allclose(ours[0][False], truth[0][False], rtol=1e-2)
    np.testing.assert_allclose(ours[0][True], truth[0][True], rtol=1e-2)
    assert ours[1] == pytest.approx(truth[1], rel=3e-3)
    np.testing.assert_allclose(ours[2], truth[2], rtol=3e-3)

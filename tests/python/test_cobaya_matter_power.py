"""CAMB_linear_matter_power served to Cobaya: Pk_interpolator and sigma8 in w0waCDM with massive
neutrinos, against Cobaya's own camb with the emulator's settings at the same point."""

import numpy as np
import pytest

cobaya = pytest.importorskip("cobaya")
from cobaya.model import get_model  # noqa: E402

import zelos  # noqa: E402

Z = [0.0, 0.6, 1.3, 4.5]
K = np.geomspace(2e-4, 20.0, 40)
POINT = {"ombh2": 0.0222, "omch2": 0.123, "H0": 66.0, "logA": 3.07, "ns": 0.97, "w": -0.8, "wa": -0.9, "mnu": 0.2}


class PkUser(cobaya.likelihood.Likelihood):
    def get_requirements(self):
        return {"Pk_interpolator": {"z": Z, "k_max": 25.0, "nonlinear": False}, "sigma8": None}

    def logp(self, **params):
        return 0.0


def _model(theory: dict):
    params = {name: value for name, value in POINT.items() if name != "logA"}
    params["As"] = 1e-10 * np.exp(POINT["logA"])
    params["sigma8"] = None
    return get_model({"theory": theory, "likelihood": {"pk": PkUser}, "params": params})


def _pk_and_sigma8(model):
    model.loglikes({})
    provider = model.likelihood["pk"].provider
    interp = provider.get_Pk_interpolator(nonlinear=False)
    return np.array([interp.P(z, K) for z in Z]), provider.get_param("sigma8")


def test_cobaya_gets_the_w0wa_massive_neutrino_power_spectrum_from_the_emulator():
    emulator = zelos.get_emulator("CAMB_linear_matter_power")
    settings = emulator.spec["code"]["settings"]
    zelos_model = _model({"zelos": {"emulators": ["CAMB_linear_matter_power"]}})
    camb_model = _model({"camb": {"extra_args": {key: settings[key] for key in
                                                 ("dark_energy_model", "num_massive_neutrinos", "nnu")}}})
    try:
        ours, ours_sigma8 = _pk_and_sigma8(zelos_model)
        assert zelos_model.theory["zelos"].summary()["emulated"] == 1  # the emulator, not CAMB
        truth, truth_sigma8 = _pk_and_sigma8(camb_model)
    finally:
        zelos_model.close()
        camb_model.close()
    # The emulator's held-out accuracy (docs/accuracy.md) and Cobaya's own k interpolation.
    np.testing.assert_allclose(ours, truth, rtol=1e-2)
    assert ours_sigma8 == pytest.approx(truth_sigma8, rel=3e-3)

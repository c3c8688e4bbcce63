"""Emulators compose: a run that samples ``cosmomc_theta`` (as Planck's chains do) and needs
P(k) from an emulator that takes ``H0`` gets H0 from the CMB emulator's derived H0, and the P(k)
emulator serves with it, as Cobaya's camb computes at the same point; without an emulator that
derives H0, start-up says why the P(k) emulator is not used, and camb computes P(k)."""

import logging

import numpy as np
import pytest

cobaya = pytest.importorskip("cobaya")
from cobaya.model import get_model  # noqa: E402

Z = [0.0, 0.5, 1.0, 1.5]
K = np.geomspace(1e-3, 1.5, 30)
POINT = {"ombh2": 0.0223, "omch2": 0.1195, "cosmomc_theta": 0.010409, "As": 2.09e-9, "ns": 0.9655, "tau": 0.056}
CAMB_SETTINGS = {"mnu": 0.06, "num_massive_neutrinos": 1, "nnu": 3.046}  # both emulators' settings


class PkAndCl(cobaya.likelihood.Likelihood):
    def get_requirements(self):
        return {"Pk_interpolator": {"z": Z, "k_max": 2.0, "nonlinear": False}, "Cl": {"tt": 1000}, "H0": None}

    def logp(self, **params):
        return 0.0


def _model(theory: dict, point=POINT):
    return get_model({"theory": theory, "likelihood": {"l": PkAndCl}, "params": {**point, "H0": None}})


def _pk_and_h0(model, point=None):
    model.loglikes(point or {})
    provider = model.likelihood["l"].provider
    interp = provider.get_Pk_interpolator(nonlinear=False)
    return np.array([interp.P(z, K) for z in Z]), provider.get_param("H0")


def test_pk_emulator_taking_h0_serves_a_theta_run_with_the_cmb_emulators_h0(caplog):
    caplog.set_level(logging.INFO)
    zelos_model = _model({"zelos": {"emulators": ["CAMB_LCDM_CMB", "CAMB_LCDM_linear_Pk"]}})
    camb_model = _model({"camb": {"extra_args": CAMB_SETTINGS}})
    try:
        ours, ours_h0 = _pk_and_h0(zelos_model)
        summary = zelos_model.theory["zelos"].summary()
        assert summary["emulated"] == 1 and summary["emulated_by"] == {"CAMB_LCDM_CMB": 1, "CAMB_LCDM_linear_Pk": 1}
        truth, truth_h0 = _pk_and_h0(camb_model)
    finally:
        zelos_model.close()
        camb_model.close()
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "H0 derived by CAMB_LCDM_CMB from this run's angle" in text
    assert ours_h0 == pytest.approx(truth_h0, rel=1e-4)
    # the P(k) emulator's accuracy (docs/accuracy.md) with an H0 good to 1e-4
    np.testing.assert_allclose(ours, truth, rtol=3e-3)


def test_outside_the_cmb_emulators_region_the_whole_point_is_cambs():
    far = {**POINT, "ombh2": 0.030}  # outside CAMB_LCDM_CMB's box: no H0, so no P(k) either
    model = _model({"zelos": {"emulators": ["CAMB_LCDM_CMB", "CAMB_LCDM_linear_Pk"]}}, far)
    try:
        model.loglikes({})
        summary = model.theory["zelos"].summary()
    finally:
        model.close()
    assert summary["emulated"] == 0 and summary["fallback"] == 1
    assert any(reason.startswith("outside") for reason in summary["fallbacks_by_reason"])


def test_without_an_emulator_deriving_h0_start_up_says_why_and_camb_computes_pk(caplog):
    caplog.set_level(logging.INFO)
    model = _model({"zelos": {"emulators": ["CAMB_LCDM_linear_Pk"]}})
    try:
        model.loglikes({})
        summary = model.theory["zelos"].summary()
    finally:
        model.close()
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "no loaded emulator derives H0 from it" in text
    assert summary["emulated"] == 0

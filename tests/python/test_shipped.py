"""Emulators shipped inside the package: found by name with no download, built from the
specs in specs/ as they stand, and accurate as their reports say."""

import os

import numpy as np
import pytest
import yaml

import zelos
from zelos.learning.retrain import derived_version
from zelos.shipped import shipped_names
from zelos.spec import canonical_yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_the_background_emulator_ships():
    assert "CAMB_LCDM_background" in shipped_names()


# CAMB_linear_matter_power's held-out p95 (docs/accuracy.md), rounded up.
PK_P95, S8_P95 = 1.5e-3, 6e-4
# CAMB_nonlinear_matter_power's held-out p95 of HMcode's P(k) (docs/accuracy.md), rounded up.
NL_P95 = 2e-2

# Each shipped emulator: the spec in specs/ it was built from, and the held-out accuracy that
# docs/accuracy.md promises for it: output -> (statistic of the relative error, bound).
SHIPPED = {
    "CAMB_LCDM_background": ("camb_lcdm_background.yaml", {"H": ("max", 1e-4), "D_M": ("max", 1e-4),
                                                           "rdrag": ("max", 1e-4)}),
    "CAMB_LCDM_CMB": ("camb_lcdm_cmb.yaml", {"H0": ("max", 1e-4), "sigma8": ("max", 1e-4), "rdrag": ("max", 1e-4)}),
    "CAMB_LCDM_linear_Pk": ("camb_lcdm_linear_pk.yaml", {"pk_lin": ("p99", 5e-4), "sigma8": ("p99", 2e-4)}),
    "CAMB_LCDM_growth": ("camb_lcdm_growth.yaml", {"sigma8_z": ("max", 2e-4), "fsigma8": ("max", 2e-4),
                                                   "sigma8": ("max", 2e-4), "S8": ("max", 2e-4)}),
    "CAMB_extended_background": ("camb_extended_background.yaml", {"H": ("p99", 3e-4), "D_M": ("p99", 2e-4),
                                                                   "rdrag": ("p99", 1e-4)}),
    "CAMB_linear_matter_power": ("camb_linear_matter_power.yaml", {"pk_lin": ("p95", PK_P95), "sigma8": ("p95", S8_P95)}),
    "CAMB_nonlinear_matter_power": ("camb_nonlinear_matter_power.yaml",
                                    {"pk_lin": ("p95", 2e-3), "pk_nonlin": ("p95", NL_P95), "sigma8": ("p95", 7e-4),
                                     "sigma8_z": ("p95", 7e-4), "fsigma8": ("p95", 1.2e-3)}),
    # Its held-out points include its sparse 10-sigma shell's: over all of them these bounds; in
    # its 5-sigma core, where chains go, those of CORE (test_a_shell_emulators_core_meets below)
    "CAMB_w0wa_CMB": ("camb_w0wa_cmb.yaml", {"H0": ("p99", 2e-4), "sigma8": ("p99", 2e-4), "rdrag": ("max", 2e-5),
                                             "H": ("p99", 3e-4), "D_A": ("p99", 1.5e-4)}),
    "CAMB_mnu_CMB": ("camb_mnu_cmb.yaml", {"H0": ("p99", 1e-4), "sigma8": ("p99", 2e-4), "rdrag": ("p99", 1e-4),
                                           "H": ("p99", 2e-4), "D_A": ("p99", 1e-4)}),
    "CAMB_nnu_CMB": ("camb_nnu_cmb.yaml", {"H0": ("p99", 1e-4), "sigma8": ("p99", 1e-4), "rdrag": ("p99", 1e-4),
                                           "H": ("p99", 2e-4), "D_A": ("p99", 1e-4)}),
    "CAMB_omk_CMB": ("camb_omk_cmb.yaml", {"H0": ("p99", 1e-4), "sigma8": ("p99", 1e-4), "rdrag": ("p99", 1e-4),
                                           "H": ("p99", 2e-4), "D_A": ("p99", 1e-4)}),
}


def test_every_shipped_emulator_has_a_spec_in_specs():
    assert set(shipped_names()) <= set(SHIPPED), "a new shipped emulator needs its spec named in SHIPPED"


@pytest.mark.parametrize("name", shipped_names())
def test_a_shipped_emulator_is_found_by_name_and_matches_its_spec(name):
    emu = zelos.get_emulator(name)
    assert emu.name == name
    spec = yaml.safe_load(canonical_yaml(os.path.join(ROOT, "specs", SHIPPED[name][0])))
    ours = yaml.safe_load(emu.spec_yaml)
    lineage = emu.report.get("lineage")
    if lineage is None:
        # Never any ambiguity: a built archive's spec is exactly the spec in specs/.
        assert emu.spec_yaml == canonical_yaml(os.path.join(ROOT, "specs", SHIPPED[name][0]))
        return
    # A retrained archive (`zelos retrain`): the spec in specs/ with a derived version and the
    # box widened to hold the logged points, both recorded in its lineage; nothing else differs.
    assert lineage["parent_version"] == spec["version"]
    assert ours["version"] == lineage["version"] == derived_version(spec["version"])
    for p, box in lineage["box"].items():
        assert box["parent"] == spec["parameters"][p]["range"], p
        assert ours["parameters"][p]["range"] == pytest.approx(box["new"], rel=1e-12), p
        assert box["new"][0] <= box["parent"][0] and box["new"][1] >= box["parent"][1], p
        ours["parameters"][p]["range"] = spec["parameters"][p]["range"]
    ours["version"] = spec["version"]
    assert ours == spec


@pytest.mark.parametrize("name", shipped_names())
def test_a_shipped_emulator_meets_the_documented_accuracy(name):
    """At the held-out points of its build: from `zelos validate` where it ran (the build's own
    held-out points, without a retrain's logged ones), else from the build's report."""
    report = zelos.get_emulator(name).report
    for output, (stat, bound) in SHIPPED[name][1].items():
        validated = (report.get("likelihood_accuracy") or {}).get("derived", {}).get(output)
        error = validated[f"abs_rel_{stat}"] if validated else report["accuracy"][output]["rel"][stat]
        assert error < bound, f"{name}: {output} relative error {stat} {error:.2e} >= {bound:.0e}"


# The held-out p99 in the 5-sigma core of each emulator whose design has a sparse outer shell
# (docs/accuracy.md), at the points of its build (the packed store in stores/, CAMB's values to 1e-6).
CORE = {
    "CAMB_w0wa_CMB": {"H0": 1e-4, "sigma8": 1e-4, "rdrag": 1e-5, "H": 1e-4, "D_A": 5e-5},
    "CAMB_omk_CMB": {"H0": 1e-4, "sigma8": 1e-4, "rdrag": 1e-5, "H": 5e-5, "D_A": 5e-5},
    "CAMB_nnu_CMB": {"H0": 5e-5, "sigma8": 1e-4, "rdrag": 1e-5, "H": 5e-5, "D_A": 5e-5},
    # 12,000 background-only points (sampling.background_points): H and D_A 5-10x the others'
    "CAMB_mnu_CMB": {"H0": 5e-5, "sigma8": 1e-4, "rdrag": 1e-5, "H": 1e-5, "D_A": 1e-5},
}


@pytest.mark.parametrize("name", sorted(CORE))
def test_a_shell_emulators_core_meets_its_bounds(name, tmp_path):
    """Where chains go, the tighter bounds: the shell's points are allowed those of SHIPPED."""
    from zelos.build.design import shell_split, sizes
    from zelos.build.store import load_training_set
    from zelos.build.store_pack import unpack_store

    emu = zelos.get_emulator(name)
    unpack_store(os.path.join(ROOT, "stores", name, "test"), str(tmp_path / "test"))
    held_out = load_training_set(str(tmp_path / "test"))
    assert held_out.names == list(emu.parameters) and len(held_out) == sizes(emu.spec)[1]
    in_core, _ = shell_split(emu.spec, held_out.params)
    assert 0.7 < in_core.mean() < 0.9
    ours = emu(held_out.params[in_core])
    for output, bound in CORE[name].items():
        truth = np.asarray(held_out.outputs[output][in_core], float)
        error = np.abs(np.asarray(ours[output], float) / truth - 1) if output != "D_A" else (
            np.abs(np.asarray(ours[output], float)[:, 1:] / truth[:, 1:] - 1))  # D_A(0) = 0
        worst = error.reshape(len(truth), -1).max(axis=1)
        assert np.percentile(worst, 99) < bound, f"{name}: {output} core p99 {np.percentile(worst, 99):.2e}"


def _emulated_and_computed(name: str, point: dict) -> tuple:
    """The shipped emulator's outputs at ``point`` and its spec's driver's (CAMB's) there."""
    from zelos.build.plan import plan
    from zelos.drivers import get_driver

    emu = zelos.get_emulator(name)
    driver = get_driver("camb", emu.spec["code"]["settings"], plan(emu.spec).request, version=emu.spec["code"]["version"])
    return emu(point), driver.compute(point)


def test_the_shipped_background_emulator_agrees_with_camb():
    ours, truth = _emulated_and_computed("CAMB_LCDM_background", {"ombh2": 0.02218, "omch2": 0.1195, "H0": 68.4})
    for name in ("H", "D_M", "rdrag", "omegam", "zdrag"):
        np.testing.assert_allclose(ours[name], truth[name], rtol=1e-4, err_msg=name)


def test_the_shipped_linear_pk_emulator_agrees_with_camb():
    point = {"ombh2": 0.0224, "omch2": 0.121, "H0": 67.0, "logA": 3.05, "ns": 0.962}
    ours, truth = _emulated_and_computed("CAMB_LCDM_linear_Pk", point)
    np.testing.assert_allclose(ours["pk_lin"], truth["pk_lin"], rtol=2e-3)
    np.testing.assert_allclose(ours["sigma8"], truth["sigma8"], rtol=3e-4)


def test_the_shipped_growth_emulator_agrees_with_camb():
    point = {"ombh2": 0.0223, "omch2": 0.117, "H0": 69.0, "logA": 3.0, "ns": 0.97}
    ours, truth = _emulated_and_computed("CAMB_LCDM_growth", point)
    for name in ("sigma8_z", "fsigma8", "sigma8", "S8"):
        np.testing.assert_allclose(ours[name], truth[name], rtol=2e-4, err_msg=name)


def test_the_shipped_matter_power_emulator_agrees_with_camb_beyond_lcdm():
    # w0waCDM with massive neutrinos, w crossing -1 over time (PPF), not a training point.
    point = {"ombh2": 0.0221, "omch2": 0.124, "H0": 64.5, "logA": 3.08, "ns": 0.955, "w": -0.62, "wa": -1.1,
             "mnu": 0.24}
    ours, truth = _emulated_and_computed("CAMB_linear_matter_power", point)
    np.testing.assert_allclose(ours["pk_lin"], truth["pk_lin"], rtol=2 * PK_P95)
    np.testing.assert_allclose(ours["sigma8"], truth["sigma8"], rtol=2 * S8_P95)


def test_the_shipped_hmcode_emulator_agrees_with_camb_beyond_lcdm():
    # w0waCDM with massive neutrinos and hot AGN feedback, not a training point
    point = {"ombh2": 0.0226, "omch2": 0.115, "H0": 70.5, "logA": 3.02, "ns": 0.972, "w": -0.85, "wa": -0.7,
             "mnu": 0.11, "HMCode_logT_AGN": 8.05}
    ours, truth = _emulated_and_computed("CAMB_nonlinear_matter_power", point)
    np.testing.assert_allclose(ours["pk_lin"], truth["pk_lin"], rtol=4e-3)
    np.testing.assert_allclose(ours["pk_nonlin"], truth["pk_nonlin"], rtol=2 * NL_P95)
    for name in ("sigma8", "sigma8_z", "fsigma8"):
        np.testing.assert_allclose(ours[name], truth[name], rtol=3e-3, err_msg=name)


def _assert_cmb_emulator_agrees_with_camb(name: str, point: dict) -> None:
    """An extension CMB emulator against its spec's CAMB at ``point``: the background, the derived
    parameters and the spectra beyond the reionization bump (as its report measures)."""
    ours, truth = _emulated_and_computed(name, point)
    for output in ("H", "D_A"):
        np.testing.assert_allclose(ours[output][1:], truth[output][1:], rtol=3e-4, err_msg=output)
    for output in ("H0", "sigma8", "rdrag", "omegam", "omegal"):
        assert ours[output] == pytest.approx(truth[output], rel=3e-4), output
    for output in ("dl_tt", "dl_ee", "dl_pp"):
        np.testing.assert_allclose(ours[output][28:], truth[output][28:], rtol=5e-3, err_msg=output)


def test_the_shipped_w0wa_cmb_emulator_agrees_with_camb():
    # dark energy crossing w = -1 (PPF), not a training point
    _assert_cmb_emulator_agrees_with_camb("CAMB_w0wa_CMB", {
        "ombh2": 0.02245, "omch2": 0.1182, "cosmomc_theta": 0.010412, "tau": 0.061, "logA": 3.051, "ns": 0.971,
        "w": -0.78, "wa": -0.72})


@pytest.mark.skipif("CAMB_mnu_CMB" not in shipped_names(), reason="CAMB_mnu_CMB is not shipped yet")
def test_the_shipped_mnu_cmb_emulator_agrees_with_camb():
    # three degenerate eigenstates of 0.07 eV each, not a training point
    _assert_cmb_emulator_agrees_with_camb("CAMB_mnu_CMB", {
        "ombh2": 0.02231, "omch2": 0.1207, "cosmomc_theta": 0.010408, "tau": 0.049, "logA": 3.036, "ns": 0.962,
        "mnu": 0.21})


@pytest.mark.skipif("CAMB_nnu_CMB" not in shipped_names(), reason="CAMB_nnu_CMB is not shipped yet")
def test_the_shipped_nnu_cmb_emulator_agrees_with_camb():
    # N_eff = 3.41 with its BBN helium, not a training point
    _assert_cmb_emulator_agrees_with_camb("CAMB_nnu_CMB", {
        "ombh2": 0.02252, "omch2": 0.1231, "cosmomc_theta": 0.010404, "tau": 0.058, "logA": 3.052, "ns": 0.972,
        "nnu": 3.41})


@pytest.mark.skipif("CAMB_omk_CMB" not in shipped_names(), reason="CAMB_omk_CMB is not shipped yet")
def test_the_shipped_omk_cmb_emulator_agrees_with_camb():
    # slightly open, 1.4 sigma of the Planck + BAO curvature posterior, not a training point
    _assert_cmb_emulator_agrees_with_camb("CAMB_omk_CMB", {
        "ombh2": 0.02229, "omch2": 0.1209, "cosmomc_theta": 0.0104081, "tau": 0.063, "logA": 3.061, "ns": 0.9631,
        "omk": 0.0027})

"""The Cobaya theory `zelos` with CLASS-trained emulators: its fallback is Cobaya's own classy.

Real Cobaya, real classy 3.4.1, the real DESI DR2 BAO and Union3 data
(../shared/data/cobaya_packages). A small background emulator (omega_b, omega_cdm, h -> H(z),
D_M(z), rdrag, omegam, zdrag) is built once per module with the CLASS driver: 128 + 16 classy
runs of about 50 ms, then a few seconds of training (about 12 s on 2 cores), held-out error about
1e-4. The chains sample Cobaya's names (omegabh2, omegach2, H0) or CAMB's; zelos hands the
emulator CLASS's (h = H0 / 100) and the fallback what `theory: classy` would be given.
"""

import logging
import math
import os

import numpy as np
import pytest

cobaya = pytest.importorskip("cobaya", reason="cobaya is not installed (pip install zelos[cobaya])")
classy = pytest.importorskip("classy", reason="classy is not installed (pip install classy)")

import zelos  # noqa: E402
from cobaya.log import LoggedError  # noqa: E402
from cobaya.model import get_model  # noqa: E402
from zelos.testing import constant_archive  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGES = os.path.normpath(os.path.join(ROOT, "..", "shared", "data", "cobaya_packages"))
LIKES = {"bao.desi_dr2": None, "sn.union3": None}
SETTINGS = {"N_ur": 3.044}  # the spec's code.settings: classy's extra_args in both models
SPEC = """name: CLASS_tiny_background
author: zelos tests
version: 0.0.1
description: A tiny CLASS background emulator for the Cobaya classy fallback tests.
code:
  name: classy
  version: "3.4.1"
  settings: {N_ur: 3.044}
parameters:
  omega_b: [0.021, 0.024]
  omega_cdm: [0.11, 0.13]
  h: [0.64, 0.72]
outputs:
  background:
    functions: [H, D_M]
    z: {min: 0.01, max: 2.5, n: 30}
  derived: [rdrag, omegam, zdrag]
emulator: {hidden_layers: 2, width: 32, activation: silu}
transforms:
  inputs: minmax
  outputs:
    default: {log: none, standardise: true, pca: null}
    background: {log: ln, pca: 8}
    derived: {log: ln}
training:
  learning_rate: {initial: 3.0e-3, final: 1.0e-5, schedule: cosine}
  epochs: 3000
  patience: null
  batch_size: 16
  seed: 1
sampling: {design: latin_hypercube, points: 128, test_points: 16, seed: 2}
"""
# Cobaya's (Planck) names: Cobaya's classy renames them to omega_b, omega_cdm; CLASS takes H0.
# z_d is CLASS's name of zdrag (Cobaya's classy knows no `zdrag`).
PARAMS = {
    "omegabh2": {"prior": {"min": 0.020, "max": 0.025}},
    "omegach2": {"prior": {"min": 0.10, "max": 0.14}},
    "H0": {"prior": {"min": 55.0, "max": 85.0}},
    "rdrag": {"derived": True},
    "omegam": {"derived": True},
    "z_d": {"derived": True},
}
INSIDE = [{"omegabh2": 0.0224, "omegach2": 0.1190, "H0": 68.0},
          {"omegabh2": 0.0220, "omegach2": 0.1250, "H0": 66.5},
          {"omegabh2": 0.0232, "omegach2": 0.1150, "H0": 70.5}]
OUTSIDE = {"omegabh2": 0.0224, "omegach2": 0.1190, "H0": 80.0}  # h = 0.8, beyond the box (0.64-0.72)

needs_data = pytest.mark.skipif(
    not os.path.isdir(os.path.join(PACKAGES, "data", "bao_data")),
    reason=f"the likelihood data are not at {PACKAGES} (see ../shared/data/README.md)")


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """The spec above, built with the CLASS driver (zelos build)."""
    from zelos.build import BuildOptions, build

    folder = tmp_path_factory.mktemp("classy_archive")
    spec = folder / "class_tiny_background.yaml"
    spec.write_text(SPEC)
    return build(str(spec), BuildOptions(out_dir=str(folder), processes=2, progress=False, plots=False)).path


def zelos_model(emulators, likes=LIKES, params=PARAMS, **options):
    return get_model({"theory": {"zelos": {"emulators": list(emulators), **options}}, "likelihood": likes,
                      "params": params, "packages_path": PACKAGES})


def classy_model(likes=LIKES, params=PARAMS, extra_args=SETTINGS):
    return get_model({"theory": {"classy": {"extra_args": dict(extra_args)}}, "likelihood": likes,
                      "params": params, "packages_path": PACKAGES})


@pytest.fixture(scope="module")
def models(archive, tmp_path_factory):
    log = tmp_path_factory.mktemp("points")
    # every emulated point is also computed by classy (spot checks): a few 50 ms runs
    mz, mc = zelos_model([archive], log=str(log), spot_check=1.0, spot_check_seed=1), classy_model()
    yield mz, mc, log
    mz.close()
    mc.close()


def test_run_names_become_class_names_for_the_emulators_and_for_classy():
    from zelos.cobaya import Zelos
    from zelos.cobaya.classy_names import for_emulators, renames

    table = renames(Zelos.get_defaults()["renames"], Zelos.get_defaults()["renames"])
    # Cobaya's classy's own renames, CAMB's keywords and CAMB's derived names, all to CLASS's
    for name, class_name in (("omegabh2", "omega_b"), ("ombh2", "omega_b"), ("omch2", "omega_cdm"),
                             ("tau", "tau_reio"), ("As", "A_s"), ("logA", "ln10^{10}A_s"), ("rdrag", "rs_drag"),
                             ("omegam", "Omega_m"), ("zdrag", "z_d"), ("thetastar", "theta_star_100")):
        assert table[name] == class_name, name
    assert "H0" not in table  # CLASS takes H0 itself
    assert renames({"mytau": "tau_reio"}, {})["mytau"] == "tau_reio"  # the user's own entries are kept
    # the emulators see canonical CLASS names and the aliases they take, from the exact inputs
    view = for_emulators({"omega_b": 0.0224, "H0": 68.0, "ln10^{10}A_s": 3.05, "Omega_cdm": 0.26},
                         {"h", "ln10^{10}A_s", "omega_cdm", "ln_A_s_1e10"})
    assert view["h"] == 0.68 and view["H0"] == 68.0 and view["ln10^{10}A_s"] == 3.05
    assert view["A_s"] == pytest.approx(1e-10 * math.exp(3.05), rel=1e-15)
    assert view["ln_A_s_1e10"] == pytest.approx(3.05, rel=1e-15)
    assert view["omega_cdm"] == pytest.approx(0.26 * 0.68**2, rel=1e-15)


@needs_data
def test_start_up_says_classy_is_the_fallback(archive, caplog):
    caplog.set_level(logging.INFO)
    model = zelos_model([archive])
    text = "\n".join(r.getMessage() for r in caplog.records)
    model.close()
    for requirement, output in (("Hubble", "H"), ("angular_diameter_distance", "D_M"), ("rdrag", "rdrag"),
                                ("omegam", "omegam"), ("z_d", "zdrag")):
        assert f"{requirement}: emulated ({output} <- CLASS_tiny_background)" in text
    assert "fallback: classy v3.4.1, extra_args {'N_ur': 3.044}" in text


@needs_data
def test_outside_the_box_zelos_is_cobayas_classy_and_the_point_is_logged(models):
    mz, mc, log = models
    (lz, dz), (lc, dc) = mz.loglikes(OUTSIDE), mc.loglikes(OUTSIDE)
    np.testing.assert_allclose(lz, lc, rtol=1e-10, atol=0)
    np.testing.assert_allclose(dz, dc, rtol=1e-10, atol=0)  # rdrag, omegam, z_d and the two chi2
    assert mz.theory["zelos"].summary()["fallbacks_by_reason"] == {"outside_every_region": 1}
    mz.theory["zelos"]._point_log.flush()
    [record] = [r for r in zelos.read_point_log(str(log)) if r["reason"] == "outside_every_region"]
    # logged in the emulator's names, which `zelos retrain` reads
    assert record["parameters"]["omega_b"] == 0.0224 and record["parameters"]["h"] == pytest.approx(0.8, rel=1e-15)
    assert record["nearest"] == "CLASS_tiny_background" and record["distance"] > 0
    assert "`h` = 0.8" in record["detail"]
    assert record["outputs"]["rdrag"] == pytest.approx(dc[0], rel=1e-12)
    assert record["outputs"]["Hubble"].shape == record["outputs"]["Hubble.z"].shape
    # and in the emulator's own schema, from the same classy run: what its driver computes there
    from zelos.build.plan import plan as make_plan
    from zelos.drivers import get_driver

    emu = mz.theory["zelos"]._usable["CLASS_tiny_background"]
    driver = get_driver("classy", emu.spec["code"]["settings"], make_plan(emu.spec).request)
    truth = driver.compute({p: record["parameters"][p] for p in emu.parameters})
    for name in emu.outputs:
        np.testing.assert_allclose(record["outputs"][name], truth[name], rtol=1e-6, err_msg=name)
    np.testing.assert_array_equal(record["outputs"]["grid.z_bg"], emu.grids["z_bg"])


@needs_data
def test_inside_the_box_zelos_agrees_with_classy_within_the_emulators_accuracy(models, archive):
    mz, mc, _ = models
    accuracy = zelos.load(archive).report["accuracy"]
    before = mz.theory["zelos"].summary()
    for point in INSIDE:
        (lz, dz), (lc, dc) = mz.loglikes(point), mc.loglikes(point)
        # distances to about 1e-4 move the DESI DR2 log-likelihood by about 1e-2, Union3 by 1e-3
        assert abs(lz[0] - lc[0]) < 0.05, (point, lz, lc)
        assert abs(lz[1] - lc[1]) < 0.01, (point, lz, lc)
        for name, z, c in zip(("rdrag", "omegam", "zdrag"), dz, dc):
            assert abs(z / c - 1) <= 2 * accuracy[name]["rel"]["max"], (name, z, c)
    after = mz.theory["zelos"].summary()
    assert after["fallback"] == before["fallback"] and after["emulated"] == before["emulated"] + len(INSIDE)
    # the spot checks measured the same error against classy
    assert after["spot_checks"] == before["spot_checks"] + len(INSIDE)
    diffs = after["spot_check_max_rel_diff"]
    assert set(diffs) == {"Hubble", "angular_diameter_distance", "rdrag", "omegam", "z_d"}
    assert all(0 < d < 1e-3 for d in diffs.values()), diffs
    assert after["spot_check_max_abs_delta_logp"]["bao.desi_dr2"] < 0.05


@needs_data
def test_camb_names_reach_the_same_emulator_and_the_same_classy(models, archive):
    mz, _, _ = models
    camb_names = {"ombh2": PARAMS["omegabh2"], "omch2": PARAMS["omegach2"], "H0": PARAMS["H0"],
                  "rdrag": {"derived": True}, "omegam": {"derived": True}, "zdrag": {"derived": True}}
    m2 = zelos_model([archive], params=camb_names)
    try:
        for point in (INSIDE[0], OUTSIDE):
            same = {"ombh2": point["omegabh2"], "omch2": point["omegach2"], "H0": point["H0"]}
            (l1, d1), (l2, d2) = mz.loglikes(point), m2.loglikes(same)
            np.testing.assert_array_equal(l1, l2)
            np.testing.assert_array_equal(d1, d2)
        assert m2.theory["zelos"].summary()["fallbacks_by_reason"] == {"outside_every_region": 1}
    finally:
        m2.close()


@needs_data
def test_an_input_the_emulator_holds_fixed_sends_the_point_to_classy(archive):
    params = dict(PARAMS, N_ur=3.3)  # the emulator was trained with N_ur = 3.044
    mz, mc = zelos_model([archive], params=params), classy_model(params=params, extra_args={})
    try:
        (lz, dz), (lc, dc) = mz.loglikes(INSIDE[0]), mc.loglikes(INSIDE[0])
        np.testing.assert_allclose(lz, lc, rtol=1e-10)
        np.testing.assert_allclose(dz, dc, rtol=1e-10)
        assert mz.theory["zelos"].summary()["fallbacks_by_reason"] == {"parameter_not_emulated": 1}
    finally:
        mz.close()
        mc.close()


# -- a CosmoPower-like emulator: CLASS's ln10^{10}A_s, fed from Cobaya's logA --------------------------
BOX = {"omega_b": (0.021, 0.024), "omega_cdm": (0.11, 0.13), "h": (0.64, 0.72), "ln10^{10}A_s": (2.9, 3.2),
       "n_s": (0.92, 1.0)}
SIGMA8 = 0.8123  # the constant the emulator answers


def sigma8_archive(path, version="3.4.1"):
    params = "".join(f"  '{k}': [{lo}, {hi}]\n" for k, (lo, hi) in BOX.items())
    spec = (f'name: CLASS_sigma8\nauthor: zelos tests\nversion: 0.0.1\ncode:\n  name: classy\n  version: "{version}"\n'
            f"parameters:\n{params}outputs:\n  derived: [sigma8]\n")
    constant_archive(path, spec, BOX, {"derived": [("sigma8", np.array(SIGMA8), ())]}, {}, accuracy=1e-3)
    return str(path)


class One(cobaya.likelihood.Likelihood):
    def logp(self, **params):
        return 0.0


S8_PARAMS = {"omega_b": 0.0224, "omega_cdm": 0.12, "n_s": 0.965, "H0": {"prior": {"min": 60.0, "max": 80.0}},
             "logA": {"prior": {"min": 2.9, "max": 3.2}}, "sigma8": {"derived": True}}


def test_an_emulator_taking_ln10As_is_fed_logA_and_classy_gets_it_outside(tmp_path):
    path = sigma8_archive(tmp_path / "CLASS_sigma8.tar.gz")
    # a constant output agrees with classy at one point only: no start-up check
    mz = zelos_model([path], likes={"one": One}, params=S8_PARAMS, check_at_start=False)
    # Cobaya's classy takes A_s, computed from logA as Cobaya's cosmology templates do
    classy_params = dict(S8_PARAMS, logA=dict(S8_PARAMS["logA"], drop=True),
                         A_s={"value": "lambda logA: 1e-10 * np.exp(logA)"})
    mc = classy_model(likes={"one": One}, params=classy_params, extra_args={})
    try:
        assert mz.loglikes({"H0": 68.0, "logA": 3.05})[1] == [SIGMA8]  # inside: the emulator's constant
        outside = {"H0": 75.0, "logA": 3.05}  # h = 0.75
        (_, dz), (_, dc) = mz.loglikes(outside), mc.loglikes(outside)
        assert dz[0] != SIGMA8 and dz[0] == pytest.approx(dc[0], rel=1e-12)
        assert mz.theory["zelos"].summary()["fallbacks_by_reason"] == {"outside_every_region": 1}
    finally:
        mz.close()
        mc.close()


def test_the_classy_version_the_emulator_pins_is_checked(tmp_path, caplog):
    path = sigma8_archive(tmp_path / "CLASS_old.tar.gz", version="3.3.1")
    with pytest.raises(LoggedError, match=r"trained with classy==3.3.1 but classy 3.4.1 is installed"):
        zelos_model([path], likes={"one": One}, params=S8_PARAMS)
    caplog.set_level(logging.WARNING)
    model = zelos_model([path], likes={"one": One}, params=S8_PARAMS, allow_version_mismatch=True,
                        check_at_start=False)  # a constant output: see above
    model.close()
    assert any("allow_version_mismatch" in r.getMessage() for r in caplog.records)


# -- CMB: classy's units, and CLASS's non-linear default ------------------------------------------------
LMAX = 200
REF = {"omega_b": 0.02237, "omega_cdm": 0.1200, "h": 0.6736, "tau_reio": 0.0544, "A_s": 2.1e-9, "n_s": 0.9649}
CMB_BOX = {"omega_b": (0.020, 0.025), "omega_cdm": (0.10, 0.14), "h": (0.60, 0.75), "tau_reio": (0.03, 0.09),
           "ln10^{10}A_s": (2.9, 3.2), "n_s": (0.92, 1.0)}


class Spectra(cobaya.likelihood.Likelihood):
    def get_requirements(self):
        return {"Cl": {"tt": LMAX, "te": LMAX, "ee": LMAX}}

    def logp(self, **params):
        return 0.0


def test_cl_equal_cobayas_classy_in_every_unit_emulated_and_computed(tmp_path, caplog):
    """A CLASS-trained CMB archive whose networks output classy's lensed D_l at REF: emulated at
    REF, zelos's get_Cl equals Cobaya's classy's there (conversions with CLASS's T_cmb); outside,
    classy computes it, with CLASS's `non_linear: none` the emulator was trained with (Cobaya's
    classy would use HMcode)."""
    c = classy.Class()
    c.set({**REF, "output": "tCl pCl lCl", "lensing": "yes", "l_max_scalars": LMAX})
    c.compute()
    ell = np.arange(2, LMAX + 1)
    cl, t_cmb, fac = c.lensed_cl(LMAX), c.T_cmb(), ell * (ell + 1) / (2 * np.pi)
    params = "".join(f"  '{k}': [{lo}, {hi}]\n" for k, (lo, hi) in CMB_BOX.items())
    spec = ('name: CLASS_cmb\nauthor: zelos tests\nversion: 0.0.1\ncode:\n  name: classy\n  version: "3.4.1"\n'
            f"parameters:\n{params}outputs:\n  cmb:\n    spectra: [tt, te, ee]\n    lmin: 2\n    lmax: {LMAX}\n")
    path = str(tmp_path / "CLASS_cmb.tar.gz")
    constant_archive(path, spec, CMB_BOX, {s: [(f"dl_{s}", cl[s][2:] * fac * (t_cmb * 1e6) ** 2, ("ell",))]
                                           for s in ("tt", "te", "ee")}, {"ell": ell}, accuracy=1e-3)
    sampled = {"omega_b": REF["omega_b"], "omega_cdm": REF["omega_cdm"], "tau_reio": REF["tau_reio"],
               "n_s": REF["n_s"], "H0": {"prior": {"min": 60.0, "max": 80.0}},
               "logA": {"prior": {"min": 2.9, "max": 3.2}, "drop": True},
               "A_s": {"value": "lambda logA: 1e-10 * np.exp(logA)"}}
    caplog.set_level(logging.INFO)
    mz = zelos_model([path], likes={"cmb": Spectra}, params=sampled, check_at_start=False)  # constant outputs
    assert "fallback: classy v3.4.1, extra_args {'non_linear': 'none'}" in caplog.text
    mc = classy_model(likes={"cmb": Spectra}, params=sampled, extra_args={"non_linear": "none"})
    try:
        for h0 in (100 * REF["h"], 78.0):  # REF (emulated), then h = 0.78 (classy)
            point = {"H0": h0, "logA": math.log(1e10 * REF["A_s"])}
            mz.loglikes(point)
            mc.loglikes(point)
            for kw in ({}, {"ell_factor": True}, {"units": "muK2"}, {"units": "1"}):
                a, b = mz.likelihood["cmb"].provider.get_Cl(**kw), mc.likelihood["cmb"].provider.get_Cl(**kw)
                for s in ("tt", "te", "ee"):
                    np.testing.assert_allclose(a[s][2:LMAX + 1], b[s][2:LMAX + 1], rtol=1e-12, atol=0)
        summary = mz.theory["zelos"].summary()
        assert summary["emulated"] == 1 and summary["fallbacks_by_reason"] == {"outside_every_region": 1}
    finally:
        mz.close()
        mc.close()

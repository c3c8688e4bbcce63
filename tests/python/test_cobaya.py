"""The Cobaya theory `zelos` with real Cobaya, real CAMB and the real DESI DR2 BAO and Union3
likelihood data (../shared/data/cobaya_packages).

The emulator is the shipped CAMB_LCDM_background, what `zelos build specs/camb_lcdm_background.yaml`
made (building it here again took two of the suite's minutes on 2 cores; test_active_learning.py,
test_routing_coverage.py and test_report.py build small specs and serve them through Cobaya).
"""

import logging
import os
import time

import numpy as np
import pytest

cobaya = pytest.importorskip("cobaya", reason="cobaya is not installed (pip install zelos[cobaya])")

import yaml  # noqa: E402

import zelos  # noqa: E402
from zelos.shipped import shipped_archive  # noqa: E402
from cobaya.log import LoggedError  # noqa: E402
from cobaya.model import get_model  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SPEC = os.path.join(ROOT, "specs", "camb_lcdm_background.yaml")
PACKAGES = os.path.normpath(os.path.join(ROOT, "..", "shared", "data", "cobaya_packages"))
LIKES = {"bao.desi_dr2": None, "sn.union3": None}
# The spec's code.settings: Cobaya's CAMB with these is what the emulator was trained on.
CAMB_ARGS = {"mnu": 0.06, "num_massive_neutrinos": 1, "nnu": 3.046, "omk": 0.0}
PARAMS = {
    "ombh2": {"prior": {"min": 0.020, "max": 0.025}, "ref": 0.0224, "proposal": 0.0002},
    "omch2": {"prior": {"min": 0.095, "max": 0.140}, "ref": 0.119, "proposal": 0.002},
    "H0": {"prior": {"min": 55.0, "max": 85.0}, "ref": 68.0, "proposal": 0.6},
    "rdrag": {"derived": True},
    "omegam": {"derived": True},
    "zdrag": {"derived": True},
}
INSIDE = [
    {"ombh2": 0.0224, "omch2": 0.1190, "H0": 68.0},
    {"ombh2": 0.0221, "omch2": 0.1165, "H0": 67.2},
    {"ombh2": 0.0228, "omch2": 0.1240, "H0": 69.5},
]
OUTSIDE = {"ombh2": 0.0224, "omch2": 0.1190, "H0": 80.0}  # H0 beyond the training box (60-76)

needs_data = pytest.mark.skipif(
    not os.path.isdir(os.path.join(PACKAGES, "data", "bao_data")),
    reason=f"the likelihood data are not at {PACKAGES} (see ../shared/data/README.md)")


@pytest.fixture(scope="session")
def archive():
    """The shipped build of specs/camb_lcdm_background.yaml."""
    path = shipped_archive("CAMB_LCDM_background")
    assert zelos.load(str(path)).spec["name"] == yaml.safe_load(open(SPEC))["name"]
    return str(path)


def zelos_model(archive, likes=LIKES, params=PARAMS, **options):
    info = {"theory": {"zelos": {"emulators": [archive], **options}}, "likelihood": likes,
            "params": params, "packages_path": PACKAGES}
    return get_model(info)


def camb_model(likes=LIKES, params=PARAMS, extra_args=CAMB_ARGS):
    info = {"theory": {"camb": {"extra_args": dict(extra_args)}}, "likelihood": likes,
            "params": params, "packages_path": PACKAGES}
    return get_model(info)


@pytest.fixture(scope="module")
def models(archive, tmp_path_factory):
    log = tmp_path_factory.mktemp("points")
    mz = zelos_model(archive, log=str(log))
    mc = camb_model()
    yield mz, mc, log
    mz.close()
    mc.close()


def test_theory_zelos_resolves_to_the_plugin_class():
    from cobaya.component import get_component_class
    from zelos.cobaya import Zelos

    assert zelos.get_cobaya_class() is Zelos
    assert get_component_class("zelos", kind="theory") is Zelos
    # every option is documented in Zelos.yaml beside the class
    defaults = Zelos.get_defaults()
    for option in ("emulators", "log", "spot_check", "fallback", "extra_args", "renames", "speed"):
        assert option in defaults


def test_a_typo_in_the_options_is_refused_with_the_components_name(archive):
    with pytest.raises(LoggedError, match=r"theory 'zelos' does not recognize some options: 'emulator'"):
        get_model({"theory": {"zelos": {"emulator": [archive]}}, "likelihood": {"one": None},
                   "params": {"H0": 68.0}})


@pytest.mark.parametrize("options, expected", [
    ({"emulators": ["no/such/emulator.tar.gz"]},
     r"emulator 'no/such/emulator.tar.gz': .*no such archive file, and no emulator of that name ships"),
    ({"spot_check": 1.5}, r"`spot_check` = 1.5: expected a fraction in \[0, 1\]"),
    ({"spot_check": "often"}, r"`spot_check` = 'often': expected a fraction in \[0, 1\]"),
    ({"emulators": []}, r"no emulators: leave `emulators` out \(or write `emulators: all`\)"),
])
def test_bad_options_are_refused_naming_the_option_and_what_was_expected(archive, options, expected):
    with pytest.raises(LoggedError, match=expected):
        get_model({"theory": {"zelos": {"emulators": [archive], **options}}, "likelihood": {"one": None},
                   "params": {"H0": 68.0}})


@needs_data
def test_start_up_says_which_emulator_covers_which_requirement(archive, caplog):
    caplog.set_level(logging.INFO)
    params = dict(PARAMS, age={"derived": True})  # age: not emulated -> computed by CAMB
    model = zelos_model(archive, params=params)
    text = "\n".join(r.getMessage() for r in caplog.records)
    model.close()
    assert "emulator CAMB_LCDM_background" in text
    for requirement, output in (("Hubble", "H"), ("angular_diameter_distance", "D_M"), ("rdrag", "rdrag"),
                                ("omegam", "omegam")):
        assert f"{requirement}: emulated ({output} <- CAMB_LCDM_background)" in text
    assert "age: NOT emulated (no emulator emulates `age`): computed by camb at every point" in text
    assert "fallback: camb 2.0.5" in text


@needs_data
def test_inside_the_region_the_log_likelihoods_agree_with_camb(models, archive):
    mz, mc, _ = models
    accuracy = zelos.load(archive).report["accuracy"]
    before = mz.theory["zelos"].summary()
    for point in INSIDE:
        (lz, dz), (lc, dc) = mz.loglikes(point), mc.loglikes(point)
        # Tolerance from the documented accuracy: distances and H(z) to about 1e-4 move the
        # DESI DR2 log-likelihood (0.3-1% measurements) by a few 1e-2; Union3 (0.1 mag) by 1e-3.
        assert abs(lz[0] - lc[0]) < 0.05, (point, lz, lc)
        assert abs(lz[1] - lc[1]) < 0.01, (point, lz, lc)
        for name, z, c in zip(("rdrag", "omegam", "zdrag"), dz, dc):
            assert abs(z / c - 1) <= accuracy[name]["rel"]["max"], (name, z, c)
    after = mz.theory["zelos"].summary()
    assert after["fallback"] == before["fallback"] and after["emulated"] == before["emulated"] + len(INSIDE)


@needs_data
def test_outside_the_region_zelos_is_camb_and_the_point_is_logged(models):
    mz, mc, log = models
    (lz, dz), (lc, dc) = mz.loglikes(OUTSIDE), mc.loglikes(OUTSIDE)
    np.testing.assert_allclose(lz, lc, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dz, dc, rtol=1e-12)
    summary = mz.theory["zelos"].summary()
    assert summary["fallbacks_by_reason"] == {"outside_every_region": 1}
    mz.theory["zelos"]._point_log.flush()
    [record] = [r for r in zelos.read_point_log(str(log)) if r["reason"] == "outside_every_region"]
    assert record["parameters"] == OUTSIDE
    assert record["nearest"] == "CAMB_LCDM_background" and record["distance"] > 0
    assert "`H0` = 80" in record["detail"]
    assert record["outputs"]["rdrag"] == pytest.approx(dc[0], rel=1e-12)
    assert record["outputs"]["Hubble"].shape == record["outputs"]["Hubble.z"].shape


@needs_data
def test_a_parameter_the_emulator_holds_fixed_sends_the_point_to_camb(archive):
    params = dict(PARAMS, w=-0.9)  # the emulator was trained with CAMB's w = -1
    mz, mc = zelos_model(archive, params=params), camb_model(params=params)
    try:
        (lz, dz), (lc, dc) = mz.loglikes(INSIDE[0]), mc.loglikes(INSIDE[0])
        np.testing.assert_allclose(lz, lc, rtol=1e-12)
        np.testing.assert_allclose(dz, dc, rtol=1e-12)
        assert mz.theory["zelos"].summary()["fallbacks_by_reason"] == {"parameter_not_emulated": 1}
    finally:
        mz.close()
        mc.close()


class HighZ(cobaya.likelihood.Likelihood):
    """Asks for H(z) beyond the emulated grid (z <= 2.5) and below its first node (0.01)."""

    z = np.array([0.0, 0.005, 1.0, 3.0])

    def get_requirements(self):
        return {"Hubble": {"z": self.z}, "comoving_radial_distance": {"z": self.z[:3]}}

    def logp(self, **params):
        H = self.provider.get_Hubble(self.z)
        D = self.provider.get_comoving_radial_distance(self.z[:3])
        return -0.5 * float(np.sum(((H - 70 * (1 + self.z)) / 10) ** 2) + np.sum((D - 3000 * self.z[:3]) ** 2) / 1e6)


def test_a_request_outside_the_emulated_z_range_is_computed_by_camb(archive, caplog):
    caplog.set_level(logging.INFO)
    likes = {"highz": HighZ}
    params = {k: PARAMS[k] for k in ("ombh2", "omch2", "H0")}
    mz, mc = zelos_model(archive, likes=likes, params=params), camb_model(likes=likes, params=params)
    try:
        text = "\n".join(r.getMessage() for r in caplog.records)
        assert "Hubble: NOT emulated (`CAMB_LCDM_background` emulates H for z in [0.01, 2.5]" in text
        # below the grid the spline's extra node at z = 0 (D_M/z = c/H0) keeps it emulated
        assert "comoving_radial_distance: emulated (D_M <- CAMB_LCDM_background)" in text
        lz, lc = mz.loglikes(INSIDE[0])[0], mc.loglikes(INSIDE[0])[0]
        assert lz == pytest.approx(lc, rel=1e-4)
        zl, cl = mz.likelihood["highz"], mc.likelihood["highz"]
        np.testing.assert_allclose(zl.provider.get_Hubble(HighZ.z), cl.provider.get_Hubble(HighZ.z), rtol=1e-12)
        np.testing.assert_allclose(zl.provider.get_comoving_radial_distance(HighZ.z[:3]),
                                   cl.provider.get_comoving_radial_distance(HighZ.z[:3]), rtol=2e-4)
        # Hubble beyond the grid is CAMB's: the point is computed (in part) by CAMB, not emulated
        summary = mz.theory["zelos"].summary()
        assert summary["emulated"] == 0 and summary["fallback"] == 1
        assert summary["fallbacks_by_reason"] == {"requirement_not_emulated: Hubble": 1}
    finally:
        mz.close()
        mc.close()


@needs_data
def test_spot_checks_log_the_emulators_error_on_each_quantity_and_likelihood(archive, tmp_path):
    mz = zelos_model(archive, log=str(tmp_path), spot_check=1.0, spot_check_seed=1)
    try:
        for point in INSIDE:
            mz.loglikes(point)
        summary = mz.theory["zelos"].summary()
    finally:
        mz.close()
    assert summary["spot_checks"] == 3 and summary["emulated"] == 3
    diffs = summary["spot_check_max_rel_diff"]
    assert set(diffs) == {"Hubble", "angular_diameter_distance", "rdrag", "omegam", "zdrag"}
    assert all(0 < d < 1e-3 for d in diffs.values()), diffs
    assert set(summary["spot_check_max_abs_delta_logp"]) == {"bao.desi_dr2", "sn.union3"}
    assert summary["spot_check_max_abs_delta_logp"]["bao.desi_dr2"] < 0.05
    records = [r for r in zelos.read_point_log(str(tmp_path)) if r["reason"] == "spot_check"]
    assert len(records) == 3
    assert set(records[0]["outputs"]) >= {"max_rel_diff.Hubble", "delta_logp.bao.desi_dr2"}


@needs_data
def test_stop_at_error_applies_to_the_fallback_code(archive):
    failing = dict(OUTSIDE, omch2=-0.2)  # outside the region, and CAMB fails: the universe recollapses
    lenient = zelos_model(archive)
    try:  # rejected, as a plain `theory: camb` rejects it
        assert np.all(lenient.loglikes(failing)[0] == -np.inf)
        assert np.all(np.isfinite(lenient.loglikes(OUTSIDE)[0]))  # and the next point is fine
    finally:
        lenient.close()
    strict = zelos_model(archive, stop_at_error=True)
    try:  # the run stops with CAMB's own error
        with pytest.raises(Exception, match="stops expanding"):
            strict.loglikes(failing)
    finally:
        strict.close()


@needs_data
def test_cambs_parameter_names_and_renames_are_accepted(archive):
    # Planck-chain names through the theory's `renames` (omegabh2, omegach2) and CAMB's own names
    renamed = {"omegabh2" if k == "ombh2" else "omegach2" if k == "omch2" else k: v for k, v in PARAMS.items()}
    point = {"omegabh2": INSIDE[1]["ombh2"], "omegach2": INSIDE[1]["omch2"], "H0": INSIDE[1]["H0"]}
    mz, mc = zelos_model(archive, params=renamed), camb_model()
    try:
        (lz, dz), (lc, dc) = mz.loglikes(point), mc.loglikes(INSIDE[1])
        assert mz.theory["zelos"].summary()["emulated"] == 1
        assert abs(lz[0] - lc[0]) < 0.05 and abs(lz[1] - lc[1]) < 0.01, (lz, lc)
        np.testing.assert_allclose(dz[:3], dc[:3], rtol=1e-4)  # rdrag, omegam, zdrag (then the chi2s)
    finally:
        mz.close()
        mc.close()


@needs_data
def test_without_fallback_a_point_outside_stops_the_run(archive):
    mz = zelos_model(archive, fallback=False)
    try:
        assert np.all(np.isfinite(mz.loglikes(INSIDE[0])[0]))
        with pytest.raises(LoggedError, match=r"outside the trust regions and `fallback` is false.*`H0` = 80"):
            mz.loglikes(OUTSIDE)
    finally:
        mz.close()


def test_cl_follow_cobayas_units_and_ell_factor(tmp_path):
    """A random-weight CMB emulator (dl_tt in muK^2): get_Cl converts as Cobaya's CAMB does."""
    from zelos.testing import random_archive

    path = tmp_path / "random_tt.tar.gz"
    random_archive(path, hidden=2, width=16, n_out=299, log=True, seed=3)
    emu = zelos.load(path)

    class TT(cobaya.likelihood.Likelihood):
        def get_requirements(self):
            return {"Cl": {"tt": 250}}

        def logp(self, **params):
            return 0.0

    params = {"ombh2": 0.0224, "omch2": 0.12, "cosmomc_theta": 0.010409, "tau": 0.055, "logA": 3.05, "ns": 0.965}
    # random weights agree with no code: the start-up check would refuse them
    zelos_block = {"emulators": [str(path)], "check_at_start": False}
    model = get_model({"theory": {"zelos": zelos_block}, "likelihood": {"tt": TT}, "params": params})
    try:
        model.loglikes({})
        provider = model.likelihood["tt"].provider
        dl = emu(params)["dl_tt"][: 250 - 1]  # l = 2..250
        ell = np.arange(2, 251)
        cl = provider.get_Cl()  # ell_factor=False, FIRAS muK^2
        np.testing.assert_allclose(cl["tt"][2:251], dl * 2 * np.pi / (ell * (ell + 1)), rtol=1e-12)
        assert cl["ell"][0] == 0 and cl["tt"][0] == 0
        np.testing.assert_allclose(provider.get_Cl(ell_factor=True)["tt"][2:251], dl, rtol=1e-12)
        np.testing.assert_allclose(provider.get_Cl(ell_factor=True, units="1")["tt"][2:251], dl / 2.7255e6**2,
                                   rtol=1e-12)
        assert model.theory["zelos"].summary()["emulated"] == 1
    finally:
        model.close()

    # Outside its box (ns = 1.05) the point goes to CAMB: the same C_l as Cobaya's CAMB
    sampled = dict(params, ns={"prior": {"min": 0.9, "max": 1.1}})
    mz = get_model({"theory": {"zelos": zelos_block}, "likelihood": {"tt": TT}, "params": sampled})
    mc = get_model({"theory": {"camb": {"extra_args": {"lens_potential_accuracy": 1}}}, "likelihood": {"tt": TT},
                    "params": dict(sampled, logA={"value": 3.05, "drop": True},
                                   As={"value": "lambda logA: 1e-10 * np.exp(logA)"})})
    try:
        mz.loglikes({"ns": 1.05})
        mc.loglikes({"ns": 1.05})
        for kw in ({}, {"ell_factor": True}, {"units": "muK2"}):
            a, b = mz.likelihood["tt"].provider.get_Cl(**kw), mc.likelihood["tt"].provider.get_Cl(**kw)
            np.testing.assert_allclose(a["tt"], b["tt"], rtol=1e-12, atol=0)
        assert mz.theory["zelos"].summary()["fallbacks_by_reason"] == {"outside_every_region": 1}
    finally:
        mz.close()
        mc.close()


@needs_data
def test_time_per_evaluation_zelos_and_camb_side_by_side(models, capsys):
    """The numbers in docs/cobaya.md: one likelihood evaluation (theory + DESI DR2 + Union3)."""
    mz, mc, _ = models
    rng = np.random.default_rng(5)
    points = [{"ombh2": 0.0224 + 1e-4 * rng.normal(), "omch2": 0.119 + 1e-3 * rng.normal(),
               "H0": 68.0 + 0.5 * rng.normal()} for _ in range(200)]

    def per_call(model, pts):
        t = time.perf_counter()
        for p in pts:
            model.loglikes(p)
        return (time.perf_counter() - t) / len(pts)

    per_call(mz, points[:5])
    tz, tc = per_call(mz, points), per_call(mc, points[:50])
    with capsys.disabled():
        print(f"\n  one evaluation of bao.desi_dr2 + sn.union3: zelos {1e3 * tz:.2f} ms, camb {1e3 * tc:.2f} ms "
              f"({tc / tz:.0f}x)")
    assert tz < tc


@needs_data
def test_a_short_mcmc_with_theory_zelos_writes_a_chain_getdist_reads(archive, tmp_path):
    from cobaya.run import run

    getdist = pytest.importorskip("getdist")
    info = {"theory": {"zelos": {"emulators": [archive], "log": str(tmp_path / "points")}},
            "likelihood": dict(LIKES), "params": PARAMS, "packages_path": PACKAGES,
            "sampler": {"mcmc": {"max_samples": 400, "burn_in": 0, "learn_proposal": False,
                                 "measure_speeds": False, "seed": 3}},
            "output": str(tmp_path / "chain" / "run")}
    updated, sampler = run(info)
    samples = getdist.loadMCSamples(str(tmp_path / "chain" / "run"), settings={"ignore_rows": 0})
    assert samples.numrows >= 100
    for name in ("rdrag", "omegam", "zdrag"):
        values = samples[name]
        assert np.all(np.isfinite(values)) and np.all(values > 0), name
    assert 140 < samples.mean("rdrag") < 155
    assert 0.25 < samples.mean("omegam") < 0.36


def _random_pk_archive(path, z_grid=(0.0, 0.5, 1.0, 1.5, 2.0), nk=40):
    """A random-weight archive emulating `pk_lin` (z_pk x k) and `sigma8`: plumbing only."""
    import json

    from zelos import _zelos

    ranges = {"ombh2": (0.020, 0.025), "omch2": (0.10, 0.14), "H0": (60.0, 76.0), "logA": (2.9, 3.2),
              "ns": (0.92, 1.0)}
    spec = ("name: random_pk\nauthor: zelos tests\nversion: 0.0.1\n"
            'code:\n  name: camb\n  version: "2.0.5"\n  settings: {mnu: 0.06, num_massive_neutrinos: 1}\n'
            "parameters:\n" + "".join(f"  {p}: [{lo!r}, {hi!r}]\n" for p, (lo, hi) in ranges.items())
            + f"outputs:\n  matter_power:\n    k: {{min: 1.0e-3, max: 1.0, n: {nk}}}\n"
            f"    z: [{', '.join(map(str, z_grid))}]\n  derived: [sigma8]\n")
    rng = np.random.default_rng(7)
    lo, hi = (np.array([r[i] for r in ranges.values()]) for i in (0, 1))
    k = np.exp(np.linspace(np.log(1e-3), np.log(1.0), nk))
    k[0], k[-1] = 1e-3, 1.0
    tensors = {"input.shift": (lo + hi) / 2, "input.scale": (hi - lo) / 2,
               "grid.k": k, "grid.z_pk": np.array(z_grid, float)}
    networks = []
    for name, n_out, steps in (("pk_lin", len(z_grid) * nk, True), ("derived", 1, False)):
        sizes = [len(ranges), 16, n_out]
        for i in range(2):
            tensors[f"{name}.{i}.weight"] = rng.uniform(-0.3, 0.3, (sizes[i + 1], sizes[i])).astype(np.float32)
            tensors[f"{name}.{i}.bias"] = rng.uniform(-0.1, 0.1, sizes[i + 1]).astype(np.float32)
        tensors[f"{name}.out.scale"] = np.full(n_out, 0.05, np.float32)
        shift = (np.tile(4 - 2 * (np.log10(k) + 1) ** 2 / 4, len(z_grid)) if steps else np.array([-0.1]))
        tensors[f"{name}.out.shift"] = shift.astype(np.float32)
        out = ([{"name": "pk_lin", "shape": [len(z_grid), nk], "axes": ["z_pk", "k"]}] if steps
               else [{"name": "sigma8", "shape": [], "axes": []}])
        networks.append({"name": name, "activation": "tanh", "layers": 2, "outputs": out,
                         "output_transform": [{"op": "affine", "scale": f"{name}.out.scale",
                                               "shift": f"{name}.out.shift"}, {"op": "pow10"}]})
    model = {"model_format": 1, "parameters": list(ranges), "input": {"shift": "input.shift", "scale": "input.scale"},
             "networks": networks, "grids": {"k": "grid.k", "z_pk": "grid.z_pk"}}
    _zelos.write_emulator_archive(os.fspath(path), spec, json.dumps(model), tensors,
                                  {"lower": lo, "upper": hi}, json.dumps({"accuracy": {}}), "# random\n")
    return zelos.load(path)


def test_pk_grid_interpolator_and_sigma8_from_an_emulated_pk(tmp_path):
    emu = _random_pk_archive(tmp_path / "random_pk.tar.gz")
    z_req = [0.0, 0.5, 0.75, 2.0]

    class Pk(cobaya.likelihood.Likelihood):
        def get_requirements(self):
            return {"Pk_grid": {"z": z_req, "k_max": 0.8, "nonlinear": False},
                    "Pk_interpolator": {"z": z_req, "k_max": 0.8, "nonlinear": False}, "sigma8_z": {"z": [0.0]}}

        def logp(self, **params):
            return 0.0

    params = {"ombh2": 0.0224, "omch2": 0.12, "H0": 68.0, "logA": 3.05, "ns": 0.965}
    model = get_model({"theory": {"zelos": {"emulators": [str(tmp_path / "random_pk.tar.gz")], "check_at_start": False}},
                       "likelihood": {"pk": Pk}, "params": params})
    try:
        model.loglikes({})
        provider = model.likelihood["pk"].provider
        k, z, pk = provider.get_Pk_grid(nonlinear=False)
        np.testing.assert_array_equal(z, [0.0, 0.5, 0.75, 1.0, 1.5, 2.0])  # the grid plus 0.75
        out = emu(params)
        np.testing.assert_allclose(pk[[0, 1, 3, 4, 5]], out["pk_lin"], rtol=1e-12)
        np.testing.assert_allclose(pk[2], emu.pk(params, k, [0.75])[0], rtol=1e-12)
        interp = provider.get_Pk_interpolator(nonlinear=False)
        assert interp.P(0.5, 0.1) == pytest.approx(emu.pk(params, [0.1], [0.5])[0, 0], rel=1e-6)
        assert provider.get_sigma8_z([0.0])[0] == pytest.approx(float(out["sigma8"]), rel=1e-12)
        assert model.theory["zelos"].summary()["emulated"] == 1
    finally:
        model.close()

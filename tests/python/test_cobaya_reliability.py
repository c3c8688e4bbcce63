"""Reliability of the Cobaya theory `zelos`, with real Cobaya and real CAMB and the shipped
emulators (no build): non-finite inputs are refused and never reach the code; every option is
checked for type and range; a point the code computed (in part) is never counted as emulated;
a parameter no emulator varies is said at start-up; an archive whose spec states other code
settings than its weights were trained with is refused by the start-up check.
"""

import gzip
import hashlib
import io
import json
import logging
import os
import re
import tarfile

import numpy as np
import pytest
import yaml

cobaya = pytest.importorskip("cobaya", reason="cobaya is not installed (pip install zelos[cobaya])")

import zelos  # noqa: E402
from cobaya.log import LoggedError  # noqa: E402
from cobaya.model import get_model  # noqa: E402
from zelos.cobaya import Zelos  # noqa: E402
from zelos.shipped import shipped_archive  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGES = os.path.normpath(os.path.join(ROOT, "..", "shared", "data", "cobaya_packages"))
BACKGROUND = "CAMB_LCDM_background"
LIKES = {"bao.desi_dr2": None, "sn.union3": None}
PARAMS = {
    "ombh2": {"prior": {"min": 0.020, "max": 0.025}},
    "omch2": {"prior": {"min": 0.095, "max": 0.140}},
    "H0": {"prior": {"min": 55.0, "max": 85.0}},
    "rdrag": {"derived": True},
}
INSIDE = {"ombh2": 0.0224, "omch2": 0.1190, "H0": 68.0}
# what the shipped background emulator was trained with (its spec's code settings)
SETTINGS = zelos.get_emulator(BACKGROUND).spec["code"]["settings"]

needs_data = pytest.mark.skipif(
    not os.path.isdir(os.path.join(PACKAGES, "data", "bao_data")),
    reason=f"the likelihood data are not at {PACKAGES} (see ../shared/data/README.md)")


def model(emulators=(BACKGROUND,), likes=LIKES, params=PARAMS, **options):
    info = {"theory": {"zelos": {"emulators": list(emulators), **options}}, "likelihood": likes,
            "params": params, "packages_path": PACKAGES}
    return get_model(info)


def messages(caplog, level=logging.INFO):
    return "\n".join(r.getMessage() for r in caplog.records if r.levelno >= level)


class Calls:
    """Wraps a fallback's `compute` to count the points handed to the code."""

    def __init__(self, inner):
        self.points, self._compute = [], inner.compute
        inner.compute = self

    def __call__(self, point):
        self.points.append(dict(point))
        if not all(np.isfinite(float(v)) for v in point.values()):
            raise AssertionError(f"a non-finite input reached the code: {point}")  # CAMB would abort the process
        return self._compute(point)


# -- 1. non-finite inputs ------------------------------------------------------------------------------
@needs_data
@pytest.mark.parametrize("how", ["lambda", "loglikes"])
def test_a_nan_input_is_refused_never_reaches_camb_and_is_said_and_logged(how, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    if how == "lambda":  # a derived input: H0 from a sampled x, NaN beyond 0.9
        params = dict(PARAMS, x={"prior": {"min": 0.0, "max": 1.0}, "drop": True},
                      H0={"value": "lambda x: 60.0 + 10.0 * x if x < 0.9 else float('nan')"})
        bad, good = {"ombh2": 0.0224, "omch2": 0.119, "x": 0.95}, {"ombh2": 0.0224, "omch2": 0.119, "x": 0.5}
    else:  # a NaN handed to `loglikes` (which, unlike `logpost`, does not look at it first)
        params, bad, good = PARAMS, dict(INSIDE, H0=float("nan")), INSIDE
    m = model(params=params, log=str(tmp_path))
    try:
        zt = m.theory["zelos"]
        calls = Calls(zt._full)
        evaluate = m.logpost if how == "lambda" else (lambda p: float(np.sum(m.loglikes(p)[0])))
        assert np.isfinite(evaluate(good))
        assert evaluate(bad) == -np.inf
        assert calls.points == []  # never passed to CAMB
        summary = zt.summary()
        assert summary["refused"] == 1 and summary["refused_by_reason"] == {"non_finite_input": 1}
        assert summary["fallback"] == 0 and summary["failed"] == 0
        assert re.search(r"point refused \(log-likelihood -inf\), never passed to camb: non-finite input `H0` = nan",
                         messages(caplog))
        zt._point_log.flush()
        [record] = zelos.read_point_log(str(tmp_path))
        assert record["reason"] == "non_finite_input" and "`H0` = nan" in record["detail"]
        assert np.isnan(record["parameters"]["H0"]) and record["parameters"]["ombh2"] == 0.0224
        assert any("1 refused (non_finite_input 1)" in line for line in zt._stats.final_lines("camb"))
    finally:
        m.close()
    # `zelos report` says it too, and never counts the refused point as one to train on
    from zelos.learning.point_report import report

    printed = []
    result = report([str(tmp_path)], out_dir=str(tmp_path / "report"), log=printed.append)
    assert result["fallbacks"] == 0 and result["by_reason"] == {"non_finite_input": 1}, result
    assert "1 points refused before any computation (log-likelihood -inf): non_finite_input 1" in "\n".join(printed)


@needs_data
def test_a_nan_input_with_stop_at_error_stops_the_run_naming_it():
    m = model(stop_at_error=True)
    try:
        calls = Calls(m.theory["zelos"]._full)
        with pytest.raises(LoggedError, match=r"non-finite input `omch2` = nan: the point cannot be computed"):
            m.loglikes(dict(INSIDE, omch2=float("nan")))
        assert calls.points == []
    finally:
        m.close()


# -- 2. every option checked at start-up -------------------------------------------------------------
def test_every_option_of_zelos_yaml_has_a_check_and_its_default_passes_it():
    from zelos.cobaya.options import CHECKS

    defaults = Zelos.get_defaults()
    documented = set(yaml.safe_load(open(os.path.join(ROOT, "python", "zelos", "cobaya", "Zelos.yaml"))))
    assert documented == set(CHECKS)
    for key, (ok, _) in CHECKS.items():
        assert ok(defaults[key]), key


@pytest.mark.parametrize("option, value, expected", [
    ("speed", "fast", r"`speed` = 'fast': expected a number of evaluations per second > 0"),
    ("speed", -5, r"`speed` = -5: expected a number of evaluations per second > 0"),
    ("speed", 0, r"`speed` = 0: expected"),
    ("report_every", -1, r"`report_every` = -1: expected a number of seconds > 0, or null"),
    ("report_every", "often", r"`report_every` = 'often': expected a number of seconds"),
    ("report_every", float("nan"), r"`report_every` = nan: expected a number of seconds"),
    ("spot_check", True, r"`spot_check` = True: expected a fraction in \[0, 1\]"),
    ("spot_check", -0.1, r"`spot_check` = -0.1: expected a fraction in \[0, 1\]"),
    ("spot_check_seed", -3, r"`spot_check_seed` = -3: expected a whole number >= 0, or null"),
    ("spot_check_seed", 1.5, r"`spot_check_seed` = 1.5: expected a whole number >= 0"),
    ("fallback", "yes", r"`fallback` = 'yes': expected true or false"),
    ("allow_version_mismatch", 1, r"`allow_version_mismatch` = 1: expected true or false"),
    ("check_at_start", None, r"`check_at_start` = None: expected true or false"),
    ("extra_args", ["mnu"], r"`extra_args` = \['mnu'\]: expected a mapping of code settings"),
    ("log", 5, r"`log` = 5: expected a folder path"),
    ("emulators", 5, r"`emulators` = 5: expected a list of archive paths or emulator names"),
    ("emulators", [BACKGROUND, 3], r"`emulators` = \['CAMB_LCDM_background', 3\]: expected a list"),
    ("retrain", 50, r"`retrain` = 50: expected null, or a mapping like \{every: 50\}"),
    ("retrain", {"every": 0}, r"`retrain.every` = 0: expected a whole number >= 1"),
])
def test_a_bad_option_value_is_refused_at_start_up_naming_the_key_value_and_expectation(option, value, expected):
    options = {"emulators": [BACKGROUND], option: value}
    with pytest.raises(LoggedError, match=expected):
        get_model({"theory": {"zelos": options}, "likelihood": {"one": None}, "params": {"H0": 68.0}})


def test_good_option_values_are_accepted():
    m = get_model({"theory": {"zelos": {"emulators": BACKGROUND, "speed": 1e4, "report_every": None, "spot_check": 1,
                                        "spot_check_seed": 0, "log": None, "retrain": None}},
                   "likelihood": {"one": None}, "params": {"H0": 68.0}})
    m.close()


# -- 3. a point the code computed is not "emulated" -----------------------------------------------------------
class CMBLike(cobaya.likelihood.Likelihood):
    """Asks for lensed TT to l = 1000 (a Planck run's Cl, cheaper for CAMB)."""

    def get_requirements(self):
        return {"Cl": {"tt": 1000}}

    def logp(self, **params):
        return -float(np.sum(self.provider.get_Cl(ell_factor=True)["tt"][2:1001])) * 1e-9


def test_a_planck_like_run_sampling_h0_with_the_cmb_emulator_is_computed_by_camb_and_says_so(tmp_path, caplog):
    """The case of the issue: `CAMB_LCDM_CMB` takes cosmomc_theta; a run sampling H0 has every C_l
    computed by CAMB. Not one call may be called emulated, and every point is logged."""
    caplog.set_level(logging.INFO)
    params = {"ombh2": 0.0224, "omch2": 0.12, "H0": 67.5, "tau": 0.055, "logA": {"value": 3.05, "drop": True},
              "As": {"value": "lambda logA: 1e-10 * np.exp(logA)"}, "ns": 0.965}
    m = model(["CAMB_LCDM_CMB"], likes={"cmb": CMBLike}, params=params, log=str(tmp_path), report_every=1e-9)
    try:
        zt = m.theory["zelos"]
        text = messages(caplog, logging.WARNING)
        assert re.search(r"Cl is computed by camb at every point, not emulated: `CAMB_LCDM_CMB` emulates it but is "
                         r"not used: .*it takes `cosmomc_theta`, which is not an input of this run", text)
        caplog.clear()
        assert np.isfinite(m.loglikes({})[0][0])
        summary = zt.summary()
        assert summary["emulated"] == 0 and summary["fallback"] == 1
        assert summary["fallbacks_by_reason"] == {"requirement_not_emulated: Cl": 1}
        progress = [r.getMessage() for r in caplog.records if "calls:" in r.getMessage()]
        assert progress and all("100.0% emulated" not in line for line in progress)
        assert progress[-1] == "1 calls: 0.0% emulated; computed by the code: requirement_not_emulated: Cl 1"
        final = zt._stats.final_lines("camb")
        assert final[0].startswith("1 calls: 0 emulated, 1 computed by camb (")
        zt._point_log.flush()
        [record] = zelos.read_point_log(str(tmp_path))
        assert record["reason"] == "requirement_not_emulated"
        assert record["detail"].startswith("Cl: ") and record["parameters"]["H0"] == 67.5
        assert len(record["outputs"]["Cl.tt"]) > 1000  # CAMB's values, as computed
    finally:
        m.close()


@needs_data
def test_a_derived_parameter_no_emulator_has_makes_the_point_camb_computed_and_logged(tmp_path):
    """`age` from a background emulator: the distances are emulated, age is CAMB's; the point
    counts as computed by CAMB, and its log record holds only what CAMB computed."""
    m = model(params=dict(PARAMS, age={"derived": True}), log=str(tmp_path))
    try:
        zt = m.theory["zelos"]
        calls = Calls(zt._rest)
        _, derived = m.loglikes(INSIDE)
        assert len(calls.points) == 1
        summary = zt.summary()
        assert summary["emulated"] == 0 and summary["fallback"] == 1
        assert summary["fallbacks_by_reason"] == {"requirement_not_emulated: age": 1}
        zt._point_log.flush()
        [record] = zelos.read_point_log(str(tmp_path))
        assert record["reason"] == "requirement_not_emulated" and record["detail"].startswith("age: ")
        assert set(record["outputs"]) == {"age"} and record["outputs"]["age"] == pytest.approx(derived[1])
        # the whole chain keeps the emulated distances: spot checks still measure them
        m2 = model(params=dict(PARAMS, age={"derived": True}), spot_check=1.0, spot_check_seed=1)
        m2.loglikes(INSIDE)
        assert m2.theory["zelos"].summary()["spot_checks"] == 1
        m2.close()
    finally:
        m.close()


# -- 4. a sampled parameter no emulator varies -------------------------------------------------------------
@needs_data
@pytest.mark.parametrize("name, spec, held", [
    ("w", {"prior": {"min": -1.3, "max": -0.7}}, "w = -1"),
    ("mnu", {"prior": {"min": 0.0, "max": 0.5}}, f"mnu = {SETTINGS['mnu']:g}"),
    ("nnu", {"prior": {"min": 2.5, "max": 3.5}}, f"nnu = {SETTINGS['nnu']:g}"),
    ("omk", {"prior": {"min": -0.05, "max": 0.05}}, "omk = 0"),
])
def test_a_sampled_parameter_no_emulator_varies_is_a_start_up_warning(name, spec, held, caplog):
    caplog.set_level(logging.INFO)
    m = model(params=dict(PARAMS, **{name: spec}))
    m.close()
    warnings = messages(caplog, logging.WARNING)
    assert (f"`{name}` is sampled (or derived from sampled parameters), but no emulator in use varies it "
            f"(`CAMB_LCDM_background` holds {held}, as trained): every point where it differs is computed by camb "
            "(parameter_not_emulated), not emulated (") in warnings
    # CAMB_extended_background varies w, wa, mnu, nnu and omk: the warning points to it
    assert "emulators shipped with zelos that vary it: CAMB_extended_background" in warnings


@needs_data
def test_a_parameter_fixed_at_another_value_is_a_warning_and_at_the_held_value_is_not(caplog):
    caplog.set_level(logging.INFO)
    model(params=dict(PARAMS, w=-0.9)).close()
    assert "`w` is fixed at -0.9, but no emulator in use varies it" in messages(caplog, logging.WARNING)
    caplog.clear()
    model(params=dict(PARAMS, w=-1.0, tau=0.05)).close()
    assert messages(caplog, logging.WARNING) == ""  # held value; tau does not concern distances


class PkLike(cobaya.likelihood.Likelihood):
    """Asks for the linear matter P(k) interpolator alone (as many likelihoods do)."""

    def get_requirements(self):
        return {"Pk_interpolator": {"z": [0.0, 0.5, 1.0, 1.5], "k_max": 1.0, "nonlinear": False}}

    def logp(self, **params):
        return -float(self.provider.get_Pk_interpolator(nonlinear=False).P(0.5, 0.1)) * 1e-6


def test_the_warning_names_the_shipped_emulator_that_varies_the_parameter(caplog):
    """`CAMB_LCDM_linear_Pk` holds w = -1: a run that samples w has every point computed by CAMB.
    The warning says so, and names the shipped emulator that varies w."""
    caplog.set_level(logging.INFO)
    params = {"ombh2": 0.0224, "omch2": 0.12, "H0": 68.0, "ns": 0.965, "logA": 3.05,
              "w": {"prior": {"min": -1.2, "max": -0.8}}}
    m = model(["CAMB_LCDM_linear_Pk"], likes={"pk": PkLike}, params=params)
    try:  # and so it is: CAMB computes the point (a likelihood asking for the interpolator alone)
        assert np.isfinite(m.loglikes({"w": -0.9})[0][0])
        assert m.theory["zelos"].summary()["fallbacks_by_reason"] == {"parameter_not_emulated": 1}
    finally:
        m.close()
    warnings = messages(caplog, logging.WARNING)
    assert ("`w` is sampled (or derived from sampled parameters), but no emulator in use varies it "
            "(`CAMB_LCDM_linear_Pk` holds w = -1, as trained)") in warnings
    assert "emulators shipped with zelos that vary it: CAMB_extended_background (H, D_M, " in warnings


def test_a_setting_that_cannot_change_the_outputs_never_blocks_a_point(caplog):
    """`CAMB_LCDM_linear_Pk` states tau = 0.0543 among its settings, but tau cannot change the
    linear P(k): a run that samples tau is emulated, with no warning about tau."""
    caplog.set_level(logging.INFO)
    params = {"ombh2": 0.0224, "omch2": 0.12, "H0": 68.0, "ns": 0.965, "logA": 3.05,
              "tau": {"prior": {"min": 0.03, "max": 0.08}}}
    m = model(["CAMB_LCDM_linear_Pk"], likes={"pk": PkLike}, params=params)
    try:
        assert np.isfinite(m.loglikes({"tau": 0.06})[0][0])
        summary = m.theory["zelos"].summary()
        assert summary["emulated"] == 1 and summary["fallbacks_by_reason"] == {}
    finally:
        m.close()
    assert "`tau` is sampled" not in messages(caplog, logging.WARNING)


# -- 5. the start-up check ----------------------------------------------------------------------------------
def _rewrite_spec(src, dst, edit) -> str:
    """A copy of archive ``src`` whose spec.yaml is ``edit(spec dict)``, with a manifest that
    matches it (every hash consistent: only the stated settings are wrong)."""
    with tarfile.open(src, "r:gz") as tin:
        members = [(m.name, tin.extractfile(m).read()) for m in tin.getmembers() if m.isfile()]
    files = dict(members)
    spec = yaml.safe_load(files["spec.yaml"])
    files["spec.yaml"] = yaml.safe_dump(edit(spec), sort_keys=False).encode()
    manifest = json.loads(files["manifest.json"])
    manifest["members"]["spec.yaml"] = {"sha256": hashlib.sha256(files["spec.yaml"]).hexdigest(),
                                        "size": len(files["spec.yaml"])}
    files["manifest.json"] = json.dumps(manifest, indent=2).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tout:
        for name, _ in members:
            info = tarfile.TarInfo(name)
            info.size = len(files[name])
            tout.addfile(info, io.BytesIO(files[name]))
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    with open(dst, "wb") as f:
        f.write(gzip.compress(buf.getvalue()))
    zelos.load(dst)  # it loads: the archive is consistent
    return str(dst)


def _massless(spec):
    spec["code"]["settings"]["mnu"] = 0.0
    return spec


@needs_data
def test_an_archive_stating_other_settings_than_it_was_trained_with_is_refused_at_start_up(tmp_path):
    tampered = _rewrite_spec(shipped_archive(BACKGROUND), tmp_path / "CAMB_LCDM_background.tar.gz", _massless)
    assert zelos.load(tampered).spec["code"]["settings"]["mnu"] == 0.0
    with pytest.raises(LoggedError) as refused:
        model([tampered])
    message = str(refused.value)
    assert message.startswith("emulator CAMB_LCDM_background (CAMB_LCDM_background.tar.gz) disagrees with camb 2.0.5 "
                              "at the centre of its trust region (ombh2 = ")
    promised = zelos.load(tampered).report["accuracy"]["H"]["rel"]["max"]
    assert re.search(rf"Hubble \(H\) differs by 0\.00[1-9]\d* \(relative\), more than {20 * promised:.2g} = 20 x the "
                     rf"held-out maximum relative error {promised:.2g} its report promises", message)
    assert f"Its archive states code settings {dict(SETTINGS, mnu=0.0)}" in message
    assert "set `check_at_start: false` to skip this check" in message
    m = model([tampered], check_at_start=False)  # the user's call, then
    m.close()


@needs_data
def test_the_start_up_check_passes_the_shipped_emulator_and_says_what_it_measured(caplog):
    caplog.set_level(logging.INFO)
    m = model()
    m.close()
    [line] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("start-up check:")]
    assert line.startswith("start-up check: CAMB_LCDM_background agrees with camb at the centre of its trust region "
                           "(ombh2 = ")
    for label in ("rdrag", "angular_diameter_distance (D_M)", "Hubble (H)"):
        assert f"{label} " in line
    assert m.theory["zelos"].summary()["seconds"]["emulated"] == 0  # the check is not a call

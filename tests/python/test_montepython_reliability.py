"""Reliability of the MontePython plugin (``zelos.montepython``) with real CAMB and the shipped
``CAMB_LCDM_background``: a non-finite input is rejected (``CosmoComputationError`` naming it)
and never reaches the code; every ``zelos_*`` option is checked for type and range; a point the
code computed in part is not counted as emulated; an input every emulator holds at another
value (CLASS's massless default, a sampled w) is a warning.
"""

import logging
import math

import pytest

camb = pytest.importorskip("camb")

import zelos  # noqa: E402
import zelos.montepython as zmp  # noqa: E402
from zelos.code_inputs import CLASS_DEFAULTS  # noqa: E402
from zelos.montepython.class_inputs import NU_T_RATIO  # noqa: E402
from zelos.montepython.options import split  # noqa: E402

SETTINGS = zelos.get_emulator("CAMB_LCDM_background").spec["code"]["settings"]
# one massive neutrino and the N_eff the shipped emulator was trained with (CAMB's nnu), in CLASS's
# words: N_ur + (T_ncdm / (4/11)^(1/3))^4 = nnu
NU = {"N_ur": SETTINGS["nnu"] - (CLASS_DEFAULTS["T_ncdm"] / NU_T_RATIO) ** 4, "N_ncdm": 1, "m_ncdm": SETTINGS["mnu"]}
BG = {"omega_b": 0.0224, "omega_cdm": 0.119, "h": 0.68, **NU, "zelos_emulators": ["CAMB_LCDM_background"]}


def new_class(args):
    z = zmp.Class()
    z.set(args)
    z.compute()
    return z


def messages(caplog, level=logging.INFO):
    return "\n".join(r.getMessage() for r in caplog.records if r.levelno >= level)


# -- 1. non-finite inputs -----------------------------------------------------------------------------
@pytest.mark.parametrize("name, value", [("h", float("nan")), ("omega_cdm", float("inf")), ("m_ncdm", "nan")])
def test_a_non_finite_input_is_rejected_naming_it_and_never_reaches_camb(name, value, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="zelos.montepython")
    z = zmp.Class()
    z.set(dict(BG, zelos_log=str(tmp_path)))
    z.compute()  # a good point first: the plan is made, CAMB not needed
    z.struct_cleanup()
    z.set(dict(BG, zelos_log=str(tmp_path), **{name: value}))
    with pytest.raises(zmp.CosmoComputationError, match=rf"non-finite input `{name}` = {value!r}: the point is "
                                                        r"rejected, never passed to camb"):
        z.compute()
    assert z._backends == {}  # CAMB was never run (a NaN makes it abort the process)
    s = z.summary()
    assert s["refused"] == 1 and s["refused_by_reason"] == {"non_finite_input": 1}
    assert s["emulated"] == 1 and s["fallback"] == 0 and s["failed"] == 0
    assert f"point rejected, never passed to camb: non-finite input `{name}`" in messages(caplog)
    z.close()
    [record] = zelos.read_point_log(str(tmp_path))
    assert record["reason"] == "non_finite_input" and f"`{name}`" in record["detail"]
    if name != "m_ncdm":
        assert not math.isfinite(record["parameters"][name])


# -- 2. options ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("key, value, expected", [
    ("zelos_spot_check", True, r"`zelos_spot_check` = True: expected a fraction in \[0, 1\]"),
    ("zelos_spot_check", "0.1", r"`zelos_spot_check` = '0.1': expected a fraction in \[0, 1\]"),
    ("zelos_spot_check", float("nan"), r"`zelos_spot_check` = nan: expected a fraction"),
    ("zelos_spot_check_seed", -1, r"`zelos_spot_check_seed` = -1: expected a whole number >= 0, or None"),
    ("zelos_report_every", -1, r"`zelos_report_every` = -1: expected a number of seconds > 0, or None"),
    ("zelos_report_every", float("nan"), r"`zelos_report_every` = nan: expected a number of seconds"),
    ("zelos_report_every", True, r"`zelos_report_every` = True: expected a number of seconds"),
    ("zelos_report_every", "60", r"`zelos_report_every` = '60': expected a number of seconds"),
    ("zelos_allow_version_mismatch", 1, r"`zelos_allow_version_mismatch` = 1: expected True or False"),
    ("zelos_out_of_range", "skip", r"`zelos_out_of_range` = 'skip': expected one of"),
    ("zelos_missing_cl", None, r"`zelos_missing_cl` = None: expected one of 'omit', 'compute'"),
    ("zelos_log", 3, r"`zelos_log` = 3: expected a folder path"),
    ("zelos_emulators", 3, r"`zelos_emulators` = 3: expected a list of strings"),
    ("zelos_ignore", [""], r"`zelos_ignore` = \[''\]: expected a list of non-empty strings"),
])
def test_a_bad_option_value_stops_the_run_naming_the_key_value_and_expectation(key, value, expected):
    with pytest.raises(zmp.CosmoSevereError, match=expected):
        split({key: value})


def test_good_option_values_are_accepted():
    options, _ = split({"zelos_spot_check": 1, "zelos_spot_check_seed": 0, "zelos_report_every": 0,
                        "zelos_allow_version_mismatch": "yes", "zelos_log": None})
    assert options.spot_check == 1.0 and options.spot_check_seed == 0 and options.report_every is None
    assert split({"zelos_report_every": 2.5})[0].report_every == 2.5


# -- 3. a point the code computed in part is not "emulated" ----------------------------------------------------
def test_an_accessor_no_emulator_answers_makes_the_point_computed_by_camb_and_logged(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="zelos.montepython")
    z = new_class(dict(BG, zelos_log=str(tmp_path), zelos_report_every=1e-9))
    assert z._point.mode == "emulated"
    assert z.summary()["emulated"] == 1
    z.Hubble(0.5)  # emulated
    assert z.summary()["emulated"] == 1
    z.age()  # no emulator has it: CAMB computes it for this point
    s = z.summary()
    assert s["emulated"] == 0 and s["fallback"] == 1
    assert s["fallbacks_by_reason"] == {"requirement_not_emulated: age": 1}
    assert s["rest_by_reason"] == {"age: no emulator emulates `age`": 1}
    z.struct_cleanup()
    z.set(dict(BG, h=0.69, zelos_log=str(tmp_path), zelos_report_every=1e-9))
    z.compute()  # the next point's progress line counts the first as computed by CAMB
    progress = [r.getMessage() for r in caplog.records if "points:" in r.getMessage()]
    assert progress[-1] == "2 points: 50.0% emulated; computed by the code: requirement_not_emulated: age 1"
    z.close()
    final = [r.getMessage() for r in caplog.records if r.getMessage().startswith("2 points:")][-1]
    assert final.startswith("2 points: 1 emulated (") and ", 1 computed by camb (" in final
    [record] = zelos.read_point_log(str(tmp_path))
    assert record["reason"] == "requirement_not_emulated"
    assert record["detail"] == "computed by camb: age: no emulator emulates `age`"
    assert record["parameters"]["H0"] == pytest.approx(68.0)


def test_a_spot_checked_point_whose_accessor_the_code_answers_is_not_emulated():
    """A spot check computed the point already: an accessor no emulator answers then reads the
    code's run, and the point still counts as computed by the code, not as emulated."""
    z = new_class(dict(BG, zelos_spot_check=1.0, zelos_spot_check_seed=0))
    assert z.summary()["spot_checks"] == 1 and z.summary()["emulated"] == 1
    z.age()
    s = z.summary()
    assert s["emulated"] == 0 and s["fallback"] == 1 and s["rest"] == 1
    assert s["fallbacks_by_reason"] == {"requirement_not_emulated: age": 1}
    z.close()


# -- 4. an input no emulator varies -------------------------------------------------------------------------------
def test_classs_massless_default_against_an_emulator_trained_with_a_massive_neutrino_is_a_warning(caplog):
    caplog.set_level(logging.INFO, logger="zelos.montepython")
    args = {k: v for k, v in BG.items() if k not in NU}  # CLASS's defaults: N_ur = 3.044, no massive neutrino
    z = new_class(args)
    assert z._point.mode == "fallback"
    warnings = messages(caplog, logging.WARNING)
    assert ("`mnu` = 0 in this run (from CLASS's `m_ncdm`, `N_ncdm`: not given, CLASS's default), but "
            f"`CAMB_LCDM_background` holds mnu = {SETTINGS['mnu']:g}, as trained: every point where it differs is "
            "computed by camb (parameter_not_emulated), not emulated; emulators shipped with zelos that vary it: "
            "CAMB_extended_background"
            ) in warnings
    z.struct_cleanup()
    z.set(dict(args, h=0.69))
    z.compute()
    assert messages(caplog, logging.WARNING).count("`mnu` = 0") == 1  # once per run
    z.close()


def test_a_w_no_emulator_varies_is_a_warning(caplog):
    caplog.set_level(logging.INFO, logger="zelos.montepython")
    z = new_class(dict(BG, Omega_Lambda=0.0, w0_fld=-0.95, use_ppf="no"))  # CAMB's fluid, as the emulator's
    assert z._point.mode == "fallback"
    assert ("`w` = -0.95 in this run (from CLASS's `w0_fld`: given as w0_fld = -0.95), but `CAMB_LCDM_background` "
            "holds w = -1, as trained") in messages(caplog, logging.WARNING)
    z.close()
    caplog.clear()
    # PPF (CLASS's default), not the emulator's fluid: no matter to an emulator holding w = -1, wa = 0
    # (code_inputs.irrelevant_settings), so it is not set aside; the point is still CAMB's, for its w
    z = new_class(dict(BG, Omega_Lambda=0.0, w0_fld=-0.95))
    assert z._point.mode == "fallback" and "CAMB_LCDM_background" in z._point.plan.serving
    assert z.summary()["fallbacks_by_reason"] == {"parameter_not_emulated": 1}
    assert ("`w` = -0.95 in this run (from CLASS's `w0_fld`: given as w0_fld = -0.95), but `CAMB_LCDM_background` "
            "holds w = -1, as trained") in messages(caplog, logging.WARNING)
    assert "no emulator can answer this run" not in messages(caplog, logging.WARNING)
    z.close()
    caplog.clear()
    # a run every emulator is set aside for (CLASS's 100*theta_s is not CAMB's H0): said as a warning
    z = new_class({k: v for k, v in BG.items() if k != "h"} | {"100*theta_s": 1.0418})
    assert z._point.mode == "fallback"
    assert ("no emulator can answer this run (see the `not used` lines): every point is computed by camb, none "
            "emulated") in messages(caplog, logging.WARNING)
    z.close()

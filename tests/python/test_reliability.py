"""Input errors are zelos errors that name what is wrong (docs/reliability.md).

Each test here failed before the change it guards: raw ValueError/TypeError from an emulator
call, complex input cut to its real part, NaN evaluated with out_of_range="ignore", error
classes outside the ZelosError tree.
"""

import glob
import importlib
import json
import os
import pkgutil
import re
import subprocess
import sys
import warnings
from fractions import Fraction

import numpy as np
import pytest

import zelos

NAME = "CAMB_LCDM_background"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def emulators():
    return {policy: zelos.get_emulator(NAME, out_of_range=policy) for policy in zelos.emulator.OUT_OF_RANGE_POLICIES}


@pytest.fixture(scope="module")
def center(emulators):
    emu = emulators["error"]
    return {p: float(v) for p, v in zip(emu.parameters, (emu.lower + emu.upper) / 2)}


# -- 1. every input error is a ParameterError naming the parameter -------------------------------

BAD_VALUES = {  # value of H0 -> what the message says was found
    "string": ("abc", r"the string 'abc'"),
    "numeric string": ("67.0", r"the string '67.0'"),
    "bytes": (b"67", r"the string b'67'"),
    "None": (None, r"None"),
    "bool": (True, r"the boolean True"),
    "numpy bool": (np.bool_(False), r"the boolean False"),
    "complex": (67 + 0j, r"the complex number \(67\+0j\).*never cut to its real part"),
    "numpy complex": (np.complex128(67), r"the complex number \(67\+0j\).*never cut to its real part"),
    "complex array": (np.array([67, 67 + 1j]), r"the complex number \(67\+1j\).*never cut to its real part"),
    "complex in a list": ([67.0, 66 + 0j], r"the complex number \(66\+0j\)"),
    "bool array": (np.array([True, False]), r"the boolean True"),
    "bool in a list": ([67.0, True], r"the boolean True"),
    "string in a list": ([67.0, "66"], r"the string '66'"),
    "None in an object array": (np.array([67.0, None], dtype=object), r"None"),
    "object array of strings": (np.array(["67"], dtype=object), r"the string '67'"),
    "dict": ({"a": 1}, r"dict"),
    "ragged nested list": ([[67.0], [66.0, 67.0]], r"a ragged nested sequence"),
    "structured array": (np.zeros(2, dtype=[("H0", float)]), r"a structured array"),
    "integer beyond float64": (10**400, r"expected a number within float64's range"),
    "datetime": (np.array(["2020-01-01"], dtype="datetime64[D]"), r"date"),
}


@pytest.mark.parametrize("case", list(BAD_VALUES))
@pytest.mark.parametrize("policy", ["error", "ignore"])
def test_a_bad_parameter_value_is_a_parameter_error_naming_it(emulators, center, case, policy):
    value, found = BAD_VALUES[case]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's ComplexWarning included: nothing is cut silently
        with pytest.raises(zelos.ParameterError, match=rf"{NAME}: parameter `H0`.*{found}"):
            emulators[policy]({**center, "H0": value})


@pytest.mark.parametrize("case", ["string", "None", "bool", "complex", "numpy complex"])
def test_jacobian_refuses_the_same_values(emulators, center, case):
    value, found = BAD_VALUES[case]
    with pytest.raises(zelos.ParameterError, match=rf"parameter `H0`.*{found}"):
        emulators["error"].jacobian({**center, "H0": value})


def test_a_bad_array_names_the_parameter_and_the_point(emulators, center):
    emu = emulators["error"]
    good = list(center.values())
    with pytest.raises(zelos.ParameterError, match=r"parameter `omch2` \(point 1\) is the string 'x'"):
        emu([good, [good[0], "x", good[2]]])
    with pytest.raises(zelos.ParameterError, match=r"parameter `H0` \(point 0\) is the complex number"):
        emu(np.array([good[:2] + [67 + 1e-9j]]))
    with pytest.raises(zelos.ParameterError, match=r"parameter `ombh2` \(point 0\) is the complex number"):
        emu(np.array([good], dtype=complex))  # zero imaginary parts too: complex is refused, not cut
    with pytest.raises(zelos.ParameterError, match=r"parameter `H0` is the boolean True"):
        emu(good[:2] + [True])
    with pytest.raises(zelos.ParameterError, match=r"parameter `ombh2`: a structured array"):
        emu(np.zeros(3, dtype=[("a", float)]))


@pytest.mark.parametrize("params, found", [
    ("ombh2", r"got the string 'ombh2'"),
    (None, r"got None"),
    (3.0, r"got shape \(\)"),
    ([[0.02, 0.1, 67.0], [0.02, 0.1]], r"got a ragged nested sequence"),
])
def test_parameters_that_are_neither_a_dict_nor_an_array(emulators, params, found):
    with pytest.raises(zelos.ParameterError, match=rf"{NAME}: expected an array of shape \(3,\) or \(n, 3\).*{found}"):
        emulators["error"](params)


def test_batch_columns_of_other_shapes_are_named(emulators, center):
    with pytest.raises(zelos.ParameterError, match=r"got shapes `H0` \(2, 2\)"):
        emulators["error"]({**center, "H0": [[67.0, 66.0], [66.0, 67.0]]})


def test_real_numbers_of_every_kind_are_taken(emulators, center):
    emu = emulators["error"]
    expected = emu({**center, "H0": 67.0})["H"]
    for value in (67, np.int64(67), np.float32(67), Fraction(67), np.array(67.0), np.array([67], dtype=object)[0]):
        np.testing.assert_allclose(emu({**center, "H0": value})["H"], expected, rtol=1e-6)
    batch = emu({**center, "H0": np.array([67, 67], dtype=object)})["H"]
    np.testing.assert_allclose(batch, np.stack([expected, expected]), rtol=1e-6)
    np.testing.assert_allclose(emu([list({**center, "H0": 67.0}.values())] * 2)["H"][1], expected, rtol=1e-6)


def test_pk_grid_arguments_are_checked(emulators):
    emu = zelos.get_emulator("CAMB_LCDM_linear_Pk")
    params = {p: float(v) for p, v in zip(emu.parameters, (emu.lower + emu.upper) / 2)}
    with pytest.raises(zelos.ParameterError, match=r"parameter `k` is the string 'x'"):
        emu(params, k=["x"], z=[0.0])
    with pytest.raises(zelos.ParameterError, match=r"parameter `z` is the complex number"):
        emu(params, k=[0.1], z=[0.5j])
    with pytest.raises(zelos.ParameterError, match=r"`k` must be a number or a 1-D list of finite numbers"):
        emu(params, k=[float("nan")], z=[0.0])


# -- 2. non-finite parameters raise whatever out_of_range is -------------------------------------

@pytest.mark.parametrize("policy", ["error", "warn", "ignore"])
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf"), np.float64("nan"), np.float32("inf")])
def test_non_finite_parameters_raise_under_every_policy(emulators, center, policy, bad):
    emu = emulators[policy]
    expected = re.escape(f"{NAME}: parameter `omch2` is ") + r"-?([Nn]a[Nn]|inf)" + re.escape("; expected a finite number")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(zelos.ParameterError, match=expected):
            emu({**center, "omch2": bad})  # one point: the fast path
        with pytest.raises(zelos.ParameterError, match=expected):
            emu({**center, "omch2": [0.12, bad]})  # a batch
        with pytest.raises(zelos.ParameterError, match=expected):
            emu(np.array([[center["ombh2"], bad, center["H0"]]]))
        with pytest.raises(zelos.ParameterError, match=expected):
            emu.jacobian({**center, "omch2": bad})


def test_non_finite_parameters_raise_with_load_and_ignore(center):
    from zelos.shipped import shipped_archive

    emu = zelos.load(shipped_archive(NAME), out_of_range="ignore")
    with pytest.raises(zelos.ParameterError, match=r"parameter `H0` is nan"):
        emu({**center, "H0": float("nan")})
    # What "ignore" is for still works: a point outside the box, evaluated without a word.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.all(np.isfinite(emu({**center, "H0": emu.upper[2] + 1})["H"]))


# -- 3. every exception class zelos defines derives from ZelosError ------------------------------

# zelos.montepython defines stand-ins for classy's own exception classes (CosmoSevereError...), which
# MontePython catches by classy's names; they follow classy's hierarchy, not zelos's.
NOT_ZELOS_HIERARCHY = ("zelos.montepython",)


def _zelos_modules():
    names, queue = ["zelos"], [("zelos.", zelos.__path__)]
    while queue:
        prefix, path = queue.pop()
        for info in pkgutil.iter_modules(path, prefix):
            if info.name.startswith(NOT_ZELOS_HIERARCHY) or info.name.endswith("__main__"):
                continue
            names.append(info.name)
            if info.ispkg:
                queue.append((info.name + ".", [p + "/" + info.name.rsplit(".", 1)[1] for p in path]))
    return names


def test_every_exception_class_of_zelos_derives_from_zelos_error():
    found, modules = {}, []
    for name in _zelos_modules():
        try:
            module = importlib.import_module(name)
        except ImportError:  # an optional dependency (jax, cobaya) missing: nothing of it is in use
            continue
        modules.append(module)
        for attribute, value in vars(module).items():
            if isinstance(value, type) and issubclass(value, BaseException) and value.__module__ == name:
                found[f"{name}.{attribute}"] = value
    for must in ("zelos.ParameterError", "zelos.learning.retrain.RetrainError",
                 "zelos.learning.retrain.TrainingSetNotFound", "zelos.build.store.StoreError",
                 "zelos.drivers.common.ComputationError", "zelos.drivers.common.VersionMismatch"):
        assert must in found
    outside = sorted(name for name, cls in found.items() if not issubclass(cls, zelos.ZelosError))
    assert outside == []
    # Exported names too (zelos.__all__ and each module's __all__).
    for module in modules:
        for attribute in getattr(module, "__all__", ()):
            value = getattr(module, attribute)
            if isinstance(value, type) and issubclass(value, BaseException):
                assert issubclass(value, zelos.ZelosError), f"{module.__name__}.{attribute}"


def test_the_old_bases_are_kept():
    """`except ValueError` (and FileNotFoundError, RuntimeError) around these still catches them."""
    from zelos.build.store import StoreError
    from zelos.drivers import ComputationError, VersionMismatch
    from zelos.learning.retrain import RetrainError, TrainingSetNotFound

    assert issubclass(RetrainError, ValueError) and issubclass(StoreError, ValueError)
    assert issubclass(VersionMismatch, ValueError) and issubclass(ComputationError, RuntimeError)
    assert issubclass(TrainingSetNotFound, FileNotFoundError)


# -- 6. zelos report says when it skipped a torn last line ---------------------------------------

def _write_log(directory, n: int, torn: bool) -> str:
    from zelos.routing import PointLog

    with PointLog(directory, sync=True) as log:
        for i in range(n):
            log.log({"ombh2": 0.0224, "omch2": 0.12 + 1e-3 * i, "H0": 67.0}, reason="box",
                    detail="outside the box", nearest=NAME, outputs={"H": np.arange(3.0)})
        path = log.path
    if torn:  # a process killed while writing its next record: half a line, no newline
        with open(path, "rb") as f:
            last = f.read().rstrip(b"\n").rsplit(b"\n", 1)[-1]
        with open(path, "ab") as f:
            f.write(last[: len(last) // 2])
    return path


def test_report_warns_of_a_torn_last_line_naming_file_line_and_records(tmp_path):
    logdir = tmp_path / "log"
    path = _write_log(logdir, 4, torn=True)
    lines = open(path, "rb").read().count(b"\n") + 1  # the torn line's number
    result = subprocess.run([sys.executable, "-m", "zelos", "report", str(logdir), "--out", str(tmp_path / "r")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    warning = [line for line in result.stdout.splitlines() if line.startswith("warning:")]
    assert warning == [f"warning: {path} line {lines} is cut short (its writer was killed mid-line?) and was "
                       f"skipped; 4 records read from that file, 4 from all logs"]
    assert "4 points logged" in result.stdout
    saved = json.load(open(tmp_path / "r" / "report.json"))
    assert saved["torn_lines"] == [{"file": path, "line": lines, "records_read": 4}]
    assert warning[0] in open(tmp_path / "r" / "report.md").read()


def test_report_of_an_intact_log_has_no_warning(tmp_path):
    from zelos.learning.records import load_records

    logdir = tmp_path / "log"
    _write_log(logdir, 3, torn=False)
    torn = []
    assert len(load_records([str(logdir)], torn)) == 3 and torn == []


# -- 4. code settings are checked against the driver's names and types when the spec is read -----

SPECS = sorted(glob.glob(os.path.join(ROOT, "specs", "*.yaml")))
TINY = os.path.join(ROOT, "specs", "tiny_test.yaml")


def _tiny(tmp_path, old="    omk: 0.0\n", new="    omk: 0.0\n", name="spec.yaml") -> str:
    text = open(TINY).read()
    assert old in text
    path = tmp_path / name
    path.write_text(text.replace(old, new))
    return str(path)


def _zelos(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "zelos", *args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("path", SPECS, ids=os.path.basename)
def test_every_shipped_spec_passes_the_settings_check(path):
    from zelos.spec import check_code_settings

    spec = zelos.load_spec(path)
    assert check_code_settings(spec, path) is None  # checked in full: camb 2.0.5 is installed


def test_every_shipped_emulator_spec_passes_the_settings_check():
    from zelos.shipped import shipped_names
    from zelos.spec import check_code_settings

    for name in shipped_names():
        assert check_code_settings(zelos.get_emulator(name).spec, name) is None


@pytest.mark.parametrize("new, message", [
    ("    omk: zero\n",
     "`code.settings.omk`: found the string 'zero'; expected a number"),
    ("    omk: 0.0\n    omegach2: 0.12\n",
     "`code.settings.omegach2`: found unknown setting `omegach2`; expected a keyword of camb.set_params or a "
     "CAMBparams field (camb 2.0.5); did you mean `omch2`?"),
    ("    omk: 0.0\n    ALens: 1.1\n",
     "`code.settings.ALens`: found unknown setting `ALens`; expected a keyword of camb.set_params or a CAMBparams "
     "field (camb 2.0.5); did you mean `Alens`?"),
    ("    omk: 0.0\n    halofit_version: 2020\n",
     "`code.settings.halofit_version`: found the number 2020; expected a string"),
    ("    omk: 0.0\n    WantTensors: 1\n",
     "`code.settings.WantTensors`: found the number 1; expected a boolean (true or false)"),
    ("    omk: 0.0\n    max_l_tensor: 1500.5\n",
     "`code.settings.max_l_tensor`: found the number 1500.5; expected an integer"),
    ("    omk: 0.0\n    Accuracy.AccuracyBost: 2\n",
     "`code.settings.Accuracy.AccuracyBost`: found unknown setting `Accuracy.AccuracyBost`; expected a keyword of "
     "camb.set_params or a CAMBparams field (camb 2.0.5); did you mean `Accuracy.AccuracyBoost`?"),
    ("    omk: 0.0\n    Accuracy: 2\n",
     "`code.settings.Accuracy`: found the setting `Accuracy` (a group of settings: set its fields by dotted name)"),
    ("    omk: 0.0\n    dark_energy_model: quintessence_typo\n",
     "`code.settings.dark_energy_model`: found the string 'quintessence_typo'; expected a class camb knows"),
    ("    omk: 0.0\n    lens_potential_acuracy: 1\n",
     "`code.settings.lens_potential_acuracy`: found unknown setting `lens_potential_acuracy`; expected a keyword of "
     "camb.set_params or a CAMBparams field (camb 2.0.5); did you mean `lens_potential_accuracy`?"),
    ("    omk: 0.0\n    NonLinear: NonLinear_both\n",
     "`code.settings.NonLinear`: found `NonLinear`, which `outputs` already determines"),  # the spec's own rule
])
def test_zelos_spec_refuses_a_bad_camb_setting_naming_file_key_found_expected(tmp_path, new, message):
    path = _tiny(tmp_path, new=new)
    result = _zelos("spec", path)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith(f"zelos: {path}: {message}"), result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    with pytest.raises(zelos.SpecError, match=re.escape(f"{path}: {message}")):
        zelos.load_spec(path)


def test_camb_settings_that_are_fine_pass(tmp_path):
    path = _tiny(tmp_path, new="    omk: 0.0\n    dark_energy_model: ppf\n    w: -0.9\n    Accuracy.AccuracyBoost: 1.5\n"
                               "    halofit_version: mead2020\n    WantTensors: false\n    max_l_tensor: 1500\n"
                               "    neutrino_hierarchy: normal\n    Alens: 1.0\n    YHe: null\n    theta_H0_range: [20, 100]\n")
    assert _zelos("spec", path).stdout == f"{path}: valid\n"


def test_a_parameter_camb_does_not_know_is_named_with_a_close_name(tmp_path):
    path = _tiny(tmp_path, old="  omch2: [0.10, 0.14]\n", new="  omegach2: [0.10, 0.14]\n")
    with pytest.raises(zelos.SpecError, match=re.escape(f"{path}: `parameters.omegach2`: found unknown parameter "
                                                        "`omegach2`; expected a keyword of camb.set_params or a "
                                                        "CAMBparams field (camb 2.0.5); did you mean `omch2`?")):
        zelos.load_spec(path)


def test_every_problem_gets_its_line(tmp_path):
    path = _tiny(tmp_path, new="    omk: zero\n    omegach2: 0.12\n")
    with pytest.raises(zelos.SpecError) as e:
        zelos.load_spec(path)
    lines = str(e.value).splitlines()
    assert [line.split(": ")[1] for line in lines] == ["`code.settings.omk`", "`code.settings.omegach2`"]


def test_another_installed_camb_version_leaves_names_unchecked(tmp_path):
    from zelos.spec import check_code_settings

    spec = zelos.load_spec(_tiny(tmp_path))
    spec["code"]["version"], spec["code"]["settings"]["omegach2"] = "1.5.0", 0.12
    assert "camb 2.0.5 is installed, the spec pins 1.5.0" in check_code_settings(spec, "x.yaml")


@pytest.mark.parametrize("value, expected", [
    ("null", "found null; expected a number or a string (classy would pass CLASS the text 'None'"),
    ("true", "found the boolean true; expected a number or a string: write 'yes'"),
    ("[0.06, 0.0]", "found the list [0.06, 0.0]; expected a number or a string: write a list as one comma-separated "
                    "string, e.g. '0.06, 0.0'"),
    ("{a: 1}", "found a mapping; expected a number or a string"),
])
def test_classy_settings_are_type_checked(tmp_path, value, expected):
    text = open(TINY).read().replace('name: camb\n  version: "2.0.5"', 'name: classy\n  version: "3.4.1"')
    text = text.replace("    mnu: 0.06\n    num_massive_neutrinos: 1\n    omk: 0.0\n", f"    N_ur: 3.044\n    m_ncdm: {value}\n")
    text = text.replace("  ombh2:", "  omega_b:").replace("  omch2:", "  omega_cdm:").replace("  H0:", "  h:")
    text = text.replace("[60.0, 80.0]", "[0.6, 0.8]")
    path = tmp_path / "classy.yaml"
    path.write_text(text)
    with pytest.raises(zelos.SpecError, match=re.escape(f"{path}: `code.settings.m_ncdm`: {expected}")):
        zelos.load_spec(path)
    path.write_text(text.replace(f"m_ncdm: {value}", "m_ncdm: '0.06, 0.0'\n    non_linear: halofit"))
    assert zelos.load_spec(path)["code"]["settings"]["m_ncdm"] == "0.06, 0.0"


# -- 5. zelos build ends a failure with one line (the traceback with --debug) ---------------------

def test_build_with_a_bad_setting_stops_at_the_spec_in_one_line(tmp_path):
    path = _tiny(tmp_path, new="    omk: 0.0\n    omegach2: 0.12\n")
    result = _zelos("build", path, "--out", str(tmp_path / "out"), "--quiet", "--no-plots")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"zelos build: {path}: `code.settings.omegach2`: found unknown setting `omegach2`; expected a keyword of "
        "camb.set_params or a CAMBparams field (camb 2.0.5); did you mean `omch2`?"]
    assert not os.path.exists(tmp_path / "out" / "tiny_test.build")  # nothing started


def _failing_spec(tmp_path) -> str:
    """Every point fails in CAMB within milliseconds: omch2 < 0 recollapses before today."""
    path = _tiny(tmp_path, old="  omch2: [0.10, 0.14]\n", new="  omch2: [-0.6, -0.4]\n")
    text = open(path).read().replace("points: 64", "points: 3").replace("test_points: 16", "test_points: 2")
    open(path, "w").write(text)
    return path


def test_build_where_every_point_fails_ends_in_one_line(tmp_path):
    path = _failing_spec(tmp_path)
    result = _zelos("build", path, "--out", str(tmp_path), "--quiet", "--no-plots", "--processes", "1")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    workdir = os.path.join(str(tmp_path), "tiny_test.build")
    assert lines[0].startswith("zelos build: tiny_test: too few successful points to train (0 training, 0 test; "
                               "5 of 5 failed in camb, the first with: CAMB failed at {ombh2: ")
    assert "Universe stops expanding before today" in lines[0]
    assert lines[0].endswith(f"every failure is listed in {workdir}")
    debug = _zelos("build", path, "--out", str(tmp_path), "--quiet", "--no-plots", "--processes", "1", "--debug")
    assert debug.returncode == 1
    assert "Traceback (most recent call last)" in debug.stderr and "BuildError: tiny_test: too few" in debug.stderr


def test_build_on_a_workdir_in_use_ends_in_one_line(tmp_path):
    import fcntl

    path = _tiny(tmp_path)
    store = tmp_path / "tiny_test.build" / "test"
    store.mkdir(parents=True)
    with open(store / ".lock", "a") as lock:  # what a running build holds
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        result = _zelos("build", path, "--out", str(tmp_path), "--quiet", "--no-plots", "--processes", "1")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"zelos build: {store}: in use by another generate() run (another zelos build or retrain with this workdir?)"]


def test_an_unexpected_error_is_one_line_with_its_type_and_the_debug_hint(tmp_path, monkeypatch):
    from zelos import cli

    def broken(*args, **kwargs):
        raise KeyError("a\nmulti-line\nmessage")

    monkeypatch.setattr("zelos.build.build", broken)
    err = []
    monkeypatch.setattr(sys, "stderr", type("S", (), {"write": lambda self, s: err.append(s), "flush": lambda self: 0})())
    assert cli.main(["build", _tiny(tmp_path), "--quiet"]) == 1
    assert "".join(err) == ("zelos build: KeyError: 'a\\nmulti-line\\nmessage' (zelos build --debug ... shows the "
                            "traceback)\n")
    with pytest.raises(KeyError):
        cli.main(["build", _tiny(tmp_path), "--quiet", "--debug"])

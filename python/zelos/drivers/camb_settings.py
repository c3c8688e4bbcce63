"""Which settings the CAMB driver takes, checked when a spec is read, without running CAMB.

The names and types camb.set_params takes, from camb's own introspection: the keywords of the
functions it dispatches to (read from its source, in its order), for the classes the settings
choose, then the CAMBparams fields (dotted for sub-objects) it sets the rest on.
"""

from __future__ import annotations

import inspect

import camb
import numpy as np
from camb.baseconfig import CAMBError, CAMBValueError

from .camb import RESERVED

__all__ = ["DRIVER_KEYWORDS", "check_settings"]

# Keywords the driver itself reads before calling camb.set_params.
DRIVER_KEYWORDS = {"logA": "number"}
_SETTERS_FALLBACK = ("set_accuracy", "set_classes", "Recomb.set_params", "DarkEnergy.set_params",
                     "Reion.set_extra_params", "set_cosmology", "set_matter_power", "set_for_lmax",
                     "InitPower.set_params", "NonLinearModel.set_params")
_KIND_WORDS = {"null": "null", "bool": "a boolean (true or false)", "number": "a number",
               "integer": "an integer", "string": "a string", "list": "a list"}


class _Expect:
    """What a setting takes: some of null, bool, number, integer, string, list (empty: anything),
    or one of ``choices``."""

    def __init__(self, kinds=(), choices=None, what=None):
        self.kinds = frozenset(kinds)
        self.choices = choices
        self.what = what  # a note on where the expectation comes from

    def accepts(self, value) -> bool:
        if self.choices is not None and isinstance(value, (str, int)) and not isinstance(value, bool):
            return value in self.choices
        if not self.kinds:
            return True
        if value is None:
            return "null" in self.kinds
        if isinstance(value, bool):
            return "bool" in self.kinds
        if isinstance(value, int):
            return bool({"number", "integer"} & self.kinds)
        if isinstance(value, float):
            return "number" in self.kinds
        if isinstance(value, str):
            return "string" in self.kinds
        if isinstance(value, list):
            return "list" in self.kinds
        return False

    def text(self) -> str:
        if self.choices is not None:
            return "one of " + ", ".join(f"`{c}`" for c in self.choices if isinstance(c, str))
        order = ("number", "integer", "bool", "string", "list", "null")
        words = [_KIND_WORDS[k] for k in order if k in self.kinds]
        return " or ".join(words) + (f" ({self.what})" if self.what else "")


def _setter_paths() -> tuple:
    """The functions camb.set_params hands keywords to, as attribute paths of its CAMBparams
    (``set_cosmology``, ``DarkEnergy.set_params``...), read from its source."""
    import ast
    import textwrap

    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(camb.set_params)))
    except (OSError, TypeError, SyntaxError):
        return _SETTERS_FALLBACK
    paths = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "do_set" and node.args:
            target, parts = node.args[0], []
            while isinstance(target, ast.Attribute):
                parts.append(target.attr)
                target = target.value
            if isinstance(target, ast.Name) and target.id == "cp" and parts:
                paths.append(".".join(reversed(parts)))
    return tuple(paths) or _SETTERS_FALLBACK


def _from_annotation(annotation) -> set:
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", None) or str(annotation)
    text = text.replace("typing.", "").replace("Optional[", "None | ").replace("Union[", "").rstrip("]")
    kinds = set()
    for token in (t.strip() for t in text.replace(",", "|").split("|")):
        if token in ("None", "NoneType"):
            kinds.add("null")
        elif token == "bool":
            kinds.add("bool")
        elif token in ("float", "int", "Number", "numbers.Number", "Real", "numbers.Real"):
            kinds.add("number")
        elif token == "str":
            kinds.add("string")
        elif token.startswith(("list", "List", "tuple", "Tuple", "Sequence", "np.ndarray", "ndarray", "NDArray",
                               "Iterable")):
            kinds.add("list")
        elif token.startswith("float") or token.startswith("int"):
            kinds.add("number")
    return kinds


def _from_parameter(parameter: inspect.Parameter) -> _Expect:
    if parameter.annotation is not inspect.Parameter.empty:
        kinds = _from_annotation(parameter.annotation)
        if kinds - {"null"}:
            return _Expect(kinds)
    default = parameter.default
    if default is inspect.Parameter.empty or default is None:
        return _Expect()  # CAMB's signature says nothing more
    if isinstance(default, bool):
        return _Expect({"bool"})
    if isinstance(default, (int, float)):
        return _Expect({"number"})
    if isinstance(default, str):
        return _Expect({"string"})
    if isinstance(default, (list, tuple)):
        return _Expect({"list"})
    return _Expect()


def _keywords(classes: dict) -> tuple:
    """``({keyword: _Expect}, CAMBparams)``: the keywords camb.set_params hands to its functions
    with the classes ``classes`` chooses (set_classes' keywords), and the CAMBparams they act on."""
    from camb.camb import _get_setter_spec

    cp = camb.model.CAMBparams()
    cp.set_classes(**classes)
    keywords = {name: _from_parameter(par) for name, par in inspect.signature(camb.set_params).parameters.items()
                if par.kind is inspect.Parameter.KEYWORD_ONLY or name == "verbose"}
    for path in _setter_paths():
        target = cp
        for part in path.split("."):
            target = getattr(target, part)
        for name, parameter in _get_setter_spec(target).items():
            keywords.setdefault(name, _from_parameter(parameter))
    for name, kind in DRIVER_KEYWORDS.items():
        keywords[name] = _Expect({kind}, what="the driver sets As = 1e-10 exp(logA)")
    return keywords, cp


def _descriptor(obj, name):
    for klass in type(obj).__mro__:
        if name in vars(klass):
            return vars(klass)[name]
    return None


def _ctype(obj, name):
    for klass in type(obj).__mro__:
        for field in vars(klass).get("_fields_", ()):
            if field[0] == name:
                return field[1]
    return None


def _field(obj, name: str):
    """``(_Expect, None)`` for a data field ``name`` of the CAMB object ``obj``; ``(None, why)``
    when ``name`` is not one: unknown (why None), or a group of fields, a method, read-only."""
    import ctypes

    from camb import baseconfig

    if name.startswith("_"):
        return None, None
    descriptor = _descriptor(obj, name)
    if descriptor is None:
        return None, None
    if isinstance(descriptor, baseconfig.BoolField):
        return _Expect({"bool"}), None
    if isinstance(descriptor, baseconfig.NamedIntField):
        return _Expect(choices=list(descriptor.name_values) + list(descriptor.values)), None
    if isinstance(descriptor, baseconfig.SizedArrayField):
        return _Expect({"list"}), None
    if isinstance(descriptor, property):
        return (_Expect(), None) if descriptor.fset is not None else (None, "a read-only property of CAMBparams")
    if isinstance(descriptor, (baseconfig.FortranManagedField,)) or type(descriptor).__name__ == "CField":
        value = getattr(obj, name)
        if isinstance(value, (baseconfig.CAMB_Structure, baseconfig.F2003Class)):
            return None, "a group of settings: set its fields by dotted name"
        tp = _ctype(obj, name)
        if tp in (ctypes.c_double, ctypes.c_float):
            return _Expect({"number"}), None
        if tp is ctypes.c_int:
            return _Expect({"integer"}), None
        return _Expect({"list"}) if isinstance(value, (list, tuple, np.ndarray)) or value is None else _Expect(), None
    if callable(descriptor) or isinstance(descriptor, (classmethod, staticmethod)):
        return None, "a method, not a setting"
    return None, None


def _data_fields(obj) -> list:
    names = set()
    for klass in type(obj).__mro__:
        for name in vars(klass):
            if not name.startswith("_") and _field(obj, name)[0] is not None:
                names.add(name)
    return sorted(names)


def check_settings(settings: dict, version: str | None = None, parameters=()) -> tuple:
    """``(problems, note)``: each setting (and varied parameter name) camb.set_params would not
    take, through this driver, as a :class:`zelos.drivers.SettingProblem`; CAMB is not run.

    Names: the keywords of the functions camb.set_params dispatches to (for the classes the
    settings' ``dark_energy_model``... choose), the driver's ``logA``, and CAMBparams' data
    fields (``Accuracy.AccuracyBoost`` for a sub-object's). Types: from CAMB's signatures
    (annotations, else the default's type; a default of None says nothing) and field types
    (numbers, integers, booleans, named values). With another camb version installed than
    ``version``, nothing is checked (``note`` says so)."""
    import difflib

    from .common import SettingProblem, describe_value

    if version is not None and str(version) != camb.__version__:
        return [], (f"camb {camb.__version__} is installed, the spec pins {version}: its settings were not "
                    "checked against camb.set_params")
    problems = []
    settings = dict(settings or {})
    for key in sorted(RESERVED.intersection(settings)):
        problems.append(SettingProblem(key, f"`{key}`, which the driver sets from `outputs` (multipoles, k range and "
                                       "redshifts have one source)", "it left out of the settings"))
    class_keys = set(inspect.signature(camb.model.CAMBparams.set_classes).parameters) - {"self"}
    classes = {}
    for key in sorted(class_keys.intersection(settings)):
        value = settings[key]
        if value is None:
            continue
        if not isinstance(value, str):
            problems.append(SettingProblem(key, describe_value(value), "a string naming a CAMB class"))
            continue
        try:
            camb.model.CAMBparams().set_classes(**{key: value})
            classes[key] = value
        except (CAMBError, CAMBValueError, ValueError, TypeError, AttributeError) as e:
            problems.append(SettingProblem(key, describe_value(value), f"a class camb knows ({e})"))
    keywords, cp = _keywords(classes)
    known = sorted(set(keywords) | set(_data_fields(cp)))
    for key, value in settings.items():
        if key in RESERVED or key in class_keys:
            continue
        expect, why = (keywords[key], None) if key in keywords else _dotted(cp, key)
        if expect is None:
            candidates = _dotted_names(cp, key) if "." in key else known
            close = difflib.get_close_matches(key, candidates, n=1, cutoff=0.6)
            folded = [k for k in candidates if k.lower() == key.lower()]
            problems.append(SettingProblem(
                key, f"{'the setting' if why else 'unknown setting'} `{key}`" + (f" ({why})" if why else ""),
                f"a keyword of camb.set_params or a CAMBparams field (camb {camb.__version__})",
                (folded or close or [None])[0]))
            continue
        if not expect.accepts(value):
            problems.append(SettingProblem(key, describe_value(value), expect.text()))
            continue
        if key not in keywords:  # a field: let CAMB's own setter judge the value on a spare object
            problem = _try_field(key, value, classes)
            if problem:
                problems.append(SettingProblem(key, describe_value(value), f"a value CAMB takes ({problem})"))
    for name in parameters:
        if name in keywords and name not in class_keys or _dotted(cp, name)[0] is not None:
            continue
        if name in RESERVED:
            continue  # refused with its own message by the spec's own checks and the driver
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        problems.append(SettingProblem(
            name, f"unknown parameter `{name}`",
            f"a keyword of camb.set_params or a CAMBparams field (camb {camb.__version__})",
            (close or [None])[0], section="parameters"))
    return problems, None


def _dotted(cp, key: str):
    """``(_Expect, None)`` for a CAMBparams field given by ``key`` (``omk``, ``Accuracy.AccuracyBoost``),
    else ``(None, why)``."""
    target, parts = cp, key.split(".")
    for part in parts[:-1]:
        if part.startswith("_") or not hasattr(target, part):
            return None, None
        target = getattr(target, part)
    return _field(target, parts[-1])


def _dotted_names(cp, key: str) -> list:
    """The dotted field names beside ``key`` (``Accuracy.AccuracyBost`` -> every ``Accuracy.*``)."""
    target, parts = cp, key.split(".")
    for part in parts[:-1]:
        if part.startswith("_") or not hasattr(target, part):
            return []
        target = getattr(target, part)
    prefix = ".".join(parts[:-1])
    return [f"{prefix}.{name}" for name in _data_fields(target)]


def _try_field(key: str, value, classes: dict) -> str | None:
    cp = camb.model.CAMBparams()
    cp.set_classes(**classes)
    target, parts = cp, key.split(".")
    for part in parts[:-1]:
        target = getattr(target, part)
    try:
        setattr(target, parts[-1], value)
    except (TypeError, ValueError, CAMBError, CAMBValueError, AttributeError) as e:
        return str(e)
    return None

"""Which parameters concern an emulator, and the values it holds them at.

An emulator takes its spec's parameters; every other CAMB input keeps the value in its spec's
``code.settings`` or, failing that, CAMB's default at the pinned version. A point that sets such
an input to another value is not the emulator's to answer. The router compares the point with
these *fixed* values (``Router.add(fixed=...)``); this module works them out, and knows which
inputs cannot change an emulator's outputs at all (tau does not move H(z); n_s does not move
rdrag), so those never send a point to the fallback.
"""

from __future__ import annotations

import inspect
import math

import numpy as np

PRIMORDIAL = {"logA"}
REIONIZATION = {"tau", "zrei", "deltazrei", "max_zrei"}
LENSING = {"Alens"}


def _signature_defaults(*functions) -> dict:
    out = {}
    for f in functions:
        for name, p in inspect.signature(f).parameters.items():
            if name != "self" and p.default is not inspect.Parameter.empty:
                out[name] = p.default
    return out


def _camb_tables():
    """CAMB's keyword groups and defaults, read from the installed camb's own signatures."""
    import camb

    lmax = set(_signature_defaults(camb.CAMBparams.set_for_lmax))
    power = set(_signature_defaults(camb.initialpower.InitialPowerLaw.set_params)) | PRIMORDIAL
    nonlinear = set(_signature_defaults(camb.nonlinear.Halofit.set_params))
    defaults = _signature_defaults(
        camb.CAMBparams.set_cosmology, camb.CAMBparams.set_dark_energy,
        camb.initialpower.InitialPowerLaw.set_params, camb.CAMBparams.set_accuracy,
        camb.nonlinear.Halofit.set_params, camb.CAMBparams.set_for_lmax)
    return lmax, power, nonlinear, defaults


_TABLES = None


def tables():
    global _TABLES
    if _TABLES is None:
        _TABLES = _camb_tables()
    return _TABLES


def irrelevant_inputs(outputs) -> set:
    """CAMB inputs that cannot change any of these emulator outputs."""
    lmax, power, nonlinear, _ = tables()
    background = lmax | power | nonlinear | REIONIZATION | LENSING
    per_output = []
    for name in outputs:
        if name.startswith("dl_"):
            per_output.append(set())
        elif name == "pk_nonlin":
            per_output.append(lmax | REIONIZATION | LENSING)
        elif name in ("pk_lin", "sigma8", "S8"):
            per_output.append(lmax | nonlinear | REIONIZATION | LENSING)
        elif name == "zre":
            per_output.append(lmax | power | nonlinear | LENSING)
        else:  # background functions and background / thermal-history derived parameters
            per_output.append(background)
    return set.intersection(*per_output) if per_output else set()


def _number(value):
    if isinstance(value, bool) or value is None:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def held_value(emulator, name):
    """(known, value): the value at which ``emulator`` holds input ``name`` (its spec's setting,
    else CAMB's default); known is False when there is no such value to compare with (CAMB
    computes it, e.g. YHe from BBN, or the default is not a number)."""
    settings = emulator.spec["code"].get("settings") or {}
    if name in settings:
        value = settings[name]
    else:
        defaults = tables()[3]
        if name not in defaults:
            return False, None
        value = defaults[name]
    v = _number(value)
    return (v is not None), (v if v is not None else value)


def fixed_values(emulator, run_inputs) -> tuple:
    """For the router: ``(fixed, blockers)``.

    ``fixed``: ``{name: value}``: the numeric settings of the spec, plus, for each input of this
    run that concerns the emulator but that it neither takes nor sets, CAMB's default.
    ``blockers``: ``{name: why}``: inputs of this run that concern the emulator and have no value
    to compare with; the emulator can serve no point of this run.
    """
    settings = emulator.spec["code"].get("settings") or {}
    fixed = {k: _number(v) for k, v in settings.items() if _number(v) is not None and k not in emulator.parameters}
    blockers = {}
    skip = irrelevant_inputs(emulator.outputs) | set(emulator.parameters) | set(settings)
    if "logA" in skip:
        skip.add("As")  # the same parameter: the router sees logA computed from As
    for name in run_inputs:
        if name in skip:
            continue
        known, value = held_value(emulator, name)
        if known:
            fixed[name] = value
        else:
            blockers[name] = (f"`{name}` is an input of this run; `{emulator.name}` was trained with CAMB "
                              f"computing it ({name} not among its parameters or settings)")
    return fixed, blockers


def setting_conflicts(emulator, extra_args: dict) -> list:
    """Fallback settings that differ from those the emulator was trained with, among those that
    concern its outputs: there the emulator and the fallback would not compute the same thing."""
    skip = irrelevant_inputs(emulator.outputs) | set(emulator.parameters)
    settings = emulator.spec["code"].get("settings") or {}
    defaults = tables()[3]
    out = []
    for name in sorted((set(extra_args) | set(settings)) - skip):
        trained = settings[name] if name in settings else defaults.get(name, _CAMB_DEFAULT)
        used = extra_args[name] if name in extra_args else defaults.get(name, _CAMB_DEFAULT)
        if not _same(trained, used):
            out.append(f"`{name}`: trained with {trained!r}, fallback uses {used!r}")
    return out


_CAMB_DEFAULT = "CAMB's default"


def _same(a, b) -> bool:
    x, y = _number(a), _number(b)
    if x is not None and y is not None:
        return math.isclose(x, y, rel_tol=1e-12, abs_tol=1e-15)
    return a == b


def to_camb(point: dict) -> dict:
    """Translated input parameters -> CAMB keywords (``logA`` becomes ``As``)."""
    if "logA" not in point:
        return point
    out = dict(point)
    out["As"] = 1e-10 * np.exp(out.pop("logA"))
    return out


def for_emulators(point: dict, wanted: set) -> dict:
    """The point as emulators see it: ``logA`` from ``As`` when an emulator takes logA."""
    if "logA" in wanted and "logA" not in point and "As" in point:
        point = dict(point)
        point["logA"] = float(np.log(1e10 * point["As"]))
    return point

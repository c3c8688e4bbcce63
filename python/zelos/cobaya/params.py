"""Which parameters concern an emulator, and the values it holds them at.

An emulator takes its spec's parameters; every other CAMB input keeps the value in its spec's
``code.settings`` or, failing that, CAMB's default at the pinned version. A point that sets such
an input to another value is not the emulator's to answer. The router compares the point with
these *fixed* values (``Router.add(fixed=...)``); this module works them out, and knows which
inputs cannot change an emulator's outputs at all (tau does not move H(z); n_s does not move
rdrag), so those never send a point to the fallback.
"""

from __future__ import annotations

import numpy as np

from .. import code_inputs
from ..code_inputs import number as _number
from ..code_inputs import same as _same

# CAMB's input groups and defaults, shared with the MontePython plugin (zelos.code_inputs).
PRIMORDIAL = code_inputs.CAMB_PRIMORDIAL
REIONIZATION = code_inputs.CAMB_REIONIZATION
LENSING = code_inputs.CAMB_LENSING


def tables():
    """(lmax options, primordial, non-linear, defaults) of the installed camb."""
    return code_inputs.camb_tables()


def irrelevant_inputs(outputs) -> set:
    """CAMB inputs that cannot change any of these emulator outputs."""
    return code_inputs.irrelevant_inputs(outputs, "camb")


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
